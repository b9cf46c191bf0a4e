package engine

import (
	"sort"
	"strconv"
	"time"

	"github.com/hsu-run/hsu/config"
)

// Rand is the engine's only source of randomness (back-off jitter). The
// driver injects it seeded, so the simulator replays exactly.
type Rand interface {
	Float64() float64
}

// Engine is the supervisor state machine. It is not safe for concurrent
// use: one goroutine (the driver) steps it.
type Engine struct {
	cfg     *config.Config
	workers map[string]*worker
	order   []*worker // config order; reload appends
	// dependents: worker name -> the workers that depend on it
	// (dependentsOf; nil until asked again after a change).
	dependents map[string][]*worker
	rnd        Rand
	now        time.Duration
	out        []Action
	nextGen    uint64
	nextTimer  uint64
	started    bool
	shutdown   bool
	exitSent   bool
	// pending counts replicas in Pending, so settle skips the dependency
	// scan on the hot path when nothing waits.
	pending int
	dirty   bool // a transition happened this step
	rolling int  // workers with a rolling reload in progress
	// surplus: some worker has slots above its desired count (scale-down,
	// removal) for trim to drop once they stop.
	surplus bool
	// ticks are the sampling ticks, one per monitor_interval in use;
	// sampleBuf is the targets of the last ActSample (reused).
	ticks     []sampleTick
	sampleBuf []SampleTarget
	// Bugs records illegal transitions; the tests require it to stay empty.
	Bugs []string
}

// worker is one configured worker and its replicas.
type worker struct {
	name   string
	spec   *config.Worker
	probes [numProbes]*config.Probe
	deps   []string // dependency names, sorted
	slots  []*slot  // slots[i] is replica i+1; may be longer than desired while scaling down
	// desired is the replica count wanted now (spec.Replicas, or scale).
	desired int
	// removed: dropped by a reload; it goes once its replicas have stopped.
	removed bool
	// roll is a rolling reload in progress: the replicas still to replace,
	// in order; rollCur is the one being replaced, rollGen the generation
	// it had (its next one must be ready before the next goes).
	roll    []int
	rollCur int
	rollGen uint64
}

// New creates an engine for cfg. Nothing happens until the first event,
// which must be EvStart.
func New(cfg *config.Config, rnd Rand) *Engine {
	e := &Engine{cfg: cfg, workers: map[string]*worker{}, rnd: rnd, nextGen: 1, nextTimer: 1, out: make([]Action, 0, 64)}
	for _, name := range cfg.Order {
		e.addWorker(name, cfg.Workers[name])
	}
	return e
}

func (e *Engine) addWorker(name string, spec *config.Worker) *worker {
	w := &worker{name: name}
	e.setSpec(w, spec)
	w.desired = spec.Replicas
	for i := 1; i <= w.desired; i++ {
		w.slots = append(w.slots, newSlot(w, i))
	}
	e.workers[name] = w
	e.order = append(e.order, w)
	e.dependents = nil
	return w
}

func (e *Engine) setSpec(w *worker, spec *config.Worker) {
	w.spec = spec
	e.dependents = nil // dependentsOf rebuilds it
	w.deps = w.deps[:0]
	for name := range spec.DependsOn { // order-free: sorted below
		w.deps = append(w.deps, name)
	}
	sort.Strings(w.deps)
	w.probes = [numProbes]*config.Probe{spec.Health.Startup, spec.Health.Readiness, spec.Health.Liveness}
	if spec.Type == config.TypeIntegrated && w.probes[ProbeReadiness] == nil {
		// Integrated workers speak gRPC health on the socket hsu hands them.
		w.probes[ProbeReadiness] = &config.Probe{GRPC: &config.GRPCProbe{}, Period: config.Duration(10 * time.Second),
			Timeout: config.Duration(time.Second), SuccessThreshold: 1, FailureThreshold: 3}
	}
}

// Now is the time of the last event.
func (e *Engine) Now() time.Duration { return e.now }

