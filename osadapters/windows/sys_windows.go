//go:build windows

package windows

import (
	"errors"
	"fmt"
	"github.com/hsu-run/hsu/osadapters/pidfile"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/shirou/gopsutil/v4/net"
	"golang.org/x/sys/windows"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/engine"
)

// Windows is the System for Windows (DESIGN.md §3). Every instance runs in
// its own Job Object, assigned while its first thread is still suspended,
// so not even its first child escapes; the job carries the instance's
// limits and kills everything in it when its last handle (hsu's) closes.
//
// The consequence of kill-on-close: an hsu crash takes its workers down
// with it; nothing leaks, and nothing is left to re-adopt. A recovered
// instance fails Verify (its process is gone, or its PID now belongs to a
// process created at another time) and the restart policy handles it as a
// crash. Unmanaged workers are not in a job and are re-adopted as on Unix.
//
// Every instance is also its own console process group
// (CREATE_NEW_PROCESS_GROUP) on hsu's console, which is how a graceful
// stop reaches it: CTRL_BREAK to the group.
type Windows struct {
	StateDir string
	port     windows.Handle // completion port of every job's limit messages
	console  bool           // workers share a console with hsu: CTRL_BREAK reaches them

	mu       sync.Mutex
	jobs     map[engine.Handle]*job
	byPID    map[int]*job
	byKey    map[uintptr]*job
	nextKey  uintptr
	watching map[engine.Handle]bool
	cpu      map[engine.Handle]winCPUSample // previous CPU sample per instance
}

type winCPUSample struct {
	time int64 // user+kernel, 100 ns units
	at   time.Time
}

// NewWindows prepares the Windows system.
func New(stateDir string) (*Windows, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	port, err := windows.CreateIoCompletionPort(windows.InvalidHandle, 0, 0, 1)
	if err != nil {
		return nil, fmt.Errorf("job completion port: %w", err)
	}
	ignoreBreak()
	w := &Windows{StateDir: stateDir, port: port, console: ensureConsole(),
		jobs: map[engine.Handle]*job{}, byPID: map[int]*job{}, byKey: map[uintptr]*job{},
		watching: map[engine.Handle]bool{}, cpu: map[engine.Handle]winCPUSample{}}
	go w.notifications()
	return w, nil
}

var (
	procAllocConsole     = kernel32.NewProc("AllocConsole")
	procGetConsoleWindow = kernel32.NewProc("GetConsoleWindow")
	procShowWindow       = windows.NewLazySystemDLL("user32.dll").NewProc("ShowWindow")

	procSetConsoleCtrlHandler = kernel32.NewProc("SetConsoleCtrlHandler")
	// swallowBreak handles CTRL_BREAK_EVENT for hsu itself: hsu sends it
	// to its workers' process groups, and one that reaches hsu (a PID that
	// is no longer a group, microsoft/terminal#335) must not stop
	// everything. Ctrl-C still reaches Go's handler.
	swallowBreak = windows.NewCallback(func(ctrlType uint32) uintptr {
		if ctrlType == windows.CTRL_BREAK_EVENT {
			return 1
		}
		return 0
	})
)

// ignoreBreak installs swallowBreak; handlers run newest first, so it
// precedes Go's own.
func ignoreBreak() { procSetConsoleCtrlHandler.Call(swallowBreak, 1) }

// ensureConsole makes sure hsu has a console its workers inherit: CTRL_BREAK
// only reaches process groups on the sender's console. Run from a console,
// hsu has one already (AllocConsole then fails with ERROR_ACCESS_DENIED);
// run without one (a service), it allocates one and hides its window.
// False when there is none: workers then start without a window, and a
// graceful stop cannot reach them (the stop timeout kills them).
func ensureConsole() bool {
	r, _, err := procAllocConsole.Call()
	if r == 0 {
		return errors.Is(err, windows.ERROR_ACCESS_DENIED)
	}
	if hwnd, _, _ := procGetConsoleWindow.Call(); hwnd != 0 {
		procShowWindow.Call(hwnd, windows.SW_HIDE)
	}
	return true
}

