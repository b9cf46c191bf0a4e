package fakeos

import (
	"cmp"
	"errors"
	"log/slog"
	"net"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/driver"
	"github.com/hsu-run/hsu/engine"
	"github.com/hsu-run/hsu/probe"
)

// simOS is the World as the driver's OS (driver.OS). Its calls act on the
// ground truth at once and post their completions after a simulated
// latency, drawn from the world's PRNG.
type simOS World

var _ driver.OS = (*simOS)(nil)

var (
	errNoProcess = driver.Errno("ESRCH")
	errUnhealthy = errors.New("probe failed (simulated)")
)

// quietLogger is hsu's own log in the simulator: the timeline says it.
var quietLogger = slog.New(slog.DiscardHandler)

func (o *simOS) w() *World { return (*World)(o) }

// Now implements driver.OS.
func (o *simOS) Now() time.Duration { return o.now }

// Post implements driver.OS: the completion reaches hsu after the latency
// its kind has on a real machine.
func (o *simOS) Post(ev engine.Event) {
	w := o.w()
	if w.dying {
		return // hsu is dead: nothing it does reaches anything
	}
	var lat time.Duration
	switch ev.Kind {
	case engine.EvSpawned:
		lat = w.latency(time.Millisecond, 5*time.Millisecond)
		if p := w.procs[ev.PID]; p != nil && p.owner == ev.H {
			p.spawnNotified = w.now + lat
		}
	case engine.EvSpawnFailed:
		lat = w.latency(time.Millisecond, 5*time.Millisecond)
	case engine.EvExited:
		lat = w.latency(0, 2*time.Millisecond)
		if z := w.zombies[ev.H]; z != nil {
			// Never before hsu learnt of the spawn, as a real adapter
			// learns the PID first.
			lat = max(lat, z.spawnNotified-w.now)
		}
	case engine.EvProbe:
		lat = w.latency(time.Millisecond, 3*time.Millisecond)
	default:
		lat = w.latency(0, time.Millisecond)
	}
	if w.sab.kind != sabNone && !w.sabPost(ev, &lat) {
		return // sabotage (test only): the completion is lost
	}
	w.toEngine(lat, ev)
}

// StartTimer implements driver.OS.
func (o *simOS) StartTimer(ref engine.TimerRef, at time.Duration) {
	w := o.w()
	if w.dying {
		return
	}
	it := w.item(at, itEngine)
	it.epoch = w.epoch
	it.ev = engine.Event{Kind: engine.EvTimer, Timer: ref}
	w.q.push(it)
}

// CancelTimer implements driver.OS: a cancelled timer still fires, and
// the engine ignores it, as it must a real timer that fired just before
// its cancellation.
func (o *simOS) CancelTimer(engine.TimerRef) {}

// Spawn implements driver.OS. The real OS starts a batch's instances in
// parallel, so in any order: here they start one after another in an
// order drawn from the seed, and an hsu crash after one fork (after_fork)
// leaves some of the batch started and the rest not, as it can there.
func (o *simOS) Spawn(batch []driver.SpawnReq) {
	w := o.w()
	if len(batch) > 1 {
		if cap(w.order) < len(batch) {
			w.order = make([]int, len(batch))
		}
		w.order = w.order[:len(batch)]
		for i := range w.order {
			w.order[i] = i
		}
		w.rng.Shuffle(len(w.order), func(i, j int) { w.order[i], w.order[j] = w.order[j], w.order[i] })
		for _, i := range w.order {
			r := &batch[i]
			r.Proc, r.Err = o.spawn(r.H, r.Spec, r.Logs, r.Exited)
		}
		return
	}
	for i := range batch {
		r := &batch[i]
		r.Proc, r.Err = o.spawn(r.H, r.Spec, r.Logs, r.Exited)
	}
}

