//go:build linux && !mips && !mipsle && !mips64 && !mips64le

package main

import (
	"os/signal"
	"syscall"
	"unsafe"
)

// restoreDefault sets sig's disposition to SIG_DFL in the kernel. Go keeps
// its own handler for synchronous signals (SEGV, BUS, ...) and would turn
// them into a panic or ignore them, so rt_sigaction is called directly with
// an all-zero struct sigaction (SIG_DFL, no flags, empty mask) on every
// architecture but mips. No core dump is written.
func restoreDefault(sig syscall.Signal) {
	signal.Reset(sig)
	_ = syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{})
	const prSetDumpable = 4
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetDumpable, 0, 0)
	var act [8]uint64 // larger than any struct sigaction that is all zeros
	_, _, _ = syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
}
