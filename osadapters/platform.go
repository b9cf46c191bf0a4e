package osadapters

import (
	"runtime"

	"github.com/hsu-run/hsu/config"
)

// Platform reports, at validation time, the settings this build cannot
// enforce on this OS, so nothing is silently ignored (config.Platform).
type Platform struct{ GOOS string }

// ThisPlatform is the platform hsu is running on.
func ThisPlatform() Platform { return Platform{GOOS: runtime.GOOS} }

// Check implements config.Platform.
func (p Platform) Check(cfg *config.Config, report func(path, msg string)) {
	if p.GOOS == "windows" {
		report("workers", "running workers is not supported on Windows in this build yet (the Job Object adapter is pending); hsu validate and hsu-sim work")
		return
	}
	for _, name := range cfg.Order {
		w := cfg.Workers[name]
		path := "workers." + name
		r := w.Resources
		if r.IO != nil {
			report(path+".resources.io", "I/O bandwidth limits are not enforced by this build yet")
		}
		if r.Pids != nil {
			report(path+".resources.pids", "process limits are not enforced by this build yet")
		}
		if r.FDs != nil && p.GOOS != "linux" {
			report(path+".resources.fds", "file descriptor limits are not enforced on "+p.GOOS+" by this build yet")
		}
		if r.Memory != nil && r.Memory.Policy == config.ResThrottle {
			report(path+".resources.memory.policy", "throttle (memory.high) is not implemented by this build yet")
		}
		if r.CPU != nil && r.CPU.Policy == config.ResThrottle {
			report(path+".resources.cpu.policy", "throttle (CPU quota) is not implemented by this build yet; use log, alert, restart, graceful_shutdown or immediate_kill")
		}
		if p.GOOS == "darwin" {
			if r.Memory != nil || r.CPU != nil {
				report(path+".resources", "resource sampling is not implemented on macOS yet")
			}
			if w.Discover != nil {
				report(path+".discover", "discovery is not implemented on macOS yet; use pidfile")
			}
		}
	}
}
