package fakeos

import (
	"testing"

	"github.com/hsu-run/hsu/scenario"
)

// TestHoldPreventsDuplicateAfterForkCrash: on a platform without cgroups,
// hsu killed between a fork and the write of its PID leaves no duplicate
// because the spawn is held until the write. Without the hold, on macOS
// the same scenario makes two live instances of the replica, and the
// checker says so; on Linux the next hsu finds the unrecorded instance by
// its environment marker and kills it, but it has run unseen meanwhile
// (the scenario's expectation at 12s).
func TestHoldPreventsDuplicateAfterForkCrash(t *testing.T) {
	sc, err := scenario.Load("../scenarios/crash-after-fork-nocgroup.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		platform string
		noHold   bool
		want     string // violation kind, "" for none
	}{
		{"held until the PID is written", "linux-nocgroup", false, ""},
		{"held until the PID is written (macOS)", "darwin", false, ""},
		{"run at once (the bug)", "linux-nocgroup", true, "expect"},
		{"run at once (the bug, macOS)", "darwin", true, "duplicate-instance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc.Platform = tt.platform
			w := New(sc, sc.Seed, Options{})
			w.noHold = tt.noHold
			res := w.Run()
			if tt.want == "" {
				if !res.OK() {
					t.Fatalf("violations: %v", res.Violations)
				}
				return
			}
			for _, v := range res.Violations {
				if v.Kind == tt.want {
					return
				}
			}
			t.Fatalf("want a %s violation, got %v", tt.want, res.Violations)
		})
	}
}
