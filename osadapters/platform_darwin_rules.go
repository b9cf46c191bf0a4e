package osadapters

import "github.com/hsu-run/hsu/config"

// checkDarwin lists what the macOS adapter cannot do.
func checkDarwin(cfg *config.Config, report func(path, msg string)) {
	checkCommon(cfg, report)
	for _, name := range cfg.Order {
		w := cfg.Workers[name]
		path := "workers." + name
		r := w.Resources
		if r.Pids != nil {
			report(path+".resources.pids", "process limits are not enforced by this build yet")
		}
		if r.FDs != nil {
			report(path+".resources.fds", "file descriptor limits are not enforced on darwin by this build yet")
		}
		if r.Memory != nil || r.CPU != nil {
			report(path+".resources", "resource sampling is not implemented on macOS yet")
		}
		if w.Discover != nil {
			report(path+".discover", "discovery is not implemented on macOS yet; use pidfile")
		}
	}
}
