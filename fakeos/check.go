package fakeos

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/engine"
	"github.com/hsu-run/hsu/scenario"
)

// Violation is a broken invariant or expectation.
type Violation struct {
	At   time.Duration
	Kind string // the invariant, or "expect"
	Msg  string
}

func (v Violation) String() string { return fmt.Sprintf("t=%s %s: %s", fmtTime(v.At), v.Kind, v.Msg) }

// latencySlack covers the fake OS's notification latencies.
const latencySlack = 10 * time.Millisecond

// killSlack is how late after the stop timeout SIGKILL may come.
const killSlack = time.Second

// checker holds the built-in invariants of DESIGN.md §4. It judges the
// engine by the fake OS's ground truth (which processes are alive), and
// by what the engine asked for, never by the engine's own beliefs.
type checker struct {
	w          *World
	violations []Violation
	checks     int
	desired    map[string]int
	// spawning: the spawns of the current batch not forked yet.
	spawning []engine.Handle
	reps     map[repKey]*repTrack
	lastCmd  map[string]time.Duration // last command or reload that concerns a worker
	ooms     map[string]int
	stops    map[engine.Handle]*stopTrack
	specs    map[string]*config.Worker // every worker ever configured, latest definition
	shutdown bool
	// shutdownCut: hsu died during a shutdown; the next hsu starts its
	// workers afresh as after a clean exit.
	shutdownCut bool
	crashAt     time.Duration
	crashed     bool
	unacked     []unackedCmd
}

type repKey struct {
	worker  string
	replica int
}

type repTrack struct {
	spawns      int
	halted      bool
	haltedAt    time.Duration
	hasExit     bool
	exitAt      time.Duration
	unrequested bool
	uptime      time.Duration
	success     bool // the last exit counted as success
	n           int  // consecutive automatic restarts (a lower bound of the engine's)
	spawnAt     time.Duration
	lastAlive   time.Duration
}

type stopTrack struct {
	stopping bool
	signalAt time.Duration
	signaled bool
	killed   bool
}

func newChecker(w *World) *checker {
	c := &checker{w: w, desired: map[string]int{}, reps: map[repKey]*repTrack{}, lastCmd: map[string]time.Duration{},
		ooms: map[string]int{}, stops: map[engine.Handle]*stopTrack{}, specs: map[string]*config.Worker{}}
	for name, spec := range w.cfg.Workers {
		c.specs[name] = spec
		c.desired[name] = spec.Replicas
		c.lastCmd[name] = -1
	}
	return c
}

func (c *checker) violate(kind, format string, args ...any) {
	v := Violation{At: c.w.now, Kind: kind, Msg: fmt.Sprintf(format, args...)}
	c.violations = append(c.violations, v)
	c.w.tr.violation(c.w.now, kind, v.Msg)
	c.w.timeline("VIOLATION %s: %s", kind, v.Msg)
}

func (c *checker) rep(worker string, replica int) *repTrack {
	k := repKey{worker, replica}
	r := c.reps[k]
	if r == nil {
		r = &repTrack{}
		c.reps[k] = r
	}
	return r
}

func (c *checker) stop(h engine.Handle) *stopTrack {
	s := c.stops[h]
	if s == nil {
		s = &stopTrack{}
		c.stops[h] = s
	}
	return s
}

// spec is the worker's definition, from the current config or, for a
// worker a reload removed, the last one that had it.
func (c *checker) spec(worker string) *config.Worker {
	if s := c.w.cfg.Workers[worker]; s != nil {
		return s
	}
	return c.specs[worker]
}

// forLive calls fn for each live process (grandchildren included) of one
// replica, or of every replica with replica 0, by replica then spawn order,
// so what it reports is deterministic.
func (c *checker) forLive(worker string, replica int, leadersOnly bool, fn func(*proc)) {
	from, to := replica, replica
	if replica == 0 {
		from, to = 1, c.w.maxRep[worker]
	}
	for i := from; i <= to; i++ {
		for _, p := range c.w.byRep[repKey{worker, i}] {
			if !leadersOnly || p.leader == nil {
				fn(p)
			}
		}
	}
}

