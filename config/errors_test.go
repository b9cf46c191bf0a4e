package config

import (
	"fmt"
	"strings"
	"testing"
)

// TestLoadErrors checks the exact text of each kind of error: the position
// (file:line:col of the offending key or value), the key path and the
// message.
func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		files memFS // mainFile is the config loaded
		env   map[string]string
		want  []string
	}{
		{
			name: "unknown key with suggestion",
			files: memFS{mainFile: `version: 1
workers:
  api:
    shell: sleep 1
    restat: always
`},
			want: []string{`/cfg/hsu.yaml:5:5: workers.api.restat: unknown key "restat"; did you mean restart?`},
		},
		{
			name: "unknown key without suggestion",
			files: memFS{mainFile: `version: 1
workers:
  api:
    shell: sleep 1
    colour: blue
`},
			want: []string{`/cfg/hsu.yaml:5:5: workers.api.colour: unknown key "colour"`},
		},
		{
			name: "unknown nested key",
			files: memFS{mainFile: `version: 1
workers:
  api:
    shell: sleep 1
    health:
      liveness:
        exec: {command: [check]}
        perod: 5s
`},
			want: []string{`/cfg/hsu.yaml:8:9: workers.api.health.liveness.perod: unknown key "perod"; did you mean period?`},
		},
		{
			name: "unknown top-level key",
			files: memFS{mainFile: `version: 1
worker:
  api: {shell: sleep 1}
`},
			want: []string{
				`/cfg/hsu.yaml:1:1: workers: no workers defined`,
				`/cfg/hsu.yaml:2:1: worker: unknown key "worker"; did you mean workers?`,
			},
		},
		{
			name: "wrong type",
			files: memFS{mainFile: `version: 1
workers:
  api:
    shell: sleep 1
    replicas: many
    env: [A=1]
    command: sleep
    logs: {console: maybe}
    stop: {timeout: [1s]}
`},
			want: []string{
				`/cfg/hsu.yaml:5:15: workers.api.replicas: expected an integer, got "many"`,
				`/cfg/hsu.yaml:6:10: workers.api.env: expected a mapping, got a list`,
				`/cfg/hsu.yaml:7:14: workers.api.command: expected a list, got "sleep"`,
				`/cfg/hsu.yaml:8:21: workers.api.logs.console: expected true or false, got "maybe"`,
				`/cfg/hsu.yaml:9:21: workers.api.stop.timeout: expected a value, got a list`,
			},
		},
		{
			name: "worker is not a mapping",
			files: memFS{mainFile: `version: 1
workers:
  api: sleep 1
`},
			want: []string{`/cfg/hsu.yaml:3:8: workers.api: expected a mapping, got "sleep 1"`},
		},
		{
			name: "bad enum",
			files: memFS{mainFile: `version: 1
workers:
  api:
    type: manged
    shell: sleep 1
    restart: {policy: sometimes}
    depends_on: {db: {condition: ready}}
  db: {shell: sleep 1}
`},
			want: []string{
				`/cfg/hsu.yaml:4:11: workers.api.type: unknown value "manged" (want one of managed, unmanaged, integrated); did you mean managed?`,
				`/cfg/hsu.yaml:6:23: workers.api.restart.policy: unknown value "sometimes" (want one of never, on-failure, always, unless-stopped)`,
				`/cfg/hsu.yaml:7:34: workers.api.depends_on.db.condition: unknown value "ready" (want one of started, healthy, completed, completed_successfully, log_ready)`,
			},
		},
		{
			name: "bad size, duration, cores and signal",
			files: memFS{mainFile: `version: 1
workers:
  api:
    shell: sleep 1
    resources:
      memory: {max: 12Zi}
      cpu: {max: lots}
    stop:
      timeout: 10 minutes
      signal: SIGFOO
`},
			want: []string{
				`/cfg/hsu.yaml:6:21: workers.api.resources.memory.max: invalid size "12Zi" (want bytes or a number with Ki, Mi, Gi, Ti, K, M, G or T, like 512Mi)`,
				`/cfg/hsu.yaml:7:18: workers.api.resources.cpu.max: invalid CPU amount "lots" (want cores like 1.5, millicores like 500m, or a percentage like 150%)`,
				`/cfg/hsu.yaml:9:16: workers.api.stop.timeout: invalid duration "10 minutes" (want Go syntax like 1m30s, a d suffix like 7d, or seconds)`,
				`/cfg/hsu.yaml:10:15: workers.api.stop.signal: unknown signal "SIGFOO" (want one of HUP, INT, QUIT, ABRT, KILL, USR1, SEGV, USR2, PIPE, ALRM, TERM, CONT, STOP, TSTP, WINCH)`,
			},
		},
		{
			name: "missing required field",
			files: memFS{mainFile: `version: 1
workers:
  api:
    shell: sleep 1
    health:
      liveness:
        http: {method: GET}
      readiness:
        tcp: {}
`},
			want: []string{
				`/cfg/hsu.yaml:7:15: workers.api.health.liveness.http: missing required key "url"`,
				`/cfg/hsu.yaml:9:14: workers.api.health.readiness.tcp: missing required key "address"`,
			},
		},
		{
			name: "missing version",
			files: memFS{mainFile: `workers:
  api: {shell: sleep 1}
`},
			want: []string{`/cfg/hsu.yaml:1:1: missing required key "version" (add version: 1)`},
		},
		{
			name: "empty version",
			files: memFS{mainFile: `version:
workers:
  api: {shell: sleep 1}
`},
			want: []string{`/cfg/hsu.yaml:1:1: missing required key "version" (add version: 1)`},
		},
		{
			name:  "wrong version",
			files: memFS{mainFile: "version: 2\nworkers:\n  api: {shell: sleep 1}\n"},
			want:  []string{`/cfg/hsu.yaml:1:10: version: must be at most 1, got 2`},
		},
		{
			name: "duplicate key",
			files: memFS{mainFile: `version: 1
workers:
  api:
    shell: sleep 1
    shell: sleep 2
`},
			want: []string{`/cfg/hsu.yaml:5:5: workers.api.shell: duplicate key (first set at /cfg/hsu.yaml:4:5)`},
		},
		{
			name: "duplicate worker",
			files: memFS{mainFile: `version: 1
workers:
  api: {shell: sleep 1}
  api: {shell: sleep 2}
`},
			want: []string{`/cfg/hsu.yaml:4:3: workers.api: duplicate worker "api" (first defined at /cfg/hsu.yaml:3:3)`},
		},
		{
			name: "duplicate worker across an include",
			files: memFS{
				mainFile: `version: 1
include: more.yaml
workers:
  api: {shell: sleep 1}
`,
				"/cfg/more.yaml": `workers:
  db: {shell: sleep 1}
  api: {shell: sleep 2}
`},
			want: []string{`/cfg/more.yaml:3:3: workers.api: duplicate worker "api" (first defined at /cfg/hsu.yaml:4:3)`},
		},
		{
			name: "dependency on unknown worker",
			files: memFS{mainFile: `version: 1
workers:
  db: {shell: sleep 1}
  api:
    shell: sleep 1
    depends_on: [dbb]
  web:
    shell: sleep 1
    depends_on:
      cache: {condition: healthy}
`},
			want: []string{
				`/cfg/hsu.yaml:6:18: workers.api.depends_on.dbb: unknown worker "dbb"; did you mean db?`,
				`/cfg/hsu.yaml:10:7: workers.web.depends_on.cache: unknown worker "cache"`,
			},
		},
		{
			name: "dependency on itself",
			files: memFS{mainFile: `version: 1
workers:
  api:
    shell: sleep 1
    depends_on: [api]
`},
			want: []string{`/cfg/hsu.yaml:5:18: workers.api.depends_on.api: a worker cannot depend on itself`},
		},
		{
			name: "dependency cycle",
			files: memFS{mainFile: `version: 1
workers:
  a:
    shell: sleep 1
    depends_on: [b]
  b:
    shell: sleep 1
    depends_on: {c: {condition: healthy}}
  c:
    shell: sleep 1
    depends_on: [a]
  d:
    shell: sleep 1
    depends_on: [a]
`},
			want: []string{`/cfg/hsu.yaml:5:18: workers.a.depends_on.b: dependency cycle: a -> b -> c -> a`},
		},
		{
			name: "impossible dependency conditions",
			files: memFS{mainFile: `version: 1
workers:
  migrate:
    shell: sleep 1
    restart: {policy: always}
  api:
    shell: sleep 1
    depends_on:
      migrate: {condition: completed_successfully}
      db: {condition: log_ready}
  db: {shell: sleep 1}
`},
			want: []string{
				`/cfg/hsu.yaml:9:17: workers.api.depends_on.migrate.condition: migrate has restart policy always, so it never completes`,
				`/cfg/hsu.yaml:10:12: workers.api.depends_on.db.condition: log_ready needs db to set ready_log_line`,
			},
		},
		{
			name: "extends cycle",
			files: memFS{mainFile: `version: 1
templates:
  t1:
    extends: t2
    shell: sleep 1
  t2:
    extends: t1
workers:
  api:
    extends: t1
`},
			want: []string{`/cfg/hsu.yaml:3:3: templates.t1.extends: extends cycle: t1 -> t2 -> t1`},
		},
		{
			name: "unknown template",
			files: memFS{mainFile: `version: 1
templates:
  web: {shell: sleep 1}
workers:
  api:
    extends: webb
    shell: sleep 1
  api2:
    extends: [web, other]
`},
			want: []string{
				`/cfg/hsu.yaml:6:14: workers.api.extends: unknown template "webb"; did you mean web?`,
				`/cfg/hsu.yaml:9:14: workers.api2.extends: unknown template "other"`,
			},
		},
		{
			name: "defaults cannot extend",
			files: memFS{mainFile: `version: 1
templates:
  web: {shell: sleep 1}
defaults:
  extends: web
workers:
  api: {shell: sleep 1}
`},
			want: []string{`/cfg/hsu.yaml:5:12: defaults.extends: defaults cannot extend a template`},
		},
		{
			// Only written values conflict: an unwritten timeout or period
			// is derived from the other (derive_test.go).
			name: "probe timeout above period",
			files: memFS{mainFile: `version: 1
defaults:
  health:
    readiness: {period: 10s}
workers:
  api:
    shell: sleep 1
    health:
      liveness:
        exec: {command: [check]}
        period: 2s
        timeout: 2001ms
      readiness:
        process:
        timeout: 20s
`},
			want: []string{
				`/cfg/hsu.yaml:12:9: workers.api.health.liveness.timeout: timeout (2.001s) must not exceed period (2s)`,
				`/cfg/hsu.yaml:15:9: workers.api.health.readiness.timeout: timeout (20s) must not exceed period (10s)`,
			},
		},
		{
			name: "probe kinds",
			files: memFS{mainFile: `version: 1
workers:
  api:
    shell: sleep 1
    health:
      liveness: {period: 5s}
      readiness:
        tcp: {address: "localhost:80"}
        exec: {command: [check]}
      startup:
        http: {url: "ftp://example.com/"}
`},
			want: []string{
				`/cfg/hsu.yaml:6:7: workers.api.health.liveness: a probe needs one of http, tcp, grpc, exec or process`,
				`/cfg/hsu.yaml:7:7: workers.api.health.readiness: a probe has exactly one of http, tcp, grpc, exec or process; 2 are set`,
				`/cfg/hsu.yaml:11:16: workers.api.health.startup.http.url: want an http:// or https:// URL with a host, got "ftp://example.com/"`,
			},
		},
		{
			name: "negative replicas",
			files: memFS{mainFile: `version: 1
workers:
  api:
    shell: sleep 1
    replicas: -1
`},
			want: []string{`/cfg/hsu.yaml:5:15: workers.api.replicas: must be at least 0, got -1`},
		},
		{
			name: "memory warn not below max",
			files: memFS{mainFile: `version: 1
workers:
  api:
    shell: sleep 1
    resources:
      memory: {max: 512Mi, warn: 1Gi}
      cpu: {max: 500m, warn: 50%}
`},
			want: []string{
				`/cfg/hsu.yaml:6:28: workers.api.resources.memory.warn: warn (1Gi) must be below max (512Mi)`,
				`/cfg/hsu.yaml:7:24: workers.api.resources.cpu.warn: warn (0.5) must be below max (0.5)`,
			},
		},
		{
			name: "io limits",
			files: memFS{mainFile: `version: 1
workers:
  a:
    shell: sleep 1
    resources:
      io: {device: /dev/sda}
  b:
    shell: sleep 1
    resources:
      io: {write_iops: 10, device: sda}
  c:
    shell: sleep 1
    resources:
      io: {read_iops: -1, write_bps: 1Mi, device: "8:0"}
`},
			want: []string{
				`/cfg/hsu.yaml:6:7: workers.a.resources.io: set read_bps, write_bps, read_iops or write_iops`,
				`/cfg/hsu.yaml:10:28: workers.b.resources.io.device: want an absolute path or MAJ:MIN (8:0), got "sda"`,
				`/cfg/hsu.yaml:14:23: workers.c.resources.io.read_iops: must be at least 0, got -1`,
			},
		},
		{
			name: "backoff max below initial",
			files: memFS{mainFile: `version: 1
workers:
  api:
    shell: sleep 1
    restart:
      backoff: {initial: 10s, max: 5s}
      on:
        health:
          backoff: {initial: 10m}
`},
			want: []string{
				`/cfg/hsu.yaml:6:31: workers.api.restart.backoff.max: max (5s) is below initial (10s)`,
				`/cfg/hsu.yaml:9:21: workers.api.restart.on.health.backoff.initial: initial (10m) is above max (5s), inherited from restart.backoff.max`,
			},
		},
		{
			name: "out of range numbers",
			files: memFS{mainFile: `version: 1
workers:
  api:
    shell: sleep 1
    restart:
      backoff: {multiplier: 0.5, jitter: 2}
  b:
    shell: sleep 1
    restart:
      success_exit_codes: [0, 256]
`},
			want: []string{
				`/cfg/hsu.yaml:6:29: workers.api.restart.backoff.multiplier: must be at least 1, got 0.5`,
				`/cfg/hsu.yaml:6:42: workers.api.restart.backoff.jitter: must be at most 1, got 2`,
				`/cfg/hsu.yaml:10:31: workers.b.restart.success_exit_codes[1]: exit codes are 0 to 255, got 256`,
			},
		},
		{
			name: "unmanaged without pidfile or discover",
			files: memFS{mainFile: `version: 1
workers:
  legacy:
    type: unmanaged
  other:
    type: unmanaged
    discover: {}
`},
			want: []string{
				`/cfg/hsu.yaml:3:3: workers.legacy: an unmanaged worker needs pidfile or discover (cmdline or port)`,
				`/cfg/hsu.yaml:5:3: workers.other: an unmanaged worker needs pidfile or discover (cmdline or port)`,
				`/cfg/hsu.yaml:7:5: workers.other.discover: set cmdline, port or both`,
			},
		},
		{
			name: "unmanaged with a command",
			files: memFS{mainFile: `version: 1
workers:
  legacy:
    type: unmanaged
    pidfile: /run/legacy.pid
    shell: sleep 1
`},
			want: []string{`/cfg/hsu.yaml:4:5: workers.legacy.type: an unmanaged worker is never started by hsu; remove command/shell or use type managed`},
		},
		{
			name: "command and shell both set",
			files: memFS{mainFile: `version: 1
workers:
  api:
    command: [/bin/api]
    shell: /bin/api
`},
			want: []string{`/cfg/hsu.yaml:5:5: workers.api.shell: set command or shell, not both`},
		},
		{
			name: "neither command nor shell",
			files: memFS{mainFile: `version: 1
workers:
  api:
    replicas: 2
  empty:
`},
			want: []string{
				`/cfg/hsu.yaml:3:3: workers.api: a managed worker needs command or shell`,
				`/cfg/hsu.yaml:5:3: workers.empty: a managed worker needs command or shell`,
			},
		},
		{
			name: "invalid names",
			files: memFS{mainFile: `version: 1
workers:
  -api:
    shell: sleep 1
    env: {"1A": x}
`},
			want: []string{
				`/cfg/hsu.yaml:3:3: workers.-api: invalid worker name: use letters, digits, '_', '-' and '.', starting with a letter or digit`,
				`/cfg/hsu.yaml:5:11: workers.-api.env.1A: invalid environment variable name`,
			},
		},
		{
			name:  "YAML syntax error",
			files: memFS{mainFile: "version: 1\nworkers:\n  api: {shell: sleep 1\n"},
			// The line where the unclosed mapping starts.
			want: []string{`/cfg/hsu.yaml:3:1: YAML syntax: did not find expected ',' or '}'`},
		},
		{
			name:  "empty file",
			files: memFS{mainFile: "# nothing yet\n"},
			want:  []string{`/cfg/hsu.yaml:1:1: empty config file`},
		},
		{
			name:  "two documents",
			files: memFS{mainFile: "version: 1\nworkers: {api: {shell: x}}\n---\nversion: 1\n"},
			want:  []string{`/cfg/hsu.yaml:3:1: more than one YAML document in the file; hsu reads one`},
		},
		{
			name:  "top level not a mapping",
			files: memFS{mainFile: "- version: 1\n"},
			want:  []string{`/cfg/hsu.yaml:1:1: expected a mapping at the top of the file, got a list`},
		},
		{
			name: "unset variable",
			files: memFS{mainFile: `version: 1
workers:
  api:
    shell: echo ${GREETING}
    env:
      TOKEN: ${TOKEN:?set TOKEN to the API token}
      PORT: ${PORT:-8080}
`},
			env: map[string]string{"TOKEN": ""},
			want: []string{
				`/cfg/hsu.yaml:4:12: workers.api.shell: environment variable GREETING is not set (write ${GREETING:-} to allow empty)`,
				`/cfg/hsu.yaml:6:14: workers.api.env.TOKEN: environment variable TOKEN: set TOKEN to the API token`,
			},
		},
		{
			name: "missing env_file",
			files: memFS{mainFile: `version: 1
workers:
  api:
    shell: sleep 1
    env_file: [.env, missing.env]
`, "/cfg/.env": "A=1\n"},
			want: []string{`/cfg/hsu.yaml:5:5: workers.api.env_file[1]: cannot read /cfg/missing.env: open /cfg/missing.env: file does not exist`},
		},
		{
			name: "bad env_file",
			files: memFS{mainFile: `version: 1
workers:
  api:
    shell: sleep 1
    env_file: app.env
`, "/cfg/app.env": "A=1\nB\n"},
			want: []string{`/cfg/hsu.yaml:5:5: workers.api.env_file[0]: /cfg/app.env: line 2: expected KEY=VALUE, got "B"`},
		},
		{
			name: "error inside an included file",
			files: memFS{
				mainFile: `version: 1
include: conf.d/*.yaml
workers:
  api: {shell: sleep 1}
`,
				"/cfg/conf.d/a.yaml": `workers:
  a:
    shell: sleep 1
    restat: always
`,
				"/cfg/conf.d/b.yaml": `workers:
  b:
    shell: sleep 1
    depends_on: [aa]
`},
			want: []string{
				`/cfg/conf.d/a.yaml:4:5: workers.a.restat: unknown key "restat"; did you mean restart?`,
				`/cfg/conf.d/b.yaml:4:18: workers.b.depends_on.aa: unknown worker "aa"; did you mean a?`,
			},
		},
		{
			name: "include matching nothing",
			files: memFS{mainFile: `version: 1
include: [other.yaml, "[bad"]
workers:
  api: {shell: sleep 1}
`},
			want: []string{
				`/cfg/hsu.yaml:2:11: include: "other.yaml" matches no file`,
				`/cfg/hsu.yaml:2:23: include: bad pattern "[bad": syntax error in pattern`,
			},
		},
		{
			name: "include cycle",
			files: memFS{
				mainFile: `version: 1
include: a.yaml
workers:
  api: {shell: sleep 1}
`,
				"/cfg/a.yaml": `include: b.yaml
workers:
  a: {shell: sleep 1}
`,
				"/cfg/b.yaml": `include: a.yaml
`},
			want: []string{`/cfg/b.yaml:1:10: include: include cycle: /cfg/b.yaml includes /cfg/a.yaml, which is already being loaded`},
		},
		{
			name: "alias to a node that contains it",
			files: memFS{mainFile: `version: 1
defaults: &d
  env: *d
workers:
  a: &x {shell: x, <<: *x}
`},
			want: []string{
				`/cfg/hsu.yaml:3:8: alias *d refers to a node that contains it`,
				`/cfg/hsu.yaml:5:24: alias *x refers to a node that contains it`,
			},
		},
		{
			name: "missing required key in a merged mapping",
			files: memFS{mainFile: `version: 1
defaults:
  health: {liveness: {http: {method: GET}}}
workers:
  a:
    shell: x
    health: {liveness: {http: {method: POST}}}
`},
			want: []string{
				`/cfg/hsu.yaml:3:29: defaults.health.liveness.http: missing required key "url"`,
				`/cfg/hsu.yaml:7:31: workers.a.health.liveness.http: missing required key "url"`,
			},
		},
		{
			name: "defaults in an included file",
			files: memFS{
				mainFile:      "version: 1\ninclude: a.yaml\nworkers:\n  api: {shell: sleep 1}\n",
				"/cfg/a.yaml": "defaults:\n  replicas: 2\n",
			},
			want: []string{`/cfg/a.yaml:1:1: defaults: defaults may only be set in the main config file`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := load(tt.files, tt.env)
			if err == nil {
				t.Fatalf("loaded without error: %+v", cfg)
			}
			if cfg != nil {
				t.Errorf("Parse returned a config with an error")
			}
			diffLines(t, errorLines(t, err), tt.want)
			// The error text of the list is the lines joined.
			if got, want := err.Error(), strings.Join(tt.want, "\n"); got != want {
				t.Errorf("Error() = %q, want %q", got, want)
			}
		})
	}
}

