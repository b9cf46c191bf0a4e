package platform

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hsu-run/hsu/config"
)

// TestPlatformWindows checks, on any OS, what `hsu validate` reports for
// Windows: every setting the Job Object adapter cannot enforce, by key path.
func TestPlatformWindows(t *testing.T) {
	tests := []ruleCase{
		{"what the adapter does", `
    shell: "api.exe --port 8080 > NUL"
    env: {LOG_LEVEL: debug}
    ready_log_line: listening
    stop: {signal: INT, timeout: 5s, command: [api.exe, stop]}
    health:
      liveness: {exec: {command: [check.exe]}}
    resources:
      memory: {max: 512Mi, warn: 400Mi}
      cpu: {max: 1.5}
      pids: {max: 64, policy: immediate_kill}
      monitor_interval: 2s`, nil},
		{"sampled policies", `
    command: [api.exe]
    stop: {signal: KILL}
    resources:
      memory: {max: 1Gi, policy: restart}
      cpu: {max: 1, policy: graceful_shutdown}
      pids: {max: 10}`, nil},
		{"user and group", `
    command: [api.exe]
    user: svc
    group: svc`, []string{"workers.w.group", "workers.w.user"}},
		{"integrated", `
    type: integrated
    command: [api.exe]`, []string{"workers.w.type"}},
		{"unix stop signal", `
    command: [api.exe]
    stop: {signal: HUP}`, []string{"workers.w.stop.signal"}},
		{"limits it cannot enforce", `
    command: [api.exe]
    resources:
      memory: {max: 1Gi, policy: throttle}
      pids: {max: 10, policy: throttle}
      io: {read_bps: 10Mi}
      fds: {max: 1024}`, []string{"workers.w.resources.fds", "workers.w.resources.io",
			"workers.w.resources.memory.policy", "workers.w.resources.pids.policy"}},
		{"unmanaged by cmdline and port, killed", `
    type: unmanaged
    discover: {cmdline: postgres, port: 5432}
    stop: {signal: KILL}
    resources:
      memory: {max: 1Gi}
      cpu: {max: 1, policy: restart}`, nil},
		{"unmanaged with a job's limits and TERM", `
    type: unmanaged
    pidfile: C:/run/db.pid
    resources:
      cpu: {max: 1}
      pids: {max: 10}`, []string{"workers.w.resources.cpu.policy", "workers.w.resources.pids", "workers.w.stop.signal"}},
		{"unmanaged: cpu warn only, default policy", `
    type: unmanaged
    pidfile: C:/run/db.pid
    stop: {signal: KILL}
    resources:
      cpu: {warn: 1}`, nil},
	}
	runRuleCases(t, "windows", tests, func(msg string) bool {
		return strings.Contains(msg, "Windows") || strings.Contains(msg, "not enforced by this build") ||
			strings.Contains(msg, "not implemented by this build")
	})
}

// ruleCase is one worker's YAML (indented under workers.w) and the key
// paths a platform's rules report for it.
type ruleCase struct {
	name, worker string
	want         []string
}

// runRuleCases checks the paths each case reports on goos, and that each
// message says why (msgOK).
func runRuleCases(t *testing.T, goos string, tests []ruleCase, msgOK func(string) bool) {
	t.Helper()
	runRuleCasesOn(t, Platform{GOOS: goos}, tests, msgOK)
}

// runRuleCasesOn is runRuleCases on a platform with a machine.
func runRuleCasesOn(t *testing.T, p Platform, tests []ruleCase, msgOK func(string) bool) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "version: 1\nworkers:\n  w:" + tt.worker + "\n"
			got := reportsOn(t, p, src)
			paths := make([]string, len(got))
			for i, e := range got {
				paths[i] = e.Path
				if !msgOK(e.Msg) {
					t.Errorf("%s: message %q does not say why", e.Path, e.Msg)
				}
			}
			slices.Sort(paths)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if !slices.Equal(paths, want) {
				t.Errorf("reported %q\nwant %q\nerrors: %v", paths, want, got)
			}
		})
	}
}

func nonEmpty(msg string) bool { return strings.TrimSpace(msg) != "" }

// platformReports loads src, valid on its own, with the rules of goos and
// returns what they reported.
func platformReports(t *testing.T, goos, src string) []config.Error {
	t.Helper()
	return reportsOn(t, Platform{GOOS: goos}, src)
}

func reportsOn(t *testing.T, p Platform, src string) []config.Error {
	t.Helper()
	if _, err := config.Parse("/cfg/hsu.yaml", []byte(src), noFiles()); err != nil {
		t.Fatalf("config invalid before any platform check:\n%s\n%v", src, err)
	}
	opts := noFiles()
	opts.Platform = p
	_, err := config.Parse("/cfg/hsu.yaml", []byte(src), opts)
	var l *config.ErrorList
	if err != nil && !errors.As(err, &l) {
		t.Fatalf("load: %v", err)
	}
	if l == nil {
		return nil
	}
	return l.Errs
}

// noFiles keeps the tests off the disk and out of the environment.
func noFiles() config.Options {
	return config.Options{
		ReadFile:  func(name string) ([]byte, error) { return nil, errors.New("no files in this test: " + name) },
		Glob:      func(string) ([]string, error) { return nil, nil },
		LookupEnv: func(string) (string, bool) { return "", false },
	}
}

// TestPlatformLinux checks what `hsu validate` reports for Linux.
func TestPlatformLinux(t *testing.T) {
	runRuleCases(t, "linux", []ruleCase{
		{"kernel limits and sampled policies", `
    command: [api]
    user: nobody
    resources:
      memory: {max: 512Mi}
      cpu: {max: 1.5}
      pids: {max: 64, policy: immediate_kill}
      fds: {max: 4096}`, nil},
		{"memory.high and io.max on cgroup2", `
    command: [api]
    resources:
      memory: {max: 1Gi, policy: throttle}
      io: {read_bps: 10Mi, write_iops: 100, device: "8:0"}`, nil},
		{"pids throttle", `
    command: [api]
    resources:
      pids: {max: 10, policy: throttle}`, []string{"workers.w.resources.pids.policy"}},
		{"unmanaged: sampled policies only", `
    type: unmanaged
    pidfile: /run/db.pid
    resources:
      memory: {max: 1Gi}
      cpu: {max: 1, policy: restart}`, nil},
		{"unmanaged: limits of started processes", `
    type: unmanaged
    pidfile: /run/db.pid
    resources:
      cpu: {max: 1}
      pids: {max: 10}
      fds: {max: 100}`, []string{"workers.w.resources.cpu.policy", "workers.w.resources.fds", "workers.w.resources.pids"}},
		{"unmanaged: io and memory.high are a cgroup's", `
    type: unmanaged
    pidfile: /run/db.pid
    resources:
      memory: {max: 1Gi, policy: throttle}
      io: {write_bps: 1Mi, device: "8:0"}`, []string{"workers.w.resources.io", "workers.w.resources.memory.policy"}},
		{"unmanaged: cpu warn only, default policy", `
    type: unmanaged
    pidfile: /run/db.pid
    resources:
      cpu: {warn: 1}`, nil},
	}, nonEmpty)
}
