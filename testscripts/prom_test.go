package testscripts

import (
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rogpeppe/go-internal/testscript"
)

// cmdPromCheck: promcheck FILE FAMILY... — FILE parses as the Prometheus
// text format, and has every FAMILY.
func cmdPromCheck(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 {
		ts.Fatalf("usage: promcheck FILE FAMILY...")
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(ts.ReadFile(args[0])))
	if err != nil {
		ts.Fatalf("promcheck: %s is not Prometheus text: %v", args[0], err)
	}
	for _, f := range args[1:] {
		if _, ok := fams[f]; !ok {
			ts.Fatalf("promcheck: no %s in %s", f, args[0])
		}
	}
}
