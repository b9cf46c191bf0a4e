package fakeos

import "github.com/hsu-run/hsu/scenario"

// NewSabotaged is New with one of the test-only faults of sabotage.go
// armed (by its name in sabNames), for sabotage_test.go: production code
// has no way to arm one.
func NewSabotaged(sc *scenario.Scenario, seed int64, opt Options, kind string) *World {
	k, err := parseSabotage(kind)
	if err != nil {
		panic(err)
	}
	w := New(sc, seed, opt)
	w.sab.kind = k
	return w
}

// SabotageNames lists every sabotage NewSabotaged accepts.
func SabotageNames() []string {
	return append([]string(nil), sabNames[sabNone+1:]...)
}
