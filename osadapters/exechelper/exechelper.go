//go:build linux || darwin

// Package exechelper is the exec helper: a worker hsu cannot fully set up
// from outside is started as the hsu binary itself, which applies what it
// must from inside (cgroup v1 joins, rlimits on macOS, credentials after
// them), optionally waits until hsu has recorded its PID, and then execs
// the real program in the same process.
package exechelper

import (
	"errors"
	"fmt"
	"github.com/hsu-run/hsu/osadapters/errno"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// The exec helper applies limits that an OS can only set from inside the
// process (macOS has no prlimit): the instance is started as the hsu
// binary itself with execHelperArg first, applies the limits to itself,
// then execs the real program. It is the same process (same PID, process
// group and start time) before and after the exec, so nothing else of the
// instance changes; only the program hsu starts is, for a moment, hsu.
//
// The command line is
//
//	hsu __hsu-exec-limits [nofile=N] [uid=U gid=G (groups=G1,G2,...|nosetgroups)] -- PATH ARGV0 ARGV1 ...
//
// Everything after the first "--" is the program, passed through
// untouched. The environment is the program's already.
const Arg = "__hsu-exec-limits"

// execLimits is what the helper applies to itself before the exec.
type Limits struct {
	EnvFD    int // descriptor to read the program's environment from (NUL-separated); 0: none
	StatusFD int // descriptor to report a failure on (closed by the exec on success); 0: none
	// WaitFD: once the limits are applied, report "held" on StatusFD and
	// wait for one byte on this descriptor before the exec; EOF instead
	// (hsu died before recording the PID) ends the helper without running
	// the program. 0: no wait.
	WaitFD int
	Join   []string            // cgroup.procs files to move into first (cgroup v1 limits on Linux)
	NoFile uint64              // RLIMIT_NOFILE, soft and hard; 0 leaves it alone
	Cred   *syscall.Credential // switch to these ids after the limits (which may need root); nil: keep
	Path   string              // the program to exec
	Argv   []string            // its argv, argv[0] included
}

// args is the helper's command line (exe first) for cmd.Args.
func (l *Limits) args(exe string) []string {
	a := []string{exe, Arg}
	if l.EnvFD > 0 {
		a = append(a, "envfd="+strconv.Itoa(l.EnvFD))
	}
	if l.StatusFD > 0 {
		a = append(a, "statusfd="+strconv.Itoa(l.StatusFD))
	}
	if l.WaitFD > 0 {
		a = append(a, "waitfd="+strconv.Itoa(l.WaitFD))
	}
	for _, j := range l.Join {
		a = append(a, "join="+j)
	}
	if l.NoFile > 0 {
		a = append(a, "nofile="+strconv.FormatUint(l.NoFile, 10))
	}
	if c := l.Cred; c != nil {
		a = append(a, "uid="+strconv.FormatUint(uint64(c.Uid), 10), "gid="+strconv.FormatUint(uint64(c.Gid), 10))
		if c.NoSetGroups {
			a = append(a, "nosetgroups")
		} else {
			g := make([]string, len(c.Groups))
			for i, id := range c.Groups {
				g[i] = strconv.FormatUint(uint64(id), 10)
			}
			a = append(a, "groups="+strings.Join(g, ","))
		}
	}
	a = append(a, "--", l.Path)
	return append(a, l.Argv...)
}

// decodeExecArgs parses the helper's arguments after execHelperArg.
func decodeExecArgs(args []string) (*Limits, error) {
	l := &Limits{}
	var uid, gid *uint32
	var groups []uint32
	setGroups, noSetGroups := false, false
	id := func(s string) (uint32, error) {
		v, err := strconv.ParseUint(s, 10, 32)
		return uint32(v), err
	}
	i := 0
	for ; i < len(args) && args[i] != "--"; i++ {
		key, val, _ := strings.Cut(args[i], "=")
		var err error
		switch key {
		case "envfd":
			l.EnvFD, err = strconv.Atoi(val)
			if err == nil && l.EnvFD < 3 {
				err = errors.New("must be 3 or more")
			}
		case "statusfd":
			l.StatusFD, err = strconv.Atoi(val)
			if err == nil && l.StatusFD < 3 {
				err = errors.New("must be 3 or more")
			}
		case "waitfd":
			l.WaitFD, err = strconv.Atoi(val)
			if err == nil && l.WaitFD < 3 {
				err = errors.New("must be 3 or more")
			}
		case "join":
			l.Join = append(l.Join, val)
		case "nofile":
			l.NoFile, err = strconv.ParseUint(val, 10, 64)
			if err == nil && l.NoFile == 0 {
				err = errors.New("must be positive")
			}
		case "uid":
			var v uint32
			v, err = id(val)
			uid = &v
		case "gid":
			var v uint32
			v, err = id(val)
			gid = &v
		case "groups":
			setGroups = true
			for _, g := range strings.Split(val, ",") {
				if g == "" {
					continue
				}
				var v uint32
				if v, err = id(g); err != nil {
					break
				}
				groups = append(groups, v)
			}
		case "nosetgroups":
			noSetGroups = true
		default:
			return nil, fmt.Errorf("exec helper: unknown argument %q (an hsu of another version?)", args[i])
		}
		if err != nil {
			return nil, fmt.Errorf("exec helper: argument %q: %v", args[i], err)
		}
	}
	if i+3 > len(args) {
		return nil, errors.New("exec helper: no program and argv[0] after --")
	}
	if (uid == nil) != (gid == nil) || (uid == nil && (setGroups || noSetGroups)) || (uid != nil && setGroups == noSetGroups) {
		return nil, errors.New("exec helper: uid, gid and one of groups= or nosetgroups go together")
	}
	if uid != nil {
		l.Cred = &syscall.Credential{Uid: *uid, Gid: *gid, Groups: groups, NoSetGroups: noSetGroups}
	}
	l.Path, l.Argv = args[i+1], args[i+2:]
	return l, nil
}

// apply sets the limits on this process, then switches credentials the
// way os/exec would have in the child (groups, gid, uid), so the limits
// are set with hsu's privileges.
func (l *Limits) apply() error {
	for _, j := range l.Join {
		// Before the program runs, so not even its first fork escapes.
		if err := os.WriteFile(j, []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
			return fmt.Errorf("join cgroup %s: %w", filepath.Dir(j), err)
		}
	}
	if l.NoFile > 0 {
		n := l.NoFile
		// syscall.Setrlimit (not a raw call): it also stops Go from restoring
		// its original soft limit on exec.
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
			hint := ""
			switch {
			case errors.Is(err, syscall.EPERM):
				hint = " (raising the hard limit needs root, and no more than the kernel's per-process maximum: fs.nr_open on Linux, kern.maxfilesperproc on macOS)"
			case errors.Is(err, syscall.EINVAL):
				hint = " (above the kernel's per-process maximum: kern.maxfilesperproc on macOS, fs.nr_open on Linux)"
			}
			return fmt.Errorf("fds limit %d: setrlimit(RLIMIT_NOFILE): %w%s", n, err, hint)
		}
		// Some kernels clamp instead of failing: a limit other than the one
		// asked for is an error, never silently lower.
		var got syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &got); err != nil {
			return fmt.Errorf("fds limit %d: getrlimit(RLIMIT_NOFILE): %w", n, err)
		}
		if got.Cur != n || got.Max != n {
			return fmt.Errorf("fds limit %d: the kernel set %d (soft) / %d (hard) instead (kern.maxfilesperproc on macOS)", n, got.Cur, got.Max)
		}
	}
	if c := l.Cred; c != nil {
		if !c.NoSetGroups {
			g := make([]int, len(c.Groups))
			for i, id := range c.Groups {
				g[i] = int(id)
			}
			if err := syscall.Setgroups(g); err != nil {
				return fmt.Errorf("setgroups %v: %w", c.Groups, err)
			}
		}
		if err := syscall.Setgid(int(c.Gid)); err != nil {
			return fmt.Errorf("setgid %d: %w", c.Gid, err)
		}
		if err := syscall.Setuid(int(c.Uid)); err != nil {
			return fmt.Errorf("setuid %d: %w", c.Uid, err)
		}
	}
	return nil
}

