//go:build linux

package osadapters

import (
	"github.com/hsu-run/hsu/osadapters/platform"
	"github.com/hsu-run/hsu/osadapters/unix"
)

// ThisPlatform is the platform hsu runs on, with what this machine lets a
// run of hsu enforce (cgroup controllers, disks), for validation;
// cgroupParent is hsu run's --cgroup-parent ("" if none).
func ThisPlatform(cgroupParent string) platform.Platform {
	p := platform.ThisPlatform()
	p.Machine = unix.ProbeMachine(cgroupParent)
	return p
}
