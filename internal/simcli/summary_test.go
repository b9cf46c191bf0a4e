package simcli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/engine"
	"github.com/hsu-run/hsu/fakeos"
	"github.com/hsu-run/hsu/scenario"
)

func TestRestartTrigger(t *testing.T) {
	tests := []struct {
		to   engine.State
		r    engine.Reason
		want string // "" for not a restart
	}{
		{engine.Backoff, engine.Reason{Kind: engine.RBackoff, Trigger: "health"}, "health"},
		{engine.Backoff, engine.Reason{Kind: engine.RBackoff, Trigger: "crash"}, "crash"},
		// Zero back-off: straight to starting, the reason is the cause.
		{engine.Starting, engine.Reason{Kind: engine.RExited, Code: 1}, "crash"},
		{engine.Starting, engine.Reason{Kind: engine.RSignalled, Signal: "KILL"}, "crash"},
		{engine.Starting, engine.Reason{Kind: engine.RSpawnFailed, Text: "EAGAIN"}, "crash"},
		{engine.Starting, engine.Reason{Kind: engine.RVerifyFailed}, "crash"},
		{engine.Starting, engine.Reason{Kind: engine.ROOM}, "resource"},
		{engine.Starting, engine.Reason{Kind: engine.RResource, Text: "memory"}, "resource"},
		{engine.Starting, engine.Reason{Kind: engine.RResourceKilled, Text: "pids"}, "resource"},
		{engine.Starting, engine.Reason{Kind: engine.RLivenessFailed, N: 3}, "health"},
		// Not automatic restarts.
		{engine.Starting, engine.Reason{Kind: engine.RBackoffDone}, ""},
		{engine.Starting, engine.Reason{Kind: engine.RDepsMet}, ""},
		{engine.Starting, engine.Reason{Kind: engine.RCommand, Text: "restart"}, ""},
		{engine.Starting, engine.Reason{Kind: engine.RReload}, ""},
		{engine.Failed, engine.Reason{Kind: engine.RBudget, Trigger: "crash"}, ""},
		{engine.Stopping, engine.Reason{Kind: engine.RLivenessFailed}, ""},
	}
	for _, tt := range tests {
		got, ok := restartTrigger(tt.to, tt.r)
		if ok != (tt.want != "") || got != tt.want {
			t.Errorf("restartTrigger(%s, %s) = %q, %v; want %q", tt.to, tt.r, got, ok, tt.want)
		}
	}
}

// step is one transition fed to a collector.
type step struct {
	at       time.Duration
	worker   string
	replica  int
	from, to engine.State
	r        engine.Reason
}

func collect(cfg *config.Config, end time.Duration, steps []step) *Summary {
	c := newCollector(cfg)
	for _, s := range steps {
		c.onAction(s.at, &engine.Action{Kind: engine.ActTransition, H: engine.Handle{Worker: s.worker, Replica: s.replica, Gen: 1}, From: s.from, To: s.to, Reason: s.r})
	}
	return c.finish(end)
}

