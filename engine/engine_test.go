package engine

import (
	"strings"
	"testing"
	"time"
)

const oneWorker = `
version: 1
workers:
  api:
    command: [api]
    restart: {policy: %s, backoff: {initial: 1s, max: 4s, multiplier: 2, jitter: 0.5}, max_restarts: 3, window: 1m, start_seconds: 1s, reset_after: 30s}
`

func cfgWith(policy string) string { return strings.Replace(oneWorker, "%s", policy, 1) }

func TestRestartPolicies(t *testing.T) {
	tests := []struct {
		policy string
		code   int
		want   State
	}{
		{"never", 1, Exited},
		{"never", 0, Exited},
		{"on-failure", 0, Exited},
		{"on-failure", 1, Backoff},
		{"always", 0, Backoff},
		{"always", 1, Backoff},
		{"unless-stopped", 0, Backoff},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			h := newHarness(t, cfgWith(tt.policy))
			h.start()
			h.expectState("api", 1, Starting)
			h.run("api", 1)
			h.advance(5 * time.Second)
			h.exit("api", 1, tt.code)
			h.expectState("api", 1, tt.want)
		})
	}
}

func TestBackoffGrowsCapsAndResets(t *testing.T) {
	h := newHarness(t, cfgWith("always"))
	h.start()
	// fixedRand(0.5) makes the jitter factor exactly 1.
	var delays []time.Duration
	for i := 0; i < 3; i++ {
		h.run("api", 1)
		h.advance(2 * time.Second)
		h.exit("api", 1, 1)
		a, ok := h.armed("api", 1, TimerBackoff)
		if !ok {
			t.Fatalf("restart %d: no back-off timer; state %s", i+1, h.state("api", 1))
		}
		delays = append(delays, a.At-h.now)
		h.fire("api", 1, TimerBackoff)
		h.expectState("api", 1, Starting)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
	for i := range want {
		if delays[i] != want[i] {
			t.Errorf("delay %d = %s, want %s (all: %v)", i+1, delays[i], want[i], delays)
		}
	}
	// Up for reset_after: the next delay is initial again, and the budget
	// window (1m) has passed, so it is not failed.
	h.run("api", 1)
	h.advance(time.Minute)
	h.exit("api", 1, 1)
	if a, _ := h.armed("api", 1, TimerBackoff); a.At-h.now != time.Second {
		t.Errorf("after reset_after, delay = %s, want 1s", a.At-h.now)
	}
}

func TestRestartBudgetFails(t *testing.T) {
	h := newHarness(t, cfgWith("always"))
	h.start()
	for i := 0; i < 3; i++ {
		h.run("api", 1)
		h.exit("api", 1, 2)
		h.fire("api", 1, TimerBackoff)
	}
	h.run("api", 1)
	h.exit("api", 1, 2)
	h.expectState("api", 1, Failed)
	r := h.e.Snapshot().reasonOf("api", 1)
	if !strings.Contains(r, "restart budget spent: 3 crash restarts within 1m") || !strings.Contains(r, "exited with code 2") {
		t.Errorf("reason %q does not say why", r)
	}
	if h.count(ActSpawn, "api") != 4 {
		t.Errorf("spawns = %d, want 4", h.count(ActSpawn, "api"))
	}
}

func TestFailedStartIsReported(t *testing.T) {
	h := newHarness(t, cfgWith("always"))
	h.start()
	h.spawned("api", 1)
	h.advance(500 * time.Millisecond)
	h.exit("api", 1, 1)
	if r := h.e.Snapshot().reasonOf("api", 1); !strings.Contains(r, "failed start") {
		t.Errorf("reason %q, want a failed start", r)
	}
}

func TestSpawnErrors(t *testing.T) {
	for _, tt := range []struct {
		errno string
		want  State
	}{{"ENOENT", Failed}, {"EACCES", Failed}, {"EAGAIN", Backoff}, {"ENOMEM", Backoff}} {
		t.Run(tt.errno, func(t *testing.T) {
			h := newHarness(t, cfgWith("always"))
			h.start()
			h.step(Event{Kind: EvSpawnFailed, H: h.handle("api", 1), Err: tt.errno})
			h.expectState("api", 1, tt.want)
		})
	}
}

func TestStopDuringBackoffCancelsRestart(t *testing.T) {
	h := newHarness(t, cfgWith("always"))
	h.start()
	h.run("api", 1)
	h.exit("api", 1, 1)
	stale, ok := h.armed("api", 1, TimerBackoff)
	if !ok {
		t.Fatal("no back-off timer")
	}
	if err := h.cmd(Command{Verb: CmdStop, Worker: "api"}); err != "" {
		t.Fatal(err)
	}
	h.expectState("api", 1, Stopped)
	// The driver may still deliver the old timer: it must do nothing.
	h.now = stale.At
	h.step(Event{Kind: EvTimer, Timer: stale.Timer})
	h.expectState("api", 1, Stopped)
	if h.count(ActSpawn, "api") != 1 {
		t.Fatalf("spawned after stop: %d spawns", h.count(ActSpawn, "api"))
	}
}

func TestStopEscalatesToKillAtTimeout(t *testing.T) {
	h := newHarness(t, `
version: 1
workers:
  api: {command: [api], stop: {signal: INT, timeout: 7s}}
`)
	h.start()
	pid := h.spawned("api", 1)
	h.cmd(Command{Verb: CmdStop, Worker: "api"})
	sig := h.find(ActSignal, "api", 1)
	if sig == nil || sig.Signal != "INT" || sig.PID != pid {
		t.Fatalf("stop sent %+v, want INT to pid %d", sig, pid)
	}
	h.expectState("api", 1, Stopping)
	a, _ := h.armed("api", 1, TimerStopTimeout)
	if a.At != h.now+7*time.Second {
		t.Fatalf("kill timer at %s, want %s", a.At, h.now+7*time.Second)
	}
	h.fire("api", 1, TimerStopTimeout)
	if !h.has(ActKill, "api", 1) {
		t.Fatal("no SIGKILL at the stop timeout")
	}
	h.step(Event{Kind: EvExited, H: h.handle("api", 1), Signal: "KILL"})
	h.expectState("api", 1, Stopped)
}

func TestStopWhileSpawning(t *testing.T) {
	h := newHarness(t, cfgWith("always"))
	h.start()
	h.cmd(Command{Verb: CmdStop, Worker: "api"})
	h.expectState("api", 1, Stopping)
	// The spawn completes after the stop: it is signalled at once.
	h.spawned("api", 1)
	if !h.has(ActSignal, "api", 1) {
		t.Fatal("instance spawned after a stop was not signalled")
	}
	h.exit("api", 1, 0)
	h.expectState("api", 1, Stopped)
}

func TestRestartHasNoOverlap(t *testing.T) {
	h := newHarness(t, cfgWith("always"))
	h.start()
	h.run("api", 1)
	h.cmd(Command{Verb: CmdRestart, Worker: "api"})
	h.cmd(Command{Verb: CmdRestart, Worker: "api"}) // idempotent while stopping
	if n := h.count(ActSpawn, "api"); n != 1 {
		t.Fatalf("spawned before the old instance exited: %d spawns", n)
	}
	h.exit("api", 1, 0)
	if n := h.count(ActSpawn, "api"); n != 2 {
		t.Fatalf("spawns after restart = %d, want 2", n)
	}
	h.expectState("api", 1, Starting)
}

func TestCommandRacingExit(t *testing.T) {
	// The exit and a restart command cross: the exit is processed first,
	// then the command finds the replica in backoff. One instance only.
	h := newHarness(t, cfgWith("always"))
	h.start()
	h.run("api", 1)
	old := h.handle("api", 1)
	h.exit("api", 1, 1)
	h.cmd(Command{Verb: CmdRestart, Worker: "api"})
	h.expectState("api", 1, Starting)
	// A duplicate exit for the old generation is ignored.
	h.step(Event{Kind: EvExited, H: old, Code: 1})
	h.expectState("api", 1, Starting)
	if n := h.count(ActSpawn, "api"); n != 2 {
		t.Fatalf("spawns = %d, want 2", n)
	}
}

func TestStaleEventsIgnored(t *testing.T) {
	h := newHarness(t, `
version: 1
workers:
  api:
    command: [api]
    restart: {policy: always, backoff: {initial: 0s, max: 0s}}
    health: {liveness: {exec: {command: [check]}, period: 5s, timeout: 1s, failure_threshold: 1}}
`)
	h.start()
	h.run("api", 1)
	old := h.handle("api", 1)
	h.fire("api", 1, TimerProbe+TimerKind(ProbeLiveness))
	h.exit("api", 1, 1) // restarts at once (zero back-off)
	h.run("api", 1)
	// The old instance's probe fails late: it must not kill the new one.
	h.step(Event{Kind: EvProbe, H: old, Probe: ProbeLiveness, OK: false})
	h.expectState("api", 1, Running)
	h.step(Event{Kind: EvSample, H: old, Usage: Usage{Memory: 1 << 40}})
	h.expectState("api", 1, Running)
}

func TestScaleDownHighestFirst(t *testing.T) {
	h := newHarness(t, `
version: 1
workers:
  pool: {command: [p], replicas: 3}
`)
	h.start()
	for i := 1; i <= 3; i++ {
		h.run("pool", i)
	}
	if err := h.cmd(Command{Verb: CmdScale, Worker: "pool", N: 1}); err != "" {
		t.Fatal(err)
	}
	var order []int
	for _, a := range h.last {
		if a.Kind == ActSignal {
			order = append(order, a.H.Replica)
		}
	}
	if len(order) != 2 || order[0] != 3 || order[1] != 2 {
		t.Fatalf("stop order %v, want [3 2]", order)
	}
	h.exit("pool", 3, 0)
	h.exit("pool", 2, 0)
	if n := h.e.Replicas("pool"); n != 1 {
		t.Fatalf("replicas after scale-down = %d, want 1", n)
	}
	// Scale up again: new replicas start.
	h.cmd(Command{Verb: CmdScale, Worker: "pool", N: 2})
	h.expectState("pool", 2, Starting)
}

func TestScaleUpWaitsForSurplusToStop(t *testing.T) {
	h := newHarness(t, `
version: 1
workers:
  pool: {command: [p], replicas: 2}
`)
	h.start()
	h.run("pool", 1)
	h.run("pool", 2)
	h.cmd(Command{Verb: CmdScale, Worker: "pool", N: 1}) // pool-2 stopping
	h.cmd(Command{Verb: CmdStop, Worker: "pool"})        // pool-1 stopping
	h.cmd(Command{Verb: CmdScale, Worker: "pool", N: 2}) // pool-2 wanted again
	h.exit("pool", 1, 0)
	h.cmd(Command{Verb: CmdStart, Worker: "pool"})
	// pool-1 and pool-2 are wanted, pool-2's old instance is still alive:
	// at most 2 instances, so exactly one may be starting now.
	live := 0
	for i := 1; i <= 2; i++ {
		if h.e.workers["pool"].slots[i-1].inst.alive || h.e.workers["pool"].slots[i-1].inst.spawning {
			live++
		}
	}
	if live > 2 {
		t.Fatalf("%d live instances, want at most 2", live)
	}
}

func TestCommandsAnswered(t *testing.T) {
	h := newHarness(t, cfgWith("always"))
	h.start()
	tests := []struct {
		cmd  Command
		want string
	}{
		{Command{Verb: CmdStop, Worker: "nope"}, `unknown worker "nope"`},
		{Command{Verb: CmdStart, Worker: "api", Replica: 5}, "api has no replica 5"},
		{Command{Verb: CmdScale, Worker: "api", N: -1}, "replicas must be 0 to 10000"},
		{Command{Verb: CmdSignal, Worker: "api", Signal: "BOGUS"}, "unknown signal"},
		{Command{Verb: CmdStart, Worker: "api"}, ""},
		{Command{Verb: CmdStart, Worker: "api"}, ""},
	}
	for _, tt := range tests {
		got := h.cmd(tt.cmd)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%v %s: got %q, want %q", tt.cmd.Verb, tt.cmd.Worker, got, tt.want)
		}
	}
	if n := h.count(ActSpawn, "api"); n != 1 {
		t.Errorf("repeated start spawned %d instances", n)
	}
}

