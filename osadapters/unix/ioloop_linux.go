//go:build linux

package unix

import (
	"errors"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ioLoop is one goroutine in epoll_wait for every instance's output FIFOs
// (or exit pidfds), so a supervised instance costs no goroutine and no
// thread while it runs: a hundred idle workers used to cost four
// goroutines and a thread each (a third of hsu's memory).
//
// Handlers run in the loop goroutine and must not block for long. A
// registration is removed, and its fd closed, only by the loop itself
// (after a handler reports done, or on cancel), so a handler never runs
// on a closed or reused fd.
type ioLoop struct {
	epfd, wake int
	mu         sync.Mutex
	regs       map[int]*ioReg
	tasks      []func()
	// buf is the loop's read buffer: handlers run one at a time in the
	// loop goroutine, so one buffer serves every FIFO it reads.
	buf []byte
}

type ioReg struct {
	fd     int
	ready  func(events uint32) (done bool) // called while registered
	closed func()                          // called once, after removal
}

// ioLoops are a Unix system's two loops: one reads the output FIFOs,
// whose handlers write to log sinks that may block (a paused terminal);
// the other only watches exit pidfds, so exits are seen whatever the
// sinks do. They belong to one System: two in a process share nothing.
type ioLoops struct{ out, exit lazyLoop }

type lazyLoop struct {
	once sync.Once
	l    *ioLoop
	err  error
}

// get returns the loop, started on first use.
func (z *lazyLoop) get() (*ioLoop, error) {
	z.once.Do(func() { z.l, z.err = newIOLoop() })
	return z.l, z.err
}

func newIOLoop() (*ioLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, err
	}
	l := &ioLoop{epfd: epfd, wake: wake, regs: map[int]*ioReg{}}
	go l.run()
	return l, nil
}

// add watches fd for readability (level-triggered) until ready reports
// done; then the loop removes it and calls closed.
func (l *ioLoop) add(fd int, ready func(uint32) bool, closed func()) (*ioReg, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := &ioReg{fd: fd, ready: ready, closed: closed}
	l.regs[fd] = r
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		delete(l.regs, fd)
		return nil, err
	}
	return r, nil
}

// cancel removes a registration (calling its closed) if it is still
// registered; it runs in the loop goroutine, like every removal.
func (l *ioLoop) cancel(reg *ioReg) {
	l.do(func() {
		l.mu.Lock()
		current := l.regs[reg.fd] == reg
		l.mu.Unlock()
		if current {
			l.remove(reg)
		}
	})
}

func (l *ioLoop) do(f func()) {
	l.mu.Lock()
	l.tasks = append(l.tasks, f)
	l.mu.Unlock()
	var one = [8]byte{1}
	unix.Write(l.wake, one[:])
}

func (l *ioLoop) remove(r *ioReg) {
	l.mu.Lock()
	delete(l.regs, r.fd)
	l.mu.Unlock()
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, r.fd, nil)
	r.closed()
}

func (l *ioLoop) run() {
	events := make([]unix.EpollEvent, 64)
	var drain [8]byte
	for {
		n, err := unix.EpollWait(l.epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil { // cannot happen with valid arguments; never spin
			time.Sleep(10 * time.Millisecond)
			continue
		}
		for _, ev := range events[:max(n, 0)] {
			fd := int(ev.Fd)
			if fd == l.wake {
				unix.Read(l.wake, drain[:])
				l.mu.Lock()
				tasks := l.tasks
				l.tasks = nil
				l.mu.Unlock()
				for _, t := range tasks {
					t()
				}
				continue
			}
			l.mu.Lock()
			r := l.regs[fd]
			l.mu.Unlock()
			if r != nil && r.ready(ev.Events) {
				l.remove(r)
			}
		}
	}
}

// freeze parks the loop's goroutine for good and returns once it is
// parked: no handler runs after that, so what was read has reached its
// sinks and nothing more is read (what the workers write waits in the
// FIFOs for the next reader). For hsu's reexec only.
func (l *ioLoop) freeze() {
	parked := make(chan struct{})
	l.do(func() {
		close(parked)
		select {} // until the exec ends the process
	})
	<-parked
}
