//go:build unix

package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// readyPipe: grandchildren report readiness on an inherited pipe (fd 3).
const readyPipe = true

// termSignal asks a grandchild to stop.
var termSignal os.Signal = syscall.SIGTERM

// signalTable maps config.SignalNames to this platform's numbers.
var signalTable = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "ABRT": syscall.SIGABRT,
	"KILL": syscall.SIGKILL, "USR1": syscall.SIGUSR1, "SEGV": syscall.SIGSEGV, "USR2": syscall.SIGUSR2,
	"PIPE": syscall.SIGPIPE, "ALRM": syscall.SIGALRM, "TERM": syscall.SIGTERM, "CONT": syscall.SIGCONT,
	"STOP": syscall.SIGSTOP, "TSTP": syscall.SIGTSTP, "WINCH": syscall.SIGWINCH,
}

// termSignals end a worker gracefully, or are ignored with
// --ignore-sigterm: the simulator's deadly signals other than KILL.
var termSignals = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT}

func signalByName(name string) (syscall.Signal, bool) {
	s, ok := signalTable[name]
	return s, ok
}

func isTermSignal(sig os.Signal) bool {
	for _, s := range termSignals {
		if s == sig {
			return true
		}
	}
	return false
}

func ignoreTermSignals()                   { signal.Ignore(termSignals...) }
func notifyTermSignals(c chan<- os.Signal) { signal.Notify(c, termSignals...) }

// notifyUserSignals makes USR1 and USR2 print a line (the simulator's
// "handled" signals).
func notifyUserSignals(c chan<- os.Signal) { signal.Notify(c, syscall.SIGUSR1, syscall.SIGUSR2) }

func childAttr(setsid bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: setsid}
}

// inheritedListeners takes the sockets of systemd socket activation:
// LISTEN_FDS=N sockets from fd 3, when LISTEN_PID is our pid or unset (a
// parent that is not systemd cannot know the pid before exec). The
// variables are removed so grandchildren do not take them too.
func inheritedListeners() ([]net.Listener, error) {
	nfds, ok := os.LookupEnv("LISTEN_FDS")
	if !ok {
		return nil, nil
	}
	if pid, ok := os.LookupEnv("LISTEN_PID"); ok && pid != strconv.Itoa(os.Getpid()) {
		return nil, nil // meant for another process
	}
	for _, v := range []string{"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"} {
		_ = os.Unsetenv(v)
	}
	n, err := strconv.Atoi(nfds)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("bad LISTEN_FDS %q", nfds)
	}
	var ls []net.Listener
	for fd := 3; fd < 3+n; fd++ {
		syscall.CloseOnExec(fd)
		f := os.NewFile(uintptr(fd), "LISTEN_FD_"+strconv.Itoa(fd))
		l, err := net.FileListener(f)
		_ = f.Close()
		if err != nil {
			return nil, fmt.Errorf("fd %d: %w", fd, err)
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// killSelf dies of sig, with the kernel's default action (so the exit
// status says "killed by sig"); exit 128+sig if that did not end it.
func killSelf(sig syscall.Signal) {
	restoreDefault(sig)
	_ = syscall.Kill(os.Getpid(), sig)
	time.Sleep(2 * time.Second)
	os.Exit(128 + int(sig))
}