// countLive counts live processes and returns the first one.
func (c *checker) countLive(worker string, replica int, leadersOnly bool) (n int, first *proc) {
	c.forLive(worker, replica, leadersOnly, func(p *proc) {
		if first == nil {
			first = p
		}
		n++
	})
	return n, first
}

// liveOf lists live processes.
func (c *checker) liveOf(worker string, replica int, leadersOnly bool) []*proc {
	var out []*proc
	c.forLive(worker, replica, leadersOnly, func(p *proc) { out = append(out, p) })
	return out
}

func (c *checker) command(cmd engine.Command) (undo func()) {
	desired := map[string]int{}
	lastCmd := map[string]time.Duration{}
	for k, v := range c.desired {
		desired[k] = v
	}
	for k, v := range c.lastCmd {
		lastCmd[k] = v
	}
	shutdown := c.shutdown
	undo = func() { c.desired, c.lastCmd, c.shutdown = desired, lastCmd, shutdown }
	now := c.w.now
	switch cmd.Verb {
	case engine.CmdShutdown:
		c.shutdown = true
		for name := range c.lastCmd {
			c.lastCmd[name] = now
		}
	default:
		c.lastCmd[cmd.Worker] = now
		if cmd.Verb == engine.CmdScale {
			c.desired[cmd.Worker] = cmd.N
		}
	}
	return undo
}

func (c *checker) reload(old, cfg *config.Config) {
	for name, spec := range cfg.Workers {
		c.specs[name] = spec
		if o := old.Workers[name]; o == nil || o.Replicas != spec.Replicas {
			c.desired[name] = spec.Replicas // an edited replicas key wins over a scale
		}
		c.lastCmd[name] = c.w.now
	}
	for name := range c.desired {
		if _, ok := cfg.Workers[name]; !ok {
			c.desired[name] = 0
			c.lastCmd[name] = c.w.now
		}
	}
}

// hsuRestart: a new hsu after a clean shutdown starts its workers afresh,
// as a start command would.
func (c *checker) hsuRestart(clean bool) {
	if !clean && !c.shutdownCut {
		return
	}
	c.shutdown, c.shutdownCut = false, false
	for name := range c.lastCmd {
		c.lastCmd[name] = c.w.now
	}
	if !clean {
		return // the state file, with any scale, survived
	}
	// A clean shutdown removes the state file, and scales with it: the
	// config's replica counts apply again.
	for name := range c.desired {
		c.desired[name] = 0
		if spec := c.w.cfg.Workers[name]; spec != nil {
			c.desired[name] = spec.Replicas
		}
	}
}

// unackedCmd is a command whose reply hsu holds (its record is not
// written yet).
type unackedCmd struct {
	cmd   engine.Command
	acked *bool
	prev  int // the worker's desired replicas before it
}

// forgetUnacked: hsu died with these commands unacknowledged, so each may
// or may not have taken effect; the checker then allows both.
func (c *checker) forgetUnacked() {
	for _, u := range c.unacked {
		if *u.acked {
			continue
		}
		if u.cmd.Verb == engine.CmdShutdown {
			for name := range c.lastCmd {
				c.lastCmd[name] = c.w.now
			}
			continue
		}
		c.lastCmd[u.cmd.Worker] = c.w.now
		if u.cmd.Verb == engine.CmdScale {
			c.desired[u.cmd.Worker] = max(c.desired[u.cmd.Worker], u.prev)
		}
	}
	c.unacked = c.unacked[:0]
}