func (o *simOS) spawn(h engine.Handle, spec *config.Worker, logs driver.LogSink, exited func(driver.ExitStatus)) (driver.Proc, error) {
	w := o.w()
	if w.dying {
		return driver.Proc{}, driver.Errno("ESRCH")
	}
	beh := w.behaviour(h.Worker)
	errno := beh.SpawnError
	if e := w.plat.unenforceable(spec); e != "" {
		errno = e
	}
	if f := w.spawnErr[h.Worker]; f != nil && f.count > 0 {
		errno = f.errno
		f.count--
	}
	if errno != "" {
		return driver.Proc{}, driver.Errno(errno)
	}
	w.stats.Spawns++
	p := w.newProc(h, h.Worker, beh, nil)
	for i := 0; i < beh.Children; i++ {
		p.children = append(p.children, w.newProc(h, h.Worker, beh, p))
	}
	p.exited, p.watchEpoch, p.logs = exited, w.epoch, logs
	w.check.spawned(p)
	if w.sab.kind != sabNone {
		w.sabSpawned(p)
	}
	if !w.plat.holds() || w.noHold {
		w.lifecycle(p, spec)
	} else {
		p.held, p.spec = true, spec
	}
	if f := w.forkCrash; f != nil && f.AfterFork == h.Worker && w.now >= f.At.D() {
		// Killed right after the fork: the state file is what the writes
		// before it left (built eagerly while the crash was armed), and
		// the rest of the step is lost.
		w.dying = true
	}
	return driver.Proc{PID: p.pid, StartTime: int64(p.serial), Group: true}, nil
}

// Release implements driver.OS: hsu has recorded the PID and writes the
// byte the exec helper waits for, which then runs the program.
func (o *simOS) Release(h engine.Handle, pr driver.Proc) {
	w := o.w()
	if w.dying {
		return
	}
	if p := w.procs[pr.PID]; p != nil && p.owner == h && p.held {
		if w.store.failing {
			w.check.violate("durable", "%s runs although no state file write has recorded its PID", handleName(h))
		}
		p.held = false
		w.lifecycle(p, p.spec)
		p.spec = nil
	}
}

// Watch implements driver.OS.
func (o *simOS) Watch(h engine.Handle, pr driver.Proc, exited func(driver.ExitStatus)) error {
	w := o.w()
	if w.dying {
		return errNoProcess
	}
	p := w.procs[pr.PID]
	if p == nil || !p.alive || int64(p.serial) != pr.StartTime {
		return errNoProcess
	}
	if p.owner != h {
		if p.owner.Gen != 0 {
			w.untrack(p)
		}
		p.owner = h
		w.track(p)
	}
	p.exited, p.watchEpoch = exited, w.epoch
	return nil
}

// Signal implements driver.OS. A zombie leader (dead, its exit not yet
// taken) can still be signalled, as on a real kernel.
func (o *simOS) Signal(h engine.Handle, pr driver.Proc, sig string, done driver.Completion) {
	done.Done(o.signal(h, pr, sig))
}

func (o *simOS) signal(h engine.Handle, pr driver.Proc, sig string) error {
	w := o.w()
	p := w.procs[pr.PID]
	if w.dying || p == nil || p.owner != h {
		return errNoProcess
	}
	if p.alive {
		it := w.item(w.now+w.latency(0, time.Millisecond), itSignal)
		it.p, it.sig = p, sig
		w.q.push(it)
	}
	return nil
}

// Kill implements driver.OS: done once every process of the instance is
// gone, as the real adapter reports it after cgroup.kill.
//
// Without cgroups only the process group of a known PID can be killed:
// an instance named by its handle alone (the write-ahead record of a
// spawn whose PID was never written) is not found. That is why spawns
// are held there until the PID is written.
func (o *simOS) Kill(h engine.Handle, pr driver.Proc, done driver.Completion) {
	w := o.w()
	if w.dying {
		return
	}
	it := w.item(w.now+w.latency(0, time.Millisecond), itKill)
	it.h, it.epoch, it.done = h, w.epoch, done
	if !w.plat.Cgroups {
		it.pid = pr.PID
		if it.pid == 0 && !w.plat.Marker {
			it.pid = -1 // nothing to find
		}
	}
	w.q.push(it)
}

// StopCommand implements driver.OS: the command asks the process to exit.
func (o *simOS) StopCommand(h engine.Handle, pr driver.Proc, _ *config.Worker, done driver.Completion) {
	done.Done(o.signal(h, pr, "TERM"))
}

// Probe implements driver.OS: the probe sees the ground truth.
func (o *simOS) Probe(h engine.Handle, _ *config.Probe, t probe.Target, done driver.Completion) {
	w := o.w()
	if w.dying {
		return
	}
	if p := w.procs[t.PID]; p != nil && p.owner == h && w.healthy(p) {
		done.Done(nil)
		return
	}
	done.Done(errUnhealthy)
}

