package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const twoReplicas = `
version: 1
workers:
  api: {command: [api], replicas: 2, restart: {policy: always, backoff: {initial: 1s, jitter: 0}}, stop: {timeout: 10s}}
  legacy: {type: unmanaged, pidfile: /run/l.pid}
`

// TestCommandErrors: every command is answered; those that cannot apply
// say why and change nothing, those that can reach exactly the replicas
// they name.
func TestCommandErrors(t *testing.T) {
	tests := []struct {
		name    string
		stopped bool // api stopped first
		cmd     Command
		want    string
		signals []int // replicas signalled
	}{
		{name: "reload needs a config", cmd: Command{Verb: CmdReload}, want: "reload needs a config (send EvReload)"},
		{name: "unknown verb", cmd: Command{Verb: Verb(99), Worker: "api"}, want: "unknown command"},
		{name: "unmanaged scale", cmd: Command{Verb: CmdScale, Worker: "legacy", N: 2}, want: "an unmanaged worker has exactly one instance"},
		{name: "too many replicas", cmd: Command{Verb: CmdScale, Worker: "api", N: 10001}, want: "replicas must be 0 to 10000"},
		{name: "negative replica", cmd: Command{Verb: CmdStop, Worker: "api", Replica: -1}, want: "api has no replica -1"},
		{name: "replica above the count", cmd: Command{Verb: CmdRestart, Worker: "api", Replica: 3}, want: "api has no replica 3"},
		{name: "signal with nothing running", stopped: true, cmd: Command{Verb: CmdSignal, Worker: "api", Signal: "HUP"}, want: "api has no running instance"},
		{name: "signal every replica", cmd: Command{Verb: CmdSignal, Worker: "api", Signal: "HUP"}, signals: []int{1, 2}},
		{name: "signal one replica", cmd: Command{Verb: CmdSignal, Worker: "api", Replica: 2, Signal: "USR1"}, signals: []int{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, twoReplicas)
			h.start()
			pids := map[int]int{1: h.spawned("api", 1), 2: h.spawned("api", 2)}
			if tt.stopped {
				h.cmd(Command{Verb: CmdStop, Worker: "api"})
				h.exit("api", 1, 0)
				h.exit("api", 2, 0)
			}
			if got := h.cmd(tt.cmd); got != tt.want {
				t.Fatalf("answer %q, want %q", got, tt.want)
			}
			var got []int
			for _, a := range h.last {
				if a.Kind == ActSignal {
					if a.Signal != tt.cmd.Signal || a.PID != pids[a.H.Replica] {
						t.Errorf("signal %+v, want %s to pid %d", a, tt.cmd.Signal, pids[a.H.Replica])
					}
					got = append(got, a.H.Replica)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.signals) {
				t.Errorf("signalled replicas %v, want %v", got, tt.signals)
			}
		})
	}
}

// TestStopRestartInterplay: commands that arrive while a stop is in
// progress decide what follows it. A stop beats a restart in progress; a
// later restart or start of a replica that is still wanted beats a stop.
// The same holds during the cleanup of a spawn that was in flight when
// hsu died.
func TestStopRestartInterplay(t *testing.T) {
	tests := []struct {
		name      string
		recovered bool // api-1 is being cleaned up after an hsu restart instead of running
		cmds      []Verb
		want      State
	}{
		{name: "restart then stop", cmds: []Verb{CmdRestart, CmdStop}, want: Stopped},
		{name: "stop then restart", cmds: []Verb{CmdStop, CmdRestart}, want: Starting},
		{name: "stop then start", cmds: []Verb{CmdStop, CmdStart}, want: Starting},
		{name: "stop twice", cmds: []Verb{CmdStop, CmdStop}, want: Stopped},
		{name: "cleanup, then stop", recovered: true, cmds: []Verb{CmdStop}, want: Stopped},
		{name: "cleanup, then stop and restart", recovered: true, cmds: []Verb{CmdStop, CmdRestart}, want: Starting},
		{name: "cleanup, then start", recovered: true, cmds: []Verb{CmdStart}, want: Starting},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inflight := Handle{"api", 1, 5}
			var h *harness
			if tt.recovered {
				h = startFrom(t, cfgWith("always"), &Saved{Instances: []Recovered{{H: inflight, State: Starting}}})
			} else {
				h = newHarness(t, cfgWith("always"))
				h.start()
				h.run("api", 1)
			}
			spawns := h.count(ActSpawn, "api")
			for _, v := range tt.cmds {
				if err := h.cmd(Command{Verb: v, Worker: "api"}); err != "" {
					t.Fatalf("%s: %s", v, err)
				}
			}
			if n := h.count(ActSpawn, "api"); n != spawns {
				t.Fatalf("spawned while the old instance was still there (%d spawns, had %d)", n, spawns)
			}
			if tt.recovered {
				h.step(Event{Kind: EvDone, H: inflight, Done: ActKill})
			} else {
				h.exit("api", 1, 0)
			}
			h.expectState("api", 1, tt.want)
		})
	}
}