func (c *checker) hsuCrash() {
	c.forgetUnacked()
	for _, r := range c.reps { // order-free: each on its own
		// A halt no write recorded (the disk was failing) dies with hsu:
		// the next one may restart the replica.
		if r.halted && r.haltedAt > c.w.store.lastOK {
			r.halted = false
		}
	}
	c.crashed, c.crashAt = true, c.w.now
	c.shutdownCut = c.shutdown
	c.shutdown = false // a shutdown dies with the hsu doing it
	for _, r := range c.reps {
		r.hasExit, r.n = false, 0
	}
	for h := range c.stops {
		delete(c.stops, h)
	}
}

func (c *checker) oom(p *proc) { c.ooms[p.worker]++ }

// spawned notes a leader's fork: it counts as live from now on.
func (c *checker) spawned(p *proc) {
	if i := slices.Index(c.spawning, p.owner); i >= 0 {
		c.spawning = slices.Delete(c.spawning, i, i+1)
	}
}

// batchDone forgets the batch's spawns that never forked (failed, or
// hsu died first).
func (c *checker) batchDone() { c.spawning = c.spawning[:0] }

func (c *checker) died(p *proc) { c.rep(p.worker, p.owner.Replica).lastAlive = c.w.now }

func (c *checker) beforeEvent(ev *engine.Event) {
	switch ev.Kind {
	case engine.EvExited, engine.EvSpawnFailed:
		if ev.Kind == engine.EvExited && !c.w.eng.Alive(ev.H) {
			return
		}
		r := c.rep(ev.H.Worker, ev.H.Replica)
		r.hasExit, r.exitAt = true, c.w.now
		r.uptime = c.w.now - r.spawnAt
		if ev.Kind == engine.EvSpawnFailed {
			r.uptime = 0
		}
		r.unrequested = !c.shutdown && c.lastCmd[ev.H.Worker] < r.spawnAt
		if spec := c.spec(ev.H.Worker); spec != nil && ev.Kind == engine.EvExited {
			r.success = !ev.OOM && ev.Signal == "" && containsInt(spec.Restart.SuccessExitCodes, ev.Code)
		}
	}
}