// Step applies one event and returns the actions it causes. The returned
// slice is reused by the next Step.
func (e *Engine) Step(ev Event) []Action {
	if cap(e.out) > 256 && len(e.out) < 64 {
		e.out = nil // a burst's buffer (a cold start of many workers) is not kept
	}
	e.out = e.out[:0]
	if ev.At > e.now {
		e.now = ev.At
	}
	switch ev.Kind {
	case EvStart:
		e.start(ev.Saved)
	case EvSpawned:
		if s := e.current(ev.H); s != nil {
			s.spawned(e, ev.PID)
		} else if ev.PID > 0 {
			// A spawn for an instance we no longer want (cannot happen
			// unless the driver is confused): never leak the process.
			e.emit(Action{Kind: ActKill, H: ev.H, PID: ev.PID})
		}
	case EvSpawnFailed:
		if s := e.current(ev.H); s != nil {
			s.spawnFailed(e, ev.Err)
		}
	case EvExited:
		if s := e.current(ev.H); s != nil && s.inst.alive {
			s.exited(e, ev)
		}
	case EvTimer:
		if ev.Timer.Kind == TimerSample && ev.Timer.H.Worker == "" {
			e.sampleTimer(ev.Timer.ID)
		} else if s := e.slotOf(ev.Timer.H); s != nil && s.timers[ev.Timer.Kind] == ev.Timer.ID {
			s.timers[ev.Timer.Kind] = 0
			s.timer(e, ev.Timer.Kind)
		}
	case EvProbe:
		if s := e.current(ev.H); s != nil {
			s.probeResult(e, ev.Probe, ev.OK, ev.Err)
		}
	case EvSample:
		if s := e.current(ev.H); s != nil && s.inst.alive {
			s.sample(e, ev.Usage)
		}
	case EvLogReady:
		if s := e.current(ev.H); s != nil && s.inst.alive && !s.inst.logReady {
			s.inst.logReady = true
			e.dirty = true
		}
	case EvVerified:
		if s := e.current(ev.H); s != nil && s.state == Unknown {
			s.verified(e, ev.OK)
		}
	case EvAdopted:
		if s := e.current(ev.H); s != nil {
			s.adopted(e, ev)
		}
	case EvDone:
		if s := e.current(ev.H); s != nil && ev.Done == ActKill && s.inst.cleaning {
			s.cleaned(e)
		}
		if ev.Err != "" && ev.Done != ActSample { // a sample fails as its instance exits: no news
			e.emit(Action{Kind: ActNotice, H: ev.H, Reason: Reason{Kind: RActionFailed, Text: ev.Done.String() + " failed: " + ev.Err}})
		}
		if s := e.current(ev.H); s != nil && ev.Done == ActSample {
			s.sampleFailed(e) // no EvSample follows: sample again later
		}
	case EvCommand:
		e.command(ev.Cmd)
	case EvNotify:
		if s := e.current(ev.H); s != nil && s.inst.alive {
			s.notified(e, ev.Notify)
		}
	case EvReload:
		if e.shutdown {
			// Stopping everything: a reload would start what is being stopped.
			e.emit(Action{Kind: ActNotice, Reason: Reason{Kind: RIgnored, Text: "reload ignored: shutting down"}})
			break
		}
		e.reload(ev.Config)
	}
	e.settle()
	return e.out
}

// current returns the slot whose current instance is h, or nil when h is
// stale (an older generation, a removed worker or replica).
func (e *Engine) current(h Handle) *slot {
	s := e.slotOf(h)
	if s == nil || s.inst.gen != h.Gen || h.Gen == 0 {
		return nil
	}
	return s
}

func (e *Engine) slotOf(h Handle) *slot {
	w := e.workers[h.Worker]
	if w == nil || h.Replica < 1 || h.Replica > len(w.slots) {
		return nil
	}
	return w.slots[h.Replica-1]
}

func (e *Engine) emit(a Action) { e.out = append(e.out, a) }

func (e *Engine) newGen() uint64 {
	g := e.nextGen
	e.nextGen++
	return g
}