// Spawn starts an instance suspended, puts it in its Job Object, then lets
// it run; its stdout and stderr are pipes drained to the log sink.
func (w *Windows) Spawn(h engine.Handle, spec *config.Worker, env []string, files []*os.File, logs LogSink, exited func(ExitStatus)) (Proc, error) {
	fail := func(err error) (Proc, error) { return Proc{}, fmt.Errorf("start %s: %w", instKey(h), err) }
	if len(files) > 0 {
		return fail(fmt.Errorf("%w: socket handover (integrated workers) is not supported on Windows", syscall.EINVAL))
	}
	cmd, err := w.command(spec, env)
	if err != nil {
		return fail(err)
	}
	j, err := w.newJob(spec)
	if err != nil {
		return fail(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		w.dropJob(j)
		return fail(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		w.dropJob(j)
		return fail(err)
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	startErr := cmd.Start()
	outW.Close() // the child has its copies
	errW.Close()
	if startErr != nil {
		outR.Close()
		errR.Close()
		w.dropJob(j)
		return fail(spawnErrno(startErr))
	}
	p, err := w.enter(j, cmd)
	if err != nil {
		// Still suspended: it never ran a single instruction of its own.
		cmd.Process.Kill()
		cmd.Process.Wait()
		outR.Close()
		errR.Close()
		w.dropJob(j)
		return fail(err)
	}
	w.mu.Lock()
	w.jobs[h] = j
	w.byPID[p.PID] = j
	w.mu.Unlock()
	drained := w.drain(h, logs, outR, errR)
	go func() {
		ps, _ := cmd.Process.Wait()
		// The leader is gone: terminate the rest of its tree, so nothing
		// survives and the pipes reach EOF (every writer is dead).
		j.terminate()
		j.waitEmpty(time.Now().Add(5 * time.Second))
		winWaitDrained(drained, 5*time.Second, outR, errR)
		w.flush(j)
		st := j.status(ps)
		w.mu.Lock()
		delete(w.jobs, h)
		delete(w.byPID, p.PID)
		delete(w.byKey, j.key)
		delete(w.cpu, h)
		w.mu.Unlock()
		j.close()
		exited(st)
	}()
	return p, nil
}

// command builds the instance's command, created suspended in a process
// group of its own; shell runs with cmd.exe /C.
func (w *Windows) command(spec *config.Worker, env []string) (*exec.Cmd, error) {
	attr := &syscall.SysProcAttr{CreationFlags: windows.CREATE_SUSPENDED | windows.CREATE_NEW_PROCESS_GROUP}
	if !w.console {
		attr.CreationFlags |= windows.CREATE_NO_WINDOW // no console window per worker
	}
	if spec.Shell != "" {
		comspec := shellPath(env)
		// cmd.exe parses its command line itself: /S /C "line" strips the
		// outer quotes and runs line exactly as written (Go's argument
		// quoting would escape its quotes); /D skips AutoRun commands.
		attr.CmdLine = `"` + comspec + `" /d /s /c "` + spec.Shell + `"`
		return &exec.Cmd{Path: comspec, Args: []string{comspec, "/d", "/s", "/c", spec.Shell}, Env: env, Dir: spec.Workdir, SysProcAttr: attr}, nil
	}
	path, err := winLookPath(spec.Command[0], spec.Workdir, env)
	if err != nil {
		return nil, err
	}
	return &exec.Cmd{Path: path, Args: spec.Command, Env: env, Dir: spec.Workdir, SysProcAttr: attr}, nil
}

// newJob creates the instance's job and registers its completion key.
func (w *Windows) newJob(spec *config.Worker) (*job, error) {
	w.mu.Lock()
	w.nextKey++
	key := w.nextKey
	w.mu.Unlock()
	j, err := newJob(limitsFor(spec), w.port, key)
	if err != nil {
		return nil, err
	}
	if j.key != 0 {
		w.mu.Lock()
		w.byKey[j.key] = j
		w.mu.Unlock()
	}
	return j, nil
}

func (w *Windows) dropJob(j *job) {
	w.mu.Lock()
	delete(w.byKey, j.key)
	w.mu.Unlock()
	j.close()
}

// enter puts the suspended leader into its job and resumes it.
func (w *Windows) enter(j *job, cmd *exec.Cmd) (Proc, error) {
	pid := cmd.Process.Pid
	// os/exec holds the process handle until Wait, so this PID is the
	// child's; hsu's own handle keeps it so until the job is closed.
	ph, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE|windows.PROCESS_SUSPEND_RESUME|
		windows.PROCESS_QUERY_LIMITED_INFORMATION|windows.SYNCHRONIZE, false, uint32(pid))
	if err != nil {
		return Proc{}, fmt.Errorf("OpenProcess %d: %w", pid, err)
	}
	j.leader = ph
	err = j.with(func(h windows.Handle) error { return windows.AssignProcessToJobObject(h, ph) })
	if err != nil {
		return Proc{}, fmt.Errorf("AssignProcessToJobObject: %w", err)
	}
	if j.start, err = creationTime(ph); err != nil {
		return Proc{}, err
	}
	if err := ntResumeProcess(ph); err != nil {
		return Proc{}, err
	}
	return Proc{PID: pid, StartTime: j.start, Group: true}, nil
}

// status is how the instance ended, from its leader's exit and what hsu
// did to its job.
func (j *job) status(ps *os.ProcessState) ExitStatus {
	code := -1
	if ps != nil {
		code = ps.ExitCode()
	}
	switch {
	case j.oom.Load():
		return ExitStatus{Code: -1, Signal: "KILL", OOM: true}
	case j.killed.Load() && code == terminateCode:
		return ExitStatus{Code: -1, Signal: "KILL"}
	}
	return ExitStatus{Code: code}
}

// drain copies both pipes into the log sink, one goroutine each (an
// anonymous pipe cannot join the netpoller); the channel closes once both
// reached EOF and their writers are closed (a last line without newline
// is routed then).
func (w *Windows) drain(h engine.Handle, logs LogSink, out, errR *os.File) chan struct{} {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, s := range []struct {
		name string
		f    *os.File
	}{{"stdout", out}, {"stderr", errR}} {
		var dst io.WriteCloser = discardCloser{}
		if logs != nil {
			dst = logs.Writer(h.Worker, h.Replica, s.name)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 32<<10)
			for {
				n, err := s.f.Read(buf)
				if n > 0 {
					dst.Write(buf[:n])
				}
				if err != nil {
					break
				}
			}
			dst.Close()
		}()
	}
	go func() { wg.Wait(); close(done) }()
	return done
}

type discardCloser struct{}

func (discardCloser) Write(p []byte) (int, error) { return len(p), nil }
func (discardCloser) Close() error                { return nil }

// winWaitDrained waits for the output to reach EOF. Every writer is in the
// job, terminated by now; should one still hold a pipe, the read ends are
// closed after the deadline (closing a pipe cancels its pending read) so
// the exit is never held up forever.
func winWaitDrained(done chan struct{}, limit time.Duration, files ...*os.File) {
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		for _, f := range files {
			f.Close()
		}
		// A log sink that blocks (a QuickEdit selection pauses console
		// writes) must not hold the exit up either.
		t.Reset(time.Second)
		select {
		case <-done:
		case <-t.C:
		}
	}
	for _, f := range files {
		f.Close()
	}
}

