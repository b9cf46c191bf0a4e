package engine

import (
	"encoding/json"
	"strings"
	"testing"
)

const recoveryConfig = `
version: 1
workers:
  api: {command: [api], replicas: 2}
  legacy: {type: unmanaged, pidfile: /run/l.pid}
  job: {command: [job], restart: {policy: never}}
  after: {command: [after], depends_on: {job: {condition: completed_successfully}}}
`

// startFrom starts an engine for yaml from a previous hsu's state file.
func startFrom(t *testing.T, yaml string, sv *Saved) *harness {
	t.Helper()
	h := newHarness(t, yaml)
	h.step(Event{Kind: EvStart, Saved: sv})
	return h
}

// actionsOf returns every action of kind for worker so far.
func (h *harness) actionsOf(kind ActionKind, worker string) []Action {
	var out []Action
	for _, a := range h.all {
		if a.Kind == kind && a.H.Worker == worker {
			out = append(out, a)
		}
	}
	return out
}

// TestRecoveryFromStateFile: what a new hsu does with each kind of entry
// of the previous one's state file. Nothing recorded is duplicated,
// nothing is killed by a PID (which may have been reused), and replicas
// that were down stay down.
func TestRecoveryFromStateFile(t *testing.T) {
	tests := []struct {
		name  string
		saved *Saved
		check func(t *testing.T, h *harness)
	}{
		{
			name:  "a scale survives",
			saved: &Saved{Replicas: map[string]Scale{"api": {Base: 2, N: 3}}},
			check: func(t *testing.T, h *harness) {
				if d, n := h.e.Desired("api"), h.count(ActSpawn, "api"); d != 3 || n != 3 {
					t.Errorf("desired %d, %d spawns; want 3 and 3", d, n)
				}
			},
		},
		{
			name:  "a scale down survives",
			saved: &Saved{Replicas: map[string]Scale{"api": {Base: 2, N: 1}}},
			check: func(t *testing.T, h *harness) {
				if d, r, n := h.e.Desired("api"), h.e.Replicas("api"), h.count(ActSpawn, "api"); d != 1 || r != 1 || n != 1 {
					t.Errorf("desired %d, %d replicas, %d spawns; want 1, 1, 1", d, r, n)
				}
			},
		},
		{
			// The scale was made against replicas: 1; the config now says 2.
			name:  "an edited replicas key wins over a scale",
			saved: &Saved{Replicas: map[string]Scale{"api": {Base: 1, N: 3}}},
			check: func(t *testing.T, h *harness) {
				if d := h.e.Desired("api"); d != 2 {
					t.Errorf("desired %d, want the config's 2", d)
				}
			},
		},
		{
			name: "a removed worker's instances are killed by handle",
			saved: &Saved{Instances: []Recovered{
				{H: Handle{"gone", 1, 4}, PID: 99, State: Running},
				{H: Handle{"gone", 2, 5}, State: Starting},
				{H: Handle{"gone", 3, 6}, State: Stopped, UserStopped: true}, // no process: nothing to kill
			}},
			check: func(t *testing.T, h *harness) {
				kills := h.actionsOf(ActKill, "gone")
				if len(kills) != 2 || kills[0].H.Gen != 4 || kills[1].H.Gen != 5 || kills[0].PID != 0 || kills[1].PID != 0 {
					t.Errorf("kills %+v, want gens 4 and 5 by handle (PID 0)", kills)
				}
			},
		},
		{
			name:  "an unmanaged process is verified, never spawned or killed",
			saved: &Saved{Instances: []Recovered{{H: Handle{"legacy", 1, 7}, PID: 55, State: Running}}},
			check: func(t *testing.T, h *harness) {
				h.expectState("legacy", 1, Unknown)
				if v := h.actionsOf(ActVerify, "legacy"); len(v) != 1 || v[0].PID != 55 {
					t.Fatalf("verify %+v, want pid 55", v)
				}
				h.step(Event{Kind: EvVerified, H: Handle{"legacy", 1, 7}, OK: true})
				h.expectState("legacy", 1, Running)
				if n := len(h.actionsOf(ActSpawn, "legacy")) + len(h.actionsOf(ActAdopt, "legacy")) + len(h.actionsOf(ActKill, "legacy")); n != 0 {
					t.Errorf("%d spawn/adopt/kill actions for a verified unmanaged process", n)
				}
			},
		},
		{
			// Its adoption was in flight: found afresh, under a new generation.
			name:  "an unmanaged entry without a PID is adopted again",
			saved: &Saved{Instances: []Recovered{{H: Handle{"legacy", 1, 7}, State: Starting}}},
			check: func(t *testing.T, h *harness) {
				a := h.actionsOf(ActAdopt, "legacy")
				if len(a) != 1 || a[0].H.Gen <= 7 {
					t.Errorf("adopt %+v, want one with a generation above 7", a)
				}
				if k := h.actionsOf(ActKill, "legacy"); len(k) != 0 {
					t.Errorf("an unmanaged worker's process is not hsu's to kill: %+v", k)
				}
			},
		},
		{
			name: "replicas that were down stay down",
			saved: &Saved{Instances: []Recovered{
				{H: Handle{"api", 1, 1}, State: Stopped, UserStopped: true},
				{H: Handle{"api", 2, 2}, State: Failed, Started: true},
				{H: Handle{"job", 1, 3}, State: Exited, Started: true, Success: true},
			}},
			check: func(t *testing.T, h *harness) {
				h.expectState("api", 1, Stopped)
				h.expectState("api", 2, Failed)
				h.expectState("job", 1, Exited)
				if n := h.count(ActSpawn, "api") + h.count(ActSpawn, "job"); n != 0 {
					t.Errorf("%d spawns of replicas that were down", n)
				}
				// job's success was restored: what waited for it starts.
				h.expectState("after", 1, Starting)
				// ... and is written again by the next persist.
				sv := h.e.Save()
				want := map[string]Recovered{
					"api-1": {H: Handle{"api", 1, 0}, State: Stopped, UserStopped: true},
					"api-2": {H: Handle{"api", 2, 0}, State: Failed, Started: true},
					"job-1": {H: Handle{"job", 1, 0}, State: Exited, Started: true, Success: true},
				}
				for _, r := range sv.Instances {
					// A replica without an instance has no generation to keep.
					r.H.Gen = 0
					if w, ok := want[key(r.H.Worker, r.H.Replica)]; ok && r != w {
						t.Errorf("saved %+v, want %+v", r, w)
					}
					delete(want, key(r.H.Worker, r.H.Replica))
				}
				if len(want) > 0 {
					t.Errorf("not saved again: %v", want)
				}
			},
		},
		{
			// api-3 is above replicas: 2. Until its cleanup is done it
			// counts, so only one of api-1 and api-2 may start.
			name:  "a replica above the count is cleaned up and holds capacity",
			saved: &Saved{Instances: []Recovered{{H: Handle{"api", 3, 9}, PID: 300, State: Running}}},
			check: func(t *testing.T, h *harness) {
				k := h.actionsOf(ActKill, "api")
				if len(k) != 1 || k[0].H != (Handle{"api", 3, 9}) || k[0].PID != 0 {
					t.Fatalf("kills %+v, want api-3 gen 9 by handle", k)
				}
				if n := h.count(ActSpawn, "api"); n != 1 {
					t.Fatalf("%d spawns while api-3 is being cleaned up, want 1", n)
				}
				h.step(Event{Kind: EvDone, H: Handle{"api", 3, 9}, Done: ActKill})
				if n, r := h.count(ActSpawn, "api"), h.e.Replicas("api"); n != 2 || r != 2 {
					t.Errorf("after the cleanup: %d spawns, %d replicas; want 2 and 2", n, r)
				}
			},
		},
		{
			name:  "an in-flight spawn above the count is cleaned up and dropped",
			saved: &Saved{Instances: []Recovered{{H: Handle{"api", 3, 9}, State: Starting}}},
			check: func(t *testing.T, h *harness) {
				h.expectState("api", 3, Unknown)
				h.step(Event{Kind: EvDone, H: Handle{"api", 3, 9}, Done: ActKill})
				if r := h.e.Replicas("api"); r != 2 {
					t.Errorf("%d replicas after the cleanup, want 2", r)
				}
				for _, a := range h.actionsOf(ActSpawn, "api") {
					if a.H.Replica == 3 {
						t.Errorf("api-3 spawned: %+v", a)
					}
				}
			},
		},
		{
			name: "one entry per replica is used",
			saved: &Saved{Instances: []Recovered{
				{H: Handle{"api", 1, 3}, PID: 10, State: Running},
				{H: Handle{"api", 1, 4}, PID: 11, State: Running},
			}},
			check: func(t *testing.T, h *harness) {
				if v := h.actionsOf(ActVerify, "api"); len(v) != 1 || v[0].PID != 10 {
					t.Errorf("verifies %+v, want only the first entry (pid 10)", v)
				}
			},
		},
		{
			name:  "generations are never reused",
			saved: &Saved{NextGen: 50, Instances: []Recovered{{H: Handle{"api", 1, 70}, PID: 1, State: Running}}},
			check: func(t *testing.T, h *harness) {
				for _, a := range h.all {
					if a.Kind == ActSpawn && a.H.Gen <= 70 {
						t.Errorf("spawn %+v reuses a generation up to 70", a)
					}
				}
				if h.count(ActSpawn, "api") != 1 {
					t.Errorf("api-2 not started")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, startFrom(t, recoveryConfig, tt.saved))
		})
	}
}

