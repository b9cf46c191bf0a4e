package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// builtinWorker is a worker with every built-in default and nothing else,
// as defined at /cfg/hsu.yaml.
func builtinWorker(name string) *Worker {
	return &Worker{
		Name:     name,
		Type:     TypeManaged,
		Workdir:  "/cfg",
		Replicas: 1,
		Listen:   "127.0.0.1:0",
		Rollout:  "all",
		Restart: Restart{
			Policy:           PolicyOnFailure,
			Backoff:          Backoff{Initial: Duration(time.Second), Max: Duration(5 * time.Minute), Multiplier: 2, Jitter: 0.1},
			ResetAfter:       Duration(10 * time.Minute),
			MaxRestarts:      10,
			Window:           Duration(10 * time.Minute),
			StartSeconds:     Duration(time.Second),
			SuccessExitCodes: []int{0},
		},
		Resources: Resources{MonitorInterval: Duration(5 * time.Second)},
		Stop:      Stop{Signal: "TERM", Timeout: Duration(10 * time.Second)},
		Logs: Logs{
			Format:  "text",
			Console: true,
			Buffer:  1000,
			Rotate:  Rotate{MaxSize: 50 << 20, MaxFiles: 10},
		},
	}
}

func TestBuiltinDefaults(t *testing.T) {
	cfg := mustLoad(t, `version: 1
workers:
  api:
    shell: sleep 1
    health:
      liveness:
        process:
`)
	want := builtinWorker("api")
	want.Shell = "sleep 1"
	want.Health.Liveness = &Probe{
		Process:          &ProcessProbe{},
		Period:           Duration(10 * time.Second),
		Timeout:          Duration(time.Second),
		SuccessThreshold: 1,
		FailureThreshold: 3,
	}
	if got := cfg.Workers["api"]; !reflect.DeepEqual(got, want) {
		t.Errorf("worker:\n got %+v\nwant %+v", got, want)
	}
	if cfg.Version != 1 || cfg.File != "/cfg/hsu.yaml" || !reflect.DeepEqual(cfg.Order, []string{"api"}) {
		t.Errorf("version %d, file %q, order %q", cfg.Version, cfg.File, cfg.Order)
	}
	// Sections given empty still get their defaults.
	cfg = mustLoad(t, `version: 1
workers:
  api:
    shell: sleep 1
    health: {readiness: {tcp: {address: "127.0.0.1:1"}}}
    resources: {memory: {max: 1Gi}, cpu: {max: 2}, pids: {max: 10}}
    depends_on: [db]
  db: {shell: sleep 1}
`)
	w := cfg.Workers["api"]
	if p := w.Health.Readiness; p.Period.D() != 10*time.Second || p.Timeout.D() != time.Second || p.FailureThreshold != 3 || p.SuccessThreshold != 1 {
		t.Errorf("readiness defaults: %+v", p)
	}
	if w.Resources.Memory.Policy != ResImmediateKill || w.Resources.CPU.Policy != ResThrottle || w.Resources.Pids.Policy != ResLog {
		t.Errorf("resource policies: memory %q, cpu %q, pids %q", w.Resources.Memory.Policy, w.Resources.CPU.Policy, w.Resources.Pids.Policy)
	}
	if want := (DependsOn{"db": {Condition: CondStarted}}); !reflect.DeepEqual(w.DependsOn, want) {
		t.Errorf("depends_on = %v, want %v", w.DependsOn, want)
	}
}

