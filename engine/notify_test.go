package engine

import (
	"testing"
	"time"
)

// TestNotifyReadiness: a notify worker is ready only after READY=1 (and
// its readiness probe, if it has one); the healthy condition waits for it;
// STATUS= shows in status.
func TestNotifyReadiness(t *testing.T) {
	h := newHarness(t, `
version: 1
workers:
  db: {command: [db], notify: true}
  api: {command: [api], depends_on: {db: {condition: healthy}}}
`)
	h.start()
	h.run("db", 1)
	if h.has(ActSpawn, "api", 1) || h.gens[key("api", 1)] != 0 {
		t.Fatal("api started before db sent READY=1")
	}
	h.step(Event{Kind: EvNotify, H: h.handle("db", 1), Notify: Notification{HasStatus: true, Status: "loading 40%"}})
	h.expectState("db", 1, Running)
	if st := h.e.Snapshot(); st.Workers[0].Slots[0].StatusText != "loading 40%" || st.Workers[0].Slots[0].Ready {
		t.Errorf("status %+v", st.Workers[0].Slots[0])
	}
	h.step(Event{Kind: EvNotify, H: h.handle("db", 1), Notify: Notification{Ready: true}})
	h.expectState("db", 1, Ready)
	if !h.has(ActSpawn, "api", 1) {
		t.Error("api not started once db is ready")
	}
}

// TestNotifyWatchdog: a missed WATCHDOG=1 is a liveness failure; each
// ping re-arms it.
func TestNotifyWatchdog(t *testing.T) {
	h := newHarness(t, `
version: 1
workers:
  w: {command: [w], notify: true, watchdog: 10s}
`)
	h.start()
	h.run("w", 1)
	if _, ok := h.armed("w", 1, TimerWatchdog); ok {
		t.Fatal("watchdog armed before the first ping or READY=1")
	}
	h.step(Event{Kind: EvNotify, H: h.handle("w", 1), Notify: Notification{Ready: true}})
	first, ok := h.armed("w", 1, TimerWatchdog)
	if !ok {
		t.Fatal("READY=1 did not arm the watchdog")
	}
	h.advance(8 * time.Second)
	h.step(Event{Kind: EvNotify, H: h.handle("w", 1), Notify: Notification{Watchdog: true}})
	second, _ := h.armed("w", 1, TimerWatchdog)
	if second.At <= first.At {
		t.Fatalf("a ping did not push the watchdog back: %v then %v", first.At, second.At)
	}
	h.fire("w", 1, TimerWatchdog)
	h.expectState("w", 1, Stopping)
	if r := h.e.Snapshot().reasonOf("w", 1); r != "watchdog: no WATCHDOG=1 for 10s" {
		t.Errorf("reason %q", r)
	}
}

// TestRollingReload: a reload of a rolling worker replaces one replica at
// a time, the next once the one before is ready; it stops at a failure.
func TestRollingReload(t *testing.T) {
	old := `
version: 1
workers:
  w: {command: [w], replicas: 3, rollout: rolling, restart: {start_seconds: 1s}, env: {V: "1"}}
`
	h := newHarness(t, old)
	h.start()
	for r := 1; r <= 3; r++ {
		h.run("w", r)
	}
	h.step(Event{Kind: EvReload, Config: parseConfig(t, `
version: 1
workers:
  w: {command: [w], replicas: 3, rollout: rolling, restart: {start_seconds: 1s}, env: {V: "2"}}
`)})
	states := func() string {
		return h.state("w", 1).String() + " " + h.state("w", 2).String() + " " + h.state("w", 3).String()
	}
	if got := states(); got != "stopping running running" {
		t.Fatalf("after the reload: %s, want only replica 1 stopping", got)
	}
	h.exit("w", 1, 0)
	h.spawned("w", 1)
	if got := states(); got != "starting running running" {
		t.Fatalf("replica 1 starting: %s, want the others untouched", got)
	}
	h.fire("w", 1, TimerStartGrace) // running past start_seconds: ready enough
	if got := states(); got != "running stopping running" {
		t.Fatalf("replica 1 up: %s, want replica 2 next", got)
	}
	// Replica 2's new instance fails at once: the rollout stops there.
	h.exit("w", 2, 0)
	h.spawned("w", 2)
	h.exit("w", 2, 1)
	if got := states(); got != "running backoff running" {
		t.Fatalf("replica 2 failed: %s, want replica 3 left alone", got)
	}
	if h.e.rolling != 0 {
		t.Errorf("%d rollouts still counted", h.e.rolling)
	}
}
