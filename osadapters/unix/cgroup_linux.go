//go:build linux

package unix

import (
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/engine"
	"github.com/hsu-run/hsu/osadapters/exechelper"
	"github.com/hsu-run/hsu/osadapters/platform"
)

// cgroups puts each instance in its own cgroup under the cgroup2 tree
// (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid systems), so a
// grandchild that called setsid is still found and killed (cgroup.kill).
//
// Kernel limits use a controller of the cgroup2 tree where it has one
// (memory.max, pids.max, set before the instance starts in its cgroup),
// else the cgroup v1 hierarchy of hybrid systems (an instance cgroup per
// controller that the process joins right after its start).
type cgroups struct {
	// noClone3: the kernel cannot start a process in a cgroup (< 5.7);
	// instances join theirs right after the start instead.
	noClone3 atomic.Bool
	root     string // cgroup2 dir holding one cgroup per instance
	// delegatedBy: how the parent of root was delegated to hsu ("" when
	// root is under the hierarchy's own hsu/ dir).
	delegatedBy string
	rel         string            // root as /proc/PID/cgroup shows it ("/hsu/<hash>/")
	v2          map[string]bool   // controllers enabled for the instance cgroups
	v1          map[string]string // controller -> cgroup v1 dir holding one cgroup per instance
	// v1dirs: instance handle -> the cgroup v1 dirs made for its limits
	// (most instances have none: exits and cleanups then touch no v1
	// hierarchy, which at 1000 instances stopping was a fifth of the CPU).
	v1dirs sync.Map
}

// limitControllers are the controllers hsu sets kernel limits with, by
// their cgroup2 names.
var limitControllers = []string{"memory", "pids", "cpu", "io"}

// v1Name is a controller's hierarchy in cgroup v1 (io is blkio there).
func v1Name(ctrl string) string {
	if ctrl == "io" {
		return "blkio"
	}
	return ctrl
}

// openCgroups finds where this state dir's cgroups go and prepares them:
// nil where hsu can make none (no writable cgroup2 tree, an unprivileged
// container) and was not told to. Each state dir gets its own subtree
// (hsu/<hash of the state dir>, or hsu-<hash> in a delegated parent), so
// two hsu processes never share an instance's cgroup. parent is
// --cgroup-parent ("" when not given); a failure to use it is an error,
// since the operator asked for it.
func openCgroups(stateDir, parent string) (*cgroups, error) {
	if err := checkCgroupParent(parent); err != nil {
		return nil, err
	}
	abs, _ := filepath.Abs(stateDir)
	sub := fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(abs)))
	for _, base := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st unix.Statfs_t
		if unix.Statfs(base, &st) != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
			continue
		}
		p, err := placementHere(base, parent)
		if err != nil {
			return nil, err
		}
		c, err := openCgroupsIn(base, sub, p)
		if err != nil && parent != "" {
			return nil, fmt.Errorf("--cgroup-parent %s: %w", parent, err)
		}
		return c, nil // err without the flag: process groups only
	}
	if parent != "" {
		return nil, fmt.Errorf("--cgroup-parent %s: no cgroup2 file system at /sys/fs/cgroup or /sys/fs/cgroup/unified", parent)
	}
	return nil, nil
}

// placementHere gathers decidePlacement's inputs from this process.
func placementHere(base, parent string) (placement, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		if parent != "" {
			return placement{}, fmt.Errorf("--cgroup-parent: %w", err)
		}
		return placement{}, nil
	}
	in := placementInput{procCgroup: string(b), parent: parent}
	if pc, err := parseProcCgroup(in.procCgroup); err == nil && pc.v2 != "" {
		own := joinCgroup(base, pc.v2)
		for _, name := range []string{"trusted.delegate", "user.delegate"} {
			if _, err := unix.Getxattr(own, name, nil); err == nil {
				in.xattr = true
			}
		}
	}
	if fi, err := os.Stat("/proc/self/ns/cgroup"); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			in.nsInode = st.Ino
		}
	}
	return decidePlacement(in)
}

