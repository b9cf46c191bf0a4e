//go:build linux

package unix

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// waitLeader waits until the instance's leader (hsu's child) has
// exited, runs beforeReap while it is still a zombie (its PID and
// process-group ID cannot be reused yet, so whatever beforeReap kills is
// the instance's), then reaps it holding mu and calls reaped before
// releasing mu: whoever signals under mu sees the leader either unreaped
// or unregistered. The wait blocks only in the fallback without pidfds;
// otherwise the exit is known already (onExit).
func waitLeader(proc *os.Process, beforeReap func(), mu sync.Locker, reaped func()) ExitStatus {
	pid := proc.Pid
	defer proc.Release() // closes Go's own pidfd; hsu reaps the child itself
	waitidRetry(unix.P_PID, pid, unix.WEXITED|unix.WNOWAIT)
	beforeReap()
	mu.Lock()
	defer mu.Unlock()
	st := waitidRetry(unix.P_PID, pid, unix.WEXITED)
	reaped()
	return st
}

// si_code values of SIGCHLD (not in x/sys/unix).
const (
	cldExited = 1
	cldKilled = 2
	cldDumped = 3
)

// waitidRetry calls waitid until it returns something other than EINTR.
func waitidRetry(idType, id, options int) ExitStatus {
	for {
		st, r := peekExit(idType, id, options)
		if r != waitInterrupted {
			return st
		}
	}
}

type waitResult int

const (
	waitExited      waitResult = iota // st is the exit status
	waitInterrupted                   // EINTR
	waitFailed                        // the child is gone (reaped elsewhere): status unknown
)

// peekExit calls waitid once.
func peekExit(idType, id, options int) (ExitStatus, waitResult) {
	unknown := ExitStatus{Code: -1, Signal: "UNKNOWN"}
	var info [128]byte // siginfo_t
	err := unix.Waitid(idType, id, (*unix.Siginfo)(unsafe.Pointer(&info)), options, nil)
	switch {
	case errors.Is(err, unix.EINTR):
		return unknown, waitInterrupted
	case err != nil:
		return unknown, waitFailed
	}
	// The SIGCHLD layout: si_signo, si_errno, si_code, then (pointer
	// aligned) si_pid, si_uid, si_status.
	off := 12
	if unsafe.Sizeof(uintptr(0)) == 8 {
		off = 16
	}
	i32 := func(o int) int32 { return *(*int32)(unsafe.Pointer(&info[o])) }
	code, pid, status := i32(8), i32(off), i32(off+8)
	if pid == 0 {
		return unknown, waitFailed // no child reported: cannot happen without WNOHANG
	}
	switch code {
	case cldExited:
		return ExitStatus{Code: int(status)}, waitExited
	case cldKilled, cldDumped:
		return ExitStatus{Code: -1, Signal: signalName(syscall.Signal(status))}, waitExited
	}
	return unknown, waitExited
}
