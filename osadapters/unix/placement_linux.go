//go:build linux

package unix

import (
	"fmt"
	"path"
	"strings"
)

// initCgroupNS is the inode of the initial cgroup namespace
// (PROC_CGROUP_INIT_INO): a /proc/self/ns/cgroup with another inode is a
// container's own namespace.
const initCgroupNS = 0xEFFFFFFB

// procCgroup is /proc/self/cgroup parsed: the cgroup2 path and, per v1
// controller (each of a co-mounted list such as cpu,cpuacct), the path in
// that controller's hierarchy. Paths are as the kernel shows them,
// relative to the hierarchy's root ("/" is the root).
type procCgroup struct {
	v2 string // "" when the process is in no cgroup2 hierarchy
	v1 map[string]string
}

// parseProcCgroup parses the lines "ID:CONTROLLERS:PATH" of
// /proc/PID/cgroup (cgroups(7)); a path may itself hold colons.
func parseProcCgroup(s string) (procCgroup, error) {
	pc := procCgroup{v1: map[string]string{}}
	for i, line := range strings.Split(s, "\n") {
		if line == "" {
			continue
		}
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || !strings.HasPrefix(f[2], "/") {
			return procCgroup{}, fmt.Errorf("/proc/self/cgroup line %d: %q: want ID:CONTROLLERS:/PATH", i+1, line)
		}
		if f[0] == "0" && f[1] == "" {
			pc.v2 = f[2]
			continue
		}
		for _, ctrl := range strings.Split(f[1], ",") {
			if ctrl != "" {
				pc.v1[ctrl] = f[2]
			}
		}
	}
	return pc, nil
}

// placementInput is what decides where instance cgroups go.
type placementInput struct {
	procCgroup string // content of /proc/self/cgroup
	xattr      bool   // trusted.delegate or user.delegate is set on hsu's own cgroup2 dir
	parent     string // --cgroup-parent (checked by checkCgroupParent), "" when not given
	nsInode    uint64 // inode of /proc/self/ns/cgroup, 0 when unknown
}

// placement is where hsu makes its cgroups. Not delegated (why == ""),
// hsu keeps to its own subtree /hsu/<hash> of each hierarchy's root.
// Delegated, hsu moves itself into <parent>/supervisor and makes the
// instance cgroups in <parent>/hsu-<hash>, per hierarchy.
type placement struct {
	why string            // how the cgroup was delegated; "" when it was not
	v2  string            // the delegated parent in the cgroup2 tree
	v1  map[string]string // v1 controller -> its delegated parent (only those delegated)
}

// decidePlacement tells whether hsu's cgroup was delegated to it, and
// where. An explicit --cgroup-parent wins; then systemd's mark
// (Delegate=yes sets the xattr); then the root of a container's own
// cgroup namespace. Being root proves nothing: a root hsu can sit in a
// cgroup some other manager owns (memory:/process_api/<id>), which must
// be left alone.
//
// The v1 hierarchies of a hybrid system follow: with the flag, every
// limit controller at the same path (used where that directory exists,
// made by whoever delegated it); with the xattr, a controller whose path
// equals the cgroup2 one (systemd names a unit's cgroup alike in every
// hierarchy; a different path is someone else's); in a cgroup namespace,
// a controller at its namespace root.
func decidePlacement(in placementInput) (placement, error) {
	pc, err := parseProcCgroup(in.procCgroup)
	if err != nil {
		return placement{}, err
	}
	p := placement{v1: map[string]string{}}
	switch {
	case in.parent != "":
		p.why, p.v2 = "--cgroup-parent", in.parent
		for _, ctrl := range limitControllers {
			p.v1[ctrl] = in.parent
		}
	case in.xattr && pc.v2 != "" && pc.v2 != "/":
		p.why, p.v2 = "delegate xattr", pc.v2
		for _, ctrl := range limitControllers {
			if pc.v1[v1Name(ctrl)] == pc.v2 {
				p.v1[ctrl] = pc.v2
			}
		}
	case pc.v2 == "/" && in.nsInode != 0 && in.nsInode != initCgroupNS:
		p.why, p.v2 = "cgroup namespace root", "/"
		for _, ctrl := range limitControllers {
			if pc.v1[v1Name(ctrl)] == "/" {
				p.v1[ctrl] = "/"
			}
		}
	default:
		return placement{}, nil
	}
	return p, nil
}

// checkCgroupParent validates --cgroup-parent: a cgroup path as
// /proc/self/cgroup and systemd show it, relative to the cgroup2 mount
// (/system.slice/hsu.service), not a file system path.
func checkCgroupParent(p string) error {
	switch {
	case p == "":
		return nil
	case strings.HasPrefix(p, "/sys/fs/cgroup"):
		return fmt.Errorf("--cgroup-parent %q: want a cgroup path relative to the cgroup2 mount, as /proc/self/cgroup shows it (e.g. /system.slice/hsu.service), not a file system path", p)
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("--cgroup-parent %q: want a cgroup path starting with / (e.g. /system.slice/hsu.service)", p)
	case path.Clean(p) != p || p == "/":
		return fmt.Errorf("--cgroup-parent %q: want a clean cgroup path below the root, without .., // or a trailing /", p)
	}
	return nil
}

// joinCgroup joins a hierarchy's mount and a cgroup path ("/" is the
// mount itself).
func joinCgroup(mount, cg string) string { return path.Join(mount, cg) }
