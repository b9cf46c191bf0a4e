package engine

import (
	"fmt"
	"testing"
	"time"
)

// benchWorkers defines 100 workers, as in the DESIGN.md §7 budgets; the
// benchmarks step one of them.
func benchConfig(testing.TB) string {
	s := "version: 1\nworkers:\n"
	for i := 0; i < 100; i++ {
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
		// Only the exit step is timed.
		e, h := benchEngine(b)
		now := time.Second
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			now += 10 * time.Minute
			acts := e.Step(Event{Kind: EvExited, H: h, Code: 1, At: now})
			b.StopTimer()
			ref, _, _ := findTimer(acts, TimerBackoff)
			e.Step(Event{Kind: EvTimer, Timer: ref, At: now})
			h.Gen = e.workers["w42"].slots[0].inst.gen
			e.Step(Event{Kind: EvSpawned, H: h, PID: 4242, At: now})
			b.StartTimer()
		}
	})
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
