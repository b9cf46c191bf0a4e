package fuzz

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/engine"
)

// engineConfig exercises dependencies, probes, limits, replicas, an
// unmanaged worker and per-trigger overrides.
const engineConfig = `
version: 1
workers:
  db:
    command: [db]
    health: {readiness: {tcp: {address: "127.0.0.1:5432"}, period: 1s, timeout: 500ms}}
    resources: {memory: {max: 64Mi, warn: 32Mi, policy: restart}, monitor_interval: 1s}
  api:
    command: [api]
    replicas: 2
    depends_on: {db: {condition: healthy}}
    restart: {policy: always, max_restarts: 3, window: 10s, on: {health: {backoff: {initial: 2s}, max_restarts: 5}}}
    health:
      startup: {exec: {command: [s]}, period: 1s, timeout: 500ms}
      liveness: {http: {url: "http://127.0.0.1:1/"}, period: 1s, timeout: 500ms, failure_threshold: 2}
    stop: {timeout: 2s}
  job:
    command: [job]
    restart: {policy: on-failure}
    depends_on: {db: {condition: started}}
  legacy: {type: unmanaged, pidfile: /run/l.pid, restart: {policy: always}}
`

type seqRand struct{ x uint64 }

func (r *seqRand) Float64() float64 {
	r.x = r.x*6364136223846793005 + 1442695040888963407
	return float64(r.x>>11) / (1 << 53)
}

// engineRun feeds events decoded from data to a fresh engine and returns
// every action it emitted, rendered. Each 4 input bytes are one event:
// its kind, a worker, a replica and a parameter. Handles are taken from
// the engine's own actions, current or stale, so the stream explores races
// a real driver can produce (late exits, old timers, duplicate answers).
func engineRun(t *testing.T, cfg *config.Config, data []byte) ([]string, *engine.Engine) {
	workers := cfg.Order
	e := engine.New(cfg, &seqRand{x: 1})
	var out []string
	var seen []engine.Handle // every handle the engine named
	var timers []engine.TimerRef
	now := time.Duration(0)
	record := func(acts []engine.Action) {
		for _, a := range acts {
			out = append(out, fmt.Sprintf("%v %v %v %v %v %v %v", a.Kind, a.H, a.PID, a.Signal, a.From, a.To, a.Reason))
			switch a.Kind {
			case engine.ActStartTimer:
				timers = append(timers, a.Timer)
			case engine.ActSpawn, engine.ActAdopt, engine.ActVerify, engine.ActKill:
				seen = append(seen, a.H)
			}
		}
		if len(e.Bugs) > 0 {
			t.Fatalf("illegal transition: %v", e.Bugs)
		}
	}
	record(e.Step(engine.Event{Kind: engine.EvStart}))
	cmdID := uint64(0)
	for i := 0; i+3 < len(data) && i < 4*2000; i += 4 {
		kind, wi, ri, p := data[i], int(data[i+1]), int(data[i+2]), data[i+3]
		now += time.Duration(p) * 37 * time.Millisecond
		var h engine.Handle
		if len(seen) > 0 {
			h = seen[(wi*7+ri)%len(seen)]
			if wi%3 == 0 {
				h = seen[len(seen)-1-wi%len(seen)]
			}
		}
		ev := engine.Event{At: now, H: h}
		switch kind % 12 {
		case 0:
			ev.Kind, ev.PID = engine.EvSpawned, 100+int(p)
		case 1:
			ev.Kind, ev.Err = engine.EvSpawnFailed, []string{"ENOENT", "EAGAIN", "ENOMEM"}[int(p)%3]
		case 2:
			ev.Kind, ev.Code = engine.EvExited, int(p)%3
			ev.OOM = p%7 == 0
			if p%5 == 0 {
				ev.Signal = "KILL"
			}
		case 3, 4:
			if len(timers) == 0 {
				continue
			}
			ev.Kind, ev.Timer = engine.EvTimer, timers[(wi*31+ri)%len(timers)]
			if p%2 == 0 {
				ev.Timer = timers[len(timers)-1]
			}
		case 5:
			ev.Kind, ev.Probe, ev.OK = engine.EvProbe, engine.ProbeKind(int(p)%3), p%3 != 0
		case 6:
			ev.Kind, ev.Usage = engine.EvSample, engine.Usage{Memory: int64(p) << 19, CPU: float64(p) / 100, Pids: int(p) % 10}
		case 7:
			ev.Kind = engine.EvLogReady
		case 8:
			ev.Kind, ev.OK = engine.EvVerified, p%2 == 0
		case 9:
			ev.Kind, ev.OK, ev.PID = engine.EvAdopted, p%2 == 0, 200+int(p)
		case 10:
			ev.Kind, ev.Done = engine.EvDone, engine.ActKill
		case 11:
			cmdID++
			verbs := []engine.Verb{engine.CmdStart, engine.CmdStop, engine.CmdRestart, engine.CmdScale, engine.CmdSignal, engine.CmdShutdown}
			c := engine.Command{ID: cmdID, Verb: verbs[int(p)%len(verbs)], Worker: workers[wi%len(workers)], Replica: ri % 4, N: int(p) % 4, Signal: "HUP"}
			if wi%11 == 10 {
				c.Worker = "nope"
			}
			ev.Kind, ev.Cmd = engine.EvCommand, c
			acts := e.Step(ev)
			answered := false
			for _, a := range acts {
				answered = answered || (a.Kind == engine.ActReply && a.CmdID == cmdID)
			}
			if !answered {
				t.Fatalf("command %+v not answered", c)
			}
			record(acts)
			continue
		}
		record(e.Step(ev))
	}
	return out, e
}

// FuzzEngineEvents: any stream of events, however stale, duplicated or
// out of order, leaves the engine without a panic or an illegal
// transition, with at most one live instance per replica, every command
// answered, the same actions on a second run, and a state file that a new
// engine can start from.
func FuzzEngineEvents(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 1, 3, 0, 0, 10, 2, 0, 0, 1, 3, 1, 1, 50, 0, 0, 1, 2})
	f.Add([]byte{11, 1, 0, 1, 0, 0, 0, 3, 2, 0, 0, 5, 11, 1, 0, 2, 10, 0, 0, 0})
	f.Add([]byte{5, 0, 0, 1, 5, 0, 0, 1, 6, 0, 0, 200, 2, 3, 0, 7, 8, 0, 0, 2, 9, 3, 0, 4})
	cfg, err := config.Parse("fuzz.yaml", []byte(engineConfig), fuzzOptions())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		first, e := engineRun(t, cfg, data)
		live := map[string]int{}
		for _, w := range e.Snapshot().Workers {
			for _, r := range w.Slots {
				if r.PID != 0 {
					live[fmt.Sprintf("%s-%d", w.Name, r.Replica)]++
				}
			}
		}
		for name, n := range live {
			if n > 1 {
				t.Fatalf("%s has %d live instances", name, n)
			}
		}
		second, _ := engineRun(t, cfg, data)
		if !reflect.DeepEqual(first, second) {
			t.Fatal("same events, different actions: the engine is not deterministic")
		}
		sv := e.Save()
		next := engine.New(cfg, &seqRand{x: 2})
		next.Step(engine.Event{Kind: engine.EvStart, Saved: &sv})
		if len(next.Bugs) > 0 {
			t.Fatalf("restart from the state file: %v", next.Bugs)
		}
	})
}
