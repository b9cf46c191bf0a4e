package platform

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hsu-run/hsu/config"
)

// Machine is what one run of hsu on Linux can use for kernel limits: the
// controllers it may set limits with, and the disks. The OS adapter
// probes it (osadapters/unix.ProbeMachine); the simulator models one per
// --platform. It is data: this package stays free of system calls.
type Machine struct {
	// Controllers maps "memory", "cpu", "pids" and "io" to "cgroup2" or
	// "cgroup1" for each controller this run can set limits with. A
	// missing one cannot be used.
	Controllers map[string]string
	// NoCgroups says why this run has no cgroups at all ("" if it has).
	NoCgroups string
	// Disk is the whole disk that throttling I/O on path acts on, as
	// MAJ:MIN, or an error saying why there is none (tmpfs, overlay). Nil:
	// disks are not checked.
	Disk func(path string) (string, error)
}

// fullCgroup2 is Linux as the rules assume it when no machine was probed:
// a cgroup2 tree with every controller.
var fullCgroup2 = &Machine{Controllers: map[string]string{"memory": "cgroup2", "cpu": "cgroup2", "pids": "cgroup2", "io": "cgroup2"}}

// How a limit is enforced.
const (
	ByKernel  = "kernel"  // a kernel limit (a cgroup file, a job object, an rlimit)
	BySampled = "sampled" // hsu's own samples, every monitor_interval
	ByNone    = "none"    // not at all: a validation error
)

// Enforcement is how one limit of one worker is enforced by this run:
// what `hsu validate` prints.
type Enforcement struct {
	Worker   string   `json:"worker"`
	Resource string   `json:"resource"` // memory, cpu, pids, io, fds
	Policy   string   `json:"policy,omitempty"`
	How      string   `json:"how"`             // kernel, sampled or none
	Files    []string `json:"files,omitempty"` // the kernel's files or mechanism
	Interval string   `json:"interval,omitempty"`
	Device   string   `json:"device,omitempty"` // io: the disk, MAJ:MIN
	// Degraded: the platform enforces this limit in the kernel, this run
	// cannot (no privileges, no writable cgroup), so hsu samples instead.
	// hsu run --strict-limits refuses to start then.
	Degraded bool   `json:"degraded,omitempty"`
	Why      string `json:"why,omitempty"`
	// Path is the config key the limit was set at, for errors.
	Path string `json:"-"`
}

// String is one line of the plan: "api memory: kernel (memory.max)".
func (e Enforcement) String() string {
	s := e.Worker + " " + e.Resource
	if e.Policy != "" {
		s += " " + e.Policy
	}
	s += ": " + e.How
	switch {
	case len(e.Files) > 0:
		s += " (" + strings.Join(e.Files, ", ") + ")"
	case e.Interval != "":
		s += " (every " + e.Interval + ")"
	}
	if e.Device != "" {
		s += " on " + e.Device
	}
	if e.Why != "" {
		s += ": " + e.Why
	}
	return s
}

// Plan says, per worker and limit, how this run enforces it. On Linux it
// follows p.Machine (the full cgroup2 rules without one); elsewhere the
// platform's fixed means.
func (p Platform) Plan(cfg *config.Config) []Enforcement {
	var out []Enforcement
	for _, name := range cfg.Order {
		w := cfg.Workers[name]
		path := "workers." + name + ".resources"
		var ws []Enforcement
		switch p.GOOS {
		case "linux":
			ws = p.planLinux(w, path)
		case "windows":
			ws = planFixed(w, path, "job object")
		default:
			ws = planFixed(w, path, "")
		}
		for i := range ws {
			ws[i].Worker = name
			if ws[i].How == BySampled {
				ws[i].Interval = w.Resources.MonitorInterval.String()
			}
		}
		out = append(out, ws...)
	}
	return out
}