// wrapExec makes cmd start through the exec helper, which applies l
// (l.Path and l.Argv are set from cmd here) and then execs the program.
// The credentials move into the helper, to be taken after the limits.
//
// The helper runs with hsu's privileges and an empty environment: the
// worker's environment (which its user may control through env_file)
// must not reach a privileged process, where LD_PRELOAD, GODEBUG and the
// like would act before the credentials are dropped. It is passed on an
// inherited pipe instead (envfd=N) and given to the program at its exec.
// A second pipe reports the helper's failure (its errno and message) to
// wrapExec's caller, who reads it to EOF once the helper runs (the exec
// closes it): a limit the kernel refuses is then a failed start, as when
// hsu sets it from outside. cmd.ExtraFiles gains the helper's ends of
// both pipes: close the files after cmd.ExtraFiles's original ones once
// cmd has started, then read the returned status (helperStatus).
func Wrap(cmd *exec.Cmd, l Limits, what string) (*os.File, error) {
	exe := "/proc/self/exe" // this very binary, even if replaced on disk since
	if runtime.GOOS != "linux" {
		var err error
		if exe, err = os.Executable(); err == nil {
			_, err = os.Stat(exe) // replaced or removed since hsu started?
		}
		if err != nil {
			return nil, fmt.Errorf("%s: the hsu binary, which applies it before the program starts (exec helper): %w", what, err)
		}
	}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("%s: exec helper: %w", what, err)
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("%s: exec helper: %w", what, err)
	}
	go func() {
		// More than a pipe holds: written while the helper reads.
		w.Write([]byte(strings.Join(env, "\x00")))
		w.Close()
	}()
	l.EnvFD, l.StatusFD = 3+len(cmd.ExtraFiles), 4+len(cmd.ExtraFiles)
	cmd.ExtraFiles = append(cmd.ExtraFiles, r, statusW)
	l.Path, l.Argv = cmd.Path, cmd.Args
	if a := cmd.SysProcAttr; a != nil && a.Credential != nil {
		l.Cred, a.Credential = a.Credential, nil
	}
	// argv[0] "hsu", not the path: a binary that dispatches on its name
	// (the testscript test binary doubling as hsu) must run hsu's main.
	cmd.Path, cmd.Args, cmd.Env = exe, l.args("hsu"), []string{}
	return statusR, nil
}