// openCgroupsIn prepares the instance cgroups of placement p in the
// cgroup2 tree mounted at base (and the v1 hierarchies beside it).
func openCgroupsIn(base, sub string, p placement) (*cgroups, error) {
	root := filepath.Join(base, "hsu", sub)
	rel := "/hsu/" + sub + "/"
	levels := []string{base, filepath.Join(base, "hsu")} // where controllers are enabled, down to root
	if p.why != "" {
		parent := joinCgroup(base, p.v2)
		if fi, err := os.Stat(parent); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("delegated cgroup %s (%s): no such cgroup", parent, p.why)
		}
		// A cgroup2 cgroup with processes cannot enable controllers for
		// its children (the no-internal-processes rule): hsu leaves the
		// delegated parent for a leaf of its own first.
		if err := joinLeaf(parent); err != nil {
			return nil, err
		}
		root = filepath.Join(parent, "hsu-"+sub)
		rel = strings.TrimSuffix(p.v2, "/") + "/hsu-" + sub + "/"
		levels = []string{parent}
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", root, err) // read-only (an unprivileged container)
	}
	// Existing is not enough (a root hsu may have made it): hsu must be
	// able to create an instance cgroup in it.
	probe := filepath.Join(root, fmt.Sprintf("probe-%d", os.Getpid()))
	if err := os.Mkdir(probe, 0o755); err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", root, err)
	}
	os.Remove(probe)
	c := &cgroups{root: root, rel: rel, v2: map[string]bool{}, v1: map[string]string{}, delegatedBy: p.why}
	c.noClone3.Store(!kernelAtLeast(5, 7))
	avail, _ := os.ReadFile(filepath.Join(base, "cgroup.controllers"))
	if p.why != "" {
		// A delegated parent offers what its own parent enabled for it.
		avail, _ = os.ReadFile(filepath.Join(joinCgroup(base, p.v2), "cgroup.controllers"))
	}
	for _, ctrl := range limitControllers {
		if hasWord(string(avail), ctrl) {
			// Enabled level by level down to the instances' parent.
			ok := true
			for _, dir := range append(levels, root) {
				if os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+"+ctrl), 0) != nil {
					ok = false
				}
			}
			if ok {
				c.v2[ctrl] = true
				continue
			}
		}
		var v1st unix.Statfs_t
		mount := filepath.Join("/sys/fs/cgroup", v1Name(ctrl))
		if unix.Statfs(mount, &v1st) != nil || v1st.Type != unix.CGROUP_SUPER_MAGIC {
			continue
		}
		dir := filepath.Join(mount, "hsu", sub)
		if p.why != "" {
			// Delegated: in this hierarchy too where the directory exists,
			// else not at all. hsu never makes a delegated parent itself,
			// and creates nothing outside what was delegated to it.
			parent := joinCgroup(mount, p.v1[ctrl])
			if p.v1[ctrl] == "" || !isDir(parent) || joinLeaf(parent) != nil {
				continue
			}
			dir = filepath.Join(parent, "hsu-"+sub)
		}
		if os.MkdirAll(dir, 0o755) == nil {
			c.v1[ctrl] = dir
		}
	}
	return c, nil
}

// joinLeaf moves hsu into the leaf cgroup <parent>/supervisor (made if
// need be), so the delegated parent holds no process of its own.
func joinLeaf(parent string) error {
	leaf := filepath.Join(parent, "supervisor")
	if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("cgroup %s: %w", leaf, err)
	}
	// "0" is the writing process: every thread of it moves.
	if err := os.WriteFile(filepath.Join(leaf, "cgroup.procs"), []byte("0"), 0); err != nil {
		return fmt.Errorf("move hsu into %s: %w", leaf, err)
	}
	return nil
}

func isDir(p string) bool { fi, err := os.Stat(p); return err == nil && fi.IsDir() }

// kernelAtLeast reports whether the running kernel is major.minor or newer.
func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return true
	}
	var ma, mi int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi); err != nil {
		return true
	}
	return ma > major || (ma == major && mi >= minor)
}

func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}

// limitFile is one value written into an instance's cgroup; an optional
// one refines a limit on kernels that have the file (swap accounting).
type limitFile struct {
	name, value string
	optional    bool
}

// limitFiles are the files of one controller's limit, in cgroup2 and in
// cgroup v1.
type limitFiles struct{ v2, v1 []limitFile }

// cfsPeriod is the CPU quota period (100 ms, the kernel's default).
const cfsPeriod = 100000

