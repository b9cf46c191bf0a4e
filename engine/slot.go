package engine

import (
	"time"

	"github.com/hsu-run/hsu/config"
)

// after says what to do once the current instance has exited.
type after uint8

const (
	afterNone     after = iota // an unrequested exit: apply the restart policy
	afterStop                  // stay stopped
	afterRestart               // start again at once (restart command, scale up, reload)
	afterHealth                // restart under the health trigger (liveness failed)
	afterResource              // restart under the resource trigger
)

// slot is one replica: its current instance and its restart history.
type slot struct {
	w      *worker
	idx    int // replica number, from 1
	state  State
	reason Reason
	since  time.Duration
	inst   instance
	after  after
	// afterReason is shown when the stop completes.
	afterReason Reason
	timers      [numTimers]uint64
	// consecutive counts restarts since the back-off last reset.
	consecutive int
	history     [3]ring // restart times per trigger (crash, health, resource) for the budget
	restarts    int     // spawns after the first, for status
	everStarted bool    // spawned at least once since the last start command
	lastSuccess bool    // the last exit counted as success
	userStopped bool    // stopped by a command (unless-stopped survives hsu restarts)
	lastExit    Reason

	// For status and metrics only (no decision reads them).
	lastExitAt  time.Duration
	exitSeen    bool   // lastExit is an exit (not a spawn failure) since the slot began
	trigger     string // why the next launch is a restart: crash, health, resource, command, reload
	lastTrigger string // the last restart's trigger
	restartsBy  map[string]int
	nextRestart time.Duration // when the back-off ends (state Backoff)
	usage       Usage
	usageAt     time.Duration
	// ioRate is the instance's I/O in bytes per second between its last
	// two samples: read, write (an io limit is a rate).
	ioRate   [2]int64
	sampled  bool
	oomKills int
}

// instance is the current (or last) spawn of a slot.
type instance struct {
	gen       uint64
	pid       int
	spawning  bool // Spawn or Adopt sent, no answer yet
	alive     bool // the process exists (spawned or adopted, no exit yet)
	spawnedAt time.Duration
	pastStart bool // ran past start_seconds
	killed    bool // SIGKILL sent
	// cleaning: an ActKill by handle is in flight; the slot waits for its
	// EvDone (every process of the instance gone) before going on.
	cleaning bool
	// resourceKill is the sample decision (RResource) that made hsu kill
	// the instance under immediate_kill, zero otherwise: the exit counts
	// as a resource restart, like an OOM kill, and its reason names the
	// resource and value, since no kernel limit was involved.
	resourceKill Reason
	logReady     bool
	// notifyReady: a notify worker sent READY=1; status is its STATUS=.
	notifyReady bool
	status      string
	probes      [numProbes]probeState
	over        [3]bool // at or above max, per resource (memory, cpu, pids)
	warned      [3]bool // at or above warn
	// quotaNoted: a throttle the kernel enforces (a CPU quota) was noted
	// once; usage then hovers around max, so crossings are not news.
	quotaNoted [3]bool
	// sampleDue: measure it at its interval's next tick; sampling: an
	// ActSample for it is out.
	sampleDue, sampling bool
	throttled           bool // the kernel throttled it at memory.high in the last sample
	// childOOM: hsu killed the instance because the kernel OOM-killed one
	// of its other processes; its exit is an OOM kill.
	childOOM bool
	// baseline: a re-adopted instance's first sample only sets the
	// kernel's counters (OOM kills, refused forks, memory.high events):
	// what they counted before this hsu is not news.
	baseline bool
}

type probeState struct {
	succ, fail int
	inflight   bool
	passed     bool
	startedAt  time.Duration
	// The last result, for status: ran, ok, its error text, when it
	// finished and how long it took.
	ran     bool
	ok      bool
	err     string
	at, dur time.Duration
}

func newSlot(w *worker, idx int) *slot {
	return &slot{w: w, idx: idx, state: Stopped}
}

func (s *slot) handle() Handle { return Handle{Worker: s.w.name, Replica: s.idx, Gen: s.inst.gen} }

func (s *slot) spec() *config.Worker { return s.w.spec }

// arm starts a timer of kind, replacing any armed one.
func (s *slot) arm(e *Engine, kind TimerKind, d time.Duration) {
	s.disarm(e, kind)
	id := e.nextTimer
	e.nextTimer++
	s.timers[kind] = id
	e.emit(Action{Kind: ActStartTimer, Timer: TimerRef{ID: id, Kind: kind, H: s.handle()}, At: e.now + d})
}

