//go:build linux || darwin

package osadapters

import (
	"github.com/hsu-run/hsu/osadapters/exechelper"
	"github.com/hsu-run/hsu/osadapters/unix"
)

// NewSystem returns this OS's System.
func NewSystem(stateDir string) (System, error) { return unix.New(stateDir) }

// NewSystemWith returns this OS's System, set up as o says.
func NewSystemWith(o SystemOptions) (System, error) {
	return unix.NewWith(unix.Options{StateDir: o.StateDir, CgroupParent: o.CgroupParent})
}

// RunExecHelper is the exec helper's entry point; main calls it first. It
// returns at once unless this process was started as the helper.
func RunExecHelper() { exechelper.Run() }