// kernelLimits are the limits the kernel enforces for an instance, per
// controller: memory for the immediate_kill policy (a hard limit: the OOM
// killer acts, and memory.oom.group kills the instance as a whole) and
// for throttle (memory.high: reclaimed and slowed, never killed; cgroup2
// only), pids whatever the policy (the kernel refuses more forks), cpu
// for the throttle policy (a CFS quota: never kills), and I/O on the
// disk of the worker's workdir or io.device.
func kernelLimits(spec *config.Worker) (map[string]limitFiles, error) {
	out := map[string]limitFiles{}
	r := spec.Resources
	if m := r.Memory; m != nil && m.Max > 0 {
		v := strconv.FormatInt(int64(m.Max), 10)
		switch m.Policy {
		case config.ResImmediateKill:
			out["memory"] = limitFiles{
				v2: []limitFile{{"memory.max", v, false}, {"memory.swap.max", "0", true}, {"memory.oom.group", "1", true}},
				v1: []limitFile{{"memory.limit_in_bytes", v, false}, {"memory.memsw.limit_in_bytes", v, true}},
			}
		case config.ResThrottle:
			out["memory"] = limitFiles{v2: []limitFile{{"memory.high", v, false}}}
		}
	}
	if p := r.Pids; p != nil && p.Max > 0 {
		v := strconv.Itoa(p.Max)
		out["pids"] = limitFiles{v2: []limitFile{{"pids.max", v, false}}, v1: []limitFile{{"pids.max", v, false}}}
	}
	if c := r.CPU; c != nil && c.Max > 0 && c.Policy == config.ResThrottle {
		quota := max(int64(float64(c.Max)*cfsPeriod), 1000) // the kernel's minimum is 1 ms
		out["cpu"] = limitFiles{
			v2: []limitFile{{"cpu.max", fmt.Sprintf("%d %d", quota, cfsPeriod), false}},
			v1: []limitFile{{"cpu.cfs_period_us", strconv.Itoa(cfsPeriod), false}, {"cpu.cfs_quota_us", strconv.FormatInt(quota, 10), false}},
		}
	}
	if l := r.IO; l != nil {
		dev := l.Device
		if !config.IsMajMin(dev) {
			target := dev
			if target == "" {
				target = spec.Workdir
			}
			var err error
			if dev, err = diskOf(target); err != nil {
				return nil, fmt.Errorf("io limit on %s: %w", target, err)
			}
		}
		out["io"] = ioLimitFiles(dev, l)
	}
	return out, nil
}

// ioLimitFiles are io.max's line for the disk dev, and v1's blkio files.
func ioLimitFiles(dev string, l *config.IOLimit) limitFiles {
	var f limitFiles
	line := dev
	for _, k := range platform.IOKnobs(l) {
		n := strconv.FormatInt(k.Value, 10)
		line += " " + k.Key + "=" + n
		f.v1 = append(f.v1, limitFile{k.V1File, dev + " " + n, false})
	}
	f.v2 = []limitFile{{"io.max", line, false}}
	return f
}

