package logs

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// asyncConsole writes to the console from its own goroutine, so a console
// that stops reading (a paused terminal, `hsu run | less` at a prompt, a
// stalled SSH session) never blocks routing: log files, rings and every
// worker's output keep flowing, and hsu keeps supervising. What the
// console cannot take beyond limit bytes is dropped, counted, and
// reported on the console once it reads again.
type asyncConsole struct {
	w     io.Writer
	limit int

	mu      sync.Mutex
	wake    *sync.Cond
	queue   []byte
	dropped int // lines
	// droppedTotal counts every dropped line (Hub.Dropped).
	droppedTotal atomic.Uint64
	closed       bool
	done         chan struct{}
}

func newAsyncConsole(w io.Writer, limit int) *asyncConsole {
	c := &asyncConsole{w: w, limit: limit, done: make(chan struct{})}
	c.wake = sync.NewCond(&c.mu)
	go c.run()
	return c
}

// Write queues p (whole lines: the Hub writes whole lines) or drops it.
func (c *asyncConsole) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return len(p), nil
	}
	if len(c.queue)+len(p) > c.limit {
		n := max(bytes.Count(p, []byte{'\n'}), 1)
		c.dropped += n
		c.droppedTotal.Add(uint64(n))
		return len(p), nil
	}
	c.queue = append(c.queue, p...)
	c.wake.Signal()
	return len(p), nil
}

func (c *asyncConsole) run() {
	defer close(c.done)
	var out []byte
	for {
		c.mu.Lock()
		for len(c.queue) == 0 && c.dropped == 0 && !c.closed {
			c.wake.Wait()
		}
		if len(c.queue) == 0 && c.dropped == 0 && c.closed {
			c.mu.Unlock()
			return
		}
		out, c.queue = c.queue, out[:0]
		if c.dropped > 0 {
			out = fmt.Appendf(out, "hsu: %d console lines dropped: the console was not reading (log files and `hsu logs` have them)\n", c.dropped)
			c.dropped = 0
		}
		c.mu.Unlock()
		c.w.Write(out)
		if cap(out) > 1<<20 {
			out = nil // do not keep a burst's buffer
		}
	}
}

// close writes what is queued, waiting at most wait for a console that
// does not read, then stops.
func (c *asyncConsole) close(wait time.Duration) {
	c.mu.Lock()
	c.closed = true
	c.wake.Signal()
	c.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
	}
}
