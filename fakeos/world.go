// Package fakeos is the simulated operating system hsu-sim runs hsu on: a
// virtual clock, a (time, seq) event queue, one seeded PRNG, process
// behaviour models, fault injection and aggressive PID reuse. hsu here is
// the production driver (package driver) with this world as its OS
// (driver.OS, in os.go): fakeos carries out no engine action itself. It
// keeps the ground truth of which processes are alive, which the invariant
// checker reads instead of trusting the engine.
package fakeos

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/driver"
	"github.com/hsu-run/hsu/engine"
	"github.com/hsu-run/hsu/scenario"
)

// Options tunes a run.
type Options struct {
	// Trace receives the JSON-lines trace; nil keeps only its hash.
	Trace TraceWriter
	// NoTrace skips the trace and its hash (Result.TraceHash is empty):
	// sweeps only need the verdict, and run faster without it.
	NoTrace bool
	// Timeline receives the human-readable timeline; nil discards it.
	Timeline func(line string)
	// Swarm adds a random fault mix drawn from the seed; the scenario's
	// expectations are then skipped (the faults void them) and only the
	// built-in invariants are checked.
	Swarm bool
	// StrictPersist writes the state file on every ActPersist instead of
	// when hsu dies, and checks at each crash that the two agree: that the
	// engine asked to persist every change its recovery depends on.
	StrictPersist bool
	// StopAtFirstViolation ends the run at the first violation.
	StopAtFirstViolation bool
	// OnAction, when set, sees every engine action as it is carried out
	// (summaries such as restarts by trigger are built from it).
	OnAction func(at time.Duration, a *engine.Action)
	// Platform is the OS modelled; the zero value is linux (cgroup2 with
	// every controller).
	Platform Platform
}

// World is one simulation run.
type World struct {
	sc   *scenario.Scenario
	seed int64
	opt  Options
	rng  *rand.Rand
	// order is the scratch order of a spawn batch (simOS.Spawn).
	order []int
	now   time.Duration
	q     queue
	seq   uint64

	// hsu
	drv    *driver.Driver // the running hsu; nil while it is down
	eng    *engine.Engine // its engine, which the checker reads (kept after a shutdown)
	epoch  int            // bumped when an hsu starts or dies: events of a dead hsu are dropped
	starts int            // hsu processes started so far
	up     bool
	exited bool // hsu finished a shutdown
	cfg    *config.Config
	store  *memStore // the state file, which outlives each hsu
	plat   Platform
	// forkCrash is an armed hsu_crash after_fork; dying: it has struck,
	// and the rest of hsu's batch must have no effect.
	forkCrash *scenario.Fault
	dying     bool
	noHold    bool // test only: spawns run at once even without cgroups (the bug the hold fixes)
	// writeFailUntil: state file writes fail until then (state_write_fail).
	writeFailUntil time.Duration
	refused        string // the error of the last command's reply
	batch          []engine.Event

	// the OS
	procs    map[int]*proc      // live processes by PID
	byRep    map[repKey][]*proc // live processes hsu owns, by replica
	maxRep   map[string]int     // highest replica number seen per worker
	freePIDs []int              // most recently freed last: reused first
	nextPID  int
	serial   uint64
	external map[string]*proc        // unmanaged workers' processes, started outside hsu
	zombies  map[engine.Handle]*proc // dead leaders whose exit hsu has not taken yet
	spawnErr map[string]*spawnFault
	nextPort int // for integrated workers listening on port 0

	tr    *tracer
	check *checker
	stats Stats
	sab   sabotage // test-only fault (sabotage.go); zero: none
}

// Stats counts what happened.
type Stats struct {
	EngineEvents int64
	Actions      int64
	Spawns       int64
	Exits        int64
}

type spawnFault struct {
	errno string
	count int
}

