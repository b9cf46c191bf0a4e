//go:build darwin

package unix

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shirou/gopsutil/v4/process"
	"golang.org/x/sys/unix"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/engine"
	"github.com/hsu-run/hsu/osadapters/exechelper"
)

// The macOS adapter (docs/running.md, "macOS"): process groups as on
// Linux, exits by kqueue (wait_darwin.go), PID start times from sysctl
// kern.proc.pid, resource usage sampled with gopsutil, and RLIMIT_NOFILE
// set by the exec helper (exechelper_unix.go) since macOS cannot set
// another process's limits. There are no cgroups: what they do on Linux
// (kernel memory limits, OOM reports, throttling, catching grandchildren
// that left the group) is rejected at validation (checkDarwin) or
// documented as a limit.

// BootID identifies this boot: kern.bootsessionuuid (a UUID made at each
// boot), else kern.boottime (which moves when the clock is set, so a
// clock change then only costs the re-adoption, never a wrong one).
func (u *Unix) BootID() string {
	if id, err := unix.Sysctl("kern.bootsessionuuid"); err == nil && id != "" {
		return "darwin-" + id
	}
	if tv, err := unix.SysctlTimeval("kern.boottime"); err == nil {
		return fmt.Sprintf("darwin-boot-%d.%06d", tv.Sec, tv.Usec)
	}
	return "darwin"
}

// szomb is p_stat of a zombie (sys/proc.h).
const szomb = 5

// startTime is when pid was forked, in microseconds since the Unix epoch
// (p_starttime of sysctl kern.proc.pid; an exec keeps it). It is 0 when
// the process is gone or a zombie: it has exited either way.
func startTime(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	k, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil || int(k.Proc.P_pid) != pid || k.Proc.P_stat == szomb {
		return 0
	}
	return kinfoStart(k)
}

func kinfoStart(k *unix.KinfoProc) int64 {
	tv := k.Proc.P_starttime
	return tv.Sec*1_000_000 + int64(tv.Usec)
}

// startedAfter reports whether p started after t (wall clock; one second
// of slack for clock adjustments).
func startedAfter(p Proc, t time.Time) bool {
	if p.StartTime == 0 {
		return false
	}
	return time.UnixMicro(p.StartTime).After(t.Add(time.Second))
}

// setSubreaper: macOS has no subreaper; orphaned grandchildren go to
// launchd, which reaps them.
func (u *Unix) setSubreaper() {}

// procKey is one process, beyond its PID.
type procKey struct {
	pid   int
	start int64 // startTime
}

// sampler keeps each instance's previous CPU sample.
type sampler struct{ cpu map[engine.Handle]cpuSample }

// forgetSample drops an instance's previous sample (its exit).
func (u *Unix) forgetSample(h engine.Handle) {
	u.sampleMu.Lock()
	delete(u.smp.cpu, h)
	u.sampleMu.Unlock()
}

// cpuSample is an instance's previous CPU sample: each member's CPU
// seconds (user + system) at a time.
type cpuSample struct {
	at   time.Time
	secs map[procKey]float64
}

// groupMembers lists the live (not zombie) processes of process group pgid.
func groupMembers(pgid int) []procKey {
	kps, err := unix.SysctlKinfoProcSlice("kern.proc.pgrp", pgid)
	if err != nil {
		// Not expected; the whole table says the same, only slower.
		if kps, err = unix.SysctlKinfoProcSlice("kern.proc.all"); err != nil {
			return nil
		}
	}
	var out []procKey
	for i := range kps {
		k := &kps[i]
		if int(k.Eproc.Pgid) != pgid || k.Proc.P_stat == szomb || k.Proc.P_pid <= 0 {
			continue
		}
		out = append(out, procKey{pid: int(k.Proc.P_pid), start: kinfoStart(k)})
	}
	return out
}

// Sample measures the instance's process group with gopsutil: resident
// memory and CPU of every process, and its tasks (threads, like the Linux
// pids controller counts). An adopted process that is not a group leader
// is measured alone.
func (u *Unix) Sample(h engine.Handle, p Proc) (engine.Usage, error) {
	if p.PID <= 0 {
		return engine.Usage{}, fmt.Errorf("sample %s: no process", instKey(h))
	}
	members := groupMembers(p.PID)
	if len(members) == 0 && !p.Group && u.Verify(p) {
		members = []procKey{{pid: p.PID, start: p.StartTime}}
	}
	us := engine.Usage{Source: "proc"}
	cur := map[procKey]float64{}
	for _, m := range members {
		pr, err := process.NewProcess(int32(m.pid))
		if err != nil {
			continue // gone since the listing
		}
		// gopsutil ignores proc_pidinfo's failure and reports zeros; a live
		// task has at least one thread, so zero threads means it is gone
		// (or not ours to read), not that it uses nothing.
		threads, err := pr.NumThreads()
		if err != nil || threads <= 0 {
			continue
		}
		mem, err := pr.MemoryInfo()
		if err != nil {
			continue
		}
		t, err := pr.Times()
		if err != nil {
			continue
		}
		us.Memory += int64(mem.RSS)
		us.Pids += int(threads)
		cur[m] = t.User + t.System
	}
	if len(cur) == 0 {
		return engine.Usage{}, fmt.Errorf("sample %s: no process", instKey(h))
	}
	for _, s := range cur { // order-free: a sum
		us.CPUSeconds += s
	}
	// CPU is the average since the previous sample of this instance, per
	// process: one that exited since takes its last interval along (its
	// time is not counted rather than making the sum go backwards).
	now := time.Now()
	u.sampleMu.Lock()
	if u.smp.cpu == nil {
		u.smp.cpu = map[engine.Handle]cpuSample{}
	}
	prev, ok := u.smp.cpu[h]
	u.smp.cpu[h] = cpuSample{at: now, secs: cur}
	u.sampleMu.Unlock()
	if ok && now.After(prev.at) {
		var used float64
		for k, s := range cur { // order-free: a sum
			if ps, seen := prev.secs[k]; seen {
				used += max(s-ps, 0)
			} else if time.UnixMicro(k.start).After(prev.at) {
				used += s // started since: all its time is in the interval
			}
		}
		us.CPU = used / now.Sub(prev.at).Seconds()
	}
	return us, nil
}

