//go:build linux || darwin

package unix

import (
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/hsu-run/hsu/engine"
)

type instHandle = engine.Handle

var streamNames = [2]string{"stdout", "stderr"}

// drainGoroutines routes the FIFOs with a goroutine each (macOS, and Linux
// without epoll). On macOS Go keeps FIFOs out of its poller, so a read of
// hsu's non-blocking end returns EAGAIN when the FIFO is empty: the
// goroutine then polls the descriptor (200 ms at most, to notice stop).
func drainGoroutines(h instHandle, logs LogSink, files ...*os.File) (done chan struct{}, stop func()) {
	done = make(chan struct{})
	var stopped atomic.Bool
	var wg sync.WaitGroup
	for i, f := range files {
		w := sinkWriter(logs, h, streamNames[i])
		fd := -1
		if rc, err := f.SyscallConn(); err == nil {
			rc.Control(func(v uintptr) { fd = int(v) })
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 32<<10)
			for {
				n, err := f.Read(buf)
				if n > 0 {
					w.Write(buf[:n])
				}
				if errors.Is(err, syscall.EAGAIN) && fd >= 0 && !stopped.Load() {
					p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
					unix.Poll(p, 200)
					continue
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
		stopped.Store(true)
		for _, f := range files {
			f.Close() // unblocks a read waiting in Go's poller (Linux)
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