// proc is one fake process.
type proc struct {
	serial    uint64
	pid       int
	leader    *proc   // nil for a leader
	children  []*proc // of a leader
	owner     engine.Handle
	worker    string
	beh       *scenario.Behaviour
	spawnedAt time.Duration
	alive     bool
	// exited reports the leader's end to the hsu that watches it (the one
	// of epoch watchEpoch); logs is where it prints.
	exited     func(driver.ExitStatus)
	watchEpoch int
	logs       driver.LogSink
	readyLine  string
	notified   bool          // sent READY=1
	watchdog   time.Duration // notify watchdog period (0: none)
	// held: spawned through the exec helper, which waits for hsu to
	// record the PID before it runs the program (spec, then).
	held   bool
	spec   *config.Worker
	diedAt time.Duration // a zombie leader's death
	// spawnNotified is when hsu learns of the spawn; its exit is never
	// reported before that, as a real adapter learns the PID first.
	spawnNotified time.Duration
	epoch         int // hsu incarnation that spawned it (0: started outside hsu)
	// memory limit enforced by the "kernel" (policy immediate_kill), 0: none
	hardLimit int64
	// softLimit is memory.high (policy throttle): the kernel holds usage
	// there, reclaiming and slowing, and never kills; 0: none.
	softLimit int64
	// kernel: the limits the kernel enforces for it, as a sample says.
	kernel engine.Enforced
	cpuMax float64 // a CPU quota's cap in cores, 0: none
}

var healthyDefault = &scenario.Behaviour{}

// New prepares a run of sc with seed.
func New(sc *scenario.Scenario, seed int64, opt Options) *World {
	w := &World{
		sc: sc, seed: seed, opt: opt,
		rng:      rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15)),
		cfg:      sc.Cfg,
		procs:    map[int]*proc{},
		byRep:    map[repKey][]*proc{},
		maxRep:   map[string]int{},
		nextPID:  100,
		external: map[string]*proc{},
		zombies:  map[engine.Handle]*proc{},
		spawnErr: map[string]*spawnFault{},
		nextPort: 40000,
	}
	w.store = &memStore{w: w, strict: opt.StrictPersist}
	if !opt.NoTrace {
		w.tr = newTracer(opt.Trace)
	}
	w.check = newChecker(w)
	w.plat = opt.Platform
	if w.plat.Name == "" {
		w.plat = Platforms[0]
		if p, err := PlatformNamed(sc.Platform); err == nil {
			w.plat = p // the scenario parser accepts only these names
		}
	}
	return w
}

// Result is the outcome of a run.
type Result struct {
	Seed       int64
	Violations []Violation
	TraceHash  string
	Restarts   map[string]int
	Final      map[string][]engine.State // per worker, by replica (empty when hsu is down)
	Checks     int                       // invariant and expectation checks made
	Stats      Stats
	End        time.Duration
}

// OK reports whether nothing was violated.
func (r *Result) OK() bool { return len(r.Violations) == 0 }

// Run simulates the scenario to its duration.
func (w *World) Run() *Result {
	// Spawn failures are armed before hsu starts, so one at 0s affects the
	// very first spawn; every other fault at 0s happens once hsu is up.
	for _, f := range w.sc.Faults {
		if f.Kind() == "spawn_fail" {
			f := f
			w.schedule(f.At.D(), itFault, func(it *item) { it.fault = f })
		}
	}
	w.schedule(0, itHsuStart, func(it *item) {})
	for _, name := range w.cfg.Order {
		if w.cfg.Workers[name].Type == config.TypeUnmanaged {
			w.startExternal(name)
		}
	}
	for _, f := range w.sc.Faults {
		if f.Kind() != "spawn_fail" {
			f := f
			w.schedule(f.At.D(), itFault, func(it *item) { it.fault = f })
		}
	}
	if w.opt.Swarm {
		for _, f := range w.swarmFaults() {
			f := f
			w.schedule(f.At.D(), itFault, func(it *item) { it.fault = f })
		}
	}
	for _, e := range w.sc.Expect {
		if e.At != nil && !w.opt.Swarm {
			e := e
			it := w.item(e.At.D(), itExpect)
			it.class, it.exp = 1, e
			w.q.push(it)
		}
	}
	end := w.sc.Duration.D()
	for {
		it := w.q.peek()
		if it == nil || it.at > end {
			break
		}
		w.q.pop()
		w.now = it.at
		w.handle(it)
		w.q.release(it)
		if w.opt.StopAtFirstViolation && len(w.check.violations) > 0 {
			break
		}
	}
	if !w.opt.StopAtFirstViolation || len(w.check.violations) == 0 {
		w.now = max(w.now, end)
		w.check.final()
	}
	return w.result()
}

