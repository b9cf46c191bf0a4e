package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hsu-run/hsu/config"
)

// fixedRand returns the same value every time; 0.5 means no jitter.
type fixedRand float64

func (r fixedRand) Float64() float64 { return float64(r) }

// harness drives an engine by hand: tests play the OS, answering actions
// with exactly the events they want, at the times they want.
type harness struct {
	t      *testing.T
	e      *Engine
	now    time.Duration
	last   []Action // actions of the last step
	all    []Action // every action so far
	timers map[timerKey]Action
	gens   map[string]uint64 // "worker-replica" -> generation of the last spawn/adopt
	pid    int
}

type timerKey struct {
	worker  string
	replica int
	kind    TimerKind
}

func parseConfig(t testing.TB, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(yaml), config.Options{LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

func newHarness(t *testing.T, yaml string) *harness {
	t.Helper()
	return &harness{t: t, e: New(parseConfig(t, yaml), fixedRand(0.5)), timers: map[timerKey]Action{}, gens: map[string]uint64{}, pid: 1000}
}

func key(worker string, replica int) string { return fmt.Sprintf("%s-%d", worker, replica) }

// step applies ev at the harness's time and records the actions.
func (h *harness) step(ev Event) []Action {
	h.t.Helper()
	ev.At = h.now
	acts := h.e.Step(ev)
	h.last = append(h.last[:0:0], acts...)
	h.all = append(h.all, acts...)
	for _, a := range h.last {
		switch a.Kind {
		case ActStartTimer:
			if a.Timer.Kind == TimerSample && a.Timer.H.Worker == "" {
				// The engine's sampling ticks, one per interval.
				h.timers[timerKey{"tick", int(a.Timer.ID), TimerSample}] = a
				continue
			}
			h.timers[timerKey{a.Timer.H.Worker, a.Timer.H.Replica, a.Timer.Kind}] = a
		case ActCancelTimer:
			k := timerKey{a.Timer.H.Worker, a.Timer.H.Replica, a.Timer.Kind}
			if h.timers[k].Timer.ID == a.Timer.ID {
				delete(h.timers, k)
			}
		case ActSpawn, ActAdopt:
			h.gens[key(a.H.Worker, a.H.Replica)] = a.H.Gen
		}
	}
	if len(h.e.Bugs) > 0 {
		h.t.Fatalf("engine bugs: %v", h.e.Bugs)
	}
	return h.last
}

func (h *harness) start() { h.step(Event{Kind: EvStart}) }

func (h *harness) handle(worker string, replica int) Handle {
	return Handle{Worker: worker, Replica: replica, Gen: h.gens[key(worker, replica)]}
}

// spawned answers the last spawn of a replica with success.
func (h *harness) spawned(worker string, replica int) int {
	h.t.Helper()
	h.pid++
	h.step(Event{Kind: EvSpawned, H: h.handle(worker, replica), PID: h.pid})
	return h.pid
}

func (h *harness) exit(worker string, replica, code int) {
	h.t.Helper()
	h.step(Event{Kind: EvExited, H: h.handle(worker, replica), Code: code})
}

func (h *harness) advance(d time.Duration) { h.now += d }

// fire advances the clock to the armed timer of kind and fires it.
func (h *harness) fire(worker string, replica int, kind TimerKind) {
	h.t.Helper()
	k := timerKey{worker, replica, kind}
	if kind == TimerSample {
		// One tick samples every due instance of an interval: the next.
		k, _ = h.nextTick()
	}
	a, ok := h.timers[k]
	if !ok {
		h.t.Fatalf("no %s timer armed for %s", kind, key(worker, replica))
	}
	delete(h.timers, k)
	if a.At > h.now {
		h.now = a.At
	}
	h.step(Event{Kind: EvTimer, Timer: a.Timer})
}

func (h *harness) armed(worker string, replica int, kind TimerKind) (Action, bool) {
	if kind == TimerSample {
		k, ok := h.nextTick()
		return h.timers[k], ok
	}
	a, ok := h.timers[timerKey{worker, replica, kind}]
	return a, ok
}

// nextTick is the armed sampling tick that fires first.
func (h *harness) nextTick() (timerKey, bool) {
	var best timerKey
	found := false
	for k, a := range h.timers {
		if k.worker == "tick" && (!found || a.At < h.timers[best].At || a.At == h.timers[best].At && a.Timer.ID < h.timers[best].Timer.ID) {
			best, found = k, true
		}
	}
	return best, found
}

// run brings a replica up: spawn answered, start grace elapsed.
func (h *harness) run(worker string, replica int) {
	h.t.Helper()
	h.spawned(worker, replica)
	if _, ok := h.armed(worker, replica, TimerStartGrace); ok {
		h.fire(worker, replica, TimerStartGrace)
	}
	h.expectState(worker, replica, Running)
}

func (h *harness) probe(worker string, replica int, k ProbeKind, ok bool) {
	h.t.Helper()
	h.fire(worker, replica, TimerProbe+TimerKind(k))
	if !h.has(ActProbe, worker, replica) {
		h.t.Fatalf("%s probe timer of %s did not run a probe", k, key(worker, replica))
	}
	h.step(Event{Kind: EvProbe, H: h.handle(worker, replica), Probe: k, OK: ok})
}

var cmdIDs uint64

func (h *harness) cmd(c Command) string {
	h.t.Helper()
	cmdIDs++
	c.ID = cmdIDs
	for _, a := range h.step(Event{Kind: EvCommand, Cmd: c}) {
		if a.Kind == ActReply && a.CmdID == c.ID {
			return a.Err
		}
	}
	h.t.Fatalf("command %v not answered", c)
	return ""
}

func (h *harness) state(worker string, replica int) State {
	st, ok := h.e.State(worker, replica)
	if !ok {
		h.t.Fatalf("no replica %s", key(worker, replica))
	}
	return st
}

func (h *harness) expectState(worker string, replica int, want State) {
	h.t.Helper()
	if got := h.state(worker, replica); got != want {
		h.t.Fatalf("%s is %s, want %s (reason: %s)", key(worker, replica), got, want, h.e.Snapshot().reasonOf(worker, replica))
	}
}

func (st *Status) reasonOf(worker string, replica int) string {
	for _, w := range st.Workers {
		if w.Name == worker && replica <= len(w.Slots) {
			return w.Slots[replica-1].Reason
		}
	}
	return ""
}

// has reports whether the last step emitted an action of kind for the replica.
func (h *harness) has(kind ActionKind, worker string, replica int) bool {
	return h.find(kind, worker, replica) != nil
}

func (h *harness) find(kind ActionKind, worker string, replica int) *Action {
	for i, a := range h.last {
		hh := a.H
		if a.Kind == ActStartTimer || a.Kind == ActCancelTimer {
			hh = a.Timer.H
		}
		if a.Kind == kind && (worker == "" || (hh.Worker == worker && hh.Replica == replica)) {
			return &h.last[i]
		}
		if a.Kind == kind && kind == ActSample {
			for _, t := range a.Samples {
				if t.H.Worker == worker && t.H.Replica == replica {
					return &h.last[i]
				}
			}
		}
	}
	return nil
}

// count counts actions of kind over the whole run.
func (h *harness) count(kind ActionKind, worker string) int {
	n := 0
	for _, a := range h.all {
		if a.Kind == kind && (worker == "" || a.H.Worker == worker) {
			n++
		}
	}
	return n
}

func (h *harness) transitions() string {
	var b strings.Builder
	for _, a := range h.all {
		if a.Kind == ActTransition {
			fmt.Fprintf(&b, "%s-%d %s>%s\n", a.H.Worker, a.H.Replica, a.From, a.To)
		}
	}
	return b.String()
}
