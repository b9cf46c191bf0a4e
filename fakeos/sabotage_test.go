package fakeos_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hsu-run/hsu/fakeos"
	"github.com/hsu-run/hsu/scenario"
)

// sabotageCase breaks one invariant on purpose: a small scenario that
// holds every invariant as it is, and a test-only fault (sabotage.go) under
// which it breaks only the invariant named by kind.
type sabotageCase struct {
	kind     string // the violation kind the checker must report, and only it
	msg      string // a part of the message, where one kind has several checks
	sabotage string // a name of fakeos.SabotageNames
	opt      fakeos.Options
	yaml     string
}

var sabotageCases = []sabotageCase{
	{kind: "max-instances", sabotage: "scale-off-by-one", yaml: `
name: scale-up
duration: 20s
config:
  version: 1
  workers:
    api: {command: [/opt/api]}
faults:
  - {at: 5s, command: scale api 2}
`},
	// A restart at once (no back-off) goes from running straight to
	// starting, so the grandchild left over is seen only by the spawn.
	{kind: "duplicate-instance", sabotage: "escaped-child", yaml: `
name: crash-restart-at-once
duration: 10s
config:
  version: 1
  workers:
    api:
      command: [/opt/api]
      restart: {policy: always, start_seconds: 0s, backoff: {initial: 0s, max: 0s}, max_restarts: 0}
behaviour:
  api: {exit_after: 2s, exit_code: 1}
`},
	{kind: "stop-complete", sabotage: "escaped-child", yaml: `
name: stop
duration: 20s
config:
  version: 1
  workers:
    api: {command: [/opt/api]}
faults:
  - {at: 5s, command: stop api}
`},
	{kind: "spawn-after-halt", sabotage: "lost-state-file", yaml: `
name: exited-then-hsu-crash
duration: 20s
config:
  version: 1
  workers:
    once:
      command: [/opt/once]
      restart: {policy: never}
behaviour:
  once: {exit_after: 2s}
faults:
  - {at: 5s, hsu_crash: true, restart_after: 1s}
`},
	{kind: "backoff", sabotage: "early-backoff-timer", yaml: `
name: crash-loop
duration: 20s
config:
  version: 1
  workers:
    api:
      command: [/opt/api]
      restart: {policy: always, backoff: {initial: 4s, max: 4s, multiplier: 1, jitter: 0}, max_restarts: 0}
behaviour:
  api: {exit_after: 1s, exit_code: 1}
`},
	// once is killed, churn-2 is spawned and the stop of once is sent all
	// in the same instant, before hsu has taken once's exit: the PID must
	// still be once's zombie then, not churn-2.
	{kind: "foreign-signal", sabotage: "early-reap", yaml: `
name: stop-the-dead
duration: 20s
config:
  version: 1
  workers:
    once: {command: [/opt/once]}
    churn: {command: [/opt/churn]}
faults:
  - {at: 5s, kill: once, signal: KILL}
  - {at: 5s, command: scale churn 2}
  - {at: 5s, command: stop once}
`},
	{kind: "kill-timing", msg: "before the stop timeout", sabotage: "early-stop-timeout", yaml: stubbornStop},
	{kind: "kill-timing", msg: "not killed", sabotage: "late-stop-timeout", yaml: stubbornStop},
	// db dies at 10s; api is started at 10.5s, while hsu has not heard
	// of db's exit yet.
	{kind: "dependency-order", sabotage: "late-exit", yaml: `
name: start-on-a-dead-dependency
duration: 30s
config:
  version: 1
  workers:
    db: {command: [/opt/db]}
    api:
      command: [/opt/api]
      depends_on: {db: {condition: healthy}}
faults:
  - {at: 5s, command: stop api}
  - {at: 10s, kill: db, signal: KILL}
  - {at: 10500ms, command: start api}
`},
	// The reload makes api depend on db; the engine never learns of it and
	// stops both at once.
	{kind: "stop-order", sabotage: "lost-reload", yaml: `
name: reload-adds-dependency
duration: 20s
config:
  version: 1
  workers:
    db: {command: [/opt/db]}
    api: {command: [/opt/api]}
faults:
  - at: 5s
    reload:
      version: 1
      workers:
        db: {command: [/opt/db]}
        api:
          command: [/opt/api]
          depends_on: {db: {condition: healthy}}
  - {at: 10s, command: shutdown}
`},
	// setup never completes; the reload makes api wait for db instead,
	// which is up, but the engine still waits for setup.
	{kind: "stuck-pending", sabotage: "lost-reload", yaml: `
name: reload-changes-dependency
duration: 20s
config:
  version: 1
  workers:
    setup:
      command: [/opt/setup]
      restart: {policy: never}
    db: {command: [/opt/db]}
    api:
      command: [/opt/api]
      depends_on: {setup: {condition: completed}}
faults:
  - at: 5s
    reload:
      version: 1
      workers:
        setup:
          command: [/opt/setup]
          restart: {policy: never}
        db: {command: [/opt/db]}
        api:
          command: [/opt/api]
          depends_on: {db: {condition: healthy}}
`},
	{kind: "exit-observed", sabotage: "mangled-exit", yaml: exitsOnce},
	{kind: "persist", sabotage: "drop-persist", opt: fakeos.Options{StrictPersist: true}, yaml: `
name: stop-then-hsu-crash
duration: 10s
config:
  version: 1
  workers:
    api: {command: [/opt/api]}
faults:
  - {at: 3s, command: stop api}
  - {at: 5s, hsu_crash: true}
`},
	{kind: "engine", sabotage: "illegal-transition", yaml: `
name: start
duration: 5s
config:
  version: 1
  workers:
    api: {command: [/opt/api]}
`},
	// A lost exit leaves its zombie unreleased while hsu runs on.
	{kind: "exit-observed", msg: "never reached hsu", sabotage: "lost-exit", yaml: exitsOnce},
	// A reload the engine never applies breaks no invariant when it only
	// adds a replica (fewer instances than wanted is allowed); only the
	// scenario's expectation sees it.
	{kind: "expect", sabotage: "lost-reload", yaml: `
name: reload-scale-up
duration: 10s
config:
  version: 1
  workers:
    api: {command: [/opt/api]}
faults:
  - at: 2s
    reload:
      version: 1
      workers:
        api: {command: [/opt/api], replicas: 2}
expect:
  - {final: {api-2: running}}
`},
	// A stop during a full disk: its reply must wait for a write that
	// works; a store that swallows the error lets it through at once.
	{kind: "durable", sabotage: "swallow-write-error", yaml: `
name: stop-on-a-full-disk
duration: 10s
config:
  version: 1
  workers:
    api: {command: [/opt/api]}
faults:
  - {at: 1s, state_write_fail: true, for: 5s}
  - {at: 2s, command: stop api}
`},
	{kind: "hsu-start", sabotage: "corrupt-state-file", yaml: `
name: hsu-crash-restart
duration: 10s
config:
  version: 1
  workers:
    api: {command: [/opt/api]}
faults:
  - {at: 5s, hsu_crash: true, restart_after: 1s}
`},
}

