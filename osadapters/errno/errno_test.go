package errno

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

func TestName(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{syscall.EAGAIN, "EAGAIN"},
		{fmt.Errorf("start api-1-3: %w", syscall.EPERM), "EPERM"}, // EPERM is not EACCES
		{&os.PathError{Op: "open", Path: "/x", Err: syscall.ENOENT}, "ENOENT"},
		{exec.ErrNotFound, "ENOENT"},
		{os.ErrPermission, "EACCES"},
		{errors.New("something else"), "EIO"},
	}
	for _, tt := range tests {
		if got := Name(tt.err); got != tt.want {
			t.Errorf("Name(%v) = %s, want %s", tt.err, got, tt.want)
		}
		if e, ok := Lookup(tt.want); tt.want != "EIO" && (!ok || Name(e) != tt.want) {
			t.Errorf("Lookup(%s) = %v, %v: not the inverse of Name", tt.want, e, ok)
		}
	}
}
