package osadapters

import "github.com/hsu-run/hsu/config"

// checkLinux: the Linux adapter enforces memory (cgroup), fds (rlimit),
// cpu and pids by sampling /proc.
func checkLinux(cfg *config.Config, report func(path, msg string)) {
	checkCommon(cfg, report)
	for _, name := range cfg.Order {
		if r := cfg.Workers[name].Resources; r.Pids != nil {
			report("workers."+name+".resources.pids", "process limits are not enforced by this build yet")
		}
	}
}