// stubbornStop: a stop of a worker that ignores SIGTERM, so it is SIGKILLed
// at the 5 s stop timeout.
const stubbornStop = `
name: stubborn-stop
duration: 30s
config:
  version: 1
  workers:
    stubborn:
      command: [/opt/stubborn]
      stop: {signal: TERM, timeout: 5s}
behaviour:
  stubborn: {ignore_sigterm: true}
faults:
  - {at: 5s, command: stop stubborn}
`

// exitsOnce: a worker that exits at 2 s and is not restarted.
const exitsOnce = `
name: exits-once
duration: 10s
config:
  version: 1
  workers:
    once:
      command: [/opt/once]
      restart: {policy: never}
behaviour:
  once: {exit_after: 2s}
`

// sabotageSeeds: each case holds for several seeds, so it does not pass
// by the luck of one draw of latencies.
var sabotageSeeds = []int64{1, 2, 3, 4, 5}

// TestSabotage: for every built-in invariant, a fault that breaks it is
// reported as that invariant and no other, and the same scenario without
// the fault reports nothing. A check that never fires under its fault is
// broken; one that fires only with others is not precise.
func TestSabotage(t *testing.T) {
	for _, tc := range sabotageCases {
		name := tc.kind + "/" + tc.sabotage
		t.Run(name, func(t *testing.T) {
			sc, err := scenario.Parse(tc.sabotage+".yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatalf("scenario: %v", err)
			}
			for _, seed := range sabotageSeeds {
				if res := fakeos.New(sc, seed, tc.opt).Run(); !res.OK() {
					t.Fatalf("seed %d, without sabotage: %v%s", seed, res.Violations, timeline(sc, seed, tc.opt, ""))
				}
				res := fakeos.NewSabotaged(sc, seed, tc.opt, tc.sabotage).Run()
				if res.OK() {
					t.Fatalf("seed %d, sabotage %s: no violation, want %s%s", seed, tc.sabotage, tc.kind, timeline(sc, seed, tc.opt, tc.sabotage))
				}
				matched := tc.msg == ""
				for _, v := range res.Violations {
					if v.Kind != tc.kind {
						t.Fatalf("seed %d, sabotage %s: %s, want only %s violations%s", seed, tc.sabotage, v, tc.kind, timeline(sc, seed, tc.opt, tc.sabotage))
					}
					matched = matched || strings.Contains(v.Msg, tc.msg)
				}
				if !matched {
					t.Fatalf("seed %d, sabotage %s: %v, want one saying %q", seed, tc.sabotage, res.Violations, tc.msg)
				}
				if seed == sabotageSeeds[0] {
					t.Logf("%d violations, the first: %s", len(res.Violations), res.Violations[0])
				}
			}
		})
	}
}

