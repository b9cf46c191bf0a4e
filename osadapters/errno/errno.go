// Package errno names OS errors the way the engine and hsu's logs do
// ("ENOENT", "EAGAIN"), on every platform: the engine reasons about the
// name (ENOENT is permanent, EAGAIN is not), never the number.
package errno

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// Name turns a spawn error into the errno name the engine reasons
// about (ENOENT is permanent, EAGAIN is not, ...).
func Name(err error) string {
	var errno syscall.Errno
	switch {
	case errors.As(err, &errno): // first: EPERM is not EACCES
		if name, ok := names[errno]; ok {
			return name
		}
		return "E" + strconv.Itoa(int(errno))
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, os.ErrNotExist):
		return "ENOENT"
	case errors.Is(err, os.ErrPermission):
		return "EACCES"
	}
	return "EIO"
}

var names = map[syscall.Errno]string{
	syscall.ENOENT: "ENOENT", syscall.EACCES: "EACCES", syscall.EPERM: "EPERM", syscall.ENOEXEC: "ENOEXEC",
	syscall.ENOTDIR: "ENOTDIR", syscall.EISDIR: "EISDIR", syscall.ELOOP: "ELOOP", syscall.ENAMETOOLONG: "ENAMETOOLONG",
	syscall.EAGAIN: "EAGAIN", syscall.ENOMEM: "ENOMEM", syscall.EMFILE: "EMFILE", syscall.ENFILE: "ENFILE", syscall.EINVAL: "EINVAL",
}

// Lookup is the errno a name stands for (one of those Name gives).
func Lookup(name string) (syscall.Errno, bool) {
	for errno, n := range names { // order-free: names are unique
		if n == name {
			return errno, true
		}
	}
	return 0, false
}
