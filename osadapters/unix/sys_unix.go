//go:build linux || darwin

package unix

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/engine"
	"github.com/hsu-run/hsu/osadapters/exechelper"
	"github.com/hsu-run/hsu/osadapters/pidfile"
	"github.com/hsu-run/hsu/osadapters/shellsplit"
)

// Unix is the System for Linux and macOS: every instance is its own
// process group; its output goes through FIFOs in the state dir that the
// worker itself holds open read-write, so a dying hsu never SIGPIPEs it and
// the next hsu resumes reading (DESIGN.md §3). On Linux each instance also
// gets its own cgroup (when the cgroup2 tree is writable), which catches
// grandchildren that left the process group.
type Unix struct {
	StateDir string
	id       string   // the state dir's id, in every instance's marker (stateDirID)
	fifoDir  string   // the output FIFOs (fifoDirFor)
	cg       *cgroups // nil where cgroups are not available
	mu       sync.Mutex
	watching map[engine.Handle]bool
	// sampleBuf is the buffer samples read through; smp is what the OS's
	// sampler keeps per instance (both under sampleMu).
	sampleMu  sync.Mutex
	sampleBuf [8192]byte
	smp       sampler
	leaders   map[int]bool               // PIDs of spawned leaders not yet reaped by their Wait
	holds     map[engine.Handle]*os.File // release pipes of held instances (no cgroup)
	loops     ioLoops                    // epoll loops for output and exits (Linux)
	// adoptLogs receives the output of instances re-adopted after an hsu
	// restart (their FIFOs are reopened).
	adoptLogs LogSink
}

// SetAdoptedLogs routes the output of re-adopted instances.
func (u *Unix) SetAdoptedLogs(l LogSink) { u.adoptLogs = l }

// FindsByHandle reports whether an instance can be found (and killed) by
// its handle alone, without its PID: it has its own cgroup.
func (u *Unix) FindsByHandle() bool { return u.cg != nil }

func (u *Unix) isLeader(pid int) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.leaders[pid]
}

// markerVar is the environment variable that marks an instance's
// processes: "<state dir id>/<worker>-<replica>-<gen>".
const markerVar = "HSU_INSTANCE"

// stateDirID names a state dir in cgroup, FIFO and marker names: two
// state dirs never share one.
func stateDirID(stateDir string) string {
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		abs = stateDir
	}
	sum := sha256.Sum256([]byte(abs))
	return fmt.Sprintf("%x", sum[:8])
}

// New prepares the Unix system; stateDir holds the FIFOs.
func New(stateDir string) (*Unix, error) { return NewWith(Options{StateDir: stateDir}) }

// Options are what NewWith takes.
type Options struct {
	StateDir string
	// CgroupParent is a cgroup delegated to hsu (--cgroup-parent), as
	// /proc/self/cgroup names it; "" lets hsu tell (Linux only).
	CgroupParent string
}

// NewWith prepares the Unix system.
func NewWith(o Options) (*Unix, error) {
	stateDir := o.StateDir
	u := &Unix{StateDir: stateDir, watching: map[engine.Handle]bool{}, leaders: map[int]bool{}, holds: map[engine.Handle]*os.File{}}
	u.id = stateDirID(stateDir)
	u.fifoDir = fifoDirFor(stateDir, u.id)
	if err := os.MkdirAll(u.fifoDir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	cg, err := openCgroups(stateDir, o.CgroupParent)
	if err != nil {
		return nil, err
	}
	u.cg = cg
	u.setSubreaper()
	return u, nil
}

// fifoPath names a replica's FIFO. Each instance of a replica reuses it
// where instances have cgroups: the previous instance has then provably
// no process left that could still write to it, and on ext4 creating and
// deleting two FIFOs per restart was a third of the restart latency.
func (u *Unix) fifoPath(h engine.Handle, stream string) string {
	return filepath.Join(u.fifoDir, replicaKey(h)+"."+stream)
}

// openOutput creates the FIFO of one stream and opens both ends: the
// worker's (read-write, so it is also a reader and never gets EPIPE) and
// hsu's (read-only). hsu's end is opened before the worker starts: a FIFO
// loses its buffered bytes when the last descriptor closes.
func (u *Unix) openOutput(h engine.Handle, stream string) (w, r *os.File, err error) {
	path := u.fifoPath(h, stream)
	if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeNamedPipe == 0 || u.cg == nil {
		os.Remove(path)
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			return nil, nil, fmt.Errorf("mkfifo %s: %w", path, err)
		}
	}
	w, err = os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	r, err = os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	return w, r, nil
}

