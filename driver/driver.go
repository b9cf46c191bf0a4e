// Package driver is the one loop around the engine, shared by hsu run and
// hsu-sim: it steps the engine, carries out its actions through an OS
// (osadapters on the real OS, fakeos in the simulator), persists the state
// write-ahead, answers commands only after the write, and publishes status.
// It is the only code outside engine/ that interprets engine actions.
//
// The driver is single-threaded: only the goroutine that calls Handle (or
// Run) touches it, except for Submit, Command, Status and Reload, which
// any goroutine may call. It never blocks on the OS: what can block runs in
// the OS implementation and comes back as an event.
package driver

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/engine"
	"github.com/hsu-run/hsu/probe"
)

// Options configures a driver.
type Options struct {
	Logger *slog.Logger // nil: slog.Default()
	Logs   LogSink      // workers' output; nil discards it
	Seed   uint64       // jitter source; 0 picks one from the clock
	// Observer, if set, sees every event and action (the simulator's
	// tracer and checker).
	Observer Observer
	// Publish keeps Status current after every batch. The simulator, which
	// reads the engine directly, leaves it off.
	Publish bool
}

// Driver steps one engine in one world.
type Driver struct {
	eng   *engine.Engine
	os    OS
	store Store
	opt   Options
	log   *slog.Logger
	info  bool // the logger takes info lines (formatting them costs)
	debug bool // and debug lines
	sink  LogSink

	procs map[engine.Handle]Proc // live instances as the driver knows them
	// recovered are the state file's instances until they are verified.
	recovered map[engine.Handle]Proc
	// listeners are the sockets hsu binds for integrated workers, one per
	// replica, kept across restarts so the address never changes and no
	// other process can take the port in between.
	listeners map[string]Listener
	// addrs are the listeners' addresses, also those of instances
	// re-adopted from a previous hsu (their socket lives only in the
	// worker): probes use them, and a restart binds the same address.
	addrs map[string]string

	// dirty: the state file is behind the engine (an ActPersist since the
	// last write). Writes are coalesced: once per batch, and before a
	// spawn, so the write-ahead record always precedes the process.
	// flushedInStep: the file was written during this step's actions, so it
	// holds the engine's state after the step: the step's later
	// ActPersists ask for nothing new (a cold start is one write, not 100).
	// pidsDirty: spawned PIDs not yet written (not urgent where instances
	// can be found by handle: written with the batch).
	dirty, flushedInStep, pidsDirty bool
	changed                         bool          // status changed in this batch
	build                           func() *State // d.state, made once

	// writeFailing: the last state write failed (since failingSince,
	// failures in a row); retryArmed: the retry timer is set. held are
	// spawned instances not released yet (no cgroup finds them).
	writeFailing, retryArmed bool
	failingSince             time.Duration
	failures                 int
	degraded                 atomic.Bool
	held                     []engine.Handle
	// pending are the batch's spawns, started together at its end
	// (runSpawns).
	pending []SpawnReq

	answers []answer // command replies held until the state is written
	status  atomic.Pointer[engine.Status]
	version uint64
	// sampled: a sample arrived since the last publish; samples alone
	// publish at most once per publishSamples (a snapshot is O(workers)).
	sampled     bool
	publishedAt time.Duration
	feed        *Feed
	probes      probeStats
	alerts      alertCounts
	// writeFailures counts failed state writes (hsu_state_write_failures_total).
	writeFailures atomic.Uint64

	mu      sync.Mutex
	replies map[uint64]func(Reply)
	reloads map[uint64]*reloadReq
	found   map[engine.Handle]Proc // adopted processes, until their EvAdopted is stepped
	nextCmd atomic.Uint64
}

type answer struct {
	id   uint64
	err  string
	code engine.ErrCode
}

// Reply is the engine's answer to a command: Err is "" when it was
// carried out (and written to the state file).
type Reply struct {
	Code engine.ErrCode
	Err  string
}

// CommandError is a refused command, typed so that callers (the API) can
// tell a missing worker from a conflict without reading the message.
type CommandError struct {
	Code   engine.ErrCode
	Verb   engine.Verb
	Worker string
	Msg    string
}

func (e *CommandError) Error() string {
	if e.Worker == "" {
		return e.Verb.String() + ": " + e.Msg
	}
	return e.Verb.String() + " " + e.Worker + ": " + e.Msg
}

// reloadReq is a reload waiting for its diff (Driver.ReloadDiff).
type reloadReq struct {
	dry  bool
	diff engine.Diff
}