func TestProbes(t *testing.T) {
	h := newHarness(t, `
version: 1
workers:
  api:
    command: [api]
    restart: {policy: always, start_seconds: 0s, backoff: {initial: 3s, jitter: 0}, on: {health: {backoff: {initial: 9s}}}}
    health:
      startup: {exec: {command: [s]}, period: 1s, timeout: 500ms, failure_threshold: 2}
      readiness: {tcp: {address: "127.0.0.1:1"}, period: 2s, timeout: 1s, failure_threshold: 2}
      liveness: {http: {url: "http://127.0.0.1:1/"}, period: 2s, timeout: 1s, failure_threshold: 2}
`)
	h.start()
	h.spawned("api", 1)
	if _, ok := h.armed("api", 1, TimerProbe+TimerKind(ProbeReadiness)); ok {
		t.Fatal("readiness armed before the startup probe passed")
	}
	h.expectState("api", 1, Starting)
	h.probe("api", 1, ProbeStartup, true)
	h.expectState("api", 1, Running)
	h.probe("api", 1, ProbeReadiness, true)
	h.expectState("api", 1, Ready)
	// Readiness failing only clears ready.
	h.probe("api", 1, ProbeReadiness, false)
	h.expectState("api", 1, Ready)
	h.probe("api", 1, ProbeReadiness, false)
	h.expectState("api", 1, Running)
	// Liveness failing failure_threshold times restarts under the health
	// trigger, with its own back-off.
	h.probe("api", 1, ProbeLiveness, false)
	h.expectState("api", 1, Running)
	h.probe("api", 1, ProbeLiveness, false)
	h.expectState("api", 1, Stopping)
	h.exit("api", 1, 0)
	h.expectState("api", 1, Backoff)
	if a, _ := h.armed("api", 1, TimerBackoff); a.At-h.now != 9*time.Second {
		t.Errorf("health back-off %s, want 9s", a.At-h.now)
	}
}

