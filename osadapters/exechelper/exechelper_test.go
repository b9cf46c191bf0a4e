//go:build linux || darwin

package exechelper

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func TestExecHelperArgsRoundTrip(t *testing.T) {
	tests := []Limits{
		{NoFile: 1024, Path: "/usr/bin/api", Argv: []string{"api"}},
		{EnvFD: 5, StatusFD: 6, Join: []string{"/sys/fs/cgroup/pids/hsu/x/w-1-2/cgroup.procs"}, Path: "/p", Argv: []string{"p"}},
		// Arguments that look like the helper's own survive untouched.
		{NoFile: 1, Path: "/bin/sh", Argv: []string{"sh", "-c", "exec x -- nofile=3", "--", "uid=0", "", " spaced \n"}},
		{NoFile: 1 << 20, Cred: &syscall.Credential{Uid: 501, Gid: 20, Groups: []uint32{}}, Path: "rel/prog", Argv: []string{"prog", "--"}},
		{NoFile: 64, Cred: &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{12, 4294967295}}, Path: "/p", Argv: []string{""}},
		{Cred: &syscall.Credential{Uid: 7, Gid: 8, NoSetGroups: true}, Path: "/p", Argv: []string{"p", "a"}},
	}
	for _, want := range tests {
		args := want.args("/opt/hsu/bin/hsu")
		if args[0] != "/opt/hsu/bin/hsu" || args[1] != Arg {
			t.Fatalf("args(%+v) = %q: want the binary, then %s", want, args, Arg)
		}
		got, err := decodeExecArgs(args[2:])
		if err != nil {
			t.Errorf("decode(%q): %v", args, err)
			continue
		}
		if got.Cred != nil && got.Cred.Groups == nil && want.Cred.Groups != nil {
			got.Cred.Groups = []uint32{} // empty either way: setgroups to none
		}
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("round trip of %q:\n got %+v (cred %+v)\nwant %+v (cred %+v)", args, *got, got.Cred, want, want.Cred)
		}
	}
}

func TestExecHelperArgsRejected(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"nofile=5"},
		{"nofile=5", "--"},
		{"nofile=5", "--", "/p"}, // no argv[0]
		{"nofile=0", "--", "/p", "p"},
		{"nofile=-1", "--", "/p", "p"},
		{"nofile=lots", "--", "/p", "p"},
		{"core=0", "--", "/p", "p"},
		{"uid=1", "groups=", "--", "/p", "p"}, // gid missing
		{"uid=1", "gid=1", "--", "/p", "p"},   // groups missing
		{"uid=1", "gid=1", "groups=", "nosetgroups", "--", "/p", "p"},
		{"groups=1", "--", "/p", "p"},                  // no ids
		{"uid=1", "gid=x", "groups=", "--", "/p", "p"}, // not a number
		{"uid=1", "gid=1", "groups=1,a", "--", "/p", "p"},
		{"uid=4294967296", "gid=1", "groups=", "--", "/p", "p"},
	} {
		if l, err := decodeExecArgs(args); err == nil {
			t.Errorf("decode(%q) = %+v, want an error", args, l)
		}
	}
}

// TestExecHelperChild is the helper process of TestExecHelperExec: the
// test binary re-run with the helper's arguments in the environment.
func TestExecHelperChild(t *testing.T) {
	enc := os.Getenv("HSU_TEST_EXEC_HELPER")
	if enc == "" {
		t.Skip("run by TestExecHelperExec")
	}
	var args []string
	if err := json.Unmarshal([]byte(enc), &args); err != nil {
		t.Fatal(err)
	}
	runExecHelper(args) // never returns
}

// TestExecHelperExec runs the real helper path (decode, setrlimit, exec)
// in a child process, on Linux as on macOS.
func TestExecHelperExec(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	run := func(l Limits, extra ...*os.File) (string, string, int) {
		t.Helper()
		enc, _ := json.Marshal(l.args("unused")[2:])
		cmd := exec.Command(os.Args[0], "-test.run=^TestExecHelperChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "HSU_TEST_EXEC_HELPER="+string(enc), "HSU_TEST_MARK=passed-through")
		cmd.ExtraFiles = extra
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("run helper: %v", err)
		}
		return out.String(), errb.String(), code
	}

	out, stderr, code := run(Limits{NoFile: 77, Path: "/bin/sh",
		Argv: []string{"limits-test", "-c", `echo "$(ulimit -Sn) $(ulimit -Hn) $0 $1 $HSU_TEST_MARK"`, "zero", "arg 1"}})
	if code != 0 || out != "77 77 zero arg 1 passed-through\n" {
		t.Errorf("helper with nofile=77: exit %d, stdout %q, stderr %q; want the limit applied, argv and env passed through", code, out, stderr)
	}

	// A limit the kernel refuses (above any per-process maximum) is exit
	// 127 with the reason, never a start without it.
	out, stderr, code = run(Limits{NoFile: 1 << 40, Path: "/bin/sh", Argv: []string{"sh", "-c", "echo ran"}})
	if code != 127 || out != "" || !strings.Contains(stderr, "hsu: cannot start the worker: fds limit 1099511627776: ") {
		t.Errorf("helper with an impossible limit: exit %d, stdout %q, stderr %q; want exit 127 and the reason", code, out, stderr)
	}

	_, stderr, code = run(Limits{NoFile: 64, Path: "/nonexistent/prog", Argv: []string{"prog"}})
	if code != 127 || !strings.Contains(stderr, "exec /nonexistent/prog") {
		t.Errorf("helper with a missing program: exit %d, stderr %q; want exit 127 and the reason", code, stderr)
	}

	// The program's environment comes from envfd, not from the helper's
	// own (which hsu keeps empty: nothing of the worker's reaches the
	// privileged helper).
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("HSU_TEST_MARK=from-fd\x00PATH=/usr/bin:/bin"))
	w.Close()
	out, stderr, code = run(Limits{EnvFD: 3, Path: "/bin/sh",
		Argv: []string{"sh", "-c", `echo "$HSU_TEST_MARK|${HSU_TEST_EXEC_HELPER:-none}"`}}, r)
	r.Close()
	if code != 0 || out != "from-fd|none\n" {
		t.Errorf("helper with envfd: exit %d, stdout %q, stderr %q; want the environment from the descriptor only", code, out, stderr)
	}

	// With a status pipe, a failure reaches hsu with its errno (a failed
	// start), and a successful exec closes the pipe with nothing written.
	for _, tc := range []struct {
		nofile  uint64
		wantErr bool
	}{{1 << 40, true}, {64, false}} {
		sr, sw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		_, stderr, code := run(Limits{StatusFD: 3, NoFile: tc.nofile, Path: "/bin/sh", Argv: []string{"sh", "-c", "exit 0"}}, sw)
		sw.Close()
		serr := Status(sr)
		sr.Close()
		var errno syscall.Errno
		switch {
		case tc.wantErr && (serr == nil || !errors.As(serr, &errno) || !strings.Contains(serr.Error(), "fds limit")):
			t.Errorf("nofile=%d: status %v (exit %d, stderr %q); want the failure with its errno", tc.nofile, serr, code, stderr)
		case !tc.wantErr && (serr != nil || code != 0):
			t.Errorf("nofile=%d: status %v, exit %d; want a clean exec", tc.nofile, serr, code)
		}
	}
}