// publishSamples bounds how often samples alone republish the status.
const publishSamples = time.Second

// New prepares a driver for cfg in world os with state store.
func New(cfg *config.Config, os OS, store Store, opt Options) *Driver {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	seed := opt.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	d := &Driver{
		eng: engine.New(cfg, rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))),
		os:  os, store: store, opt: opt, log: opt.Logger, sink: opt.Logs,
		procs: map[engine.Handle]Proc{}, recovered: map[engine.Handle]Proc{},
		listeners: map[string]Listener{}, addrs: map[string]string{}, replies: map[uint64]func(Reply){},
		found: map[engine.Handle]Proc{}, reloads: map[uint64]*reloadReq{},
	}
	d.build = d.state
	d.info = d.log.Enabled(context.Background(), slog.LevelInfo)
	d.debug = d.log.Enabled(context.Background(), slog.LevelDebug)
	if d.sink == nil {
		d.sink = discardSink{}
	}
	if opt.Publish {
		d.feed = NewFeed(DefaultFeedSize)
		d.publish()
	}
	return d
}

// Feed is the event feed (nil unless Options.Publish).
func (d *Driver) Feed() *Feed { return d.feed }

// WriteFailures is the number of failed state writes so far.
func (d *Driver) WriteFailures() uint64 { return d.writeFailures.Load() }

func (d *Driver) publish() {
	st := d.eng.Snapshot()
	d.version++
	st.Version = d.version
	d.status.Store(st)
	d.publishedAt = d.os.Now()
	d.sampled = false
}

// Engine is the driver's engine, for observers that read it (the
// simulator's checker); only the driver's goroutine may use it.
func (d *Driver) Engine() *engine.Engine { return d.eng }

// Done reports whether a shutdown has finished.
func (d *Driver) Done() bool { return d.eng.Done() }

// Status returns the latest published status; safe from any goroutine.
func (d *Driver) Status() *engine.Status { return d.status.Load() }

// Submit registers reply for command c and returns the event that
// carries it. The caller delivers the event: posts it (the real world) or
// hands it to Handle at once (the simulator). reply is called, with "" for
// ok, once the command's effect is written to the state file.
func (d *Driver) Submit(c engine.Command, reply func(err string)) engine.Event {
	return d.submit(c, func(r Reply) { reply(r.Err) })
}

func (d *Driver) submit(c engine.Command, reply func(Reply)) engine.Event {
	c.ID = d.nextCmd.Add(1)
	d.mu.Lock()
	d.replies[c.ID] = reply
	d.mu.Unlock()
	return engine.Event{Kind: engine.EvCommand, Cmd: c}
}

// Command sends a command through the OS's inbox and waits for the
// engine's answer. A caller that gives up leaves nothing behind.
func (d *Driver) Command(ctx context.Context, c engine.Command) error {
	return d.Commands(ctx, []engine.Command{c})[0]
}

// Commands sends several commands as one batch (one state write, one
// reply write) and waits for every answer; errs[i] is commands[i]'s,
// a *CommandError when the engine refused it.
func (d *Driver) Commands(ctx context.Context, cmds []engine.Command) []error {
	ch := make(chan struct{}, len(cmds))
	replies := make([]Reply, len(cmds))
	evs := make([]engine.Event, len(cmds))
	for i := range cmds {
		evs[i] = d.submit(cmds[i], func(r Reply) { replies[i] = r; ch <- struct{}{} })
	}
	d.postAll(evs)
	errs := make([]error, len(cmds))
	for got := 0; got < len(cmds); got++ {
		select {
		case <-ch:
		case <-ctx.Done():
			d.mu.Lock()
			dropped := 0
			for i := range evs {
				if _, waiting := d.replies[evs[i].Cmd.ID]; waiting {
					delete(d.replies, evs[i].Cmd.ID)
					errs[i] = d.gaveUp(cmds[i], ctx.Err())
					dropped++
				}
			}
			d.mu.Unlock()
			// The rest were taken out of the map for answering: their
			// replies are being written now; wait for them (they do not
			// block) before reading them.
			for ; got < len(cmds)-dropped; got++ {
				<-ch
			}
			for i := range errs {
				if errs[i] == nil {
					errs[i] = replyErr(cmds[i], replies[i])
				}
			}
			return errs
		}
	}
	for i := range cmds {
		errs[i] = replyErr(cmds[i], replies[i])
	}
	return errs
}