// TestSaveRestoresAcrossRestart: what Save writes (through the state
// file's JSON) is enough for the next engine to take over: the live
// instance is verified, the in-flight spawn cleaned up by handle, the
// replica stopped by a command and the finished job stay so, the scale
// holds, and no generation is reused.
func TestSaveRestoresAcrossRestart(t *testing.T) {
	const cfg = `
version: 1
workers:
  api: {command: [api], replicas: 2}
  job: {command: [job], restart: {policy: never}}
`
	h1 := newHarness(t, cfg)
	h1.start()
	pid1 := h1.spawned("api", 1)
	h1.run("api", 2)
	h1.run("job", 1)
	h1.exit("job", 1, 0)
	if err := h1.cmd(Command{Verb: CmdScale, Worker: "api", N: 3}); err != "" {
		t.Fatal(err)
	}
	h1.cmd(Command{Verb: CmdStop, Worker: "api", Replica: 2})
	h1.exit("api", 2, 0)
	inflight := h1.handle("api", 3) // spawn asked for, not answered
	maxGen := inflight.Gen

	h2 := startFrom(t, cfg, throughFile(t, h1.e.Save()))
	if d := h2.e.Desired("api"); d != 3 {
		t.Errorf("desired %d after the restart, want the scale's 3", d)
	}
	h2.expectState("api", 1, Unknown)
	if v := h2.actionsOf(ActVerify, "api"); len(v) != 1 || v[0].PID != pid1 {
		t.Errorf("verifies %+v, want api-1's pid %d", v, pid1)
	}
	h2.expectState("api", 2, Stopped)
	h2.expectState("job", 1, Exited)
	h2.expectState("api", 3, Unknown)
	if k := h2.actionsOf(ActKill, "api"); len(k) != 1 || k[0].H != inflight || k[0].PID != 0 {
		t.Errorf("kills %+v, want the in-flight %v by handle", k, inflight)
	}
	if n := h2.count(ActSpawn, ""); n != 0 {
		t.Fatalf("%d spawns before anything was verified or cleaned up", n)
	}
	h2.step(Event{Kind: EvDone, H: inflight, Done: ActKill})
	sp := h2.actionsOf(ActSpawn, "api")
	if len(sp) != 1 || sp[0].H.Replica != 3 || sp[0].H.Gen <= maxGen {
		t.Errorf("spawns after the cleanup %+v, want api-3 with a generation above %d", sp, maxGen)
	}
}

