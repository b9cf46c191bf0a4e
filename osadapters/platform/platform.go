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
type Platform struct {
	GOOS string
	// Machine is what this run on Linux can use (cgroup controllers,
	// disks); nil assumes a cgroup2 tree with every controller.
	Machine *Machine
}

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
		p.checkLinux(cfg, report)
	case "darwin":
		checkDarwin(cfg, report)
	case "windows":
		checkWindows(cfg, report)
	default:
		report("workers", "running workers is not supported on "+p.GOOS+"; hsu validate and hsu-sim work")
	}
}

// checkCommon reports what only Linux's cgroups enforce (I/O limits,
// memory.high) on a platform without them; cpuThrottle: the platform has a
// CPU quota for the throttle policy.
func checkCommon(cfg *config.Config, report func(path, msg string), cpuThrottle bool, os string) {
	for _, name := range cfg.Order {
		r := cfg.Workers[name].Resources
		path := "workers." + name
		if r.IO != nil {
			report(path+".resources.io", "I/O limits are enforced on Linux only (cgroup io.max or blkio); "+os+" has no per-process I/O throttle")
		}
		if r.Memory != nil && r.Memory.Policy == config.ResThrottle {
			report(path+".resources.memory.policy", "throttle is Linux's memory.high (cgroup2); "+os+" has no memory limit that slows without killing: use immediate_kill, restart, graceful_shutdown, log or alert")
		}
		// The cpu policy acts at max only: a warn alone needs no quota, so
		// the default throttle does not make it invalid.
		if r.CPU != nil && r.CPU.Max > 0 && r.CPU.Policy == config.ResThrottle && !cpuThrottle {
			report(path+".resources.cpu.policy", "throttle (CPU quota) is not implemented by this build yet; use log, alert, restart, graceful_shutdown or immediate_kill")
		}
	}
}