func replyErr(c engine.Command, r Reply) error {
	if r.Err == "" {
		return nil
	}
	return &CommandError{Code: r.Code, Verb: c.Verb, Worker: c.Worker, Msg: r.Err}
}

func (d *Driver) gaveUp(c engine.Command, err error) error {
	if d.Degraded() {
		return fmt.Errorf("%s %s: %w (it is applied, but not durable: the state file cannot be written)", c.Verb, c.Worker, err)
	}
	return fmt.Errorf("%s %s: %w", c.Verb, c.Worker, err)
}

// postAll posts events so that they arrive in one batch where the OS can
// promise it (the real inbox drains everything queued at once).
func (d *Driver) postAll(evs []engine.Event) {
	if p, ok := d.os.(interface{ PostAll([]engine.Event) }); ok {
		p.PostAll(evs)
		return
	}
	for _, ev := range evs {
		d.os.Post(ev)
	}
}

// Reload hands the engine a new, already validated config.
func (d *Driver) Reload(cfg *config.Config) {
	d.os.Post(engine.Event{Kind: engine.EvReload, Config: cfg})
}

// ReloadDiff reloads cfg (or, with dry, only compares it) and returns
// what changes: added, removed, restarted, scaled and unchanged workers.
// A reload is answered once its effect is written.
func (d *Driver) ReloadDiff(ctx context.Context, cfg *config.Config, dry bool) (engine.Diff, error) {
	req := &reloadReq{dry: dry}
	ch := make(chan Reply, 1)
	ev := d.submit(engine.Command{Verb: engine.CmdReload}, func(r Reply) { ch <- r })
	d.mu.Lock()
	d.reloads[ev.Cmd.ID] = req
	d.mu.Unlock()
	d.os.Post(engine.Event{Kind: engine.EvReload, Config: cfg, Cmd: ev.Cmd})
	select {
	case r := <-ch:
		if r.Err != "" {
			return req.diff, &CommandError{Code: r.Code, Verb: engine.CmdReload, Msg: r.Err}
		}
		return req.diff, nil
	case <-ctx.Done():
		d.mu.Lock()
		delete(d.replies, ev.Cmd.ID)
		delete(d.reloads, ev.Cmd.ID)
		d.mu.Unlock()
		return engine.Diff{}, d.gaveUp(engine.Command{Verb: engine.CmdReload}, ctx.Err())
	}
}

// Start recovers what the state file names and starts supervising: the
// first batch.
func (d *Driver) Start() error {
	saved, err := d.recover()
	if err != nil {
		return err
	}
	d.Handle([]engine.Event{{Kind: engine.EvStart, Saved: saved}})
	return nil
}

// Handle steps the engine through one batch of events and then does what
// a batch ends with: the state write, the replies it releases, status.
func (d *Driver) Handle(batch []engine.Event) {
	for i := range batch {
		d.step(&batch[i])
		if d.eng.Done() {
			// What came after the end is not stepped; its commands get an
			// answer, not silence.
			for _, ev := range batch[i+1:] {
				if ev.Kind == engine.EvCommand || (ev.Kind == engine.EvReload && ev.Cmd.ID != 0) {
					d.answers = append(d.answers, answer{ev.Cmd.ID, "hsu is shutting down", engine.ErrShuttingDown})
				}
			}
			break
		}
	}
	d.runSpawns()
	d.closeUnwantedListeners()
	d.flush()
	d.answer()
	if d.opt.Publish && (d.changed || d.sampled && d.os.Now()-d.publishedAt >= publishSamples) {
		d.publish()
	}
	if d.feed != nil {
		d.feed.Wake()
	}
	d.changed = false
}

// Finish ends a driver whose shutdown is done (Done): nothing is left to
// adopt, so the state file goes, and so do the listeners.
func (d *Driver) Finish() {
	d.closeListeners()
	d.store.Remove()
}

func (d *Driver) closeListeners() {
	for k, l := range d.listeners { // order-free: closes all
		l.Close()
		delete(d.listeners, k)
	}
}

// KillAll SIGKILLs every instance the driver knows, in parallel, and
// returns once all are gone (a second Ctrl-C). Adopted unmanaged
// processes are left alone. Call it only once the loop has stopped.
func (d *Driver) KillAll() {
	var wg sync.WaitGroup
	kill := func(h engine.Handle, p Proc) {
		if p.Group {
			wg.Add(1)
			d.os.Kill(h, p, Completion{wg: &wg})
		}
	}
	for h, p := range d.procs { // order-free: every one is killed
		kill(h, p)
	}
	for h, p := range d.recovered { // order-free: not verified yet, but ours if Verify says so
		if d.os.Verify(p) {
			kill(h, p)
		}
	}
	wg.Wait()
	d.closeListeners()
}

