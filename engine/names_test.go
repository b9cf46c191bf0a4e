package engine

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hsu-run/hsu/config"
)

// TestNames: the names of states, events, probes, timers, verbs and
// actions are a contract (hsu status, traces, the API's verbs), and an
// out-of-range value must render as "invalid" rather than panic or borrow
// a neighbour's name.
func TestNames(t *testing.T) {
	tests := []struct {
		v    fmt.Stringer
		want string
	}{
		{Pending, "pending"},
		{Unknown, "unknown"},
		{numStates, "invalid"},
		{EvStart, "start"},
		{EvLogReady, "log_ready"},
		{EvReload, "reload"},
		{EventKind(200), "invalid"},
		{ProbeStartup, "startup"},
		{ProbeLiveness, "liveness"},
		{numProbes, "invalid"},
		{TimerBackoff, "backoff"},
		{TimerProbe + TimerKind(ProbeReadiness), "probe_readiness"},
		{numTimers, "invalid"},
		{CmdStart, "start"},
		{CmdReload, "reload"},
		{Verb(200), "invalid"},
		{ActSpawn, "spawn"},
		{ActStopCommand, "stop_command"},
		{ActExit, "exit"},
		{ActionKind(200), "invalid"},
	}
	for _, tt := range tests {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("%T(%v) = %q, want %q", tt.v, tt.v, got, tt.want)
		}
	}
}

// TestParseNames: ParseState and ParseVerb invert String for every value
// (the state file and the API go through them) and reject the rest, the
// empty name of the unused verb 0 included.
func TestParseNames(t *testing.T) {
	for s := State(0); s < numStates; s++ {
		if got, ok := ParseState(s.String()); !ok || got != s {
			t.Errorf("ParseState(%q) = %v, %v", s.String(), got, ok)
		}
	}
	for v := CmdStart; v <= CmdReload; v++ {
		if got, ok := ParseVerb(v.String()); !ok || got != v {
			t.Errorf("ParseVerb(%q) = %v, %v", v.String(), got, ok)
		}
	}
	for _, bad := range []string{"", "invalid", "Running", "bogus"} {
		if _, ok := ParseState(bad); ok {
			t.Errorf("ParseState(%q) accepted", bad)
		}
		if _, ok := ParseVerb(bad); ok {
			t.Errorf("ParseVerb(%q) accepted", bad)
		}
	}
}

// TestReasonText: reasons are what hsu status, the log and the traces
// show; each kind reads as a sentence built from its fields.
func TestReasonText(t *testing.T) {
	backoff := because(RBackoff, Reason{Kind: RSignalled, Signal: "KILL"})
	backoff.D, backoff.N, backoff.Trigger = 1500*time.Millisecond, 2, "crash"
	budget := because(RBudget, Reason{Kind: RLivenessFailed, N: 3})
	budget.D, budget.N, budget.Trigger = 10*time.Minute, 5, "health"
	failedStart := because(RBackoff, Reason{Kind: RExited, Code: 1, FailedStart: true})
	failedStart.D, failedStart.N, failedStart.Trigger = time.Second, 1, "crash"
	tests := []struct {
		r    Reason
		want string
	}{
		{Reason{}, ""},
		{Reason{Kind: RDefined}, "defined"},
		{Reason{Kind: RWaitingDep, Text: "db", Trigger: "healthy"}, "waiting for db to be healthy"},
		{Reason{Kind: RDepsMet}, "dependencies met"},
		{Reason{Kind: RSpawning}, "spawning"},
		{Reason{Kind: RSpawnFailed, Text: "EAGAIN"}, "spawn failed: EAGAIN"},
		{Reason{Kind: RSpawnImpossible, Text: "ENOENT"}, "spawn impossible: ENOENT"},
		{Reason{Kind: RStarted}, "started"},
		{Reason{Kind: RReadinessPassed}, "readiness probe passed"},
		{Reason{Kind: RReadinessFailed}, "readiness probe failed"},
		{Reason{Kind: RLivenessFailed, N: 3}, "liveness probe failed 3 times"},
		{Reason{Kind: RStartupFailed, N: 2}, "startup probe failed 2 times"},
		{Reason{Kind: RExited, Code: 3}, "exited with code 3"},
		{Reason{Kind: RExited, Code: 1, FailedStart: true}, "exited with code 1 before start_seconds (failed start)"},
		{Reason{Kind: RSignalled, Signal: "TERM"}, "killed by SIGTERM"},
		{Reason{Kind: ROOM, Signal: "KILL"}, "OOMKilled"},
		{Reason{Kind: RResourceKilled, Text: "memory", N: 200 << 20, Limit: 100 << 20, Trigger: "immediate_kill"}, "killed by hsu (SIGKILL; no kernel limit): memory 200Mi reached max 100Mi (policy immediate_kill)"},
		{backoff, "killed by SIGKILL; restart 2 (crash) in 1.5s"},
		// The failed-start note belongs to the cause and is said once.
		{failedStart, "exited with code 1 before start_seconds (failed start); restart 1 (crash) in 1s"},
		{budget, "liveness probe failed 3 times; restart budget spent: 5 health restarts within 10m0s"},
		{Reason{Kind: RCommand, Text: "stop"}, "command stop"},
		{Reason{Kind: RShutdown}, "shutdown"},
		{Reason{Kind: RResource, Text: "cpu", Trigger: "log", N: 1500, Limit: 1000, Source: "cgroup2"}, "cpu 1500m reached max 1000m (cgroup2): policy log"},
		{Reason{Kind: RResourceWarn, Text: "pids", N: 12, Limit: 10}, "pids 12 crossed warn 10"},
		{Reason{Kind: RThrottled, Text: "memory", N: 64 << 20, Limit: 64 << 20, Source: "cgroup2"}, "memory throttled by the kernel at 64Mi (memory.high 64Mi) (cgroup2)"},
		{Reason{Kind: RChildOOM, N: 1}, "OOMKilled: the kernel killed 1 of its processes; killing the rest"},
		{Reason{Kind: RStopTimeout}, "stop timeout: killed"},
		{Reason{Kind: RRecovered}, "recovered after hsu restart"},
		{Reason{Kind: RVerified}, "verified"},
		{Reason{Kind: RVerifyFailed}, "gone while hsu was down"},
		{Reason{Kind: RAdopted, N: 77}, "adopted pid 77"},
		{Reason{Kind: RAdoptFailed, Text: "no pidfile"}, "adopt failed: no pidfile"},
		{Reason{Kind: RReload}, "config changed"},
		{Reason{Kind: RRemoved}, "removed"},
		{Reason{Kind: RActionFailed, Text: "kill failed: EPERM"}, "kill failed: EPERM"},
		{Reason{Kind: RIgnored, Text: "reload ignored: shutting down"}, "reload ignored: shutting down"},
		{Reason{Kind: RBackoffDone}, "back-off elapsed"},
		{Reason{Kind: RWaitingCapacity, N: 2}, "waiting for replicas above 2 to stop"},
		{Reason{Kind: ReasonKind(250)}, "reason 250"},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("kind %d: %q, want %q", tt.r.Kind, got, tt.want)
		}
	}
	// A kind added without a text would show as "reason N" (RIgnored is
	// the last kind).
	for k := RDefined; k <= RChildOOM; k++ {
		if s := (Reason{Kind: k}).String(); strings.HasPrefix(s, "reason ") {
			t.Errorf("reason kind %d has no text", k)
		}
	}
}