// TestAdoption: an unmanaged worker's process is found (or not) by the
// driver; the engine restarts the search on failure like a crash, keeps a
// stopped replica stopped, and takes the first answer only.
func TestAdoption(t *testing.T) {
	const cfg = `
version: 1
workers:
  legacy: {type: unmanaged, pidfile: /run/l.pid, restart: {policy: always, backoff: {initial: 2s, jitter: 0}}}
`
	tests := []struct {
		name   string
		stop   bool    // a stop command while the search is in flight
		events []Event // answers (H filled in)
		want   State
		reason string
		pid    int
	}{
		{name: "found", events: []Event{{OK: true, PID: 77}}, want: Starting, reason: "dependencies met", pid: 77},
		{name: "not found backs off", events: []Event{{Err: "no pidfile"}}, want: Backoff, reason: "adopt failed: no pidfile; restart 1 (crash) in 2s"},
		{name: "not found after a stop", stop: true, events: []Event{{Err: "no pidfile"}}, want: Stopped, reason: "command stop"},
		{name: "a second answer is ignored", events: []Event{{OK: true, PID: 77}, {OK: true, PID: 88}}, want: Starting, pid: 77, reason: "dependencies met"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, cfg)
			h.start()
			if tt.stop {
				h.cmd(Command{Verb: CmdStop, Worker: "legacy"})
			}
			notices := 0
			for _, ev := range tt.events {
				ev.Kind, ev.H = EvAdopted, h.handle("legacy", 1)
				for _, a := range h.step(ev) {
					if a.Kind == ActNotice && a.Reason.Kind == RAdopted {
						notices++
					}
				}
			}
			h.expectState("legacy", 1, tt.want)
			rs := h.e.Snapshot().Workers[0].Slots[0]
			if rs.Reason != tt.reason || rs.PID != tt.pid {
				t.Errorf("reason %q pid %d, want %q pid %d", rs.Reason, rs.PID, tt.reason, tt.pid)
			}
			if want := min(tt.pid, 1); notices != want {
				t.Errorf("%d adopted notices, want %d", notices, want)
			}
		})
	}
}

