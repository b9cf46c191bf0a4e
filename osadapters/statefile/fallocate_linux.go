package statefile

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

var errNoFallocate = errors.New("fallocate not supported")

// fallocate allocates f's blocks up to size (growing the file).
func fallocate(f *os.File, size int64) error {
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return errNoFallocate
	}
	return err
}