func (w *World) result() *Result {
	r := &Result{Seed: w.seed, Violations: w.check.violations, TraceHash: w.tr.sum(), Restarts: map[string]int{},
		Final: map[string][]engine.State{}, Checks: w.check.checks, Stats: w.stats, End: w.now}
	for _, name := range w.cfg.Order {
		r.Restarts[name] = w.check.restarts(scenario.Target{Worker: name})
		if w.eng != nil { // also after a shutdown: the final states
			for i := 1; i <= w.eng.Replicas(name); i++ {
				st, _ := w.eng.State(name, i)
				r.Final[name] = append(r.Final[name], st)
			}
		}
	}
	return r
}

func (w *World) item(at time.Duration, kind itemKind) *item {
	it := w.q.alloc()
	w.seq++
	it.at, it.seq, it.kind = at, w.seq, kind
	return it
}

func (w *World) schedule(at time.Duration, kind itemKind, fill func(*item)) {
	it := w.item(at, kind)
	fill(it)
	w.q.push(it)
}

// toEngine queues ev for the current hsu after a latency.
func (w *World) toEngine(lat time.Duration, ev engine.Event) {
	it := w.item(w.now+lat, itEngine)
	it.epoch = w.epoch
	it.ev = ev
	w.q.push(it)
}

// latency draws a small random delay in [lo, hi].
func (w *World) latency(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(w.rng.Int64N(int64(hi-lo)+1))
}

func (w *World) handle(it *item) {
	switch it.kind {
	case itEngine:
		w.deliverBatch(it)
	case itExit:
		if it.p.alive {
			code, sig := it.p.beh.ExitCode, string(it.p.beh.ExitSignal)
			w.die(it.p, code, sig, false)
		}
	case itOOM:
		if it.p.alive {
			w.check.oom(it.p)
			w.die(it.p, 0, "KILL", true)
		}
	case itSignal:
		w.signalGroup(it.p, it.sig)
	case itKill:
		switch {
		case it.pid == 0:
			w.killInstance(it.h) // its cgroup, or its environment marker
		case it.pid > 0:
			if p := w.procs[it.pid]; p != nil && p.owner == it.h && p.leader == nil {
				w.signalGroup(p, "KILL") // its process group
			}
		}
		if it.epoch == w.epoch && w.up {
			it.done.Done(nil)
		}
	case itLogLine:
		// The process prints its ready line; the driver's sink spots it.
		if p := it.p; p.alive && w.up && p.watchEpoch == w.epoch && p.logs != nil {
			out := p.logs.Writer(p.worker, p.owner.Replica, "stdout")
			out.Write([]byte(p.readyLine + "\n"))
			out.Close()
		}
	case itNotify:
		p := it.p
		if !p.alive {
			break
		}
		if w.up && p.watchEpoch == w.epoch && w.healthy(p) {
			n := engine.Notification{Watchdog: p.notified, Ready: !p.notified}
			p.notified = true
			w.deliver(engine.Event{Kind: engine.EvNotify, H: p.owner, Notify: n})
		}
		if p.watchdog > 0 {
			next := w.item(w.now+p.watchdog/2, itNotify)
			next.p = p
			w.q.push(next)
		}
	case itFault:
		w.fault(it.fault)
	case itHsuStart:
		w.hsuStart()
	case itExpect:
		w.check.expect(it.exp, false)
	case itStopDeadline:
		w.check.stopDeadline(it.h, it.ev.At)
	}
}

// deliverBatch hands hsu the engine events queued for this instant, as
// one batch (the real inbox also delivers what has piled up together).
func (w *World) deliverBatch(it *item) {
	w.batch = w.batch[:0]
	w.take(it)
	for {
		nx := w.q.peek()
		if nx == nil || nx.kind != itEngine || nx.at != it.at || nx.class != it.class {
			break
		}
		w.q.pop()
		w.take(nx)
		w.q.release(nx)
	}
	if len(w.batch) > 0 {
		w.drv.Handle(w.batch)
		w.afterBatch()
	}
	for i := range w.batch {
		if ev := &w.batch[i]; ev.Kind == engine.EvExited {
			w.reaped(ev.H)
		}
	}
}

