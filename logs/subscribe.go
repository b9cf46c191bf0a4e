package logs

import (
	"strconv"
	"sync"
)

// subscription queues lines for one subscriber. The writers' side only
// appends to the queue (never blocks); a pump goroutine hands lines to the
// subscriber's channel. When the queue is full, new lines are dropped and
// counted in a marker entry at the queue's end, which the subscriber
// receives, in place, as "... N lines dropped".
type subscription struct {
	filter map[string]bool // nil: all workers
	out    chan Line
	notify chan struct{} // cap 1: the queue has something
	done   chan struct{} // closed by stop
	exited chan struct{} // closed when the pump has returned
	once   sync.Once

	mu    sync.Mutex
	q     []Line // circular, len limit+1 (one extra slot for a marker)
	head  int
	count int
	limit int
}

// Subscribe returns a channel of the lines routed from now on for the
// given workers (all when empty), and a cancel func that ends the
// subscription and closes the channel (safe to call more than once). Up to
// buffer lines (at least 1) wait for a subscriber that does not keep up;
// beyond that lines are dropped, and the subscriber then receives a line
// with Stream "hsu", Dropped set and Text "... N lines dropped" where they
// were lost. Close ends every subscription.
func (h *Hub) Subscribe(workers []string, buffer int) (<-chan Line, func()) {
	buffer = max(buffer, 1)
	s := &subscription{
		out:    make(chan Line),
		notify: make(chan struct{}, 1),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
		q:      make([]Line, buffer+1),
		limit:  buffer,
	}
	if len(workers) > 0 {
		s.filter = map[string]bool{}
		for _, w := range workers {
			s.filter[w] = true
		}
	}
	h.subMu.Lock()
	if h.subClosed {
		h.subMu.Unlock()
		close(s.out)
		return s.out, func() {}
	}
	h.subs = append(h.subs, s)
	h.wg.Add(1)
	h.subMu.Unlock()
	go func() {
		defer h.wg.Done()
		s.pump()
	}()
	cancel := func() {
		h.subMu.Lock()
		if i := indexOf(h.subs, s); i >= 0 {
			h.subs = append(h.subs[:i], h.subs[i+1:]...)
		}
		h.subMu.Unlock()
		s.stop()
	}
	return s.out, cancel
}

func indexOf(subs []*subscription, s *subscription) int {
	for i, x := range subs {
		if x == s {
			return i
		}
	}
	return -1
}

// stop ends the pump and waits for it; the channel is then closed.
func (s *subscription) stop() {
	s.once.Do(func() { close(s.done) })
	<-s.exited
}

// publish offers lines to every matching subscriber without blocking.
func (h *Hub) publish(lines []Line) {
	h.subMu.RLock()
	defer h.subMu.RUnlock()
	for _, s := range h.subs {
		s.offer(lines)
	}
}

func (s *subscription) offer(lines []Line) {
	added := false
	s.mu.Lock()
	for i := range lines {
		l := &lines[i]
		if s.filter != nil && !s.filter[l.Worker] {
			continue
		}
		added = true
		if s.count < s.limit {
			s.q[(s.head+s.count)%len(s.q)] = *l
			s.count++
			continue
		}
		// Full. The queue is at most limit lines plus a marker at its end.
		if s.count > 0 {
			if last := &s.q[(s.head+s.count-1)%len(s.q)]; last.Dropped > 0 {
				last.Dropped++
				if last.Worker != l.Worker {
					last.Worker = ""
				}
				continue
			}
		}
		s.q[(s.head+s.count)%len(s.q)] = Line{Time: l.Time, Worker: l.Worker, Stream: StreamHsu, Dropped: 1}
		s.count++
	}
	s.mu.Unlock()
	if added {
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
}

func (s *subscription) pop() (Line, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.count == 0 {
		return Line{}, false
	}
	l := s.q[s.head]
	s.q[s.head] = Line{}
	s.head = (s.head + 1) % len(s.q)
	s.count--
	if l.Dropped > 0 {
		unit := " lines dropped"
		if l.Dropped == 1 {
			unit = " line dropped"
		}
		l.Text = "... " + strconv.Itoa(l.Dropped) + unit
	}
	return l, true
}

func (s *subscription) pump() {
	defer close(s.exited)
	defer close(s.out)
	for {
		l, ok := s.pop()
		if !ok {
			select {
			case <-s.notify:
				continue
			case <-s.done:
				return
			}
		}
		select {
		case s.out <- l:
		case <-s.done:
			return
		}
	}
}
