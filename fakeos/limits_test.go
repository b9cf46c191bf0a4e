package fakeos_test

import (
	"strings"
	"testing"

	"github.com/hsu-run/hsu/fakeos"
	"github.com/hsu-run/hsu/scenario"
)

// TestMemoryThrottleModel: on cgroup2 a memory throttle holds the instance
// at memory.high, reported once per episode, never killed; where there
// is no memory.high the platform's rules reject it, as hsu validate does.
func TestMemoryThrottleModel(t *testing.T) {
	sc, err := scenario.Load("../scenarios/memory-throttle.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		platform string
		rejected bool
	}{
		{"linux", false},
		{"linux-hybrid", true},
		{"linux-nocgroup", true},
		{"darwin", true},
		{"windows", true},
	}
	for _, tt := range tests {
		t.Run(tt.platform, func(t *testing.T) {
			p, err := fakeos.PlatformNamed(tt.platform)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Check(sc.Cfg)
			if (err != nil) != tt.rejected {
				t.Fatalf("platform check: %v, want rejected=%v", err, tt.rejected)
			}
			if tt.rejected {
				if !strings.Contains(err.Error(), "memory.policy") {
					t.Errorf("rejection %q does not name the key", err)
				}
				return
			}
			var lines []string
			res := fakeos.New(sc, sc.Seed, fakeos.Options{Platform: p, Timeline: func(l string) { lines = append(lines, l) }}).Run()
			if !res.OK() {
				t.Fatalf("violations: %v", res.Violations)
			}
			throttled := 0
			for _, l := range lines {
				if strings.Contains(l, "throttled by the kernel") {
					throttled++
					if !strings.Contains(l, "128Mi") {
						t.Errorf("throttle line %q lacks the value", l)
					}
				}
				if strings.Contains(l, "OOM") || strings.Contains(l, "killed") {
					t.Errorf("a throttled instance was killed: %q", l)
				}
			}
			if throttled != 1 {
				t.Errorf("%d throttle reports, want 1 (one per episode)\n%s", throttled, strings.Join(lines, "\n"))
			}
		})
	}
}
