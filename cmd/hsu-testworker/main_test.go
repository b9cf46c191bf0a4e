//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// worker is the hsu-testworker binary built once by TestMain.
var worker string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hsu-testworker-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	worker = filepath.Join(dir, "hsu-testworker")
	goTool := "go"
	if _, err := exec.LookPath(goTool); err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	if out, err := exec.Command(goTool, "build", "-o", worker, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build hsu-testworker: %v\n%s", err, out)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running hsu-testworker and what it printed.
type proc struct {
	t       *testing.T
	cmd     *exec.Cmd
	started time.Time // just before exec: the worker's uptime is less than time.Since(started)
	stderr  *os.File
	exited  chan struct{}

	mu      sync.Mutex
	lines   []string
	eof     bool
	changed chan struct{} // closed and replaced when lines or eof change
	kids    map[int]uint64
}

// start runs the worker with args in its own process group.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	return startCmd(t, exec.Command(worker, args...))
}

// startCmd starts cmd (the worker, possibly through a shell), reading its
// stdout line by line. Cleanup kills its process group and every
// grandchild it reported (checked by start time, so a reused pid is safe).
func startCmd(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &proc{t: t, cmd: cmd, stderr: stderr, exited: make(chan struct{}), changed: make(chan struct{}), kids: map[int]uint64{}}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	go p.read(r)
	t.Cleanup(func() {
		pid := cmd.Process.Pid
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		p.mu.Lock()
		for kid, st := range p.kids {
			if s, err := readStat(kid); err == nil && s.startTime == st {
				_ = syscall.Kill(kid, syscall.SIGKILL)
			}
		}
		p.mu.Unlock()
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("worker %d not reaped", pid)
		}
		_ = r.Close()
		if t.Failed() {
			b, _ := os.ReadFile(stderr.Name())
			t.Logf("worker stdout:\n%s\nworker stderr:\n%s", strings.Join(p.snapshot(), "\n"), b)
		}
	})
	return p
}

func (p *proc) read(r io.Reader) {
	br := bufio.NewReaderSize(r, 1<<16)
	for {
		line, err := br.ReadString('\n')
		p.mu.Lock()
		if line != "" {
			line = strings.TrimSuffix(line, "\n")
			p.lines = append(p.lines, line)
			if s, ok := strings.CutPrefix(line, "testworker: child pid "); ok {
				if pid, err := strconv.Atoi(s); err == nil {
					st, _ := readStat(pid)
					p.kids[pid] = st.startTime
				}
			}
		}
		if err != nil {
			p.eof = true
		}
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) snapshot() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// waitLine waits for a stdout line for which match holds and returns it.
func (p *proc) waitLine(match func(string) bool, what string) string {
	p.t.Helper()
	deadline := time.After(10 * time.Second)
	next := 0
	for {
		p.mu.Lock()
		for ; next < len(p.lines); next++ {
			if match(p.lines[next]) {
				line := p.lines[next]
				p.mu.Unlock()
				return line
			}
		}
		eof, changed := p.eof, p.changed
		p.mu.Unlock()
		if eof {
			p.t.Fatalf("worker output ended without %s", what)
		}
		select {
		case <-changed:
		case <-deadline:
			p.t.Fatalf("no %s within 10s", what)
		}
	}
}

func (p *proc) waitPrefix(prefix string) string {
	p.t.Helper()
	return p.waitLine(func(l string) bool { return strings.HasPrefix(l, prefix) }, fmt.Sprintf("line %q", prefix))
}

func (p *proc) hasLine(line string) bool {
	for _, l := range p.snapshot() {
		if l == line {
			return true
		}
	}
	return false
}

// wait waits for the worker to exit and returns its wait status.
func (p *proc) wait() syscall.WaitStatus {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.t.Fatal("worker did not exit within 10s")
	}
	return p.cmd.ProcessState.Sys().(syscall.WaitStatus)
}

// childPids waits for n "child pid" lines and returns the pids.
func (p *proc) childPids(n int) []int {
	p.t.Helper()
	var pids []int
	p.waitLine(func(l string) bool {
		if s, ok := strings.CutPrefix(l, "testworker: child pid "); ok {
			pid, err := strconv.Atoi(s)
			if err != nil {
				p.t.Fatalf("bad line %q", l)
			}
			pids = append(pids, pid)
		}
		return len(pids) == n
	}, fmt.Sprintf("%d child pid lines", n))
	return pids
}