// Watch follows a process hsu did not start in this run: an unmanaged
// worker, or (in principle) a recovered instance, which kill-on-close
// makes gone already. Unlike on Unix, the exit code of a process that is
// not hsu's child is available.
func (w *Windows) Watch(h engine.Handle, p Proc, exited func(ExitStatus)) error {
	w.mu.Lock()
	if w.watching[h] {
		w.mu.Unlock()
		return nil
	}
	w.watching[h] = true
	w.mu.Unlock()
	ph, err := openVerified(p, windows.SYNCHRONIZE|windows.PROCESS_QUERY_LIMITED_INFORMATION)
	if err != nil {
		w.mu.Lock()
		delete(w.watching, h)
		w.mu.Unlock()
		return err
	}
	go func() {
		windows.WaitForSingleObject(ph, windows.INFINITE)
		st := ExitStatus{Code: -1, Signal: "UNKNOWN"}
		var code uint32
		if windows.GetExitCodeProcess(ph, &code) == nil {
			st = ExitStatus{Code: int(code)}
		}
		windows.CloseHandle(ph)
		w.mu.Lock()
		delete(w.watching, h)
		delete(w.cpu, h)
		w.mu.Unlock()
		exited(st)
	}()
	return nil
}

// jobOf returns the job of a live managed instance started by this hsu.
func (w *Windows) jobOf(p Proc) *job {
	w.mu.Lock()
	defer w.mu.Unlock()
	if j := w.byPID[p.PID]; j != nil && j.start == p.StartTime {
		return j
	}
	return nil
}

