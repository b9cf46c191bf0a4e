//go:build linux

package osadapters

import (
	"errors"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// readBuf is the I/O loop's read buffer: handlers run one at a time in
// the loop goroutine, so one buffer serves every FIFO.
var readBuf = make([]byte, 64<<10)

// drain routes both FIFOs of an instance into logs from the I/O loop.
// done closes once both reached EOF (every writer gone); stop closes them
// early (a writer that escaped every kill must not hang the exit).
func (u *Unix) drain(h instHandle, logs LogSink, files ...*os.File) (done chan struct{}, stop func()) {
	l, err := loop()
	if err != nil {
		return drainGoroutines(h, logs, files...)
	}
	done = make(chan struct{})
	var wg sync.WaitGroup
	type reg struct {
		fd int
		r  *ioReg
	}
	var mu sync.Mutex
	var regs []reg
	for i, f := range files {
		w := sinkWriter(logs, h, streamNames[i])
		fd := -1
		if rc, err := f.SyscallConn(); err == nil {
			rc.Control(func(v uintptr) { fd = int(v) }) // Fd() would make it blocking
		}
		wg.Add(1)
		closed := func() { w.Close(); f.Close(); wg.Done() }
		if fd < 0 || l.add(fd, fifoReader(fd, w), closed) != nil {
			closed()
			continue
		}
		mu.Lock()
		regs = append(regs, reg{fd, l.lookup(fd)})
		mu.Unlock()
	}
	go func() { wg.Wait(); close(done) }()
	stop = func() {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range regs {
			l.cancel(r.fd, r.r)
		}
	}
	return done, stop
}

// fifoReader reads what is there and routes it; at EOF (no writer left)
// or on an error it reports done. It reads at most 16 buffers per wake-up
// so one chatty worker cannot starve the others (epoll is level-triggered:
// the rest is read on the next turn).
func fifoReader(fd int, w io.Writer) func(uint32) bool {
	return func(uint32) bool {
		for range 16 {
			n, err := unix.Read(fd, readBuf)
			switch {
			case n > 0:
				w.Write(readBuf[:n])
			case errors.Is(err, unix.EINTR):
			case errors.Is(err, unix.EAGAIN):
				return false
			default: // EOF, or an error: either way nothing more comes
				return true
			}
		}
		return false
	}
}

// onExit calls fn in a new goroutine once process pid has exited (a child
// is then a zombie, not yet reaped), watched by a pidfd in the I/O loop.
// Without pidfds (kernel < 5.10) fallback runs in a goroutine instead and
// must do its own waiting.
func onExit(pid int, fn, fallback func()) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		go fallback()
		return
	}
	l, err := loop()
	if err == nil {
		err = l.add(fd, func(uint32) bool {
			// Verified: the fd number may be a reused one's stale event.
			p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, _ := unix.Poll(p, 0)
			return n > 0
		}, func() { unix.Close(fd); go fn() })
	}
	if err != nil {
		unix.Close(fd)
		go fallback()
	}
}
