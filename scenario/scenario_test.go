package scenario

import (
	"strings"
	"testing"
)

func TestRate(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		err  string
	}{
		{"60Mi/min", float64(60<<20) / 60, ""},
		{"1Mi/s", 1 << 20, ""},
		{"3600/h", 1, ""},
		{"10Mi", 0, "want SIZE/UNIT"},
		{"10Mi/day", 0, "invalid rate unit"},
		{"lots/s", 0, "invalid size"},
	}
	for _, tt := range tests {
		var r Rate
		err := r.UnmarshalText([]byte(tt.in))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || float64(r) != tt.want {
			t.Errorf("%q = %v, %v; want %v", tt.in, float64(r), err, tt.want)
		}
	}
}

const base = `name: t
duration: 1m
config:
  version: 1
  workers:
    api: {command: [a], replicas: 2}
`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		extra string
		want  string
	}{
		{"faults:\n  - {at: 2m, command: stop api}\n", "s.yaml:8:6: faults[0].at: after the end of the scenario (1m)"},
		{"faults:\n  - {at: 1s, command: stop apx}\n", `faults[0].command: unknown worker "apx"`},
		{"faults:\n  - {at: 1s, command: scale api-1 2}\n", "scale takes a worker, not a replica"},
		{"faults:\n  - {at: 1s, command: stop api, kill: api}\n", "exactly one of kill, command"},
		{"faults:\n  - {at: 1s, spawn_fail: api, errno: EWHAT}\n", `unknown errno "EWHAT"`},
		{"expect:\n  - {final: {api: runing}}\n", `unknown state "runing"`},
		{"expect:\n  - {state: {api: running}}\n", "state needs at"},
		{"behaviour:\n  web: {exit_after: 1s}\n", `behaviour.web: unknown worker "web"`},
		{"behaviour:\n  api: {recover_after: 1s}\n", "recover_after needs unhealthy_after"},
	}
	for _, tt := range tests {
		_, err := Parse("s.yaml", []byte(base+tt.extra))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want %q", tt.extra, err, tt.want)
		}
	}
}

func TestParseTargets(t *testing.T) {
	sc, err := Parse("s.yaml", []byte(base+"faults:\n  - {at: 1s, command: restart api-2}\n  - {at: 2s, command: signal api HUP}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c := sc.Faults[0].Cmd; c.Worker != "api" || c.Replica != 2 {
		t.Errorf("restart api-2 parsed as %+v", c)
	}
	if c := sc.Faults[1].Cmd; c.Signal != "HUP" {
		t.Errorf("signal api HUP parsed as %+v", c)
	}
}
