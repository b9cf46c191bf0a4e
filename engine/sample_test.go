package engine

import (
	"testing"
	"time"
)

// TestOneSampleActionPerTick: every instance of an interval due at a tick
// is measured by one ActSample, at the interval's grid points; another
// interval has its own tick.
func TestOneSampleActionPerTick(t *testing.T) {
	h := newHarness(t, `
version: 1
workers:
  a:
    command: [a]
    replicas: 3
    resources: {monitor_interval: 1s}
  b:
    command: [b]
    resources: {monitor_interval: 5s}
`)
	h.start()
	h.advance(300 * time.Millisecond)
	for i := 1; i <= 3; i++ {
		h.run("a", i)
	}
	h.run("b", 1)
	tick, ok := h.armed("", 0, TimerSample)
	if !ok {
		t.Fatal("no sample tick armed")
	}
	if tick.At != time.Second {
		t.Fatalf("tick at %v, want the grid point 1s", tick.At)
	}
	h.fire("", 0, TimerSample)
	var acts []Action
	for _, a := range h.last {
		if a.Kind == ActSample {
			acts = append(acts, a)
		}
	}
	if len(acts) != 1 || len(acts[0].Samples) != 3 {
		t.Fatalf("want one ActSample of the 3 replicas of a, got %+v", acts)
	}
	for i, s := range acts[0].Samples {
		if s.H.Worker != "a" || s.H.Replica != i+1 {
			t.Fatalf("sample %d is %+v, want a-%d in order", i, s.H, i+1)
		}
	}
	// Answered: the next tick is the next grid point and takes them again.
	for i := 1; i <= 3; i++ {
		h.step(Event{Kind: EvSample, H: h.handle("a", i), Usage: Usage{Memory: 1}})
	}
	if n := len(h.e.ticks); n != 2 {
		t.Fatalf("%d ticks, want one per interval (2)", n)
	}
}

// TestSampleOutstandingIsNotResent: an instance whose sample is still out
// is not measured again at the next tick; it is once the answer came.
func TestSampleOutstandingIsNotResent(t *testing.T) {
	h := newHarness(t, `
version: 1
workers:
  a:
    command: [a]
    replicas: 2
    resources: {monitor_interval: 1s}
`)
	h.start()
	h.run("a", 1)
	h.run("a", 2)
	h.fire("", 0, TimerSample)
	h.step(Event{Kind: EvSample, H: h.handle("a", 1)}) // a-2's is still out
	h.fire("", 0, TimerSample)
	if a := h.find(ActSample, "", 0); a == nil || len(a.Samples) != 1 || a.Samples[0].H.Replica != 1 {
		t.Fatalf("want a sample of a-1 only, got %+v", a)
	}
}

// TestLimitEvents: each policy's decision at a sample, with the value,
// the threshold and the source in its reason.
func TestLimitEvents(t *testing.T) {
	tests := []struct {
		name      string
		resources string
		usage     Usage
		wantKind  ReasonKind
		wantText  string
		wantState State
		kill      bool
	}{
		{name: "warn", resources: `{memory: {max: 100Mi, warn: 50Mi, policy: log}}`, usage: Usage{Memory: 60 << 20, Source: "cgroup2"},
			wantKind: RResourceWarn, wantText: "memory 60Mi crossed warn 50Mi (cgroup2)", wantState: Running},
		{name: "alert", resources: `{memory: {max: 100Mi, policy: alert}}`, usage: Usage{Memory: 100 << 20, Source: "proc"},
			wantKind: RResource, wantText: "memory 100Mi reached max 100Mi (proc): policy alert", wantState: Running},
		{name: "hsu's kill without a kernel limit", resources: `{memory: {max: 100Mi}}`, usage: Usage{Memory: 120 << 20},
			wantKind: RResource, wantText: "memory 120Mi reached max 100Mi: policy immediate_kill", wantState: Running, kill: true},
		{name: "the kernel's limit: hsu leaves it to the kernel", resources: `{memory: {max: 100Mi}}`, usage: Usage{Memory: 100 << 20, Kernel: EnforcedMemory},
			wantState: Running},
		{name: "throttled at memory.high", resources: `{memory: {max: 64Mi, policy: throttle}}`, usage: Usage{Memory: 60 << 20, MemoryHigh: 3, Source: "cgroup2", Kernel: EnforcedMemory},
			wantKind: RThrottled, wantText: "memory throttled by the kernel at 60Mi (memory.high 64Mi) (cgroup2)", wantState: Running},
		{name: "a child OOM-killed", resources: `{memory: {max: 64Mi}}`, usage: Usage{Memory: 10 << 20, OOMKills: 1, Kernel: EnforcedMemory},
			wantKind: RChildOOM, wantText: "OOMKilled: the kernel killed 1 of its processes; killing the rest", wantState: Running, kill: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := runningWith(t, tt.resources)
			h.fire("api", 1, TimerSample)
			h.step(Event{Kind: EvSample, H: h.handle("api", 1), Usage: tt.usage})
			n := h.find(ActNotice, "api", 1)
			switch {
			case tt.wantKind == RNone && n != nil:
				t.Fatalf("unexpected notice %q", n.Reason)
			case tt.wantKind != RNone && (n == nil || n.Reason.Kind != tt.wantKind):
				t.Fatalf("want a %d notice, got %+v", tt.wantKind, h.last)
			case n != nil && n.Reason.String() != tt.wantText:
				t.Fatalf("notice %q, want %q", n.Reason, tt.wantText)
			}
			h.expectState("api", 1, tt.wantState)
			if got := h.has(ActKill, "api", 1); got != tt.kill {
				t.Fatalf("kill sent: %v, want %v", got, tt.kill)
			}
			// The same sample again says nothing new: one event per crossing.
			if !tt.kill {
				h.fire("api", 1, TimerSample)
				h.step(Event{Kind: EvSample, H: h.handle("api", 1), Usage: tt.usage})
				if n := h.find(ActNotice, "api", 1); n != nil {
					t.Fatalf("a second notice for the same crossing: %q", n.Reason)
				}
			}
		})
	}
}

