package scenario

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hsu-run/hsu/config"
)

func TestDetect(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want Kind
		err  string // substring of the NeitherError, "" for none
	}{
		{"scenario", "name: s\nduration: 1m\nconfig: {}\n", KindScenario, ""},
		{"scenario with config_file", "config_file: hsu.yaml\n", KindScenario, ""},
		// A stray config key in a scenario is the scenario decoder's
		// unknown key, with its position, not a detection error.
		{"scenario with a stray config key", "name: s\nconfig: {}\nworkers: {}\n", KindScenario, ""},
		{"config", "version: 1\nworkers: {}\n", KindConfig, ""},
		{"config without version", "workers: {}\n", KindConfig, ""},
		{"config by include", "version: 1\ninclude: [conf.d/*.yaml]\n", KindConfig, ""},
		// Unknown keys next to workers: are the config loader's to report.
		{"config with an unknown key", "version: 1\nworkers: {}\nservices: {}\n", KindConfig, ""},
		{"scenario without config", "name: s\nduration: 1m\n", KindScenario,
			"neither an hsu config (no workers:) nor a scenario (no config: or config_file:); it looks like a scenario (it has name, duration) without config: or config_file:"},
		{"config without workers", "version: 1\ndefaults: {}\n", KindScenario,
			"; it looks like an hsu config (it has version, defaults) without workers:"},
		{"config at a scenario's top level", "name: s\nduration: 1m\nversion: 1\nworkers: {}\n", KindScenario,
			"neither an hsu config (it has scenario keys name, duration) nor a scenario (no config: or config_file:); it looks like a scenario with its config at the top level: put version, workers under config:"},
		{"something else", "services: {}\nvolumes: {}\n", KindScenario, "; its top-level keys are services, volumes"},
		{"a typo", "version: 1\nworkrs: {}\n", KindScenario, "; workrs: did you mean workers?"},
		{"no keys", "{}\n", KindScenario, "; it has no keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, err := config.ParseYAML("f.yaml", []byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Detect(root)
			if tt.err != "" {
				if !IsNeither(err) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Detect = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestParseFileConfig(t *testing.T) {
	// The config's include and env_file resolve from the config's own
	// directory, wherever hsu-sim runs.
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("app/prod.hsu.yml", "version: 1\ninclude: [conf.d/*.yaml]\nworkers:\n  db: {command: [/opt/db], env_file: db.env}\n")
	write("app/conf.d/api.yaml", "version: 1\nworkers:\n  api: {command: [/opt/api], depends_on: [db]}\n")
	write("app/db.env", "PGDATA=/var/lib/db\n")
	sc, kind, err := LoadFile(filepath.Join(dir, "app/prod.hsu.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if kind != KindConfig || sc.Name != "prod.hsu" || sc.Seed != ConfigSeed || sc.Duration.D() != time.Hour {
		t.Errorf("got kind %v, name %q, seed %d, duration %s", kind, sc.Name, sc.Seed, sc.Duration)
	}
	if got := strings.Join(sc.Cfg.Order, ","); got != "db,api" {
		t.Errorf("workers %s, want db,api", got)
	}
	if len(sc.Behaviour)+len(sc.Faults)+len(sc.Expect) != 0 {
		t.Errorf("a config got behaviours, faults or expectations: %+v", sc)
	}

	// An error in the config keeps the config's position.
	write("bad.yaml", "version: 1\nworkers:\n  api: {command: [a], restart: {policy: alwys}}\n")
	_, kind, err = LoadFile(filepath.Join(dir, "bad.yaml"))
	if kind != KindConfig || err == nil || !strings.Contains(err.Error(), "bad.yaml:3:41: workers.api.restart.policy: unknown value") {
		t.Errorf("bad config: kind %v, error %v", kind, err)
	}
}