func (c *checker) afterEvent(ev *engine.Event) {
	if ev.Kind == engine.EvExited && c.w.eng != nil && c.w.eng.Alive(ev.H) {
		c.checks++
		c.violate("exit-observed", "%s exited but the engine still believes it alive", handleName(ev.H))
	}
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func handleName(h engine.Handle) string {
	return fmt.Sprintf("%s-%d (gen %d)", h.Worker, h.Replica, h.Gen)
}

// action checks an action before the fake OS carries it out.
func (c *checker) action(a *engine.Action) {
	now := c.w.now
	switch a.Kind {
	case engine.ActSpawn:
		c.checks += 4
		name := a.H.Worker
		r := c.rep(name, a.H.Replica)
		// The driver starts a batch's spawns together at its end: those
		// decided earlier in the batch count as live.
		queued, queuedRep := 0, engine.Handle{}
		for _, h := range c.spawning {
			if h.Worker == name {
				queued++
				if h.Replica == a.H.Replica {
					queuedRep = h
				}
			}
		}
		if n, _ := c.countLive(name, 0, true); n+queued+1 > c.desired[name] {
			c.violate("max-instances", "spawning %s would make %d live instances of %s, which wants %d", handleName(a.H), n+queued+1, name, c.desired[name])
		}
		if n, p := c.countLive(name, a.H.Replica, false); n > 0 {
			c.violate("duplicate-instance", "spawning %s while pid %d of %s is alive", handleName(a.H), p.pid, handleName(p.owner))
		} else if queuedRep.Gen != 0 {
			c.violate("duplicate-instance", "spawning %s while %s is being spawned", handleName(a.H), handleName(queuedRep))
		}
		c.spawning = append(c.spawning, a.H)
		if r.halted && c.lastCmd[name] < r.haltedAt {
			c.violate("spawn-after-halt", "spawning %s, which stopped/failed at %s, without a command since", handleName(a.H), fmtTime(r.haltedAt))
		}
		c.checkBackoff(a.H, r)
		r.spawns++
		r.spawnAt = now
		r.halted = false
	case engine.ActSignal, engine.ActStopCommand, engine.ActKill:
		c.checks++
		if a.PID != 0 {
			if p := c.w.procs[a.PID]; p != nil && p.owner != a.H {
				c.violate("foreign-signal", "%s to pid %d for %s, but pid %d is %s", a.Kind, a.PID, handleName(a.H), a.PID, describe(p))
			}
		}
		st := c.stop(a.H)
		switch {
		case a.Kind == engine.ActKill:
			if st.signaled && !st.killed {
				c.checks++
				if timeout := c.spec(a.H.Worker).Stop.Timeout.D(); now-st.signalAt < timeout {
					c.violate("kill-timing", "SIGKILL to %s %s after the stop signal, before the stop timeout %s", handleName(a.H), now-st.signalAt, timeout)
				}
			}
			st.killed = true
		case st.stopping && !st.signaled:
			st.signaled, st.signalAt = true, now
			if spec := c.spec(a.H.Worker); spec != nil {
				it := c.w.item(now+spec.Stop.Timeout.D()+killSlack, itStopDeadline)
				it.class, it.h = 1, a.H
				it.ev.At = now // which stop this deadline is for
				c.w.q.push(it)
			}
			if c.shutdown {
				c.checkReverseOrder(a.H.Worker)
			}
		}
	case engine.ActTransition:
		c.transition(a)
	}
}

func describe(p *proc) string {
	if p.owner.Gen == 0 {
		return "not started by hsu (" + p.worker + ")"
	}
	return "owned by " + handleName(p.owner)
}

func (c *checker) transition(a *engine.Action) {
	now := c.w.now
	r := c.rep(a.H.Worker, a.H.Replica)
	switch a.To {
	case engine.Stopped, engine.Exited, engine.Failed, engine.Backoff:
		c.checks++
		if n, p := c.countLive(a.H.Worker, a.H.Replica, false); n > 0 {
			c.violate("stop-complete", "%s is %s but pid %d of %s is still alive", replicaName(a.H), a.To, p.pid, handleName(p.owner))
		}
		if a.To != engine.Backoff {
			r.halted, r.haltedAt = true, now
		}
	case engine.Stopping:
		c.stop(a.H).stopping = true
	case engine.Starting:
		if a.From == engine.Pending {
			c.checkDeps(a.H.Worker)
		}
	}
}

// checkBackoff: restart n of a run of automatic restarts must not come
// before the smallest back-off the config allows for n.
func (c *checker) checkBackoff(h engine.Handle, r *repTrack) {
	spec := c.spec(h.Worker)
	defer func() { r.hasExit = false }()
	if !r.hasExit || !r.unrequested || c.lastCmd[h.Worker] >= r.exitAt || (c.crashed && c.crashAt >= r.exitAt) {
		r.n = 0
		return
	}
	if ra := spec.Restart.ResetAfter.D(); ra > 0 && r.uptime >= ra {
		r.n = 0
	}
	r.n++
	c.checks++
	least := time.Duration(1<<63 - 1)
	for _, t := range []string{config.TriggerCrash, config.TriggerHealth, config.TriggerResource} {
		least = min(least, engine.MinBackoff(spec.Restart.ForTrigger(t).Backoff, r.n))
	}
	if gap := c.w.now - r.exitAt; gap+time.Microsecond < least {
		c.violate("backoff", "%s restarted %s after its exit; restart %d must wait at least %s", handleName(h), gap, r.n, least)
	}
}

// checkDeps: a worker leaves pending only when its dependencies meet
// their conditions.
func (c *checker) checkDeps(worker string) {
	spec := c.spec(worker)
	if spec == nil {
		return
	}
	for _, dep := range slices.Sorted(maps.Keys(spec.DependsOn)) {
		if _, ok := c.w.cfg.Workers[dep]; !ok {
			continue
		}
		c.checks++
		cond := spec.DependsOn[dep].Condition
		for i := 1; i <= c.desired[dep]; i++ {
			r := c.rep(dep, i)
			n, _ := c.countLive(dep, i, true)
			alive := n > 0
			recent := alive || c.w.now-r.lastAlive <= latencySlack
			var ok bool
			switch cond {
			case config.CondStarted:
				ok = r.spawns > 0 || alive
			case config.CondHealthy, config.CondLogReady:
				ok = recent
			case config.CondCompleted, config.CondCompletedSuccessfully:
				ok = !alive
			}
			if !ok {
				c.violate("dependency-order", "%s started before %s-%d was %s", worker, dep, i, cond)
				return
			}
		}
	}
}

// checkReverseOrder: at shutdown a worker is stopped only after every
// worker that depends on it.
func (c *checker) checkReverseOrder(worker string) {
	c.checks++
	for _, name := range c.w.cfg.Order {
		spec := c.w.cfg.Workers[name]
		if _, ok := spec.DependsOn[worker]; !ok || name == worker {
			continue
		}
		if n, p := c.countLive(name, 0, true); n > 0 {
			c.violate("stop-order", "stopping %s while its dependent %s (pid %d) is alive", worker, name, p.pid)
		}
	}
}

// stopDeadline: a stopping instance must be dead or SIGKILLed by the stop
// timeout plus slack.
func (c *checker) stopDeadline(h engine.Handle, signalAt time.Duration) {
	st := c.stops[h]
	if st == nil || st.killed || !c.w.up || st.signalAt != signalAt {
		return
	}
	c.checks++
	for _, p := range c.liveOf(h.Worker, h.Replica, true) {
		if p.owner == h {
			c.violate("kill-timing", "%s still alive %s after its stop signal and not killed (stop timeout %s)", handleName(h), c.w.now-st.signalAt, c.spec(h.Worker).Stop.Timeout)
		}
	}
}

func (c *checker) restarts(t scenario.Target) int {
	n := 0
	for k, r := range c.reps {
		if k.worker == t.Worker && (t.Replica == 0 || k.replica == t.Replica) && r.spawns > 1 {
			n += r.spawns - 1
		}
	}
	return n
}

// expect checks one expectation now; final selects the end-of-run parts.
func (c *checker) expect(e *scenario.Expect, final bool) {
	states := e.State
	if final {
		states = e.Final
	}
	for _, name := range slices.Sorted(maps.Keys(states)) {
		c.checks++
		want, _ := engine.ParseState(states[name])
		if c.w.eng == nil {
			c.violate("expect", "%s should be %s at %s, but hsu is not running", name, want, fmtTime(c.w.now))
			continue
		}
		t := c.target(name)
		var got []string
		ok := true
		from, to := 1, c.w.eng.Replicas(t.Worker)
		if t.Replica != 0 {
			from, to = t.Replica, t.Replica
		}
		for i := from; i <= to; i++ {
			st, exists := c.w.eng.State(t.Worker, i)
			if !exists {
				got = append(got, fmt.Sprintf("%s-%d: absent", t.Worker, i))
				ok = false
				continue
			}
			got = append(got, fmt.Sprintf("%s-%d: %s", t.Worker, i, st))
			if st != want && !(want == engine.Running && st == engine.Ready) {
				ok = false
			}
		}
		if !ok {
			c.violate("expect", "%s should be %s, got %s", name, want, strings.Join(got, ", "))
		}
	}
	if e.At != nil && final {
		return // ranges of an expectation with at were checked at that time
	}
	if e.At == nil && !final {
		return
	}
	for _, name := range slices.Sorted(maps.Keys(e.Restarts)) {
		c.checks++
		if n := c.restarts(c.target(name)); !e.Restarts[name].Holds(n) {
			c.violate("expect", "%s restarts should be %s, got %d", name, e.Restarts[name], n)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(e.Alive)) {
		c.checks++
		t := c.target(name)
		if n, _ := c.countLive(t.Worker, t.Replica, false); !e.Alive[name].Holds(n) {
			c.violate("expect", "%s live processes should be %s, got %d", name, e.Alive[name], n)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(e.OOMKills)) {
		c.checks++
		if n := c.ooms[name]; !e.OOMKills[name].Holds(n) {
			c.violate("expect", "%s OOM kills should be %s, got %d", name, e.OOMKills[name], n)
		}
	}
}

func (c *checker) target(name string) scenario.Target {
	if _, ok := c.w.cfg.Workers[name]; ok {
		return scenario.Target{Worker: name}
	}
	if _, ok := c.desired[name]; ok {
		return scenario.Target{Worker: name}
	}
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		var n int
		if _, err := fmt.Sscanf(name[i+1:], "%d", &n); err == nil {
			return scenario.Target{Worker: name[:i], Replica: n}
		}
	}
	return scenario.Target{Worker: name}
}

// final runs the end-of-run expectations.
func (c *checker) final() {
	c.stuckPending()
	c.lostExits()
	if c.w.opt.Swarm {
		return
	}
	for _, e := range c.w.sc.Expect {
		c.expect(e, true)
	}
}

// lostExits is the other half of "every exit observed exactly once": a
// leader that died while the hsu watching it is still up must have had
// its exit delivered by the end (its zombie is released then).
func (c *checker) lostExits() {
	w := c.w
	if !w.up {
		return
	}
	for _, h := range sortedHandles(w.zombies) {
		z := w.zombies[h]
		c.checks++
		if z.watchEpoch == w.epoch && w.now-z.diedAt > time.Second {
			c.violate("exit-observed", "%s died at %s and its exit never reached hsu", handleName(h), fmtTime(z.diedAt))
		}
	}
}

// stuckPending is a liveness check: at the end no replica may still wait
// in pending for dependencies that all meet their conditions.
func (c *checker) stuckPending() {
	e := c.w.eng
	if e == nil || !c.w.up {
		return
	}
	for _, ws := range e.Snapshot().Workers {
		spec := c.spec(ws.Name)
		for _, r := range ws.Slots {
			if r.State != engine.Pending || r.Replica > ws.Replicas || !strings.HasPrefix(r.Reason, "waiting for ") || strings.HasPrefix(r.Reason, "waiting for replicas") {
				continue
			}
			c.checks++
			met := true
			for _, dep := range slices.Sorted(maps.Keys(spec.DependsOn)) {
				if !c.conditionHolds(dep, spec.DependsOn[dep].Condition) {
					met = false
				}
			}
			if met {
				c.violate("stuck-pending", "%s-%d is still pending (%s) although every dependency meets its condition", ws.Name, r.Replica, r.Reason)
			}
		}
	}
}

// conditionHolds evaluates a dependency condition from the engine's states
// and the exits the checker saw.
func (c *checker) conditionHolds(dep, cond string) bool {
	e := c.w.eng
	for i := 1; i <= e.Desired(dep); i++ {
		st, ok := e.State(dep, i)
		if !ok {
			return false
		}
		r := c.rep(dep, i)
		switch cond {
		case config.CondStarted:
			if st != engine.Running && st != engine.Ready {
				return false // certainly started; other states are ambiguous
			}
		case config.CondHealthy:
			if st != engine.Ready && !(st == engine.Running && e.Probe(dep, engine.ProbeReadiness) == nil) {
				return false
			}
		case config.CondCompleted:
			if st != engine.Exited {
				return false
			}
		case config.CondCompletedSuccessfully:
			if st != engine.Exited || !r.success {
				return false
			}
		default:
			return false // log_ready: not visible from here
		}
	}
	return true
}
