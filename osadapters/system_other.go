//go:build !linux && !darwin && !windows

package osadapters

import (
	"fmt"
	"runtime"
)

// NewSystem returns this OS's System.
func NewSystem(string) (System, error) {
	return nil, fmt.Errorf("hsu run is not supported on %s in this build yet", runtime.GOOS)
}

// RunExecHelper does nothing here.
func RunExecHelper() {}

// NewSystemWith returns this OS's System.
func NewSystemWith(o SystemOptions) (System, error) { return NewSystem(o.StateDir) }
