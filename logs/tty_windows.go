package logs

import (
	"os"
	"syscall"
)

var procSetConsoleMode = syscall.NewLazyDLL("kernel32.dll").NewProc("SetConsoleMode")

// enableVirtualTerminalProcessing makes the console interpret ANSI escapes.
const enableVirtualTerminalProcessing = 0x0004

// isTerminal reports whether f is a console that shows ANSI colours,
// turning escape processing on if needed.
func isTerminal(f *os.File) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	rc.Control(func(fd uintptr) {
		var mode uint32
		if syscall.GetConsoleMode(syscall.Handle(fd), &mode) != nil {
			return
		}
		if mode&enableVirtualTerminalProcessing != 0 {
			ok = true
			return
		}
		if procSetConsoleMode.Find() != nil {
			return
		}
		r, _, _ := procSetConsoleMode.Call(fd, uintptr(mode|enableVirtualTerminalProcessing))
		ok = r != 0
	})
	return ok
}
