package cli

import (
	"runtime/debug"
	"strings"
)

// Version is set at build time with
// -ldflags "-X github.com/hsu-run/hsu/internal/cli.Version=...";
// it wins over the module version of the build info.
var Version = ""

// BuildInfo is the version, the VCS revision (12 hex digits, with -dirty
// when the tree had uncommitted changes) and the Go version hsu was built
// with; revision and goVersion are "" when the binary does not record them.
func BuildInfo() (version, revision, goVersion string) {
	b := readBuild()
	return b.version, b.revision, b.goVersion
}

// build is what a binary knows of how it was built.
type build struct {
	version, revision, time, goVersion string
}

func readBuild() build {
	bi, _ := debug.ReadBuildInfo()
	return buildFrom(Version, bi)
}

// buildFrom reads bi (nil when the binary has none), with override, the
// -ldflags Version, winning over the module version.
func buildFrom(override string, bi *debug.BuildInfo) build {
	b := build{version: override}
	if bi == nil {
		if b.version == "" {
			b.version = "devel"
		}
		return b
	}
	if b.version == "" {
		b.version = "devel"
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			b.version = v
		}
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.revision = s.Value[:min(len(s.Value), 12)]
		case "vcs.time":
			b.time = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && b.revision != "" {
		b.revision += "-dirty"
	}
	b.goVersion = bi.GoVersion
	return b
}

// String is the line hsu version prints, leaving out what is unknown:
// "hsu v1.2.3 (rev 0123456789ab-dirty, 2026-12-03T10:00:00Z, go1.26.0)".
func (b build) String() string {
	var parts []string
	if b.revision != "" {
		parts = append(parts, "rev "+b.revision)
	}
	for _, s := range []string{b.time, b.goVersion} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return "hsu " + b.version
	}
	return "hsu " + b.version + " (" + strings.Join(parts, ", ") + ")"
}
