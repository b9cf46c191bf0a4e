package osadapters

import "github.com/hsu-run/hsu/config"

// checkLinux lists what the Linux adapter cannot do. It enforces memory
// (memory.max, OOM reported), pids (pids.max) and the cpu throttle (a CFS
// quota) with cgroups where it may create them, fds with prlimit, and the
// other policies on its own samples of /proc.
func checkLinux(cfg *config.Config, report func(path, msg string)) {
	checkCommon(cfg, report, true)
	for _, name := range cfg.Order {
		if p := cfg.Workers[name].Resources.Pids; p != nil && p.Policy == config.ResThrottle {
			report("workers."+name+".resources.pids.policy", "throttle is not a pids policy on Linux: pids.max already refuses forks beyond max whatever the policy; use log, alert, restart, graceful_shutdown or immediate_kill")
		}
	}
}