func TestResourcePolicies(t *testing.T) {
	tests := []struct {
		policy string
		want   State
		action ActionKind
	}{
		{"log", Running, ActNotice},
		{"alert", Running, ActNotice},
		{"throttle", Running, ActThrottle},
		{"restart", Stopping, ActSignal},
		{"graceful_shutdown", Stopping, ActSignal},
		{"immediate_kill", Running, ActKill},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			h := newHarness(t, `
version: 1
workers:
  api:
    command: [api]
    restart: {policy: always}
    resources: {memory: {max: 100Mi, warn: 50Mi, policy: `+tt.policy+`}, monitor_interval: 1s}
`)
			h.start()
			h.run("api", 1)
			h.fire("api", 1, TimerSample)
			h.step(Event{Kind: EvSample, H: h.handle("api", 1), Usage: Usage{Memory: 60 << 20}})
			if n := h.find(ActNotice, "api", 1); n == nil || n.Reason.Kind != RResourceWarn {
				t.Fatalf("no warn notice at 60Mi: %+v", h.last)
			}
			h.fire("api", 1, TimerSample)
			h.step(Event{Kind: EvSample, H: h.handle("api", 1), Usage: Usage{Memory: 120 << 20}})
			h.expectState("api", 1, tt.want)
			if !h.has(tt.action, "api", 1) {
				t.Fatalf("policy %s: no %s action in %+v", tt.policy, tt.action, h.last)
			}
		})
	}
}