func (s *slot) disarm(e *Engine, kind TimerKind) {
	if id := s.timers[kind]; id != 0 {
		s.timers[kind] = 0
		e.emit(Action{Kind: ActCancelTimer, Timer: TimerRef{ID: id, Kind: kind, H: s.handle()}})
	}
}

func (s *slot) disarmAll(e *Engine) {
	for k := TimerKind(0); k < numTimers; k++ {
		s.disarm(e, k)
	}
}

func (s *slot) toPending(e *Engine, r Reason) {
	e.transition(s, Pending, r)
}

// launch spawns (or, for unmanaged workers, adopts) a new instance.
func (s *slot) launch(e *Engine, r Reason) {
	s.disarmAll(e)
	if !e.hasCapacity(s.w) {
		// Replicas removed by a scale-down are still stopping: starting now
		// would run more instances than asked for. settle retries.
		s.inst = instance{gen: s.inst.gen}
		s.after = afterNone
		e.transition(s, Pending, Reason{Kind: RWaitingCapacity, N: int64(s.w.desired)})
		return
	}
	trigger := ""
	if s.everStarted {
		s.restarts++
		t := s.trigger
		switch {
		case t != "":
		case r.Kind == RReload:
			t = "reload"
		case r.Kind == RCommand:
			t = "command"
		default:
			t = config.TriggerCrash
		}
		s.lastTrigger = t
		if s.restartsBy == nil {
			s.restartsBy = map[string]int{}
		}
		s.restartsBy[t]++
		trigger = t
	}
	s.trigger = ""
	s.inst = instance{gen: e.newGen(), spawning: true, spawnedAt: e.now}
	s.after = afterNone
	e.transitionT(s, Starting, r, trigger)
	if s.spec().Type == config.TypeUnmanaged {
		e.emit(Action{Kind: ActAdopt, H: s.handle(), Spec: s.spec()})
		return
	}
	// Write-ahead: the state file names the instance before it exists, so
	// an hsu that dies mid-spawn is followed by one that cleans it up.
	e.emit(Action{Kind: ActPersist})
	e.emit(Action{Kind: ActSpawn, H: s.handle(), Spec: s.spec()})
}

// spawned: the process exists.
func (s *slot) spawned(e *Engine, pid int) {
	if !s.inst.spawning {
		return
	}
	s.inst.spawning, s.inst.alive, s.inst.pid = false, true, pid
	s.inst.spawnedAt = e.now
	s.everStarted = true
	e.dirty = true // condition started may now hold
	e.emit(Action{Kind: ActPersist})
	if s.after != afterNone {
		// A stop or restart arrived while the spawn was in flight.
		s.signalStop(e)
		return
	}
	s.running(e)
}

// running arms what a live instance needs: the start grace timer, probes
// and resource sampling.
func (s *slot) running(e *Engine) {
	spec := s.spec()
	if d := spec.Restart.StartSeconds.D(); d > 0 && !s.inst.pastStart {
		s.arm(e, TimerStartGrace, d)
	} else {
		s.inst.pastStart = true
	}
	if s.w.probes[ProbeStartup] != nil && !s.inst.probes[ProbeStartup].passed {
		s.armProbe(e, ProbeStartup, s.w.probes[ProbeStartup].InitialDelay.D())
	} else {
		s.armMainProbes(e)
	}
	// Every instance is sampled, limits or not: status and metrics show
	// its usage.
	s.wantSample(e)
	s.maybeRunning(e)
}

func (s *slot) armMainProbes(e *Engine) {
	for _, k := range [2]ProbeKind{ProbeReadiness, ProbeLiveness} {
		if p := s.w.probes[k]; p != nil {
			s.armProbe(e, k, p.InitialDelay.D())
		}
	}
}

func (s *slot) armProbe(e *Engine, k ProbeKind, d time.Duration) {
	s.arm(e, TimerProbe+TimerKind(k), d)
}

// gatesReady reports whether the worker's readiness is gated (a readiness
// probe, or notify's READY=1): without a gate, running is as ready as it
// gets (the healthy condition then means running past start_seconds).
func (w *worker) gatesReady() bool {
	return w.probes[ProbeReadiness] != nil || w.spec.Notify
}

// readyNow: every readiness gate of the instance is open.
func (s *slot) readyNow() bool {
	if !s.w.gatesReady() {
		return false
	}
	if s.w.probes[ProbeReadiness] != nil && !s.inst.probes[ProbeReadiness].passed {
		return false
	}
	return !s.w.spec.Notify || s.inst.notifyReady
}