// TestShutdownWaitsOnlyForLiveInstances: replicas that are backing off or
// waiting for a dependency have nothing to stop; a shutdown stops them at
// once, waits for a cleanup in progress, then finishes.
func TestShutdownWaitsOnlyForLiveInstances(t *testing.T) {
	const cfg = `
version: 1
workers:
  db:
    command: [db]
    restart: {policy: always, backoff: {initial: 5s}}
    health: {readiness: {exec: {command: [r]}, period: 1s, timeout: 500ms}}
  api: {command: [api], depends_on: {db: {condition: healthy}}}
  cache: {command: [cache]}
`
	cleaning := Handle{"cache", 1, 9}
	h := startFrom(t, cfg, &Saved{Instances: []Recovered{{H: cleaning, State: Starting}}})
	h.run("db", 1)
	h.exit("db", 1, 1)
	h.expectState("db", 1, Backoff)
	h.expectState("api", 1, Pending)
	h.cmd(Command{Verb: CmdShutdown})
	h.expectState("db", 1, Stopped)
	h.expectState("api", 1, Stopped)
	if h.e.Done() {
		t.Fatal("shutdown done while cache's cleanup is in flight")
	}
	h.step(Event{Kind: EvDone, H: cleaning, Done: ActKill})
	h.expectState("cache", 1, Stopped)
	if !h.e.Done() || !h.has(ActExit, "", 0) {
		t.Fatal("shutdown not done once nothing is left")
	}
	if n := h.count(ActSpawn, ""); n != 1 {
		t.Errorf("%d spawns, want only db's first", n)
	}
}

// TestProbeEdges: probe results count once, only for a live instance that
// is not stopping, and a failing startup probe restarts under the health
// trigger.
func TestProbeEdges(t *testing.T) {
	const cfg = `
version: 1
workers:
  api:
    command: [api]
    restart: {policy: always, start_seconds: 5s, backoff: {initial: 3s, jitter: 0}}
    health:
      %s
`
	tests := []struct {
		name   string
		health string
		run    func(h *harness)
		want   State
		reason string
	}{
		{
			name:   "startup probe failing",
			health: "startup: {exec: {command: [s]}, period: 1s, timeout: 500ms, failure_threshold: 2}",
			run: func(h *harness) {
				h.spawned("api", 1)
				h.probe("api", 1, ProbeStartup, false)
				h.expectState("api", 1, Starting)
				h.probe("api", 1, ProbeStartup, false)
				h.expectState("api", 1, Stopping)
				h.exit("api", 1, 0)
			},
			want:   Backoff,
			reason: "startup probe failed 2 times; restart 1 (health) in 3s",
		},
		{
			name:   "readiness passed while starting",
			health: "readiness: {exec: {command: [r]}, period: 1s, timeout: 500ms}",
			run: func(h *harness) {
				h.spawned("api", 1)
				h.probe("api", 1, ProbeReadiness, true)
				h.expectState("api", 1, Starting) // start_seconds not over yet
				h.fire("api", 1, TimerStartGrace)
			},
			want:   Ready,
			reason: "readiness probe passed",
		},
		{
			name:   "a duplicate result counts once",
			health: "readiness: {exec: {command: [r]}, period: 1s, timeout: 500ms, success_threshold: 2}",
			run: func(h *harness) {
				h.run("api", 1)
				h.probe("api", 1, ProbeReadiness, true)
				h.step(Event{Kind: EvProbe, H: h.handle("api", 1), Probe: ProbeReadiness, OK: true})
			},
			want:   Running,
			reason: "started",
		},
		{
			name:   "a result while stopping is dropped",
			health: "liveness: {exec: {command: [l]}, period: 1s, timeout: 500ms, failure_threshold: 1}",
			run: func(h *harness) {
				h.run("api", 1)
				h.fire("api", 1, TimerProbe+TimerKind(ProbeLiveness))
				h.cmd(Command{Verb: CmdStop, Worker: "api"})
				h.step(Event{Kind: EvProbe, H: h.handle("api", 1), Probe: ProbeLiveness, OK: false})
			},
			want:   Stopping,
			reason: "command stop",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, strings.Replace(cfg, "%s", tt.health, 1))
			h.start()
			tt.run(h)
			h.expectState("api", 1, tt.want)
			if r := h.e.Snapshot().reasonOf("api", 1); r != tt.reason {
				t.Errorf("reason %q, want %q", r, tt.reason)
			}
		})
	}
}