// Signal: TERM, INT and BREAK send CTRL_BREAK_EVENT to the instance's
// process group (CTRL_C_EVENT cannot be sent to a group: Windows delivers
// it to a whole console only); KILL terminates its job.
func (w *Windows) Signal(p Proc, sig string) error {
	if p.PID <= 0 {
		return fmt.Errorf("signal %s: no process", sig)
	}
	j := w.jobOf(p)
	switch sig {
	case "KILL":
		if j != nil {
			return j.kill()
		}
		err := terminateProcess(p, time.Time{}) // an adopted process: it alone
		if errors.Is(err, errNotThatProcess) && p.Group {
			return nil // a managed instance that is gone: nothing to kill
		}
		if err != nil {
			return fmt.Errorf("signal KILL to %d: %w", p.PID, err)
		}
		return nil
	case "TERM", "INT", "BREAK":
	default:
		return fmt.Errorf("signal %s does not exist on Windows: TERM, INT and BREAK send CTRL_BREAK, KILL terminates", sig)
	}
	if j == nil {
		if p.Group && !w.Verify(p) {
			return nil // a managed instance that is gone: nothing to signal
		}
		return fmt.Errorf("signal %s to %d: CTRL_BREAK reaches only the process groups hsu started on its console; use KILL", sig, p.PID)
	}
	if !w.console {
		return fmt.Errorf("signal %s to %d: hsu has no console, so CTRL_BREAK cannot reach the worker", sig, p.PID)
	}
	err := j.with(func(windows.Handle) error {
		// Only to a live leader, which leads its group: given the PID of a
		// process on the console that leads no group, the console delivers
		// the event to every process on it, hsu included
		// (microsoft/terminal#335). The leader's exit is followed at once
		// by the end of its job.
		if j.leaderExited() {
			return nil
		}
		if err := windows.GenerateConsoleCtrlEvent(windows.CTRL_BREAK_EVENT, uint32(p.PID)); err != nil {
			return fmt.Errorf("signal %s to %d: GenerateConsoleCtrlEvent: %w", sig, p.PID, err)
		}
		return nil
	})
	if errors.Is(err, errJobClosed) {
		return nil // its instance just ended
	}
	return err
}

// Kill terminates the instance's job and waits until no process is left
// in it, or 5 s have passed.
func (w *Windows) Kill(h engine.Handle, p Proc) error {
	deadline := time.Now().Add(5 * time.Second)
	w.mu.Lock()
	j := w.jobs[h]
	w.mu.Unlock()
	if j == nil {
		if p.PID <= 0 {
			return nil
		}
		// Adopted (or recovered): the process alone, if it is still the one.
		if err := terminateProcess(p, deadline); err != nil && !errors.Is(err, errNotThatProcess) {
			return fmt.Errorf("kill %s: %w", instKey(h), err)
		}
		return nil
	}
	if err := j.kill(); err != nil {
		return fmt.Errorf("kill %s: %w", instKey(h), err)
	}
	if !j.waitEmpty(deadline) {
		return fmt.Errorf("kill %s: processes still alive after 5s", instKey(h))
	}
	return nil
}

var errNotThatProcess = errors.New("not running (or its PID belongs to another process now)")

// openVerified opens p if it is still running and is the process that
// was recorded: same PID and same creation time. The handle pins it, so
// its PID cannot be reused while it is open.
func openVerified(p Proc, access uint32) (windows.Handle, error) {
	if p.PID <= 0 || p.StartTime == 0 {
		return 0, errNotThatProcess
	}
	ph, err := windows.OpenProcess(access|windows.PROCESS_QUERY_LIMITED_INFORMATION|windows.SYNCHRONIZE, false, uint32(p.PID))
	if err != nil {
		if errors.Is(err, windows.ERROR_INVALID_PARAMETER) {
			return 0, errNotThatProcess // no such process
		}
		return 0, fmt.Errorf("OpenProcess %d: %w", p.PID, err)
	}
	st, err := creationTime(ph)
	ev, _ := windows.WaitForSingleObject(ph, 0)
	if err != nil || st != p.StartTime || ev == windows.WAIT_OBJECT_0 {
		windows.CloseHandle(ph)
		return 0, errNotThatProcess
	}
	return ph, nil
}

// terminateProcess terminates p alone, if it is still the recorded
// process, and waits for its end until deadline (zero: no wait).
func terminateProcess(p Proc, deadline time.Time) error {
	ph, err := openVerified(p, windows.PROCESS_TERMINATE)
	if err != nil {
		return err
	}
	defer windows.CloseHandle(ph)
	if err := windows.TerminateProcess(ph, terminateCode); err != nil {
		return fmt.Errorf("TerminateProcess %d: %w", p.PID, err)
	}
	if deadline.IsZero() {
		return nil
	}
	ms := uint32(max(time.Until(deadline), 0) / time.Millisecond)
	if ev, _ := windows.WaitForSingleObject(ph, ms); ev != windows.WAIT_OBJECT_0 {
		return fmt.Errorf("process %d still alive after 5s", p.PID)
	}
	return nil
}