// Sample implements driver.OS.
func (o *simOS) Sample(batch []driver.SampleReq) {
	w := o.w()
	if w.dying {
		return
	}
	for _, r := range batch {
		if p := w.procs[r.P.PID]; p != nil && p.alive && p.owner == r.H {
			r.Done.Sampled(w.usage(p), nil)
			continue
		}
		r.Done.Sampled(engine.Usage{}, errNoProcess)
	}
}

// Throttle implements driver.OS as the real adapters do: a CPU quota (a
// cgroup's or a Job Object's) and memory.high (cgroup2) are in force from
// the start; pids are not throttled.
func (o *simOS) Throttle(_ engine.Handle, _ driver.Proc, resource string) error {
	if (resource == "cpu" && o.plat.cpuQuota()) || (resource == "memory" && o.plat.MemoryHigh) {
		return nil
	}
	return errors.New(resource + " throttling is not enforced here")
}

// Verify implements driver.OS: the serial stands for the start time, so a
// reused PID is told apart.
func (o *simOS) Verify(pr driver.Proc) bool {
	p := o.w().procs[pr.PID]
	return p != nil && p.alive && p.leader == nil && int64(p.serial) == pr.StartTime
}

// Find implements driver.OS: an unmanaged worker's process is the one
// started outside hsu for it. Found at once; its EvAdopted comes after
// the latency of any completion.
func (o *simOS) Find(h engine.Handle, _ *config.Worker, done driver.Completion) {
	p := o.w().external[h.Worker]
	if p == nil || !p.alive {
		done.Found(driver.Proc{}, errors.New("no such process"))
		return
	}
	done.Found(driver.Proc{PID: p.pid, StartTime: int64(p.serial)}, nil)
}

// Listen implements driver.OS: a port 0 gets the next free fake port.
func (o *simOS) Listen(addr string) (driver.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if port == "0" {
		o.nextPort++
		port = strconv.Itoa(o.nextPort)
	}
	return fakeListener(net.JoinHostPort(host, port)), nil
}

type fakeListener string

func (l fakeListener) Addr() string { return string(l) }
func (fakeListener) Close() error   { return nil }

// BootID implements driver.OS.
func (o *simOS) BootID() string { return "sim" }

// Strays implements driver.OS: with cgroups (or the environment marker
// without), every instance of an hsu that still has a live process (its
// leader, or a grandchild left in its cgroup) is found by its handle.
func (o *simOS) Strays() []driver.Stray {
	w := o.w()
	if !w.plat.findsStrays() {
		return nil
	}
	at := map[engine.Handle]int{}
	var out []driver.Stray
	for _, pid := range w.livePIDs() {
		p := w.procs[pid]
		if !p.alive || p.owner.Gen == 0 || p.epoch == 0 {
			continue
		}
		i, seen := at[p.owner]
		if !seen {
			i = len(out)
			at[p.owner] = i
			out = append(out, driver.Stray{H: p.owner})
		}
		if p.leader == nil && !p.held {
			// The leader, as the real adapter tells it: the one group
			// leader among the instance's processes.
			out[i].Leader = driver.Proc{PID: p.pid, StartTime: int64(p.serial), Group: true}
		}
	}
	slices.SortFunc(out, func(a, b driver.Stray) int {
		return cmp.Or(cmp.Compare(a.H.Worker, b.H.Worker), cmp.Compare(a.H.Replica, b.H.Replica), cmp.Compare(a.H.Gen, b.H.Gen))
	})
	return out
}

// FindsByHandle implements driver.OS: where every instance has its cgroup.
func (o *simOS) FindsByHandle() bool { return o.plat.Cgroups }

// observer is the World as the driver's Observer: the tracer, the
// checker and the timeline.
type observer World

func (ob *observer) Event(ev *engine.Event) {
	w := (*World)(ob)
	if w.dying {
		return // hsu is dead: what its engine still steps never happens
	}
	w.stats.EngineEvents++
	w.tr.event(w.now, ev)
	w.check.beforeEvent(ev)
	if w.sab.kind != sabNone {
		w.sabEvent(ev)
	}
}