// take adds an item's event to the batch if it is for the running hsu.
func (w *World) take(it *item) {
	if it.epoch == w.epoch && w.up {
		w.batch = append(w.batch, it.ev)
	} else if it.ev.Kind == engine.EvExited {
		w.reaped(it.ev.H) // a dead hsu's child: init reaps it
	}
}

// reaped frees the zombie hsu has taken the exit of.
func (w *World) reaped(h engine.Handle) {
	if z := w.zombies[h]; z != nil {
		w.release(z)
		delete(w.zombies, h)
	}
}

// afterBatch ends an hsu that was killed during the batch, or whose
// shutdown is done.
func (w *World) afterBatch() {
	w.check.batchDone()
	if w.dying {
		w.dyingAfterFork()
		return
	}
	if w.drv != nil && w.drv.Done() {
		w.drv.Finish()
		w.drv = nil
		w.up, w.exited = false, true
		w.timeline("hsu exited after shutdown")
	}
}

// hsuStart starts an hsu process: the production driver, with a fresh
// engine that recovers what the state file lists.
func (w *World) hsuStart() {
	if w.up {
		// The real hsu locks its state dir: a second one refuses to start.
		w.timeline("second hsu refused: the state dir is locked by the running one")
		return
	}
	w.epoch++
	w.starts++
	w.check.hsuRestart(w.exited)
	w.up, w.exited = true, false
	seed := w.rng.Uint64() | 1 // 0 would ask the driver for a clock seed
	w.drv = driver.New(w.cfg, (*simOS)(w), w.store, driver.Options{Logger: quietLogger, Seed: seed, Observer: (*observer)(w)})
	w.eng = w.drv.Engine()
	w.tr.hsu(w.now, "hsu_start", w.starts)
	n := 0
	if st := w.store.peek(); st != nil {
		n = len(st.Saved.Instances)
	}
	w.timeline("hsu started (#%d, %d entries in the state file)", w.starts, n)
	if err := w.drv.Start(); err != nil {
		w.check.violate("hsu-start", "hsu could not start: %v", err)
	}
	w.afterBatch()
}

// deliver hands hsu one event at once (a command or a reload, which the
// real hsu also takes in as it comes).
func (w *World) deliver(ev engine.Event) {
	w.drv.Handle([]engine.Event{ev})
	w.afterBatch()
}

func replicaName(h engine.Handle) string { return fmt.Sprintf("%s-%d", h.Worker, h.Replica) }

func (w *World) timeline(format string, args ...any) {
	if w.opt.Timeline != nil {
		w.opt.Timeline(fmt.Sprintf("%10s  ", fmtTime(w.now)) + fmt.Sprintf(format, args...))
	}
}

// fmtTime prints virtual time with millisecond precision.
func fmtTime(d time.Duration) string {
	return fmt.Sprintf("%d.%03ds", d/time.Second, (d%time.Second)/time.Millisecond)
}

func (w *World) behaviour(worker string) *scenario.Behaviour {
	if b := w.sc.Behaviour[worker]; b != nil {
		return b
	}
	return healthyDefault
}

func (w *World) allocPID() int {
	if n := len(w.freePIDs); n > 0 {
		pid := w.freePIDs[n-1]
		w.freePIDs = w.freePIDs[:n-1]
		return pid
	}
	w.nextPID++
	return w.nextPID
}

func (w *World) newProc(owner engine.Handle, worker string, beh *scenario.Behaviour, leader *proc) *proc {
	w.serial++
	p := &proc{serial: w.serial, pid: w.allocPID(), owner: owner, worker: worker, beh: beh,
		spawnedAt: w.now, alive: true, leader: leader, epoch: w.epoch}
	w.procs[p.pid] = p
	w.track(p)
	return p
}

// track indexes an owned live process by its replica.
func (w *World) track(p *proc) {
	if p.owner.Gen == 0 {
		return
	}
	k := repKey{p.worker, p.owner.Replica}
	w.byRep[k] = append(w.byRep[k], p)
	if p.owner.Replica > w.maxRep[p.worker] {
		w.maxRep[p.worker] = p.owner.Replica
	}
}

