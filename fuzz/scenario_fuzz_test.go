package fuzz

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/scenario"
)

// scenarioFile is the name fuzz inputs are parsed under. It sits in the
// real scenarios directory so that the seed with config_file:
// ../examples/hsu.yaml reads the bundled example, as hsu-sim would.
var scenarioFile = filepath.Join("..", "scenarios", "fuzz-input.yaml")

// malformedScenarios are seeds for the error paths: bad YAML, wrong types,
// faults with no or two kinds, targets and expectations that do not
// resolve, and a config both inline and from a file.
var malformedScenarios = []string{
	"",
	"\n \t\n",
	"name: [unclosed",
	"name: t\nduration: 1m\n",
	"name: t\nduration: -1s\nconfig: {version: 1, workers: {a: {command: [a]}}}\n",
	"name: t\nduration: 1m\nconfig: 3\n",
	"name: t\nduration: 1m\nconfig: {version: 1}\nconfig_file: x.yaml\n",
	"name: t\nduration: 1m\nconfig_file: does-not-exist.yaml\n",
	"name: t\nduration: 1m\nconfig: {version: 1, workers: {a: {command: [a]}}}\nfaults:\n  - {at: 1s}\n  - {at: 2s, kill: a, command: stop a}\n  - {at: 3s, command: scale a x}\n  - {at: 2m, command: stop a-0}\n",
	"name: t\nduration: 1m\nconfig: {version: 1, workers: {a: {command: [a]}}}\nfaults:\n  - {at: 1s, reload: {version: 1, workers: {a: {}}}}\n  - {at: 1s, spawn_fail: a-1, errno: ENOPE}\n",
	"name: t\nduration: 1m\nconfig: {version: 1, workers: {a: {command: [a]}}}\nexpect:\n  - {at: 2m, state: {a-1: nope}}\n  - {final: {b: running}, oom_kills: {a-1: {min: 1}}}\n",
	"name: t\nduration: 1m\nconfig: {version: 1, workers: {a: {command: [a]}}}\nbehaviour:\n  a: {exit_code: 300, exit_signal: KILL, memory: {grow: 1Mi/day}}\n  b: {}\n",
	"name: &x t\nduration: *x\nconfig: *y\n",
	"- just\n- a\n- list\n",
	// Times before the start of the scenario.
	"name: t\nduration: 1m\nconfig: {version: 1, workers: {a: {command: [a]}}}\nfaults:\n  - {at: -5s, command: stop a}\n",
	"name: t\nduration: 1m\nconfig: {version: 1, workers: {a: {command: [a]}}}\nexpect:\n  - {at: -1ms, state: {a: running}}\n",
}

// scenarioSeeds are the bundled scenarios, read at test time so that new
// ones join the corpus without touching this file.
func scenarioSeeds(f *testing.F) [][]byte {
	files, err := filepath.Glob(filepath.Join("..", "scenarios", "*.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	if len(files) < 5 {
		f.Fatalf("only %d bundled scenarios", len(files))
	}
	var out [][]byte
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, data)
	}
	return out
}

// FuzzScenario: any input parses without a panic, twice to the same
// scenario or the same errors, and every error is a positioned
// *config.ErrorList entry; those naming the input point inside it.
func FuzzScenario(f *testing.F) {
	for _, s := range scenarioSeeds(f) {
		f.Add(s)
	}
	for _, s := range malformedScenarios {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// config_file and include read the disk: keep the fuzzer away from
		// device and kernel files (/dev/zero never ends, /dev/stdin blocks).
		for _, bad := range []string{"dev/", "proc/", "sys/"} {
			if bytes.Contains(data, []byte(bad)) {
				t.Skip("names a device or kernel file")
			}
		}
		sc, err := scenario.Parse(scenarioFile, data)
		sc2, err2 := scenario.Parse(scenarioFile, data)
		switch {
		case (err == nil) != (err2 == nil):
			t.Fatalf("second parse differs: %v, then %v", err, err2)
		case err != nil && err.Error() != err2.Error():
			t.Fatalf("second parse gives other errors:\n%v\nthen:\n%v", err, err2)
		case err == nil && !reflect.DeepEqual(sc, sc2):
			t.Fatalf("second parse gives another scenario")
		}
		if err != nil {
			if sc != nil {
				t.Fatalf("scenario returned with an error: %v", err)
			}
			checkScenarioErrors(t, data, err)
			return
		}
		if sc.Cfg == nil {
			t.Fatal("scenario parsed without a config")
		}
		if sc.Duration <= 0 {
			t.Fatalf("scenario parsed with duration %v", sc.Duration)
		}
		// Faults and checks happen on the scenario's clock: from 0 to its
		// end. Later ones are rejected; so must earlier ones be.
		for i, flt := range sc.Faults {
			if flt.Kind() == "" {
				t.Fatalf("faults[%d] parsed without a kind", i)
			}
			if flt.At < 0 || flt.At > sc.Duration {
				t.Fatalf("faults[%d] at %v, outside 0..%v", i, flt.At, sc.Duration)
			}
		}
		for i, e := range sc.Expect {
			if e.At != nil && (*e.At < 0 || *e.At > sc.Duration) {
				t.Fatalf("expect[%d] at %v, outside 0..%v", i, *e.At, sc.Duration)
			}
		}
	})
}

// checkScenarioErrors checks that err is a non-empty *config.ErrorList
// whose every entry has a position: inside the input when it names the
// input, at least line 1 column 1 of another file (a config_file or an
// include) otherwise.
func checkScenarioErrors(t *testing.T, data []byte, err error) {
	t.Helper()
	var list *config.ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error is %T, want *config.ErrorList: %v", err, err)
	}
	if len(list.Errs) == 0 || len(list.Errs) > config.MaxErrors {
		t.Fatalf("%d errors in the list", len(list.Errs))
	}
	lines := yamlLines(data)
	for _, e := range list.Errs {
		if e.File == "" || e.Line < 1 || e.Col < 1 {
			t.Fatalf("error without a position: %q", e.Error())
		}
		if e.Msg == "" {
			t.Fatalf("error without a message: %q", e.Error())
		}
		if e.File != scenarioFile {
			continue
		}
		if e.Line > len(lines)+1 {
			t.Fatalf("error at line %d of a %d-line input: %v", e.Line, len(lines), e)
		}
		if e.Line <= len(lines) && e.Col > len(lines[e.Line-1])+1 {
			t.Fatalf("error at column %d of a %d-byte line: %v", e.Col, len(lines[e.Line-1]), e)
		}
	}
}
