package platform

import (
	"errors"
	"strings"
	"testing"

	"github.com/hsu-run/hsu/config"
)

// Machines as hsu probes them on three kinds of Linux host.
var (
	hybrid = &Machine{
		Controllers: map[string]string{"memory": "cgroup1", "cpu": "cgroup1", "pids": "cgroup1", "io": "cgroup1"},
		Disk:        diskTable,
	}
	noCgroups = &Machine{NoCgroups: "cgroupfs is read-only", Disk: diskTable}
	cgroup2   = &Machine{
		Controllers: map[string]string{"memory": "cgroup2", "cpu": "cgroup2", "pids": "cgroup2", "io": "cgroup2"},
		Disk:        diskTable,
	}
)

// diskTable: /data is on sda, /tmp is a tmpfs.
func diskTable(path string) (string, error) {
	switch {
	case strings.HasPrefix(path, "/tmp"):
		return "", errors.New("tmpfs has no block device")
	case path == "/dev/nope":
		return "", errors.New("not a block device")
	}
	return "8:0", nil
}

// TestLinuxMachineRules: what validate rejects depends on what this run
// of hsu can use, and says why.
func TestLinuxMachineRules(t *testing.T) {
	tests := []struct {
		name string
		m    *Machine
		ruleCase
	}{
		{"cgroup2: memory.high", cgroup2, ruleCase{"", `
    command: [api]
    resources: {memory: {max: 1Gi, policy: throttle}}`, nil}},
		{"v1: no memory.high", hybrid, ruleCase{"", `
    command: [api]
    resources: {memory: {max: 1Gi, policy: throttle}}`, []string{"workers.w.resources.memory.policy"}}},
		{"no cgroups: no memory.high", noCgroups, ruleCase{"", `
    command: [api]
    resources: {memory: {max: 1Gi, policy: throttle}}`, []string{"workers.w.resources.memory.policy"}}},
		{"v1: blkio", hybrid, ruleCase{"", `
    command: [api]
    workdir: /data
    resources: {io: {write_bps: 1Mi}}`, nil}},
		{"no cgroups: no io", noCgroups, ruleCase{"", `
    command: [api]
    workdir: /data
    resources: {io: {write_bps: 1Mi}}`, []string{"workers.w.resources.io"}}},
		{"io on a tmpfs workdir without device", cgroup2, ruleCase{"", `
    command: [api]
    workdir: /tmp/w
    resources: {io: {write_bps: 1Mi}}`, []string{"workers.w.resources.io"}}},
		{"io on a tmpfs workdir with a device", cgroup2, ruleCase{"", `
    command: [api]
    workdir: /tmp/w
    resources: {io: {write_bps: 1Mi, device: /data}}`, nil}},
		{"io device that is no disk", cgroup2, ruleCase{"", `
    command: [api]
    workdir: /data
    resources: {io: {write_bps: 1Mi, device: /dev/nope}}`, []string{"workers.w.resources.io.device"}}},
		{"io device by number", cgroup2, ruleCase{"", `
    command: [api]
    workdir: /tmp/w
    resources: {io: {read_iops: 50, device: "259:0"}}`, nil}},
		{"no cgroups: cpu throttle", noCgroups, ruleCase{"", `
    command: [api]
    resources: {cpu: {max: 0.5}}`, []string{"workers.w.resources.cpu.policy"}}},
		{"no cgroups: memory and pids degrade, not rejected", noCgroups, ruleCase{"", `
    command: [api]
    resources: {memory: {max: 1Gi}, pids: {max: 10}, cpu: {max: 1, policy: restart}}`, nil}},
	}
	for _, tt := range tests {
		tt.ruleCase.name = tt.name
		runRuleCasesOn(t, Platform{GOOS: "linux", Machine: tt.m}, []ruleCase{tt.ruleCase}, func(m string) bool {
			return strings.Contains(m, "cgroup") || strings.Contains(m, "block device") || strings.Contains(m, "not a block device")
		})
	}
}

// TestPlan checks what `hsu validate` prints as the enforcement plan.
func TestPlan(t *testing.T) {
	src := `version: 1
workers:
  api:
    command: [api]
    workdir: /data
    resources:
      memory: {max: 1Gi, warn: 800Mi}
      cpu: {max: 0.5}
      pids: {max: 64, policy: restart}
      io: {write_bps: 1Mi, read_iops: 10}
      fds: {max: 1024}
      monitor_interval: 2s
  soft:
    command: [soft]
    resources:
      memory: {max: 1Gi, policy: restart}
`
	tests := []struct {
		name string
		p    Platform
		want []string
	}{
		{"cgroup2", Platform{GOOS: "linux", Machine: cgroup2}, []string{
			"api memory immediate_kill: kernel (memory.max, memory.swap.max, memory.oom.group)",
			"api cpu throttle: kernel (cpu.max)",
			"api pids restart: kernel (pids.max)",
			"api io: kernel (io.max) on 8:0",
			"api fds: kernel (RLIMIT_NOFILE)",
			"soft memory restart: sampled (every 5s)",
		}},
		{"hybrid", Platform{GOOS: "linux", Machine: hybrid}, []string{
			"api memory immediate_kill: kernel (memory.limit_in_bytes, memory.memsw.limit_in_bytes)",
			"api cpu throttle: kernel (cpu.cfs_quota_us)",
			"api pids restart: kernel (pids.max)",
			"api io: kernel (blkio.throttle.write_bps_device, blkio.throttle.read_iops_device) on 8:0",
			"api fds: kernel (RLIMIT_NOFILE)",
			"soft memory restart: sampled (every 5s)",
		}},
		{"no cgroups", Platform{GOOS: "linux", Machine: noCgroups}, []string{
			"api memory immediate_kill: sampled (every 2s): no cgroups: cgroupfs is read-only; hsu kills the instance when a sample reaches max",
			"api cpu throttle: none: throttle is a CFS quota: no cgroups: cgroupfs is read-only; or use log, alert, restart, graceful_shutdown or immediate_kill on hsu's samples",
			"api pids restart: sampled (every 2s): no cgroups: cgroupfs is read-only; forks are not refused, the policy acts on hsu's samples",
			"api io: none: I/O throttling is the kernel's: no cgroups: cgroupfs is read-only",
			"api fds: kernel (RLIMIT_NOFILE)",
			"soft memory restart: sampled (every 5s)",
		}},
		{"windows", Platform{GOOS: "windows"}, []string{
			"api memory immediate_kill: kernel (job object)",
			"api cpu throttle: kernel (job object)",
			"api pids restart: kernel (job object)",
			"api io: none: I/O throttling is Linux's (cgroups)",
			"api fds: none",
			"soft memory restart: sampled (every 5s)",
		}},
		{"darwin", Platform{GOOS: "darwin"}, []string{
			"api memory immediate_kill: sampled (every 2s)",
			"api cpu throttle: none: no CPU quota here",
			"api pids restart: sampled (every 2s)",
			"api io: none: I/O throttling is Linux's (cgroups)",
			"api fds: kernel (RLIMIT_NOFILE)",
			"soft memory restart: sampled (every 5s)",
		}},
	}
	cfg, err := config.Parse("/cfg/hsu.yaml", []byte(src), noFiles())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := tt.p.Plan(cfg)
			var got []string
			for _, e := range plan {
				got = append(got, e.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			deg := Degraded(plan)
			if wantDeg := tt.name == "no cgroups"; (len(deg) == 2) != wantDeg || (!wantDeg && len(deg) != 0) {
				t.Errorf("degraded %q", deg)
			}
		})
	}
}