// Spawn starts an instance in its own process group (and cgroup).
func (u *Unix) Spawn(h engine.Handle, spec *config.Worker, env []string, files []*os.File, logs LogSink, exited func(ExitStatus)) (Proc, error) {
	path, argv, err := program(spec, env)
	if err != nil {
		return Proc{}, fmt.Errorf("start %s: %w", instKey(h), err)
	}
	// The marker names the instance in the environment of every process
	// of it that keeps its environment: without cgroups, how hsu finds
	// them by handle after a crash (marked, Linux).
	env = append(env[:len(env):len(env)], markerVar+"="+u.id+"/"+instKey(h))
	cmd := &exec.Cmd{Path: path, Args: argv, Env: env, Dir: spec.Workdir, ExtraFiles: files}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var status *os.File // the exec helper's status pipe, if it is used
	closeHelperFiles := func() {
		for _, f := range cmd.ExtraFiles[len(files):] {
			f.Close() // the exec helper's (wrapExec): the child has its copies
		}
	}
	defer func() {
		closeHelperFiles()
		if status != nil {
			status.Close()
		}
	}()
	if err := setCredential(cmd.SysProcAttr, spec); err != nil {
		return Proc{}, fmt.Errorf("start %s: %w", instKey(h), err)
	}
	status, err = prepareExec(cmd, spec)
	if err != nil {
		return Proc{}, fmt.Errorf("start %s: %w", instKey(h), err)
	}
	if err := u.cg.checkLimits(spec); err != nil {
		return Proc{}, fmt.Errorf("start %s: %w", instKey(h), err)
	}
	// Without a cgroup nothing finds an instance whose PID hsu has not
	// written yet: it is held in the exec helper until Release.
	var hold *os.File
	if u.cg == nil {
		if status == nil {
			if status, err = exechelper.Wrap(cmd, exechelper.Limits{}, "hold until recorded"); err != nil {
				return Proc{}, fmt.Errorf("start %s: %w", instKey(h), err)
			}
		}
		if hold, err = exechelper.Hold(cmd); err != nil {
			return Proc{}, fmt.Errorf("start %s: %w", instKey(h), err)
		}
		defer func() {
			if hold != nil {
				hold.Close() // not handed to Release: the helper exits
			}
		}()
	}
	var cgDone func()
	if u.cg != nil {
		cgDone, err = u.cg.prepare(h, cmd.SysProcAttr)
		if err != nil {
			return Proc{}, fmt.Errorf("start %s: %w", instKey(h), err)
		}
		defer cgDone()
		if err := u.cg.setLimits(h, spec); err != nil {
			u.cg.remove(h, true)
			return Proc{}, fmt.Errorf("start %s: %w", instKey(h), err)
		}
		if st, err := u.cg.joinBeforeExec(h, spec, cmd); err != nil {
			u.cg.remove(h, true)
			return Proc{}, fmt.Errorf("start %s: %w", instKey(h), err)
		} else if st != nil {
			status = st
		}
	}
	outW, outR, err := u.openOutput(h, "out")
	if err != nil {
		u.cleanup(h)
		return Proc{}, err
	}
	errW, errR, err := u.openOutput(h, "err")
	if err != nil {
		outW.Close()
		outR.Close()
		u.cleanup(h)
		return Proc{}, err
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd, startErr := u.start(cmd)
	outW.Close()
	errW.Close()
	if startErr != nil {
		outR.Close()
		errR.Close()
		u.cleanup(h)
		return Proc{}, fmt.Errorf("start %s: %w", instKey(h), startErr)
	}
	p := Proc{PID: cmd.Process.Pid, StartTime: startTime(cmd.Process.Pid), Group: true}
	var limitErr error
	if status != nil {
		closeHelperFiles() // hsu's copy of the status pipe's write end: EOF at the helper's exec
		if hold != nil {
			limitErr = exechelper.Held(status)
		} else {
			limitErr = exechelper.Status(status)
		}
	}
	if limitErr == nil {
		limitErr = applyLimits(p.PID, spec)
	}
	if limitErr == nil && u.cg != nil {
		limitErr = u.cg.afterStart(h, spec, p.PID)
	}
	if limitErr != nil {
		// A limit that cannot be applied is a failed start: the instance
		// never runs without it. It is killed and reaped in the background
		// (a process in D state must not stall the driver).
		u.killRest(h, p)
		proc := cmd.Process
		go waitLeader(proc, func() {
			u.killUntilEmpty(h, p)
			outR.Close()
			errR.Close()
			u.cleanup(h)
		}, &u.mu, func() { delete(u.leaders, p.PID) })
		return Proc{}, fmt.Errorf("start %s: %w", instKey(h), limitErr)
	}
	// Only the process is kept: the Cmd (its environment, arguments) is
	// garbage from here on.
	proc := cmd.Process
	drained, stopDrain := u.drain(h, logs, outR, errR)
	finish := func() {
		// The leader has exited and stays a zombie until the rest of
		// its group and cgroup is killed, so its PID and process-group ID
		// cannot be reused while hsu may still signal them; only then is
		// it reaped (no grandchild survives, and the FIFOs reach EOF).
		st := waitLeader(proc, func() { u.killUntilEmpty(h, p) }, &u.mu, func() { delete(u.leaders, p.PID) })
		// Reaped, and forgotten as a leader: nothing signals its PID any
		// more. Its output is drained before its exit is reported.
		if !waitDrained(drained, 5*time.Second, stopDrain) {
			u.removeFIFOs(h) // a writer escaped: never reuse them
		}
		st.OOM = st.OOM || (u.cg != nil && u.cg.oomKilled(h))
		u.cleanup(h)
		u.forgetSample(h)
		exited(st)
	}
	u.onExit(p.PID, finish, finish)
	if hold != nil {
		u.mu.Lock()
		u.holds[h] = hold
		u.mu.Unlock()
		hold = nil
	}
	return p, nil
}

// Release lets a held instance (no cgroup) run its program now that its
// PID is recorded. If the write fails the helper reads EOF and exits 127,
// which is reported as the instance's exit.
func (u *Unix) Release(h engine.Handle, _ Proc) {
	u.mu.Lock()
	w := u.holds[h]
	delete(u.holds, h)
	u.mu.Unlock()
	if w != nil {
		exechelper.Release(w)
	}
}

// killUntilEmpty kills what is left of an instance whose leader exited
// until its cgroup is empty (1 s at most): without cgroup.kill (kernel
// < 5.14) a process forked between listing the cgroup and the kills
// would survive one round. Without a cgroup, one group kill is all there is.
func (u *Unix) killUntilEmpty(h engine.Handle, p Proc) {
	deadline := time.Now().Add(time.Second)
	for {
		u.killRest(h, p)
		if u.cg == nil || u.cg.empty(h) || time.Now().After(deadline) {
			return
		}
		time.Sleep(2 * time.Millisecond) // the kernel delivers the kills
	}
}

// start starts cmd with its PID registered as a leader before the orphan
// reaper can see it: a leader's exit status belongs to its own waiter.
func (u *Unix) start(cmd *exec.Cmd) (*exec.Cmd, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	err := cmd.Start()
	if retry := startFallback(cmd, err); retry != nil && u.cg != nil {
		cmd = retry
		if err = cmd.Start(); err == nil {
			u.cg.noClone3.Store(true)
		}
	}

	if err == nil {
		u.leaders[cmd.Process.Pid] = true
	}
	return cmd, err
}

// program is the file and argv an instance runs. A shell: line that is
// one plain simple command runs without the shell in between, as sh -c
// would exec it (shellsplit), when hsu finds the program and the kernel
// can exec it; anything else, a script without #! too, runs under
// /bin/sh -c, so a line means what it means to sh.
func program(spec *config.Worker, env []string) (string, []string, error) {
	if spec.Shell == "" {
		path, err := lookPath(spec.Command[0], spec.Workdir, env)
		return path, spec.Command, err
	}
	if argv, ok := shellsplit.Split(spec.Shell); ok {
		if path, err := lookPath(argv[0], spec.Workdir, env); err == nil && execFormat(path) {
			return path, argv, nil
		}
	}
	return "/bin/sh", []string{"/bin/sh", "-c", spec.Shell}, nil
}

// execFormat reports whether the kernel execs path itself: an #! script
// or a binary (ELF, Mach-O), not a file only a shell runs.
func execFormat(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [4]byte
	if n, _ := io.ReadFull(f, b[:]); n < 2 {
		return false
	}
	switch {
	case b[0] == '#' && b[1] == '!', string(b[:]) == "\x7fELF":
		return true
	}
	switch binary.BigEndian.Uint32(b[:]) {
	case 0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe, 0xcafebabe: // Mach-O, thin and fat
		return true
	}
	return false
}

// cleanup removes what an instance this hsu started leaves in the state
// dir and cgroup tree (its FIFOs stay for the replica's next instance
// where it has a cgroup; Close removes them).
func (u *Unix) cleanup(h engine.Handle) { u.cleanupOf(h, true) }

// cleanupStray is cleanup for an instance of an earlier hsu, whose
// cgroup v1 dirs this one does not know.
func (u *Unix) cleanupStray(h engine.Handle) { u.cleanupOf(h, false) }

func (u *Unix) cleanupOf(h engine.Handle, known bool) {
	u.mu.Lock()
	if w := u.holds[h]; w != nil {
		w.Close() // gone before its release
		delete(u.holds, h)
	}
	u.mu.Unlock()
	switch {
	case u.cg != nil:
		u.cg.remove(h, known)
	case known:
		u.removeFIFOs(h)
		// An earlier hsu's instance (a kill by handle) keeps them: they are
		// the replica's, and its current instance may be writing to them.
	}
}

// Close removes the FIFOs left for replicas' next instances and the state
// dir's cgroup subtree; the driver calls it once every worker has stopped.
func (u *Unix) Close() error {
	if u.cg != nil {
		u.cg.removeSubtree() // a clean shutdown leaves no cgroup directory behind
	}
	return os.RemoveAll(u.fifoDir)
}

// waitDrained waits for the output to reach EOF and reports whether it
// did. A writer that escaped every kill (no cgroup here) must not hang the
// exit forever, so after the deadline the read ends are closed; and a log
// sink that blocks (a paused terminal) must not either, so the exit is
// reported even if the closing has not finished a second later.
func waitDrained(done chan struct{}, limit time.Duration, stop func()) bool {
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		stop()
	}
	t.Reset(time.Second)
	select {
	case <-done:
	case <-t.C:
	}
	return false
}

