//go:build linux

package testscripts

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hsu-run/hsu/driver"
	"github.com/hsu-run/hsu/engine"
	"github.com/hsu-run/hsu/osadapters/statefile"
)

// TestCrashConsistency kills hsu (SIGKILL) at a random point of a cold
// start, a mass restart, a scale by reload or a shutdown, then starts a
// new hsu on the same state dir, and requires, every time, exactly one
// instance per replica the config wants (its leader the PID in the state
// file, its child beside it in its process group), no process of a
// replica the config no longer wants, no orphan; and after the second
// hsu's clean shutdown, no process, cgroup directory or FIFO left.
//
// It runs with cgroups (as root, where the cgroup2 tree is writable) and
// without (hsu as the unprivileged user nobody). HSU_CRASH_ROUNDS rounds
// in each, the phases in turn (12 by default; make soak runs 200), from
// HSU_CRASH_SEED (default: the clock; a failure prints it).
func TestCrashConsistency(t *testing.T) {
	if testing.Short() {
		t.Skip("kills hsu many times: not in -short")
	}
	rounds := 12
	if s := os.Getenv("HSU_CRASH_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("HSU_CRASH_ROUNDS=%q: want a positive number", s)
		}
		rounds = n
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("HSU_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("HSU_CRASH_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("HSU_CRASH_SEED=%d", seed)
	hsu := hsuBinary(t)
	modes := []struct {
		name string
		cred *syscall.Credential
		skip string
	}{
		{name: "cgroups", skip: cgroupSkip()},
		{name: "unprivileged", cred: &syscall.Credential{Uid: 65534, Gid: 65534}, skip: rootSkip()},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			if m.skip != "" {
				t.Skip(m.skip)
			}
			rng := rand.New(rand.NewPCG(seed, uint64(len(m.name))))
			for i := range rounds {
				ph := phases[i%len(phases)]
				delay := time.Duration(rng.Int64N(int64(ph.window)))
				r := newCrashRound(t, hsu, m.cred)
				if !t.Run(fmt.Sprintf("%d-%s-%s", i, ph.name, delay.Round(time.Millisecond)), func(t *testing.T) {
					r.t = t
					r.run(ph, delay)
				}) {
					t.Fatalf("round %d failed: rerun with HSU_CRASH_SEED=%d HSU_CRASH_ROUNDS=%d", i, seed, rounds)
				}
			}
		})
	}
}

// cgroupSkip says why the cgroup rounds cannot run here ("" if they can).
func cgroupSkip() string {
	switch {
	case os.Geteuid() != 0:
		return "needs root for cgroups"
	case !cgroup2Writable():
		return "no writable cgroup2 tree"
	}
	return ""
}

// rootSkip: hsu runs as nobody only if this test may switch to it.
func rootSkip() string {
	if os.Geteuid() != 0 {
		return "needs root to run hsu as nobody (as this user, the cgroup rounds cover the same ground without cgroups)"
	}
	return ""
}

// hsuBinary copies this test binary (hsu when argv[0] is "hsu", see
// TestMain) where the unprivileged user can run it.
func hsuBinary(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if testBin != "" {
		return filepath.Join(testBin, "hsu")
	}
	dir, err := os.MkdirTemp("", "hsu-crash-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	bin := filepath.Join(dir, "hsu")
	out, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return bin
}

// phase is where in hsu's life the kill strikes: act is what hsu is
// doing (after it has settled, except for the cold start), window the
// span of the random delay from act to the kill.
type phase struct {
	name   string
	window time.Duration
	act    func(r *crashRound)
}

var phases = []phase{
	{"cold-start", 25 * time.Millisecond, func(*crashRound) {}},
	{"mass-restart", 40 * time.Millisecond, func(r *crashRound) { // back-off 20 ms
		for _, p := range r.procs() {
			if p.leader() {
				syscall.Kill(p.pid, syscall.SIGKILL)
			}
		}
	}},
	{"scale-by-reload", 25 * time.Millisecond, func(r *crashRound) {
		r.writeConfig(map[string]int{"a": 12, "b": 3})
		r.hsu.Process.Signal(syscall.SIGHUP)
	}},
	{"shutdown", 15 * time.Millisecond, func(r *crashRound) { r.hsu.Process.Signal(syscall.SIGTERM) }},
}

type crashRound struct {
	t        *testing.T
	bin, dir string
	cred     *syscall.Credential
	want     map[string]int // replicas per worker, as the config on disk says
	hsu      *exec.Cmd
	logFrom  int // where hsu's output begins in log
	exited   chan error
	log      lockedBuffer
}

// lockedBuffer is hsu's output, written by exec's copying goroutine and
// read by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newCrashRound(t *testing.T, bin string, cred *syscall.Credential) *crashRound {
	dir, err := os.MkdirTemp("", "hsu-crash-")
	if err != nil {
		t.Fatal(err)
	}
	r := &crashRound{t: t, bin: bin, dir: dir, cred: cred}
	if cred != nil {
		os.Chown(dir, int(cred.Uid), int(cred.Gid))
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() {
		if r.hsu != nil && r.hsu.ProcessState == nil {
			r.hsu.Process.Kill()
			<-r.exited
		}
		killUnder(dir)
		cleanStateDirs(dir)
		os.RemoveAll(dir)
	})
	return r
}