// addr waits for the listening (or inherited socket) line.
func (p *proc) addr() string {
	p.t.Helper()
	l := p.waitLine(func(l string) bool {
		return strings.HasPrefix(l, "testworker: listening on ") || strings.HasPrefix(l, "testworker: using inherited socket ")
	}, "listening line")
	return l[strings.LastIndex(l, " ")+1:]
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stat is a few fields of /proc/PID/stat.
type stat struct {
	state           string
	ppid, pgrp, sid int
	utime, stime    uint64
	startTime       uint64
}

func readStat(pid int) (stat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return stat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return stat{}, errors.New("bad stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return stat{}, errors.New("short stat")
	}
	// f[0] is field 3 (state); field n is f[n-3].
	num := func(n int) uint64 { v, _ := strconv.ParseUint(f[n-3], 10, 64); return v }
	return stat{
		state: f[0], ppid: int(num(4)), pgrp: int(num(5)), sid: int(num(6)),
		utime: num(14), stime: num(15), startTime: num(22),
	}, nil
}

// alive reports whether pid is a live (not zombie) process started at st.
func alive(pid int, st uint64) bool {
	s, err := readStat(pid)
	return err == nil && s.startTime == st && s.state != "Z" && s.state != "X"
}

func TestStartLineAndExitAfter(t *testing.T) {
	t.Parallel()
	p := start(t, "--exit-after", "300ms", "--exit-code", "3")
	first := p.waitLine(func(string) bool { return true }, "first line")
	if want := fmt.Sprintf("testworker: started pid %d", p.pid()); first != want {
		t.Errorf("first line %q, want %q", first, want)
	}
	ws := p.wait()
	if !ws.Exited() || ws.ExitStatus() != 3 {
		t.Errorf("wait status %v, want exit 3", ws)
	}
	if d := time.Since(p.started); d < 300*time.Millisecond {
		t.Errorf("exited after %v, before --exit-after", d)
	}
}

func TestExitSignal(t *testing.T) {
	t.Parallel()
	for name, sig := range map[string]syscall.Signal{"KILL": syscall.SIGKILL, "SEGV": syscall.SIGSEGV, "ABRT": syscall.SIGABRT, "SIGTERM": syscall.SIGTERM} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := start(t, "--exit-after", "10ms", "--exit-signal", name)
			ws := p.wait()
			if !ws.Signaled() || ws.Signal() != sig {
				t.Errorf("wait status %v, want killed by %v", ws, sig)
			}
		})
	}
}

func TestIgnoreSigterm(t *testing.T) {
	t.Parallel()
	p := start(t, "--ignore-sigterm", "--children", "1")
	kid := p.childPids(1)[0]
	st, err := readStat(kid)
	if err != nil {
		t.Fatal(err)
	}
	// Ignored signals are dropped when sent; the USR1 line afterwards shows
	// the worker is alive and past them.
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT} {
		if err := syscall.Kill(-p.pid(), sig); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Kill(p.pid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	p.waitPrefix("testworker: got SIGUSR1")
	if !alive(kid, st.startTime) {
		t.Errorf("grandchild %d died of an ignored signal", kid)
	}
	if p.hasLine("testworker: got SIGTERM, exiting") {
		t.Error("SIGTERM handled despite --ignore-sigterm")
	}
	if err := syscall.Kill(p.pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if ws := p.wait(); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("wait status %v, want killed by SIGKILL", ws)
	}
}

func TestGracefulStop(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sig  syscall.Signal
		line string
	}{{syscall.SIGTERM, "testworker: got SIGTERM, exiting"}, {syscall.SIGINT, "testworker: got SIGINT, exiting"}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			t.Parallel()
			p := start(t, "--children", "2", "--setsid-children")
			kids := p.childPids(2)
			starts := map[int]uint64{}
			for _, k := range kids {
				s, err := readStat(k)
				if err != nil {
					t.Fatal(err)
				}
				starts[k] = s.startTime
			}
			if err := syscall.Kill(p.pid(), tc.sig); err != nil {
				t.Fatal(err)
			}
			p.waitLine(func(l string) bool { return l == tc.line }, fmt.Sprintf("line %q", tc.line))
			if ws := p.wait(); !ws.Exited() || ws.ExitStatus() != 0 {
				t.Errorf("wait status %v, want exit 0", ws)
			}
			// The worker reaps its grandchildren before it exits.
			for _, k := range kids {
				if alive(k, starts[k]) {
					t.Errorf("grandchild %d outlived the graceful stop", k)
				}
			}
		})
	}
}

