//go:build linux

package testscripts

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"

	"github.com/hsu-run/hsu/osadapters/platform"
	hsuunix "github.com/hsu-run/hsu/osadapters/unix"
)

var (
	workerOnce sync.Once
	workerDir  string
	workerErr  error
)

// buildTestworker builds cmd/hsu-testworker once for every script, unless
// HSU_TEST_BIN has one.
func buildTestworker(t *testing.T) string {
	if testBin != "" {
		if _, err := os.Stat(filepath.Join(testBin, "hsu-testworker")); err != nil {
			t.Fatalf("HSU_TEST_BIN: %v", err)
		}
		return testBin
	}
	workerOnce.Do(func() {
		workerDir, workerErr = os.MkdirTemp("", "hsu-testworker-")
		if workerErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(workerDir, "hsu-testworker"), "../cmd/hsu-testworker").CombinedOutput()
		if err != nil {
			workerErr = fmt.Errorf("build hsu-testworker: %v\n%s", err, out)
		}
	})
	if workerErr != nil {
		t.Fatal(workerErr)
	}
	return workerDir
}

// TestRun runs hsu on the real OS (testdata/run): it needs Linux; scripts
// that need root or cgroups say so with [root] / [cgroup2] and skip
// elsewhere.
func TestRun(t *testing.T) {
	testscript.Run(t, realOSParams(t, "testdata/run", map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"exitcode":    cmdExitCode,
		"nocgroups":   cmdNoCgroups,
		"linecount":   cmdLineCount,
		"touchold":    cmdTouchOld,
		"zombies":     cmdZombies,
		"cpuusage":    cmdCPUUsage,
		"tinyfs":      cmdTinyFS,
		"fillfs":      cmdFillFS,
		"cgdelegate":  cmdCgDelegate,
		"cgin":        cmdCgIn,
		"buildhsu":    cmdBuildHsu,
		"workerpids":  cmdWorkerPIDs,
		"consecutive": cmdConsecutive,
		// cgroups_test.go
		"cgroupdirs":  cmdCgroupDirs,
		"cgroupsgone": cmdCgroupsGone,
		"cgroupread":  cmdCgroupRead,
	}))
}

// realOSParams are the parameters of every suite that runs hsu on the real
// OS: hsu-testworker (and, under make cover, the -cover binaries) on the
// PATH, every process left with a working directory under $WORK killed at
// the end, the conditions [root], [cgroup2], [memcg], [controller:NAME]
// and [exitinfo], and
// the commands they share, plus cmds.
func realOSParams(t *testing.T, dir string, cmds map[string]func(ts *testscript.TestScript, neg bool, args []string)) testscript.Params {
	bin := buildTestworker(t)
	all := map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"waitfor":      cmdWaitFor,
		"procs":        cmdProcs,
		"samepid":      cmdSamePID,
		"storm":        cmdStorm,
		"promcheck":    cmdPromCheck,
		"notifylisten": cmdNotifyListen,
		"sighsu":       cmdSigHsu,
	}
	maps.Copy(all, cmds)
	return testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("PATH", bin+string(os.PathListSeparator)+env.Getenv("PATH"))
			if err := setupBin(env); err != nil {
				return err
			}
			env.Setenv("NO_COLOR", "1")
			work := env.WorkDir
			env.Defer(func() {
				killUnder(work)
				cleanStateDirs(work)
			})
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "root":
				return os.Geteuid() == 0, nil
			case "cgroup2":
				return cgroup2Writable(), nil
			case "memcg":
				return memoryCgroup(), nil
			case "exitinfo":
				return kernelKeepsExitInfo(), nil
			case "tmpfs":
				return canMountTmpfs(), nil
			case "blkio":
				// Root, and I/O limits on cgroup v1's blkio (no cgroup2 io).
				return os.Geteuid() == 0 && machine().Controllers["io"] == "cgroup1", nil
			case "workdisk":
				// $WORK (under the temp dir) is on a block device.
				_, err := machine().Disk(os.TempDir())
				return err == nil, nil
			case "memhigh":
				// Root, and the cgroup2 memory controller (memory.high).
				return os.Geteuid() == 0 && machine().Controllers["memory"] == "cgroup2", nil
			case "memv1":
				// Root, and memory on cgroup v1 only (no cgroup2 memory).
				return os.Geteuid() == 0 && machine().Controllers["memory"] == "cgroup1", nil
			}
			if name, ok := strings.CutPrefix(cond, "controller:"); ok {
				return cgroupController(name), nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: all,
	}
}