func TestFailedSampleIsRetried(t *testing.T) {
	h := newHarness(t, `
version: 1
workers:
  api:
    command: [api]
    resources: {memory: {max: 100Mi, policy: immediate_kill}, monitor_interval: 1s}
`)
	h.start()
	h.run("api", 1)
	h.fire("api", 1, TimerSample)
	if !h.has(ActSample, "api", 1) {
		t.Fatalf("no sample at the timer: %+v", h.last)
	}
	if _, ok := h.armed("api", 1, TimerSample); ok {
		t.Fatal("sample timer armed before the sample's result")
	}
	h.step(Event{Kind: EvDone, H: h.handle("api", 1), Done: ActSample, Err: "ESRCH"})
	if _, ok := h.armed("api", 1, TimerSample); !ok {
		t.Fatal("a failed sample stopped sampling for good")
	}
	h.fire("api", 1, TimerSample)
	h.step(Event{Kind: EvSample, H: h.handle("api", 1), Usage: Usage{Memory: 200 << 20}})
	if !h.has(ActKill, "api", 1) {
		t.Fatalf("limit not enforced after a failed sample: %+v", h.last)
	}
}

func TestReloadIgnoredDuringShutdown(t *testing.T) {
	h := newHarness(t, `
version: 1
workers:
  a: {command: [a], stop: {timeout: 10s}}
`)
	h.start()
	h.run("a", 1)
	h.cmd(Command{Verb: CmdShutdown})
	h.step(Event{Kind: EvReload, Config: parseConfig(t, `
version: 1
workers:
  a: {command: [a]}
  b: {command: [b]}
`)})
	if len(h.last) != 1 || h.last[0].Kind != ActNotice || !strings.Contains(h.last[0].Reason.String(), "shutting down") {
		t.Fatalf("a reload during shutdown must only be noted as ignored: %+v", h.last)
	}
	h.exit("a", 1, 0)
	if !h.has(ActExit, "", 0) {
		t.Fatal("shutdown did not finish after a reload")
	}
}

