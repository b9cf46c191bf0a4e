package osadapters

import "github.com/hsu-run/hsu/config"

// checkWindows lists what the Windows adapter cannot do.
func checkWindows(cfg *config.Config, report func(path, msg string)) {
	report("workers", "running workers is not supported on Windows in this build yet (the Job Object adapter is pending); hsu validate and hsu-sim work")
}
