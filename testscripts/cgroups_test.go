//go:build linux

package testscripts

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"
)

// The commands here find an instance's cgroups the way an operator would:
// from /proc/PID/cgroup of its live processes, resolved against the
// mounts in /proc/self/mountinfo. Nothing assumes where hsu places its
// cgroups (under hsu/<state dir hash>, or a systemd-delegated subtree),
// so the scripts check the kernel's view, not hsu's layout.

// cgroupMount is one mounted cgroup hierarchy: cgroup2 (controllers
// empty) or a v1 hierarchy with its controllers.
type cgroupMount struct {
	dir         string
	root        string // the hierarchy's path that is mounted at dir
	v2          bool
	controllers []string
}

func cgroupMounts() []cgroupMount {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []cgroupMount
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 36 35 0:30 /root /sys/fs/cgroup/memory rw,... shared:1 - cgroup cgroup rw,memory
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 {
			continue
		}
		m := cgroupMount{dir: pf[4], root: pf[3]}
		switch qf[0] {
		case "cgroup2":
			m.v2 = true
		case "cgroup":
			for _, o := range strings.Split(qf[2], ",") {
				if o == "rw" || o == "ro" || strings.Contains(o, "=") && !strings.HasPrefix(o, "name=") || strings.HasPrefix(o, "no") || o == "relatime" {
					continue
				}
				m.controllers = append(m.controllers, o)
			}
		default:
			continue
		}
		out = append(out, m)
	}
	return out
}

// procCgroups maps each hierarchy a process is in (below its root) to
// the directory of its cgroup there: "" for cgroup2, else the v1
// hierarchy's controllers joined by commas (as /proc/PID/cgroup names
// them).
func procCgroups(pid int, mounts []cgroupMount) map[string]string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		// 0::/hsu/1a2b3c4d/w-1-3   or   7:memory:/hsu/1a2b3c4d/w-1-3
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 || f[2] == "/" {
			continue // the root: not a cgroup of hsu's
		}
		for _, m := range mounts {
			if (f[1] == "") != m.v2 {
				continue
			}
			if !m.v2 && !slices.Equal(strings.Split(f[1], ","), m.controllers) {
				continue
			}
			rel, ok := strings.CutPrefix(f[2], strings.TrimSuffix(m.root, "/"))
			if !ok {
				continue // not visible through this mount
			}
			out[f[1]] = filepath.Join(m.dir, rel)
			break
		}
	}
	return out
}

// cmdCgroupDirs: cgroupdirs WORKER FILE — append to FILE the cgroup
// directories (every hierarchy) that WORKER's live processes are in, one a
// line; it fails when they are in none (with !, when they are in some).
func cmdCgroupDirs(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: cgroupdirs WORKER FILE")
	}
	mounts := cgroupMounts()
	var dirs []string
	for _, pid := range workerPIDs(ts.Getenv("WORK"), args[0]) {
		for _, d := range procCgroups(pid, mounts) {
			if !slices.Contains(dirs, d) {
				dirs = append(dirs, d)
			}
		}
	}
	slices.Sort(dirs)
	switch {
	case neg && len(dirs) > 0:
		ts.Fatalf("cgroupdirs: %s is in %v, want no cgroup", args[0], dirs)
	case !neg && len(dirs) == 0:
		ts.Fatalf("cgroupdirs: no cgroup of %s's processes (is it running?)", args[0])
	}
	f, err := os.OpenFile(ts.MkAbs(args[1]), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	ts.Check(err)
	defer f.Close()
	for _, d := range dirs {
		ts.Logf("cgroupdirs: %s in %s", args[0], d)
		_, err := f.WriteString(d + "\n")
		ts.Check(err)
	}
}

// cmdCgroupsGone: cgroupsgone [-parent] FILE [TIMEOUT] — wait until no
// directory FILE lists exists, nor, with -parent, the directory holding
// it (hsu's cgroup for the state dir, where it makes one).
func cmdCgroupsGone(ts *testscript.TestScript, neg bool, args []string) {
	parent := len(args) > 0 && args[0] == "-parent"
	if parent {
		args = args[1:]
	}
	if neg || len(args) < 1 {
		ts.Fatalf("usage: cgroupsgone [-parent] FILE [TIMEOUT]")
	}
	var want []string
	for _, d := range strings.Fields(ts.ReadFile(args[0])) {
		xs := []string{d}
		if parent {
			xs = append(xs, filepath.Dir(d))
		}
		for _, x := range xs {
			if !slices.Contains(want, x) {
				want = append(want, x)
			}
		}
	}
	if len(want) == 0 {
		ts.Fatalf("cgroupsgone: %s lists no directory", args[0])
	}
	until := deadline(ts, args, 1)
	for {
		var left []string
		for _, d := range want {
			if fileExists(d) {
				left = append(left, d)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(until) {
			ts.Fatalf("cgroupsgone: left behind: %v", left)
		}
		time.Sleep(20 * time.Millisecond) // the kernel removes a cgroup once it is empty
	}
}

// cmdCgroupRead: cgroupread WORKER CONTROLLER FILE[|FILE...] — print
// FILE of the cgroup that WORKER's process (the first found) is in, to
// stdout, for the script to match the kernel's counters: from the v1
// hierarchy of CONTROLLER (memory, cpu, pids) where it has FILE, else
// from its cgroup2 directory. Of alternatives (v1|v2 names), the first
// that exists.
func cmdCgroupRead(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: cgroupread WORKER HIERARCHY FILE")
	}
	mounts := cgroupMounts()
	for _, pid := range workerPIDs(ts.Getenv("WORK"), args[0]) {
		cgs := procCgroups(pid, mounts)
		path := ""
		for _, file := range strings.Split(args[2], "|") {
			for key, dir := range cgs {
				if key != "" && slices.Contains(strings.Split(key, ","), args[1]) && fileExists(filepath.Join(dir, file)) {
					path = filepath.Join(dir, file) // the v1 hierarchy of that controller
				}
			}
			if dir, ok := cgs[""]; ok && path == "" && fileExists(filepath.Join(dir, file)) {
				path = filepath.Join(dir, file) // cgroup2 holds every controller it has
			}
			if path != "" {
				break
			}
		}
		if path == "" {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			ts.Fatalf("cgroupread: %v", err)
		}
		ts.Logf("cgroupread: %s", path)
		ts.Stdout().Write(b)
		return
	}
	ts.Fatalf("cgroupread: no %s cgroup of %s's processes with %s", args[1], args[0], args[2])
}

// cgroupController reports whether hsu can put an instance under the
// cgroup controller name (cpu, pids, memory): as root, with a writable v1
// hierarchy of it, or a writable cgroup2 tree that offers it.
func cgroupController(name string) bool {
	if os.Geteuid() != 0 {
		return false
	}
	for _, m := range cgroupMounts() {
		if !m.v2 && slices.Contains(m.controllers, name) && unix.Access(m.dir, unix.W_OK) == nil {
			return true
		}
		if m.v2 && unix.Access(m.dir, unix.W_OK) == nil {
			if b, err := os.ReadFile(filepath.Join(m.dir, "cgroup.controllers")); err == nil && slices.Contains(strings.Fields(string(b)), name) {
				return true
			}
		}
	}
	return false
}
