//go:build linux || darwin

package osadapters

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockStateDir takes an exclusive lock on the state dir, so two hsu
// processes never supervise the same workers; the lock dies with hsu.
func LockStateDir(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state dir lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("state dir %s is in use by another hsu (lock held)", dir)
	}
	return func() { f.Close() }, nil
}