// answer sends the held command replies.
func (d *Driver) answer() {
	if d.writeFailing {
		return // held until the state is written (see flush)
	}
	for _, a := range d.answers {
		d.mu.Lock()
		reply := d.replies[a.id]
		delete(d.replies, a.id)
		d.mu.Unlock()
		if reply != nil {
			reply(Reply{Code: a.code, Err: a.err})
		}
	}
	d.answers = d.answers[:0]
}

// recover reads the previous hsu's state file and keeps only instances
// that are provably the processes it started (same boot, same PID start
// time), so a reused PID is never adopted.
func (d *Driver) recover() (*engine.Saved, error) {
	st, path, err := d.store.Read()
	if err != nil {
		return nil, err
	}
	d.reportDamage(st, path)
	if st == nil {
		return d.strays(nil), nil
	}
	saved := st.Saved
	if st.BootID != d.os.BootID() {
		d.log.Info("state file is from another boot: nothing to adopt", "file", path)
		kept := saved.Instances[:0]
		for _, r := range saved.Instances {
			if r.PID == 0 && r.State != engine.Starting {
				kept = append(kept, r) // stopped/exited/failed replicas stay so
			}
		}
		saved.Instances = kept
	}
	for k, a := range st.Listen {
		d.addrs[k] = a
	}
	for _, r := range saved.Instances {
		if r.PID != 0 {
			w := d.eng.Spec(r.H.Worker)
			// Kept apart until verified: a PID from the file may be reused.
			d.recovered[r.H] = Proc{PID: r.PID, StartTime: st.Starts[InstKey(r.H)], Group: w == nil || w.Type != config.TypeUnmanaged}
		}
	}
	return d.strays(&saved), nil
}

// reportDamage says, loudly, which parts of the state file could not be
// read and why, and what hsu does instead.
func (d *Driver) reportDamage(st *State, path string) {
	dm, ok := d.store.(interface{ Damage() []string })
	if !ok || len(dm.Damage()) == 0 {
		return
	}
	for _, why := range dm.Damage() {
		d.log.Error("state file unreadable", "slot", why)
	}
	if st != nil {
		d.log.Warn("state file: using the other copy; changes after it are lost", "file", path)
		return
	}
	instead := "instances are found by their cgroups (without cgroups on Linux, by their environment marker): adopted where their leader is verified, else killed and their replicas started afresh"
	if !d.os.FindsByHandle() {
		instead += "; on macOS nothing finds them: they may still run, unsupervised"
	}
	d.log.Error("no readable state file: hsu starts every worker afresh", "instead", instead)
}

// strays hands the engine the instances the OS finds by handle (their
// cgroups, or their environment marker) that the state file does not
// name: spawned after the last write that worked, by an hsu that then
// died, or named by a state file that cannot be read. One whose leader
// the OS can tell and Verify confirms is adopted; any other becomes an
// in-flight spawn of its replica, which the engine kills by handle before
// it starts the replica afresh, so a stray never runs beside a new
// instance.
func (d *Driver) strays(saved *engine.Saved) *engine.Saved {
	found := d.os.Strays()
	if len(found) == 0 {
		return saved
	}
	if saved == nil {
		saved = &engine.Saved{}
	}
	type rep struct {
		worker  string
		replica int
	}
	at := map[rep]int{}
	for i, r := range saved.Instances {
		at[rep{r.H.Worker, r.H.Replica}] = i
	}
	ours := map[engine.Handle]bool{} // entries this function made
	// found is in generation order per replica: a newer stray replaces an
	// older one, which is then killed.
	for _, st := range found {
		h := st.H
		i, ok := at[rep{h.Worker, h.Replica}]
		switch {
		case ok && saved.Instances[i].H.Gen == h.Gen:
			continue // named: recovered as usual
		case ok && saved.Instances[i].H.Gen > h.Gen:
			d.log.Warn("an older instance no state file names is left: killed", "instance", InstKey(h))
			d.os.Kill(h, Proc{}, Completion{})
			continue
		}
		// Its leader verified, it is adopted as if the file named it (the
		// engine verifies it once more, and watches it); else it is an
		// in-flight spawn, which the engine kills by handle.
		r := engine.Recovered{H: h, State: engine.Starting}
		if st.Leader.PID != 0 && d.os.Verify(st.Leader) {
			r = engine.Recovered{H: h, State: engine.Running, PID: st.Leader.PID}
			d.recovered[h] = st.Leader
			d.log.Warn("an instance the state file does not name: its leader is verified, so it is adopted", "instance", InstKey(h), "pid", st.Leader.PID)
		} else {
			d.log.Warn("an instance the state file does not name, with no leader to verify: killed, then its replica starts afresh", "instance", InstKey(h))
		}
		if ok {
			if old := saved.Instances[i].H; ours[old] {
				d.log.Warn("an older instance no state file names is left: killed", "instance", InstKey(old))
				delete(d.recovered, old)
				d.os.Kill(old, Proc{}, Completion{})
			}
			saved.Instances[i] = r
		} else {
			at[rep{h.Worker, h.Replica}] = len(saved.Instances)
			saved.Instances = append(saved.Instances, r)
		}
		ours[h] = true
		saved.NextGen = max(saved.NextGen, h.Gen+1)
	}
	return saved
}