// kernelKeepsExitInfo reports whether a pidfd tells its process's exit
// status after the reap (PIDFD_INFO_EXIT, Linux 6.15+).
func kernelKeepsExitInfo() bool {
	cmd := exec.Command("true")
	if cmd.Start() != nil {
		return false
	}
	fd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	cmd.Wait()
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	info := unix.PidfdInfo{Mask: unix.PIDFD_INFO_EXIT}
	return unix.IoctlPidfdInfo(fd, &info) == nil && info.Mask&unix.PIDFD_INFO_EXIT != 0
}

// machine is what hsu itself sees it may use here (hsu validate's probe).
var machine = sync.OnceValue(func() *platform.Machine { return hsuunix.ProbeMachine("") })

func cgroup2Writable() bool {
	for _, base := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st syscall.Statfs_t
		if syscall.Statfs(base, &st) == nil && st.Type == 0x63677270 { // CGROUP2_SUPER_MAGIC
			if err := syscall.Access(base, 2); err == nil {
				return true
			}
		}
	}
	return false
}

// deadline parses an optional timeout argument.
func deadline(ts *testscript.TestScript, args []string, i int) time.Time {
	d := 15 * time.Second
	if len(args) > i {
		v, err := time.ParseDuration(args[i])
		if err != nil {
			ts.Fatalf("bad timeout %q", args[i])
		}
		d = v
	}
	return time.Now().Add(d)
}

// cmdWaitFor: waitfor FILE REGEXP [TIMEOUT] — wait until FILE matches;
// with !, FILE must not match at any time until TIMEOUT.
func cmdWaitFor(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: waitfor FILE REGEXP [TIMEOUT]")
	}
	re, err := regexp.Compile(args[1])
	if err != nil {
		ts.Fatalf("waitfor: %v", err)
	}
	until := deadline(ts, args, 2)
	path := ts.MkAbs(args[0])
	for {
		b, _ := os.ReadFile(path)
		switch matched := re.Match(b); {
		case matched && neg:
			ts.Fatalf("waitfor: %s matched %q; it holds:\n%s", args[0], args[1], lastLines(b, 30))
		case matched:
			return
		}
		if time.Now().After(until) {
			if neg {
				return
			}
			dumpHsu(ts)
			ts.Fatalf("waitfor: %s did not match %q in time; it holds:\n%s", args[0], args[1], lastLines(b, 30))
		}
		time.Sleep(20 * time.Millisecond) // polling a file written by another process
	}
}

// dumpHsu makes the hsu runs of this script print their goroutines
// (Go's SIGQUIT dump, in their stderr shown with the failure) and logs
// their threads' kernel stacks, so a hang can be told from a slow start.
// They are found by the hsu.pid files under $WORK.
func dumpHsu(ts *testscript.TestScript) {
	pidfiles, _ := filepath.Glob(filepath.Join(ts.Getenv("WORK"), "*", "hsu.pid"))
	quit := 0
	for _, pf := range pidfiles {
		b, _ := os.ReadFile(pf)
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			continue
		}
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		for _, t := range tasks {
			base := fmt.Sprintf("/proc/%d/task/%s", pid, t.Name())
			st, _ := os.ReadFile(base + "/stat")
			stack, _ := os.ReadFile(base + "/stack")
			ts.Logf("hsu %d thread %s: %s\n%s", pid, t.Name(), strings.TrimSpace(string(st)), stack)
		}
		if syscall.Kill(pid, syscall.SIGQUIT) == nil {
			quit++
		}
	}
	if quit > 0 {
		time.Sleep(time.Second) // the dump is being written
	}
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// workerPIDs lists live (non-zombie) processes whose environment names
// worker (HSU_WORKER) and whose working directory is under dir: the
// ground truth of what hsu left running, grandchildren included.
func workerPIDs(dir, worker string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, err := os.Readlink("/proc/" + e.Name() + "/cwd")
		if err != nil || !under(cwd, dir) {
			continue
		}
		if stat, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil {
			if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
				continue
			}
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		if worker == "*" && bytes.Contains(env, []byte("HSU_WORKER=")) || bytes.Contains(env, []byte("\x00HSU_WORKER="+worker+"\x00")) || bytes.HasPrefix(env, []byte("HSU_WORKER="+worker+"\x00")) {
			out = append(out, pid)
		}
	}
	return out
}

