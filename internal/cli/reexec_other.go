//go:build !linux && !darwin

package cli

import (
	"fmt"
	"os"
	"runtime"
)

// reexecSignals: none here (no SIGUSR2).
var reexecSignals []os.Signal

const reexecSupported = false

// execHsu: there is no exec that keeps the process here.
func execHsu(string, []string, []string) error {
	return fmt.Errorf("reexec is not supported on %s", runtime.GOOS)
}
