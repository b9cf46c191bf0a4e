package config

import (
	"reflect"
	"strings"
	"testing"
)

// roundTripSources cover every kind of value Marshal writes, including
// strings that YAML would read as something else unless quoted.
var roundTripSources = map[string]string{
	"everything": `version: 1
defaults:
  stop: {timeout: 15s}
templates:
  web:
    restart: {policy: always}
workers:
  api:
    extends: web
    command: ["/opt/api", "--port", "8080", "", "yes", "123", "~", "null", "a: b", "- x", "#", "  padded  ", "multi\nline", "cost $$5", "$${NOT_EXPANDED}", "<<", "[x]"]
    workdir: /srv/api
    env: {EMPTY: "", NUM: 1, BOOL: true, DOLLAR: "$$HOME", QUOTE: "it's \"quoted\""}
    user: nobody
    group: "0"
    replicas: 3
    depends_on: {db: {condition: healthy}, cache: {condition: started}, migrate: {condition: completed_successfully}}
    restart:
      backoff: {initial: 1.5s, max: 7d, multiplier: 1.5, jitter: 0}
      reset_after: 1d12h
      max_restarts: 0
      window: 90
      start_seconds: 250ms
      success_exit_codes: [0, 3]
      on:
        crash: {max_restarts: 0}
        health: {backoff: {initial: 10s, max: 10m, multiplier: 3, jitter: 0.5}, max_restarts: 4, window: 1h}
        resource: {}
    health:
      startup: {exec: {command: [check, --startup]}, period: 1s, timeout: 500ms, failure_threshold: 30}
      readiness: {http: {url: "http://127.0.0.1:8080/ready", method: HEAD, headers: {"X-Token": "$${T}", "X-$$Key": "v", "Empty": ""}}, success_threshold: 2}
      liveness: {tcp: {address: "127.0.0.1:8080"}, initial_delay: 5s}
    ready_log_line: "listening on :8080"
    resources:
      memory: {max: 512Mi, warn: 400Mi, policy: restart}
      cpu: {max: 150%, warn: 500m, policy: throttle}
      pids: {max: 64, warn: 60}
      io: {read_bps: 10Mi, write_bps: 1G}
      fds: {max: 1024}
      monitor_interval: 2s
    stop: {signal: SIGINT, timeout: 1m30s, command: [/opt/api, stop]}
    logs: {file: logs/api.log, format: json, console: false, buffer: 0, rotate: {max_size: 1000, max_files: 0, max_age: 168h, compress: true}}
  db:
    shell: "exec sleep 1000 # with a comment"
    health: {readiness: {grpc: {address: "localhost:5432", service: db}}}
  cache:
    type: integrated
    listen: ":0"
    command: [/opt/cache]
    health: {liveness: {grpc: {}}, readiness: {process: }}
  migrate:
    shell: exit 0
    restart: {policy: never}
    env: {}
    command: []
  legacy:
    type: unmanaged
    discover: {cmdline: "legacy --daemon", port: 5433}
  legacy2:
    type: unmanaged
    pidfile: /run/legacy.pid
    env_file: []
  idle:
    shell: sleep 1
    replicas: 0
`,
	"merge": `version: 1
defaults:
  env: {A: "1"}
templates:
  a: {env: {B: "2"}, command: [/bin/a]}
  b: {extends: a, env: {C: "3"}}
workers:
  w: {extends: [b], env: {D: "4"}}
`,
}

// roundTripView clears what Marshal deliberately leaves out: extends (templates
// are already applied) and the bookkeeping of where things were written.
func roundTripView(cfg *Config) (int, map[string]*Worker) {
	ws := map[string]*Worker{}
	for name, w := range cfg.Workers {
		c := *w
		c.Extends = nil
		ws[name] = &c
	}
	return cfg.Version, ws
}

func TestMarshalRoundTrip(t *testing.T) {
	for name, src := range roundTripSources {
		t.Run(name, func(t *testing.T) {
			cfg := mustLoad(t, src)
			out, err := Marshal(cfg)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse(mainFile, out, memFS{}.opts(nil))
			if err != nil {
				t.Fatalf("marshalled config does not load: %v\n%s", err, out)
			}
			v1, w1 := roundTripView(cfg)
			v2, w2 := roundTripView(back)
			if v1 != v2 {
				t.Errorf("version %d, read back %d", v1, v2)
			}
			for n := range w1 {
				if !reflect.DeepEqual(w1[n], w2[n]) {
					t.Errorf("worker %s read back differs (want != got):\n%s\nmarshalled:\n%s", n, strings.Join(deepDiff(w1[n], w2[n]), "\n"), out)
				}
			}
			if len(w1) != len(w2) {
				t.Errorf("%d workers read back, want %d", len(w2), len(w1))
			}
			if !reflect.DeepEqual(back.Order, cfg.Order) {
				t.Errorf("order %q, read back %q", cfg.Order, back.Order)
			}
			// Marshal is stable: the read-back config marshals the same.
			if again, err := Marshal(back); err != nil || string(again) != string(out) {
				t.Errorf("second Marshal differs (%v):\n%s\nfirst:\n%s", err, again, out)
			}
		})
	}
}

func TestMarshalLiterals(t *testing.T) {
	cfg := mustLoad(t, roundTripSources["everything"])
	out, err := Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	// Spot checks of the canonical forms a reader sees.
	for _, want := range []string{"max: 512Mi", "max: 7d", "reset_after: 36h", "signal: INT", "timeout: 1m30s", "max: 1.5\n", "window: 1m30s"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "extends") || strings.Contains(s, "templates") || strings.Contains(s, "defaults") {
		t.Errorf("output still has templates or defaults:\n%s", s)
	}
}

// TestMarshalWithoutOrder covers a Config built in code, not by Parse.
func TestMarshalWithoutOrder(t *testing.T) {
	b, a := builtinWorker("b"), builtinWorker("a")
	b.Shell, a.Shell = "sleep 2", "sleep 1"
	cfg := &Config{Version: 1, Workers: map[string]*Worker{"b": b, "a": a}}
	out, err := Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(mainFile, out, memFS{}.opts(nil))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !reflect.DeepEqual(back.Order, []string{"a", "b"}) || !reflect.DeepEqual(back.Workers["a"], a) || !reflect.DeepEqual(back.Workers["b"], b) {
		t.Errorf("read back %q %+v %+v\n%s", back.Order, back.Workers["a"], back.Workers["b"], out)
	}
}
