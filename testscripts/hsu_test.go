package testscripts

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/hsu-run/hsu/internal/cli"
	"github.com/hsu-run/hsu/internal/simcli"
	"github.com/hsu-run/hsu/osadapters"
)

// TestMain makes this test binary double as the hsu and hsu-sim programs:
// scripts run `exec hsu ...` or `exec hsu-sim ...`, which re-execute the
// binary into cli.Run or simcli.Run, so the scripts exercise the real CLIs
// without a separate build step. make cover runs them on prebuilt -cover
// binaries instead (HSU_TEST_BIN, setupBin).
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"hsu":     func() { osadapters.RunExecHelper(); os.Exit(cli.Run(os.Args[1:], os.Stdout, os.Stderr)) },
		"hsu-sim": func() { os.Exit(simcli.Run(os.Args[1:], os.Stdout, os.Stderr)) },
		"cgexec":  func() { os.Exit(cgexecMain()) },
	})
}

// TestHsu runs the hsu command line cases.
func TestHsu(t *testing.T) { runScripts(t, "testdata/hsu") }

// TestSim runs the hsu-sim cases: each holds its own small scenarios, so
// none depends on the bundled scenarios/ files.
func TestSim(t *testing.T) { runScripts(t, "testdata/sim") }

func runScripts(t *testing.T, dir string) {
	testscript.Run(t, testscript.Params{
		Dir: dir,
		// Scripts write `exec hsu ...`, so each reads like the shell
		// session it stands for.
		RequireExplicitExec: true,
		Setup:               setupBin,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":  cmdExitCode,
			"jsonvalid": cmdJSONValid,
		},
	})
}

// testBin is HSU_TEST_BIN: a directory holding hsu, hsu-sim and
// hsu-testworker, which the scripts then run instead of this test binary's
// copies and a freshly built testworker. make cover sets it to binaries
// built with -cover: the copies of this binary count nothing, since this
// package is not instrumented there, and a -cover test binary run as hsu
// would write its counters to go test's own GOCOVERDIR, a temporary
// directory, not make cover's.
var testBin = os.Getenv("HSU_TEST_BIN")

// setupBin puts HSU_TEST_BIN first on a script's PATH and gives the
// script GOCOVERDIR, where -cover binaries write their counters at exit.
// (testscript copies GOCOVERDIR today; it is set here as well so the
// counters do not depend on that.)
func setupBin(env *testscript.Env) error {
	if testBin == "" {
		return nil
	}
	if _, err := os.Stat(filepath.Join(testBin, "hsu")); err != nil {
		return fmt.Errorf("HSU_TEST_BIN: %w", err) // else the scripts would quietly run the copies
	}
	env.Setenv("PATH", testBin+string(os.PathListSeparator)+env.Getenv("PATH"))
	if dir := os.Getenv("GOCOVERDIR"); dir != "" {
		env.Setenv("GOCOVERDIR", dir)
	}
	return nil
}

// cmdExitCode runs `exitcode N PROGRAM [ARGS...]`: like exec, but the
// program must exit with status N (exec and ! exec only tell zero from
// non-zero, and the CLI's usage errors are 2, other failures 1).
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: bad status %q", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			ts.Fatalf("exitcode: %v", err)
		}
		got = exit.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// cmdJSONValid runs `jsonvalid FILE` (FILE may be stdout): FILE must hold
// one JSON value.
func cmdJSONValid(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: jsonvalid FILE")
	}
	valid := json.Valid([]byte(ts.ReadFile(args[0])))
	switch {
	case valid && neg:
		ts.Fatalf("%s is valid JSON", args[0])
	case !valid && !neg:
		ts.Fatalf("%s is not valid JSON", args[0])
	}
}
