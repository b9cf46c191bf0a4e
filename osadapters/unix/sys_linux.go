//go:build linux

package unix

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
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
)

// BootID identifies this boot.
func (u *Unix) BootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}

// startTime is field 22 of /proc/PID/stat (clock ticks since boot), 0 if
// the process is gone.
func startTime(pid int) int64 {
	f := statFields(strconv.Itoa(pid))
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseInt(f[19], 10, 64) // field 22 overall
	return v
}

// statFields returns the fields of /proc/PID/stat after the command name
// (field 3, the state, is index 0), or nil. The name may contain spaces
// and parentheses, so the fields start after the last ')'.
func statFields(pid string) []string {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// startedAfter reports whether p started after t (wall clock).
func startedAfter(p Proc, t time.Time) bool {
	if p.StartTime == 0 {
		return false
	}
	var info unix.Sysinfo_t
	if unix.Sysinfo(&info) != nil {
		return false
	}
	boot := time.Now().Add(-time.Duration(info.Uptime) * time.Second)
	started := boot.Add(time.Duration(p.StartTime) * time.Second / 100) // USER_HZ is 100 on Linux
	return started.After(t.Add(time.Second))                            // uptime has 1 s resolution
}

// setSubreaper makes hsu the parent of orphaned grandchildren (so they
// stay findable and killable), and starts reaping them: as subreaper, or
// as PID 1 in a container, hsu inherits orphans that must not pile up as
// zombies.
//
// The reaper runs on SIGCHLD only (no ticker: an idle hsu does nothing).
// It must never take the exit status of a child someone waits for: the
// instance leaders (registered before they run) and the short-lived
// children of exec probes and stop commands, whose os/exec Wait reaps them
// as soon as they exit. So a zombie is reaped only if it is still a zombie
// orphanGrace after it was first seen.
func (u *Unix) setSubreaper() {
	theReaper.add(u)
}

// reaper is the process's one orphan reaper: being the subreaper and
// catching SIGCHLD are process-wide, so every Unix system in the process
// shares it, and a zombie is an orphan only if it is no system's leader.
type reaper struct {
	once    sync.Once
	mu      sync.Mutex
	systems []*Unix
}

var theReaper reaper

func (r *reaper) add(u *Unix) {
	r.mu.Lock()
	r.systems = append(r.systems, u)
	r.mu.Unlock()
	r.once.Do(func() {
		unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGCHLD)
		go func() {
			seen := map[int]time.Time{} // zombie -> first seen
			var again <-chan time.Time
			for {
				select {
				case <-ch:
				case <-again:
				}
				again = nil
				if reapOrphans(r.isLeader, r.inInstance, seen, time.Now()) {
					again = time.After(orphanGrace) // a zombie is waiting for its grace to end
				}
				// A pass reads every child's /proc entry: a burst of
				// SIGCHLDs (1000 instances stopping) is one pass per
				// reapPause, not one per signal, which made a mass stop
				// quadratic and starved the driver of CPU.
				time.Sleep(reapPause)
			}
		}()
	})
}

// isLeader reports whether pid is a leader of some system, whose exit
// status belongs to that system's waiter.
func (r *reaper) isLeader(pid int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range r.systems {
		if u.isLeader(pid) {
			return true
		}
	}
	return false
}

// inInstance reports whether pid is in an instance cgroup of some
// system: a grandchild of hsu, reparented to it, never a child hsu
// started itself (a probe), whose exit status its own waiter takes.
func (r *reaper) inInstance(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range r.systems {
		if u.cg != nil && bytes.Contains(b, []byte(u.cg.rel)) {
			return true
		}
	}
	return false
}

const orphanGrace = 500 * time.Millisecond

// reapPause is the least time between two passes of the orphan reaper.
const reapPause = 20 * time.Millisecond

