package platform

import "github.com/hsu-run/hsu/config"

// checkDarwin lists what the macOS adapter cannot do. It has process
// groups, exits by kqueue, re-adoption by PID start time, RLIMIT_NOFILE
// through the exec helper, and memory, cpu and pids policies applied on
// hsu's own samples (gopsutil; immediate_kill included: hsu kills the
// group when a sample reaches max). It has no cgroups, so nothing the
// kernel would throttle, and no way to find a socket's owner without
// lsof.
func checkDarwin(cfg *config.Config, report func(path, msg string)) {
	checkCommon(cfg, report, false, "macOS") // io, and throttle for memory and cpu
	for _, name := range cfg.Order {
		w := cfg.Workers[name]
		path := "workers." + name
		if p := w.Resources.Pids; p != nil && p.Policy == config.ResThrottle {
			report(path+".resources.pids.policy", "throttle is not available for pids on macOS (there is no per-tree process cap); use log, alert, restart, graceful_shutdown or immediate_kill, which act on hsu's samples")
		}
		if w.Type == config.TypeUnmanaged && w.Resources.FDs != nil {
			report(path+".resources.fds", "fds is a limit hsu sets on the processes it starts (through its exec helper); an unmanaged worker's process keeps its own")
		}
		if d := w.Discover; d != nil && d.Port != 0 {
			report(path+".discover.port", "discovery by listening port is not supported on macOS (finding a socket's owner needs lsof there); use discover.cmdline or pidfile")
		}
	}
}