// cmdProcs: procs WORKER N [TIMEOUT] — wait until exactly N processes of
// WORKER ("*": any worker) are alive.
func cmdProcs(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: procs WORKER N [TIMEOUT]")
	}
	want, err := strconv.Atoi(args[1])
	if err != nil {
		ts.Fatalf("procs: bad count %q", args[1])
	}
	until := deadline(ts, args, 2)
	dir := ts.Getenv("WORK")
	for {
		pids := workerPIDs(dir, args[0])
		if (len(pids) == want) != neg {
			return
		}
		if time.Now().After(until) {
			ts.Fatalf("procs: %d processes of %s alive, want %d: %v", len(pids), args[0], want, pids)
		}
		time.Sleep(20 * time.Millisecond) // polling /proc
	}
}

// cmdLineCount: linecount FILE REGEXP N [MINLEN] — exactly N lines of
// FILE match (and are at least MINLEN bytes long).
func cmdLineCount(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 && len(args) != 4 {
		ts.Fatalf("usage: linecount FILE REGEXP N [MINLEN]")
	}
	re, err := regexp.Compile(args[1])
	if err != nil {
		ts.Fatalf("linecount: %v", err)
	}
	want, _ := strconv.Atoi(args[2])
	minLen := 0
	if len(args) == 4 {
		minLen, _ = strconv.Atoi(args[3])
	}
	n := 0
	for _, l := range strings.Split(ts.ReadFile(args[0]), "\n") {
		if len(l) >= minLen && re.MatchString(l) {
			n++
		}
	}
	if (n == want) == neg {
		ts.Fatalf("linecount: %d lines of %s match %q, want %d", n, args[0], args[1], want)
	}
}

// cmdTouchOld: touchold FILE — set FILE's times one hour back.
func cmdTouchOld(ts *testscript.TestScript, neg bool, args []string) {
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(ts.MkAbs(args[0]), old, old); err != nil {
		ts.Fatalf("touchold: %v", err)
	}
}

// cmdSamePID: samepid FILE1 FILE2 — both pidfiles name the same PID (! for different).
func cmdSamePID(ts *testscript.TestScript, neg bool, args []string) {
	a, b := strings.TrimSpace(ts.ReadFile(args[0])), strings.TrimSpace(ts.ReadFile(args[1]))
	if (a == b) == neg {
		ts.Fatalf("samepid: %s has %s, %s has %s", args[0], a, args[1], b)
	}
}

// cmdSigHsu: sighsu STATE_DIR SIGNAL — signal the hsu whose state dir it
// is (testscript's kill knows only INT and KILL).
func cmdSigHsu(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: sighsu STATE_DIR TERM|HUP|INT|KILL|USR2")
	}
	sig := map[string]syscall.Signal{"TERM": syscall.SIGTERM, "HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "KILL": syscall.SIGKILL, "USR2": syscall.SIGUSR2}[args[1]]
	if sig == 0 {
		ts.Fatalf("sighsu: unknown signal %s", args[1])
	}
	pid, err := strconv.Atoi(strings.TrimSpace(ts.ReadFile(filepath.Join(args[0], "hsu.pid"))))
	if err != nil {
		ts.Fatalf("sighsu: %v", err)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		ts.Fatalf("sighsu: %v", err)
	}
}