// TestWarnRearms: falling back below warn re-arms its event.
func TestWarnRearms(t *testing.T) {
	h := newHarness(t, `
version: 1
workers:
  api:
    command: [api]
    resources: {pids: {max: 100, warn: 10}, monitor_interval: 1s}
`)
	h.start()
	h.run("api", 1)
	var warned []bool
	for _, pids := range []int{11, 12, 5, 11} {
		h.fire("api", 1, TimerSample)
		h.step(Event{Kind: EvSample, H: h.handle("api", 1), Usage: Usage{Pids: pids}})
		n := h.find(ActNotice, "api", 1)
		warned = append(warned, n != nil && n.Reason.Kind == RResourceWarn)
	}
	if want := []bool{true, false, false, true}; !equalBools(warned, want) {
		t.Fatalf("warn events %v, want %v", warned, want)
	}
}

// TestChildOOMIsAnOOMExit: after the kernel killed a process other than
// the leader, hsu kills the rest; the exit is reported as OOMKilled and
// restarted under the resource trigger.
func TestChildOOMIsAnOOMExit(t *testing.T) {
	h := newHarness(t, `
version: 1
workers:
  api:
    command: [api]
    restart: {policy: always, backoff: {initial: 1s, jitter: 0}}
    resources: {memory: {max: 64Mi}, monitor_interval: 1s}
`)
	h.start()
	h.run("api", 1)
	h.fire("api", 1, TimerSample)
	h.step(Event{Kind: EvSample, H: h.handle("api", 1), Usage: Usage{OOMKills: 2, Kernel: EnforcedMemory}})
	h.step(Event{Kind: EvExited, H: h.handle("api", 1), Signal: "KILL"})
	h.expectState("api", 1, Backoff)
	st := h.e.Snapshot().Workers[0].Slots[0]
	if st.LastExit != "OOMKilled" || st.OOMKills != 2 || st.LastTrigger != "" && st.LastTrigger != "resource" {
		t.Fatalf("status %+v, want an OOMKilled exit with 2 OOM kills", st)
	}
	if want := "OOMKilled; restart 1 (resource) in 1s"; st.Reason != want {
		t.Fatalf("reason %q, want %q", st.Reason, want)
	}
}

// TestLimitStatus: status shows each limit against the last sample.
func TestLimitStatus(t *testing.T) {
	h := newHarness(t, `
version: 1
workers:
  api:
    command: [api]
    resources: {memory: {max: 100Mi, warn: 50Mi, policy: alert}, pids: {max: 10}, monitor_interval: 1s}
`)
	h.start()
	h.run("api", 1)
	h.fire("api", 1, TimerSample)
	h.step(Event{Kind: EvSample, H: h.handle("api", 1), Usage: Usage{Memory: 120 << 20, Pids: 3}})
	lims := h.e.Snapshot().Workers[0].Slots[0].Limits
	want := []LimitStatus{
		{Resource: "memory", Value: 120 << 20, Warn: 50 << 20, Max: 100 << 20, Policy: "alert", Warned: true, Over: true},
		{Resource: "pids", Value: 3, Max: 10, Policy: "log"},
	}
	if len(lims) != len(want) {
		t.Fatalf("limits %+v, want %+v", lims, want)
	}
	for i := range want {
		if lims[i] != want[i] {
			t.Fatalf("limit %d: %+v, want %+v", i, lims[i], want[i])
		}
	}
}