// TestMerge checks the layering: built-in defaults, then defaults, then
// each template in extends order (a template over the ones it extends),
// then the worker. Mappings merge key by key; anything else, lists
// included, is replaced.
func TestMerge(t *testing.T) {
	cfg := mustLoad(t, `version: 1
defaults:
  env: {A: from-defaults, B: from-defaults}
  restart: {policy: always, backoff: {initial: 2s}}
  stop: {signal: INT}
templates:
  base:
    env: {B: from-base, C: from-base}
    command: [/bin/base, --base]
    restart: {backoff: {max: 1m}}
    health:
      liveness: {exec: {command: [base-check]}, period: 20s}
  web:
    extends: base
    env: {D: from-web}
    health:
      liveness: {timeout: 5s}
  extra:
    stop: {timeout: 3s}
    command: [/bin/extra]
    replicas: 4
workers:
  api:
    extends: [web, extra]
    env: {A: from-api}
    replicas: 2
  web1:
    extends: web
  plain:
    shell: sleep 1
`)
	api := cfg.Workers["api"]
	checks := []struct {
		what      string
		got, want any
	}{
		{"api env (maps merge, worker wins)", api.Env, EnvMap{"A": "from-api", "B": "from-base", "C": "from-base", "D": "from-web"}},
		{"api command (later template replaces the list)", api.Command, []string{"/bin/extra"}},
		{"api replicas (worker wins)", api.Replicas, 2},
		{"api stop", api.Stop, Stop{Signal: "INT", Timeout: Duration(3 * time.Second)}},
		{"api restart policy", api.Restart.Policy, PolicyAlways},
		{"api backoff (deep merge)", api.Restart.Backoff, Backoff{Initial: Duration(2 * time.Second), Max: Duration(time.Minute), Multiplier: 2, Jitter: 0.1}},
		{"api liveness period (from base)", api.Health.Liveness.Period, Duration(20 * time.Second)},
		{"api liveness timeout (from web)", api.Health.Liveness.Timeout, Duration(5 * time.Second)},
		{"api liveness exec (from base)", api.Health.Liveness.Exec, &ExecProbe{Command: []string{"base-check"}}},
		{"api extends", api.Extends, StringList{"web", "extra"}},
		{"web1 command (template extending template)", cfg.Workers["web1"].Command, []string{"/bin/base", "--base"}},
		{"web1 env", cfg.Workers["web1"].Env, EnvMap{"A": "from-defaults", "B": "from-base", "C": "from-base", "D": "from-web"}},
		{"web1 replicas (built-in)", cfg.Workers["web1"].Replicas, 1},
		{"plain env (defaults only)", cfg.Workers["plain"].Env, EnvMap{"A": "from-defaults", "B": "from-defaults"}},
		{"plain command", cfg.Workers["plain"].Command, []string(nil)},
		{"plain health", cfg.Workers["plain"].Health, Health{}},
		{"plain stop", cfg.Workers["plain"].Stop, Stop{Signal: "INT", Timeout: Duration(10 * time.Second)}},
		{"order", cfg.Order, []string{"api", "web1", "plain"}},
		{"template web command", cfg.Templates["web"].Command, []string{"/bin/base", "--base"}},
		{"defaults env", cfg.Defaults.Env, EnvMap{"A": "from-defaults", "B": "from-defaults"}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.what, c.got, c.want)
		}
	}
}

func TestYAMLMergeKeys(t *testing.T) {
	cfg := mustLoad(t, `version: 1
workers:
  a: &common
    shell: sleep 1
    env: &env {A: "1", B: "1"}
    stop: {timeout: 3s}
  b:
    <<: *common
    env: {B: "2"}
  c:
    shell: sleep 2
    env:
      <<: [*env, {C: "3"}]
      A: own
`)
	b, c := cfg.Workers["b"], cfg.Workers["c"]
	if b.Shell != "sleep 1" || b.Stop.Timeout.D() != 3*time.Second {
		t.Errorf("b did not get a's keys: shell %q, stop %v", b.Shell, b.Stop.Timeout)
	}
	// A merge key is shallow: b's env replaces a's whole env.
	if want := (EnvMap{"B": "2"}); !reflect.DeepEqual(b.Env, want) {
		t.Errorf("b env = %v, want %v", b.Env, want)
	}
	if want := (EnvMap{"A": "own", "B": "1", "C": "3"}); !reflect.DeepEqual(c.Env, want) {
		t.Errorf("c env = %v, want %v", c.Env, want)
	}
}

