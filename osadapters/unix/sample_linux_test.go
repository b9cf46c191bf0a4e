package unix

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/engine"
)

func TestSampleParsers(t *testing.T) {
	memStat := []byte("anon 4096\nfile 8192\nkernel 0\ninactive_file 2048\nactive_file 1024\n")
	tests := []struct {
		name string
		got  int64
		want int64
	}{
		{"memory.stat anon", keyInt(memStat, "anon"), 4096},
		{"memory.stat inactive_file, not active_file", keyInt(memStat, "inactive_file"), 2048},
		{"memory.stat file, not inactive_file", keyInt(memStat, "file"), 8192},
		{"absent key", keyInt(memStat, "shmem"), 0},
		{"cpu.stat", keyInt([]byte("usage_usec 1500000\nuser_usec 1000000\n"), "usage_usec"), 1500000},
		{"smaps_rollup Pss", keyKB([]byte("Rss:  800 kB\nPss:  300 kB\nPss_Anon: 100 kB\n"), "Pss:"), 300 << 10},
		{"/proc/PID/io read_bytes", keyColon([]byte("rchar: 10\nwchar: 20\nread_bytes: 4096\nwrite_bytes: 8192\n"), "read_bytes"), 4096},
		{"/proc/PID/io first key", keyColon([]byte("rchar: 10\nwchar: 20\n"), "rchar"), 10},
		{"cgroup.threads", int64(countLines([]byte("12\n13\n14\n"))), 3},
		{"empty cgroup.threads", int64(countLines(nil)), 0},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, tt.got, tt.want)
		}
	}
	r, w := ioStatBytes([]byte("8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=1 wbytes=2 rios=1 wios=1\n"))
	if r != 101 || w != 202 {
		t.Errorf("io.stat: %d/%d, want 101/202", r, w)
	}
	r, w = blkioBytes([]byte("8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Total 12288\nTotal 12288\n"))
	if r != 4096 || w != 8192 {
		t.Errorf("blkio: %d/%d, want 4096/8192", r, w)
	}
	if got := parsePIDs([]byte("10\n200\n3000\n"), nil); len(got) != 3 || got[2] != 3000 {
		t.Errorf("parsePIDs: %v", got)
	}
}

// TestSampleIsCumulative: an instance's CPU time includes that of a child
// that has exited (cgroup2's cpu.stat, or the reaped children's time in
// /proc), its processes, threads and open descriptors are counted, and the
// sample says where it came from.
func TestSampleIsCumulative(t *testing.T) {
	for i, cgroups := range []bool{true, false} {
		name := map[bool]string{true: "cgroup", false: "process group"}[cgroups]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			u := sampleUnix(t, dir, cgroups)
			marker := filepath.Join(dir, "burnt")
			// A child burns CPU and exits; the instance then sleeps with a
			// second process, holding a descriptor open on fd 7.
			spec := &config.Worker{Name: "w", Workdir: dir,
				Shell: `sh -c 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done'; echo > ` + marker + `; exec 7<` + marker + `; sleep 30 & wait`}
			h := engine.Handle{Worker: "w", Replica: 1, Gen: uint64(100 + i)}
			p, err := u.Spawn(h, spec, os.Environ(), nil, nullSink{}, func(ExitStatus) {})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { u.Kill(h, p) })
			if !cgroups {
				u.Release(h, p)
			}
			waitCond(t, 30*time.Second, func() bool { _, err := os.Stat(marker); return err == nil })
			var us engine.Usage
			waitCond(t, 10*time.Second, func() bool {
				u.PrepareSamples() // a tick
				us, err = u.Sample(h, p)
				return err == nil && us.Pids >= 2
			})
			if us.CPUSeconds < 0.05 {
				t.Errorf("CPU %.3fs after a child burnt CPU and exited, want its time counted", us.CPUSeconds)
			}
			if us.FDs < 4 { // stdin, stdout, stderr, fd 7
				t.Errorf("%d open descriptors, want at least 4", us.FDs)
			}
			if us.Memory <= 0 {
				t.Errorf("memory %d", us.Memory)
			}
			wantSource := map[bool]string{true: "cgroup2+proc", false: "proc"}[cgroups]
			if u.cg != nil && u.cg.v2["memory"] {
				wantSource = "cgroup2"
			}
			if us.Source != wantSource {
				t.Errorf("source %q, want %q", us.Source, wantSource)
			}
			// Read again through the files kept open: the same instance.
			again, err := u.Sample(h, p)
			if err != nil || again.CPUSeconds < us.CPUSeconds {
				t.Errorf("second sample %+v (%v) went backwards from %+v", again, err, us)
			}
		})
	}
}

