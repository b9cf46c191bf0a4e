//go:build windows

package osadapters

import (
	"fmt"

	"github.com/hsu-run/hsu/osadapters/windows"
)

// NewSystem returns this OS's System.
func NewSystem(stateDir string) (System, error) { return windows.New(stateDir) }

// NewSystemWith returns this OS's System, set up as o says.
func NewSystemWith(o SystemOptions) (System, error) {
	if o.CgroupParent != "" {
		return nil, fmt.Errorf("--cgroup-parent %s: Windows has no cgroups (hsu uses Job Objects)", o.CgroupParent)
	}
	return windows.New(o.StateDir)
}

// RunExecHelper does nothing on Windows: no worker starts through the
// exec helper there.
func RunExecHelper() {}
