package cli

import (
	"bytes"
	"runtime"
	"runtime/debug"
	"testing"
)

func TestBuildFrom(t *testing.T) {
	const rev = "0123456789abcdef0123456789abcdef01234567"
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i+1 < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	info := func(version string, settings []debug.BuildSetting) *debug.BuildInfo {
		return &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/hsu-run/hsu", Version: version}, Settings: settings}
	}
	tests := []struct {
		name     string
		override string
		bi       *debug.BuildInfo
		want     build
		line     string
	}{
		{"release, clean", "", info("v1.2.3", vcs("vcs.revision", rev, "vcs.time", "2026-12-03T10:00:00Z", "vcs.modified", "false")),
			build{"v1.2.3", "0123456789ab", "2026-12-03T10:00:00Z", "go1.26.0"},
			"hsu v1.2.3 (rev 0123456789ab, 2026-12-03T10:00:00Z, go1.26.0)"},
		{"dirty tree", "", info("v1.2.3", vcs("vcs.revision", rev, "vcs.time", "2026-12-03T10:00:00Z", "vcs.modified", "true")),
			build{"v1.2.3", "0123456789ab-dirty", "2026-12-03T10:00:00Z", "go1.26.0"},
			"hsu v1.2.3 (rev 0123456789ab-dirty, 2026-12-03T10:00:00Z, go1.26.0)"},
		{"ldflags override wins", "v9.9.9", info("v1.2.3", vcs("vcs.revision", rev)),
			build{"v9.9.9", "0123456789ab", "", "go1.26.0"},
			"hsu v9.9.9 (rev 0123456789ab, go1.26.0)"},
		{"devel module, no vcs (go test, -buildvcs=false)", "", info("(devel)", nil),
			build{"devel", "", "", "go1.26.0"},
			"hsu devel (go1.26.0)"},
		{"short revision kept whole", "", info("", vcs("vcs.revision", "abc", "vcs.modified", "true")),
			build{"devel", "abc-dirty", "", "go1.26.0"},
			"hsu devel (rev abc-dirty, go1.26.0)"},
		{"modified without a revision", "", info("v1.0.0", vcs("vcs.modified", "true")),
			build{"v1.0.0", "", "", "go1.26.0"},
			"hsu v1.0.0 (go1.26.0)"},
		{"no build info", "", nil, build{version: "devel"}, "hsu devel"},
		{"no build info, override", "v2.0.0", nil, build{version: "v2.0.0"}, "hsu v2.0.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := buildFrom(tt.override, tt.bi)
			if got != tt.want {
				t.Errorf("buildFrom = %+v, want %+v", got, tt.want)
			}
			if s := got.String(); s != tt.line {
				t.Errorf("String() = %q, want %q", s, tt.line)
			}
		})
	}
}

// TestVersionCommand checks that hsu version prints this binary's build,
// the same that BuildInfo gives the metrics.
func TestVersionCommand(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"-v"}} {
		var out, errOut bytes.Buffer
		if code := Run(args, &out, &errOut); code != exitOK || errOut.Len() > 0 {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errOut.String())
		}
		v, rev, gov := BuildInfo()
		if gov != runtime.Version() {
			t.Errorf("BuildInfo go version %q, want %q", gov, runtime.Version())
		}
		want := build{version: v, revision: rev, goVersion: gov}
		if bi, ok := debug.ReadBuildInfo(); ok {
			want.time = buildFrom(Version, bi).time
		}
		if got := out.String(); got != want.String()+"\n" {
			t.Errorf("%v printed %q, want %q", args, got, want.String()+"\n")
		}
	}
}
