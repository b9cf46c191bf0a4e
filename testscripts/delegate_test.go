//go:build linux

package testscripts

import (
	"bufio"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"
)

// delegateBases are the hierarchies a delegation test makes its cgroup
// in: the cgroup2 tree of this hybrid machine and the v1 ones hsu sets
// limits with.
var delegateBases = []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpu"}

// cmdCgDelegate: cgdelegate [xattr] — make a cgroup for this script in
// the cgroup2 tree and in every v1 hierarchy hsu limits with, with the
// same path (as systemd names a unit's cgroup), named in $CG; with
// xattr, mark the cgroup2 one delegated (trusted.delegate, what
// systemd's Delegate=yes sets). Removed at the end, leaves first, once
// the script's processes are gone.
func cmdCgDelegate(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) > 1 || len(args) == 1 && args[0] != "xattr" {
		ts.Fatalf("usage: cgdelegate [xattr]")
	}
	cg := fmt.Sprintf("/hsutest-%08x", crc32.ChecksumIEEE([]byte(ts.Getenv("WORK"))))
	var made []string
	for _, base := range delegateBases {
		if !fileExists(base) {
			continue
		}
		dir := base + cg
		ts.Check(os.Mkdir(dir, 0o755))
		made = append(made, dir)
	}
	ts.Defer(func() {
		killUnder(ts.Getenv("WORK")) // before the cgroups can go
		for _, dir := range made {
			removeCgroupTree(dir)
		}
	})
	if len(args) == 1 {
		ts.Check(unix.Setxattr("/sys/fs/cgroup/unified"+cg, "trusted.delegate", []byte("1"), 0))
	}
	ts.Setenv("CG", cg)
}

// removeCgroupTree removes a cgroup and its descendants, deepest first.
func removeCgroupTree(dir string) {
	var dirs []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	slices.Reverse(dirs)
	for _, d := range dirs {
		rmdirSoon(d)
	}
}

// cgexecMain is the program cgexec: `cgexec CG PROGRAM ARGS...` joins
// the cgroup CG in every hierarchy where it exists, then execs PROGRAM,
// so PROGRAM (hsu) starts inside it with its own PID.
func cgexecMain() int {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: cgexec CG PROGRAM ARGS...")
		return 2
	}
	for _, base := range delegateBases {
		procs := filepath.Join(base+os.Args[1], "cgroup.procs")
		if fileExists(procs) {
			if err := os.WriteFile(procs, []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
				fmt.Fprintln(os.Stderr, "cgexec:", err)
				return 1
			}
		}
	}
	path, err := exec.LookPath(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "cgexec:", err)
		return 1
	}
	err = syscall.Exec(path, os.Args[2:], os.Environ())
	fmt.Fprintln(os.Stderr, "cgexec:", err)
	return 1
}

// cmdCgIn: cgin PIDFILE HIERARCHY PREFIX — the process PIDFILE names is
// in a cgroup of HIERARCHY (cgroup2, or a v1 controller) whose path
// starts with PREFIX (! for not).
func cmdCgIn(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: cgin PIDFILE cgroup2|CONTROLLER PREFIX")
	}
	pid := strings.TrimSpace(ts.ReadFile(args[0]))
	f, err := os.Open("/proc/" + pid + "/cgroup")
	ts.Check(err)
	defer f.Close()
	path := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if args[1] == "cgroup2" && parts[0] == "0" && parts[1] == "" || slices.Contains(strings.Split(parts[1], ","), args[1]) {
			path = parts[2]
		}
	}
	if strings.HasPrefix(path, args[2]) == neg {
		ts.Fatalf("cgin: process %s is in %s cgroup %q, want prefix %q (negated: %v)", pid, args[1], path, args[2], neg)
	}
}