func (u *Unix) removeFIFOs(h engine.Handle) {
	os.Remove(u.fifoPath(h, "out"))
	os.Remove(u.fifoPath(h, "err"))
}

func exitStatus(ps *os.ProcessState) ExitStatus {
	if ps == nil {
		return ExitStatus{Code: -1}
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ExitStatus{Code: -1, Signal: signalName(ws.Signal())}
	}
	return ExitStatus{Code: ps.ExitCode()}
}

// Watch follows a process hsu did not start: a recovered instance (its
// output FIFOs are reopened and drained again) or an unmanaged process.
func (u *Unix) Watch(h engine.Handle, p Proc, exited func(ExitStatus)) error {
	u.mu.Lock()
	if u.watching[h] {
		u.mu.Unlock()
		return nil
	}
	u.watching[h] = true
	u.mu.Unlock()
	var files []*os.File
	for _, s := range []string{"out", "err"} {
		if f, err := os.OpenFile(u.fifoPath(h, s), os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			files = append(files, f)
		}
	}
	var drained chan struct{}
	var stopDrain func()
	if len(files) == 2 {
		drained, stopDrain = u.drain(h, u.adoptLogs, files[0], files[1])
	} else {
		for _, f := range files {
			f.Close()
		}
	}
	finish := func(st *ExitStatus) {
		if p.Group {
			u.killRest(h, p) // what is left of a managed instance's group
		}
		if drained != nil && !waitDrained(drained, 5*time.Second, stopDrain) {
			u.removeFIFOs(h)
		}
		u.cleanupStray(h) // an earlier hsu made its cgroups: this one does not know which
		u.mu.Lock()
		delete(u.watching, h)
		u.mu.Unlock()
		u.forgetSample(h)
		if st == nil {
			// Not our child, and the kernel did not keep its status
			// (PIDFD_INFO_EXIT, Linux 6.15+): reported as unknown.
			st = &ExitStatus{Code: -1, Signal: "UNKNOWN"}
		}
		exited(*st)
	}
	// Gone meanwhile (or its PID reused): finished at once.
	u.onGone(p, func() bool { return u.Verify(p) }, finish, func() { waitGone(p); finish(nil) })
	return nil
}

