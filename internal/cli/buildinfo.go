package cli

import "runtime/debug"

// BuildInfo is the version, the VCS revision and the Go version hsu was
// built with (the -ldflags Version wins over the module version).
func BuildInfo() (version, revision, goVersion string) {
	version = Version
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		if version == "" {
			version = "devel"
		}
		return version, "", ""
	}
	if version == "" {
		version = "devel"
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
			if len(revision) > 12 {
				revision = revision[:12]
			}
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && revision != "" {
		revision += "-dirty"
	}
	return version, revision, bi.GoVersion
}