// TestMinBackoffIsTheEngineLowerBound: MinBackoff, the invariant checker's
// bound, is exactly the delay the engine picks when the jitter draw is at
// its lowest, restart after restart, up to and past the cap.
func TestMinBackoffIsTheEngineLowerBound(t *testing.T) {
	const cfg = `
version: 1
workers:
  api:
    command: [api]
    restart: {policy: always, backoff: %s, max_restarts: 0, start_seconds: 0s}
`
	sec := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	tests := []struct {
		yaml string
		b    config.Backoff
		want []time.Duration // restarts 1, 2, ...
	}{
		{
			yaml: "{initial: 1s, max: 8s, multiplier: 2, jitter: 0.5}",
			b:    config.Backoff{Initial: config.Duration(time.Second), Max: config.Duration(8 * time.Second), Multiplier: 2, Jitter: 0.5},
			want: []time.Duration{sec(0.5), sec(1), sec(2), sec(4), sec(4), sec(4)},
		},
		{
			// 27s overshoots the cap: capped, then jittered.
			yaml: "{initial: 1s, max: 10s, multiplier: 3, jitter: 0.2}",
			b:    config.Backoff{Initial: config.Duration(time.Second), Max: config.Duration(10 * time.Second), Multiplier: 3, Jitter: 0.2},
			want: []time.Duration{sec(0.8), sec(2.4), sec(7.2), sec(8), sec(8)},
		},
		{
			yaml: "{initial: 1s, max: 3s, multiplier: 2, jitter: 0}",
			b:    config.Backoff{Initial: config.Duration(time.Second), Max: config.Duration(3 * time.Second), Multiplier: 2},
			want: []time.Duration{sec(1), sec(2), sec(3), sec(3)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			h := newHarness(t, strings.Replace(cfg, "%s", tt.yaml, 1))
			h.e.rnd = fixedRand(0) // the lowest jitter draw
			h.start()
			for i, w := range tt.want {
				if got := MinBackoff(tt.b, i+1); got != w {
					t.Errorf("MinBackoff(restart %d) = %s, want %s", i+1, got, w)
				}
				h.spawned("api", 1)
				h.exit("api", 1, 1)
				a, ok := h.armed("api", 1, TimerBackoff)
				if !ok {
					t.Fatalf("restart %d: no back-off", i+1)
				}
				if got := a.At - h.now; got != w {
					t.Errorf("restart %d: the engine waits %s, want %s", i+1, got, w)
				}
				h.fire("api", 1, TimerBackoff)
			}
		})
	}
}

// TestStateJSON: the state file stores states by name, and reads the
// numbers files of earlier versions have.
func TestStateJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    State
		wantErr bool
	}{
		{`"running"`, Running, false},
		{`"stopped"`, Stopped, false},
		{`2`, Running, false}, // an earlier version's number
		{`5`, Stopped, false},
		{`"nope"`, 0, true},
		{`99`, 0, true},
		{`true`, 0, true},
	}
	for _, tt := range tests {
		var r Recovered
		err := json.Unmarshal([]byte(`{"state":`+tt.in+`}`), &r)
		if (err != nil) != tt.wantErr || (err == nil && r.State != tt.want) {
			t.Errorf("state %s: got %v, %v; want %v (error %v)", tt.in, r.State, err, tt.want, tt.wantErr)
		}
	}
	for s := State(0); s < numStates; s++ {
		b, err := json.Marshal(Recovered{State: s})
		if err != nil || !strings.Contains(string(b), `"state":"`+s.String()+`"`) {
			t.Errorf("%v marshals as %s, %v; want its name", s, b, err)
		}
		var back Recovered
		if err := json.Unmarshal(b, &back); err != nil || back.State != s {
			t.Errorf("%v round trip: %v, %v", s, back.State, err)
		}
	}
}