func TestCollector(t *testing.T) {
	cfg := &config.Config{Order: []string{"db", "api"}}
	s := time.Second
	sum := collect(cfg, 60*s, []step{
		// api-1 comes up at 1s; a crash restart costs it 10s-12s.
		{0, "api", 1, engine.Stopped, engine.Pending, engine.Reason{Kind: engine.RDefined}},
		{0, "api", 1, engine.Pending, engine.Starting, engine.Reason{Kind: engine.RDepsMet}},
		{1 * s, "api", 1, engine.Starting, engine.Running, engine.Reason{Kind: engine.RStarted}},
		{10 * s, "api", 1, engine.Running, engine.Backoff, engine.Reason{Kind: engine.RBackoff, Trigger: "crash", D: s, N: 1}},
		{11 * s, "api", 1, engine.Backoff, engine.Starting, engine.Reason{Kind: engine.RBackoffDone}},
		{12 * s, "api", 1, engine.Starting, engine.Ready, engine.Reason{Kind: engine.RStarted}},
		// Stopped by a command from 20s to 30s: asked for, not counted.
		{20 * s, "api", 1, engine.Ready, engine.Stopping, engine.Reason{Kind: engine.RCommand, Text: "stop"}},
		{20*s + 500*time.Millisecond, "api", 1, engine.Stopping, engine.Stopped, engine.Reason{Kind: engine.RCommand, Text: "stop"}},
		{30 * s, "api", 1, engine.Stopped, engine.Starting, engine.Reason{Kind: engine.RCommand, Text: "start"}},
		{31 * s, "api", 1, engine.Starting, engine.Running, engine.Reason{Kind: engine.RStarted}},
		// Zero back-off health restart at 40s, then down until the end.
		{40 * s, "api", 1, engine.Stopping, engine.Starting, engine.Reason{Kind: engine.RLivenessFailed, N: 3}},
		{50 * s, "api", 1, engine.Starting, engine.Failed, engine.Reason{Kind: engine.RBudget, Cause: engine.RLivenessFailed, CauseN: 3, N: 2, D: 10 * time.Minute, Trigger: "health"}},
		// api-2 never comes up.
		{0, "api", 2, engine.Pending, engine.Failed, engine.Reason{Kind: engine.RSpawnImpossible, Text: "ENOENT"}},
		// db-1 is stopped before it ever ran: not "never up".
		{0, "db", 1, engine.Pending, engine.Stopped, engine.Reason{Kind: engine.RCommand, Text: "stop"}},
	})
	api := sum.Workers["api"]
	if got := api.Restarts; got["crash"] != 1 || got["health"] != 1 || got["resource"] != 0 {
		t.Errorf("api restarts %v", got)
	}
	// 10-12 (backoff, starting), 20-20.5 (stopping), 30-31 (starting), 40-60 (starting, failed).
	if want := 2*s + 500*time.Millisecond + s + 20*s; time.Duration(api.NotReady) != want {
		t.Errorf("api not ready %s, want %s", api.NotReady, Seconds(want))
	}
	if len(api.GiveUps) != 2 || api.GiveUps[0].Replica != "api-1" || api.GiveUps[1].Reason != "spawn impossible: ENOENT" {
		t.Errorf("api give-ups %+v", api.GiveUps)
	}
	if strings.Join(api.NeverUp, ",") != "api-2" {
		t.Errorf("api never up %v", api.NeverUp)
	}
	if db := sum.Workers["db"]; db.NotReady != 0 || len(db.NeverUp) != 0 {
		t.Errorf("db %+v", db)
	}

	var out bytes.Buffer
	sum.print(&out)
	want := `worker  crash  health  resource  give-ups  not ready
db      0      0       0         0         0.000s
api     1      1       0         2         23.500s
gave up: api-1 at 50.000s: liveness probe failed 3 times; restart budget spent: 2 health restarts within 10m0s
gave up: api-2 at 0.000s: spawn impossible: ENOENT
never up: api-2
`
	if out.String() != want {
		t.Errorf("print:\n%s\nwant:\n%s", out.String(), want)
	}

	// JSON: seconds as numbers, every trigger present, empty lists not null.
	b, err := json.Marshal(sum.Workers["db"])
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"restarts":{"crash":0,"health":0,"resource":0},"give_ups":[],"not_ready_s":0,"not_ready_by_replica":{},"never_up":[]}`; string(b) != want {
		t.Errorf("json %s\nwant %s", b, want)
	}
	b, _ = json.Marshal(api.GiveUps[0])
	if want := `{"replica":"api-1","t":50,"reason":"liveness probe failed 3 times; restart budget spent: 2 health restarts within 10m0s"}`; string(b) != want {
		t.Errorf("json %s\nwant %s", b, want)
	}
}

// TestCollectorOnEngine checks the trigger of each automatic restart
// against the engine itself: with nothing but automatic restarts, the
// per-trigger counts add up to the simulator's own restart count (spawns
// after the first), with a back-off and with none (where the trigger is
// inferred from the cause).
func TestCollectorOnEngine(t *testing.T) {
	cases := []struct {
		trigger   string
		worker    string // worker config, without restart:
		behaviour string
	}{
		{"crash", `{command: [a], %s}`, `{exit_after: 5s, exit_code: 1}`},
		{"resource", `{command: [a], resources: {memory: {max: 256Mi}}, %s}`, `{memory: {start: 50Mi, grow: 100Mi/min}}`},
		// hsu, not the kernel, kills at a pids limit.
		{"resource", `{command: [a], resources: {pids: {max: 2, policy: immediate_kill}, monitor_interval: 5s}, %s}`, `{children: 3}`},
		{"health", `{command: [a], health: {liveness: {http: {url: "http://x/"}, period: 2s, failure_threshold: 3}}, %s}`, `{unhealthy_after: 30s}`},
	}
	for _, c := range cases {
		for _, backoff := range []string{"1s", "0s"} {
			t.Run(c.trigger+"/"+c.behaviour+"/backoff="+backoff, func(t *testing.T) {
				restart := fmt.Sprintf("restart: {policy: always, max_restarts: 0, backoff: {initial: %s, jitter: 0}, on: {health: {backoff: {initial: %s, jitter: 0}}}}", backoff, backoff)
				doc := fmt.Sprintf("name: t\nduration: 10m\nconfig:\n  version: 1\n  workers:\n    w: "+c.worker+"\nbehaviour:\n  w: %s\n", restart, c.behaviour)
				sc, err := scenario.Parse("t.yaml", []byte(doc))
				if err != nil {
					t.Fatal(err)
				}
				col := newCollector(sc.Cfg)
				res := fakeos.New(sc, 1, fakeos.Options{NoTrace: true, OnAction: col.onAction}).Run()
				if !res.OK() {
					t.Fatalf("violations: %v", res.Violations)
				}
				got := col.finish(res.End).Workers["w"].Restarts
				// A restart decided but still backing off at the end has
				// not spawned yet, so the simulator does not count it.
				want := res.Restarts["w"]
				if res.Final["w"][0] == engine.Backoff {
					want++
				}
				if want == 0 || got[c.trigger] != want {
					t.Errorf("restarts by trigger %v, want all %d under %s", got, want, c.trigger)
				}
			})
		}
	}
}

func TestSweepSummary(t *testing.T) {
	cfg := &config.Config{Order: []string{"api"}}
	s := time.Second
	down := func(from, to time.Duration) []step {
		return []step{
			{0, "api", 1, engine.Pending, engine.Running, engine.Reason{Kind: engine.RStarted}},
			{from, "api", 1, engine.Running, engine.Backoff, engine.Reason{Kind: engine.RBackoff, Trigger: "crash"}},
			{to, "api", 1, engine.Backoff, engine.Running, engine.Reason{Kind: engine.RStarted}},
		}
	}
	ss := newSweepSummary()
	// Added out of seed order, as parallel seeds finish: seeds 3 and 2
	// tie for the worst; the lower seed is named.
	ss.add(3, collect(cfg, 60*s, down(10*s, 14*s)))
	ss.add(1, collect(cfg, 60*s, append(down(10*s, 11*s), step{20 * s, "api", 1, engine.Running, engine.Failed, engine.Reason{Kind: engine.RBudget, Trigger: "crash"}})))
	ss.add(2, collect(cfg, 60*s, down(10*s, 14*s)))
	var out bytes.Buffer
	ss.print(&out)
	// Seed 1: 1s + 40s failed; seeds 2 and 3: 4s each; mean 49s/3.
	want := `worker  crash  health  resource  give-ups    not ready/seed  worst seed
