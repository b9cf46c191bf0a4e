//go:build linux || darwin

package cli

import (
	"os"
	"syscall"
)

// reexecSignals ask hsu run to re-execute itself.
var reexecSignals = []os.Signal{syscall.SIGUSR2}

const reexecSupported = true

// execHsu replaces this process with the binary at exe; it returns only
// on failure. The PID stays, so the workers stay hsu's children.
func execHsu(exe string, args, env []string) error { return syscall.Exec(exe, args, env) }