func TestInclude(t *testing.T) {
	files := memFS{
		mainFile: `version: 1
include: [conf.d/*.yaml, /etc/hsu/shared.yaml]
defaults:
  stop: {timeout: 20s}
workers:
  api:
    extends: svc
    workdir: data
`,
		"/cfg/conf.d/10-db.yaml": `workers:
  db:
    shell: sleep 1
    env_file: db.env
    logs: {file: ../logs/db.log}
`,
		"/cfg/conf.d/20-cache.yaml": `templates:
  svc: {command: [/bin/svc]}
workers:
  cache: {shell: sleep 1, workdir: /var/cache}
`,
		"/cfg/conf.d/db.env":    "A=1\n",
		"/cfg/conf.d/notes.txt": "not yaml: [",
		"/etc/hsu/shared.yaml": `include: more/*.yaml
workers:
  legacy:
    type: unmanaged
    pidfile: run/legacy.pid
`,
		"/etc/hsu/more/x.yaml": "workers:\n  x: {shell: sleep 1}\n",
	}
	cfg, err := load(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"order (each file's own workers, then its includes, in glob order)", cfg.Order, []string{"api", "db", "cache", "legacy", "x"}},
		{"api command (template from an included file)", cfg.Workers["api"].Command, []string{"/bin/svc"}},
		{"api workdir (relative to the main file)", cfg.Workers["api"].Workdir, "/cfg/data"},
		{"db workdir (default: its file's directory)", cfg.Workers["db"].Workdir, "/cfg/conf.d"},
		{"db env_file (relative to its file)", cfg.Workers["db"].EnvFile, StringList{"/cfg/conf.d/db.env"}},
		{"db logs file", cfg.Workers["db"].Logs.File, "/cfg/logs/db.log"},
		{"db stop timeout (main file's defaults)", cfg.Workers["db"].Stop.Timeout, Duration(20 * time.Second)},
		{"cache workdir (absolute kept)", cfg.Workers["cache"].Workdir, "/var/cache"},
		{"legacy pidfile", cfg.Workers["legacy"].Pidfile, "/etc/hsu/run/legacy.pid"},
		{"x workdir", cfg.Workers["x"].Workdir, "/etc/hsu/more"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.what, c.got, c.want)
		}
	}
	if p := cfg.Position("workers.x"); p != (Pos{"/etc/hsu/more/x.yaml", 2, 3}) {
		t.Errorf("Position(workers.x) = %v", p)
	}
}

// TestIncludeSelf checks that a file including itself under another
// spelling of its path is a cycle, not a second copy of its workers.
func TestIncludeSelf(t *testing.T) {
	files := memFS{
		"cfg/hsu.yaml":   "version: 1\ninclude: sub/a.yaml\nworkers:\n  api: {shell: sleep 1}\n",
		"cfg/sub/a.yaml": "include: ../hsu.yaml\n",
	}
	_, err := Parse("./cfg/hsu.yaml", []byte(files["cfg/hsu.yaml"]), files.opts(nil))
	diffLines(t, errorLines(t, err), []string{
		`cfg/sub/a.yaml:1:10: include: include cycle: cfg/sub/a.yaml includes cfg/hsu.yaml, which is already being loaded`,
	})
}