// TestDependencyConditions: when a dependent starts, for each condition.
func TestDependencyConditions(t *testing.T) {
	const cfg = `
version: 1
workers:
  a: {command: [a], restart: {policy: never}, ready_log_line: "up"}
  b: {command: [b], depends_on: {a: {condition: %s}}}
`
	spawned := func(h *harness) { h.spawned("a", 1) }
	running := func(h *harness) { h.run("a", 1) }
	exit := func(code int) func(h *harness) {
		return func(h *harness) { h.run("a", 1); h.exit("a", 1, code) }
	}
	logReady := func(h *harness) {
		h.spawned("a", 1)
		h.step(Event{Kind: EvLogReady, H: h.handle("a", 1)})
	}
	tests := []struct {
		cond   string
		run    func(h *harness)
		starts bool
	}{
		{"started", spawned, true},
		{"healthy", spawned, false},
		{"healthy", running, true}, // no readiness probe: running is healthy
		{"completed", running, false},
		{"completed", exit(1), true},
		{"completed_successfully", exit(1), false},
		{"completed_successfully", exit(0), true},
		{"log_ready", spawned, false},
		{"log_ready", logReady, true},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%d-%s", i, tt.cond), func(t *testing.T) {
			h := newHarness(t, strings.Replace(cfg, "%s", tt.cond, 1))
			h.start()
			if r := h.e.Snapshot().reasonOf("b", 1); r != "waiting for a to be "+tt.cond {
				t.Errorf("b's reason %q, want it to name what it waits for", r)
			}
			tt.run(h)
			want := Pending
			if tt.starts {
				want = Starting
			}
			h.expectState("b", 1, want)
		})
	}
}

// TestRestartBudgets: crash, health and resource restarts share
// max_restarts unless a trigger sets its own budget under restart.on.
func TestRestartBudgets(t *testing.T) {
	const cfg = `
version: 1
workers:
  api:
    command: [api]
    restart: {policy: always, backoff: {initial: 1s, jitter: 0}, max_restarts: 2, window: 1h, start_seconds: 0s%s}
    health: {liveness: {exec: {command: [l]}, period: 1s, timeout: 500ms, failure_threshold: 1}}
`
	tests := []struct {
		name   string
		on     string
		exits  []string // crash, health (liveness failed), oom
		want   State
		reason string // of a failed replica
	}{
		{name: "shared", exits: []string{"crash", "health"}, want: Backoff},
		{name: "shared, spent", exits: []string{"crash", "health", "oom"}, want: Failed, reason: "OOMKilled; restart budget spent: 2 resource restarts within 1h0m0s"},
		{name: "health apart", on: ", on: {health: {max_restarts: 5}}", exits: []string{"crash", "health", "health", "crash"}, want: Backoff},
		{name: "health apart, crash spent", on: ", on: {health: {max_restarts: 5}}", exits: []string{"crash", "health", "health", "crash", "crash"}, want: Failed, reason: "exited with code 1; restart budget spent: 2 crash restarts within 1h0m0s"},
		{name: "resource apart", on: ", on: {resource: {max_restarts: 1}}", exits: []string{"crash", "oom", "crash"}, want: Backoff},
		{name: "resource apart, spent", on: ", on: {resource: {max_restarts: 1}}", exits: []string{"oom", "oom"}, want: Failed, reason: "OOMKilled; restart budget spent: 1 resource restarts within 1h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, strings.Replace(cfg, "%s", tt.on, 1))
			h.start()
			for i, x := range tt.exits {
				if h.state("api", 1) == Backoff {
					h.fire("api", 1, TimerBackoff)
				}
				h.spawned("api", 1)
				h.advance(time.Second)
				switch x {
				case "crash":
					h.exit("api", 1, 1)
				case "oom":
					h.step(Event{Kind: EvExited, H: h.handle("api", 1), Signal: "KILL", OOM: true})
				case "health":
					h.probe("api", 1, ProbeLiveness, false)
					h.exit("api", 1, 0)
				}
				if i < len(tt.exits)-1 && h.state("api", 1) != Backoff {
					t.Fatalf("after exit %d (%s): %s, want backoff", i+1, x, h.state("api", 1))
				}
			}
			h.expectState("api", 1, tt.want)
			if r := h.e.Snapshot().reasonOf("api", 1); tt.reason != "" && r != tt.reason {
				t.Errorf("reason %q, want %q", r, tt.reason)
			}
		})
	}
}

