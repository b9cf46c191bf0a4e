package engine

import (
	"fmt"
	"testing"
	"time"
)

// benchWorkers is how many workers benchConfig defines: 100, as in the
// DESIGN.md §7 budgets.
const benchWorkers = 100

// benchConfig defines benchWorkers workers; most benchmarks step one of
// them.
func benchConfig(testing.TB) string {
	s := "version: 1\nworkers:\n"
	for i := 0; i < benchWorkers; i++ {
		s += fmt.Sprintf(`  w%d:
    command: [w]
    restart: {policy: always, backoff: {initial: 1s, max: 1m}, max_restarts: 0, start_seconds: 0s}
    health: {liveness: {exec: {command: [c]}, period: 10s, timeout: 1s}}
`, i)
	}
	return s
}

func findTimer(acts []Action, kind TimerKind) (TimerRef, time.Duration, bool) {
	for _, a := range acts {
		if a.Kind == ActStartTimer && a.Timer.Kind == kind {
			return a.Timer, a.At, true
		}
	}
	return TimerRef{}, 0, false
}

func benchEngine(b *testing.B) (*Engine, Handle) {
	e := New(parseConfig(b, benchConfig(b)), fixedRand(0.3))
	e.Step(Event{Kind: EvStart})
	h := Handle{Worker: "w42", Replica: 1, Gen: e.workers["w42"].slots[0].inst.gen}
	e.Step(Event{Kind: EvSpawned, H: h, PID: 4242, At: time.Millisecond})
	return e, h
}

// BenchmarkStep measures one engine step per op for the hot events. The
// budget (DESIGN.md §7) is < 1 µs and 0 allocations.
func BenchmarkStep(b *testing.B) {
	b.Run("timer+probe", func(b *testing.B) {
		// Alternates a liveness probe tick (timer → probe action) and its
		// result (probe → next timer).
		e, h := benchEngine(b)
		now := time.Second
		s := e.workers["w42"].slots[0]
		ref := TimerRef{ID: s.timers[TimerProbe+TimerKind(ProbeLiveness)], Kind: TimerProbe + TimerKind(ProbeLiveness), H: h}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			now += 5 * time.Second
			if i%2 == 0 {
				e.Step(Event{Kind: EvTimer, Timer: ref, At: now})
			} else {
				acts := e.Step(Event{Kind: EvProbe, H: h, Probe: ProbeLiveness, OK: true, At: now})
				ref, _, _ = findTimer(acts, TimerProbe+TimerKind(ProbeLiveness))
			}
		}
	})
	b.Run("exit+backoff+respawn", func(b *testing.B) {
		// Cycles exit (→ backoff timer), timer (→ spawn), spawned (→
		// running): one event per op.
		e, h := benchEngine(b)
		now := time.Second
		var ref TimerRef
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			now += 10 * time.Minute // past reset_after and the window: steady state
			switch i % 3 {
			case 0:
				acts := e.Step(Event{Kind: EvExited, H: h, Code: 1, At: now})
				ref, _, _ = findTimer(acts, TimerBackoff)
			case 1:
				e.Step(Event{Kind: EvTimer, Timer: ref, At: now})
				h.Gen = e.workers["w42"].slots[0].inst.gen
			case 2:
				e.Step(Event{Kind: EvSpawned, H: h, PID: 4242, At: now})
			}
		}
	})
	b.Run("exit", func(b *testing.B) {
		// Only exit steps are timed. Stopping the timer around each one
		// would time b.StopTimer/StartTimer (several hundred ns) rather
		// than the step, so exits run in batches: every worker of a pool of
		// engines is running, the timed loop steps one exit each, and the
		// untimed part respawns them all (backoff timer, spawned) for the
		// next batch. The timer is stopped once per batch, not per exit.
		pool := newExitPool(b, exitBatch/benchWorkers)
		now := time.Second
		b.ReportAllocs()
		b.ResetTimer()
		for done := 0; done < b.N; {
			now += 10 * time.Minute // past reset_after and the window: steady state
			n := min(b.N-done, len(pool.live))
			for i := 0; i < n; i++ {
				r := &pool.live[i]
				pool.acts[i], _, _ = findTimer(r.e.Step(Event{Kind: EvExited, H: r.h, Code: 1, At: now}), TimerBackoff)
			}
			b.StopTimer()
			pool.respawn(b, n, now)
			done += n
			b.StartTimer()
		}
	})
}

// exitBatch is how many exits BenchmarkStep/exit times per b.StopTimer.
const exitBatch = 1000