// Verify reports whether p is still the process that was started: alive,
// with the creation time recorded when it was.
func (w *Windows) Verify(p Proc) bool {
	ph, err := openVerified(p, 0)
	if err != nil {
		return false
	}
	windows.CloseHandle(ph)
	return true
}

// creationTime is a process's creation time, a FILETIME (100 ns units
// since 1601) as one int64: unique enough, with the PID, to never confuse
// a reused PID with the process it once named.
func creationTime(ph windows.Handle) (int64, error) {
	var created, exit, kernel, user windows.Filetime
	if err := windows.GetProcessTimes(ph, &created, &exit, &kernel, &user); err != nil {
		return 0, fmt.Errorf("GetProcessTimes: %w", err)
	}
	return filetime(created), nil
}

func filetime(ft windows.Filetime) int64 {
	return int64(ft.HighDateTime)<<32 | int64(ft.LowDateTime)
}

// startTimeOf is the creation time of pid, or an error.
func startTimeOf(pid int) (int64, error) {
	ph, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION|windows.SYNCHRONIZE, false, uint32(pid))
	if errors.Is(err, windows.ERROR_INVALID_PARAMETER) {
		return 0, fmt.Errorf("pid %d is not running", pid)
	}
	if err != nil {
		return 0, fmt.Errorf("pid %d: %w", pid, err)
	}
	defer windows.CloseHandle(ph)
	if ev, _ := windows.WaitForSingleObject(ph, 0); ev == windows.WAIT_OBJECT_0 {
		return 0, fmt.Errorf("pid %d is not running", pid)
	}
	return creationTime(ph)
}

// Sample measures the instance's job: the working sets of its processes,
// the CPU time of every process it ever had
// (JobObjectBasicAccountingInformation), and its threads where a pids
// limit is set (else its processes). An adopted process is measured
// alone.
func (w *Windows) Sample(h engine.Handle, p Proc) (engine.Usage, error) {
	w.mu.Lock()
	j := w.jobs[h]
	w.mu.Unlock()
	us := engine.Usage{Source: "proc"}
	var cpu int64
	var pids []int
	if j != nil {
		us.Source = "job"
		a, err := j.accounting()
		if err != nil {
			return us, fmt.Errorf("sample %s: %w", instKey(h), err)
		}
		cpu = a.TotalUserTime + a.TotalKernelTime
		if pids, err = j.pids(); err != nil {
			return us, fmt.Errorf("sample %s: %w", instKey(h), err)
		}
	} else {
		ph, err := openVerified(p, 0)
		if err != nil {
			return us, fmt.Errorf("sample %s: %w", instKey(h), err)
		}
		var created, exit, kernel, user windows.Filetime
		err = windows.GetProcessTimes(ph, &created, &exit, &kernel, &user)
		windows.CloseHandle(ph)
		if err != nil {
			return us, fmt.Errorf("sample %s: %w", instKey(h), err)
		}
		cpu = filetime(kernel) + filetime(user)
		pids = []int{p.PID}
	}
	procs := 0
	for _, pid := range pids {
		if ws, err := workingSet(pid); err == nil { // else it exited since the list was taken
			us.Memory += ws
			procs++
		}
	}
	if procs == 0 {
		return us, fmt.Errorf("sample %s: no process", instKey(h))
	}
	us.Pids = procs
	us.CPUSeconds = float64(cpu) / 1e7 // 100 ns units
	if j != nil && j.threads {
		// pids counts threads, as the Linux pids controller does; only
		// workers with a pids limit pay for the system-wide snapshot.
		n, err := threadCount(pids)
		if err != nil {
			return us, fmt.Errorf("sample %s: %w", instKey(h), err)
		}
		us.Pids = max(n, procs)
	}
	// CPU is the average since the previous sample of this instance.
	now := time.Now()
	w.mu.Lock()
	prev, ok := w.cpu[h]
	if j == nil || w.jobs[h] == j { // not for an instance that ended meanwhile
		w.cpu[h] = winCPUSample{time: cpu, at: now}
	}
	w.mu.Unlock()
	if ok && now.After(prev.at) && cpu >= prev.time {
		us.CPU = float64(cpu-prev.time) / 1e7 / now.Sub(prev.at).Seconds()
	}
	return us, nil
}