// TestCountFDs: the count from the directory's size and the one from
// listing it agree.
func TestCountFDs(t *testing.T) {
	fd, err := unixOpenDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	defer closeFD(fd)
	buf := make([]byte, 8192)
	if a, b := countFDs(fd, buf), countDirents(fd, buf); a != b || a < 3 {
		t.Fatalf("countFDs %d, countDirents %d", a, b)
	}
}

// sampleUnix is a Unix adapter on dir, with its instances in cgroups or
// (cgroups false) in process groups only; it skips where there are none.
func sampleUnix(t *testing.T, dir string, cgroups bool) *Unix {
	t.Helper()
	u, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	if cg := u.cg; cg != nil {
		t.Cleanup(cg.removeSubtree)
	}
	if cgroups && u.cg == nil {
		t.Skip("no writable cgroup2 tree here (needs root or a delegated cgroup)")
	}
	if !cgroups {
		u.cg = nil
	}
	return u
}

// TestHelperSleeper is not a test: TestSampleOneProcess starts the test
// binary as a multi-threaded single process that sleeps.
func TestHelperSleeper(t *testing.T) {
	if os.Getenv("HSU_TEST_SLEEPER") != "1" {
		t.Skip("helper process only")
	}
	time.Sleep(30 * time.Second)
	os.Exit(0)
}

// TestSampleOneProcess: a single-process instance's resident set and
// threads are the kernel's own (/proc/PID/status), through each source.
func TestSampleOneProcess(t *testing.T) {
	for i, cgroups := range []bool{true, false} {
		name := map[bool]string{true: "cgroup", false: "process group"}[cgroups]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			u := sampleUnix(t, dir, cgroups)
			spec := &config.Worker{Name: "w", Workdir: dir, Command: []string{os.Args[0], "-test.run=^TestHelperSleeper$"}}
			h := engine.Handle{Worker: "w", Replica: 1, Gen: uint64(200 + i)}
			p, err := u.Spawn(h, spec, append(os.Environ(), "HSU_TEST_SLEEPER=1"), nil, nullSink{}, func(ExitStatus) {})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { u.Kill(h, p) })
			if !cgroups {
				u.Release(h, p)
			}
			status := func(key string) int64 {
				b, _ := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/status")
				for _, l := range strings.Split(string(b), "\n") {
					if f := strings.Fields(l); len(f) >= 2 && f[0] == key+":" {
						n, _ := strconv.ParseInt(f[1], 10, 64)
						return n
					}
				}
				return 0
			}
			// Past the exec helper's hold (process groups), running the
			// program, whose runtime starts its threads at once.
			waitCond(t, 10*time.Second, func() bool {
				cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/cmdline")
				args := strings.Split(string(cmdline), "\x00")
				return len(args) > 1 && args[1] == "-test.run=^TestHelperSleeper$" && status("Threads") >= 3
			})
			before := status("Threads")
			u.PrepareSamples()
			us, err := u.Sample(h, p)
			if err != nil {
				t.Fatal(err)
			}
			// The runtime may start a thread meanwhile.
			if after := status("Threads"); int64(us.Pids) < before || int64(us.Pids) > after {
				t.Errorf("pids %d, want the process's threads (%d, then %d)", us.Pids, before, after)
			}
			if rss := status("VmRSS") << 10; us.Memory < rss/2 || us.Memory > rss*2 {
				t.Errorf("memory %d, want about VmRSS %d", us.Memory, rss)
			}
		})
	}
}