// exitPool is a set of engines whose every worker is running, each
// instance ready to be stepped through an exit.
type exitPool struct {
	live []liveInst
	acts []TimerRef // the backoff timer each exit armed
}

type liveInst struct {
	e *Engine
	h Handle
}

func newExitPool(b *testing.B, engines int) *exitPool {
	cfg := parseConfig(b, benchConfig(b))
	p := &exitPool{}
	for range engines {
		e := New(cfg, fixedRand(0.3))
		e.Step(Event{Kind: EvStart})
		for _, w := range e.order {
			h := w.slots[0].handle()
			e.Step(Event{Kind: EvSpawned, H: h, PID: 4242, At: time.Millisecond})
			p.live = append(p.live, liveInst{e: e, h: h})
		}
	}
	p.acts = make([]TimerRef, len(p.live))
	return p
}

// respawn takes the first n instances, which have just exited, through
// their backoff timer and a new spawn, so they can exit again.
func (p *exitPool) respawn(b *testing.B, n int, now time.Duration) {
	for i := 0; i < n; i++ {
		r := &p.live[i]
		if p.acts[i].ID == 0 {
			b.Fatalf("exit of %v armed no backoff timer", r.h)
		}
		r.e.Step(Event{Kind: EvTimer, Timer: p.acts[i], At: now})
		s := r.e.workers[r.h.Worker].slots[r.h.Replica-1]
		if s.state != Starting {
			b.Fatalf("%v is %v after its backoff timer, want starting", r.h, s.state)
		}
		r.h.Gen = s.inst.gen
		r.e.Step(Event{Kind: EvSpawned, H: r.h, PID: 4242, At: now})
	}
}

// TestStepAllocatesNothing guards the 0-allocation budget of the hot
// events without timing anything.
func TestStepAllocatesNothing(t *testing.T) {
	e := New(parseConfig(t, benchConfig(nil)), fixedRand(0.3))
	e.Step(Event{Kind: EvStart})
	h := Handle{Worker: "w42", Replica: 1, Gen: e.workers["w42"].slots[0].inst.gen}
	e.Step(Event{Kind: EvSpawned, H: h, PID: 4242, At: time.Millisecond})
	now := time.Second
	allocs := testing.AllocsPerRun(200, func() {
		now += 10 * time.Minute
		acts := e.Step(Event{Kind: EvExited, H: h, Code: 1, At: now})
		ref, _, _ := findTimer(acts, TimerBackoff)
		e.Step(Event{Kind: EvTimer, Timer: ref, At: now})
		h.Gen = e.workers["w42"].slots[0].inst.gen
		acts = e.Step(Event{Kind: EvSpawned, H: h, PID: 4242, At: now})
		probe, _, _ := findTimer(acts, TimerProbe+TimerKind(ProbeLiveness))
		e.Step(Event{Kind: EvTimer, Timer: probe, At: now})
		e.Step(Event{Kind: EvProbe, H: h, Probe: ProbeLiveness, OK: true, At: now})
	})
	if allocs != 0 {
		t.Fatalf("exit/timer/spawn/probe steps allocate %.1f times per cycle, want 0", allocs)
	}
}

// BenchmarkShutdown1000 measures a whole shutdown of 1000 running
// workers, every exit its own step, as when hsu stops them all (W4 of
// ../shared/bench at 1000): it was quadratic in the worker count.
func BenchmarkShutdown1000(b *testing.B) {
	s := "version: 1\nworkers:\n"
	for i := 0; i < 1000; i++ {
		s += fmt.Sprintf("  w%d: {command: [w], restart: {start_seconds: 0s}}\n", i)
	}
	cfg := parseConfig(b, s)
	b.ReportAllocs()
	for b.Loop() {
		e := New(cfg, fixedRand(0.3))
		var hs []Handle
		for _, a := range e.Step(Event{Kind: EvStart}) {
			if a.Kind == ActSpawn {
				hs = append(hs, a.H)
			}
		}
		for i, h := range hs {
			e.Step(Event{Kind: EvSpawned, H: h, PID: 1000 + i, At: time.Millisecond})
		}
		e.Step(Event{Kind: EvCommand, Cmd: Command{Verb: CmdShutdown, ID: 1}, At: time.Second})
		for _, h := range hs {
			e.Step(Event{Kind: EvExited, H: h, Code: -1, Signal: "TERM", At: 2 * time.Second})
		}
		if !e.Done() {
			b.Fatal("shutdown did not finish")
		}
	}
}
