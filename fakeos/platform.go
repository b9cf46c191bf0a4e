package fakeos

import (
	"fmt"
	"strings"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/osadapters/platform"
)

// Platform is what the simulated OS can do, as one real platform's adapter
// does it (docs/running.md, "What each platform supports").
type Platform struct {
	Name string
	// Rules are the capability rules hsu validate applies there.
	Rules platform.Platform
	// Cgroups: every instance has a cgroup of its own, so it is found and
	// killed by its handle alone, also after an hsu crash (cgroup.kill),
	// and memory (immediate_kill), pids and a CPU quota are the kernel's.
	// Without, hsu has process groups only: a spawn is held until its PID
	// is written, and memory and pids limits are hsu's sampled policies.
	Cgroups bool
	// Marker: without cgroups, every instance's processes carry its
	// handle in their environment (HSU_INSTANCE), which hsu reads back
	// (/proc/PID/environ on Linux): an instance no state file names, or
	// the leftovers of one whose leader died while hsu was down, are
	// found by handle after all, and killed. A held spawn is still held:
	// a program may clear its environment.
	Marker bool
	// Source is where the real adapter's samples come from there
	// (engine.Usage.Source).
	Source string
	// MemoryHigh: the cgroup2 memory controller's memory.high holds a
	// throttled instance at its max, never killing it (Linux with
	// cgroup2 controllers only; v1 has no such limit).
	MemoryHigh bool
	// JobLimits: memory, process count and CPU rate are the kernel's
	// through a Job Object (Windows), without cgroups.
	JobLimits bool
	// KillOnClose: an instance's Job Object dies with hsu, and every
	// process in it (Windows): nothing survives an hsu crash to re-adopt.
	KillOnClose bool
	// UnknownReadoptedExit: the exit status of an instance re-adopted
	// after an hsu restart is lost (macOS: not hsu's child, no pidfd
	// keeping it); it is reported as signal UNKNOWN. Linux keeps it
	// (PIDFD_INFO_EXIT, 6.15+; the zombie's /proc/PID/stat before).
	UnknownReadoptedExit bool
}

// Platforms are the platforms hsu-sim --platform models.
var Platforms = []Platform{
	{Name: "linux", Rules: platform.Platform{GOOS: "linux", Machine: machine("cgroup2")}, Cgroups: true, MemoryHigh: true, Source: "cgroup2"},
	// v1 memory, cpu, pids and blkio beside a cgroup2 tree without
	// controllers (as on the CI machine): cgroup.kill on the cgroup2 tree,
	// limits from v1, which has no memory.high.
	{Name: "linux-hybrid", Rules: platform.Platform{GOOS: "linux", Machine: machine("cgroup1")}, Cgroups: true, Source: "cgroup1"},
	{Name: "linux-nocgroup", Rules: platform.Platform{GOOS: "linux", Machine: &platform.Machine{NoCgroups: "hsu-sim --platform linux-nocgroup"}}, Marker: true, Source: "proc"},
	{Name: "darwin", Rules: platform.Platform{GOOS: "darwin"}, UnknownReadoptedExit: true, Source: "proc"},
	{Name: "windows", Rules: platform.Platform{GOOS: "windows"}, JobLimits: true, KillOnClose: true, Source: "job"},
}

// machine is a Linux host whose limit controllers are all on one cgroup
// version; its disks are not modelled (every io limit has one).
func machine(version string) *platform.Machine {
	return &platform.Machine{Controllers: map[string]string{"memory": version, "cpu": version, "pids": version, "io": version}}
}

// PlatformNamed returns the platform called name.
func PlatformNamed(name string) (Platform, error) {
	for _, p := range Platforms {
		if p.Name == name {
			return p, nil
		}
	}
	names := make([]string, len(Platforms))
	for i, p := range Platforms {
		names[i] = p.Name
	}
	return Platform{}, fmt.Errorf("unknown platform %q (want one of %s)", name, strings.Join(names, ", "))
}

// Check applies the platform's capability rules to cfg, as hsu validate
// does on that platform.
func (p Platform) Check(cfg *config.Config) error { return cfg.CheckPlatform(p.Rules) }

// kernelMemory: a memory max with immediate_kill is the kernel's hard
// limit (an OOM kill), not hsu's kill on a sample.
func (p Platform) kernelMemory() bool { return p.Cgroups || p.JobLimits }

// findsStrays: instances are found by handle alone after an hsu crash
// (cgroups, or the environment marker).
func (p Platform) findsStrays() bool { return p.Cgroups || p.Marker }

// holds: the adapter holds each spawn until its PID is written (the Unix
// adapter without cgroups; Windows has none, and its jobs die with hsu).
func (p Platform) holds() bool { return !p.Cgroups && !p.KillOnClose }

// cpuQuota: a CPU throttle is a kernel quota.
func (p Platform) cpuQuota() bool { return p.Cgroups || p.JobLimits }

// unenforceable is the reason a spawn of spec fails on this platform
// before it runs, as the real adapter fails it ("" if none): Linux without
// a cpu cgroup cannot throttle a CPU.
func (p Platform) unenforceable(spec *config.Worker) string {
	if c := spec.Resources.CPU; c != nil && c.Max > 0 && c.Policy == config.ResThrottle && !p.cpuQuota() {
		return "EPERM"
	}
	return ""
}
