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
	if err := checkStateDir(dir); err != nil {
		return nil, err
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

// checkStateDir refuses a state dir someone else controls: whoever can
// write there can plant a state file naming processes for hsu to adopt and
// kill, or read the workers' output from their FIFOs (a per-user default
// under a shared /tmp could have been created by another user first).
func checkStateDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("state dir %s is a symlink: give its target as --state-dir", dir)
	case !fi.IsDir():
		return fmt.Errorf("state dir %s is not a directory", dir)
	case ok && int(st.Uid) != os.Geteuid():
		return fmt.Errorf("state dir %s belongs to uid %d, not to this user (uid %d): refusing it", dir, st.Uid, os.Geteuid())
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("state dir %s is writable by group or others (mode %04o): chmod go-w it", dir, fi.Mode().Perm())
	}
	return nil
}