// heldMark is what a held helper writes on its status pipe once its
// limits are applied and it waits for hsu's release (failures begin with
// an errno name, "E...").
const heldMark = 'H'

// holdExec makes the helper of a wrapped cmd wait, before it runs the
// program, for the byte hsu writes on the returned pipe once it has
// recorded the instance's PID (release). If hsu dies first the pipe gives
// EOF and the helper exits without running the program: without a cgroup
// to find it by, an instance hsu has not recorded must never run. Add it
// after wrapExec; its read end joins cmd.ExtraFiles like the helper's.
func Hold(cmd *exec.Cmd) (*os.File, error) {
	r, w, err := os.Pipe() // close-on-exec: no other child holds the write end
	if err != nil {
		return nil, fmt.Errorf("hold: exec helper: %w", err)
	}
	fd := 3 + len(cmd.ExtraFiles)
	cmd.ExtraFiles = append(cmd.ExtraFiles, r)
	cmd.Args = append(cmd.Args[:2:2], append([]string{"waitfd=" + strconv.Itoa(fd)}, cmd.Args[2:]...)...)
	return w, nil
}

// release lets a held helper run its program.
func Release(w *os.File) error {
	defer w.Close()
	if _, err := w.Write([]byte{1}); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	return nil
}

// helperHeld reads a held helper's status up to its held mark: nil once
// it waits for the release, else its failure (see helperStatus).
func Held(r *os.File) error {
	var b [1]byte
	n, err := r.Read(b[:])
	if n == 1 && b[0] == heldMark {
		return nil
	}
	if n == 0 && err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("exec helper status: %w", err)
	}
	rest, _ := io.ReadAll(r)
	all := append(b[:n:n], rest...)
	if len(all) == 0 {
		return errors.New("exec helper: exited before holding the worker")
	}
	return statusError(all)
}

