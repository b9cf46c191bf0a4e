package logs

// ring keeps the last size lines of a worker. Its slice grows up to size,
// so a quiet worker costs nothing.
type ring struct {
	buf   []Line
	start int // index of the oldest line once buf is full
	size  int
}

func (r *ring) push(l Line) {
	if r.size == 0 {
		return
	}
	if len(r.buf) < r.size {
		r.buf = append(r.buf, l)
		return
	}
	r.buf[r.start] = l
	r.start++
	if r.start == len(r.buf) {
		r.start = 0
	}
}

// last returns a copy of the newest n lines (all when n <= 0), oldest first.
func (r *ring) last(n int) []Line {
	total := len(r.buf)
	if n <= 0 || n > total {
		n = total
	}
	out := make([]Line, n)
	for i := range n {
		out[i] = r.buf[(r.start+total-n+i)%total]
	}
	return out
}

// resize changes the capacity, keeping the newest lines.
func (r *ring) resize(size int) {
	if size == r.size {
		return
	}
	keep := r.last(size)
	if size == 0 {
		keep = nil
	}
	r.buf, r.start, r.size = keep, 0, size
}