// TestErrorsSortedAndCapped checks that every problem is reported in one
// run, in file order whatever the phase that found it, and that the list
// stops at MaxErrors with a count of the rest.
func TestErrorsSortedAndCapped(t *testing.T) {
	t.Run("sorted", func(t *testing.T) {
		// The dependency error (found last, by validation) is on the first
		// worker; the decode errors come after it in the file.
		src := `version: 1
workers:
  api:
    shell: sleep 1
    depends_on: [nope]
  b:
    shell: sleep 1
    replicas: x
  c:
    shell: sleep 1
    restart: {policy: x}
`
		_, err := load(memFS{mainFile: src}, nil)
		diffLines(t, errorLines(t, err), []string{
			`/cfg/hsu.yaml:5:18: workers.api.depends_on.nope: unknown worker "nope"`,
			`/cfg/hsu.yaml:8:15: workers.b.replicas: expected an integer, got "x"`,
			`/cfg/hsu.yaml:11:23: workers.c.restart.policy: unknown value "x" (want one of never, on-failure, always, unless-stopped)`,
		})
	})
	t.Run("capped", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("version: 1\nworkers:\n")
		const n = MaxErrors + 7
		for i := range n {
			fmt.Fprintf(&b, "  w%d: {shell: x, replicas: -%d}\n", i, i+1)
		}
		_, err := load(memFS{mainFile: b.String()}, nil)
		list, ok := err.(*ErrorList)
		if !ok {
			t.Fatalf("error %T %v, want *ErrorList", err, err)
		}
		if len(list.Errs) != MaxErrors || list.Dropped != 7 {
			t.Fatalf("got %d errors, %d dropped; want %d, 7", len(list.Errs), list.Dropped, MaxErrors)
		}
		for i, e := range list.Errs {
			// "  wI: {shell: x, replicas: -N}": the value is at column 28
			// for a one-digit I.
			col := 27 + len(fmt.Sprint(i))
			want := fmt.Sprintf("/cfg/hsu.yaml:%d:%d: workers.w%d.replicas: must be at least 0, got -%d", i+3, col, i, i+1)
			if e.Error() != want {
				t.Fatalf("error %d = %q, want %q", i, e.Error(), want)
			}
		}
		if !strings.HasSuffix(err.Error(), "\n... and 7 more errors") {
			t.Errorf("Error() does not end with the dropped count: %q", err.Error())
		}
	})
}

