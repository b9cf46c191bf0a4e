package fakeos_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/hsu-run/hsu/fakeos"
	"github.com/hsu-run/hsu/scenario"
)

var update = flag.Bool("update", false, "rewrite the golden traces in testdata/golden")

func loadScenarios(t *testing.T) []*scenario.Scenario {
	t.Helper()
	files, _ := filepath.Glob("../scenarios/*.yaml")
	if len(files) < 14 {
		t.Fatalf("found %d scenarios, want at least 14", len(files))
	}
	var out []*scenario.Scenario
	for _, f := range files {
		sc, err := scenario.Load(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, sc)
	}
	return out
}

// TestScenarios runs every bundled scenario: its expectations and the
// built-in invariants hold, and a second run gives the same trace.
func TestScenarios(t *testing.T) {
	for _, sc := range loadScenarios(t) {
		t.Run(sc.Name, func(t *testing.T) {
			var lines []string
			res := fakeos.New(sc, sc.Seed, fakeos.Options{Timeline: func(l string) { lines = append(lines, l) }}).Run()
			if !res.OK() {
				for _, l := range lines {
					t.Log(l)
				}
				t.Fatalf("violations: %v", res.Violations)
			}
			again := fakeos.New(sc, sc.Seed, fakeos.Options{}).Run()
			if again.TraceHash != res.TraceHash {
				t.Fatalf("nondeterministic: trace %s then %s", res.TraceHash, again.TraceHash)
			}
			other := fakeos.New(sc, sc.Seed+1, fakeos.Options{}).Run()
			if other.TraceHash == res.TraceHash && res.Stats.EngineEvents > 10 {
				t.Errorf("seeds %d and %d gave the same trace: the seed is not used", sc.Seed, sc.Seed+1)
			}
		})
	}
}

// TestGoldenTraces pins the exact trace of a few scenarios, so a change of
// engine behaviour shows up as a diff to review (go test -run Golden -update).
func TestGoldenTraces(t *testing.T) {
	for _, name := range []string{"crash-loop-gives-up", "sigterm-ignored", "hsu-crash-adopt"} {
		t.Run(name, func(t *testing.T) {
			sc, err := scenario.Load("../scenarios/" + name + ".yaml")
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			fakeos.New(sc, sc.Seed, fakeos.Options{Trace: &buf}).Run()
			golden := filepath.Join("testdata", "golden", name+".jsonl")
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				got := bytes.Split(buf.Bytes(), []byte("\n"))
				exp := bytes.Split(want, []byte("\n"))
				for i := 0; i < len(got) && i < len(exp); i++ {
					if !bytes.Equal(got[i], exp[i]) {
						t.Fatalf("trace differs from %s at line %d:\n got: %s\nwant: %s\n(go test ./fakeos -run Golden -update if the change is intended)", golden, i+1, got[i], exp[i])
					}
				}
				t.Fatalf("trace differs from %s in length: %d lines, want %d", golden, len(got), len(exp))
			}
		})
	}
}