// timeline replays a run for a failure message.
func timeline(sc *scenario.Scenario, seed int64, opt fakeos.Options, sabotage string) string {
	var b strings.Builder
	opt.Timeline = func(l string) { b.WriteString("\n" + l) }
	if sabotage == "" {
		fakeos.New(sc, seed, opt).Run()
	} else {
		fakeos.NewSabotaged(sc, seed, opt, sabotage).Run()
	}
	return "\ntimeline:" + b.String()
}

// TestSabotageCoversEveryInvariant: every violation kind the package's
// code can report (the literal first argument of each violate call) has a
// sabotage case, so a new invariant cannot go untested; every case names
// a kind the code still reports, and every sabotage is used.
func TestSabotageCoversEveryInvariant(t *testing.T) {
	inSource := violationKinds(t)
	tested := map[string]bool{}
	usedSab := map[string]bool{}
	for _, tc := range sabotageCases {
		tested[tc.kind] = true
		usedSab[tc.sabotage] = true
		if !inSource[tc.kind] {
			t.Errorf("sabotage case for %q, which no violate call in fakeos reports", tc.kind)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(inSource)) {
		if !tested[k] {
			t.Errorf("violation kind %q has no sabotage case in sabotageCases", k)
		}
	}
	for _, s := range fakeos.SabotageNames() {
		if !usedSab[s] {
			t.Errorf("sabotage %q is used by no case", s)
		}
	}
	if len(inSource) < 10 {
		t.Fatalf("found only %d violation kinds (%v): is the parse still finding the violate calls?", len(inSource), slices.Sorted(maps.Keys(inSource)))
	}
}

// violationKinds parses the package's non-test files for calls of a
// method named violate and returns their kinds; a kind that is not a
// string literal fails the test, since then no test could know it.
func violationKinds(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	kinds := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "violate" || len(call.Args) == 0 {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Errorf("%s: violate with a kind that is not a string literal", fset.Position(call.Pos()))
				return true
			}
			k, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			kinds[k] = true
			return true
		})
	}
	return kinds
}
