//go:build linux

package unix

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/engine"
)

func mi(n int64) config.Size { return config.Size(n << 20) }

// TestKernelLimitFiles: what hsu writes into an instance's cgroups for
// each limit, on cgroup2 and on v1.
func TestKernelLimitFiles(t *testing.T) {
	tests := []struct {
		name   string
		res    config.Resources
		v2, v1 map[string]string // file -> value, for every controller
	}{
		{"memory immediate_kill", config.Resources{Memory: &config.MemoryLimit{Max: mi(64), Policy: config.ResImmediateKill}},
			map[string]string{"memory.max": "67108864", "memory.swap.max": "0", "memory.oom.group": "1"},
			map[string]string{"memory.limit_in_bytes": "67108864", "memory.memsw.limit_in_bytes": "67108864"}},
		{"memory throttle is memory.high, cgroup2 only", config.Resources{Memory: &config.MemoryLimit{Max: mi(64), Policy: config.ResThrottle}},
			map[string]string{"memory.high": "67108864"}, map[string]string{}},
		{"memory restart is hsu's", config.Resources{Memory: &config.MemoryLimit{Max: mi(64), Policy: config.ResRestart}},
			map[string]string{}, map[string]string{}},
		{"io on a device by number", config.Resources{IO: &config.IOLimit{ReadBPS: mi(2), WriteBPS: mi(1), WriteIOPS: 100, Device: "8:16"}},
			map[string]string{"io.max": "8:16 rbps=2097152 wbps=1048576 wiops=100"},
			map[string]string{"blkio.throttle.read_bps_device": "8:16 2097152", "blkio.throttle.write_bps_device": "8:16 1048576", "blkio.throttle.write_iops_device": "8:16 100"}},
		{"cpu throttle", config.Resources{CPU: &config.CPULimit{Max: 0.25, Policy: config.ResThrottle}},
			map[string]string{"cpu.max": "25000 100000"}, map[string]string{"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "25000"}},
		{"pids", config.Resources{Pids: &config.PidsLimit{Max: 32, Policy: config.ResLog}},
			map[string]string{"pids.max": "32"}, map[string]string{"pids.max": "32"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := kernelLimits(&config.Worker{Resources: tt.res})
			if err != nil {
				t.Fatal(err)
			}
			v2, v1 := map[string]string{}, map[string]string{}
			for _, l := range got {
				for _, f := range l.v2 {
					v2[f.name] = f.value
				}
				for _, f := range l.v1 {
					v1[f.name] = f.value
				}
			}
			if !equalMaps(v2, tt.v2) || !equalMaps(v1, tt.v1) {
				t.Errorf("cgroup2 %v\nwant     %v\nv1 %v\nwant %v", v2, tt.v2, v1, tt.v1)
			}
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestLimitWritesStandIn writes an instance's limits into a directory
// that stands in for cgroupfs: memory.high and io.max as a cgroup2 memory
// and io controller would get them (this machine has neither), and v1
// blkio files into an instance dir of a stand-in blkio hierarchy.
func TestLimitWritesStandIn(t *testing.T) {
	tmp := t.TempDir()
	h := engine.Handle{Worker: "w", Replica: 1, Gen: 3}
	spec := &config.Worker{Workdir: tmp, Resources: config.Resources{
		Memory: &config.MemoryLimit{Max: mi(32), Policy: config.ResThrottle},
		IO:     &config.IOLimit{WriteBPS: mi(1), ReadIOPS: 50, Device: "254:0"},
	}}
	c := &cgroups{root: filepath.Join(tmp, "unified"), v2: map[string]bool{"memory": true, "io": true}, v1: map[string]string{}}
	if err := os.MkdirAll(c.dir(h), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := c.checkLimits(spec); err != nil {
		t.Fatalf("checkLimits with cgroup2 memory and io: %v", err)
	}
	if err := c.setLimits(h, spec); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{"memory.high": "33554432", "io.max": "254:0 wbps=1048576 riops=50"} {
		b, err := os.ReadFile(filepath.Join(c.dir(h), file))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q (%v), want %q", file, b, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(c.dir(h), "memory.max")); err == nil {
		t.Errorf("memory.max written for a throttle: the kernel would kill at max")
	}

	// v1: memory.high has no v1 file, so throttle is refused; blkio is.
	v1 := &cgroups{root: filepath.Join(tmp, "unified2"), v2: map[string]bool{}, v1: map[string]string{"io": filepath.Join(tmp, "blkio"), "memory": filepath.Join(tmp, "memory")}}
	if err := v1.checkLimits(spec); err == nil || !strings.Contains(err.Error(), "memory.high") {
		t.Errorf("checkLimits of a memory throttle on v1: %v, want a refusal naming memory.high", err)
	}
	spec.Resources.Memory = nil
	for _, d := range v1.v1 {
		os.MkdirAll(d, 0o755)
	}
	if _, err := v1.joinBeforeExec(h, spec, exec.Command("/bin/true")); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "blkio", instKey(h))
	for file, want := range map[string]string{"blkio.throttle.write_bps_device": "254:0 1048576", "blkio.throttle.read_iops_device": "254:0 50"} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q (%v), want %q", file, b, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(tmp, "memory", instKey(h))); err == nil {
		t.Errorf("a memory cgroup was made for an instance with no kernel memory limit")
	}
}

// TestDiskOf: the disk a path is on, a partition standing for its disk,
// and no disk for a virtual filesystem.
func TestDiskOf(t *testing.T) {
	if _, err := diskOf("/proc/self"); err == nil || !strings.Contains(err.Error(), "not a block device") {
		t.Errorf("diskOf(/proc/self) = %v, want not a block device", err)
	}
	var st unix.Stat_t
	if err := unix.Stat("/", &st); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join("/sys/dev/block", devName(st.Dev))); err != nil {
		t.Skipf("/ is on %s, no block device (a container's overlay?)", devName(st.Dev))
	}
	root, err := diskOf("/")
	if err != nil {
		t.Fatal(err)
	}
	if nested, err := diskOf("/no/such/dir/below/root"); err != nil || nested != root {
		t.Errorf("a path not made yet: %q, %v; want its parent's disk %q", nested, err, root)
	}
	if _, err := os.Stat(filepath.Join("/sys/dev/block", root, "partition")); err == nil {
		t.Errorf("diskOf(/) = %s, a partition: want its disk", root)
	}
	// A partition of any disk here maps to its disk.
	parts, _ := filepath.Glob("/sys/class/block/*/partition")
	for _, p := range parts {
		dir := filepath.Dir(p)
		node := filepath.Join(t.TempDir(), "part")
		devB, _ := os.ReadFile(filepath.Join(dir, "dev"))
		var maj, min uint32
		if _, err := fmt.Sscanf(strings.TrimSpace(string(devB)), "%d:%d", &maj, &min); err != nil {
			continue
		}
		if err := unix.Mknod(node, unix.S_IFBLK|0o600, int(unix.Mkdev(maj, min))); err != nil {
			t.Skipf("mknod: %v", err)
		}
		real, _ := filepath.EvalSymlinks(dir)
		wantB, _ := os.ReadFile(filepath.Join(filepath.Dir(real), "dev"))
		got, err := diskOf(node)
		if err != nil || got != strings.TrimSpace(string(wantB)) {
			t.Errorf("partition %s: disk %q (%v), want %q", strings.TrimSpace(string(devB)), got, err, strings.TrimSpace(string(wantB)))
		}
		return
	}
	t.Logf("no partition on this machine: only whole disks checked")
}

func devName(dev uint64) string { return fmt.Sprintf("%d:%d", unix.Major(dev), unix.Minor(dev)) }
