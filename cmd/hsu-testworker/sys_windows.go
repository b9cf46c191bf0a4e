package main

import (
	"net"
	"os"
	"os/signal"
	"syscall"
)

// readyPipe: Windows cannot pass extra files to a child.
const readyPipe = false

// termSignal asks a grandchild to stop (Windows cannot deliver it: Kill).
var termSignal os.Signal = os.Kill

var signalTable = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "ABRT": syscall.SIGABRT,
	"KILL": syscall.SIGKILL, "SEGV": syscall.SIGSEGV, "PIPE": syscall.SIGPIPE, "ALRM": syscall.SIGALRM,
	"TERM": syscall.SIGTERM,
}

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
func notifyUserSignals(chan<- os.Signal)   {}

// childAttr puts a "setsid" grandchild in its own console process group.
func childAttr(setsid bool) *syscall.SysProcAttr {
	if !setsid {
		return nil
	}
	return &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}

// inheritedListeners: there is no socket activation on Windows.
func inheritedListeners() ([]net.Listener, error) { return nil, nil }

// killSelf: Windows has no signals to die of; exit 128+sig instead.
func killSelf(sig syscall.Signal) { os.Exit(128 + int(sig)) }