// reapOrphans reaps zombie children that are not leaders: at once if
// they are in an instance cgroup (an instance's kill waits for its cgroup
// to empty, and a zombie stays in it until reaped), else once they have
// been zombies for orphanGrace (a child hsu started, such as an exec
// probe, is reaped by its own waiter); it reports whether some zombie
// still waits.
func reapOrphans(isLeader, inInstance func(int) bool, seen map[int]time.Time, now time.Time) bool {
	pending := false
	zombies := map[int]bool{}
	for _, pid := range children() {
		if isLeader(pid) {
			continue
		}
		if f := statFields(strconv.Itoa(pid)); len(f) < 1 || f[0] != "Z" {
			continue
		}
		if inInstance(pid) {
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, unix.WNOHANG, nil)
			continue
		}
		zombies[pid] = true
		first, ok := seen[pid]
		if !ok {
			seen[pid], pending = now, true
			continue
		}
		if now.Sub(first) < orphanGrace {
			pending = true
			continue
		}
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		delete(zombies, pid)
	}
	for pid := range seen { // order-free: forget zombies that are gone
		if !zombies[pid] {
			delete(seen, pid)
		}
	}
	return pending
}

// children lists hsu's child processes: from /proc/self/task/*/children
// (a few small files) where the kernel has them, else by scanning /proc.
func children() []int {
	var out []int
	tasks, err := os.ReadDir("/proc/self/task")
	if err == nil {
		found := false
		for _, t := range tasks {
			b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/children")
			if err != nil {
				continue
			}
			found = true
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					out = append(out, pid)
				}
			}
		}
		if found {
			return out
		}
	}
	self := strconv.Itoa(os.Getpid())
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := statFields(e.Name()); len(f) > 1 && f[1] == self {
			out = append(out, pid)
		}
	}
	return out
}

// waitPIDExit waits up to limit for pid (not necessarily a child) to
// exit: on a pidfd parked in Go's netpoller (no thread blocked), else by
// polling.
func waitPIDExit(pid int, limit time.Duration) {
	deadline := time.Now().Add(limit)
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err == nil {
		f := os.NewFile(uintptr(fd), "pidfd")
		defer f.Close()
		if rc, err := f.SyscallConn(); err == nil && f.SetReadDeadline(deadline) == nil {
			rc.Read(func(fd uintptr) bool {
				p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
				n, _ := unix.Poll(p, 0)
				return n > 0
			})
			return
		}
	}
	for time.Now().Before(deadline) && alive(pid) {
		time.Sleep(200 * time.Millisecond) // no pidfd: poll
	}
}

// Sample reads the instance's tree from /proc: RSS and CPU of every
// process in its cgroup (or process group).
func (u *Unix) Sample(h engine.Handle, p Proc) (engine.Usage, error) {
	pids := u.members(h, p)
	if len(pids) == 0 {
		return engine.Usage{}, fmt.Errorf("sample %s: no process", instKey(h))
	}
	var us engine.Usage
	var ticks int64
	// Every instance is sampled every monitor_interval: the reads go
	// through one buffer, so sampling makes next to no garbage.
	u.sampleMu.Lock()
	buf := u.sampleBuf[:]
	for _, pid := range pids {
		dir := "/proc/" + strconv.Itoa(pid)
		if b, err := readInto(dir+"/statm", buf); err == nil {
			us.Memory += fieldInt(b, 1) * int64(os.Getpagesize())
		} else {
			continue
		}
		// utime, stime (fields 14, 15) and num_threads (field 20): pids
		// limits count threads, as the pids controller does.
		if b, err := readInto(dir+"/stat", buf); err == nil {
			if i := bytes.LastIndexByte(b, ')'); i >= 0 {
				st := b[i+1:]
				ticks += fieldInt(st, 11) + fieldInt(st, 12)
				us.Pids += int(fieldInt(st, 17))
			}
		}
	}
	u.sampleMu.Unlock()
	us.CPUSeconds = float64(ticks) / 100 // USER_HZ = 100
	// CPU is the average since the previous sample of this instance.
	now := time.Now()
	u.mu.Lock()
	prev, ok := u.cpu[h]
	u.cpu[h] = cpuSample{ticks: ticks, at: now}
	u.mu.Unlock()
	if ok && now.After(prev.at) && ticks >= prev.ticks {
		us.CPU = float64(ticks-prev.ticks) / 100 / now.Sub(prev.at).Seconds() // USER_HZ = 100
	}
	return us, nil
}

type cpuSample struct {
	ticks int64
	at    time.Time
}

// Throttling reports whether the kernel throttles an instance's resource
// (the engine's ActThrottle): a cpu throttle is the instance's CFS quota,
// in force since its start.
func (u *Unix) Throttling(_ engine.Handle, resource string) error {
	if resource == "cpu" && u.cg != nil && (u.cg.v2["cpu"] || u.cg.v1["cpu"] != "") {
		return nil
	}
	return fmt.Errorf("%s throttling is not enforced here", resource)
}