// diskOf is the whole disk (MAJ:MIN) holding path, or the disk a device
// node names: the kernel throttles disks, so a partition stands for its
// disk. A path that does not exist yet is looked up by its nearest
// existing parent.
func diskOf(path string) (string, error) {
	var st unix.Stat_t
	p := filepath.Clean(path)
	for {
		err := unix.Stat(p, &st)
		if err == nil {
			break
		}
		if p == "/" || p == "." {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		p = filepath.Dir(p)
	}
	dev := st.Dev
	if st.Mode&unix.S_IFMT == unix.S_IFBLK {
		dev = st.Rdev
	}
	sys := fmt.Sprintf("/sys/dev/block/%d:%d", unix.Major(dev), unix.Minor(dev))
	if _, err := os.Stat(sys); err != nil {
		return "", fmt.Errorf("device %d:%d is not a block device (a tmpfs, an overlay or another virtual filesystem)", unix.Major(dev), unix.Minor(dev))
	}
	if _, err := os.Stat(filepath.Join(sys, "partition")); err == nil {
		real, err := filepath.EvalSymlinks(sys)
		if err != nil {
			return "", fmt.Errorf("disk of %s: %w", path, err)
		}
		// /sys/devices/.../sda/sda1: the disk is the parent.
		b, err := os.ReadFile(filepath.Join(filepath.Dir(real), "dev"))
		if err != nil {
			return "", fmt.Errorf("disk of partition %d:%d: %w", unix.Major(dev), unix.Minor(dev), err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return fmt.Sprintf("%d:%d", unix.Major(dev), unix.Minor(dev)), nil
}

// writeLimits writes one controller's limit files into dir.
func writeLimits(dir string, files []limitFile) error {
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), []byte(f.value), 0); err != nil && !f.optional {
			return fmt.Errorf("%s %s: %w", f.name, f.value, err)
		}
	}
	return nil
}

// checkLimits fails a start whose limits no cgroup here can enforce and
// that have no sampled fallback: a cpu throttle is a kernel quota or
// nothing (memory and pids limits fall back to hsu's sampled policy).
func (c *cgroups) checkLimits(spec *config.Worker) error {
	limits, err := kernelLimits(spec)
	if err != nil {
		return err
	}
	has := func(ctrl string, v1 bool) bool { return c != nil && (c.v2[ctrl] || (v1 && c.v1[ctrl] != "")) }
	if _, ok := limits["cpu"]; ok && !has("cpu", true) {
		return fmt.Errorf("resources.cpu policy throttle needs a cpu cgroup, and hsu has none here (run it as root, or delegate a cgroup2 subtree with the cpu controller; or use policy log, alert, restart, graceful_shutdown or immediate_kill): %w", unix.EPERM)
	}
	if l, ok := limits["memory"]; ok && len(l.v1) == 0 && !has("memory", false) {
		return fmt.Errorf("resources.memory policy throttle is memory.high, which needs the cgroup2 memory controller, and hsu has none here: %w", unix.EPERM)
	}
	if _, ok := limits["io"]; ok && !has("io", true) {
		return fmt.Errorf("resources.io needs an io (cgroup2) or blkio (v1) cgroup, and hsu has none here: %w", unix.EPERM)
	}
	return nil
}

// startFallback returns a copy of cmd to start outside its cgroup when
// its start failed because the kernel (< 5.7) has no clone3 with
// CLONE_INTO_CGROUP; the process then joins its cgroup right after the
// start (afterStart). A Cmd starts once, hence the copy.
func startFallback(cmd *exec.Cmd, err error) *exec.Cmd {
	// ENOSYS: no clone3 (< 5.3). EINVAL/E2BIG would be clone3 without
	// CLONE_INTO_CGROUP (5.3-5.6), which kernelAtLeast already ruled out,
	// and are an exec's own errors ("argument list too long") otherwise.
	if err == nil || !cmd.SysProcAttr.UseCgroupFD || !errors.Is(err, unix.ENOSYS) {
		return nil
	}
	attr := *cmd.SysProcAttr
	attr.UseCgroupFD = false
	return &exec.Cmd{Path: cmd.Path, Args: cmd.Args, Env: cmd.Env, Dir: cmd.Dir,
		Stdout: cmd.Stdout, Stderr: cmd.Stderr, ExtraFiles: cmd.ExtraFiles, SysProcAttr: &attr}
}

// afterStart moves a just-started process into its cgroup2 cgroup on
// kernels without clone3 into a cgroup (its cgroup v1 ones it joined
// itself, before its exec: joinBeforeExec).
func (c *cgroups) afterStart(h engine.Handle, _ *config.Worker, pid int) error {
	if c.noClone3.Load() {
		if err := os.WriteFile(filepath.Join(c.dir(h), "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			return fmt.Errorf("cgroup %s: %w", c.dir(h), err)
		}
	}
	return nil
}

// joinBeforeExec sets the instance's limits that only cgroup v1 can hold
// here (hybrid systems) and makes the instance join those cgroups before
// its program runs, through the exec helper: moved from outside after
// the start, a shell that forks at once had its children escape the limit.
func (c *cgroups) joinBeforeExec(h engine.Handle, spec *config.Worker, cmd *exec.Cmd) (*os.File, error) {
	var joins []string
	if c.noClone3.Load() {
		// No clone3 into a cgroup (< 5.7): the cgroup2 one is joined the
		// same way, before the program can fork.
		joins = append(joins, filepath.Join(c.dir(h), "cgroup.procs"))
	}
	limits, err := kernelLimits(spec)
	if err != nil {
		return nil, err
	}
	for _, ctrl := range limitControllers {
		l, ok := limits[ctrl]
		if !ok || len(l.v1) == 0 || c.v2[ctrl] || c.v1[ctrl] == "" {
			continue
		}
		dir := filepath.Join(c.v1[ctrl], instKey(h))
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("%s cgroup: %w", ctrl, err)
		}
		c.addV1Dir(h, dir)
		if err := writeLimits(dir, l.v1); err != nil {
			return nil, err
		}
		joins = append(joins, filepath.Join(dir, "cgroup.procs"))
	}
	if len(joins) == 0 {
		return nil, nil
	}
	return exechelper.Wrap(cmd, exechelper.Limits{Join: joins}, "cgroup v1 limits")
}

func (c *cgroups) dir(h engine.Handle) string { return filepath.Join(c.root, instKey(h)) }

// addV1Dir records a cgroup v1 dir made for instance h (one spawn at a
// time per handle: no lock needed beyond the map's).
func (c *cgroups) addV1Dir(h engine.Handle, dir string) {
	dirs, _ := c.v1dirs.Load(h)
	prev, _ := dirs.([]string)
	c.v1dirs.Store(h, append(prev[:len(prev):len(prev)], dir))
}

// v1DirsOf lists the cgroup v1 dirs of instance h: those it was given,
// or, for an instance of an earlier hsu (a stray, a cleanup by handle),
// every hierarchy's.
func (c *cgroups) v1DirsOf(h engine.Handle, known bool) []string {
	if dirs, ok := c.v1dirs.Load(h); ok {
		return dirs.([]string)
	}
	if known {
		return nil
	}
	var out []string
	for _, ctrl := range limitControllers {
		if c.v1[ctrl] != "" {
			out = append(out, filepath.Join(c.v1[ctrl], instKey(h)))
		}
	}
	return out
}

// prepare creates the instance's cgroup and makes the child start in it
// (clone3 CLONE_INTO_CGROUP), so not even its first fork escapes.
func (c *cgroups) prepare(h engine.Handle, attr *syscall.SysProcAttr) (func(), error) {
	dir := c.dir(h)
	err := os.Mkdir(dir, 0o755)
	if errors.Is(err, os.ErrExist) {
		// Left by an hsu whose state file was lost: nothing in it is wanted.
		c.kill(h)
		c.remove(h, false)
		err = os.Mkdir(dir, 0o755)
	}
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", dir, err)
	}
	if c.noClone3.Load() {
		return func() {}, nil // joined right after the start (afterStart)
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", dir, err)
	}
	attr.UseCgroupFD, attr.CgroupFD = true, fd
	return func() { unix.Close(fd) }, nil
}

