package driver

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

func (s readySink) Writer(worker string, replica int, stream string) io.WriteCloser {
	return &readyWriter{WriteCloser: s.LogSink.Writer(worker, replica, stream), needle: s.needle, fire: s.fire}
}

// readyWriter looks for needle in the bytes written through it, across
// write boundaries (it keeps the last len(needle)-1 bytes).
type readyWriter struct {
	io.WriteCloser
	needle []byte
	tail   []byte
	fired  bool
	fire   func()
}

func (rw *readyWriter) Write(p []byte) (int, error) {
	if !rw.fired {
		k := len(rw.needle) - 1
		// The needle is in p, or straddles the previous writes and p.
		edge := append(append([]byte(nil), rw.tail...), p[:min(len(p), k)]...)
		if bytes.Contains(p, rw.needle) || bytes.Contains(edge, rw.needle) {
			rw.fired, rw.tail = true, nil
			rw.fire()
		} else {
			all := append(rw.tail, p[max(len(p)-k, 0):]...)
			rw.tail = append(rw.tail[:0:0], all[max(len(all)-k, 0):]...)
		}
	}
	return rw.WriteCloser.Write(p)
}

// discardSink drops output: the driver's sink when none is configured.
type discardSink struct{}

func (discardSink) Writer(string, int, string) io.WriteCloser { return discardWriter{} }

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (discardWriter) Close() error                { return nil }