func TestRelativePaths(t *testing.T) {
	files := memFS{
		mainFile: `version: 1
workers:
  api:
    shell: sleep 1
    workdir: ./srv/../app
    env_file: [.env, /etc/app.env]
    logs: {file: logs/api.log}
  abs:
    shell: sleep 1
    workdir: /opt/abs
    logs: {file: /var/log/abs.log}
  legacy:
    type: unmanaged
    pidfile: legacy.pid
`,
		"/cfg/.env":    "A=1\n",
		"/etc/app.env": "B=2\n",
	}
	cfg, err := load(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	api, abs := cfg.Workers["api"], cfg.Workers["abs"]
	got := []string{api.Workdir, api.EnvFile[0], api.EnvFile[1], api.Logs.File, abs.Workdir, abs.Logs.File, cfg.Workers["legacy"].Pidfile}
	want := []string{"/cfg/app", "/cfg/.env", "/etc/app.env", "/cfg/logs/api.log", "/opt/abs", "/var/log/abs.log", "/cfg/legacy.pid"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("paths = %q, want %q", got, want)
	}
}

func TestForTrigger(t *testing.T) {
	cfg := mustLoad(t, `version: 1
workers:
  api:
    shell: sleep 1
    restart:
      backoff: {initial: 2s, max: 1m, multiplier: 3, jitter: 0.2}
      max_restarts: 5
      window: 5m
      on:
        health:
          backoff: {initial: 10s}
          max_restarts: 0
        resource:
          backoff: {max: 10m, multiplier: 1.5, jitter: 0}
          window: 1h
`)
	r := &cfg.Workers["api"].Restart
	base := EffectiveRestart{
		Backoff:     Backoff{Initial: Duration(2 * time.Second), Max: Duration(time.Minute), Multiplier: 3, Jitter: 0.2},
		MaxRestarts: 5,
		Window:      Duration(5 * time.Minute),
	}
	tests := []struct {
		trigger string
		want    EffectiveRestart
	}{
		{TriggerCrash, base},
		{"unknown", base},
		{TriggerHealth, EffectiveRestart{
			Backoff:     Backoff{Initial: Duration(10 * time.Second), Max: Duration(time.Minute), Multiplier: 3, Jitter: 0.2},
			MaxRestarts: 0,
			Window:      Duration(5 * time.Minute),
		}},
		{TriggerResource, EffectiveRestart{
			Backoff:     Backoff{Initial: Duration(2 * time.Second), Max: Duration(10 * time.Minute), Multiplier: 1.5, Jitter: 0},
			MaxRestarts: 5,
			Window:      Duration(time.Hour),
		}},
	}
	for _, tt := range tests {
		if got := r.ForTrigger(tt.trigger); got != tt.want {
			t.Errorf("ForTrigger(%q) = %+v, want %+v", tt.trigger, got, tt.want)
		}
	}
}

// fakePlatform reports fixed problems, like an OS adapter that cannot
// enforce some settings.
type fakePlatform struct {
	problems [][2]string // path, message
	saw      *Config
}

func (p *fakePlatform) Check(cfg *Config, report func(path, msg string)) {
	p.saw = cfg
	for _, pr := range p.problems {
		report(pr[0], pr[1])
	}
}

func TestPlatform(t *testing.T) {
	src := `version: 1
workers:
  api:
    shell: sleep 1
    resources:
      io: {read_bps: 10Mi}
      cpu:
        max: 1.5
`
	plat := &fakePlatform{problems: [][2]string{
		{"workers.api.resources.io", "block I/O limits are not supported on testos"},
		// A path that was not written points at its nearest written parent.
		{"workers.api.resources.cpu.warn", "CPU warn is not supported on testos"},
		{"workers.api.user", "user is not supported on testos"},
	}}
	opts := memFS{}.opts(nil)
	opts.Platform = plat
	_, err := Parse(mainFile, []byte(src), opts)
	diffLines(t, errorLines(t, err), []string{
		`/cfg/hsu.yaml:3:3: workers.api.user: user is not supported on testos`,
		`/cfg/hsu.yaml:6:7: workers.api.resources.io: block I/O limits are not supported on testos`,
		`/cfg/hsu.yaml:7:7: workers.api.resources.cpu.warn: CPU warn is not supported on testos`,
	})
	if plat.saw == nil || plat.saw.Workers["api"].Resources.IO.ReadBPS != 10<<20 {
		t.Errorf("platform did not see the decoded config: %+v", plat.saw)
	}

	// A config with errors is not shown to the platform: it would only
	// judge half-decoded values.
	plat = &fakePlatform{problems: [][2]string{{"workers.api", "never reported"}}}
	opts.Platform = plat
	_, err = Parse(mainFile, []byte(strings.Replace(src, "1.5", "lots", 1)), opts)
	if plat.saw != nil || err == nil || strings.Contains(err.Error(), "never reported") {
		t.Errorf("platform called on an invalid config: %v", err)
	}

	// No problems: loads.
	opts.Platform = &fakePlatform{}
	if _, err := Parse(mainFile, []byte(src), opts); err != nil {
		t.Errorf("platform without problems: %v", err)
	}
}

func TestLoadFromDisk(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(dir+"/missing.yaml", Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "read config: ") {
		t.Errorf("Load of a missing file: %v", err)
	}
}
