//go:build linux

package unix

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/hsu-run/hsu/osadapters/platform"
)

// ProbeMachine tells, without creating anything, which cgroup controllers
// a run of hsu would set limits with here, as openCgroups decides it, for
// `hsu validate` and the load of `hsu run`'s config.
func ProbeMachine() *platform.Machine {
	m := &platform.Machine{Controllers: map[string]string{}, Disk: diskOf}
	base := ""
	for _, b := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st unix.Statfs_t
		if unix.Statfs(b, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			base = b
			break
		}
	}
	if base == "" {
		m.NoCgroups = "no cgroup2 filesystem is mounted"
		return m
	}
	if !writable(filepath.Join(base, "hsu"), base) {
		m.NoCgroups = base + " is not writable by this user (run hsu as root, or delegate a cgroup to it)"
		return m
	}
	avail, _ := os.ReadFile(filepath.Join(base, "cgroup.controllers"))
	for _, ctrl := range limitControllers {
		if hasWord(string(avail), ctrl) {
			m.Controllers[ctrl] = "cgroup2"
			continue
		}
		var st unix.Statfs_t
		mount := filepath.Join("/sys/fs/cgroup", v1Name(ctrl))
		if unix.Statfs(mount, &st) == nil && st.Type == unix.CGROUP_SUPER_MAGIC && writable(filepath.Join(mount, "hsu"), mount) {
			m.Controllers[ctrl] = "cgroup1"
		}
	}
	return m
}

// writable reports whether hsu could create a cgroup in dir, or in parent
// where dir does not exist yet.
func writable(dir, parent string) bool {
	if _, err := os.Stat(dir); err != nil {
		dir = parent
	}
	return unix.Access(dir, unix.W_OK) == nil
}

// Machine is what this run of hsu set limits with: the cgroups it opened.
func (u *Unix) Machine() *platform.Machine {
	m := &platform.Machine{Controllers: map[string]string{}, Disk: diskOf}
	c := u.cg
	if c == nil {
		m.NoCgroups = "hsu could not create a cgroup here (no writable cgroup2 tree: run it as root, or delegate a cgroup to it)"
		return m
	}
	for _, ctrl := range limitControllers {
		switch {
		case c.v2[ctrl]:
			m.Controllers[ctrl] = "cgroup2"
		case c.v1[ctrl] != "":
			m.Controllers[ctrl] = "cgroup1"
		}
	}
	return m
}
