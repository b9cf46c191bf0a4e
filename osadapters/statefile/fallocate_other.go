//go:build !linux

package statefile

import (
	"errors"
	"os"
)

var errNoFallocate = errors.New("fallocate not supported")

// fallocate: only Linux has it here; preallocate writes zeros instead.
func fallocate(*os.File, int64) error { return errNoFallocate }