// TestExitReasons: the kernel's OOM kill and hsu's own kill under
// immediate_kill (a sample reached max, no kernel limit acted) are both
// resource restarts, but their reasons must tell them apart, so a reader
// knows whether a kernel limit or hsu's sampling killed the instance.
func TestExitReasons(t *testing.T) {
	tests := []struct {
		name      string
		resources string
		usage     *Usage // sampled once before the exit; nil: no sample
		exit      Event  // Kind and H are filled in
		want      string // the backoff reason
		lastExit  string
	}{
		{
			name:     "kernel OOM kill",
			exit:     Event{Signal: "KILL", OOM: true},
			want:     "OOMKilled; restart 1 (resource) in 1s",
			lastExit: "OOMKilled",
		},
		{
			name:      "hsu kills at a memory sample",
			resources: "{memory: {max: 100Mi, policy: immediate_kill}, monitor_interval: 1s}",
			usage:     &Usage{Memory: 120 << 20},
			exit:      Event{Signal: "KILL"},
			want:      "killed by hsu (SIGKILL; no kernel limit): memory 120Mi reached max 100Mi (policy immediate_kill); restart 1 (resource) in 1s",
			lastExit:  "killed by hsu (SIGKILL; no kernel limit): memory 120Mi reached max 100Mi (policy immediate_kill)",
		},
		{
			name:      "hsu kills at a cpu sample",
			resources: "{cpu: {max: 1, policy: immediate_kill}, monitor_interval: 1s}",
			usage:     &Usage{CPU: 1.5},
			exit:      Event{Signal: "KILL"},
			want:      "killed by hsu (SIGKILL; no kernel limit): cpu 1500m reached max 1000m (policy immediate_kill); restart 1 (resource) in 1s",
			lastExit:  "killed by hsu (SIGKILL; no kernel limit): cpu 1500m reached max 1000m (policy immediate_kill)",
		},
		{
			name:      "hsu kills at a pids sample",
			resources: "{pids: {max: 10, policy: immediate_kill}, monitor_interval: 1s}",
			usage:     &Usage{Pids: 12},
			exit:      Event{Signal: "KILL"},
			want:      "killed by hsu (SIGKILL; no kernel limit): pids 12 reached max 10 (policy immediate_kill); restart 1 (resource) in 1s",
			lastExit:  "killed by hsu (SIGKILL; no kernel limit): pids 12 reached max 10 (policy immediate_kill)",
		},
		{
			// An exit racing the kill is still hsu's kill: never a success.
			name:      "hsu's kill races a clean exit",
			resources: "{memory: {max: 100Mi, policy: immediate_kill}, monitor_interval: 1s}",
			usage:     &Usage{Memory: 100 << 20},
			exit:      Event{Code: 0},
			want:      "killed by hsu (SIGKILL; no kernel limit): memory 100Mi reached max 100Mi (policy immediate_kill); restart 1 (resource) in 1s",
			lastExit:  "killed by hsu (SIGKILL; no kernel limit): memory 100Mi reached max 100Mi (policy immediate_kill)",
		},
		{
			name:      "the kernel killed first",
			resources: "{memory: {max: 100Mi, policy: immediate_kill}, monitor_interval: 1s}",
			usage:     &Usage{Memory: 120 << 20},
			exit:      Event{Signal: "KILL", OOM: true},
			want:      "OOMKilled; restart 1 (resource) in 1s",
			lastExit:  "OOMKilled",
		},
		{
			name:     "a SIGKILL from elsewhere is a crash",
			exit:     Event{Signal: "KILL"},
			want:     "killed by SIGKILL; restart 1 (crash) in 1s",
			lastExit: "killed by SIGKILL",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := ""
			if tt.resources != "" {
				res = "\n    resources: " + tt.resources
			}
			h := newHarness(t, `
version: 1
workers:
  api:
    command: [api]
    restart: {policy: on-failure, backoff: {initial: 1s, jitter: 0}}`+res+"\n")
			h.start()
			h.run("api", 1)
			if tt.usage != nil {
				h.fire("api", 1, TimerSample)
				h.step(Event{Kind: EvSample, H: h.handle("api", 1), Usage: *tt.usage})
				if !h.has(ActKill, "api", 1) {
					t.Fatalf("no kill at the sample: %+v", h.last)
				}
			}
			ev := tt.exit
			ev.Kind, ev.H = EvExited, h.handle("api", 1)
			h.step(ev)
			h.expectState("api", 1, Backoff)
			st := h.e.Snapshot()
			if r := st.reasonOf("api", 1); r != tt.want {
				t.Errorf("reason %q, want %q", r, tt.want)
			}
			if r := st.Workers[0].Slots[0].LastExit; r != tt.lastExit {
				t.Errorf("last exit %q, want %q", r, tt.lastExit)
			}
		})
	}
}

