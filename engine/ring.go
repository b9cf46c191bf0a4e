package engine

import "time"

// ring keeps the times of the last restarts, enough to count them within
// the budget window without allocating on each restart.
type ring struct {
	times []time.Duration
	next  int
	n     int
}

// add records t, keeping at most size entries.
func (r *ring) add(t time.Duration, size int) {
	if len(r.times) != size {
		// The budget size changed (first use or reload): keep the newest.
		old := r.all()
		r.times = make([]time.Duration, size)
		r.next, r.n = 0, 0
		for _, x := range old[max(0, len(old)-size):] {
			r.push(x)
		}
	}
	r.push(t)
}

func (r *ring) push(t time.Duration) {
	r.times[r.next] = t
	r.next = (r.next + 1) % len(r.times)
	if r.n < len(r.times) {
		r.n++
	}
}

// all returns the entries oldest first.
func (r *ring) all() []time.Duration {
	out := make([]time.Duration, 0, r.n)
	for i := 0; i < r.n; i++ {
		out = append(out, r.times[(r.next-r.n+i+len(r.times))%len(r.times)])
	}
	return out
}

// countSince counts entries after t.
func (r *ring) countSince(t time.Duration) int {
	c := 0
	for i := 0; i < r.n; i++ {
		if r.times[i] > t {
			c++
		}
	}
	return c
}

func (r *ring) reset() { r.n, r.next = 0, 0 }
