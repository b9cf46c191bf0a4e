package engine

import (
	"time"

	"github.com/hsu-run/hsu/config"
)

// Sampling runs on one tick per distinct monitor_interval, aligned to a
// grid of that interval, instead of a timer per instance: every instance
// due at a tick is measured by one ActSample, so 1000 instances cost one
// timer, one action and one pass of the OS adapter per interval, not a
// thousand of each.
type sampleTick struct {
	every time.Duration
	id    uint64 // the armed timer; 0: not armed
}

// wantSample asks for the instance to be measured at its interval's next
// tick.
func (s *slot) wantSample(e *Engine) {
	d := s.spec().Resources.MonitorInterval.D()
	if d <= 0 || !s.inst.alive || s.state == Stopping {
		return
	}
	s.inst.sampleDue = true
	e.armTick(d)
}

func (e *Engine) tickFor(d time.Duration) *sampleTick {
	for i := range e.ticks {
		if e.ticks[i].every == d {
			return &e.ticks[i]
		}
	}
	e.ticks = append(e.ticks, sampleTick{every: d})
	return &e.ticks[len(e.ticks)-1]
}

// armTick arms interval d's tick at its next grid point unless it is
// armed already.
func (e *Engine) armTick(d time.Duration) {
	t := e.tickFor(d)
	if t.id != 0 {
		return
	}
	t.id = e.nextTimer
	e.nextTimer++
	at := (e.now/d + 1) * d
	e.emit(Action{Kind: ActStartTimer, Timer: TimerRef{ID: t.id, Kind: TimerSample}, At: at})
}

// sampleTimer handles a tick's timer: every due instance of that interval,
// in config order, goes into one ActSample.
func (e *Engine) sampleTimer(id uint64) {
	var t *sampleTick
	for i := range e.ticks {
		if e.ticks[i].id == id {
			t = &e.ticks[i]
		}
	}
	if t == nil {
		return // stale
	}
	t.id = 0
	targets := e.sampleBuf[:0]
	waiting := false
	for _, w := range e.order {
		if w.spec.Resources.MonitorInterval.D() != t.every {
			continue
		}
		for _, s := range w.slots {
			if !s.inst.alive || s.state == Stopping || !s.inst.sampleDue {
				continue
			}
			if s.inst.sampling {
				waiting = true // its last sample is still out
				continue
			}
			s.inst.sampling, s.inst.sampleDue = true, false
			targets = append(targets, SampleTarget{H: s.handle(), PID: s.inst.pid})
		}
	}
	e.sampleBuf = targets
	if len(targets) > 0 {
		e.emit(Action{Kind: ActSample, Samples: targets})
	}
	if waiting {
		e.armTick(t.every)
	}
}

// sample applies the resource policies to one measurement.
func (s *slot) sample(e *Engine, u Usage) {
	if !s.inst.sampling {
		return // not asked for (a late answer for an earlier instance)
	}
	s.inst.sampling = false
	prev, prevAt, hadPrev := s.usage, s.usageAt, s.sampled && s.usageAt >= s.inst.spawnedAt
	s.ioRate = [2]int64{}
	if dt := e.now - prevAt; hadPrev && dt > 0 {
		s.ioRate = [2]int64{rate(u.IORead-prev.IORead, dt), rate(u.IOWrite-prev.IOWrite, dt)}
	}
	s.usage, s.usageAt, s.sampled = u, e.now, true
	res := s.spec().Resources
	if !hadPrev {
		prev = Usage{}
		if s.inst.baseline {
			prev.OOMKills, prev.PidsRefused, prev.MemoryHigh = u.OOMKills, u.PidsRefused, u.MemoryHigh
		}
	}
	s.kernelEvents(e, prev, u)
	if !s.inst.alive || s.state == Stopping {
		return
	}
	for i, l := range limitsOf(res, u, u.PidsRefused > prev.PidsRefused) {
		if l.set && s.applyLimit(e, i, l, u) {
			return
		}
	}
	s.wantSample(e)
}

// kernelEvents reports what the kernel did since the previous sample: a
// rise of memory.events high is throttling (reported once per episode),
// a rise of the OOM kill count while the instance lives is a process
// other than its leader killed.
func (s *slot) kernelEvents(e *Engine, prev, u Usage) {
	if u.MemoryHigh > prev.MemoryHigh {
		if !s.inst.throttled {
			s.inst.throttled = true
			lim := int64(0)
			if m := s.spec().Resources.Memory; m != nil {
				lim = int64(m.Max)
			}
			e.emit(Action{Kind: ActNotice, H: s.handle(), Reason: Reason{Kind: RThrottled, Text: "memory", N: u.Memory, Limit: lim, Source: u.Source}})
		}
	} else {
		s.inst.throttled = false
	}
	if u.OOMKills > prev.OOMKills && s.inst.alive {
		n := u.OOMKills - prev.OOMKills
		s.oomKills += int(n)
		// The instance dies as a whole, as memory.oom.group makes it on
		// cgroup2: a worker whose child the kernel killed is not left
		// running as if healthy. Its exit is an OOM kill.
		e.emit(Action{Kind: ActNotice, H: s.handle(), Reason: Reason{Kind: RChildOOM, N: n, Source: u.Source}})
		s.inst.childOOM = true
		s.kill(e)
	}
}