// Signal sends sig to the instance's process group.
func (u *Unix) Signal(p Proc, sig string) error {
	s, err := signalByName(sig)
	if err != nil {
		return err
	}
	if p.PID <= 0 {
		return fmt.Errorf("signal %s: no process", sig)
	}
	target := p.PID
	if p.Group {
		target = -p.PID
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.ours(p) {
		return fmt.Errorf("signal %s: process %d is gone", sig, p.PID)
	}
	if err := syscall.Kill(target, s); err != nil && (!errors.Is(err, syscall.ESRCH) || !p.Group) {
		return fmt.Errorf("signal %s to %d: %w", sig, target, err)
	}
	return nil
}

// ours reports whether p's PID (and process-group ID) still belong to the
// instance: an unreaped leader of hsu's, or a process with p's start
// time. Called with u.mu held, which the reap of a leader also holds, so a
// signal never reaches a reused PID or group.
func (u *Unix) ours(p Proc) bool {
	return p.PID > 0 && (u.leaders[p.PID] || u.Verify(p))
}

// Kill SIGKILLs the instance's group and cgroup and waits until both are
// empty. The kill is repeated while waiting: without cgroup.kill (kernel
// < 5.14) a process forked between listing the cgroup and killing it
// would otherwise survive.
func (u *Unix) Kill(h engine.Handle, p Proc) error {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		u.killRest(h, p)
		u.mu.Lock()
		alive := u.ours(p) && (!p.Group || groupAlive(p.PID))
		u.mu.Unlock()
		if !alive && p.PID == 0 && u.cg == nil {
			alive = u.killMarked(h) // by handle without a cgroup: by its marker
		}
		if !alive && (u.cg == nil || u.cg.empty(h)) {
			if p.PID == 0 {
				u.cleanupStray(h) // cleanup by handle: nobody else removes its cgroup
			}
			return nil
		}
		time.Sleep(2 * time.Millisecond) // polling the kernel, not synchronising tests
	}
	return fmt.Errorf("kill %s: processes still alive after 5s", instKey(h))
}

