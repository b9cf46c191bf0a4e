package config

import (
	"strings"
	"testing"
	"time"
)

// TestDerivedDefaults checks that a default gives way to a written value
// it would contradict, wherever that value is written (the worker, a
// template, defaults), and stays a constant otherwise.
func TestDerivedDefaults(t *testing.T) {
	type probeTiming struct{ timeout, period time.Duration }
	tests := []struct {
		name string
		src  string // the config after "version: 1\n"
		// liveness probe of worker w, zero when it has none
		probe probeTiming
		// restart.backoff of w
		initial, max time.Duration
		// restart.on.crash.backoff of w, effective (ForTrigger)
		crashInitial, crashMax time.Duration
	}{
		{
			name: "no timing written: the tag defaults",
			src: `workers:
  w:
    shell: x
    health: {liveness: {process: {}}}`,
			probe:   probeTiming{time.Second, 10 * time.Second},
			initial: time.Second, max: 5 * time.Minute,
			crashInitial: time.Second, crashMax: 5 * time.Minute,
		},
		{
			name: "period equal to the default timeout",
			src: `workers:
  w:
    shell: x
    health: {liveness: {process: {}, period: 1s}}`,
			probe:   probeTiming{time.Second, time.Second},
			initial: time.Second, max: 5 * time.Minute,
			crashInitial: time.Second, crashMax: 5 * time.Minute,
		},
		{
			name: "period below the default timeout",
			src: `workers:
  w:
    shell: x
    health: {liveness: {process: {}, period: 250ms}}`,
			probe:   probeTiming{250 * time.Millisecond, 250 * time.Millisecond},
			initial: time.Second, max: 5 * time.Minute,
			crashInitial: time.Second, crashMax: 5 * time.Minute,
		},
		{
			name: "a null timeout is not written",
			src: `workers:
  w:
    shell: x
    health:
      liveness:
        process:
        period: 500ms
        timeout:`,
			probe:   probeTiming{500 * time.Millisecond, 500 * time.Millisecond},
			initial: time.Second, max: 5 * time.Minute,
			crashInitial: time.Second, crashMax: 5 * time.Minute,
		},
		{
			name: "timeout above the default period",
			src: `workers:
  w:
    shell: x
    health: {liveness: {process: {}, timeout: 30s}}`,
			probe:   probeTiming{30 * time.Second, 30 * time.Second},
			initial: time.Second, max: 5 * time.Minute,
			crashInitial: time.Second, crashMax: 5 * time.Minute,
		},
		{
			name: "both written: kept as written",
			src: `workers:
  w:
    shell: x
    health: {liveness: {process: {}, period: 2s, timeout: 2s}}`,
			probe:   probeTiming{2 * time.Second, 2 * time.Second},
			initial: time.Second, max: 5 * time.Minute,
			crashInitial: time.Second, crashMax: 5 * time.Minute,
		},
		{
			name: "period from defaults, timeout from the worker",
			src: `defaults:
  health: {liveness: {period: 20s}}
workers:
  w:
    shell: x
    health: {liveness: {process: {}, timeout: 15s}}`,
			probe:   probeTiming{15 * time.Second, 20 * time.Second},
			initial: time.Second, max: 5 * time.Minute,
			crashInitial: time.Second, crashMax: 5 * time.Minute,
		},
		{
			name: "period from a template",
			src: `templates:
  fast: {health: {liveness: {period: 100ms}}}
workers:
  w:
    extends: fast
    shell: x
    health: {liveness: {process: {}}}`,
			probe:   probeTiming{100 * time.Millisecond, 100 * time.Millisecond},
			initial: time.Second, max: 5 * time.Minute,
			crashInitial: time.Second, crashMax: 5 * time.Minute,
		},
		{
			name: "backoff initial above the default max",
			src: `workers:
  w:
    shell: x
    restart: {backoff: {initial: 10m}}`,
			initial: 10 * time.Minute, max: 10 * time.Minute,
			crashInitial: 10 * time.Minute, crashMax: 10 * time.Minute,
		},
		{
			name: "backoff max below the default initial",
			src: `workers:
  w:
    shell: x
    restart: {backoff: {max: 200ms}}`,
			initial: 200 * time.Millisecond, max: 200 * time.Millisecond,
			crashInitial: 200 * time.Millisecond, crashMax: 200 * time.Millisecond,
		},
		{
			name: "trigger initial above the default max",
			src: `workers:
  w:
    shell: x
    restart: {on: {crash: {backoff: {initial: 10m}}}}`,
			initial: time.Second, max: 5 * time.Minute,
			crashInitial: 10 * time.Minute, crashMax: 10 * time.Minute,
		},
		{
			name: "trigger max below the default initial",
			src: `workers:
  w:
    shell: x
    restart: {on: {crash: {backoff: {max: 500ms}}}}`,
			initial: time.Second, max: 5 * time.Minute,
			crashInitial: 500 * time.Millisecond, crashMax: 500 * time.Millisecond,
		},
		{
			name: "trigger initial within the written max",
			src: `workers:
  w:
    shell: x
    restart: {backoff: {max: 1m}, on: {crash: {backoff: {initial: 30s}}}}`,
			initial: time.Second, max: time.Minute,
			crashInitial: 30 * time.Second, crashMax: time.Minute,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, "version: 1\n"+tt.src+"\n")
			w := cfg.Workers["w"]
			var got probeTiming
			if p := w.Health.Liveness; p != nil {
				got = probeTiming{p.Timeout.D(), p.Period.D()}
			}
			if got != tt.probe {
				t.Errorf("liveness timeout, period = %v, %v; want %v, %v", got.timeout, got.period, tt.probe.timeout, tt.probe.period)
			}
			if b := w.Restart.Backoff; b.Initial.D() != tt.initial || b.Max.D() != tt.max {
				t.Errorf("backoff initial, max = %v, %v; want %v, %v", b.Initial, b.Max, tt.initial, tt.max)
			}
			if b := w.Restart.ForTrigger(TriggerCrash).Backoff; b.Initial.D() != tt.crashInitial || b.Max.D() != tt.crashMax {
				t.Errorf("crash backoff initial, max = %v, %v; want %v, %v", b.Initial, b.Max, tt.crashInitial, tt.crashMax)
			}
			// What hsu shows as the effective config reads back the same.
			out, err := Marshal(cfg)
			if err != nil {
				t.Fatal(err)
			}
			again := mustLoad(t, string(out))
			if p, q := w.Health.Liveness, again.Workers["w"].Health.Liveness; p != nil && *p != *q {
				t.Errorf("liveness after Marshal and Parse = %+v, want %+v", *q, *p)
			}
			if a, b := w.Restart.ForTrigger(TriggerCrash), again.Workers["w"].Restart.ForTrigger(TriggerCrash); a != b {
				t.Errorf("crash restart after Marshal and Parse = %+v, want %+v", b, a)
			}
		})
	}
}

