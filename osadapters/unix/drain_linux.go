//go:build linux

package unix

import (
	"errors"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// drain routes both FIFOs of an instance into logs from the I/O loop.
// done closes once both reached EOF (every writer gone); stop closes them
// early (a writer that escaped every kill must not hang the exit).
func (u *Unix) drain(h instHandle, logs LogSink, files ...*os.File) (done chan struct{}, stop func()) {
	l, err := u.loops.out.get()
	if err != nil {
		return drainGoroutines(h, logs, files...)
	}
	done = make(chan struct{})
	var mu sync.Mutex
	open := len(files)
	var regs []*ioReg
	for i, f := range files {
		w := sinkWriter(logs, h, streamNames[i])
		fd := -1
		if rc, err := f.SyscallConn(); err == nil {
			rc.Control(func(v uintptr) { fd = int(v) }) // Fd() would make it blocking
		}
		closed := func() {
			w.Close()
			f.Close()
			mu.Lock()
			open--
			if open == 0 {
				close(done)
			}
			mu.Unlock()
		}
		var r *ioReg
		if fd >= 0 {
			r, err = l.add(fd, l.fifoReader(fd, w), closed)
		}
		if r == nil {
			closed()
			continue
		}
		mu.Lock()
		regs = append(regs, r)
		mu.Unlock()
	}
	stop = func() {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range regs {
			l.cancel(r)
		}
	}
	return done, stop
}

// fifoReader reads what is there and routes it; at EOF (no writer left)
// or on an error it reports done. It reads at most 16 buffers per wake-up
// so one chatty worker cannot starve the others (epoll is level-triggered:
// the rest is read on the next turn).
func (l *ioLoop) fifoReader(fd int, w io.Writer) func(uint32) bool {
	return func(uint32) bool {
		if l.buf == nil {
			l.buf = make([]byte, 64<<10)
		}
		for range 16 {
			n, err := unix.Read(fd, l.buf)
			switch {
			case n > 0:
				w.Write(l.buf[:n])
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
func (u *Unix) onExit(pid int, fn, fallback func()) {
	u.watchPidfd(pid, nil, func(fd int) {
		if fd >= 0 {
			unix.Close(fd)
		}
		fn()
	}, fallback)
}

// onGone is onExit for a process hsu is not the parent of (adopted, or
// re-adopted after an hsu restart): fn gets its exit status if it can be
// known, else nil. same is checked once the pidfd is open (the PID may
// have been reused just before): if it fails, fn(nil) runs at once.
func (u *Unix) onGone(p Proc, same func() bool, fn func(*ExitStatus), fallback func()) {
	u.watchPidfd(p.PID, same, func(fd int) {
		st := exitInfo(fd, p)
		if fd >= 0 {
			unix.Close(fd)
		}
		fn(st)
	}, fallback)
}

// watchPidfd calls exited(pidfd) in a new goroutine once pid has exited;
// exited owns the pidfd. A pidfd names one process for good, so a
// process still the same (same) after the open is the one watched.
func (u *Unix) watchPidfd(pid int, same func() bool, exited func(fd int), fallback func()) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if errors.Is(err, unix.EINVAL) { // kernel 5.3-5.9: no PIDFD_NONBLOCK; epoll works without it
		fd, err = unix.PidfdOpen(pid, 0)
	}
	if errors.Is(err, unix.ESRCH) {
		go exited(-1) // already gone
		return
	}
	if err != nil {
		go fallback()
		return
	}
	if same != nil && !same() {
		unix.Close(fd)
		go exited(-1)
		return
	}
	l, err := u.loops.exit.get()
	if err == nil {
		_, err = l.add(fd, func(uint32) bool {
			// Verified: the fd number may be a reused one's stale event.
			p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, _ := unix.Poll(p, 0)
			return n > 0
		}, func() { go exited(fd) })
	}
	if err != nil {
		unix.Close(fd)
		go fallback()
	}
}

// exitInfo finds the exit status of an exited non-child: from
// /proc/PID/stat while it is a zombie its parent has not reaped yet
// (field 52, exit_code; the start time proves the PID is still its), else
// from its pidfd, where the kernel records it at the reap
// (PIDFD_INFO_EXIT, Linux 6.15+), so that is asked again for a while.
// nil: unknown.
func exitInfo(fd int, p Proc) *ExitStatus {
	if f := statFields(strconv.Itoa(p.PID)); len(f) > 49 && f[0] == "Z" && f[19] == strconv.FormatInt(p.StartTime, 10) {
		if code, err := strconv.Atoi(f[49]); err == nil {
			return waitStatus(unix.WaitStatus(code))
		}
	}
	for i := 0; fd >= 0 && i < 50; i++ {
		info := unix.PidfdInfo{Mask: unix.PIDFD_INFO_EXIT}
		if err := unix.IoctlPidfdInfo(fd, &info); err != nil {
			return nil // kernel < 6.13: no PIDFD_GET_INFO
		}
		if info.Mask&unix.PIDFD_INFO_EXIT != 0 {
			return waitStatus(unix.WaitStatus(info.Exit_code))
		}
		time.Sleep(2 * time.Millisecond) // the parent's reap is asynchronous
	}
	return nil
}

func waitStatus(ws unix.WaitStatus) *ExitStatus {
	if ws.Signaled() {
		return &ExitStatus{Code: -1, Signal: signalName(syscall.Signal(ws.Signal()))}
	}
	return &ExitStatus{Code: ws.ExitStatus()}
}