// TestVerifyFailedFollowsPolicy: a recovered instance that died while hsu
// was down is cleaned up by handle, then treated as an exit of unknown
// status under the restart policy.
func TestVerifyFailedFollowsPolicy(t *testing.T) {
	for _, tt := range []struct {
		policy string
		want   State
	}{{"never", Exited}, {"always", Backoff}, {"on-failure", Backoff}} {
		t.Run(tt.policy, func(t *testing.T) {
			hd := Handle{"api", 1, 3}
			h := startFrom(t, cfgWith(tt.policy), &Saved{Instances: []Recovered{{H: hd, PID: 42, State: Running}}})
			h.step(Event{Kind: EvVerified, H: hd, OK: false})
			h.expectState("api", 1, Unknown) // until the cleanup is done
			h.step(Event{Kind: EvDone, H: hd, Done: ActKill})
			h.expectState("api", 1, tt.want)
			if r := h.e.Snapshot().reasonOf("api", 1); !strings.Contains(r, "gone while hsu was down") {
				t.Errorf("reason %q does not say the instance was lost", r)
			}
		})
	}
}

// TestRecoveredUserStopHolds: a stop command acknowledged before hsu died
// (the state file says the instance runs, stopped by a command) still
// holds after the restart: a live instance is stopped again, a dead one
// stays stopped, and neither is restarted.
func TestRecoveredUserStopHolds(t *testing.T) {
	const cfg = `
version: 1
workers:
  api: {command: [api], restart: {policy: always}}
`
	tests := []struct {
		name   string
		alive  bool
		signal bool // a stop signal is sent again
	}{
		{"still alive: stopped again", true, true},
		{"gone meanwhile: stays stopped", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hd := Handle{"api", 1, 3}
			h := startFrom(t, cfg, &Saved{NextGen: 4, Instances: []Recovered{{H: hd, PID: 42, State: Running, UserStopped: true}}})
			h.step(Event{Kind: EvVerified, H: hd, OK: tt.alive})
			if tt.alive {
				h.expectState("api", 1, Stopping)
				h.step(Event{Kind: EvExited, H: hd, Signal: "TERM", Code: -1})
			} else {
				h.step(Event{Kind: EvDone, H: hd, Done: ActKill})
			}
			h.expectState("api", 1, Stopped)
			if got := h.count(ActSignal, "api") > 0; got != tt.signal {
				t.Errorf("stop signal sent: %v, want %v", got, tt.signal)
			}
			if n := h.count(ActSpawn, "api"); n != 0 {
				t.Errorf("%d spawns of a replica stopped by a command, want 0", n)
			}
		})
	}
}

// TestGracefulShutdownHoldsAcrossRestart: a replica a resource policy
// graceful_shutdown stopped stays down after an hsu restart, as one a
// stop command stopped does, until a start command.
func TestGracefulShutdownHoldsAcrossRestart(t *testing.T) {
	const cfg = `
version: 1
workers:
  api:
    command: [api]
    restart: {policy: always}
    resources: {memory: {max: 100Mi, policy: graceful_shutdown}, monitor_interval: 1s}
`
	h1 := newHarness(t, cfg)
	h1.start()
	h1.run("api", 1)
	h1.fire("api", 1, TimerSample)
	h1.step(Event{Kind: EvSample, H: h1.handle("api", 1), Usage: Usage{Memory: 120 << 20}})
	h1.exit("api", 1, 0)
	h1.expectState("api", 1, Stopped)
	h2 := startFrom(t, cfg, throughFile(t, h1.e.Save()))
	h2.expectState("api", 1, Stopped)
	if n := h2.count(ActSpawn, ""); n != 0 {
		t.Fatalf("%d spawns after the restart, want the replica kept down", n)
	}
	if err := h2.cmd(Command{Verb: CmdStart, Worker: "api"}); err != "" {
		t.Fatal(err)
	}
	if n := h2.count(ActSpawn, "api"); n != 1 {
		t.Errorf("%d spawns after a start command, want 1", n)
	}
}

// throughFile is sv after a trip through the state file's JSON.
func throughFile(t *testing.T, sv Saved) *Saved {
	t.Helper()
	b, err := json.Marshal(sv)
	if err != nil {
		t.Fatal(err)
	}
	var back Saved
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	return &back
}