// discover finds an unmanaged process by command line (gopsutil, from
// kern.procargs2). Discovery by port is rejected at validation: gopsutil
// needs lsof for it on macOS.
func discover(d *config.Discover) (Proc, error) {
	if d.Port != 0 {
		return Proc{}, fmt.Errorf("discover: by port is not supported on macOS (it needs lsof); use cmdline or pidfile")
	}
	if d.Cmdline == "" {
		return Proc{}, fmt.Errorf("discover: no cmdline")
	}
	pids, err := process.Pids() // sorted: the lowest PIDs first, as /proc lists them on Linux
	if err != nil {
		return Proc{}, fmt.Errorf("discover: process list: %w", err)
	}
	self := os.Getpid()
	for _, pid := range pids {
		if int(pid) == self || pid <= 0 {
			continue
		}
		pr, err := process.NewProcess(pid)
		if err != nil {
			continue
		}
		cl, err := pr.Cmdline() // fails for other users' processes unless root
		if err != nil || !strings.Contains(cl, d.Cmdline) || strings.Contains(cl, exechelper.Arg) {
			continue // an exec helper is a managed instance of this hsu, about to exec
		}
		if st := startTime(int(pid)); st != 0 {
			return Proc{PID: int(pid), StartTime: st}, nil
		}
	}
	return Proc{}, fmt.Errorf("discover: no process matches (cmdline %q)", d.Cmdline)
}

// prepareExec makes an instance with resources.fds start through the exec
// helper: macOS cannot set another process's rlimits (no prlimit), so the
// child sets its own before it execs the program. The credentials move
// into the helper too, so the limit is set with hsu's privileges (a
// hard limit above the current one needs root) before they are dropped.
func prepareExec(cmd *exec.Cmd, spec *config.Worker) (*os.File, error) {
	if spec.Resources.FDs == nil {
		return nil, nil
	}
	return exechelper.Wrap(cmd, exechelper.Limits{NoFile: uint64(spec.Resources.FDs.Max)}, "fds limit")
}

// applyLimits: the exec helper has applied them (prepareExec); a failure
// there comes back on its status pipe as a failed start.
func applyLimits(int, *config.Worker) error { return nil }

// cgroups: none on macOS. sys_unix.go only uses them when non-nil.
type cgroups struct{ noClone3 atomic.Bool }

func openCgroups(_, parent string) (*cgroups, error) {
	if parent != "" {
		return nil, fmt.Errorf("--cgroup-parent %s: macOS has no cgroups", parent)
	}
	return nil, nil
}

func (*cgroups) prepare(engine.Handle, *syscall.SysProcAttr) (func(), error) { return func() {}, nil }
func (*cgroups) procs(engine.Handle) []int                                   { return nil }
func (*cgroups) empty(engine.Handle) bool                                    { return true }
func (*cgroups) kill(engine.Handle)                                          {}
func (*cgroups) oomKilled(engine.Handle) bool                                { return false }
func (*cgroups) remove(engine.Handle, bool)                                  {}
func (*cgroups) removeSubtree()                                              {}
func (*cgroups) setLimits(engine.Handle, *config.Worker) error               { return nil }
func (*cgroups) afterStart(engine.Handle, *config.Worker, int) error         { return nil }
func (*cgroups) checkLimits(*config.Worker) error                            { return nil }
func (*cgroups) joinBeforeExec(engine.Handle, *config.Worker, *exec.Cmd) (*os.File, error) {
	return nil, nil
}

func startFallback(*exec.Cmd, error) *exec.Cmd { return nil }

// fifoDirFor is where a state dir's output FIFOs live.
func fifoDirFor(stateDir, _ string) string { return filepath.Join(stateDir, "fifo") }

// killMarked: macOS has no /proc to read a process's environment marker
// from (the instance is found by its recorded PID only).
func (u *Unix) killMarked(engine.Handle) bool { return false }