// TestBudgetAcrossReload: a reload that changes max_restarts keeps the
// restarts already counted (the newest, up to the new size), so editing
// the config does not hand a crash loop a fresh budget.
func TestBudgetAcrossReload(t *testing.T) {
	const cfg = `
version: 1
workers:
  api:
    command: [api]
    env: {GEN: "%s"}
    restart: {policy: always, backoff: {initial: 1s, jitter: 0}, max_restarts: %d, window: 1h, start_seconds: 0s}
`
	tests := []struct {
		newMax int
		more   int // restarts allowed after the reload
	}{{4, 2}, {3, 1}, {2, 0}, {1, 0}}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.newMax), func(t *testing.T) {
			h := newHarness(t, fmt.Sprintf(cfg, "1", 3))
			h.start()
			crash := func() {
				h.spawned("api", 1)
				h.advance(time.Second)
				h.exit("api", 1, 1)
			}
			crash()
			h.fire("api", 1, TimerBackoff)
			crash() // two restarts counted
			h.fire("api", 1, TimerBackoff)
			h.spawned("api", 1)
			// The changed env restarts the instance (not a budget restart).
			h.step(Event{Kind: EvReload, Config: parseConfig(t, fmt.Sprintf(cfg, "2", tt.newMax))})
			h.exit("api", 1, 0)
			h.expectState("api", 1, Starting)
			for i := 0; i < tt.more; i++ {
				crash()
				h.expectState("api", 1, Backoff)
				h.fire("api", 1, TimerBackoff)
			}
			crash()
			h.expectState("api", 1, Failed)
		})
	}
}

// TestUnexpectedSpawnEvents: spawn answers the engine did not ask for, or
// no longer wants, never leak a process or revive a stopped replica.
func TestUnexpectedSpawnEvents(t *testing.T) {
	tests := []struct {
		name string
		run  func(h *harness)
		want State
		kill int // PID that must be killed; 0: no kill
	}{
		{
			name: "a spawn under an unknown generation is killed",
			run:  func(h *harness) { h.step(Event{Kind: EvSpawned, H: Handle{"api", 1, 999}, PID: 4242}) },
			want: Starting,
			kill: 4242,
		},
		{
			name: "a stale spawn without a PID is ignored",
			run:  func(h *harness) { h.step(Event{Kind: EvSpawned, H: Handle{"api", 1, 999}}) },
			want: Starting,
		},
		{
			name: "a failed spawn after a stop stays stopped",
			run: func(h *harness) {
				h.cmd(Command{Verb: CmdStop, Worker: "api"})
				h.step(Event{Kind: EvSpawnFailed, H: h.handle("api", 1), Err: "EAGAIN"})
			},
			want: Stopped,
		},
		{
			name: "a second spawn answer is ignored",
			run: func(h *harness) {
				h.spawned("api", 1)
				h.step(Event{Kind: EvSpawned, H: h.handle("api", 1), PID: 7})
				h.step(Event{Kind: EvSpawnFailed, H: h.handle("api", 1), Err: "EAGAIN"})
			},
			want: Starting,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, cfgWith("always"))
			h.start()
			tt.run(h)
			h.expectState("api", 1, tt.want)
			var kills []int
			for _, a := range h.all {
				if a.Kind == ActKill {
					kills = append(kills, a.PID)
				}
			}
			if (tt.kill == 0 && len(kills) > 0) || (tt.kill != 0 && (len(kills) != 1 || kills[0] != tt.kill)) {
				t.Errorf("kills %v, want pid %d only", kills, tt.kill)
			}
			if _, ok := h.armed("api", 1, TimerBackoff); ok {
				t.Error("a restart is scheduled")
			}
			if pid := h.e.Snapshot().Workers[0].Slots[0].PID; tt.name == "a second spawn answer is ignored" && pid != 1001 {
				t.Errorf("pid %d, want the first answer's 1001", pid)
			}
		})
	}
}