// prepareExec: Linux sets rlimits from outside (prlimit), nothing to wrap.
func prepareExec(*exec.Cmd, *config.Worker) (*os.File, error) { return nil, nil }

// applyLimits applies resources.fds to a just-started process.
func applyLimits(pid int, spec *config.Worker) error {
	if spec.Resources.FDs == nil {
		return nil
	}
	n := uint64(spec.Resources.FDs.Max)
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: n, Max: n}, nil); err != nil {
		return fmt.Errorf("fds limit %d: prlimit: %w", n, err)
	}
	return nil
}

// members lists the instance's processes: its cgroup, else its group.
func (u *Unix) members(h engine.Handle, p Proc) []int {
	if u.cg != nil {
		if pids := u.cg.procs(h); len(pids) > 0 {
			return pids
		}
	}
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pgid, err := syscall.Getpgid(pid); err == nil && pgid == p.PID {
			out = append(out, pid)
		}
	}
	return out
}

// discover finds an unmanaged process by command line and/or port.
func discover(d *config.Discover) (Proc, error) {
	var inodes map[string]bool
	if d.Port != 0 {
		inodes = listeningInodes(d.Port)
		if len(inodes) == 0 {
			return Proc{}, fmt.Errorf("discover: nothing listens on port %d", d.Port)
		}
	}
	ents, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if d.Cmdline != "" {
			b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			cl := strings.ReplaceAll(string(b), "\x00", " ")
			// An exec helper holding a managed instance carries its
			// program's command line: never a match.
			if err != nil || !strings.Contains(cl, d.Cmdline) || strings.Contains(cl, exechelper.Arg) {
				continue
			}
		}
		if inodes != nil && !ownsSocket(pid, inodes) {
			continue
		}
		return Proc{PID: pid, StartTime: startTime(pid)}, nil
	}
	return Proc{}, fmt.Errorf("discover: no process matches (cmdline %q, port %d)", d.Cmdline, d.Port)
}

// listeningInodes returns the socket inodes listening on port (tcp, tcp6).
func listeningInodes(port int) map[string]bool {
	out := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fl := strings.Fields(sc.Text())
			if len(fl) < 10 || fl[3] != "0A" { // 0A = LISTEN
				continue
			}
			if i := strings.LastIndexByte(fl[1], ':'); i >= 0 {
				if p, err := strconv.ParseInt(fl[1][i+1:], 16, 32); err == nil && int(p) == port {
					out[fl[9]] = true
				}
			}
		}
		fh.Close()
	}
	return out
}

func ownsSocket(pid int, inodes map[string]bool) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") && inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] {
			return true
		}
	}
	return false
}

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
	root     string            // cgroup2 dir holding one cgroup per instance
	rel      string            // root as /proc/PID/cgroup shows it ("/hsu/<hash>/")
	v2       map[string]bool   // controllers enabled for the instance cgroups
	v1       map[string]string // controller -> cgroup v1 dir holding one cgroup per instance
	// v1dirs: instance handle -> the cgroup v1 dirs made for its limits
	// (most instances have none: exits and cleanups then touch no v1
	// hierarchy, which at 1000 instances stopping was a fifth of the CPU).
	v1dirs sync.Map
}

// limitControllers are the controllers hsu sets kernel limits with.
var limitControllers = []string{"memory", "pids", "cpu"}