// step applies one event and carries out the actions.
// ev points into the batch (the caller's slice): the observer takes its
// address, which would move a local copy to the heap on every step.
func (d *Driver) step(ev *engine.Event) {
	if ev.Kind == engine.EvTimer && ev.Timer.ID == retryTimerID {
		d.retryArmed = false // the driver's own: the batch's flush retries
		return
	}
	ev.At = d.os.Now()
	if ev.Kind == engine.EvReload && ev.Cmd.ID != 0 && d.reloadRequest(ev) {
		return
	}
	if d.refuseGrowth(ev) {
		return
	}
	if d.feed != nil {
		d.feedEvent(ev)
	}
	if ev.Kind == engine.EvAdopted && ev.OK {
		d.mu.Lock()
		if p, ok := d.found[ev.H]; ok {
			d.procs[ev.H] = p // before the engine's actions name it
			delete(d.found, ev.H)
		}
		d.mu.Unlock()
	}
	d.flushedInStep = false
	obs := d.opt.Observer
	if obs != nil {
		obs.Event(ev)
	}
	acts := d.eng.Step(*ev)
	for i := range acts {
		a := &acts[i]
		if obs != nil {
			obs.Action(a)
		}
		d.do(a)
	}
	if ev.Kind == engine.EvExited && !d.eng.Alive(ev.H) {
		delete(d.procs, ev.H) // after the actions: a cleanup kill may still name it
	}
	if obs != nil {
		obs.Stepped(ev, d.eng.Bugs)
	}
	for _, b := range d.eng.Bugs {
		d.log.Error("engine bug", "bug", b)
	}
	d.eng.Bugs = d.eng.Bugs[:0]
	switch ev.Kind {
	case engine.EvStart, engine.EvCommand, engine.EvReload,
		engine.EvSpawned, engine.EvAdopted, engine.EvNotify: // a new PID (or STATUS=) shows at once
		d.changed = true
	case engine.EvSample, engine.EvProbe:
		d.sampled = true
	}
}

// refuseGrowth refuses a scale-up or a reload that adds instances when
// the state file cannot reserve room for them (a full disk): started,
// they would make the next writes fail, and hsu could then no longer
// record what it does. The refusal changes nothing, so it is answered at
// once.
func (d *Driver) refuseGrowth(ev *engine.Event) bool {
	extra := 0
	switch {
	case ev.Kind == engine.EvCommand && ev.Cmd.Verb == engine.CmdScale && d.eng.Spec(ev.Cmd.Worker) != nil &&
		ev.Cmd.N <= engine.MaxReplicas: // beyond, the engine refuses it itself
		extra = ev.Cmd.N - d.eng.Desired(ev.Cmd.Worker)
	case ev.Kind == engine.EvReload && ev.Config != nil:
		for _, name := range ev.Config.Order {
			extra += max(0, ev.Config.Workers[name].Replicas-d.eng.Desired(name))
		}
	}
	if extra <= 0 {
		return false
	}
	err := d.store.Reserve(extra)
	if err == nil {
		return false
	}
	msg := fmt.Sprintf("refused: the state file has no room for %d more instances (%v); free some space and retry", extra, err)
	if ev.Kind == engine.EvReload {
		d.log.Error("reload "+msg, "kept", "the running config")
		if ev.Cmd.ID != 0 {
			d.answers = append(d.answers, answer{ev.Cmd.ID, "reload " + msg, engine.ErrConflict})
		}
		return true
	}
	d.log.Error("scale " + ev.Cmd.Worker + " " + msg)
	d.mu.Lock()
	reply := d.replies[ev.Cmd.ID]
	delete(d.replies, ev.Cmd.ID)
	d.mu.Unlock()
	if reply != nil {
		reply(Reply{Code: engine.ErrConflict, Err: "scale " + msg})
	}
	return true
}

