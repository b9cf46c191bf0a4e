//go:build linux || darwin

package osadapters

import (
	"io"
	"os"
	"sync"

	"github.com/hsu-run/hsu/engine"
)

type instHandle = engine.Handle

var streamNames = [2]string{"stdout", "stderr"}

// drainGoroutines routes the FIFOs with a goroutine each (macOS, and Linux
// without epoll).
func drainGoroutines(h instHandle, logs LogSink, files ...*os.File) (done chan struct{}, stop func()) {
	done = make(chan struct{})
	var wg sync.WaitGroup
	for i, f := range files {
		w := sinkWriter(logs, h, streamNames[i])
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 32<<10)
			for {
				n, err := f.Read(buf)
				if n > 0 {
					w.Write(buf[:n])
				}
				if err != nil {
					break
				}
			}
			w.Close()
			f.Close()
		}()
	}
	go func() { wg.Wait(); close(done) }()
	stop = func() {
		for _, f := range files {
			f.Close() // unblocks the reads
		}
	}
	return done, stop
}

// sinkWriter is where a stream goes: the log sink, or nowhere.
func sinkWriter(logs LogSink, h instHandle, stream string) io.WriteCloser {
	if logs == nil {
		return nopWriteCloser{}
	}
	return logs.Writer(h.Worker, h.Replica, stream)
}

type nopWriteCloser struct{}

func (nopWriteCloser) Write(p []byte) (int, error) { return len(p), nil }
func (nopWriteCloser) Close() error                { return nil }