// setLimits writes the cgroup2 limits before the instance starts in it.
func (c *cgroups) setLimits(h engine.Handle, spec *config.Worker) error {
	limits, err := kernelLimits(spec)
	if err != nil {
		return err
	}
	for _, ctrl := range limitControllers {
		if l, ok := limits[ctrl]; ok && c.v2[ctrl] {
			if err := writeLimits(c.dir(h), l.v2); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *cgroups) procs(h engine.Handle) []int {
	b, err := os.ReadFile(filepath.Join(c.dir(h), "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

func (c *cgroups) empty(h engine.Handle) bool { return len(c.procs(h)) == 0 }

// kill SIGKILLs every process in the cgroup: cgroup.kill where the kernel
// has it (5.14+), else each PID listed.
func (c *cgroups) kill(h engine.Handle) {
	if err := os.WriteFile(filepath.Join(c.dir(h), "cgroup.kill"), []byte("1"), 0); err == nil {
		return
	}
	for _, pid := range c.procs(h) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// oomKilled reports whether the kernel OOM-killed a process of the
// instance (memory.events on cgroup2, memory.oom_control on v1).
func (c *cgroups) oomKilled(h engine.Handle) bool {
	var files []string
	if c.v2["memory"] {
		files = append(files, filepath.Join(c.dir(h), "memory.events"))
	}
	if mem := c.v1["memory"]; mem != "" {
		for _, dir := range c.v1DirsOf(h, true) {
			if strings.HasPrefix(dir, mem+"/") {
				files = append(files, filepath.Join(dir, "memory.oom_control"))
			}
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) == 2 && f[0] == "oom_kill" && f[1] != "0" {
				return true
			}
		}
	}
	return false
}

// removeSubtree removes the state dir's cgroup directories in every
// hierarchy, with any empty instance cgroup left in them (by an hsu that
// was killed). rmdir only succeeds on a cgroup with no process and no
// child, so nothing that still runs loses its cgroup.
func (c *cgroups) removeSubtree() {
	dirs := []string{c.root}
	for _, ctrl := range limitControllers {
		if c.v1[ctrl] != "" {
			dirs = append(dirs, c.v1[ctrl])
		}
	}
	for _, dir := range dirs {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if e.IsDir() {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
		os.Remove(dir)
	}
}

// remove deletes the instance's cgroups once they are empty.
func (c *cgroups) remove(h engine.Handle, known bool) {
	dirs := append([]string{c.dir(h)}, c.v1DirsOf(h, known)...)
	c.v1dirs.Delete(h)
	for _, dir := range dirs {
		for i := 0; i < 100; i++ {
			if err := os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) {
				break
			}
			time.Sleep(2 * time.Millisecond) // the kernel empties it asynchronously
		}
	}
}