// cmdZombies: zombies STATE_DIR [TIMEOUT] — wait until the hsu of
// STATE_DIR has no zombie children (orphans it inherited as subreaper).
func cmdZombies(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 {
		ts.Fatalf("usage: zombies STATE_DIR [TIMEOUT]")
	}
	hsu := strings.TrimSpace(ts.ReadFile(filepath.Join(args[0], "hsu.pid")))
	until := deadline(ts, args, 1)
	for {
		var zs []string
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
			if err != nil {
				continue
			}
			i := bytes.LastIndexByte(stat, ')')
			if f := strings.Fields(string(stat[i+1:])); i >= 0 && len(f) > 1 && f[0] == "Z" && f[1] == hsu {
				zs = append(zs, e.Name())
			}
		}
		if len(zs) == 0 {
			return
		}
		if time.Now().After(until) {
			ts.Fatalf("zombies: hsu (pid %s) leaves zombie children %v", hsu, zs)
		}
		time.Sleep(20 * time.Millisecond) // polling /proc
	}
}

// killUnder kills every process left with a working directory under dir:
// a failing script must not leak processes.
// under reports whether path is dir or inside it: script-integrated's
// cleanup must not kill script-integrated-readopt's processes.
func under(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+string(filepath.Separator))
}

func killUnder(dir string) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if cwd, err := os.Readlink("/proc/" + e.Name() + "/cwd"); err == nil && under(cwd, dir) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// cmdCPUUsage: cpuusage WORKER DURATION MAXCORES [MINCORES] — the
// worker's processes used at most MAXCORES cores (utime+stime from /proc)
// over DURATION (with !, more than that), and at least MINCORES.
func cmdCPUUsage(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 && len(args) != 4 {
		ts.Fatalf("usage: cpuusage WORKER DURATION MAXCORES [MINCORES]")
	}
	floor := 0.0
	if len(args) == 4 {
		var err error
		if floor, err = strconv.ParseFloat(args[3], 64); err != nil {
			ts.Fatalf("cpuusage: bad core count %q", args[3])
		}
	}
	d, err := time.ParseDuration(args[1])
	if err != nil {
		ts.Fatalf("cpuusage: bad duration %q", args[1])
	}
	limit, err := strconv.ParseFloat(args[2], 64)
	if err != nil {
		ts.Fatalf("cpuusage: bad core count %q", args[2])
	}
	dir := ts.Getenv("WORK")
	ticks := func(pids []int) int64 {
		var sum int64
		for _, pid := range pids {
			b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
			if err != nil {
				continue
			}
			f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
			if len(f) > 12 {
				ut, _ := strconv.ParseInt(f[11], 10, 64)
				st, _ := strconv.ParseInt(f[12], 10, 64)
				sum += ut + st
			}
		}
		return sum
	}
	pids := workerPIDs(dir, args[0])
	if len(pids) == 0 {
		ts.Fatalf("cpuusage: no process of %s", args[0])
	}
	t0, start := ticks(pids), time.Now()
	time.Sleep(d)                                                       // the measurement window, not synchronisation
	used := float64(ticks(pids)-t0) / 100 / time.Since(start).Seconds() // USER_HZ = 100
	ts.Logf("%s used %.2f cores", args[0], used)
	if (used > limit) != neg {
		ts.Fatalf("cpuusage: %s used %.2f cores, limit %.2f", args[0], used, limit)
	}
	if used < floor {
		ts.Fatalf("cpuusage: %s used %.2f cores, want at least %.2f", args[0], used, floor)
	}
}

