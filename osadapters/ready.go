package osadapters

import (
	"bytes"
	"io"
)

// readySink wraps a LogSink to notice ready_log_line in an instance's
// output as it streams by, without changing what is logged.
type readySink struct {
	LogSink
	needle []byte
	fire   func() // called once, from a copying goroutine
}

func (s readySink) Copy(worker string, replica int, stream string, r io.Reader) error {
	return s.LogSink.Copy(worker, replica, stream, &readyReader{r: r, needle: s.needle, fire: s.fire})
}

// readyReader looks for needle in the bytes read through it, across read
// boundaries (it keeps the last len(needle)-1 bytes).
type readyReader struct {
	r      io.Reader
	needle []byte
	tail   []byte
	fired  bool
	fire   func()
}

func (rr *readyReader) Read(p []byte) (int, error) {
	n, err := rr.r.Read(p)
	if n > 0 && !rr.fired {
		buf := append(rr.tail, p[:n]...)
		if bytes.Contains(buf, rr.needle) {
			rr.fired = true
			rr.tail = nil
			rr.fire()
		} else if k := len(rr.needle) - 1; len(buf) > k {
			rr.tail = append(rr.tail[:0], buf[len(buf)-k:]...)
		} else {
			rr.tail = buf
		}
	}
	return n, err
}