// start begins supervision. With a state file from a previous hsu,
// recorded instances are verified and adopted (never duplicated), spawns
// that were in flight are cleaned up by handle first, and replicas that
// were down stay down; every other replica waits for its dependencies.
func (e *Engine) start(sv *Saved) {
	if e.started {
		return
	}
	e.started = true
	taken := map[*slot]bool{}
	if sv != nil {
		e.nextGen = max(e.nextGen, sv.NextGen)
		for _, r := range sv.Instances {
			e.nextGen = max(e.nextGen, r.H.Gen+1)
		}
		for _, w := range e.order {
			// A scale survives hsu restarts. Nothing runs yet, so this only
			// resizes; surplus slots are dropped by trim.
			if sc, ok := sv.Replicas[w.name]; ok && sc.Base == w.spec.Replicas && sc.N != w.desired {
				n := sc.N
				w.desired = n
				e.surplus = e.surplus || len(w.slots) > n
				for i := len(w.slots); i < n; i++ {
					w.slots = append(w.slots, newSlot(w, i+1))
				}
				e.dirty = true
			}
		}
		for _, r := range sv.Instances {
			w := e.workers[r.H.Worker]
			var s *slot
			if w != nil {
				// A replica above the desired count still gets its slot, so
				// its cleanup counts against capacity until it is done.
				for len(w.slots) < r.H.Replica {
					w.slots = append(w.slots, newSlot(w, len(w.slots)+1))
					e.surplus = true
				}
				s = w.slots[r.H.Replica-1]
			}
			if s != nil && taken[s] {
				continue
			}
			wanted := s != nil && r.H.Replica <= w.desired
			switch {
			case s == nil:
				// The worker is gone from the config: kill what is left of it
				// by handle (never by a PID that may have been reused).
				if r.PID != 0 || r.State == Starting {
					e.emit(Action{Kind: ActKill, H: r.H})
				}
			case w.spec.Type == config.TypeUnmanaged:
				// Not ours to kill: adopt it again if it is still wanted.
				if wanted && r.PID != 0 {
					taken[s] = true
					s.recover(e, r)
				}
			case r.PID == 0 && r.State == Starting:
				// A spawn was in flight when hsu died: its process may run
				// without a recorded PID. Kill by handle (cgroup), then
				// start afresh.
				taken[s] = true
				then := afterRestart
				if !wanted {
					then = afterStop
				}
				s.cleanup(e, r.H.Gen, then, Reason{Kind: RRecovered})
			case r.PID == 0:
				if wanted && (r.State == Stopped || r.State == Exited || r.State == Failed) {
					taken[s] = true
					s.userStopped = r.UserStopped
					s.everStarted = r.Started
					s.lastSuccess = r.Success
					e.transition(s, r.State, Reason{Kind: RRecovered})
				}
			case !wanted:
				taken[s] = true
				s.cleanup(e, r.H.Gen, afterStop, Reason{Kind: RRemoved})
			default:
				taken[s] = true
				s.recover(e, r)
			}
		}
	}
	for _, w := range e.order {
		for _, s := range w.slots[:min(w.desired, len(w.slots))] {
			if !taken[s] && s.state == Stopped {
				s.toPending(e, Reason{Kind: RDefined})
			}
		}
	}
}

// settle runs after every event: it starts replicas whose dependencies are
// now met, advances a shutdown, and drops replicas removed by scale-down.
func (e *Engine) settle() {
	for e.dirty {
		e.dirty = false
		if e.pending > 0 && !e.shutdown {
			e.startPending()
		}
		if e.shutdown {
			e.advanceShutdown()
		}
		if e.surplus {
			e.trim()
		}
		if e.rolling > 0 && !e.shutdown {
			e.advanceRollouts()
		}
	}
}

// advanceRollouts moves every rolling reload on: the next replica is
// replaced once the one before is ready again, or the rollout stops at a
// failure (the replicas not replaced yet keep their instances).
func (e *Engine) advanceRollouts() {
	for _, w := range e.order {
		if w.rollCur == 0 {
			continue
		}
		if w.rollCur > len(w.slots) || w.removed {
			e.endRollout(w)
			continue
		}
		s := w.slots[w.rollCur-1]
		if s.inst.gen <= w.rollGen && s.state.Live() || s.inst.spawning {
			continue // not replaced yet
		}
		switch {
		case s.state == Ready || s.state == Running && !w.gatesReady():
		case s.state == Failed || s.state == Backoff || s.state == Exited:
			e.emit(Action{Kind: ActNotice, H: s.handle(), Reason: Reason{Kind: RRolloutStopped,
				Text: w.name + "-" + strconv.Itoa(s.idx) + " is " + s.state.String() + " (" + s.reason.String() + ")"}})
			e.endRollout(w)
			continue
		default:
			continue // starting: wait
		}
		e.nextRollout(w)
	}
}

