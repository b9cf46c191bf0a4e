package osadapters

import (
	"sync"

	"github.com/hsu-run/hsu/engine"
)

// queue is the driver's inbox: an unbounded FIFO of events. Completion
// goroutines and the driver itself post to it; a bounded channel could
// deadlock the driver posting to its own full inbox.
type queue struct {
	mu     sync.Mutex
	items  []engine.Event
	notify chan struct{}
}

func newQueue() *queue { return &queue{notify: make(chan struct{}, 1)} }

func (q *queue) post(ev engine.Event) {
	q.mu.Lock()
	q.items = append(q.items, ev)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// drain takes every queued event.
func (q *queue) drain(buf []engine.Event) []engine.Event {
	q.mu.Lock()
	buf = append(buf[:0], q.items...)
	clear(q.items)
	q.items = q.items[:0]
	if cap(q.items) > 256 {
		q.items = nil // a burst's backlog is not kept
	}
	q.mu.Unlock()
	return buf
}