const chain = `
version: 1
workers:
  db:
    command: [db]
    health: {readiness: {tcp: {address: "127.0.0.1:5432"}, period: 1s, timeout: 500ms}}
  migrate:
    command: [migrate]
    restart: {policy: on-failure}
    depends_on: {db: {condition: healthy}}
  api:
    command: [api]
    depends_on: {migrate: {condition: completed_successfully}, db: {condition: started}}
`

func TestDependencies(t *testing.T) {
	h := newHarness(t, chain)
	h.start()
	h.expectState("migrate", 1, Pending)
	h.expectState("api", 1, Pending)
	h.run("db", 1)
	h.expectState("migrate", 1, Pending) // running is not healthy when there is a readiness probe
	h.probe("db", 1, ProbeReadiness, true)
	h.expectState("migrate", 1, Starting)
	h.run("migrate", 1)
	h.exit("migrate", 1, 1)
	h.expectState("api", 1, Pending) // a failed run is not completed_successfully
	h.fire("migrate", 1, TimerBackoff)
	h.run("migrate", 1)
	h.exit("migrate", 1, 0)
	h.expectState("migrate", 1, Exited)
	h.expectState("api", 1, Starting)
}

func TestShutdownReverseOrder(t *testing.T) {
	h := newHarness(t, chain)
	h.start()
	h.run("db", 1)
	h.probe("db", 1, ProbeReadiness, true)
	h.run("migrate", 1)
	h.exit("migrate", 1, 0)
	h.run("api", 1)
	h.cmd(Command{Verb: CmdShutdown})
	if !h.has(ActSignal, "api", 1) || h.has(ActSignal, "db", 1) {
		t.Fatalf("shutdown must stop api before db: %+v", h.last)
	}
	h.exit("api", 1, 0)
	if !h.has(ActSignal, "db", 1) {
		t.Fatal("db not stopped after its dependents")
	}
	h.expectState("migrate", 1, Exited) // finished work keeps its state
	h.exit("db", 1, 0)
	if !h.has(ActExit, "", 0) {
		t.Fatal("no exit after everything stopped")
	}
	if err := h.cmd(Command{Verb: CmdStart, Worker: "db"}); !strings.Contains(err, "shutting down") {
		t.Fatalf("start during shutdown: %q", err)
	}
}

func TestReloadTouchesOnlyChanged(t *testing.T) {
	h := newHarness(t, `
version: 1
workers:
  a: {command: [a]}
  b: {command: [b], env: {X: "1"}}
  c: {command: [c]}
`)
	h.start()
	for _, w := range []string{"a", "b", "c"} {
		h.run(w, 1)
	}
	h.step(Event{Kind: EvReload, Config: parseConfig(t, `
version: 1
workers:
  a: {command: [a], replicas: 2}
  b: {command: [b], env: {X: "2"}}
  d: {command: [d]}
`)})
	if h.has(ActSignal, "a", 1) {
		t.Error("a was restarted although only its replicas changed")
	}
	if !h.has(ActSignal, "b", 1) {
		t.Error("b changed but was not restarted")
	}
	if !h.has(ActSignal, "c", 1) {
		t.Error("c was removed but not stopped")
	}
	if !h.has(ActSpawn, "d", 1) || !h.has(ActSpawn, "a", 2) {
		t.Error("added worker or replica not started")
	}
	h.exit("b", 1, 0)
	h.expectState("b", 1, Starting)
	h.exit("c", 1, 0)
	if _, ok := h.e.State("c", 1); ok {
		t.Error("removed worker still listed after it stopped")
	}
}

