package platform

import "github.com/hsu-run/hsu/config"

// checkWindows lists what the Windows adapter (sys_windows.go) cannot do.
// It has a Job Object per managed instance (kill-on-close, memory,
// process count and CPU rate limits), CTRL_BREAK for graceful stops,
// pipes for output, cmd.exe for shell, pidfile and discovery (command
// line, listening port) for unmanaged workers, and memory, cpu and pids
// policies on hsu's own samples.
func checkWindows(cfg *config.Config, report func(path, msg string)) {
	// cpu throttle: a Job Object's hard CPU rate cap is the OS quota the
	// policy asks for (unmanaged workers, which have no job, are rejected
	// below).
	checkCommon(cfg, report, true, "Windows")
	for _, name := range cfg.Order {
		w := cfg.Workers[name]
		path := "workers." + name
		unmanaged := w.Type == config.TypeUnmanaged
		if w.User != "" {
			report(path+".user", "running a worker as another user is not supported on Windows; remove user (the worker runs as hsu's user)")
		}
		if w.Group != "" {
			report(path+".group", "primary groups do not exist on Windows; remove group (the worker runs as hsu's user)")
		}
		if w.Type == config.TypeIntegrated {
			report(path+".type", "integrated workers are not supported on Windows: their socket handover (LISTEN_FDS, descriptor 3) does not exist there; use type: managed and let the worker listen itself")
		}
		switch sig := w.Stop.Signal; {
		case unmanaged && sig != "KILL":
			report(path+".stop.signal", "a process hsu did not start is not in a console process group of hsu's, so no CTRL_BREAK can reach it on Windows; set stop.signal: KILL (stopping it then terminates it)")
		case sig != "" && sig != "TERM" && sig != "INT" && sig != "KILL":
			report(path+".stop.signal", "signal "+string(sig)+" does not exist on Windows: TERM and INT send CTRL_BREAK to the worker's process group, KILL terminates its Job Object")
		}
		r := w.Resources
		if r.FDs != nil {
			report(path+".resources.fds", "Windows has no per-process limit on open handles that hsu could set (RLIMIT_NOFILE is Unix only); remove fds")
		}
		if p := r.Pids; p != nil {
			switch {
			case unmanaged:
				report(path+".resources.pids", "on Windows, process limits are a Job Object's, which hsu creates only for the workers it starts; an unmanaged worker has none")
			case p.Policy == config.ResThrottle:
				report(path+".resources.pids.policy", "throttle is not a pids policy on Windows: the Job Object's process limit refuses processes beyond max whatever the policy; use log, alert, restart, graceful_shutdown or immediate_kill")
			}
		}
		if c := r.CPU; c != nil && c.Max > 0 && c.Policy == config.ResThrottle && unmanaged {
			report(path+".resources.cpu.policy", "on Windows, throttle is a Job Object's CPU rate cap, and hsu creates jobs only for the workers it starts; an unmanaged worker has none: use log, alert, restart, graceful_shutdown or immediate_kill")
		}
	}
}
