//go:build linux

package probe

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strconv"
)

// checkZombie reads the state field of /proc/PID/stat: Z (zombie) and X
// (dead) have exited. A missing entry means the process is gone by now.
func checkZombie(pid int) error {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return errNotRunning
		}
		return nil // no /proc to ask: trust signal 0
	}
	// "pid (comm) S ...": comm may contain anything, so find the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return nil
	}
	switch b[i+2] {
	case 'Z':
		return errors.New("exited (zombie, not yet reaped)")
	case 'X', 'x':
		return errNotRunning
	}
	return nil
}