api     3      0       0         1 (1 seed)  16.333s         41.000s (seed 1)
`
	if out.String() != want {
		t.Errorf("print:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestReproduce(t *testing.T) {
	cfgIn := input{sc: &scenario.Scenario{File: "hsu.yaml"}, kind: scenario.KindConfig}
	scIn := input{sc: &scenario.Scenario{File: "s.yaml"}, kind: scenario.KindScenario}
	tests := []struct {
		in             input
		swarm, noSwarm bool
		dur            time.Duration
		platform       string // "": not given
		want           string
		wantSwarm      bool
	}{
		{cfgIn, false, false, 0, "", "hsu-sim run hsu.yaml --seed 7", true},
		{cfgIn, true, false, 0, "", "hsu-sim run hsu.yaml --seed 7", true},
		{cfgIn, false, true, 0, "", "hsu-sim run hsu.yaml --seed 7 --no-swarm", false},
		{cfgIn, false, false, 10 * time.Minute, "", "hsu-sim run hsu.yaml --seed 7 --duration 10m", true},
		{scIn, false, false, 0, "", "hsu-sim run s.yaml --seed 7", false},
		{scIn, true, false, 0, "", "hsu-sim run s.yaml --seed 7 --swarm", true},
		{scIn, false, true, 0, "", "hsu-sim run s.yaml --seed 7", false},
		{scIn, false, false, 0, "linux-nocgroup", "hsu-sim run s.yaml --seed 7 --platform linux-nocgroup", false},
	}
	for _, tt := range tests {
		dur := ""
		plat := tt.platform
		rf := &runFlags{swarm: &tt.swarm, noSwarm: &tt.noSwarm, duration: &dur, dur: tt.dur,
			platform: &plat, platformSet: func() bool { return plat != "" }}
		if got := rf.reproduce(tt.in, 7); got != tt.want {
			t.Errorf("reproduce = %q, want %q", got, tt.want)
		}
		if got := rf.swarmFor(tt.in); got != tt.wantSwarm {
			t.Errorf("%s swarm=%v no-swarm=%v: swarmFor = %v, want %v", tt.in.sc.File, tt.swarm, tt.noSwarm, got, tt.wantSwarm)
		}
	}
}

// TestRunExampleConfig is the issue's own case: the bundled example config
// runs as it is, swarm faults and all.
func TestRunExampleConfig(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Run([]string{"run", "-q", "../../examples/hsu.yaml"}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"== hsu (../../examples/hsu.yaml) seed=1 duration=1h swarm\n", "\nworker  crash  health  resource  give-ups  not ready\n", "\nok hsu seed=1 "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestSweepExampleConfig sweeps the example config on parallel workers:
// the totals must not depend on the order seeds finish in (run it with
// -race for the collectors' sharing too).
func TestSweepExampleConfig(t *testing.T) {
	var a, b, errOut bytes.Buffer
	if code := Run([]string{"sweep", "--seeds", "8", "-j", "4", "../../examples/hsu.yaml"}, &a, &errOut); code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, a.String(), errOut.String())
	}
	if code := Run([]string{"sweep", "--seeds", "8", "-j", "1", "../../examples/hsu.yaml"}, &b, &errOut); code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, b.String(), errOut.String())
	}
	if a.String() != b.String() {
		t.Errorf("-j 4:\n%s\n-j 1:\n%s", a.String(), b.String())
	}
	if !strings.Contains(a.String(), "\nok hsu: 8 seeds (1..8), 0 failing, ") {
		t.Errorf("output:\n%s", a.String())
	}
}