// TestDerivedDefaultsKeepWrittenConflicts checks that values the user
// wrote on both sides are still judged, with the error at the one the
// user wrote.
func TestDerivedDefaultsKeepWrittenConflicts(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"probe timeout above period", `
    health: {liveness: {process: {}, period: 1s, timeout: 2s}}`,
			"workers.w.health.liveness.timeout: timeout (2s) must not exceed period (1s)"},
		{"backoff max below initial", `
    restart: {backoff: {initial: 1m, max: 30s}}`,
			"workers.w.restart.backoff.max: max (30s) is below initial (1m)"},
		{"trigger initial above the written max", `
    restart: {backoff: {max: 1m}, on: {health: {backoff: {initial: 2m}}}}`,
			"workers.w.restart.on.health.backoff.initial: initial (2m) is above max (1m), inherited from restart.backoff.max"},
		{"trigger max below the written initial", `
    restart: {backoff: {initial: 10s}, on: {resource: {backoff: {max: 5s}}}}`,
			"workers.w.restart.on.resource.backoff.max: max (5s) is below initial (10s), inherited from restart.backoff.initial"},
		{"trigger inheriting both: reported once, for the worker", `
    restart: {backoff: {initial: 1m, max: 30s}, on: {crash: {backoff: {multiplier: 3}}}}`,
			"workers.w.restart.backoff.max: max (30s) is below initial (1m)"},
		{"window zero under the default budget", `
    restart: {window: 0s}`,
			"workers.w.restart.window: must be positive while max_restarts is 10 (max_restarts: 0 means no limit)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "version: 1\nworkers:\n  w:\n    shell: x" + tt.src + "\n"
			_, err := load(memFS{mainFile: src}, nil)
			got := strings.Join(errorLines(t, err), "\n")
			if !strings.Contains(got, tt.want) || strings.Count(got, "\n") != 0 {
				t.Errorf("errors:\n%s\nwant one: %s", got, tt.want)
			}
		})
	}
}
