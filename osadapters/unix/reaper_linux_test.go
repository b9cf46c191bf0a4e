package unix

import (
	"testing"

	"github.com/hsu-run/hsu/engine"
)

// TestReaperKnowsEveryLeader: the process's one reaper treats a zombie as
// an orphan only if no system in the process has it as a leader, so a
// second driver's reaper can never take the first's exit statuses.
func TestReaperKnowsEveryLeader(t *testing.T) {
	a := &Unix{leaders: map[int]bool{10: true}}
	b := &Unix{leaders: map[int]bool{20: true}}
	r := &reaper{systems: []*Unix{a, b}}
	for _, tt := range []struct {
		pid  int
		want bool
	}{{10, true}, {20, true}, {30, false}} {
		if got := r.isLeader(tt.pid); got != tt.want {
			t.Errorf("isLeader(%d) = %v, want %v", tt.pid, got, tt.want)
		}
	}
}

// TestParseInstKey: instance cgroups are named by instKey; the name is
// read back into the handle (a worker name may contain dashes).
func TestParseInstKey(t *testing.T) {
	for _, tt := range []struct {
		name string
		want engine.Handle
		ok   bool
	}{
		{"api-1-7", engine.Handle{Worker: "api", Replica: 1, Gen: 7}, true},
		{"my-api-12-345", engine.Handle{Worker: "my-api", Replica: 12, Gen: 345}, true},
		{"api-0-7", engine.Handle{}, false},
		{"api-1", engine.Handle{}, false},
		{"probe-1234", engine.Handle{}, false},
		{"cgroup.procs", engine.Handle{}, false},
	} {
		got, ok := parseInstKey(tt.name)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseInstKey(%q) = %+v, %v; want %+v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
		if ok && instKey(got) != tt.name {
			t.Errorf("instKey(%+v) = %q, not the name it came from", got, instKey(got))
		}
	}
}
