//go:build linux

package unix

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/hsu-run/hsu/osadapters/platform"
)

// ProbeMachine tells, without creating anything, which cgroup controllers
// a run of hsu would set limits with here, as openCgroups decides it
// (delegated cgroups included; parent is --cgroup-parent or ""), for
// `hsu validate` and the load of `hsu run`'s config.
func ProbeMachine(parent string) *platform.Machine {
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
	if checkCgroupParent(parent) != nil {
		m.NoCgroups = "--cgroup-parent " + parent + " is not a cgroup"
		return m
	}
	p, _ := placementHere(base, parent)
	dir, sub := base, filepath.Join(base, "hsu")
	if p.why != "" {
		dir = joinCgroup(base, p.v2)
		sub = dir
	}
	if !writable(sub, dir) {
		m.NoCgroups = dir + " is not writable by this user (run hsu as root, or delegate a cgroup to it)"
		return m
	}
	avail, _ := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	for _, ctrl := range limitControllers {
		if hasWord(string(avail), ctrl) {
			m.Controllers[ctrl] = "cgroup2"
			continue
		}
		var st unix.Statfs_t
		mount := filepath.Join("/sys/fs/cgroup", v1Name(ctrl))
		if unix.Statfs(mount, &st) != nil || st.Type != unix.CGROUP_SUPER_MAGIC {
			continue
		}
		v1dir := mount
		if cg := p.v1[ctrl]; cg != "" {
			v1dir = joinCgroup(mount, cg)
		}
		if writable(filepath.Join(v1dir, "hsu"), v1dir) {
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