// TestHostileInputIsBounded feeds documents whose aliases share subtrees
// exponentially often; they must load (or fail) in linear time. Without
// the bounds each would take about 2^40 steps.
func TestHostileInputIsBounded(t *testing.T) {
	const depth = 40
	var merges, nested strings.Builder
	merges.WriteString("version: 1\ntemplates:\n  m0: &m0 {shell: x}\n")
	nested.WriteString("version: 1\ndefaults:\n  env: &d0 {A: x}\n")
	for i := 1; i <= depth; i++ {
		// Each merges the previous one twice.
		fmt.Fprintf(&merges, "  m%d: &m%d {<<: [*m%d, *m%d]}\n", i, i, i-1, i-1)
	}
	fmt.Fprintf(&merges, "workers:\n  api: {<<: *m%d}\n", depth)
	// defaults and the worker each share a subtree twice per level, so a
	// deep merge of the two visits 2^depth pairs.
	nested.WriteString("  restart: &r0 {backoff: {initial: 1s}}\n")
	for i := 1; i <= depth; i++ {
		fmt.Fprintf(&nested, "  x%d: &d%d {a: *d%d, b: *d%d}\n", i, i, i-1, i-1)
	}
	fmt.Fprintf(&nested, "workers:\n  api: {shell: x, x%d: *d%d}\n", depth, depth)

	cfg, err := load(memFS{mainFile: merges.String()}, nil)
	if err != nil {
		t.Errorf("merge chain: %v", err)
	} else if cfg.Workers["api"].Shell != "x" {
		t.Errorf("merge chain: shell %q", cfg.Workers["api"].Shell)
	}
	// The unknown keys x1..x40 make it invalid; what matters is that it
	// returns, with a bounded list.
	_, err = load(memFS{mainFile: nested.String()}, nil)
	if list, ok := err.(*ErrorList); !ok || len(list.Errs) == 0 || len(list.Errs) > MaxErrors {
		t.Errorf("nested defaults: %v", err)
	}
}
