//go:build darwin

package unix

import (
	"errors"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// exits tells when processes exit: one kqueue with an EVFILT_PROC
// NOTE_EXIT filter per watched PID, read by a single goroutine, so a
// hundred instances cost one blocked thread, not a hundred.
var exits exitWatcher

type exitWatcher struct {
	once    sync.Once
	kq      int
	mu      sync.Mutex
	err     error                   // the kqueue is unusable: callers poll
	waiters map[int][]chan struct{} // closed when the PID exits
}

func (w *exitWatcher) init() {
	w.waiters = map[int][]chan struct{}{}
	kq, err := unix.Kqueue()
	if err != nil {
		w.err = err
		return
	}
	unix.CloseOnExec(kq)
	w.kq = kq
	go w.loop()
}

func (w *exitWatcher) loop() {
	evs := make([]unix.Kevent_t, 64)
	for {
		n, err := unix.Kevent(w.kq, nil, evs, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			// Never close the waiters' channels here: that would report
			// exits that did not happen. They poll instead.
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
			return
		}
		for _, ev := range evs[:n] {
			if ev.Filter == unix.EVFILT_PROC && ev.Fflags&unix.NOTE_EXIT != 0 {
				w.fire(int(ev.Ident))
			}
		}
	}
}

// fire closes every channel waiting for pid; taking them out of the map
// is what makes the closing this goroutine's (and never twice).
func (w *exitWatcher) fire(pid int) {
	w.mu.Lock()
	chs := w.waiters[pid]
	delete(w.waiters, pid)
	w.mu.Unlock()
	for _, ch := range chs {
		close(ch)
	}
}

// drop removes ch from pid's waiters and closes it if asked; when it is no
// longer there, fire has taken it and closes it.
func (w *exitWatcher) drop(pid int, ch chan struct{}, closeIt bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	chs := w.waiters[pid]
	for i, c := range chs {
		if c == ch {
			chs = append(chs[:i], chs[i+1:]...)
			if len(chs) == 0 {
				delete(w.waiters, pid)
			} else {
				w.waiters[pid] = chs
			}
			if closeIt {
				close(ch)
			}
			return
		}
	}
}

// watch returns a channel closed once pid has exited (it may still be an
// unreaped zombie then), and a cancel to call when no longer waiting. An
// error means no kqueue: the caller polls.
func (w *exitWatcher) watch(pid int) (<-chan struct{}, func(), error) {
	w.once.Do(w.init)
	w.mu.Lock()
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return nil, func() {}, err
	}
	ch := make(chan struct{})
	w.waiters[pid] = append(w.waiters[pid], ch) // before the filter: its event finds it
	w.mu.Unlock()
	// One knote per PID: adding it again for a second waiter only
	// re-arms the same one. The kernel makes it EV_CLEAR; EV_ONESHOT
	// removes it once it has fired.
	ev := unix.Kevent_t{Ident: uint64(pid), Filter: unix.EVFILT_PROC, Flags: unix.EV_ADD | unix.EV_ONESHOT, Fflags: unix.NOTE_EXIT}
	_, err := unix.Kevent(w.kq, []unix.Kevent_t{ev}, nil, nil)
	switch {
	case errors.Is(err, unix.ESRCH):
		w.drop(pid, ch, true) // exited already (a zombie, or reaped)
	case err != nil:
		w.drop(pid, ch, false)
		return nil, func() {}, err
	}
	return ch, func() { w.drop(pid, ch, false) }, nil
}

// waitPIDExit waits up to limit for pid to exit (any process, for Watch).
func waitPIDExit(pid int, limit time.Duration) {
	ch, cancel, err := exits.watch(pid)
	if err != nil {
		time.Sleep(limit) // no kqueue: poll
		return
	}
	defer cancel()
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-ch:
		if startTime(pid) != 0 {
			// The kernel says it is gone, sysctl still sees it running (it
			// is between its exit and its zombie state): do not let the
			// caller spin on it.
			select {
			case <-t.C:
			case <-time.After(10 * time.Millisecond):
			}
		}
	case <-t.C:
	}
}

// waitLeader waits until the instance's leader (hsu's child) has exited,
// runs beforeReap while it is still a zombie (its PID and process-group ID
// cannot be reused yet, so whatever beforeReap kills is the instance's),
// then reaps it holding mu and calls reaped before releasing mu. The exit
// is seen without reaping by kqueue (NOTE_EXIT) and sysctl; macOS has no
// waitid(WNOWAIT) in x/sys/unix.
func waitLeader(proc *os.Process, beforeReap func(), mu sync.Locker, reaped func()) ExitStatus {
	reapFirst := !waitChildExit(proc.Pid)
	if !reapFirst {
		beforeReap()
		mu.Lock() // the zombie is reaped at once
	}
	ps, err := proc.Wait()
	if reapFirst {
		mu.Lock()
	}
	reaped()
	mu.Unlock()
	if reapFirst {
		// Nothing could tell the exit without reaping: the rest of the
		// group is killed right after, as before kqueue.
		beforeReap()
	}
	if err != nil {
		return ExitStatus{Code: -1, Signal: "UNKNOWN"}
	}
	return exitStatus(ps)
}

// waitChildExit blocks until pid, an unreaped child, has exited, and
// reports true; false at once when neither kqueue nor sysctl can tell.
// The kqueue notice wakes it and sysctl (a zombie, or gone) confirms, so
// neither an exit before the filter was added, nor a notice and a filter
// that crossed, nor a stale notice for a reused PID can fool it. Without
// a kqueue, sysctl is polled every 50 ms.
func waitChildExit(pid int) bool {
	for {
		exited, known := childExited(pid)
		if exited {
			return true
		}
		ch, cancel, err := exits.watch(pid)
		if err != nil {
			if !known {
				return false
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		t := time.NewTimer(time.Second) // the safety net
		select {
		case <-ch:
			if !known {
				cancel()
				return true // the kernel's word alone
			}
			// The notice comes as the process turns into a zombie.
			for i := 0; i < 100; i++ {
				if exited, _ := childExited(pid); exited {
					break
				}
				time.Sleep(time.Millisecond)
			}
		case <-t.C:
		}
		t.Stop()
		cancel()
	}
}

// childExited reports whether an unreaped child has exited: it is a zombie,
// or gone (something else reaped it). known is false when sysctl cannot
// tell; an unexpected answer is never taken for an exit, which would kill
// the group of a running instance.
func childExited(pid int) (exited, known bool) {
	k, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err == nil {
		return int(k.Proc.P_pid) != pid || k.Proc.P_stat == szomb, true
	}
	// EIO is both "no such process" (an empty answer) and an answer of an
	// unexpected size: only the first is an exit.
	if b, err := unix.SysctlRaw("kern.proc.pid", pid); err == nil && len(b) == 0 {
		return true, true
	}
	return false, false
}