func TestChildren(t *testing.T) {
	t.Parallel()
	for _, setsid := range []bool{false, true} {
		t.Run(fmt.Sprintf("setsid=%v", setsid), func(t *testing.T) {
			t.Parallel()
			args := []string{"--children", "3"}
			if setsid {
				args = append(args, "--setsid-children")
			}
			p := start(t, args...)
			kids := p.childPids(3)
			// Each thread lists the children it forked.
			tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", p.pid()))
			if err != nil || len(tasks) == 0 {
				t.Fatalf("no /proc children files: %v", err)
			}
			got := map[int]bool{}
			for _, task := range tasks {
				b, err := os.ReadFile(task)
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range strings.Fields(string(b)) {
					n, _ := strconv.Atoi(f)
					got[n] = true
				}
			}
			if len(got) != 3 {
				t.Errorf("/proc children %v, want 3", got)
			}
			parent, err := readStat(p.pid())
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range kids {
				if !got[k] {
					t.Errorf("printed child %d is not a child of %d", k, p.pid())
				}
				s, err := readStat(k)
				if err != nil {
					t.Fatal(err)
				}
				if setsid {
					if s.sid != k || s.sid == parent.sid || s.pgrp == parent.pgrp {
						t.Errorf("child %d: session %d, group %d; want its own (parent's %d, %d)", k, s.sid, s.pgrp, parent.sid, parent.pgrp)
					}
				} else if s.sid != parent.sid || s.pgrp != parent.pgrp {
					t.Errorf("child %d: session %d, group %d; want the parent's %d, %d", k, s.sid, s.pgrp, parent.sid, parent.pgrp)
				}
			}
		})
	}
}

// freePort returns a port that was free a moment ago.
func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// healthz GETs /healthz and returns the status and the worker's uptime.
func healthz(t *testing.T, addr string) (int, time.Duration) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	up, err := time.ParseDuration(resp.Header.Get("X-Testworker-Uptime"))
	if err != nil {
		t.Fatalf("uptime header: %v", err)
	}
	return resp.StatusCode, up
}

