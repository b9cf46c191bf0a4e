package osadapters

import (
	"sync"
	"time"

	"github.com/hsu-run/hsu/engine"
)

// queue is the driver's inbox: an unbounded FIFO of events. Completion
// goroutines and the driver itself post to it; a bounded channel could
// deadlock the driver posting to its own full inbox.
type queue struct {
	mu     sync.Mutex
	items  []engine.Event
	since  time.Time // when the oldest queued event was posted
	notify chan struct{}
}

func newQueue() *queue { return &queue{notify: make(chan struct{}, 1)} }

func (q *queue) post(ev engine.Event) {
	q.mu.Lock()
	if len(q.items) == 0 {
		q.since = time.Now()
	}
	q.items = append(q.items, ev)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// postAll queues evs together: the next drain takes all of them.
func (q *queue) postAll(evs []engine.Event) {
	q.mu.Lock()
	if len(q.items) == 0 {
		q.since = time.Now()
	}
	q.items = append(q.items, evs...)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// keepBuffer reports whether a buffer of capacity c that last held n
// events is kept for the next use: a burst's is not (an idle hsu stays
// small); one that recurs, a tick's samples of 1000 instances, is,
// rather than made anew every time.
func keepBuffer(c, n int) bool { return c <= 256 || c <= 2*n }

// drain takes every queued event, and says how long the oldest waited
// (the loop's lag).
func (q *queue) drain(buf []engine.Event) ([]engine.Event, time.Duration) {
	q.mu.Lock()
	var lag time.Duration
	if len(q.items) > 0 {
		lag = time.Since(q.since)
	}
	n := len(q.items)
	buf = append(buf[:0], q.items...)
	clear(q.items)
	q.items = q.items[:0]
	if !keepBuffer(cap(q.items), n) {
		q.items = nil
	}
	q.mu.Unlock()
	return buf, lag
}