// nextRollout replaces the next replica still live with the old spec.
func (e *Engine) nextRollout(w *worker) {
	for len(w.roll) > 0 {
		idx := w.roll[0]
		w.roll = w.roll[1:]
		if idx > min(w.desired, len(w.slots)) {
			continue
		}
		s := w.slots[idx-1]
		if !s.state.Live() && !s.inst.spawning {
			continue
		}
		w.rollCur, w.rollGen = idx, s.inst.gen
		s.stop(e, afterRestart, Reason{Kind: RReload})
		return
	}
	e.endRollout(w)
}

func (e *Engine) endRollout(w *worker) {
	if w.rollCur != 0 {
		e.rolling--
	}
	w.roll, w.rollCur, w.rollGen = nil, 0, 0
}

// startPending spawns each pending replica whose dependencies are met.
func (e *Engine) startPending() {
	for _, w := range e.order {
		for _, s := range w.slots {
			if s.state != Pending {
				continue
			}
			if dep, cond, ok := e.depsMet(w); ok {
				if !e.hasCapacity(w) {
					continue // a surplus replica is still stopping
				}
				s.launch(e, Reason{Kind: RDepsMet})
			} else if s.reason.Kind != RWaitingDep || s.reason.Text != dep || s.reason.Trigger != cond {
				// Show what it waits for; the state stays pending.
				s.reason = Reason{Kind: RWaitingDep, Text: dep, Trigger: cond}
				e.emit(Action{Kind: ActNotice, H: s.handle(), Reason: s.reason})
			}
		}
	}
}

// hasCapacity reports whether one more instance of w may start without
// exceeding its desired replica count (surplus replicas that are still
// stopping count).
func (e *Engine) hasCapacity(w *worker) bool {
	n := 0
	for _, s := range w.slots {
		if s.inst.alive || s.inst.spawning || s.inst.cleaning {
			n++
		}
	}
	return n < w.desired
}

// depsMet reports whether every dependency of w meets its condition, or
// names the first one that does not.
func (e *Engine) depsMet(w *worker) (string, string, bool) {
	for _, name := range w.deps {
		cond := w.spec.DependsOn[name].Condition
		d := e.workers[name]
		if d == nil || d.removed {
			continue // removed by a reload: nothing left to wait for
		}
		if !e.condition(d, cond) {
			return name, cond, false
		}
	}
	return "", "", true
}

// condition evaluates a dependency condition over all replicas of d.
func (e *Engine) condition(d *worker, cond string) bool {
	for i := 0; i < d.desired && i < len(d.slots); i++ {
		s := d.slots[i]
		ok := false
		switch cond {
		case config.CondStarted:
			ok = s.everStarted
		case config.CondHealthy:
			ok = s.state == Ready || (s.state == Running && !d.gatesReady())
		case config.CondCompleted:
			ok = s.state == Exited
		case config.CondCompletedSuccessfully:
			ok = s.state == Exited && s.lastSuccess
		case config.CondLogReady:
			ok = s.inst.alive && s.inst.logReady
		}
		if !ok {
			return false
		}
	}
	return true
}

// advanceShutdown stops each worker once none of its dependents has a live
// replica, so dependencies stop after the workers that need them.
func (e *Engine) advanceShutdown() {
	all := true
	for _, w := range e.order {
		if e.hasLive(w) || (len(w.slots) > 0 && !e.allFinal(w)) {
			all = false
		}
		if e.dependentsLive(w) {
			continue
		}
		for _, s := range w.slots {
			if s.state.Live() || s.inst.spawning || s.state == Pending || s.state == Backoff {
				s.stop(e, afterStop, Reason{Kind: RShutdown})
			}
		}
	}
	if all && !e.exitSent {
		e.exitSent = true
		e.emit(Action{Kind: ActExit})
	}
}

func (e *Engine) hasLive(w *worker) bool {
	for _, s := range w.slots {
		if s.state.Live() || s.inst.alive {
			return true
		}
	}
	return false
}