// TestKillIsSentOnce: an instance hsu already SIGKILLed (immediate_kill)
// is not killed again when its stop times out.
func TestKillIsSentOnce(t *testing.T) {
	h := newHarness(t, `
version: 1
workers:
  api:
    command: [api]
    stop: {timeout: 5s}
    resources: {memory: {max: 100Mi, policy: immediate_kill}, monitor_interval: 1s}
`)
	h.start()
	h.run("api", 1)
	h.fire("api", 1, TimerSample)
	h.step(Event{Kind: EvSample, H: h.handle("api", 1), Usage: Usage{Memory: 200 << 20}})
	h.cmd(Command{Verb: CmdStop, Worker: "api"})
	h.fire("api", 1, TimerStopTimeout)
	if n := h.count(ActKill, "api"); n != 1 {
		t.Errorf("%d kills, want 1", n)
	}
	h.step(Event{Kind: EvExited, H: h.handle("api", 1), Signal: "KILL"})
	h.expectState("api", 1, Stopped)
}

// TestReloadEdges: a reload without a config does nothing; a worker
// removed by one reload and added back by the next while it still stops
// starts again once the old instance is gone, and while it is removed
// the driver no longer sees its spec.
func TestReloadEdges(t *testing.T) {
	const both = `
version: 1
workers:
  a: {command: [a]}
  c: {command: [c], stop: {timeout: 10s}}
`
	h := newHarness(t, both)
	h.start()
	h.run("a", 1)
	h.run("c", 1)
	if acts := h.step(Event{Kind: EvReload}); len(acts) != 0 {
		t.Fatalf("a reload without a config acted: %+v", acts)
	}
	h.step(Event{Kind: EvReload, Config: parseConfig(t, "version: 1\nworkers:\n  a: {command: [a]}\n")})
	h.expectState("c", 1, Stopping)
	if h.e.Spec("c") != nil || h.e.Desired("c") != 0 || h.e.Replicas("c") != 1 {
		t.Fatalf("removed c: spec %v, desired %d, %d replicas; want nil, 0, 1 (still stopping)", h.e.Spec("c"), h.e.Desired("c"), h.e.Replicas("c"))
	}
	h.step(Event{Kind: EvReload, Config: parseConfig(t, both)})
	if h.e.Spec("c") == nil || h.e.Desired("c") != 1 {
		t.Fatal("c added back: no spec or not wanted")
	}
	h.exit("c", 1, 0)
	h.expectState("c", 1, Starting)
	if n := h.count(ActSpawn, "c"); n != 2 {
		t.Errorf("c spawned %d times, want 2", n)
	}
}

// TestQueries: what the driver and the checker read between steps.
func TestQueries(t *testing.T) {
	h := newHarness(t, cfgWith("always"))
	h.now = 5 * time.Second
	h.start()
	h.now = 2 * time.Second // a late event carries an earlier time
	h.spawned("api", 1)
	if h.e.Now() != 5*time.Second {
		t.Errorf("Now() = %s: the engine's clock went back", h.e.Now())
	}
	cur := h.handle("api", 1)
	stale := cur
	stale.Gen--
	if !h.e.Alive(cur) || h.e.Alive(stale) || h.e.Alive(Handle{"nope", 1, 1}) {
		t.Error("Alive: want only the current instance alive")
	}
	if h.e.Spec("nope") != nil || h.e.Desired("nope") != 0 || h.e.Replicas("nope") != 0 {
		t.Error("an unknown worker has a spec or replicas")
	}
	if h.e.Probe("nope", ProbeReadiness) != nil || h.e.Probe("api", numProbes) != nil {
		t.Error("Probe of an unknown worker or kind is not nil")
	}
	if _, ok := h.e.State("api", 2); ok {
		t.Error("State of a replica that does not exist")
	}
	h.exit("api", 1, 1)
	if h.e.Alive(cur) {
		t.Error("alive after its exit")
	}
	if h.e.Done() {
		t.Error("done before a shutdown")
	}
	h.cmd(Command{Verb: CmdShutdown})
	if !h.e.Done() || !h.e.Snapshot().ShuttingDown {
		t.Error("not done after a shutdown with nothing running")
	}
}