func (r *crashRound) stateDir() string { return filepath.Join(r.dir, "state") }

// writeConfig writes the config: a has a child in its process group,
// b is one process; restarts come at once.
func (r *crashRound) writeConfig(replicas map[string]int) {
	r.want = replicas
	cfg := fmt.Sprintf(`version: 1
defaults:
  restart: {policy: always, backoff: {initial: 20ms, max: 20ms, jitter: 0}, max_restarts: 1000, start_seconds: 0s}
  stop: {timeout: 2s}
  env: {HSU_CRASH_TEST: %q}
workers:
  a: {shell: "sleep 100000 & exec sleep 100000", replicas: %d}
  b: {command: [sleep, "100000"], replicas: %d}
`, r.dir, replicas["a"], replicas["b"])
	path := filepath.Join(r.dir, "hsu.yaml")
	if err := os.WriteFile(path+".new", []byte(cfg), 0o644); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil { // a reload never reads half a file
		r.t.Fatal(err)
	}
}

// start runs an hsu on the round's state dir.
func (r *crashRound) start() {
	r.t.Helper()
	cmd := exec.Command(r.bin, "run", "-f", filepath.Join(r.dir, "hsu.yaml"), "--state-dir", r.stateDir())
	cmd.Args[0] = "hsu" // the test binary runs hsu's main under that name
	cmd.Dir = r.dir
	cmd.Stdout, cmd.Stderr = &r.log, &r.log
	r.logFrom = len(r.log.String())
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred}
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.hsu, r.exited = cmd, make(chan error, 1)
	go func() { r.exited <- cmd.Wait() }()
}

func (r *crashRound) run(ph phase, delay time.Duration) {
	// Enough instances that a spawn batch takes a few milliseconds: a
	// kill then often strikes inside one.
	r.writeConfig(map[string]int{"a": 8, "b": 8})
	r.start()
	if ph.name != "cold-start" {
		r.settled("the first hsu")
	}
	ph.act(r)
	time.Sleep(delay) // where the kill strikes: the randomness of the test, not a wait
	r.hsu.Process.Kill()
	<-r.exited
	fmt.Fprintf(&r.log, "--- hsu killed (SIGKILL) %s into %s\n", delay, ph.name)

	r.start()
	r.settled("the hsu after the kill")
	r.hsu.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-r.exited:
		if err != nil {
			r.t.Errorf("the second hsu's shutdown: %v", err)
		}
	case <-time.After(20 * time.Second):
		r.t.Fatalf("the second hsu did not shut down within 20s\n%s", r.log.String())
	}
	if left := r.procs(); len(left) > 0 {
		r.t.Errorf("left running after a clean shutdown: %v\n%s", left, r.log.String())
	}
	uid := os.Getuid()
	if r.cred != nil {
		uid = int(r.cred.Uid)
	}
	if left := leftovers(r.stateDir(), uid); len(left) > 0 {
		r.t.Errorf("left behind by a clean shutdown: %v", left)
	}
}

