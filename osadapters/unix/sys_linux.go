//go:build linux

package unix

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
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

// Throttling reports whether the kernel throttles an instance's resource
// (the engine's ActThrottle): a cpu throttle is the instance's CFS quota,
// a memory throttle its memory.high, in force since its start.
func (u *Unix) Throttling(_ engine.Handle, resource string) error {
	switch c := u.cg; {
	case c == nil:
	case resource == "cpu" && (c.v2["cpu"] || c.v1["cpu"] != ""):
		return nil
	case resource == "memory" && c.v2["memory"]: // memory.high
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

// long as the instances that hold them open, which never outlive a boot.
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
		n += k
		if k == 0 || n < len(buf) {
			break // a short read is the end (see pread)
		}
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

// CgroupRoot names the cgroup2 dir that holds this state dir's instance
// cgroups and how its parent was delegated to hsu ("" when it was not);
// root is "" without cgroups.
func (u *Unix) CgroupRoot() (root, delegatedBy string) {
	if u.cg == nil {
		return "", ""
	}
	return u.cg.root, u.cg.delegatedBy
}

// FreezeOutput stops reading the instances' output, for good, before
// hsu re-executes itself: every line read so far has been handed to the
// log sinks, and the rest stays in the FIFOs, which the workers hold
// open, for the new hsu to read.
func (u *Unix) FreezeOutput() {
	if l, err := u.loops.out.get(); err == nil {
		l.freeze()
	}
}