// TestActionFailures: a failed signal, kill, stop command or throttle is
// told to the operator; a failed sample is not (an instance that exits
// fails its sample), it only re-arms sampling.
func TestActionFailures(t *testing.T) {
	tests := []struct {
		done   ActionKind
		notice string // "" for none
	}{
		{ActSignal, "signal failed: ESRCH"},
		{ActKill, "kill failed: ESRCH"},
		{ActStopCommand, "stop_command failed: ESRCH"},
		{ActThrottle, "throttle failed: ESRCH"},
		{ActSample, ""},
	}
	for _, tt := range tests {
		t.Run(tt.done.String(), func(t *testing.T) {
			h := newHarness(t, cfgWith("always"))
			h.start()
			h.run("api", 1)
			var notices []string
			for _, a := range h.step(Event{Kind: EvDone, H: h.handle("api", 1), Done: tt.done, Err: "ESRCH"}) {
				if a.Kind == ActNotice {
					notices = append(notices, a.Reason.String())
				}
			}
			if want := []string{tt.notice}; (tt.notice == "" && len(notices) > 0) || (tt.notice != "" && fmt.Sprint(notices) != fmt.Sprint(want)) {
				t.Errorf("notices %q, want %q", notices, tt.notice)
			}
			h.expectState("api", 1, Running) // a failed action alone changes no state
		})
	}
}