// planLinux: cgroups where this run has the controller, else hsu's
// samples where they can stand in, else nothing.
func (p Platform) planLinux(w *config.Worker, path string) []Enforcement {
	m := p.Machine
	if m == nil {
		m = fullCgroup2
	}
	unmanaged := w.Type == config.TypeUnmanaged
	// missing says why controller ctrl cannot be used here.
	missing := func(ctrl string) string {
		if unmanaged {
			return "an unmanaged worker's process is not in a cgroup of hsu's"
		}
		if m.NoCgroups != "" {
			return "no cgroups: " + m.NoCgroups
		}
		return "no " + ctrl + " controller hsu may use here (run hsu as root, or delegate a cgroup2 subtree with it)"
	}
	ctrl := func(c string) string {
		if unmanaged {
			return ""
		}
		return m.Controllers[c]
	}
	r := w.Resources
	var out []Enforcement
	if l := r.Memory; l != nil {
		e := Enforcement{Resource: "memory", Policy: l.Policy, Path: path + ".memory"}
		switch {
		case l.Max <= 0 || (l.Policy != config.ResImmediateKill && l.Policy != config.ResThrottle):
			e.How = BySampled
		case l.Policy == config.ResThrottle && ctrl("memory") == "cgroup2":
			e.How, e.Files = ByKernel, []string{"memory.high"}
		case l.Policy == config.ResThrottle:
			e.How, e.Path = ByNone, path+".memory.policy"
			e.Why = "throttle is memory.high, which needs the cgroup2 memory controller"
			if ctrl("memory") == "cgroup1" {
				e.Why += "; this machine has memory on cgroup v1 only, which has no limit that slows without killing"
			} else {
				e.Why += "; " + missing("memory")
			}
			e.Why += " (use immediate_kill for a hard limit, or restart, graceful_shutdown, log or alert on hsu's samples)"
		case ctrl("memory") == "cgroup2":
			e.How, e.Files = ByKernel, []string{"memory.max", "memory.swap.max", "memory.oom.group"}
		case ctrl("memory") == "cgroup1":
			e.How, e.Files = ByKernel, []string{"memory.limit_in_bytes", "memory.memsw.limit_in_bytes"}
		default:
			e.How, e.Degraded = BySampled, !unmanaged
			e.Why = missing("memory") + "; hsu kills the instance when a sample reaches max"
		}
		out = append(out, e)
	}
	if l := r.CPU; l != nil {
		e := Enforcement{Resource: "cpu", Policy: l.Policy, Path: path + ".cpu"}
		switch {
		case l.Max <= 0 || l.Policy != config.ResThrottle:
			e.How = BySampled
		case ctrl("cpu") == "cgroup2":
			e.How, e.Files = ByKernel, []string{"cpu.max"}
		case ctrl("cpu") == "cgroup1":
			e.How, e.Files = ByKernel, []string{"cpu.cfs_quota_us"}
		default:
			e.How, e.Path = ByNone, path+".cpu.policy"
			e.Why = "throttle is a CFS quota: " + missing("cpu") + "; or use log, alert, restart, graceful_shutdown or immediate_kill on hsu's samples"
		}
		out = append(out, e)
	}
	if l := r.Pids; l != nil {
		e := Enforcement{Resource: "pids", Policy: l.Policy, Path: path + ".pids"}
		switch c := ctrl("pids"); {
		case c != "":
			// The kernel refuses forks past max; the policy acts on samples.
			e.How, e.Files = ByKernel, []string{"pids.max"}
		default:
			e.How, e.Degraded = BySampled, !unmanaged
			e.Why = missing("pids") + "; forks are not refused, the policy acts on hsu's samples"
		}
		out = append(out, e)
	}
	if l := r.IO; l != nil {
		e := Enforcement{Resource: "io", Path: path + ".io"}
		switch c := ctrl("io"); {
		case c == "":
			e.How, e.Why = ByNone, "I/O throttling is the kernel's: "+missing("io")
		default:
			e.How, e.Files = ByKernel, []string{"io.max"}
			if c == "cgroup1" {
				e.Files = ioFilesV1(l)
			}
			if dev, why := diskOf(m, w, l); why != "" {
				e.How, e.Files, e.Why = ByNone, nil, why
				if l.Device != "" {
					e.Path = path + ".io.device"
				}
			} else {
				e.Device = dev
			}
		}
		out = append(out, e)
	}
	if r.FDs != nil {
		e := Enforcement{Resource: "fds", Path: path + ".fds", How: ByKernel, Files: []string{"RLIMIT_NOFILE"}}
		if unmanaged {
			e.How, e.Files = ByNone, nil
		}
		out = append(out, e)
	}
	return out
}

// IOKnob is one io limit as the kernel takes it: its key in cgroup2's
// io.max and its cgroup v1 blkio file.
type IOKnob struct {
	Key, V1File string
	Value       int64
}

// IOKnobs are the knobs l sets, in io.max's order.
func IOKnobs(l *config.IOLimit) []IOKnob {
	var out []IOKnob
	for _, k := range []IOKnob{
		{"rbps", "blkio.throttle.read_bps_device", int64(l.ReadBPS)},
		{"wbps", "blkio.throttle.write_bps_device", int64(l.WriteBPS)},
		{"riops", "blkio.throttle.read_iops_device", int64(l.ReadIOPS)},
		{"wiops", "blkio.throttle.write_iops_device", int64(l.WriteIOPS)},
	} {
		if k.Value > 0 {
			out = append(out, k)
		}
	}
	return out
}

