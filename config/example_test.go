package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const exampleFile = "../examples/hsu.yaml"

// TestExample checks that the shipped example is valid and shows what it
// says it shows.
func TestExample(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	cfg, err := Load(exampleFile, Options{LookupEnv: noEnv})
	if err != nil {
		t.Fatalf("%s is not valid:\n%v", exampleFile, err)
	}
	data, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "# yaml-language-server: $schema=../docs/hsu.schema.json\n") {
		t.Errorf("%s does not start with the yaml-language-server schema comment", exampleFile)
	}
	dir, _ := filepath.Abs(filepath.Dir(exampleFile))
	db, api, worker := cfg.Workers["db"], cfg.Workers["api"], cfg.Workers["worker"]
	if db == nil || api == nil || worker == nil {
		t.Fatalf("workers %q, want db, api and worker", cfg.Order)
	}
	checks := []struct {
		what string
		ok   bool
	}{
		{"db has a tcp readiness probe", db.Health.Readiness != nil && db.Health.Readiness.TCP != nil},
		{"api depends on db being healthy", reflect.DeepEqual(api.DependsOn, DependsOn{"db": {Condition: CondHealthy}})},
		{"api has http liveness and readiness", api.Health.Liveness != nil && api.Health.Liveness.HTTP != nil && api.Health.Readiness != nil && api.Health.Readiness.HTTP != nil},
		{"api probe URL uses the ${API_PORT:-18080} default", api.Health.Liveness.HTTP.URL == "http://127.0.0.1:18080/healthz"},
		{"api memory and cpu limits with warn", api.Resources.Memory != nil && api.Resources.Memory.Warn > 0 && api.Resources.CPU != nil && api.Resources.CPU.Warn > 0},
		{"api logs to a rotated file", api.Logs.File == filepath.Join(dir, "logs", "api.log") && api.Logs.Rotate.Compress},
		{"api extends a template", reflect.DeepEqual(api.Extends, StringList{"service"}) && api.Restart.Policy == PolicyAlways},
		{"worker has 3 replicas", worker.Replicas == 3},
		// make run must work on a fresh machine: programs are hsu's own
		// test worker (built with hsu) or shell loops.
		{"only hsu-testworker or shell commands", worker.Shell != "" && len(db.Command) > 0 && db.Command[0] == "hsu-testworker" && len(api.Command) > 0 && api.Command[0] == "hsu-testworker"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("example: %s: no", c.what)
		}
	}

	// The example also survives a Marshal round trip.
	out, err := Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(cfg.File, out, Options{LookupEnv: noEnv})
	if err != nil {
		t.Fatalf("marshalled example does not load: %v\n%s", err, out)
	}
	_, w1 := roundTripView(cfg)
	_, w2 := roundTripView(back)
	if !reflect.DeepEqual(w1, w2) {
		t.Errorf("example round trip differs:\n%s", strings.Join(deepDiff(w1, w2), "\n"))
	}
}