// killRest SIGKILLs the instance's group (or, adopted, its process alone)
// while they are still its, and its cgroup.
func (u *Unix) killRest(h engine.Handle, p Proc) {
	u.mu.Lock()
	if u.ours(p) {
		if p.Group {
			syscall.Kill(-p.PID, syscall.SIGKILL)
		} else {
			syscall.Kill(p.PID, syscall.SIGKILL)
		}
	}
	u.mu.Unlock()
	if u.cg != nil {
		u.cg.kill(h)
	}
}

// alive reports whether process pid exists: EPERM (another user's
// process, hsu not root) is alive too.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// groupAlive reports whether any process is left in process group pgid.
func groupAlive(pgid int) bool {
	return syscall.Kill(-pgid, 0) == nil
}

// Verify reports whether p is still the process that was started: alive,
// and (where the OS tells) with the same start time.
func (u *Unix) Verify(p Proc) bool {
	if p.PID <= 0 || !alive(p.PID) {
		return false
	}
	st := startTime(p.PID)
	return st != 0 && st == p.StartTime
}

// Find locates an unmanaged worker's process by pidfile or discovery.
func (u *Unix) Find(spec *config.Worker) (Proc, error) {
	if spec.Pidfile != "" {
		pid, err := pidfile.Read(spec.Pidfile)
		if err != nil {
			return Proc{}, err
		}
		if !alive(pid) {
			return Proc{}, fmt.Errorf("pidfile %s: pid %d is not running", spec.Pidfile, pid)
		}
		p := Proc{PID: pid, StartTime: startTime(pid)}
		// A stale pidfile: the PID was reused by a process started after
		// the file was written. Never adopt that one.
		if fi, err := os.Stat(spec.Pidfile); err == nil && startedAfter(p, fi.ModTime()) {
			return Proc{}, fmt.Errorf("pidfile %s: pid %d belongs to a process started after the file was written (stale pidfile)", spec.Pidfile, pid)
		}
		return p, nil
	}
	if spec.Discover != nil {
		return discover(spec.Discover)
	}
	return Proc{}, fmt.Errorf("no pidfile or discover")
}