// watchHealth polls /healthz until want (a sequence of statuses, repeats
// collapsed) has been seen, checking every answer against the model.
func watchHealth(t *testing.T, addr string, model func(time.Duration) bool, want ...int) {
	t.Helper()
	var seen []int
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		code, up := healthz(t, addr)
		if exp := model(up); (code == 200) != exp {
			t.Fatalf("status %d at uptime %v, want healthy=%v", code, up, exp)
		}
		if len(seen) == 0 || seen[len(seen)-1] != code {
			seen = append(seen, code)
		}
		if len(seen) >= len(want) && fmt.Sprint(seen[len(seen)-len(want):]) == fmt.Sprint(want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("statuses %v, want %v", seen, want)
}

func TestListenAfterStartDelay(t *testing.T) {
	t.Parallel()
	const delay = 500 * time.Millisecond
	addr := freePort(t)
	p := start(t, "--listen", addr, "--start-delay", delay.String(), "--ready-line", "up!")
	p.waitPrefix("testworker: started pid")
	early := time.Since(p.started)
	if c, err := net.Dial("tcp", addr); err == nil {
		_ = c.Close()
		if early < delay {
			t.Errorf("port open %v after start, before --start-delay", early)
		}
	}
	if got := p.addr(); got != addr {
		t.Errorf("listening on %s, want %s", got, addr)
	}
	if code, up := healthz(t, addr); code != 200 || up < delay {
		t.Errorf("/healthz %d at uptime %v, want 200 after %v", code, up, delay)
	}
	p.waitLine(func(l string) bool { return l == "up!" }, "ready line")
}

func TestListenEarly(t *testing.T) {
	t.Parallel()
	const delay = time.Second
	p := start(t, "--listen", "127.0.0.1:0", "--listen-early", "--start-delay", delay.String())
	addr := p.addr()
	if code, up := healthz(t, addr); up >= delay {
		t.Logf("first answer only at uptime %v (%d): too slow to see 503", up, code)
	} else if code != 503 {
		t.Errorf("/healthz %d at uptime %v, want 503 before %v", code, up, delay)
	}
	watchHealth(t, addr, func(up time.Duration) bool { return up >= delay }, 200)
	p.waitPrefix("testworker: ready")
}

func TestUnhealthyAfter(t *testing.T) {
	t.Parallel()
	const after, recover = 400 * time.Millisecond, 400 * time.Millisecond
	p := start(t, "--listen", "127.0.0.1:0", "--unhealthy-after", after.String(), "--recover-after", recover.String())
	addr := p.addr()
	model := func(up time.Duration) bool { return up < after || up >= after+recover }
	watchHealth(t, addr, model, 503, 200)
	p.waitPrefix("testworker: unhealthy")
	p.waitPrefix("testworker: healthy")

	// Without recover-after it stays unhealthy.
	q := start(t, "--listen", "127.0.0.1:0", "--unhealthy-after", "1ns")
	watchHealth(t, q.addr(), func(time.Duration) bool { return false }, 503)
	if q.hasLine("testworker: ready") {
		t.Error("ready line printed though never healthy")
	}
}

// inherited returns a listening socket's file to pass as fd 3.
func inherited(t *testing.T) (*os.File, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	t.Cleanup(func() { _ = f.Close() })
	return f, addr
}

func TestListenFDs(t *testing.T) {
	t.Parallel()
	const delay = 700 * time.Millisecond
	for _, tc := range []struct {
		name string
		cmd  func(args ...string) *exec.Cmd
		take bool
	}{
		{"pid unset", func(args ...string) *exec.Cmd {
			cmd := exec.Command(worker, args...)
			cmd.Env = append(os.Environ(), "LISTEN_FDS=1")
			return cmd
		}, true},
		{"pid is ours", func(args ...string) *exec.Cmd {
			// exec keeps the shell's pid, so $$ is the worker's.
			cmd := exec.Command("/bin/sh", append([]string{"-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"`, worker}, args...)...)
			cmd.Env = os.Environ()
			return cmd
		}, true},
		{"pid is another's", func(args ...string) *exec.Cmd {
			cmd := exec.Command(worker, args...)
			cmd.Env = append(os.Environ(), "LISTEN_FDS=1", "LISTEN_PID=1")
			return cmd
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, addr := inherited(t)
			if !tc.take {
				cmd := tc.cmd("--print-lines", "1")
				cmd.ExtraFiles = []*os.File{f}
				p := startCmd(t, cmd)
				if ws := p.wait(); ws.ExitStatus() != 0 {
					t.Errorf("wait status %v", ws)
				}
				for _, l := range p.snapshot() {
					if strings.Contains(l, "inherited") {
						t.Errorf("took a socket meant for another pid: %q", l)
					}
				}
				return
			}
			cmd := tc.cmd("--start-delay", delay.String(), "--grpc")
			cmd.ExtraFiles = []*os.File{f}
			p := startCmd(t, cmd)
			_ = f.Close() // the worker holds the only copy now
			if got := p.addr(); got != addr {
				t.Errorf("inherited socket %s, want %s", got, addr)
			}
			if code, up := healthz(t, addr); up >= delay {
				t.Logf("first answer only at uptime %v (%d): too slow to see 503", up, code)
			} else if code != 503 {
				t.Errorf("/healthz %d at uptime %v, want 503 before %v", code, up, delay)
			}
			watchHealth(t, addr, func(up time.Duration) bool { return up >= delay }, 200)
			if st, _ := grpcCheck(t, addr, "Check", ""); st != "0" {
				t.Errorf("grpc-status %s on the inherited socket", st)
			}
		})
	}
}

func TestPrintLines(t *testing.T) {
	t.Parallel()
	t.Run("stdout", func(t *testing.T) {
		t.Parallel()
		const n, size = 10000, 70000
		cmd := exec.Command(worker, "--print-lines", strconv.Itoa(n), "--line-size", strconv.Itoa(size))
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		cmd.Stdout, cmd.SysProcAttr = w, &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		_ = w.Close()
		t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
		br := bufio.NewReaderSize(r, 1<<17)
		next := 1
		for {
			line, err := br.ReadSlice('\n')
			if err == io.EOF && len(line) == 0 {
				break
			}
			if err != nil {
				t.Fatalf("after line %d: %v", next-1, err)
			}
			line = line[:len(line)-1]
			if bytes.HasPrefix(line, []byte("testworker: ")) {
				continue
			}
			prefix := fmt.Sprintf("line %d ", next)
			if !bytes.HasPrefix(line, []byte(prefix)) || len(line) != size || bytes.Count(line[len(prefix):], []byte{'x'}) != size-len(prefix) {
				t.Fatalf("got %.40q... (%d bytes), want %q padded to %d", line, len(line), prefix, size)
			}
			next++
		}
		if next != n+1 {
			t.Errorf("got %d lines, want %d", next-1, n)
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("exit: %v", err)
		}
	})
	t.Run("stderr", func(t *testing.T) {
		t.Parallel()
		cmd := exec.Command(worker, "--print-lines", "500", "--stderr", "--exit-code", "4")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 4 {
			t.Errorf("exit %v, want code 4", err)
		}
		lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
		if len(lines) != 500 || lines[0] != "line 1" || lines[499] != "line 500" {
			t.Errorf("stderr has %d lines, first %q", len(lines), lines[0])
		}
		if strings.Contains(string(out), "line ") {
			t.Errorf("lines on stdout: %q", out)
		}
	})
	t.Run("exit-after", func(t *testing.T) {
		t.Parallel()
		p := start(t, "--print-lines", "3", "--exit-after", "300ms")
		p.waitPrefix("line 3")
		if ws := p.wait(); ws.ExitStatus() != 0 {
			t.Errorf("wait status %v", ws)
		}
		if d := time.Since(p.started); d < 300*time.Millisecond {
			t.Errorf("exited after %v, before --exit-after", d)
		}
	})
}

func TestPidfileAndDateFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pidfile, dates := filepath.Join(dir, "w.pid"), filepath.Join(dir, "starts")
	p := start(t, "--pidfile", pidfile, "--date-file", dates)
	p.waitPrefix("testworker: ready") // written before the ready line
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	if want := strconv.Itoa(p.pid()) + "\n"; string(b) != want {
		t.Errorf("pidfile %q, want %q", b, want)
	}
	q := start(t, "--date-file", dates, "--print-lines", "1")
	q.wait()
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("dir has %d entries, want pidfile and date file only", len(entries))
	}
	b, err = os.ReadFile(dates)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("date file %q, want 2 lines", b)
	}
	var prev time.Time
	for _, l := range lines {
		ts, err := time.Parse(time.RFC3339Nano, l)
		if err != nil {
			t.Fatal(err)
		}
		if ts.Before(prev) || ts.Before(p.started.Add(-time.Second)) {
			t.Errorf("start time %v out of order", ts)
		}
		prev = ts
	}
}

// rss reads VmRSS of pid in bytes.
func rss(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if s, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(s), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

func TestAlloc(t *testing.T) {
	t.Parallel()
	const mi = 1 << 20
	p := start(t, "--alloc", "100Mi/s", "--alloc-start", "16Mi", "--alloc-max", "80Mi")
	p.waitPrefix("testworker: started")
	base := rss(t, p.pid())
	eventually(t, 8*time.Second, "RSS grows by 40Mi", func() bool { return rss(t, p.pid())-base >= 40*mi })
	p.waitPrefix("testworker: allocated")
	if got := rss(t, p.pid()); got < 78*mi || got > 80*mi+64*mi {
		t.Errorf("RSS %d MiB at the 80Mi cap", got/mi)
	}
}

func TestCPU(t *testing.T) {
	t.Parallel()
	p := start(t, "--cpu", "1")
	// 20 ticks of 10ms: it really burns CPU.
	eventually(t, 8*time.Second, "20 ticks of CPU time", func() bool {
		s, err := readStat(p.pid())
		return err == nil && s.utime+s.stime >= 20
	})
}

// grpcCheck calls grpc.health.v1.Health/METHOD over h2c with a standard
// library client and returns grpc-status and the response message.
func grpcCheck(t *testing.T, addr, method, service string) (string, []byte) {
	t.Helper()
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protos}
	defer tr.CloseIdleConnections()
	msg := []byte{}
	if service != "" {
		msg = append([]byte{0x0a, byte(len(service))}, service...)
	}
	body := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(body[1:], uint32(len(msg)))
	body = append(body, msg...)
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/grpc.health.v1.Health/"+method, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/grpc" {
		t.Fatalf("%s %d %q, want HTTP/2 200 application/grpc", resp.Proto, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if len(out) == 0 {
		return resp.Trailer.Get("Grpc-Status"), nil
	}
	if len(out) < 5 || out[0] != 0 || int(binary.BigEndian.Uint32(out[1:5])) != len(out)-5 {
		t.Fatalf("bad gRPC frame %x", out)
	}
	return resp.Trailer.Get("Grpc-Status"), out[5:]
}

func TestGRPCHealth(t *testing.T) {
	t.Parallel()
	p := start(t, "--listen", "127.0.0.1:0", "--grpc", "--log-requests")
	addr := p.addr()
	if st, msg := grpcCheck(t, addr, "Check", ""); st != "0" || !bytes.Equal(msg, []byte{0x08, 0x01}) {
		t.Errorf("Check: grpc-status %q, message %x; want 0, 0801 (SERVING)", st, msg)
	}
	if st, msg := grpcCheck(t, addr, "Check", "api.v1.Thing"); st != "0" || !bytes.Equal(msg, []byte{0x08, 0x01}) {
		t.Errorf("Check(service): grpc-status %q, message %x", st, msg)
	}
	p.waitLine(func(l string) bool { return strings.Contains(l, `service="api.v1.Thing"`) }, "logged service name")
	if st, _ := grpcCheck(t, addr, "Watch", ""); st != "12" {
		t.Errorf("Watch: grpc-status %q, want 12 (UNIMPLEMENTED)", st)
	}

	q := start(t, "--listen", "127.0.0.1:0", "--grpc", "--unhealthy-after", "1ns")
	if st, msg := grpcCheck(t, q.addr(), "Check", ""); st != "0" || !bytes.Equal(msg, []byte{0x08, 0x02}) {
		t.Errorf("unhealthy Check: grpc-status %q, message %x; want 0, 0802 (NOT_SERVING)", st, msg)
	}
}

func TestBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--exit-signal", "NOPE"},
		{"--alloc", "10Mi"},
		{"--alloc", "10Mi/day"},
		{"--alloc-start", "lots"},
		{"--cpu", "x"},
		{"--exit-code", "300"},
		{"--exit-after", "10"},
		{"extra"},
	} {
		cmd := exec.Command(worker, args...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%v: %v (%s), want exit 2", args, err, out)
		}
	}
}

func TestParseValues(t *testing.T) {
	var r rateValue
	for in, want := range map[string]float64{"10Mi/s": 10 << 20, "60Mi/min": 1 << 20, "3600Ki/h": 1 << 10} {
		if err := r.Set(in); err != nil || float64(r) != want {
			t.Errorf("rate %q = %v, %v; want %v", in, float64(r), err, want)
		}
	}
	var c coresValue
	for in, want := range map[string]float64{"1.5": 1.5, "500m": 0.5, "150%": 1.5} {
		if err := c.Set(in); err != nil || float64(c) != want {
			t.Errorf("cores %q = %v, %v; want %v", in, float64(c), err, want)
		}
	}
	req := []byte{0, 0, 0, 0, 5, 0x0a, 0x03, 'a', 'p', 'i'}
	if got := checkService(req); got != "api" {
		t.Errorf("checkService = %q", got)
	}
	if got := checkService([]byte{0, 0, 0, 0, 3, 0x0a, 0x09, 'a'}); got != "" {
		t.Errorf("checkService(truncated) = %q", got)
	}
}