// Each state dir gets its own subtree (hsu/<hash of the state dir>), so
// two hsu processes never share an instance's cgroup.
func openCgroups(stateDir string) *cgroups {
	abs, _ := filepath.Abs(stateDir)
	sub := fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(abs)))
	for _, base := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st unix.Statfs_t
		if unix.Statfs(base, &st) != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
			continue
		}
		root := filepath.Join(base, "hsu", sub)
		if err := os.MkdirAll(root, 0o755); err != nil {
			continue // read-only (an unprivileged container): process groups only
		}
		// Existing is not enough (a root hsu may have made it): hsu must be
		// able to create an instance cgroup in it.
		probe := filepath.Join(root, fmt.Sprintf("probe-%d", os.Getpid()))
		if err := os.Mkdir(probe, 0o755); err != nil {
			continue
		}
		os.Remove(probe)
		c := &cgroups{root: root, rel: "/hsu/" + sub + "/", v2: map[string]bool{}, v1: map[string]string{}}
		c.noClone3.Store(!kernelAtLeast(5, 7))
		avail, _ := os.ReadFile(filepath.Join(base, "cgroup.controllers"))
		for _, ctrl := range limitControllers {
			if hasWord(string(avail), ctrl) {
				// Enabled level by level down to the instances' parent.
				ok := true
				for _, dir := range []string{base, filepath.Join(base, "hsu"), root} {
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
			mount := filepath.Join("/sys/fs/cgroup", ctrl)
			if unix.Statfs(mount, &v1st) == nil && v1st.Type == unix.CGROUP_SUPER_MAGIC {
				if dir := filepath.Join(mount, "hsu", sub); os.MkdirAll(dir, 0o755) == nil {
					c.v1[ctrl] = dir
				}
			}
		}
		return c
	}
	return nil
}

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
// killer acts), pids whatever the policy (the kernel refuses more forks),
// cpu for the throttle policy (a CFS quota: never kills).
func kernelLimits(spec *config.Worker) map[string]limitFiles {
	out := map[string]limitFiles{}
	r := spec.Resources
	if m := r.Memory; m != nil && m.Max > 0 && m.Policy == config.ResImmediateKill {
		v := strconv.FormatInt(int64(m.Max), 10)
		out["memory"] = limitFiles{
			v2: []limitFile{{"memory.max", v, false}, {"memory.swap.max", "0", true}},
			v1: []limitFile{{"memory.limit_in_bytes", v, false}, {"memory.memsw.limit_in_bytes", v, true}},
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
	return out
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
	if _, ok := kernelLimits(spec)["cpu"]; ok && (c == nil || (!c.v2["cpu"] && c.v1["cpu"] == "")) {
		return fmt.Errorf("resources.cpu policy throttle needs a cpu cgroup, and hsu has none here (run it as root, or delegate a cgroup2 subtree with the cpu controller; or use policy log, alert, restart, graceful_shutdown or immediate_kill): %w", unix.EPERM)
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
	limits := kernelLimits(spec)
	for _, ctrl := range limitControllers {
		l, ok := limits[ctrl]
		if !ok || c.v2[ctrl] || c.v1[ctrl] == "" {
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
	limits := kernelLimits(spec)
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

// Strays lists the instances whose cgroups in this state dir's subtree
// still hold a process, by their handle (the cgroup's name), in name
// order, each with its leader where one can be told.
func (u *Unix) Strays() []Stray {
	if u.cg == nil {
		return u.markedStrays()
	}
	ents, _ := os.ReadDir(u.cg.root)
	var out []Stray
	for _, e := range ents {
		h, ok := parseInstKey(e.Name())
		if !e.IsDir() || !ok {
			continue
		}
		if pids := u.cg.procs(h); len(pids) > 0 {
			out = append(out, Stray{H: h, Leader: leaderOf(pids)})
		}
	}
	slices.SortFunc(out, func(a, b Stray) int { return compareHandles(a.H, b.H) })
	return out
}

// compareHandles orders handles by worker, replica and generation.
func compareHandles(a, b engine.Handle) int {
	return cmp.Or(strings.Compare(a.Worker, b.Worker), cmp.Compare(a.Replica, b.Replica), cmp.Compare(a.Gen, b.Gen))
}

// markedStrays is Strays without cgroups: the instances whose processes
// carry the marker, in name order.
func (u *Unix) markedStrays() []Stray {
	m := u.marked()
	var out []Stray
	for _, h := range slices.SortedFunc(maps.Keys(m), compareHandles) {
		out = append(out, Stray{H: h, Leader: leaderOf(m[h])})
	}
	return out
}

// leaderOf tells the leader among an instance's processes, as hsu
// started it: the one process that leads its own process group and whose
// parent is not of the instance (hsu, which died, or the process that
// adopted its orphans), if it is also the oldest of them (a process
// starts before its children). Anything else is no verified leader:
// Proc{}. (If the leader died while hsu was down, one child of it that
// started a group of its own may pass for it: nothing in the kernel tells
// them apart without the record.)
func leaderOf(pids []int) Proc {
	var leader, oldest Proc
	for _, pid := range pids {
		f := statFields(strconv.Itoa(pid))
		if len(f) < 20 || f[0] == "Z" {
			continue
		}
		st, _ := strconv.ParseInt(f[19], 10, 64)
		p := Proc{PID: pid, StartTime: st, Group: true}
		if oldest.PID == 0 || st < oldest.StartTime {
			oldest = p
		}
		ppid, _ := strconv.Atoi(f[1])
		pgid, _ := strconv.Atoi(f[2])
		if pgid != pid || slices.Contains(pids, ppid) {
			continue
		}
		if leader.PID != 0 {
			return Proc{} // two: which one hsu started cannot be told
		}
		leader = p
	}
	if leader.StartTime != oldest.StartTime {
		return Proc{}
	}
	return leader
}

// killMarked SIGKILLs the processes that carry h's marker and reports
// whether any was left to kill.
func (u *Unix) killMarked(h engine.Handle) bool {
	pids := u.marked()[h]
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	return len(pids) > 0
}

// parseInstKey is the inverse of instKey ("worker-replica-gen"; a worker
// name may itself contain dashes).
func parseInstKey(s string) (engine.Handle, bool) {
	j := strings.LastIndexByte(s, '-')
	if j <= 0 {
		return engine.Handle{}, false
	}
	i := strings.LastIndexByte(s[:j], '-')
	if i <= 0 {
		return engine.Handle{}, false
	}
	r, err1 := strconv.Atoi(s[i+1 : j])
	g, err2 := strconv.ParseUint(s[j+1:], 10, 64)
	if err1 != nil || err2 != nil || r < 1 || g < 1 {
		return engine.Handle{}, false
	}
	return engine.Handle{Worker: s[:i], Replica: r, Gen: g}, true
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

// fifoDirFor is where a state dir's output FIFOs live: in memory
// (/dev/shm) unless the state dir already is. A FIFO needs no disk, and on
// ext4 creating one allocates an inode: the two FIFOs of each of 100
// workers were a tenth of a cold start's CPU. They need to last only as
// long as the instances that hold them open, which never outlive a boot.
func fifoDirFor(stateDir, id string) string {
	own := filepath.Join(stateDir, "fifo")
	var st unix.Statfs_t
	if unix.Statfs(stateDir, &st) == nil && st.Type == unix.TMPFS_MAGIC {
		return own
	}
	if unix.Statfs("/dev/shm", &st) != nil || st.Type != unix.TMPFS_MAGIC {
		return own
	}
	dir := fmt.Sprintf("/dev/shm/hsu-%d-%s", os.Getuid(), id)
	// Anyone may create names in /dev/shm: the directory is used only if
	// it is this user's own, private, and no symlink.
	os.Mkdir(dir, 0o700)
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o077 != 0 {
		return own
	}
	if sys, ok := fi.Sys().(*syscall.Stat_t); !ok || int(sys.Uid) != os.Getuid() {
		return own
	}
	return dir
}

// marked lists, by instance, the live processes that carry this state
// dir's marker in their environment (/proc/PID/environ): without cgroups,
// the processes of an instance that hsu knows by handle only. A process
// that replaced its environment is not found: hence the held spawns.
func (u *Unix) marked() map[engine.Handle][]int {
	ents, _ := os.ReadDir("/proc")
	needle := []byte(markerVar + "=" + u.id + "/")
	self := os.Getpid()
	out := map[engine.Handle][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue // gone, or not this user's
		}
		for kv := range bytes.SplitSeq(env, []byte{0}) {
			if key, ok := bytes.CutPrefix(kv, needle); ok {
				if h, ok := parseInstKey(string(key)); ok {
					out[h] = append(out[h], pid)
				}
				break
			}
		}
	}
	return out
}

// readInto reads a small /proc file into buf without allocating.
func readInto(path string, buf []byte) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	n := 0
	for n < len(buf) {
		k, err := syscall.Read(fd, buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if k == 0 {
			break
		}
		n += k
	}
	return buf[:n], nil
}

// fieldInt parses the i-th (from 0) space-separated field of b as a
// non-negative integer (0 if it is missing).
func fieldInt(b []byte, i int) int64 {
	f := 0
	for j := 0; j < len(b); {
		for j < len(b) && (b[j] == ' ' || b[j] == '\n') {
			j++
		}
		if j >= len(b) {
			break
		}
		if f == i {
			var v int64
			for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
				v = v*10 + int64(b[j]-'0')
			}
			return v
		}
		for j < len(b) && b[j] != ' ' && b[j] != '\n' {
			j++
		}
		f++
	}
	return 0
}