// Find locates an unmanaged worker's process by pidfile or discovery.
func (w *Windows) Find(spec *config.Worker) (Proc, error) {
	if spec.Pidfile != "" {
		pid, err := pidfile.Read(spec.Pidfile)
		if err != nil {
			return Proc{}, err
		}
		st, err := startTimeOf(pid)
		if err != nil {
			return Proc{}, fmt.Errorf("pidfile %s: %w", spec.Pidfile, err)
		}
		// A stale pidfile: the PID was reused by a process created after
		// the file was written. Never adopt that one. (2 s: FAT volumes
		// store modification times at 2 s granularity.)
		created := time.Unix(0, (&windows.Filetime{HighDateTime: uint32(st >> 32), LowDateTime: uint32(st)}).Nanoseconds())
		if fi, err := os.Stat(spec.Pidfile); err == nil && created.After(fi.ModTime().Add(2*time.Second)) {
			return Proc{}, fmt.Errorf("pidfile %s: pid %d belongs to a process started after the file was written (stale pidfile)", spec.Pidfile, pid)
		}
		return Proc{PID: pid, StartTime: st}, nil
	}
	if spec.Discover != nil {
		return winDiscover(spec.Discover)
	}
	return Proc{}, fmt.Errorf("no pidfile or discover")
}

// winDiscover finds an unmanaged process by command line (read from each
// process) and/or listening TCP port (gopsutil/net: GetExtendedTcpTable).
func winDiscover(d *config.Discover) (Proc, error) {
	var candidates []int
	if d.Port != 0 {
		conns, err := net.Connections("tcp") // IPv4 and IPv6
		if err != nil {
			return Proc{}, fmt.Errorf("discover: %w", err)
		}
		for _, c := range conns {
			if c.Status == "LISTEN" && c.Laddr.Port == uint32(d.Port) && c.Pid > 0 && !slices.Contains(candidates, int(c.Pid)) {
				candidates = append(candidates, int(c.Pid))
			}
		}
		if len(candidates) == 0 {
			return Proc{}, fmt.Errorf("discover: nothing listens on port %d", d.Port)
		}
	} else {
		pids, err := allPIDs()
		if err != nil {
			return Proc{}, fmt.Errorf("discover: %w", err)
		}
		candidates = pids
	}
	slices.Sort(candidates)
	self := os.Getpid()
	for _, pid := range candidates {
		if pid == self || pid <= 4 { // 0 and 4: the Idle and System processes
			continue
		}
		if d.Cmdline != "" {
			cl, err := commandLine(pid)
			if err != nil || !strings.Contains(cl, d.Cmdline) {
				continue
			}
		}
		st, err := startTimeOf(pid)
		if err != nil {
			continue // gone, or not ours to open
		}
		return Proc{PID: pid, StartTime: st}, nil
	}
	return Proc{}, fmt.Errorf("discover: no process matches (cmdline %q, port %d)", d.Cmdline, d.Port)
}

// systemTimeOfDay is the head of SYSTEM_TIMEOFDAY_INFORMATION (winternl.h,
// the SystemTimeOfDayInformation class of NtQuerySystemInformation); the
// kernel accepts any length up to the full structure.
type systemTimeOfDay struct {
	BootTime     int64 // FILETIME of the boot
	CurrentTime  int64
	TimeZoneBias int64
	TimeZoneID   uint32
	Reserved     uint32
}

// BootID identifies this boot by the kernel's boot time, a constant (unlike
// now minus the uptime, which jitters by a tick). Setting the clock shifts
// it; a state file then looks like another boot's and its instances are
// started afresh, which is what happens on Windows anyway.
func (w *Windows) BootID() string {
	var t systemTimeOfDay
	if err := windows.NtQuerySystemInformation(windows.SystemTimeOfDayInformation, unsafe.Pointer(&t), uint32(unsafe.Sizeof(t)), nil); err != nil || t.BootTime == 0 {
		return "windows"
	}
	return fmt.Sprintf("windows-%d", t.BootTime/1e7) // seconds
}

// Throttling reports whether Windows throttles an instance's resource
// (the engine's ActThrottle): a cpu throttle is its job's CPU rate cap,
// set at the start.
func (w *Windows) Throttling(_ engine.Handle, resource string) error {
	if resource == "cpu" {
		return nil
	}
	return fmt.Errorf("%s throttling is not enforced on Windows", resource)
}
