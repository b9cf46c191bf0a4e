//go:build unix

package probe

import (
	"errors"
	"fmt"
	"syscall"
)

var errNotRunning = errors.New("not running")

// processAlive: signal 0 checks existence; EPERM means it exists but belongs
// to someone else. A zombie has exited and is not alive (Linux checks).
func processAlive(pid int) error {
	switch err := syscall.Kill(pid, 0); {
	case err == nil, errors.Is(err, syscall.EPERM):
	case errors.Is(err, syscall.ESRCH):
		return errNotRunning
	default:
		return fmt.Errorf("signal 0: %w", err)
	}
	return checkZombie(pid)
}