// cmdNoCgroups: nocgroups STATE_DIR [shared] — no cgroup directory of
// that state dir's subtree (hsu/<crc32 of its absolute path>, or
// $CG/hsu-<crc32> in a delegated cgroup) is left in any hierarchy (with
// !, some is); with shared, only the hierarchies' own hsu/ are looked at.
func cmdNoCgroups(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 && (len(args) != 2 || args[1] != "shared") {
		ts.Fatalf("usage: nocgroups STATE_DIR [shared]")
	}
	abs, err := filepath.Abs(ts.MkAbs(args[0]))
	ts.Check(err)
	sub := fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(abs)))
	var left []string
	for _, base := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/blkio"} {
		if dir := filepath.Join(base, "hsu", sub); fileExists(dir) {
			left = append(left, dir)
		}
		// A delegated cgroup ($CG, cgdelegate) holds the state dir's
		// subtree as hsu-<hash>: checked too unless only the hierarchies'
		// own hsu/ dirs are asked about.
		if cg := ts.Getenv("CG"); cg != "" && len(args) == 1 {
			if dir := filepath.Join(base+cg, "hsu-"+sub); fileExists(dir) {
				left = append(left, dir)
			}
		}
	}
	switch {
	case neg && len(left) == 0:
		ts.Fatalf("nocgroups: no cgroup directory of %s, want some", args[0])
	case !neg && len(left) > 0:
		ts.Fatalf("nocgroups: left behind: %v", left)
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// cmdTinyFS: tinyfs DIR SIZE — mount a tmpfs of SIZE (e.g. 256k) on DIR
// for the rest of the script (the condition [tmpfs]: one can be).
func cmdTinyFS(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: tinyfs DIR SIZE")
	}
	dir := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(dir, 0o755))
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "mode=0700,size="+args[1]); err != nil {
		ts.Fatalf("tinyfs: %v (guard the script with [tmpfs])", err)
	}
	ts.Defer(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
}

// cmdFillFS: fillfs FILE — write FILE until its filesystem is full.
func cmdFillFS(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: fillfs FILE")
	}
	f, err := os.OpenFile(ts.MkAbs(args[0]), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	ts.Check(err)
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				ts.Fatalf("fillfs: %v", err)
			}
			break
		}
	}
	for _, n := range []int{1024, 1} { // the last partial page too
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				break
			}
		}
	}
}

// canMountTmpfs reports whether this test may mount a tmpfs (root, and
// not in a container that forbids mounts).
func canMountTmpfs() bool {
	dir, err := os.MkdirTemp("", "hsu-tmpfs-")
	if err != nil {
		return false
	}
	defer os.Remove(dir)
	if syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k") != nil {
		return false
	}
	syscall.Unmount(dir, syscall.MNT_DETACH)
	return true
}

// cleanStateDirs removes what an hsu killed in a script leaves outside
// $WORK for each state dir under it (a dir holding hsu's lock file): the
// FIFO dir in /dev/shm and the empty cgroup directories. A clean shutdown
// removes them itself; this is for the scripts that end with hsu killed.
func cleanStateDirs(work string) {
	locks, _ := filepath.Glob(filepath.Join(work, "*", "lock"))
	more, _ := filepath.Glob(filepath.Join(work, "*", "*", "lock"))
	for _, lock := range append(locks, more...) {
		dir := filepath.Dir(lock)
		abs, _ := filepath.Abs(dir)
		sum := sha256.Sum256([]byte(abs))
		for _, uid := range []int{os.Getuid(), 65534} {
			os.RemoveAll(fmt.Sprintf("/dev/shm/hsu-%d-%x", uid, sum[:8]))
		}
		sub := fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(abs)))
		for _, base := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/blkio"} {
			root := filepath.Join(base, "hsu", sub)
			ents, _ := os.ReadDir(root)
			for _, e := range ents {
				if e.IsDir() {
					rmdirSoon(filepath.Join(root, e.Name())) // only an empty cgroup goes
				}
			}
			rmdirSoon(root)
		}
	}
}

// rmdirSoon removes an empty directory, waiting up to a second for a
// cgroup whose processes were just killed to empty.
func rmdirSoon(dir string) {
	for range 100 {
		if err := os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) || !errors.Is(err, syscall.EBUSY) {
			return
		}
		time.Sleep(10 * time.Millisecond) // the kernel empties it asynchronously
	}
}
