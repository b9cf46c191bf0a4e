package cli

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hsu-run/hsu/osadapters/platform"
)

const limitsConfig = `version: 1
workers:
  api:
    command: [/bin/sleep, "100"]
    resources:
      memory: {max: 64Mi}
      pids: {max: 50}
      cpu: {max: 1, policy: restart}
`

// onMachine makes the verbs see machine m for the rest of the test.
func onMachine(t *testing.T, m *platform.Machine) {
	prev := thisPlatform
	thisPlatform = func() platform.Platform { return platform.Platform{GOOS: "linux", Machine: m} }
	t.Cleanup(func() { thisPlatform = prev })
}

var (
	machineNoCgroups = &platform.Machine{NoCgroups: "cgroupfs is read-only"}
	machineHybrid    = &platform.Machine{Controllers: map[string]string{"memory": "cgroup1", "cpu": "cgroup1", "pids": "cgroup1", "io": "cgroup1"}}
)

// TestValidatePlan: hsu validate prints how each limit is enforced here,
// as text and as JSON.
func TestValidatePlan(t *testing.T) {
	file := filepath.Join(t.TempDir(), "hsu.yaml")
	if err := os.WriteFile(file, []byte(limitsConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		m       *platform.Machine
		args    []string
		want    []string
		wantHow map[string]string
	}{
		{"hybrid, text", machineHybrid, nil, []string{
			"api memory immediate_kill: kernel (memory.limit_in_bytes",
			"api pids log: kernel (pids.max)",
			"api cpu restart: sampled (every 5s)"}, nil},
		{"no cgroups, text", machineNoCgroups, nil, []string{
			"api memory immediate_kill: sampled (every 5s): no cgroups: cgroupfs is read-only"}, nil},
		{"hybrid, json", machineHybrid, []string{"-o", "json"}, nil, map[string]string{"memory": "kernel", "pids": "kernel", "cpu": "sampled"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			onMachine(t, tt.m)
			var out, errOut bytes.Buffer
			if code := cmdValidate(append([]string{"-f", file}, tt.args...), &out, &errOut); code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if tt.wantHow != nil {
				var res struct {
					OK     bool                   `json:"ok"`
					Limits []platform.Enforcement `json:"limits"`
				}
				if err := json.Unmarshal(out.Bytes(), &res); err != nil {
					t.Fatalf("json: %v\n%s", err, out.String())
				}
				got := map[string]string{}
				for _, l := range res.Limits {
					got[l.Resource] = l.How
				}
				for r, how := range tt.wantHow {
					if got[r] != how || !res.OK {
						t.Errorf("%s: %q, want %q (ok %v)", r, got[r], how, res.OK)
					}
				}
			}
		})
	}
}

// TestStrictLimits: hsu run --strict-limits refuses a config whose kernel
// limits this run would only sample, naming each; without it they are
// warned of at start.
func TestStrictLimits(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "hsu.yaml")
	if err := os.WriteFile(file, []byte(limitsConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	onMachine(t, machineNoCgroups)
	var out, errOut bytes.Buffer
	code := cmdRun([]string{"-f", file, "--state-dir", filepath.Join(dir, "state"), "--strict-limits"}, &out, &errOut)
	if code != exitFailure {
		t.Fatalf("exit %d, want %d: %s", code, exitFailure, errOut.String())
	}
	for _, w := range []string{"--strict-limits", "2 limits", "api memory: no cgroups", "api pids: no cgroups"} {
		if !strings.Contains(errOut.String(), w) {
			t.Errorf("refusal lacks %q: %s", w, errOut.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); err == nil {
		t.Errorf("the state dir was created: the refusal must come before anything is set up")
	}

	cfg, err := loadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	warnDegraded(slog.New(slog.NewTextHandler(&log, nil)), cfg, fakeSys{machineNoCgroups})
	if n := strings.Count(log.String(), "level=WARN"); n != 2 || !strings.Contains(log.String(), "resource=memory") || !strings.Contains(log.String(), "every 5s") {
		t.Errorf("want two warnings, memory and pids:\n%s", log.String())
	}
	log.Reset()
	warnDegraded(slog.New(slog.NewTextHandler(&log, nil)), cfg, fakeSys{machineHybrid})
	if log.Len() != 0 {
		t.Errorf("warned with every controller there:\n%s", log.String())
	}
}

type fakeSys struct{ m *platform.Machine }

func (f fakeSys) Machine() *platform.Machine { return f.m }