// helperStatus reads the exec helper's status pipe to EOF: nothing means
// the program was exec'd; otherwise the failure, with its errno.
func Status(r *os.File) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("exec helper status: %w", err)
	}
	return statusError(b)
}

// statusError is the failure a helper wrote ("ERRNO message"), nil for
// nothing.
func statusError(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	name, msg, _ := strings.Cut(string(b), " ")
	if e, ok := errno.Lookup(name); ok {
		return fmt.Errorf("%s: %w", msg, e)
	}
	return errors.New(msg)
}

// RunExecHelper is the exec helper's entry point; main calls it first.
// It returns at once unless this process was started as the helper;
// then it never returns: it applies the limits and execs the program, or
// prints why it could not to stderr (the instance's log) and exits 127.
func Run() {
	if len(os.Args) < 2 || os.Args[1] != Arg {
		return
	}
	runExecHelper(os.Args[2:])
}

func runExecHelper(args []string) {
	// The status descriptor first, so that even arguments this helper
	// cannot decode (an hsu of another version) are reported as a failed
	// start rather than as a start followed by exit 127.
	statusFD := 0
	for _, a := range args {
		if a == "--" {
			break
		}
		if v, ok := strings.CutPrefix(a, "statusfd="); ok {
			if n, err := strconv.Atoi(v); err == nil && n >= 3 {
				statusFD = n
				syscall.CloseOnExec(n) // closed by a successful exec: EOF for hsu
			}
		}
	}
	l, err := decodeExecArgs(args)
	if err == nil {
		err = l.apply()
	}
	env := os.Environ()
	if err == nil && l.EnvFD > 0 {
		env, err = readEnv(l.EnvFD)
	}
	if err == nil && l.WaitFD > 0 {
		if statusFD > 0 {
			syscall.Write(statusFD, []byte{heldMark})
			statusFD = 0 // hsu has stopped reading: an exec failure goes to stderr only
		}
		if !waitRelease(l.WaitFD) {
			os.Exit(127) // hsu died (or gave up) before recording this process
		}
	}
	if err == nil {
		err = fmt.Errorf("exec %s: %w", l.Path, syscall.Exec(l.Path, l.Argv, env))
	}
	fmt.Fprintf(os.Stderr, "hsu: cannot start the worker: %v\n", err)
	if statusFD > 0 {
		name := "EIO"
		var en syscall.Errno
		if errors.As(err, &en) {
			name = errno.Name(en)
		}
		syscall.Write(statusFD, []byte(name+" "+err.Error()))
	}
	os.Exit(127)
}

// waitRelease waits for hsu's release byte on fd: false on EOF.
func waitRelease(fd int) bool {
	var b [1]byte
	for {
		n, err := syscall.Read(fd, b[:])
		if err == syscall.EINTR {
			continue
		}
		syscall.Close(fd)
		return n == 1
	}
}

// readEnv reads the program's environment from the helper's envfd and
// closes it, so the program does not inherit it.
func readEnv(fd int) ([]string, error) {
	f := os.NewFile(uintptr(fd), "env")
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("read the environment: %w", err)
	}
	if len(b) == 0 {
		return []string{}, nil
	}
	return strings.Split(string(b), "\x00"), nil
}
