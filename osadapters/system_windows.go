//go:build windows

package osadapters

import "github.com/hsu-run/hsu/osadapters/windows"

// NewSystem returns this OS's System.
func NewSystem(stateDir string) (System, error) { return windows.New(stateDir) }

// RunExecHelper does nothing on Windows: no worker starts through the
// exec helper there.
func RunExecHelper() {}