// settled waits until every replica the config wants has exactly one
// instance, recorded in the state file, and nothing else of this round
// runs; it fails the round with what it saw otherwise.
func (r *crashRound) settled(who string) {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var why string
	for {
		if why = r.check(); why == "" {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s never settled: %s\nprocesses: %v\n%s", who, why, r.procs(), r.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// check says what is wrong now ("" when settled).
func (r *crashRound) check() string {
	log := r.log.String()[r.logFrom:] // the running hsu's
	if !strings.Contains(log, "hsu running") {
		return "hsu is not up yet"
	}
	for w, n := range r.want {
		for i := 1; i <= n; i++ {
			if key := w + "-" + strconv.Itoa(i); !regexp.MustCompile(`msg="` + key + ` \w+ -> running"`).MatchString(log) {
				return "the running hsu has not reported " + key + " running"
			}
		}
	}
	st, _, err := statefile.Open(r.stateDir()).Read()
	if err != nil || st == nil {
		return fmt.Sprintf("no state file (%v)", err)
	}
	recorded := map[string]int{} // "worker-replica" -> PID of a running instance
	for _, in := range st.Saved.Instances {
		if in.PID > 0 && in.State == engine.Running {
			recorded[driver.ReplicaKey(in.H)] = in.PID
		}
	}
	procs := r.procs()
	byGroup := map[int][]crashProc{}
	for _, p := range procs {
		byGroup[p.pgid] = append(byGroup[p.pgid], p)
	}
	size := map[string]int{"a": 2, "b": 1} // processes per instance
	seen := 0
	for w, n := range r.want {
		for i := 1; i <= n; i++ {
			key := w + "-" + strconv.Itoa(i)
			pid := recorded[key]
			if pid == 0 {
				return key + " is not running with a PID in the state file"
			}
			group := byGroup[pid]
			if len(group) != size[w] {
				return fmt.Sprintf("%s (pid %d) has %d processes in its group, want %d", key, pid, len(group), size[w])
			}
			for _, p := range group {
				if p.replica != key {
					return fmt.Sprintf("pid %d of %s's group says it is %s", p.pid, key, p.replica)
				}
			}
			seen += len(group)
		}
	}
	if seen != len(procs) {
		return fmt.Sprintf("%d processes of this round run, %d of them the recorded instances' (a duplicate, an orphan, or a replica no longer wanted)", len(procs), seen)
	}
	return ""
}

// crashProc is a live process of the round's workers.
type crashProc struct {
	pid, pgid int
	replica   string // HSU_WORKER-HSU_REPLICA
}

func (p crashProc) leader() bool { return p.pid == p.pgid }

func (p crashProc) String() string {
	return fmt.Sprintf("%s pid %d pgid %d", p.replica, p.pid, p.pgid)
}

// procs lists the live processes whose environment has this round's
// marker (zombies excluded: they have no environment left).
func (r *crashRound) procs() []crashProc {
	needle := []byte("HSU_CRASH_TEST=" + r.dir + "\x00")
	ents, _ := os.ReadDir("/proc")
	var out []crashProc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(append([]byte{0}, env...), append([]byte{0}, needle...)) {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 3 || f[0] == "Z" {
			continue
		}
		pgid, _ := strconv.Atoi(f[2])
		vars := map[string]string{}
		for kv := range bytes.SplitSeq(env, []byte{0}) {
			if k, v, ok := strings.Cut(string(kv), "="); ok {
				vars[k] = v
			}
		}
		out = append(out, crashProc{pid: pid, pgid: pgid, replica: vars["HSU_WORKER"] + "-" + vars["HSU_REPLICA"]})
	}
	slices.SortFunc(out, func(a, b crashProc) int { return a.pid - b.pid })
	return out
}

// leftovers lists what a clean shutdown of an hsu (run by uid) on
// stateDir must have removed: its cgroup directories and its FIFOs.
func leftovers(stateDir string, uid int) []string {
	abs, _ := filepath.Abs(stateDir)
	sub := fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(abs)))
	var left []string
	for _, base := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpu"} {
		if dir := filepath.Join(base, "hsu", sub); fileExists(dir) {
			left = append(left, dir)
		}
	}
	sum := sha256.Sum256([]byte(abs))
	for _, dir := range []string{filepath.Join(stateDir, "fifo"), fmt.Sprintf("/dev/shm/hsu-%d-%x", uid, sum[:8])} {
		if fileExists(dir) {
			left = append(left, dir)
		}
	}
	return left
}