// rate is n per second over d (a counter that went back, as after a
// re-adoption, counts as none).
func rate(n int64, d time.Duration) int64 {
	if n <= 0 {
		return 0
	}
	return int64(float64(n) / d.Seconds())
}

// ioLimits are an io limit's byte rates against the last two samples:
// the kernel holds them (io.max, blkio), so they are status only.
func (s *slot) ioLimits(l *config.IOLimit, u Usage) []LimitStatus {
	var out []LimitStatus
	for i, x := range []struct {
		name string
		max  config.Size
	}{{"io_read", l.ReadBPS}, {"io_write", l.WriteBPS}} {
		if x.max > 0 {
			out = append(out, LimitStatus{Resource: x.name, Value: s.ioRate[i], Max: int64(x.max), Policy: config.ResThrottle,
				Kernel: u.Kernel&EnforcedIO != 0, Over: s.ioRate[i] >= int64(x.max)})
		}
	}
	return out
}

// limit is one resource's limit against one sample.
type limit struct {
	set       bool
	val       int64
	warn, max int64
	policy    string
	kernel    bool // the kernel enforces max itself
}

// resources indexes: memory, cpu, pids.
var resourceNames = [3]string{"memory", "cpu", "pids"}

// limitsOf measures u against res; pidsHit: the kernel refused a fork at
// pids.max since the previous sample, so pids reached max whatever the
// count is now (a fork bomb's refused parent may have exited).
func limitsOf(res config.Resources, u Usage, pidsHit bool) [3]limit {
	var l [3]limit
	if m := res.Memory; m != nil {
		l[0] = limit{true, u.Memory, int64(m.Warn), int64(m.Max), m.Policy, u.Kernel&EnforcedMemory != 0}
	}
	if c := res.CPU; c != nil {
		l[1] = limit{true, int64(u.CPU * 1000), int64(float64(c.Warn) * 1000), int64(float64(c.Max) * 1000), c.Policy, u.Kernel&EnforcedCPU != 0}
	}
	if p := res.Pids; p != nil {
		l[2] = limit{true, int64(u.Pids), int64(p.Warn), int64(p.Max), p.Policy, false}
		if pidsHit {
			l[2].val = max(l[2].val, int64(p.Max))
		}
	}
	return l
}

// applyLimit acts on resource i's limit; it reports whether the instance
// is on its way down.
func (s *slot) applyLimit(e *Engine, i int, v limit, u Usage) bool {
	name := resourceNames[i]
	if v.warn > 0 {
		// One event per crossing, not per sample; falling below re-arms it.
		if v.val >= v.warn && !s.inst.warned[i] {
			e.emit(Action{Kind: ActNotice, H: s.handle(), Reason: Reason{Kind: RResourceWarn, Text: name, N: v.val, Limit: v.warn, Source: u.Source}})
		}
		s.inst.warned[i] = v.val >= v.warn
	}
	if v.max <= 0 {
		return false
	}
	if v.val < v.max {
		s.inst.over[i] = false
		return false
	}
	if s.inst.over[i] {
		return false // act once per crossing
	}
	s.inst.over[i] = true
	r := Reason{Kind: RResource, Text: name, Trigger: v.policy, N: v.val, Limit: v.max, Source: u.Source}
	switch v.policy {
	case config.ResLog, config.ResAlert:
		e.emit(Action{Kind: ActNotice, H: s.handle(), Reason: r})
	case config.ResThrottle:
		if v.kernel && s.inst.quotaNoted[i] {
			return false // the kernel's quota holds it there: noted once
		}
		s.inst.quotaNoted[i] = v.kernel
		e.emit(Action{Kind: ActNotice, H: s.handle(), Reason: r})
		e.emit(Action{Kind: ActThrottle, H: s.handle(), PID: s.inst.pid, Spec: s.spec(), Resource: name})
	case config.ResRestart:
		s.stop(e, afterResource, r)
		return true
	case config.ResGracefulShutdown:
		// Down until a start command, as after a stop command: so an hsu
		// restart keeps it down too (the state file records it).
		s.userStopped = true
		s.stop(e, afterStop, r)
		return true
	case config.ResImmediateKill:
		if v.kernel {
			// The kernel enforces this max (memory.max, a job limit): its
			// OOM kill acts, reported as OOMKilled; a sample at max is not
			// hsu's to act on.
			return false
		}
		e.emit(Action{Kind: ActNotice, H: s.handle(), Reason: r})
		s.inst.resourceKill = r
		s.kill(e)
		return true
	}
	return false
}

// sampleFailed: the driver could not measure the instance (EvDone of
// ActSample with an error); it is measured again at the next tick.
func (s *slot) sampleFailed(e *Engine) {
	s.inst.sampling = false
	s.wantSample(e)
}