func TestRecovery(t *testing.T) {
	cfg := parseConfig(t, `
version: 1
workers:
  api: {command: [api], replicas: 3}
  idle: {command: [idle]}
`)
	e := New(cfg, fixedRand(0.5))
	h := &harness{t: t, e: e, timers: map[timerKey]Action{}, gens: map[string]uint64{}}
	h.step(Event{Kind: EvStart, Saved: &Saved{NextGen: 40, Instances: []Recovered{
		{H: Handle{"api", 1, 10}, PID: 501, State: Running},
		{H: Handle{"api", 2, 11}, PID: 502, State: Running},
		{H: Handle{"api", 3, 12}, State: Starting}, // spawn in flight when hsu died
		{H: Handle{"idle", 1, 5}, State: Stopped, UserStopped: true},
	}}})
	if h.count(ActSpawn, "") != 0 {
		t.Fatal("spawned before verifying recovered instances")
	}
	h.expectState("api", 1, Unknown)
	h.expectState("idle", 1, Stopped)
	h.step(Event{Kind: EvVerified, H: Handle{"api", 1, 10}, OK: true})
	h.expectState("api", 1, Running)
	h.step(Event{Kind: EvVerified, H: Handle{"api", 2, 11}, OK: false})
	if k := h.find(ActKill, "api", 2); k == nil || k.PID != 0 {
		t.Fatalf("a dead recovered instance must be cleaned up by handle, not PID: %+v", k)
	}
	h.expectState("api", 2, Unknown)
	h.step(Event{Kind: EvDone, H: Handle{"api", 2, 11}, Done: ActKill})
	h.expectState("api", 2, Backoff)
	h.step(Event{Kind: EvDone, H: Handle{"api", 3, 12}, Done: ActKill})
	if sp := h.find(ActSpawn, "api", 3); sp == nil || sp.H.Gen < 40 {
		t.Fatalf("in-flight spawn not restarted with a fresh generation: %+v", sp)
	}
}

func TestUnmanagedIsAdoptedNeverSpawned(t *testing.T) {
	h := newHarness(t, `
version: 1
workers:
  legacy: {type: unmanaged, pidfile: /run/l.pid, restart: {policy: always}}
`)
	h.start()
	if !h.has(ActAdopt, "legacy", 1) || h.has(ActSpawn, "legacy", 1) {
		t.Fatalf("want adopt, not spawn: %+v", h.last)
	}
	h.step(Event{Kind: EvAdopted, H: h.handle("legacy", 1), OK: true, PID: 77})
	h.fire("legacy", 1, TimerStartGrace)
	h.expectState("legacy", 1, Running)
	h.exit("legacy", 1, 0)
	h.fire("legacy", 1, TimerBackoff)
	if h.count(ActSpawn, "") != 0 || !h.has(ActAdopt, "legacy", 1) {
		t.Fatal("an unmanaged worker is re-adopted, never spawned")
	}
}

func TestIntegratedGetsGRPCReadiness(t *testing.T) {
	h := newHarness(t, `
version: 1
workers:
  svc: {type: integrated, command: [svc]}
`)
	if p := h.e.Probe("svc", ProbeReadiness); p == nil || p.GRPC == nil {
		t.Fatalf("integrated worker readiness = %+v, want gRPC", p)
	}
}

func TestLegalTransitions(t *testing.T) {
	tests := []struct {
		from, to State
		ok       bool
	}{
		{Pending, Starting, true},
		{Starting, Running, true},
		{Running, Ready, true},
		{Ready, Running, true},
		{Running, Stopping, true},
		{Stopping, Stopped, true},
		{Backoff, Starting, true},
		{Stopped, Running, false},
		{Exited, Running, false},
		{Failed, Ready, false},
		{Pending, Running, false},
		{Backoff, Running, false},
	}
	for _, tt := range tests {
		if got := Legal(tt.from, tt.to); got != tt.ok {
			t.Errorf("Legal(%s, %s) = %v, want %v", tt.from, tt.to, got, tt.ok)
		}
	}
}