// notified handles what a notify worker sent.
func (s *slot) notified(e *Engine, n Notification) {
	if n.HasStatus && n.Status != s.inst.status {
		s.inst.status = n.Status
	}
	wd := s.spec().Watchdog.D()
	if n.Ready && !s.inst.notifyReady {
		s.inst.notifyReady = true
		if s.state == Running && s.readyNow() {
			e.transition(s, Ready, Reason{Kind: RNotifyReady})
		}
	}
	if wd > 0 && (n.Watchdog || n.Ready) && s.state != Stopping {
		s.arm(e, TimerWatchdog, wd)
	}
}

// maybeRunning moves a starting instance to running once it is past
// start_seconds and its startup probe (if any) passed, and on to ready if
// its readiness probe already passes.
func (s *slot) maybeRunning(e *Engine) {
	if s.state != Starting || !s.inst.alive || !s.inst.pastStart {
		return
	}
	if s.w.probes[ProbeStartup] != nil && !s.inst.probes[ProbeStartup].passed {
		return
	}
	e.transition(s, Running, Reason{Kind: RStarted})
	if s.readyNow() {
		r := Reason{Kind: RReadinessPassed}
		if s.w.probes[ProbeReadiness] == nil {
			r = Reason{Kind: RNotifyReady}
		}
		e.transition(s, Ready, r)
	}
}

func (s *slot) spawnFailed(e *Engine, errno string) {
	if !s.inst.spawning {
		return
	}
	s.inst.spawning = false
	s.lastExit = Reason{Kind: RSpawnFailed, Text: errno}
	e.emit(Action{Kind: ActPersist}) // no longer in flight
	if s.after == afterStop {
		e.transition(s, Stopped, s.afterReason)
		return
	}
	if permanentErrno(errno) {
		e.transition(s, Failed, Reason{Kind: RSpawnImpossible, Text: errno})
		return
	}
	s.restartAfter(e, config.TriggerCrash, Reason{Kind: RSpawnFailed, Text: errno}, true)
}

// permanentErrno reports spawn errors that retrying cannot fix.
func permanentErrno(errno string) bool {
	switch errno {
	case "ENOENT", "EACCES", "ENOEXEC", "ENOTDIR", "EISDIR", "ELOOP", "ENAMETOOLONG", "EPERM", "EINVAL":
		return true
	}
	return false
}

// exited handles the end of the current instance.
func (s *slot) exited(e *Engine, ev Event) {
	s.inst.alive = false
	uptime := e.now - s.inst.spawnedAt
	for k := TimerKind(0); k < numTimers; k++ {
		if k != TimerBackoff {
			s.disarm(e, k)
		}
	}
	e.emit(Action{Kind: ActPersist})
	resourceKilled := s.inst.resourceKill.Kind != RNone
	r := Reason{Kind: RExited, Code: ev.Code}
	switch {
	case ev.OOM || s.inst.childOOM:
		// The kernel's own kill wins over hsu's: where it enforces the
		// limit it acted first, whatever hsu's sample decided after.
		r = Reason{Kind: ROOM, Signal: ev.Signal, Code: ev.Code}
	case resourceKilled:
		k := s.inst.resourceKill
		r = Reason{Kind: RResourceKilled, Text: k.Text, N: k.N, Limit: k.Limit, Trigger: k.Trigger, Signal: ev.Signal, Code: ev.Code}
	case ev.Signal != "":
		r = Reason{Kind: RSignalled, Signal: ev.Signal}
	}
	r.FailedStart = !s.inst.pastStart && s.spec().Restart.StartSeconds > 0 && s.after == afterNone
	s.lastExit = r
	s.lastExitAt, s.exitSeen = e.now, true
	if ev.OOM && !s.inst.childOOM { // a sample counted the kernel's kill already
		s.oomKills++
	}
	oom := ev.OOM || s.inst.childOOM
	s.lastSuccess = !oom && !resourceKilled && ev.Signal == "" && contains(s.spec().Restart.SuccessExitCodes, ev.Code)
	if rs := s.spec().Restart.ResetAfter.D(); rs > 0 && uptime >= rs {
		s.consecutive = 0
	}
	switch s.after {
	case afterStop:
		e.transition(s, Stopped, s.afterReason)
		return
	case afterRestart:
		s.launch(e, s.afterReason)
		return
	case afterHealth:
		s.restartAfter(e, config.TriggerHealth, s.afterReason, false)
		return
	case afterResource:
		s.restartAfter(e, config.TriggerResource, s.afterReason, false)
		return
	}
	trigger := config.TriggerCrash
	if oom || resourceKilled {
		trigger = config.TriggerResource
	}
	switch s.spec().Restart.Policy {
	case config.PolicyNever:
		e.transition(s, Exited, r)
	case config.PolicyOnFailure:
		if s.lastSuccess {
			e.transition(s, Exited, r)
			return
		}
		s.restartAfter(e, trigger, r, false)
	default: // always, unless-stopped
		s.restartAfter(e, trigger, r, false)
	}
}

