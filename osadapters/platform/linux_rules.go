package platform

import "github.com/hsu-run/hsu/config"

// checkLinux lists what the Linux adapter cannot do. It enforces memory
// (memory.max, OOM reported; memory.high for throttle), pids (pids.max),
// the cpu throttle (a CFS quota) and I/O (io.max, blkio) with cgroups
// where it may create them, fds with prlimit, and the other policies on
// its own samples; what this machine lacks is its plan's (checkPlan).
func (p Platform) checkLinux(cfg *config.Config, report func(path, msg string)) {
	p.checkPlan(cfg, report)
	for _, name := range cfg.Order {
		w := cfg.Workers[name]
		path := "workers." + name + ".resources"
		r := w.Resources
		if p := r.Pids; p != nil && p.Policy == config.ResThrottle {
			report(path+".pids.policy", "throttle is not a pids policy on Linux: pids.max already refuses forks beyond max whatever the policy; use log, alert, restart, graceful_shutdown or immediate_kill")
		}
		if w.Type != config.TypeUnmanaged {
			continue
		}
		// Kernel limits are set on the processes hsu starts (their
		// cgroups, prlimit at the start); an adopted process keeps its own.
		const why = " is a limit hsu sets on the processes it starts; an unmanaged worker's process keeps its own"
		if r.FDs != nil {
			report(path+".fds", "fds"+why)
		}
		if r.Pids != nil {
			report(path+".pids", "pids.max"+why+" (use memory or cpu policies, which act on hsu's samples)")
		}
		if c := r.CPU; c != nil && c.Max > 0 && c.Policy == config.ResThrottle {
			report(path+".cpu.policy", "throttle (a CFS quota)"+why+"; use log, alert, restart, graceful_shutdown or immediate_kill")
		}
	}
}
