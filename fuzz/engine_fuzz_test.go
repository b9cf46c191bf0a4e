package fuzz

import (
	"fmt"
	"reflect"
	"slices"
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

// tamper, when set, rewrites the actions of each step before the harness
// sees them: the sabotage tests use it to play a broken engine through the
// same harness and checks the fuzz target uses.
type tamper func(ev engine.Event, acts []engine.Action) []engine.Action

// engineRun feeds events decoded from data to a fresh engine and returns
// every action it emitted, rendered. Each 4 input bytes are one event:
// its kind, a worker, a replica and a parameter. Handles are taken from
// the engine's own actions, current or stale, so the stream explores races
// a real driver can produce (late exits, old timers, duplicate answers).
// It fails on an illegal transition, an unanswered command, or a spawn
// that would give a replica a second live process (see liveTruth).
func engineRun(cfg *config.Config, data []byte, tp tamper) ([]string, *engine.Engine, error) {
	workers := cfg.Order
	e := engine.New(cfg, &seqRand{x: 1})
	truth := newLiveTruth()
	var out []string
	var seen []engine.Handle // every handle the engine named
	var timers []engine.TimerRef
	now := time.Duration(0)
	step := func(ev engine.Event) ([]engine.Action, error) {
		truth.fed(ev)
		acts := e.Step(ev)
		if tp != nil {
			acts = tp(ev, acts)
		}
		for _, a := range acts {
			out = append(out, fmt.Sprintf("%v %v %v %v %v %v %v", a.Kind, a.H, a.PID, a.Signal, a.From, a.To, a.Reason))
			switch a.Kind {
			case engine.ActStartTimer:
				timers = append(timers, a.Timer)
			case engine.ActSpawn, engine.ActAdopt, engine.ActVerify, engine.ActKill:
				seen = append(seen, a.H)
			}
			if err := truth.emitted(a); err != nil {
				return nil, fmt.Errorf("after %v event %+v: %w", ev.Kind, ev.H, err)
			}
		}
		if len(e.Bugs) > 0 {
			return nil, fmt.Errorf("after %v event %+v: illegal transition: %v", ev.Kind, ev.H, e.Bugs)
		}
		return acts, nil
	}
	if _, err := step(engine.Event{Kind: engine.EvStart}); err != nil {
		return nil, nil, err
	}
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
		}
		acts, err := step(ev)
		if err != nil {
			return nil, nil, err
		}
		if ev.Kind == engine.EvCommand {
			answered := false
			for _, a := range acts {
				answered = answered || (a.Kind == engine.ActReply && a.CmdID == ev.Cmd.ID)
			}
			if !answered {
				return nil, nil, fmt.Errorf("command %+v not answered", ev.Cmd)
			}
		}
	}
	return out, e, nil
}

// replicaKey is one replica of a worker, whatever its generation.
type replicaKey struct {
	worker string
	idx    int
}

// lifeState is where a spawned (or adopted) instance is in the world the
// harness plays.
type lifeState uint8

const (
	inFlight lifeState = iota // ActSpawn or ActAdopt seen, not answered yet
	alive                     // answered: EvSpawned, or EvAdopted OK
	gone                      // spawn failed, exited, or killed to completion
)

var lifeNames = [...]string{inFlight: "in flight", alive: "alive", gone: "gone"}

type life struct {
	state     lifeState
	killAsked bool // the engine sent ActKill for this handle
}

// liveTruth is the harness's own record of which processes exist, built
// only from what it fed the engine and what the engine asked for, never
// from the engine's state. It holds the engine to DESIGN.md §2: one live
// instance per replica.
//
// What the engine may rely on, per engine/slot.go: a slot launches a new
// instance only once its current one is neither spawning, alive nor being
// cleaned up. An instance stops being alive on EvExited for its handle
// (exited), and a cleanup ends on EvDone of a kill by handle (cleaned),
// which the driver reports only once every process of the instance is gone.
// A spawn stops being in flight when it is answered: EvSpawned or EvAdopted
// OK (alive), EvSpawnFailed or EvAdopted not OK (gone); the engine takes
// either answer for either action, and so does this record. The first
// answer counts; a later one for the same handle is a duplicate the engine
// ignores, or kills if it names a process. An exit of a handle that is not
// alive yet is likewise ignored, as the engine does (its exited needs an
// alive instance).
//
// So at each ActSpawn or ActAdopt no other instance of that replica may be
// in flight or alive, and the handle must be new (generations are unique).
type liveTruth struct {
	lives map[engine.Handle]*life
	// open lists, per replica, the handles not yet gone, in spawn order.
	open map[replicaKey][]engine.Handle
}

func newLiveTruth() *liveTruth {
	return &liveTruth{lives: map[engine.Handle]*life{}, open: map[replicaKey][]engine.Handle{}}
}

// fed records an event the harness is about to give the engine.
func (lt *liveTruth) fed(ev engine.Event) {
	l := lt.lives[ev.H]
	if l == nil {
		return // not a handle the engine spawned: nothing of ours exists
	}
	switch {
	case l.state == inFlight && (ev.Kind == engine.EvSpawned || ev.Kind == engine.EvAdopted && ev.OK):
		l.state = alive
	case l.state == inFlight && (ev.Kind == engine.EvSpawnFailed || ev.Kind == engine.EvAdopted && !ev.OK):
		lt.end(ev.H, l)
	case l.state == alive && ev.Kind == engine.EvExited:
		lt.end(ev.H, l)
	case l.state == alive && ev.Kind == engine.EvDone && ev.Done == engine.ActKill && l.killAsked:
		lt.end(ev.H, l)
	}
}

func (lt *liveTruth) end(h engine.Handle, l *life) {
	l.state = gone
	k := replicaKey{h.Worker, h.Replica}
	lt.open[k] = slices.DeleteFunc(lt.open[k], func(o engine.Handle) bool { return o == h })
}

// emitted records an action of the engine and reports a spawn that would
// run a second instance of a replica.
func (lt *liveTruth) emitted(a engine.Action) error {
	switch a.Kind {
	case engine.ActSpawn, engine.ActAdopt:
		if l := lt.lives[a.H]; l != nil {
			return fmt.Errorf("%v of %s-%d reuses generation %d, which is %s", a.Kind, a.H.Worker, a.H.Replica, a.H.Gen, lifeNames[l.state])
		}
		k := replicaKey{a.H.Worker, a.H.Replica}
		if open := lt.open[k]; len(open) > 0 {
			o := open[0]
			return fmt.Errorf("%v of %s-%d generation %d while generation %d is %s: two instances of one replica",
				a.Kind, a.H.Worker, a.H.Replica, a.H.Gen, o.Gen, lifeNames[lt.lives[o].state])
		}
		lt.lives[a.H] = &life{}
		lt.open[k] = append(lt.open[k], a.H)
	case engine.ActKill:
		if l := lt.lives[a.H]; l != nil {
			l.killAsked = true
		}
	}
	return nil
}

// FuzzEngineEvents: any stream of events, however stale, duplicated or
// out of order, leaves the engine without a panic or an illegal
// transition, never spawning a replica that still has a live instance or
// a spawn in flight (liveTruth), with every command answered, the same
// actions on a second run, and a state file that a new engine can start
// from.
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
		first, e, err := engineRun(cfg, data, nil)
		if err != nil {
			t.Fatal(err)
		}
		second, _, err := engineRun(cfg, data, nil)
		if err != nil {
			t.Fatalf("second run: %v", err)
		}
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