func (e *Engine) allFinal(w *worker) bool {
	for _, s := range w.slots {
		if s.state != Stopped && s.state != Exited && s.state != Failed {
			return false
		}
	}
	return true
}

// dependentsLive reports whether any worker depending on w still runs.
func (e *Engine) dependentsLive(w *worker) bool {
	for _, o := range e.dependentsOf(w) {
		if e.hasLive(o) {
			return true
		}
	}
	return false
}

// dependentsOf lists the workers that depend on w, in definition order.
// The index is rebuilt after any change to the workers or their specs:
// a shutdown asks it of every worker after every event, and scanning
// every worker's dependencies each time made stopping 1000 workers
// quadratic.
func (e *Engine) dependentsOf(w *worker) []*worker {
	if e.dependents == nil {
		e.dependents = map[string][]*worker{}
		for _, o := range e.order {
			for _, d := range o.deps {
				if d != o.name {
					e.dependents[d] = append(e.dependents[d], o)
				}
			}
		}
	}
	return e.dependents[w.name]
}

// trim drops stopped replicas above the desired count (scale down), and
// removed workers once they are fully stopped.
func (e *Engine) trim() {
	e.surplus = false
	for i := 0; i < len(e.order); i++ {
		w := e.order[i]
		for len(w.slots) > w.desired {
			last := w.slots[len(w.slots)-1]
			if last.state.Live() || last.inst.alive {
				break
			}
			last.disarmAll(e)
			if last.state == Pending {
				e.pending--
			}
			w.slots = w.slots[:len(w.slots)-1]
		}
		if w.removed && len(w.slots) == 0 {
			delete(e.workers, w.name)
			e.order = append(e.order[:i], e.order[i+1:]...)
			e.dependents = nil
			i--
			continue
		}
		if len(w.slots) > w.desired {
			e.surplus = true // still stopping
		}
	}
}

// transition changes a replica's state and reports it.
func (e *Engine) transition(s *slot, to State, r Reason) { e.transitionT(s, to, r, "") }

// transitionT is a transition that is a restart, with its trigger (for
// the event feed and metrics).
func (e *Engine) transitionT(s *slot, to State, r Reason, trigger string) {
	from := s.state
	if !legal[from][to] && !(from == to) {
		e.Bugs = append(e.Bugs, s.w.name+": illegal transition "+from.String()+" -> "+to.String()+" ("+r.String()+")")
	}
	if from == Pending {
		e.pending--
	}
	if to == Pending {
		e.pending++
	}
	s.state, s.reason, s.since = to, r, e.now
	e.dirty = true
	e.emit(Action{Kind: ActTransition, H: s.handle(), From: from, To: to, Reason: r, Trigger: trigger})
	if to == Stopped || to == Exited || to == Failed {
		e.emit(Action{Kind: ActPersist}) // these states survive an hsu restart
	}
}

// legal is the table of allowed state changes; anything else is recorded
// in Bugs.
var legal = func() [numStates][numStates]bool {
	var t [numStates][numStates]bool
	allow := func(from State, to ...State) {
		for _, x := range to {
			t[from][x] = true
		}
	}
	allow(Pending, Pending, Starting, Stopped)
	// → pending from a live state: an immediate restart waiting for a
	// surplus replica to stop.
	allow(Starting, Running, Stopping, Backoff, Exited, Failed, Stopped, Starting, Pending)
	allow(Running, Ready, Stopping, Backoff, Exited, Failed, Starting, Stopped, Pending)
	allow(Ready, Running, Stopping, Backoff, Exited, Failed, Starting, Stopped, Pending)
	allow(Stopping, Stopped, Starting, Backoff, Failed, Exited, Pending)
	allow(Stopped, Pending, Starting, Stopped, Exited, Failed, Unknown) // exited, failed, unknown: restored after an hsu restart
	allow(Backoff, Starting, Stopped, Failed, Pending)
	allow(Exited, Pending, Starting, Stopped)
	allow(Failed, Pending, Starting, Stopped)
	allow(Unknown, Running, Ready, Stopping, Backoff, Exited, Failed, Stopped, Starting, Pending)
	return t
}()

// Legal reports whether the engine may move a replica from one state to
// another (exported for the property tests).
func Legal(from, to State) bool { return from == to || legal[from][to] }