func (w *World) untrack(p *proc) {
	k := repKey{p.worker, p.owner.Replica}
	list := w.byRep[k]
	for i, q := range list {
		if q == p {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(w.byRep, k)
	} else {
		w.byRep[k] = list
	}
}

// lifecycle schedules what a new leader will do by itself.
func (w *World) lifecycle(p *proc, spec *config.Worker) {
	beh := p.beh
	if beh.ExitAfter > 0 {
		it := w.item(w.now+beh.ExitAfter.D(), itExit)
		it.p = p
		w.q.push(it)
	}
	if spec != nil && spec.Notify {
		// READY=1 once it would pass a probe; then, with a watchdog, a
		// ping every half period while it is healthy (a hang stops them).
		p.watchdog = spec.Watchdog.D()
		it := w.item(w.now+beh.StartDelay.D(), itNotify)
		it.p = p
		w.q.push(it)
	}
	if spec != nil && spec.ReadyLogLine != "" {
		p.readyLine = spec.ReadyLogLine
		it := w.item(w.now+beh.StartDelay.D(), itLogLine)
		it.p = p
		w.q.push(it)
	}
	if spec != nil {
		w.kernelLimits(p, spec.Resources)
	}
	if m := beh.Memory; m != nil && p.hardLimit > 0 {
		var after time.Duration
		switch {
		case int64(m.Start) >= p.hardLimit:
			after = 0
		case m.Grow > 0:
			after = time.Duration(float64(p.hardLimit-int64(m.Start)) / float64(m.Grow) * float64(time.Second))
		default:
			return
		}
		it := w.item(w.now+after, itOOM)
		it.p = p
		w.q.push(it)
	}
}

// healthy is the ground truth a probe observes.
func (w *World) healthy(p *proc) bool {
	b := p.beh
	up := w.now - p.spawnedAt
	if !p.alive || up < b.StartDelay.D() {
		return false
	}
	if b.UnhealthyAfter > 0 && up >= b.UnhealthyAfter.D() {
		return b.RecoverAfter > 0 && up >= b.UnhealthyAfter.D()+b.RecoverAfter.D()
	}
	return true
}

// kernelLimits sets what the platform's kernel enforces for p, as the
// real adapter writes it into p's cgroup or job at its start.
func (w *World) kernelLimits(p *proc, r config.Resources) {
	if m := r.Memory; m != nil && m.Max > 0 {
		switch {
		case m.Policy == config.ResImmediateKill && w.plat.kernelMemory():
			p.hardLimit = int64(m.Max)
			p.kernel |= engine.EnforcedMemory
		case m.Policy == config.ResThrottle && w.plat.MemoryHigh:
			p.softLimit = int64(m.Max)
			p.kernel |= engine.EnforcedMemory
		}
	}
	if c := r.CPU; c != nil && c.Max > 0 && c.Policy == config.ResThrottle && w.plat.cpuQuota() {
		p.cpuMax = float64(c.Max)
		p.kernel |= engine.EnforcedCPU
	}
	if l := r.Pids; l != nil && l.Max > 0 && (w.plat.Cgroups || w.plat.JobLimits) { // pids.max, a job's process limit
		p.kernel |= engine.EnforcedPids
	}
}

// highEvery is how often a process held at memory.high counts a high
// event (memory.events) in the model.
const highEvery = 10 * time.Millisecond

func (w *World) usage(p *proc) engine.Usage {
	up := (w.now - p.spawnedAt).Seconds()
	cpu := float64(p.beh.CPU)
	if p.cpuMax > 0 {
		cpu = min(cpu, p.cpuMax) // the quota caps it
	}
	u := engine.Usage{CPU: cpu, Pids: 1 + len(p.children), CPUSeconds: cpu * up, Kernel: p.kernel, Source: w.plat.Source}
	if m := p.beh.Memory; m != nil {
		u.Memory = int64(m.Start) + int64(float64(m.Grow)*(w.now-p.spawnedAt).Seconds())
		if p.softLimit > 0 && u.Memory >= p.softLimit {
			// Held at memory.high; high events count while it presses on it.
			at := p.spawnedAt
			if m.Grow > 0 && int64(m.Start) < p.softLimit {
				at += time.Duration(float64(p.softLimit-int64(m.Start)) / float64(m.Grow) * float64(time.Second))
			}
			u.Memory = p.softLimit
			u.MemoryHigh = 1 + int64((w.now-at)/highEvery)
		}
	}
	return u
}

// die ends a process. A leader's death is reported to hsu the way the
// real adapter does it: the rest of its group and cgroup is killed first,
// then the exit is delivered. While hsu is down nobody cleans up and the
// exit is lost, as on a real machine.
func (w *World) die(p *proc, code int, sig string, oom bool) {
	if !p.alive {
		return
	}
	w.reap(p)
	if p.leader != nil {
		return
	}
	w.stats.Exits++
	w.check.died(p)
	if p.owner.Gen == 0 || !w.up || p.exited == nil || p.watchEpoch != w.epoch {
		// Not hsu's, or no running hsu watches it (it is down, or has
		// not re-adopted it yet): init reaps it and the PID is free.
		w.release(p)
		return
	}
	for _, c := range p.children {
		w.reap(c)
	}
	// hsu holds the dead leader (a zombie child, or a pidfd for an adopted
	// process): its PID is not handed out again until hsu has taken the
	// exit, so a signal hsu sends in between cannot reach another process.
	w.zombies[p.owner] = p
	p.diedAt = w.now
	if w.plat.UnknownReadoptedExit && p.epoch != p.watchEpoch {
		code, sig, oom = -1, "UNKNOWN", false // re-adopted: not this hsu's child
	}
	p.exited(driver.ExitStatus{Code: code, Signal: sig, OOM: oom})
}

// reap marks a process dead. Leaders stay zombies until released;
// grandchildren are reaped at once (by their parent or hsu as subreaper).
func (w *World) reap(p *proc) {
	if !p.alive {
		return
	}
	p.alive = false
	if p.owner.Gen != 0 {
		w.untrack(p)
	}
	if p.leader != nil {
		w.release(p)
	}
}

// release frees a dead process's PID for immediate reuse.
func (w *World) release(p *proc) {
	if w.procs[p.pid] == p {
		delete(w.procs, p.pid)
		w.freePIDs = append(w.freePIDs, p.pid)
	}
}

// releaseZombies frees the PIDs of every exit hsu has not taken (it died:
// init reaps its children).
func (w *World) releaseZombies() {
	for _, h := range sortedHandles(w.zombies) {
		w.release(w.zombies[h])
		delete(w.zombies, h)
	}
}

func sortedHandles(m map[engine.Handle]*proc) []engine.Handle {
	out := make([]engine.Handle, 0, len(m))
	for h := range m {
		out = append(out, h)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Gen < out[j-1].Gen; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// signalGroup delivers sig to a leader's process group.
func (w *World) signalGroup(leader *proc, sig string) {
	if !leader.alive {
		return
	}
	if !deadly(sig, leader.beh.IgnoreSigterm) {
		return
	}
	for _, c := range leader.children {
		w.reap(c)
	}
	w.die(leader, 0, sig, false)
}

// deadly reports whether a fake process dies of sig: KILL always; the
// terminating signals unless it ignores them; others are handled.
func deadly(sig string, ignoresTerm bool) bool {
	switch sig {
	case "KILL":
		return true
	case "TERM", "INT", "QUIT", "HUP":
		return !ignoresTerm
	}
	return false
}

// killInstance SIGKILLs everything left of instance h (group and cgroup).
func (w *World) killInstance(h engine.Handle) {
	var leader *proc
	for _, p := range append([]*proc(nil), w.byRep[repKey{h.Worker, h.Replica}]...) {
		if p.owner == h {
			if p.leader == nil {
				leader = p
				continue
			}
			w.reap(p)
		}
	}
	if leader != nil {
		w.die(leader, 0, "KILL", false)
	}
}

// startExternal starts the process an unmanaged worker adopts.
func (w *World) startExternal(name string) {
	p := w.newProc(engine.Handle{}, name, w.behaviour(name), nil)
	p.epoch = 0
	w.external[name] = p
	w.lifecycle(p, nil)
}

// crash kills hsu (kill -9): its workers keep running, except where
// they die with it (held spawns; Job Objects that kill on close).
func (w *World) crash() {
	w.store.crash()
	w.up, w.dying = false, false
	dead := w.epoch
	w.epoch++ // events for the dead hsu are dropped
	w.drv, w.eng = nil, nil
	w.releaseZombies()
	w.check.hsuCrash()
	for _, pid := range w.livePIDs() {
		p := w.procs[pid]
		if p == nil || p.leader != nil || !p.alive { // nil: gone with a group killed before
			continue
		}
		switch {
		case p.held && p.epoch == dead:
			// The exec helper reads EOF on its pipe: hsu died before
			// writing the PID, so the program never runs.
			w.timeline("%-14s pid %d never ran: hsu died before recording it", replicaName(p.owner), p.pid)
			w.signalGroup(p, "KILL")
		case w.plat.KillOnClose && p.watchEpoch == dead && p.epoch != 0:
			w.signalGroup(p, "KILL")
		}
	}
}

// livePIDs lists the processes in PID order, for deterministic sweeps.
func (w *World) livePIDs() []int {
	pids := make([]int, 0, len(w.procs))
	for pid := range w.procs {
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	return pids
}

// dyingAfterFork ends a batch in which hsu was killed after a fork.
func (w *World) dyingAfterFork() {
	if !w.dying {
		return
	}
	f := w.forkCrash
	w.forkCrash = nil
	w.timeline("fault: hsu killed (kill -9) right after forking %s", f.AfterFork)
	w.crash()
	if f.RestartAfter > 0 {
		w.schedule(w.now+f.RestartAfter.D(), itHsuStart, func(*item) {})
	}
}

func (w *World) fault(f *scenario.Fault) {
	w.tr.fault(w.now, f)
	switch f.Kind() {
	case "kill":
		w.timeline("fault: kill -%s %s", f.Signal, f.Target)
		// Only the leader is signalled, as kill(1) would; the adapter
		// cleans up its group when it reports the exit.
		for _, p := range w.check.liveOf(f.Target.Worker, f.Target.Replica, true) {
			if deadly(string(f.Signal), p.beh.IgnoreSigterm) {
				w.die(p, 0, string(f.Signal), false)
			}
		}
	case "command":
		w.timeline("fault: command %q", f.Command)
		if !w.up {
			w.timeline("  (hsu is down: command not delivered)")
			return
		}
		prev := w.check.desired[f.Cmd.Worker]
		undo := w.check.command(f.Cmd)
		w.refused = ""
		acked := new(bool)
		w.deliver(w.drv.Submit(f.Cmd, func(err string) {
			*acked = true
			if w.store.failing && err == "" { // a refusal changes nothing
				w.check.violate("durable", "command %q acknowledged while the state file cannot be written", f.Command)
			}
			if err != "" {
				w.refused = err
				w.timeline("command %q refused: %s", f.Command, err)
			}
		}))
		switch {
		case w.refused != "":
			undo()
		case !*acked:
			// Held until the state is written: if hsu dies first, the
			// command may or may not have taken effect.
			w.check.unacked = append(w.check.unacked, unackedCmd{cmd: f.Cmd, acked: acked, prev: prev})
		}
	case "hsu_crash":
		if f.AfterFork != "" {
			w.timeline("fault: hsu will be killed right after its next fork of %s", f.AfterFork)
			w.forkCrash = f
			return
		}
		if w.up {
			w.timeline("fault: hsu killed (kill -9)")
			w.crash()
		} else {
			w.timeline("fault: hsu_crash while hsu is not running: nothing to kill")
		}
		if f.RestartAfter > 0 {
			w.schedule(w.now+f.RestartAfter.D(), itHsuStart, func(*item) {})
		}
	case "state_corrupt":
		w.timeline("fault: both slots of the state file overwritten with garbage")
		w.store.corrupt()
	case "state_write_fail":
		w.timeline("fault: state file writes fail for %s", f.For)
		w.store.startFailing(w.now + f.For.D())
	case "spawn_fail":
		w.timeline("fault: next %d spawns of %s fail with %s", f.Count, f.Target.Worker, f.Errno)
		w.spawnErr[f.Target.Worker] = &spawnFault{errno: f.Errno, count: f.Count}
	case "reload":
		w.timeline("fault: reload")
		w.check.reload(w.cfg, f.ReloadCfg)
		w.cfg = f.ReloadCfg
		if w.up {
			w.deliver(engine.Event{Kind: engine.EvReload, Config: f.ReloadCfg})
		}
	}
}
