package platform

import (
	"strings"
	"testing"
)

// TestDarwinRules checks, on any OS, what `hsu validate` reports for macOS.
func TestDarwinRules(t *testing.T) {
	tests := []ruleCase{
		{"sampled limits, fds, user", `
    command: [/usr/bin/api]
    user: nobody
    resources:
      memory: {max: 512Mi, warn: 400Mi}
      cpu: {max: 2, policy: restart}
      pids: {max: 100, policy: immediate_kill}
      fds: {max: 4096}
      monitor_interval: 2s`, nil},
		{"memory immediate_kill is hsu's kill on a sample", `
    command: [/usr/bin/api]
    resources:
      memory: {max: 1Gi, policy: immediate_kill}`, nil},
		{"every sampling policy", `
    command: [/usr/bin/api]
    resources:
      memory: {max: 1Gi, policy: graceful_shutdown}
      cpu: {max: 1, policy: log}
      pids: {max: 10, warn: 5}`, nil},
		{"memory throttle", `
    command: [/usr/bin/api]
    resources:
      memory: {max: 1Gi, policy: throttle}`, []string{"workers.w.resources.memory.policy"}},
		{"cpu throttle by default", `
    command: [/usr/bin/api]
    resources:
      cpu: {max: 1}`, []string{"workers.w.resources.cpu.policy"}},
		{"cpu warn only: the default throttle never acts", `
    command: [/usr/bin/api]
    resources:
      cpu: {warn: 1}`, nil},
		{"pids throttle", `
    command: [/usr/bin/api]
    resources:
      pids: {max: 10, policy: throttle}`, []string{"workers.w.resources.pids.policy"}},
		{"io", `
    command: [/usr/bin/api]
    resources:
      io: {read_bps: 10Mi}`, []string{"workers.w.resources.io"}},
		{"discover by cmdline", `
    type: unmanaged
    discover: {cmdline: "postgres -D /var/db"}`, nil},
		{"discover by port", `
    type: unmanaged
    discover: {port: 5432}`, []string{"workers.w.discover.port"}},
		{"discover by cmdline and port", `
    type: unmanaged
    discover: {cmdline: postgres, port: 5432}`, []string{"workers.w.discover.port"}},
		{"pidfile", `
    type: unmanaged
    pidfile: /var/run/db.pid`, nil},
		{"unmanaged with fds", `
    type: unmanaged
    pidfile: /var/run/db.pid
    resources:
      fds: {max: 100}`, []string{"workers.w.resources.fds"}},
		{"everything at once", `
    command: [/usr/bin/api]
    resources:
      memory: {max: 1Gi, policy: throttle}
      cpu: {max: 1, policy: throttle}
      pids: {max: 10, policy: throttle}
      io: {write_bps: 1Mi}
      fds: {max: 100}`, []string{
			"workers.w.resources.cpu.policy", "workers.w.resources.io",
			"workers.w.resources.memory.policy", "workers.w.resources.pids.policy"}},
	}
	runRuleCases(t, "darwin", tests, nonEmpty)
}

// TestDarwinRulesMessages checks that the macOS-only rejections say why
// and what to use instead.
func TestDarwinRulesMessages(t *testing.T) {
	src := `version: 1
workers:
  db:
    type: unmanaged
    discover: {port: 5432}
  api:
    command: [/usr/bin/api]
    resources:
      pids: {max: 10, policy: throttle}
      fds: {max: 100}
`
	got := platformReports(t, "darwin", src)
	msgs := map[string]string{}
	for _, e := range got {
		msgs[e.Path] = e.Msg
	}
	if m := msgs["workers.db.discover.port"]; !strings.Contains(m, "not supported on macOS") || !strings.Contains(m, "lsof") {
		t.Errorf("discover.port message %q: want why (lsof) and that it is macOS", m)
	}
	if m := msgs["workers.api.resources.pids.policy"]; !strings.Contains(m, "macOS") || !strings.Contains(m, "immediate_kill") {
		t.Errorf("pids.policy message %q: want macOS and the policies that work", m)
	}
	if len(got) != 2 {
		t.Errorf("got %v, want exactly the two macOS rejections", got)
	}
}
