// Package platform holds the capability rules of each OS hsu runs on:
// which settings a platform's adapter cannot enforce, reported at
// validation time (config.Platform) so nothing is silently ignored. The
// rules of every OS are compiled everywhere, so hsu validate on one OS and
// hsu-sim --platform can apply another's. It must stay free of system
// calls: it is pure knowledge about the adapters.
package platform

import (
	"runtime"

	"github.com/hsu-run/hsu/config"
)

// Platform reports, at validation time, the settings this build cannot
// enforce on this OS, so nothing is silently ignored (config.Platform).
// The rules of every OS are compiled everywhere, so `hsu validate` on one
// OS can be tested for another.
type Platform struct{ GOOS string }

// ThisPlatform is the platform hsu is running on.
func ThisPlatform() Platform { return Platform{GOOS: runtime.GOOS} }

// Check implements config.Platform.
func (p Platform) Check(cfg *config.Config, report func(path, msg string)) {
	if p.GOOS != "linux" {
		for _, name := range cfg.Order {
			if cfg.Workers[name].Notify {
				report("workers."+name+".notify", "notify workers are supported on Linux only (hsu checks each datagram's sender with SO_PASSCRED)")
			}
		}
	}
	switch p.GOOS {
	case "linux":
		checkLinux(cfg, report)
	case "darwin":
		checkDarwin(cfg, report)
	case "windows":
		checkWindows(cfg, report)
	default:
		report("workers", "running workers is not supported on "+p.GOOS+"; hsu validate and hsu-sim work")
	}
}

// checkCommon reports what no platform enforces yet; cpuThrottle: the
// platform has a CPU quota for the throttle policy.
func checkCommon(cfg *config.Config, report func(path, msg string), cpuThrottle bool) {
	for _, name := range cfg.Order {
		r := cfg.Workers[name].Resources
		path := "workers." + name
		if r.IO != nil {
			report(path+".resources.io", "I/O bandwidth limits are not enforced by this build yet")
		}
		if r.Memory != nil && r.Memory.Policy == config.ResThrottle {
			report(path+".resources.memory.policy", "throttle (memory.high) is not implemented by this build yet")
		}
		// The cpu policy acts at max only: a warn alone needs no quota, so
		// the default throttle does not make it invalid.
		if r.CPU != nil && r.CPU.Max > 0 && r.CPU.Policy == config.ResThrottle && !cpuThrottle {
			report(path+".resources.cpu.policy", "throttle (CPU quota) is not implemented by this build yet; use log, alert, restart, graceful_shutdown or immediate_kill")
		}
	}
}
