//go:build unix && !(linux && !mips && !mipsle && !mips64 && !mips64le)

package main

import (
	"os/signal"
	"syscall"
)

// restoreDefault gives sig Go's default handling: the terminating signals
// then kill the process for real; synchronous ones (SEGV, BUS) fall back to
// exit 128+sig in killSelf.
func restoreDefault(sig syscall.Signal) {
	signal.Reset(sig)
	_ = syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{})
}