// do carries out one action. Nothing here blocks: what can, the OS runs
// elsewhere and reports as an event.
func (d *Driver) do(a *engine.Action) {
	h := a.H
	switch a.Kind {
	case engine.ActSpawn:
		d.spawn(h, a.Spec)
	case engine.ActSignal:
		if p, ok := d.procs[h]; ok {
			d.os.Signal(h, p, a.Signal, Completion{d: d, h: h, act: a.Kind})
			break
		}
		d.os.Post(engine.Event{Kind: engine.EvDone, H: h, Done: a.Kind, Err: "ESRCH"})
	case engine.ActKill:
		d.os.Kill(h, d.killTarget(h), Completion{d: d, h: h, act: a.Kind})
	case engine.ActStopCommand:
		d.os.StopCommand(h, d.procs[h], a.Spec, Completion{d: d, h: h, act: a.Kind})
	case engine.ActStartTimer:
		d.os.StartTimer(a.Timer, a.At)
	case engine.ActCancelTimer:
		d.os.CancelTimer(a.Timer)
	case engine.ActProbe:
		d.probe(a)
	case engine.ActSample:
		// The OS keeps the batch (it samples asynchronously): a new slice.
		batch := make([]SampleReq, len(a.Samples))
		for i, t := range a.Samples {
			batch[i] = SampleReq{H: t.H, P: d.procs[t.H], Done: Completion{d: d, h: t.H, act: a.Kind}}
		}
		d.os.Sample(batch)
	case engine.ActThrottle:
		err := d.os.Throttle(h, d.procs[h], a.Resource)
		d.os.Post(engine.Event{Kind: engine.EvDone, H: h, Done: a.Kind, Err: errString(err)})
	case engine.ActVerify:
		d.verify(h)
	case engine.ActAdopt:
		d.adopt(h, a.Spec)
	case engine.ActPersist:
		d.dirty = d.dirty || !d.flushedInStep
	case engine.ActReply:
		// Answered after the batch's state write: an acknowledged stop
		// or scale survives an hsu crash.
		d.answers = append(d.answers, answer{a.CmdID, a.Err, a.Code})
	case engine.ActTransition:
		d.changed = true
		// Every replica's stopped -> pending at every start is noise at
		// info level: debug only.
		level, on := slog.LevelInfo, d.info
		if a.From == engine.Stopped && a.To == engine.Pending && a.Reason.Kind == engine.RDefined {
			level, on = slog.LevelDebug, d.debug
		}
		if d.feed == nil && !on {
			break
		}
		reason := a.Reason.String() // formatted once, for the feed and the log
		if d.feed != nil {
			d.feedTransition(a, reason)
		}
		if on {
			d.log.Log(context.Background(), level, fmt.Sprintf("%s-%d %s -> %s", h.Worker, h.Replica, a.From, a.To), "reason", reason)
		}
	case engine.ActNotice:
		if d.feed != nil {
			d.feedNotice(a)
		}
		if !d.info {
			break
		}
		if h.Worker == "" {
			d.log.Info(a.Reason.String())
			break
		}
		d.log.Info(fmt.Sprintf("%s-%d %s", h.Worker, h.Replica, a.Reason))
	case engine.ActExit:
		if d.info {
			d.log.Info("every worker stopped")
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// killTarget is the process a kill of h names. A recovered instance not
// verified yet (the engine kills it by handle: removed, or scaled away,
// while hsu was down) is named by its recorded PID once Verify confirms
// it, so that without a cgroup the kill still finds its group.
func (d *Driver) killTarget(h engine.Handle) Proc {
	if p, ok := d.procs[h]; ok {
		return p
	}
	if p, ok := d.recovered[h]; ok {
		delete(d.recovered, h)
		if d.os.Verify(p) {
			return p
		}
	}
	return Proc{}
}

// spawn queues an instance to start with the rest of the batch's
// (runSpawns): one write-ahead record covers them all, and the OS may
// start them in parallel. Nothing in the batch misses it: the engine acts
// on a spawning instance only once its EvSpawned has come.
func (d *Driver) spawn(h engine.Handle, spec *config.Worker) {
	d.pending = append(d.pending, SpawnReq{H: h, Spec: spec})
}

// runSpawns starts the queued spawns: after the write-ahead record that
// names every one of them, all at once (the OS may run them in
// parallel), and then, where no cgroup finds an instance by its handle,
// after a second write with their PIDs, lets them run.
func (d *Driver) runSpawns() {
	if len(d.pending) == 0 {
		return
	}
	// The exits and ready lines are reported only after EvSpawned is
	// posted: the engine ignores both for an instance still spawning.
	spawned := make(chan struct{})
	defer close(spawned)
	batch := d.pending[:0]
	for _, r := range d.pending {
		h, spec := r.H, r.Spec
		r.Logs = d.sink
		if spec.ReadyLogLine != "" {
			// Both streams watch for the line; the engine ignores a second report.
			r.Logs = readySink{LogSink: d.sink, needle: []byte(spec.ReadyLogLine), fire: func() {
				ready := engine.Event{Kind: engine.EvLogReady, H: h}
				select {
				case <-spawned:
					d.os.Post(ready)
				default:
					// Seen before the batch's spawns are posted: it waits
					// for them in a goroutine of its own, since fire runs
					// in the output loop every instance shares.
					go func() { <-spawned; d.os.Post(ready) }()
				}
			}}
		}
		if spec.Type == config.TypeIntegrated {
			l, err := d.listener(h, spec)
			if err != nil {
				d.log.Error("listen", "instance", InstKey(h), "err", err)
				d.os.Post(engine.Event{Kind: engine.EvSpawnFailed, H: h, Err: ErrnoName(err)})
				continue
			}
			addr := l.Addr()
			port := addr[strings.LastIndexByte(addr, ':')+1:]
			r.Ln = l
			r.Env = []string{"LISTEN_FDS=1", "LISTEN_FDNAMES=hsu", "HSU_LISTEN=" + addr, "HSU_PORT=" + port}
		}
		r.Exited = func(st ExitStatus) { <-spawned; d.exited(h, st) }
		batch = append(batch, r)
	}
	if d.dirty {
		d.flush() // write-ahead: the record of the instances precedes them
	}
	d.os.Spawn(batch)
	held := !d.os.FindsByHandle()
	for i := range batch {
		r := &batch[i]
		if r.Err != nil {
			d.log.Error("spawn failed", "instance", InstKey(r.H), "err", r.Err)
			continue
		}
		d.procs[r.H] = r.Proc
		// The PIDs and start times go into the batch's write. Without a
		// cgroup an instance cannot be found by its handle alone: it is
		// held until its PID is on record, so a crash before the write
		// leaves only a process that exits without running.
		d.pidsDirty = true
		if held {
			d.held = append(d.held, r.H)
		}
	}
	if held {
		d.flush()
	}
	for i := range batch {
		r := &batch[i]
		if r.Err != nil {
			d.os.Post(engine.Event{Kind: engine.EvSpawnFailed, H: r.H, Err: ErrnoName(r.Err)})
		} else {
			d.os.Post(engine.Event{Kind: engine.EvSpawned, H: r.H, PID: r.Proc.PID})
		}
	}
	clear(d.pending) // nothing of this batch is kept alive by the queue
	d.pending = d.pending[:0]
}

// exited reports an instance's end. A death by signal has code -1 in
// every world, as Go's os.ProcessState reports it.
func (d *Driver) exited(h engine.Handle, st ExitStatus) {
	if st.Signal != "" {
		st.Code = -1
	}
	d.os.Post(engine.Event{Kind: engine.EvExited, H: h, Code: st.Code, Signal: st.Signal, OOM: st.OOM})
}

// verify checks a recovered instance and, if it is still the process hsu
// started, follows it.
func (d *Driver) verify(h engine.Handle) {
	p, ok := d.recovered[h]
	delete(d.recovered, h)
	ok = ok && d.os.Verify(p)
	if ok {
		d.procs[h] = p
		if err := d.os.Watch(h, p, func(st ExitStatus) { d.exited(h, st) }); err != nil {
			d.log.Error("watch", "instance", InstKey(h), "err", err)
			delete(d.procs, h)
			ok = false
		}
	}
	d.os.Post(engine.Event{Kind: engine.EvVerified, H: h, OK: ok})
}

// adopt looks for an unmanaged worker's process: the pidfile or the
// /proc and socket scans of discover run in the OS, off the driver's
// goroutine, and come back as EvAdopted (Completion.Found).
func (d *Driver) adopt(h engine.Handle, spec *config.Worker) {
	d.os.Find(h, spec, Completion{d: d, h: h, act: engine.ActAdopt})
}

func (d *Driver) probe(a *engine.Action) {
	pr := d.eng.Probe(a.H.Worker, a.Probe)
	if pr == nil {
		return
	}
	if d.feed != nil {
		d.probes.start(a.H, a.Probe, d.os.Now())
	}
	t := probe.Target{PID: a.PID, Dir: a.Spec.Workdir}
	if len(d.addrs) > 0 {
		t.Listen = d.addrs[ReplicaKey(a.H)]
	}
	d.os.Probe(a.H, pr, t, Completion{d: d, h: a.H, act: a.Kind, probe: a.Probe})
}

// flush writes the state file if it is behind the engine or the spawns.
//
// A write that fails (a full, read-only or failing disk) is never
// swallowed: hsu is degraded until a write succeeds, says so once when
// writes start failing and once when they work again, retries every
// retryWrite, holds command replies (a reply promises the change
// survives a crash) and keeps held spawns from running (only a recorded
// PID finds them after a crash).
func (d *Driver) flush() {
	if !d.dirty && !d.pidsDirty {
		return
	}
	d.dirty, d.pidsDirty, d.flushedInStep = false, false, true
	if err := d.store.Write(d.build); err != nil {
		d.dirty = true // retried: at the next batch, or when the retry timer fires
		d.failures++
		d.writeFailures.Add(1)
		if !d.writeFailing {
			d.writeFailing, d.failingSince = true, d.os.Now()
			d.degraded.Store(true)
			d.log.Error("state file writes are failing: hsu is degraded; replies to commands, and the start of instances no cgroup finds, wait until a write succeeds", "err", err)
			if d.feed != nil {
				d.feed.Add(FeedEvent{At: d.os.Now(), Kind: FeedDegraded, Reason: "state file writes are failing", Error: err.Error()}, false)
			}
		}
		if !d.retryArmed {
			d.retryArmed = true
			d.os.StartTimer(engine.TimerRef{ID: retryTimerID}, d.os.Now()+retryWrite)
		}
		return
	}
	if d.writeFailing {
		d.log.Info("state file writes work again: hsu is no longer degraded", "failed_writes", d.failures, "for", (d.os.Now() - d.failingSince).String())
		if d.feed != nil {
			d.feed.Add(FeedEvent{At: d.os.Now(), Kind: FeedRecovered, Reason: "state file writes work again", Value: int64(d.failures)}, false)
		}
		d.writeFailing, d.failures = false, 0
		d.degraded.Store(false)
	}
	d.releaseHeld()
}

// retryTimerID names the driver's own timer that retries a failed state
// write; the engine numbers its timers from 1.
const retryTimerID = 0

// retryWrite is how often a failed state write is retried when nothing
// else happens.
const retryWrite = time.Second

// Degraded reports whether the state file cannot be written at the
// moment; safe from any goroutine.
func (d *Driver) Degraded() bool { return d.degraded.Load() }

// releaseHeld lets the held instances, whose PIDs are now written, run.
func (d *Driver) releaseHeld() {
	for _, h := range d.held {
		if p, ok := d.procs[h]; ok {
			d.os.Release(h, p)
		}
	}
	d.held = d.held[:0]
}

// state is what the state file must hold now.
func (d *Driver) state() *State {
	sv := d.eng.Save()
	st := &State{Version: StateVersion, BootID: d.os.BootID(), Saved: sv, Starts: map[string]int64{}}
	if len(d.addrs) > 0 {
		st.Listen = maps.Clone(d.addrs) // the state outlives this call
	}
	for i, r := range sv.Instances {
		p, ok := d.procs[r.H]
		if !ok {
			continue
		}
		if r.PID == 0 && r.State == engine.Starting {
			// Started, but EvSpawned is still in the inbox: record the
			// process now, so the next hsu adopts it instead of starting
			// a duplicate.
			sv.Instances[i].PID, sv.Instances[i].State = p.PID, engine.Running
		}
		st.Starts[InstKey(r.H)] = p.StartTime
	}
	return st
}

func itoa(i int) string    { return strconv.Itoa(i) }
func utoa(u uint64) string { return strconv.FormatUint(u, 10) }
