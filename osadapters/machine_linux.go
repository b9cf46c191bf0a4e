//go:build linux

package osadapters

import (
	"github.com/hsu-run/hsu/osadapters/platform"
	"github.com/hsu-run/hsu/osadapters/unix"
)

// ThisPlatform is the platform hsu runs on, with what this machine lets a
// run of hsu enforce (cgroup controllers, disks), for validation.
func ThisPlatform() platform.Platform {
	p := platform.ThisPlatform()
	p.Machine = unix.ProbeMachine()
	return p
}
