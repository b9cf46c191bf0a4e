package fakeos

import (
	"testing"

	"github.com/hsu-run/hsu/scenario"
)

// TestPlatformNamesMatchScenario: the scenario parser accepts exactly the
// platforms modelled here.
func TestPlatformNamesMatchScenario(t *testing.T) {
	if len(Platforms) != len(scenario.Platforms) {
		t.Fatalf("fakeos models %d platforms, scenario accepts %d", len(Platforms), len(scenario.Platforms))
	}
	for i, p := range Platforms {
		if p.Name != scenario.Platforms[i] {
			t.Errorf("platform %d: fakeos %q, scenario %q", i, p.Name, scenario.Platforms[i])
		}
	}
}