// waitGone blocks until p has exited. waitPIDExit returns at once on
// the exit where the OS can tell (pidfd, kqueue); the limit only bounds
// how long a PID reused meanwhile could go unnoticed where it cannot.
func waitGone(p Proc) {
	for {
		if !alive(p.PID) || (p.StartTime != 0 && startTime(p.PID) != p.StartTime) {
			return
		}
		waitPIDExit(p.PID, 5*time.Second)
	}
}

func lookPath(prog, dir string, env []string) (string, error) {
	if strings.Contains(prog, "/") {
		if !filepath.IsAbs(prog) {
			prog = filepath.Join(dir, prog)
		}
		fi, err := os.Stat(prog)
		if err != nil {
			return "", err
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return "", syscall.EACCES
		}
		return prog, nil
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			for _, d := range filepath.SplitList(kv[5:]) {
				if d == "" {
					d = "."
				}
				if !filepath.IsAbs(d) {
					d = filepath.Join(dir, d) // as the worker's exec (and sh) would resolve it
				}
				p := filepath.Join(d, prog)
				if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
					return p, nil
				}
			}
		}
	}
	return "", exec.ErrNotFound
}

func setCredential(attr *syscall.SysProcAttr, spec *config.Worker) error {
	if spec.User == "" && spec.Group == "" {
		return nil
	}
	cred := &syscall.Credential{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())}
	if spec.User != "" {
		u, err := user.Lookup(spec.User)
		if err != nil {
			if u, err = user.LookupId(spec.User); err != nil {
				return fmt.Errorf("user %s: %w", spec.User, err)
			}
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred.Uid, cred.Gid = uint32(uid), uint32(gid)
	}
	if spec.Group != "" {
		g, err := user.LookupGroup(spec.Group)
		if err != nil {
			if g, err = user.LookupGroupId(spec.Group); err != nil {
				return fmt.Errorf("group %s: %w", spec.Group, err)
			}
		}
		gid, _ := strconv.Atoi(g.Gid)
		cred.Gid = uint32(gid)
	}
	attr.Credential = cred
	return nil
}

var signals = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "ABRT": syscall.SIGABRT,
	"KILL": syscall.SIGKILL, "USR1": syscall.SIGUSR1, "SEGV": syscall.SIGSEGV, "USR2": syscall.SIGUSR2,
	"PIPE": syscall.SIGPIPE, "ALRM": syscall.SIGALRM, "TERM": syscall.SIGTERM, "CONT": syscall.SIGCONT,
	"STOP": syscall.SIGSTOP, "TSTP": syscall.SIGTSTP, "WINCH": syscall.SIGWINCH,
}

func signalByName(name string) (syscall.Signal, error) {
	if s, ok := signals[name]; ok {
		return s, nil
	}
	return 0, fmt.Errorf("unknown signal %q", name)
}

func signalName(s syscall.Signal) string {
	for n, v := range signals {
		if v == s {
			return n
		}
	}
	return strconv.Itoa(int(s))
}
