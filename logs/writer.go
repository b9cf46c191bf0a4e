package logs

import (
	"bytes"
	"os"
	"sync"
)

// lineWriter splits one stream's bytes into lines. A partial line waits in
// a growing buffer (not bufio.Scanner's 64 KiB limit) until its newline or
// Close.
type lineWriter struct {
	h       *Hub
	worker  string
	replica int
	stream  string

	mu     sync.Mutex
	buf    []byte // the partial line
	batch  []Line // complete lines of the current Write
	closed bool
}

// Write routes every complete line in p before returning; it fails only
// after Close.
func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, os.ErrClosed
	}
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			break
		}
		if len(w.buf) > 0 {
			w.buf = append(w.buf, p[:i]...)
			w.add(w.buf, true)
			w.buf = w.buf[:0]
		} else {
			w.add(p[:i], true)
		}
		p = p[i+1:]
	}
	if max := w.h.maxLine; max > 0 && len(w.buf) > max {
		rest := w.buf
		for len(rest) > max {
			w.add(rest[:max], false)
			rest = rest[max:]
		}
		w.buf = append(w.buf[:0], rest...)
	}
	if len(w.buf) == 0 && cap(w.buf) > 64<<10 {
		w.buf = nil // don't keep a huge line's buffer
	}
	w.flush()
	return n, nil
}

// Close routes the final line if it has no newline. Further writes fail.
func (w *lineWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	if len(w.buf) > 0 {
		w.add(w.buf, false)
	}
	w.buf = nil
	w.flush()
	return nil
}

// add queues one line; terminated says it ended with "\n", in which case a
// "\r" before it is removed.
func (w *lineWriter) add(b []byte, terminated bool) {
	if terminated && len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	if max := w.h.maxLine; max > 0 {
		for len(b) > max {
			w.batch = append(w.batch, Line{Worker: w.worker, Replica: w.replica, Stream: w.stream, Text: string(b[:max])})
			b = b[max:]
		}
	}
	w.batch = append(w.batch, Line{Worker: w.worker, Replica: w.replica, Stream: w.stream, Text: string(b)})
}

// flush routes the queued lines as one batch.
func (w *lineWriter) flush() {
	if len(w.batch) == 0 {
		return
	}
	w.h.route(w.worker, w.batch)
	clear(w.batch)
	if cap(w.batch) > 1024 {
		w.batch = nil
	} else {
		w.batch = w.batch[:0]
	}
}