// ioFilesV1 are the blkio files that hold l.
func ioFilesV1(l *config.IOLimit) []string {
	var f []string
	for _, k := range IOKnobs(l) {
		f = append(f, k.V1File)
	}
	return f
}

// diskOf resolves the disk an io limit throttles, or says why there is
// none.
func diskOf(m *Machine, w *config.Worker, l *config.IOLimit) (dev, why string) {
	if config.IsMajMin(l.Device) {
		return l.Device, ""
	}
	if m.Disk == nil {
		return "", ""
	}
	target := l.Device
	if target == "" {
		target = w.Workdir
		if target == "" || !filepath.IsAbs(target) {
			return "", "" // resolved with the config file's directory by Load
		}
	}
	dev, err := m.Disk(target)
	if err != nil {
		if l.Device == "" {
			return "", fmt.Sprintf("the workdir %s is on no block device the kernel can throttle: %v; set io.device to a disk (a path on it, /dev/sdX or MAJ:MIN)", target, err)
		}
		return "", fmt.Sprintf("io.device %s: %v", l.Device, err)
	}
	return dev, ""
}

// planFixed is a platform without cgroups: jobs, when named, hold memory
// (immediate_kill), the process count and the CPU rate; the rest is
// sampled, RLIMIT_NOFILE is the exec helper's. What cannot be enforced
// at all is reported by the platform's rules (checkDarwin, checkWindows).
func planFixed(w *config.Worker, path, job string) []Enforcement {
	r := w.Resources
	kernel := func(e Enforcement, ok bool) Enforcement {
		if ok && job != "" && w.Type != config.TypeUnmanaged {
			e.How, e.Files = ByKernel, []string{job}
		} else {
			e.How = BySampled
		}
		return e
	}
	var out []Enforcement
	if l := r.Memory; l != nil {
		e := kernel(Enforcement{Resource: "memory", Policy: l.Policy, Path: path + ".memory"}, l.Max > 0 && l.Policy == config.ResImmediateKill)
		if l.Policy == config.ResThrottle {
			e.How, e.Files, e.Why = ByNone, nil, "memory.high is Linux's (cgroup2)"
		}
		out = append(out, e)
	}
	if l := r.CPU; l != nil {
		e := kernel(Enforcement{Resource: "cpu", Policy: l.Policy, Path: path + ".cpu"}, l.Max > 0 && l.Policy == config.ResThrottle)
		if l.Max > 0 && l.Policy == config.ResThrottle && e.How != ByKernel {
			e.How, e.Why = ByNone, "no CPU quota here"
		}
		out = append(out, e)
	}
	if l := r.Pids; l != nil {
		out = append(out, kernel(Enforcement{Resource: "pids", Policy: l.Policy, Path: path + ".pids"}, true))
	}
	if r.IO != nil {
		out = append(out, Enforcement{Resource: "io", Path: path + ".io", How: ByNone, Why: "I/O throttling is Linux's (cgroups)"})
	}
	if r.FDs != nil {
		e := Enforcement{Resource: "fds", Path: path + ".fds", How: ByKernel, Files: []string{"RLIMIT_NOFILE"}}
		if job != "" || w.Type == config.TypeUnmanaged {
			e.How, e.Files = ByNone, nil
		}
		out = append(out, e)
	}
	return out
}

// checkPlan reports the limits this machine cannot enforce at all (Linux:
// the platform's fixed rules report the rest).
func (p Platform) checkPlan(cfg *config.Config, report func(path, msg string)) {
	for _, e := range p.Plan(cfg) {
		// An unmanaged worker's cpu, pids and fds are the fixed rules'
		// (checkLinux), which say what to use instead.
		fixed := cfg.Workers[e.Worker].Type == config.TypeUnmanaged && (e.Resource == "cpu" || e.Resource == "pids" || e.Resource == "fds")
		if e.How == ByNone && e.Why != "" && !fixed {
			report(e.Path, e.Why)
		}
	}
}

// Degraded lists the limits of plan that this run samples instead of
// leaving them to the kernel, one line each, for the warning at start and
// hsu run --strict-limits.
func Degraded(plan []Enforcement) []string {
	var out []string
	for _, e := range plan {
		if e.Degraded {
			out = append(out, e.Worker+" "+e.Resource+": "+e.Why)
		}
	}
	return out
}
