//go:build linux

package osadapters

import (
	"errors"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// waitLeader blocks until the instance's leader has exited and returns
// its status. beforeReap runs while the leader is still a zombie: its PID,
// and so its process group ID, cannot be reused yet, so killing "the rest
// of the group" then can never hit an unrelated process.
//
// The wait parks a goroutine on a pidfd in Go's netpoller instead of
// blocking an OS thread per instance in waitid (a hundred workers would
// otherwise cost a hundred threads and their stacks).
func waitLeader(proc *os.Process, beforeReap func()) ExitStatus {
	pid := proc.Pid
	defer proc.Release() // closes Go's own pidfd; we reaped the child ourselves
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil { // kernel < 5.10 (or < 5.3: no pidfd at all)
		waitidRetry(unix.P_PID, pid, unix.WEXITED|unix.WNOWAIT)
		beforeReap()
		return waitidRetry(unix.P_PID, pid, unix.WEXITED)
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	done := false
	if rc, err := f.SyscallConn(); err == nil {
		rerr := rc.Read(func(fd uintptr) bool {
			_, r := peekExit(unix.P_PIDFD, int(fd), unix.WEXITED|unix.WNOHANG|unix.WNOWAIT)
			done = r == waitExited || r == waitFailed
			return r != waitRunning && r != waitInterrupted
		})
		if rerr != nil {
			done = false // not pollable: fall back to a blocking wait
		}
	}
	if !done {
		waitidRetry(unix.P_PIDFD, fd, unix.WEXITED|unix.WNOWAIT)
	}
	beforeReap()
	return waitidRetry(unix.P_PIDFD, fd, unix.WEXITED)
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
	waitRunning                       // WNOHANG: nothing has exited
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
		return unknown, waitRunning
	}
	switch code {
	case cldExited:
		return ExitStatus{Code: int(status)}, waitExited
	case cldKilled, cldDumped:
		return ExitStatus{Code: -1, Signal: signalName(syscall.Signal(status))}, waitExited
	}
	return unknown, waitExited
}