func (ob *observer) Action(a *engine.Action) {
	w := (*World)(ob)
	if w.dying {
		return
	}
	w.stats.Actions++
	w.tr.action(w.now, a)
	w.check.action(a)
	if w.sab.kind != sabNone {
		w.sabAction(a)
	}
	if w.opt.OnAction != nil {
		w.opt.OnAction(w.now, a)
	}
	if w.opt.Timeline == nil {
		return
	}
	switch a.Kind {
	case engine.ActTransition:
		w.timeline("%-14s %s -> %s  %s", replicaName(a.H), a.From, a.To, a.Reason)
	case engine.ActNotice:
		w.timeline("%-14s %s", replicaName(a.H), a.Reason)
	}
}

func (ob *observer) Stepped(ev *engine.Event, bugs []string) {
	w := (*World)(ob)
	if w.dying {
		return
	}
	if w.sab.kind != sabNone {
		w.sabStepped(ev)
	}
	w.check.afterEvent(ev)
	for _, b := range bugs {
		w.check.violate("engine", "%s", b)
	}
}

// memStore is the state file. It outlives each hsu and is written lazily:
// the driver writes whenever what it saves changes, so building the file
// when hsu dies gives what the last write would have. StrictPersist builds
// it at every write instead and checks that claim when hsu dies.
type memStore struct {
	w      *World
	strict bool
	state  *driver.State
	build  func() *driver.State // the last write, not yet built
	// failing: the last write failed (a state_write_fail fault); the file
	// is what the last successful write left.
	failing bool
	lastOK  time.Duration // virtual time of the last write that worked
	damage  []string      // unreadable slots (state_corrupt), as the real store reports them
}

// Damage is what the real store reports of unreadable slots.
func (s *memStore) Damage() []string { return s.damage }

// errNoSpace is a failed state write.
var errNoSpace = errors.New("write state: no space left on device (simulated)")

func (s *memStore) Read() (*driver.State, string, error) {
	if s.w.sab.kind != sabNone {
		return s.w.sabRead(s.peek())
	}
	return s.peek(), "state", nil
}

func (s *memStore) Write(build func() *driver.State) error {
	if s.w.dying {
		return nil // hsu was killed before this write
	}
	if s.w.now < s.w.writeFailUntil {
		s.failing = true
		if s.w.sab.kind == sabSwallowWriteError {
			return nil // sabotage (test only): the failure is not reported
		}
		return errNoSpace
	}
	s.failing, s.lastOK, s.damage = false, s.w.now, nil
	if s.strict || s.w.forkCrash != nil {
		// Built now: a crash armed inside a step must find exactly what
		// this write wrote, not what the driver knows by the crash.
		s.state = build()
		if !s.strict {
			s.build = nil
			return nil
		}
	}
	s.build = build
	return nil
}

// Reserve implements driver.Store: the room a scale-up needs cannot be
// had while the disk fails writes (state_write_fail: a full disk).
func (s *memStore) Reserve(int) error {
	if s.w.now < s.w.writeFailUntil {
		return errNoSpace
	}
	return nil
}

// corrupt makes both slots unreadable: the next read finds no state and
// reports the damage; the next write that works writes a new one.
func (s *memStore) corrupt() {
	s.state, s.build = nil, nil
	s.damage = []string{"state.0: checksum mismatch (a torn or damaged write)", "state.1: checksum mismatch (a torn or damaged write)"}
}

// startFailing begins a state_write_fail window: the file keeps what the
// writes so far left (built now, at a batch boundary, before any write can
// fail).
func (s *memStore) startFailing(until time.Duration) {
	s.peek()
	if !s.strict {
		s.build = nil
	}
	s.w.writeFailUntil = max(s.w.writeFailUntil, until)
}

func (s *memStore) Remove() { s.state, s.build = nil, nil }

// peek builds a pending lazy write.
func (s *memStore) peek() *driver.State {
	if s.build != nil && !s.strict {
		s.state = s.build()
		s.build = nil
	}
	return s.state
}

// crash: hsu dies; the file is what its last write left.
func (s *memStore) crash() {
	if s.strict && s.build != nil && !s.failing && !s.w.dying {
		if now := s.build(); !reflect.DeepEqual(now, s.state) {
			s.w.check.violate("persist", "the state file misses changes the engine made after its last ActPersist:\n  file: %+v\n  now:  %+v", *s.state, *now)
		}
	}
	s.peek()
	s.build = nil
}