// TestIOLimitStatus: an io limit shows the byte rates between the last
// two samples against it.
func TestIOLimitStatus(t *testing.T) {
	h := newHarness(t, `
version: 1
workers:
  db:
    command: [db]
    resources: {io: {read_bps: 4Mi, write_bps: 1Mi}, monitor_interval: 2s}
`)
	h.start()
	h.run("db", 1)
	h.fire("db", 1, TimerSample)
	h.step(Event{Kind: EvSample, H: h.handle("db", 1), Usage: Usage{IORead: 1 << 20, IOWrite: 8 << 20, Kernel: EnforcedIO}})
	if l := h.e.Snapshot().Workers[0].Slots[0].Limits; len(l) != 2 || l[0].Value != 0 || l[1].Value != 0 {
		t.Fatalf("first sample: %+v, want two limits at rate 0 (no previous sample)", l)
	}
	h.fire("db", 1, TimerSample)
	h.step(Event{Kind: EvSample, H: h.handle("db", 1), Usage: Usage{IORead: 3 << 20, IOWrite: 10 << 20, Kernel: EnforcedIO}})
	got := h.e.Snapshot().Workers[0].Slots[0].Limits
	want := []LimitStatus{
		{Resource: "io_read", Value: 1 << 20, Max: 4 << 20, Policy: "throttle", Kernel: true},
		{Resource: "io_write", Value: 1 << 20, Max: 1 << 20, Policy: "throttle", Kernel: true, Over: true},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("limits %+v\nwant %+v", got, want)
	}
}

// runningWith is worker api running with resources (a flow mapping),
// sampled every second.
func runningWith(t *testing.T, resources string) *harness {
	t.Helper()
	h := newHarness(t, `
version: 1
workers:
  api:
    command: [api]
    resources: `+resources[:len(resources)-1]+`, monitor_interval: 1s}
`)
	h.start()
	h.run("api", 1)
	return h
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCrossingSequences: which samples of a sequence make a notice at max.
func TestCrossingSequences(t *testing.T) {
	tests := []struct {
		name, resources string
		usages          []Usage
		want            []bool
	}{
		// Under the kernel's quota usage hovers around max: noted once.
		{"kernel CPU quota noted once", `{cpu: {max: 200m}}`,
			[]Usage{{CPU: 0.21, Kernel: EnforcedCPU}, {CPU: 0.19, Kernel: EnforcedCPU}, {CPU: 0.21, Kernel: EnforcedCPU}, {CPU: 0.2, Kernel: EnforcedCPU}},
			[]bool{true, false, false, false}},
		{"a sampled policy acts at each crossing", `{cpu: {max: 200m, policy: log}}`,
			[]Usage{{CPU: 0.21}, {CPU: 0.19}, {CPU: 0.21}},
			[]bool{true, false, true}},
		// The bomb's refused parent exited: the count is below max, the
		// kernel's count of refused forks rose.
		{"refused forks reach pids max", `{pids: {max: 8, policy: log}}`,
			[]Usage{{Pids: 7}, {Pids: 7, PidsRefused: 2}, {Pids: 7, PidsRefused: 2}, {Pids: 3, PidsRefused: 5}},
			[]bool{false, true, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := runningWith(t, tt.resources)
			var got []bool
			for _, u := range tt.usages {
				h.fire("api", 1, TimerSample)
				h.step(Event{Kind: EvSample, H: h.handle("api", 1), Usage: u})
				n := h.find(ActNotice, "api", 1)
				got = append(got, n != nil && n.Reason.Kind == RResource)
			}
			if !equalBools(got, tt.want) {
				t.Fatalf("notices at max %v, want %v", got, tt.want)
			}
		})
	}
}

// TestReadoptedCountersAreBaseline: a re-adopted instance's first sample
// only sets the kernel's counters; a rise after it is news.
func TestReadoptedCountersAreBaseline(t *testing.T) {
	h := startFrom(t, `
version: 1
workers:
  api:
    command: [api]
    resources: {memory: {max: 64Mi}, pids: {max: 8, policy: log}, monitor_interval: 1s}
`, &Saved{NextGen: 9, Instances: []Recovered{{H: Handle{"api", 1, 8}, PID: 501, State: Running}}})
	h.step(Event{Kind: EvVerified, H: Handle{"api", 1, 8}, OK: true})
	h.expectState("api", 1, Running)
	before := Usage{OOMKills: 2, PidsRefused: 4, MemoryHigh: 9, Kernel: EnforcedMemory | EnforcedPids}
	h.fire("api", 1, TimerSample)
	h.step(Event{Kind: EvSample, H: Handle{"api", 1, 8}, Usage: before})
	if n := h.find(ActNotice, "api", 1); n != nil || h.has(ActKill, "api", 1) {
		t.Fatalf("counters from before this hsu acted on: %+v", h.last)
	}
	after := before
	after.OOMKills = 3
	h.fire("api", 1, TimerSample)
	h.step(Event{Kind: EvSample, H: Handle{"api", 1, 8}, Usage: after})
	if n := h.find(ActNotice, "api", 1); n == nil || n.Reason.Kind != RChildOOM || !h.has(ActKill, "api", 1) {
		t.Fatalf("a child OOM after re-adoption not acted on: %+v", h.last)
	}
}