func contains(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// restartAfter applies the restart budget and back-off of trigger: the
// replica fails when the budget is spent, else it waits in backoff (or
// restarts at once with a zero delay).
func (s *slot) restartAfter(e *Engine, trigger string, why Reason, spawnError bool) {
	eff := s.spec().Restart.ForTrigger(trigger)
	h := &s.history[triggerIndex(s.spec(), trigger)]
	if eff.MaxRestarts > 0 {
		if n := h.countSince(e.now - eff.Window.D()); n >= eff.MaxRestarts {
			r := because(RBudget, why)
			r.N, r.D, r.Trigger = int64(n), eff.Window.D(), trigger
			e.transition(s, Failed, r)
			return
		}
		h.add(e.now, eff.MaxRestarts)
	}
	d := s.backoffDelay(e, eff.Backoff)
	s.consecutive++
	s.trigger = trigger
	if d <= 0 {
		s.launch(e, why)
		return
	}
	r := because(RBackoff, why)
	r.D, r.N, r.Trigger = d, int64(s.consecutive), trigger
	e.transition(s, Backoff, r)
	s.nextRestart = e.now + d
	s.arm(e, TimerBackoff, d)
}

// triggerIndex picks the budget a trigger counts against: its own when it
// overrides max_restarts, else the shared one (index 0).
func triggerIndex(spec *config.Worker, trigger string) int {
	switch {
	case trigger == config.TriggerHealth && spec.Restart.On.Health != nil && spec.Restart.On.Health.MaxRestarts != nil:
		return 1
	case trigger == config.TriggerResource && spec.Restart.On.Resource != nil && spec.Restart.On.Resource.MaxRestarts != nil:
		return 2
	}
	return 0
}

// backoffDelay is initial × multiplier^consecutive, capped at max, with
// jitter drawn from the engine's seeded source.
func (s *slot) backoffDelay(e *Engine, b config.Backoff) time.Duration {
	d := float64(b.Initial.D())
	maxD := float64(b.Max.D())
	for i := 0; i < s.consecutive && d < maxD; i++ {
		d *= b.Multiplier
	}
	if d > maxD {
		d = maxD
	}
	if b.Jitter > 0 && d > 0 {
		d *= 1 + b.Jitter*(2*e.rnd.Float64()-1)
	}
	return time.Duration(d)
}

// MinBackoff is the smallest delay the engine may choose before restart
// number n (1-based) of a run of consecutive restarts: the lower bound the
// invariant checker holds it to.
func MinBackoff(b config.Backoff, n int) time.Duration {
	d := float64(b.Initial.D())
	for i := 1; i < n && d < float64(b.Max.D()); i++ {
		d *= b.Multiplier
	}
	d = min(d, float64(b.Max.D()))
	return time.Duration(d * (1 - b.Jitter))
}

// stop ends the replica's instance and decides what follows (mode). It is
// idempotent, and a later mode replaces an earlier one while the stop is
// in progress.
func (s *slot) stop(e *Engine, mode after, r Reason) {
	if e.shutdown && (mode == afterHealth || mode == afterResource) {
		return // shutting down: the shutdown order decides who stops when
	}
	switch {
	case s.inst.cleaning:
		s.setAfter(e, mode, r)
	case s.inst.alive || s.inst.spawning:
		if s.after != afterNone && s.state == Stopping {
			s.setAfter(e, mode, r)
			return
		}
		s.after, s.afterReason = mode, r
		if s.inst.spawning {
			if s.state != Stopping {
				e.transition(s, Stopping, r)
			}
			return // signalled as soon as the spawn completes
		}
		s.signalStop(e)
	default:
		s.disarmAll(e)
		switch mode {
		case afterRestart:
			s.launch(e, r)
		case afterStop:
			if s.state != Stopped {
				e.transition(s, Stopped, r)
			}
		}
	}
}

// setAfter changes what follows a stop already in progress. A stop
// (command, shutdown, scale-down) beats everything except a later restart
// command for a replica that is still wanted; a restart beats an automatic
// restart; an automatic (health, resource) restart changes nothing that was
// asked for.
func (s *slot) setAfter(e *Engine, mode after, r Reason) {
	switch mode {
	case afterStop:
	case afterRestart:
		if s.after == afterStop && (e.shutdown || s.idx > s.w.desired || s.w.removed) {
			return
		}
	default:
		if s.after != afterNone {
			return
		}
	}
	s.after, s.afterReason = mode, r
}

// signalStop sends the stop signal (or runs the stop command) and arms the
// stop timeout.
func (s *slot) signalStop(e *Engine) {
	for k := TimerKind(0); k < numTimers; k++ {
		if k != TimerStopTimeout {
			s.disarm(e, k)
		}
	}
	if s.state != Stopping {
		e.transition(s, Stopping, s.afterReason)
	}
	spec := s.spec()
	if len(spec.Stop.Command) > 0 && spec.Type != config.TypeUnmanaged {
		e.emit(Action{Kind: ActStopCommand, H: s.handle(), PID: s.inst.pid, Spec: spec})
	} else {
		e.emit(Action{Kind: ActSignal, H: s.handle(), PID: s.inst.pid, Signal: string(spec.Stop.Signal)})
	}
	s.arm(e, TimerStopTimeout, spec.Stop.Timeout.D())
}

// kill sends SIGKILL to the instance's whole group (and cgroup).
func (s *slot) kill(e *Engine) {
	if s.inst.killed || !s.inst.alive {
		return
	}
	s.inst.killed = true
	e.emit(Action{Kind: ActKill, H: s.handle(), PID: s.inst.pid})
}

func (s *slot) timer(e *Engine, kind TimerKind) {
	switch kind {
	case TimerBackoff:
		if s.state == Backoff {
			s.launch(e, Reason{Kind: RBackoffDone})
		}
	case TimerStopTimeout:
		if s.inst.alive && s.state == Stopping {
			e.emit(Action{Kind: ActNotice, H: s.handle(), Reason: Reason{Kind: RStopTimeout}})
			s.kill(e)
		}
	case TimerStartGrace:
		if s.inst.alive {
			s.inst.pastStart = true
			s.maybeRunning(e)
		}
	case TimerWatchdog:
		if s.inst.alive && s.state != Stopping && s.state != Unknown {
			s.stop(e, afterHealth, Reason{Kind: RWatchdogMissed, Text: s.spec().Watchdog.D().String()})
		}
	default:
		k := ProbeKind(kind - TimerProbe)
		if s.inst.alive && s.state != Stopping && s.state != Unknown && !s.inst.probes[k].inflight {
			s.inst.probes[k].inflight = true
			s.inst.probes[k].startedAt = e.now
			e.emit(Action{Kind: ActProbe, H: s.handle(), PID: s.inst.pid, Probe: k, Spec: s.spec()})
		}
	}
}

// Probe returns the effective probe of a worker (integrated workers get a
// gRPC readiness probe by default), for drivers running ActProbe.
func (e *Engine) Probe(worker string, k ProbeKind) *config.Probe {
	if w := e.workers[worker]; w != nil && k < numProbes {
		return w.probes[k]
	}
	return nil
}

func (s *slot) probeResult(e *Engine, k ProbeKind, ok bool, errText string) {
	ps := &s.inst.probes[k]
	if !ps.inflight || k >= numProbes {
		return
	}
	ps.inflight = false
	ps.ran, ps.ok, ps.err, ps.at, ps.dur = true, ok, errText, e.now, e.now-ps.startedAt
	p := s.w.probes[k]
	if p == nil || !s.inst.alive || s.state == Stopping {
		return
	}
	if ok {
		ps.succ++
		ps.fail = 0
	} else {
		ps.fail++
		ps.succ = 0
	}
	next := max(ps.startedAt+p.Period.D()-e.now, 0)
	switch k {
	case ProbeStartup:
		if ok && ps.succ >= p.SuccessThreshold {
			ps.passed = true
			s.armMainProbes(e)
			s.maybeRunning(e)
			return // the startup probe is done for this instance
		}
		if !ok && ps.fail >= p.FailureThreshold {
			s.stop(e, afterHealth, Reason{Kind: RStartupFailed, N: int64(ps.fail)})
			return
		}
	case ProbeReadiness:
		if ok && ps.succ >= p.SuccessThreshold && !ps.passed {
			ps.passed = true
			if s.state == Running && s.readyNow() {
				e.transition(s, Ready, Reason{Kind: RReadinessPassed})
			}
		}
		if !ok && ps.fail >= p.FailureThreshold && ps.passed {
			ps.passed = false
			if s.state == Ready {
				e.transition(s, Running, Reason{Kind: RReadinessFailed})
			}
		}
	case ProbeLiveness:
		if !ok && ps.fail >= p.FailureThreshold {
			s.stop(e, afterHealth, Reason{Kind: RLivenessFailed, N: int64(ps.fail)})
			return
		}
	}
	s.armProbe(e, k, next)
}

// recover takes over an instance left running by a previous hsu.
func (s *slot) recover(e *Engine, r Recovered) {
	s.inst = instance{gen: r.H.Gen, pid: r.PID, alive: true, pastStart: true, baseline: true}
	// It was up before hsu died: its startup probe passed then.
	s.inst.probes[ProbeStartup].passed = true
	s.everStarted = true
	// A stop command acknowledged before hsu died still holds: the
	// instance is stopped, not restarted, whatever it did meanwhile.
	s.userStopped = r.UserStopped
	e.transition(s, Unknown, Reason{Kind: RRecovered})
	e.emit(Action{Kind: ActVerify, H: s.handle(), PID: r.PID})
}

// verified: the recovered process is (or is not) still ours.
func (s *slot) verified(e *Engine, ok bool) {
	if ok {
		// Its notify socket died with the previous hsu: it cannot say
		// READY=1 again, so it is taken as having said it.
		s.inst.notifyReady = true
		e.transition(s, Running, Reason{Kind: RVerified})
		s.inst.spawnedAt = e.now
		s.running(e)
		if s.userStopped {
			s.stop(e, afterStop, Reason{Kind: RCommand, Text: CmdStop.String()})
		}
		return
	}
	// It died while hsu was down; its exit status is lost. Kill whatever
	// is left of it by handle (its PID may belong to someone else now),
	// then let the restart policy decide as for a crash (or, stopped by a
	// command, stay stopped).
	s.inst.alive = false
	s.lastExit = Reason{Kind: RVerifyFailed}
	then := afterNone
	if s.userStopped {
		then = afterStop
	}
	s.cleanup(e, s.inst.gen, then, Reason{Kind: RVerifyFailed})
}

// cleanup kills every process left of instance gen by its handle and
// waits for that to complete; then comes what (afterRestart: pending for
// a fresh start; afterNone: the restart policy, as after a crash).
func (s *slot) cleanup(e *Engine, gen uint64, what after, r Reason) {
	s.inst = instance{gen: gen, cleaning: true}
	s.after, s.afterReason = what, r
	if s.state != Unknown {
		e.transition(s, Unknown, r)
	}
	e.emit(Action{Kind: ActPersist})
	e.emit(Action{Kind: ActKill, H: s.handle()})
}

// cleaned: the cleanup kill completed.
func (s *slot) cleaned(e *Engine) {
	s.inst.cleaning = false
	e.emit(Action{Kind: ActPersist})
	what := s.after
	s.after = afterNone
	switch {
	case what == afterRestart:
		s.toPending(e, s.afterReason)
	case what == afterStop:
		e.transition(s, Stopped, s.afterReason)
	case s.spec().Restart.Policy == config.PolicyNever:
		e.transition(s, Exited, Reason{Kind: RVerifyFailed})
	default:
		s.restartAfter(e, config.TriggerCrash, Reason{Kind: RVerifyFailed}, false)
	}
}

// adopted: an unmanaged process was (or was not) found.
func (s *slot) adopted(e *Engine, ev Event) {
	if !s.inst.spawning {
		return
	}
	if !ev.OK {
		s.inst.spawning = false
		e.emit(Action{Kind: ActPersist})
		if s.after == afterStop {
			e.transition(s, Stopped, s.afterReason)
			return
		}
		s.restartAfter(e, config.TriggerCrash, Reason{Kind: RAdoptFailed, Text: ev.Err}, false)
		return
	}
	e.emit(Action{Kind: ActNotice, H: s.handle(), Reason: Reason{Kind: RAdopted, N: int64(ev.PID)}})
	s.spawned(e, ev.PID)
}