// TestResourceCrossings: warn is noted and max acted on once per crossing
// (a usage that stays high does not repeat the notice every sample; one
// that drops below and comes back does).
func TestResourceCrossings(t *testing.T) {
	h := newHarness(t, `
version: 1
workers:
  api:
    command: [api]
    resources: {memory: {max: 100Mi, policy: log}, pids: {warn: 10, max: 1000, policy: log}, monitor_interval: 1s}
`)
	h.start()
	h.run("api", 1)
	samples := []struct {
		memMi, pids int
		want        []string
	}{
		{50, 5, nil},
		{120, 12, []string{"memory 120Mi reached max 100Mi: policy log", "pids 12 crossed warn 10"}},
		{130, 20, nil}, // still over: no news
		{90, 5, nil},
		{110, 11, []string{"memory 110Mi reached max 100Mi: policy log", "pids 11 crossed warn 10"}},
	}
	for i, sm := range samples {
		h.fire("api", 1, TimerSample)
		var got []string
		for _, a := range h.step(Event{Kind: EvSample, H: h.handle("api", 1), Usage: Usage{Memory: int64(sm.memMi) << 20, Pids: sm.pids}}) {
			if a.Kind == ActNotice {
				got = append(got, a.Reason.String())
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(sm.want) {
			t.Errorf("sample %d: notices %q, want %q", i+1, got, sm.want)
		}
	}
	h.expectState("api", 1, Running)
}

// TestResourceRestart: restart policy stops the instance and restarts it
// under the resource trigger; a sample over max that arrives while a
// stop command is in progress does not turn the stop into a restart.
func TestResourceRestart(t *testing.T) {
	tests := []struct {
		name      string
		stopFirst bool
		want      State
		reason    string
	}{
		{name: "restarts under the resource trigger", want: Backoff, reason: "memory 200Mi reached max 100Mi: policy restart; restart 1 (resource) in 1s"},
		{name: "a stop in progress wins", stopFirst: true, want: Stopped, reason: "command stop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, `
version: 1
workers:
  api:
    command: [api]
    restart: {policy: always, backoff: {initial: 1s, jitter: 0}}
    resources: {memory: {max: 100Mi, policy: restart}, monitor_interval: 1s}
`)
			h.start()
			h.run("api", 1)
			h.fire("api", 1, TimerSample) // the sample is in flight ...
			if tt.stopFirst {
				h.cmd(Command{Verb: CmdStop, Worker: "api"}) // ... when the stop comes
			}
			h.step(Event{Kind: EvSample, H: h.handle("api", 1), Usage: Usage{Memory: 200 << 20}})
			h.expectState("api", 1, Stopping)
			h.exit("api", 1, 0)
			h.expectState("api", 1, tt.want)
			if r := h.e.Snapshot().reasonOf("api", 1); r != tt.reason {
				t.Errorf("reason %q, want %q", r, tt.reason)
			}
		})
	}
}

// TestScaleWhileStopping: a replica scaled away and wanted again before
// its instance exited restarts once it has; a restart that would exceed
// the count waits for the surplus replica to stop.
func TestScaleWhileStopping(t *testing.T) {
	t.Run("scaled back up", func(t *testing.T) {
		h := newHarness(t, twoReplicas)
		h.start()
		h.run("api", 1)
		h.run("api", 2)
		h.cmd(Command{Verb: CmdScale, Worker: "api", N: 1})
		h.expectState("api", 2, Stopping)
		h.cmd(Command{Verb: CmdScale, Worker: "api", N: 2})
		h.exit("api", 2, 0)
		h.expectState("api", 2, Starting)
		if r := h.e.Replicas("api"); r != 2 {
			t.Errorf("%d replicas, want 2", r)
		}
	})
	t.Run("restart waits for capacity", func(t *testing.T) {
		h := newHarness(t, twoReplicas)
		h.start()
		h.run("api", 1)
		h.run("api", 2)
		h.cmd(Command{Verb: CmdScale, Worker: "api", N: 1}) // api-2 stopping
		h.cmd(Command{Verb: CmdRestart, Worker: "api"})     // api-1 stopping
		h.exit("api", 1, 0)
		h.expectState("api", 1, Pending)
		if r := h.e.Snapshot().reasonOf("api", 1); r != "waiting for replicas above 1 to stop" {
			t.Errorf("reason %q", r)
		}
		h.exit("api", 2, 0)
		h.expectState("api", 1, Starting)
		if r := h.e.Replicas("api"); r != 1 {
			t.Errorf("%d replicas, want 1", r)
		}
	})
}

// TestStopCommand: a worker with stop.command is stopped by running it
// (with the instance's PID), not by a signal; the timeout still applies.
func TestStopCommand(t *testing.T) {
	h := newHarness(t, `
version: 1
workers:
  api: {command: [api], stop: {command: [api, --drain], timeout: 3s}}
`)
	h.start()
	pid := h.spawned("api", 1)
	h.cmd(Command{Verb: CmdStop, Worker: "api"})
	sc := h.find(ActStopCommand, "api", 1)
	if sc == nil || sc.PID != pid || sc.Spec == nil || fmt.Sprint(sc.Spec.Stop.Command) != "[api --drain]" || h.has(ActSignal, "api", 1) {
		t.Fatalf("want the stop command for pid %d and no signal: %+v", pid, h.last)
	}
	if a, ok := h.armed("api", 1, TimerStopTimeout); !ok || a.At != h.now+3*time.Second {
		t.Fatalf("stop timeout %+v, want at +3s", a)
	}
}

// TestIllegalTransitionIsRecorded: the engine reports a transition its
// table does not allow in Bugs, which the tests and the simulator's
// checker require to stay empty.
func TestIllegalTransitionIsRecorded(t *testing.T) {
	e := New(parseConfig(t, cfgWith("always")), fixedRand(0.5))
	e.transition(e.workers["api"].slots[0], Running, Reason{Kind: RStarted})
	if len(e.Bugs) != 1 || !strings.Contains(e.Bugs[0], "illegal transition stopped -> running (started)") {
		t.Fatalf("bugs %q", e.Bugs)
	}
}

// TestScaleUpRevivesStoppedSurplus: a surplus replica that stopped while a
// higher one is still stopping keeps its slot; scaling up again makes it
// pending, and it starts once the higher one is gone (until then two
// instances already run).
func TestScaleUpRevivesStoppedSurplus(t *testing.T) {
	h := newHarness(t, `
version: 1
workers:
  pool: {command: [p], replicas: 3}
`)
	h.start()
	for i := 1; i <= 3; i++ {
		h.run("pool", i)
	}
	h.cmd(Command{Verb: CmdScale, Worker: "pool", N: 1})
	h.exit("pool", 2, 0)
	h.expectState("pool", 2, Stopped)
	h.cmd(Command{Verb: CmdScale, Worker: "pool", N: 2})
	h.expectState("pool", 2, Pending)
	h.exit("pool", 3, 0)
	h.expectState("pool", 2, Starting)
	if r := h.e.Replicas("pool"); r != 2 {
		t.Errorf("%d replicas, want 2", r)
	}
}

// TestNoOps: what must change nothing: a second EvStart, and a restart of
// a replica that has not started yet (it starts when its dependencies
// allow, and a restart must not start it early).
func TestNoOps(t *testing.T) {
	h := newHarness(t, `
version: 1
workers:
  db:
    command: [db]
    health: {readiness: {exec: {command: [r]}, period: 1s, timeout: 500ms}}
  api: {command: [api], depends_on: {db: {condition: healthy}}}
`)
	h.start()
	if acts := h.step(Event{Kind: EvStart}); len(acts) != 0 {
		t.Errorf("a second start acted: %+v", acts)
	}
	if err := h.cmd(Command{Verb: CmdRestart, Worker: "api"}); err != "" {
		t.Fatal(err)
	}
	h.expectState("api", 1, Pending)
	if n := h.count(ActSpawn, "api"); n != 0 {
		t.Errorf("api spawned %d times before db was healthy", n)
	}
}

// TestShutdownOrderBeatsHealthRestart: while a shutdown waits for a
// worker's dependents to stop, its failing liveness probe does not stop
// or restart it early; the shutdown stops it in its turn.
func TestShutdownOrderBeatsHealthRestart(t *testing.T) {
	h := newHarness(t, `
version: 1
workers:
  db:
    command: [db]
    health: {liveness: {exec: {command: [l]}, period: 1s, timeout: 500ms, failure_threshold: 1}}
  api: {command: [api], depends_on: {db: {condition: started}}}
`)
	h.start()
	h.run("db", 1)
	h.run("api", 1)
	h.cmd(Command{Verb: CmdShutdown})
	h.expectState("api", 1, Stopping)
	h.probe("db", 1, ProbeLiveness, false)
	h.expectState("db", 1, Running)
	h.exit("api", 1, 0)
	h.expectState("db", 1, Stopping)
	if r := h.e.Snapshot().reasonOf("db", 1); r != "shutdown" {
		t.Errorf("db stopped because %q, want shutdown", r)
	}
}

// TestScaleBackUpWhileCleaning: a replica whose leftover spawn (from the
// state file of a previous hsu) is still being killed by handle, scaled
// away and back, starts again once the kill completes: it is wanted.
func TestScaleBackUpWhileCleaning(t *testing.T) {
	const cfg = `
version: 1
workers:
  api: {command: [api], replicas: 2}
`
	tests := []struct {
		name      string
		scales    []int
		wantState State
		wantSpawn int // spawns of api-2 after the kill completes
	}{
		{"scaled down and back up", []int{1, 2}, Starting, 1},
		{"scaled down only", []int{1}, Stopped, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleaning := Handle{"api", 2, 9}
			h := startFrom(t, cfg, &Saved{NextGen: 10, Instances: []Recovered{{H: cleaning, State: Starting}}})
			for _, n := range tt.scales {
				h.cmd(Command{Verb: CmdScale, Worker: "api", N: n})
			}
			before := h.count(ActSpawn, "api")
			h.step(Event{Kind: EvDone, H: cleaning, Done: ActKill})
			if st, ok := h.e.State("api", 2); tt.wantState == Stopped && ok && st != Stopped {
				t.Errorf("api-2 is %s, want stopped or gone", st)
			} else if tt.wantState != Stopped && st != tt.wantState {
				t.Errorf("api-2 is %s, want %s", st, tt.wantState)
			}
			if n := h.count(ActSpawn, "api") - before; n != tt.wantSpawn {
				t.Errorf("%d spawns after the kill, want %d", n, tt.wantSpawn)
			}
		})
	}
}
