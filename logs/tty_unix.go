//go:build linux || darwin

package logs

import (
	"os"
	"syscall"
	"unsafe"
)

// isTerminal reports whether f is a terminal (the termios ioctl succeeds).
func isTerminal(f *os.File) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	rc.Control(func(fd uintptr) {
		var t syscall.Termios
		_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, ioctlGetTermios, uintptr(unsafe.Pointer(&t)))
		ok = errno == 0
	})
	return ok
}
