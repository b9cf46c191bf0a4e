package unix

import "testing"

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
