// Package osadapters runs the engine on the real operating system: the
// driver turns engine actions into processes, signals, timers, probes and
// state-file writes, and feeds their completions back as events. Only the
// driver goroutine steps the engine; everything slow runs in goroutines
// that post completion events to its inbox.
package osadapters

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/engine"
	"github.com/hsu-run/hsu/probe"
)

// ExitStatus is how an instance ended.
type ExitStatus struct {
	Code   int
	Signal string // "" unless killed by a signal
	OOM    bool
}

// LogSink receives workers' output (logs.Hub implements it).
type LogSink interface {
	// Writer returns where one instance's stream goes: bytes written are
	// routed line by line, Close routes a last line without newline.
	Writer(worker string, replica int, stream string) io.WriteCloser
}

// System is the driver's view of the operating system.
type System interface {
	// Spawn starts an instance with its output going to logs. exited is
	// called once, after the process has exited, the rest of its group
	// and cgroup has been killed and its output drained.
	// files become the child's descriptors 3, 4, ... (socket handover).
	Spawn(h engine.Handle, spec *config.Worker, env []string, files []*os.File, logs LogSink, exited func(ExitStatus)) (Proc, error)
	// Watch follows a process hsu did not start (recovered after an hsu
	// restart, or adopted): exited is called when it is gone.
	Watch(h engine.Handle, p Proc, exited func(ExitStatus)) error
	// Signal sends sig to the instance's process group.
	Signal(p Proc, sig string) error
	// Kill SIGKILLs everything of the instance (group and cgroup) and
	// returns once it is all gone, or the deadline passed.
	Kill(h engine.Handle, p Proc) error
	// Verify reports whether p is still the process that was started.
	Verify(p Proc) bool
	// Find locates an unmanaged worker's process (pidfile or discover).
	Find(spec *config.Worker) (Proc, error)
	// Sample measures an instance's whole tree.
	Sample(h engine.Handle, p Proc) (engine.Usage, error)
	// BootID identifies this boot, so PIDs from a previous boot are never trusted.
	BootID() string
}

// Proc identifies a process beyond its PID: a PID plus its start time.
type Proc struct {
	PID       int
	StartTime int64 // clock ticks since boot (Linux), 0 where unknown
	// Group: hsu made it a process-group leader (a managed instance), so
	// signals and kills go to the group. An adopted unmanaged process is
	// signalled alone and never killed with a group it may share.
	Group bool
}

// adoptLogs receives the output of instances re-adopted after an hsu
// restart (their FIFOs are reopened); the CLI sets it.
var adoptLogs LogSink

// SetAdoptedLogs routes the output of re-adopted instances.
func SetAdoptedLogs(l LogSink) { adoptLogs = l }

// Options configures a driver.
type Options struct {
	StateDir string // where the state file lives
	Logger   *slog.Logger
	Logs     LogSink
	Seed     uint64 // jitter source; 0 picks one
}

// Driver steps the engine on the real OS.
type Driver struct {
	eng    *engine.Engine
	cfg    *config.Config
	sys    System
	opt    Options
	inbox  *queue
	start  time.Time
	log    *slog.Logger
	timers map[uint64]*time.Timer
	procs  map[engine.Handle]Proc // live instances as the driver knows them
	// recovered are the state file's instances until they are verified.
	recovered map[engine.Handle]Proc
	// listeners are the sockets hsu binds for integrated workers, one per
	// replica, kept across restarts so the address never changes and no
	// other process can take the port in between.
	listeners map[string]*net.TCPListener
	// addrs are the listeners' addresses, also those of instances
	// re-adopted from a previous hsu (their socket lives only in the
	// worker): probes use them, and a restart binds the same address.
	addrs  map[string]string
	status atomic.Pointer[engine.Status]
	// dirty: the state file is behind the engine (an ActPersist since the
	// last write). Writes are coalesced: once per inbox batch, and before
	// a spawn, so the write-ahead record always precedes the process.
	// flushedInStep: the file was written during this step's actions, so it
	// holds the engine's state after the step: the step's later
	// ActPersists ask for nothing new (a cold start is one write, not 100).
	// pidsDirty: spawned PIDs not yet written (not urgent where instances
	// can be found by handle: written with the batch).
	dirty, flushedInStep, pidsDirty bool

	answers []answer // command replies held until the state is written

	// busy counts events since memory was last handed back to the OS;
	// trim does that once a burst (a cold start, a mass restart) is over.
	busy int
	trim *time.Timer

	mu      sync.Mutex
	replies map[uint64]chan string
	nextCmd atomic.Uint64
	state   *stateStore
}

type answer struct {
	id  uint64
	err string
}

// answer sends the held command replies.
func (d *Driver) answer() {
	for _, a := range d.answers {
		d.mu.Lock()
		ch := d.replies[a.id]
		delete(d.replies, a.id)
		d.mu.Unlock()
		if ch != nil {
			ch <- a.err
		}
	}
	d.answers = d.answers[:0]
}

// NewDriver prepares a driver for cfg.
func NewDriver(cfg *config.Config, sys System, opt Options) *Driver {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	seed := opt.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	d := &Driver{
		eng: engine.New(cfg, rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))),
		cfg: cfg, sys: sys, opt: opt, inbox: newQueue(), log: opt.Logger,
		timers: map[uint64]*time.Timer{}, procs: map[engine.Handle]Proc{}, replies: map[uint64]chan string{},
		listeners: map[string]*net.TCPListener{}, recovered: map[engine.Handle]Proc{}, addrs: map[string]string{},
		state: newStateStore(opt.StateDir),
	}
	d.status.Store(d.eng.Snapshot())
	return d
}

// Status returns the latest published status; safe from any goroutine.
func (d *Driver) Status() *engine.Status { return d.status.Load() }

// Command sends a command and waits for the engine's answer ("" is ok).
func (d *Driver) Command(ctx context.Context, c engine.Command) error {
	c.ID = d.nextCmd.Add(1)
	ch := make(chan string, 1)
	d.mu.Lock()
	d.replies[c.ID] = ch
	d.mu.Unlock()
	d.inbox.post(engine.Event{Kind: engine.EvCommand, Cmd: c})
	select {
	case err := <-ch:
		if err != "" {
			return fmt.Errorf("%s %s: %s", c.Verb, c.Worker, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Reload hands the engine a new, already validated config.
func (d *Driver) Reload(cfg *config.Config) {
	d.inbox.post(engine.Event{Kind: engine.EvReload, Config: cfg})
}

// Run supervises until a shutdown completes or ctx ends (then it stops
// without stopping the workers, as a crash would: they are re-adopted by
// the next hsu).
func (d *Driver) Run(ctx context.Context) error {
	if err := os.MkdirAll(d.opt.StateDir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	saved, err := d.recover()
	if err != nil {
		return err
	}
	d.start = time.Now()
	d.step(engine.Event{Kind: engine.EvStart, Saved: saved})
	d.flush()
	d.answer()
	var batch []engine.Event
	for !d.eng.Done() {
		select {
		case <-ctx.Done():
			d.stopTimers()
			return ctx.Err()
		case <-d.inbox.notify:
		}
		if cap(batch) > 256 {
			batch = nil // a burst's batch is not kept
		}
		batch = d.inbox.drain(batch)
		for _, ev := range batch {
			d.step(ev)
			if d.eng.Done() {
				break
			}
		}
		d.closeUnwantedListeners()
		d.flush()
		d.answer()
		d.trimAfterBurst(len(batch))
	}
	d.stopTimers()
	d.state.remove() // a clean shutdown leaves nothing to adopt
	if c, ok := d.sys.(io.Closer); ok {
		c.Close()
	}
	return nil
}

// trimAfterBurst returns the heap a burst of work freed to the OS once
// things have been quiet for a while: Go's scavenger alone keeps a few
// MiB of a cold start's garbage resident for good, which is half of an
// idle hsu's anonymous memory.
func (d *Driver) trimAfterBurst(events int) {
	const burst, quiet = 100, 5 * time.Second
	d.busy += events
	if d.busy < burst {
		return
	}
	if d.trim == nil {
		d.trim = time.AfterFunc(quiet, debug.FreeOSMemory)
	} else {
		d.trim.Reset(quiet)
	}
	d.busy = 0
}

func (d *Driver) stopTimers() {
	if d.trim != nil {
		d.trim.Stop()
	}
	for id, t := range d.timers { // order-free: stops all
		t.Stop()
		delete(d.timers, id)
	}
	for k, l := range d.listeners { // order-free: closes all
		l.Close()
		delete(d.listeners, k)
	}
}

// recover reads the previous hsu's state file and keeps only instances
// that are provably the processes it started (same boot, same PID start
// time), so a reused PID is never adopted.
func (d *Driver) recover() (*engine.Saved, error) {
	st, path, err := d.state.read()
	if err != nil || st == nil {
		return nil, err
	}
	saved := st.Saved
	if st.BootID != d.sys.BootID() {
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
			w := d.cfg.Workers[r.H.Worker]
			// Kept apart until verified: a PID from the file may be reused.
			d.recovered[r.H] = Proc{PID: r.PID, StartTime: st.Starts[instKey(r.H)], Group: w == nil || w.Type != config.TypeUnmanaged}
		}
	}
	return &saved, nil
}

func (d *Driver) now() time.Duration { return time.Since(d.start) }

// step applies one event and carries out the actions.
func (d *Driver) step(ev engine.Event) {
	ev.At = d.now()
	d.flushedInStep = false
	if ev.Kind == engine.EvTimer {
		delete(d.timers, ev.Timer.ID) // fired: the engine never cancels it
	}
	acts := d.eng.Step(ev)
	if ev.Kind == engine.EvExited && !d.eng.Alive(ev.H) {
		defer delete(d.procs, ev.H) // after the actions: a cleanup kill may still name it
	}
	changed := false
	for i := range acts {
		if acts[i].Kind == engine.ActTransition {
			changed = true
		}
		d.do(&acts[i])
	}
	for _, b := range d.eng.Bugs {
		d.log.Error("engine bug", "bug", b)
	}
	d.eng.Bugs = d.eng.Bugs[:0]
	if changed || ev.Kind == engine.EvStart || ev.Kind == engine.EvCommand || ev.Kind == engine.EvReload {
		d.status.Store(d.eng.Snapshot())
	}
}

func (d *Driver) post(ev engine.Event) { d.inbox.post(ev) }

// do carries out one action. Anything that can block runs in a goroutine
// that posts its completion.
func (d *Driver) do(a *engine.Action) {
	switch a.Kind {
	case engine.ActSpawn:
		d.spawn(a.H, a.Spec)
	case engine.ActSignal:
		p, ok := d.procs[a.H]
		err := fmt.Errorf("no process")
		if ok {
			err = d.sys.Signal(p, a.Signal)
		}
		d.post(engine.Event{Kind: engine.EvDone, H: a.H, Done: a.Kind, Err: errString(err)})
	case engine.ActKill:
		p := d.procs[a.H]
		h := a.H
		go func() {
			err := d.sys.Kill(h, p)
			d.post(engine.Event{Kind: engine.EvDone, H: h, Done: engine.ActKill, Err: errString(err)})
		}()
	case engine.ActStopCommand:
		d.stopCommand(a.H, a.Spec)
	case engine.ActStartTimer:
		ref := a.Timer
		delay := a.At - d.now()
		d.timers[ref.ID] = time.AfterFunc(max(delay, 0), func() {
			d.post(engine.Event{Kind: engine.EvTimer, Timer: ref})
		})
	case engine.ActCancelTimer:
		if t := d.timers[a.Timer.ID]; t != nil {
			t.Stop()
			delete(d.timers, a.Timer.ID)
		}
	case engine.ActProbe:
		d.runProbe(a)
	case engine.ActSample:
		h, p := a.H, d.procs[a.H]
		go func() {
			u, err := d.sys.Sample(h, p)
			if err != nil {
				// The engine arms the next sample on this completion.
				d.post(engine.Event{Kind: engine.EvDone, H: h, Done: engine.ActSample, Err: err.Error()})
				return
			}
			d.post(engine.Event{Kind: engine.EvSample, H: h, Usage: u})
		}()
	case engine.ActThrottle:
		// Throttles are kernel limits set at the start (a CPU quota, a job
		// rate cap): the action only asks whether one is in force.
		err := fmt.Errorf("%s throttling is not implemented on this platform", a.Resource)
		if t, ok := d.sys.(interface {
			Throttling(engine.Handle, string) error
		}); ok {
			err = t.Throttling(a.H, a.Resource)
		}
		d.post(engine.Event{Kind: engine.EvDone, H: a.H, Done: a.Kind, Err: errString(err)})
	case engine.ActVerify:
		p, ok := d.recovered[a.H]
		delete(d.recovered, a.H)
		if ok {
			d.procs[a.H] = p
		}
		okv := ok && d.sys.Verify(p)
		if okv {
			h := a.H
			if err := d.sys.Watch(h, p, func(st ExitStatus) { d.exited(h, st) }); err != nil {
				okv = false
			}
		}
		if !okv {
			delete(d.procs, a.H)
		}
		d.post(engine.Event{Kind: engine.EvVerified, H: a.H, OK: okv})
	case engine.ActAdopt:
		d.adopt(a.H, a.Spec)
	case engine.ActPersist:
		d.dirty = d.dirty || !d.flushedInStep
	case engine.ActReply:
		// Answered after the batch's state write: an acknowledged stop
		// or scale survives an hsu crash.
		d.answers = append(d.answers, answer{a.CmdID, a.Err})
	case engine.ActTransition:
		d.log.Info(fmt.Sprintf("%s-%d %s -> %s", a.H.Worker, a.H.Replica, a.From, a.To), "reason", a.Reason.String())
	case engine.ActNotice:
		if a.H.Worker == "" {
			d.log.Info(a.Reason.String())
			break
		}
		d.log.Info(fmt.Sprintf("%s-%d %s", a.H.Worker, a.H.Replica, a.Reason))
	case engine.ActExit:
		d.log.Info("every worker stopped")
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// spawn starts an instance now, in the driver goroutine, so its PID is
// known before any later action of the same step.
func (d *Driver) spawn(h engine.Handle, spec *config.Worker) {
	env, err := workerEnv(spec, h)
	if err != nil {
		d.log.Error("environment", "instance", instKey(h), "err", err)
		d.post(engine.Event{Kind: engine.EvSpawnFailed, H: h, Err: "EINVAL"})
		return
	}
	// The exit and the ready line are reported only after EvSpawned is in
	// the inbox: the engine ignores both for an instance still spawning.
	spawned := make(chan struct{})
	defer close(spawned)
	var sink LogSink = d.opt.Logs
	if spec.ReadyLogLine != "" && sink != nil {
		// Both streams watch for the line; the engine ignores a second report.
		sink = readySink{LogSink: sink, needle: []byte(spec.ReadyLogLine), fire: func() {
			<-spawned
			d.post(engine.Event{Kind: engine.EvLogReady, H: h})
		}}
	}
	var files []*os.File
	if spec.Type == config.TypeIntegrated {
		f, addr, err := d.listener(h, spec)
		if err != nil {
			d.log.Error("listen", "instance", instKey(h), "err", err)
			d.post(engine.Event{Kind: engine.EvSpawnFailed, H: h, Err: errnoName(err)})
			return
		}
		files = []*os.File{f}
		_, port, _ := net.SplitHostPort(addr)
		env = append(env, "LISTEN_FDS=1", "LISTEN_FDNAMES=hsu", "HSU_LISTEN="+addr, "HSU_PORT="+port)
	}
	if d.dirty {
		d.flush() // write-ahead: the record of the instance precedes it
	}
	p, err := d.sys.Spawn(h, spec, env, files, sink, func(st ExitStatus) { <-spawned; d.exited(h, st) })
	for _, f := range files {
		f.Close() // the child has its copy
	}
	if err != nil {
		d.log.Error("spawn failed", "instance", instKey(h), "err", err)
		d.post(engine.Event{Kind: engine.EvSpawnFailed, H: h, Err: errnoName(err)})
		return
	}
	d.procs[h] = p
	// The PID and its start time go into the next write (the next spawn's
	// or the batch's). Without a cgroup an instance cannot be found by its
	// handle alone, so then they are written at once.
	d.pidsDirty = true
	if c, ok := d.sys.(interface{ FindsByHandle() bool }); !ok || !c.FindsByHandle() {
		d.flush()
	}
	d.post(engine.Event{Kind: engine.EvSpawned, H: h, PID: p.PID})
}

// exited runs in a watcher goroutine.
func (d *Driver) exited(h engine.Handle, st ExitStatus) {
	d.post(engine.Event{Kind: engine.EvExited, H: h, Code: st.Code, Signal: st.Signal, OOM: st.OOM})
}

// flush writes the state file if it is behind the engine or the spawns.
func (d *Driver) flush() {
	if !d.dirty && !d.pidsDirty {
		return
	}
	d.dirty, d.pidsDirty, d.flushedInStep = false, false, true
	sv := d.eng.Save()
	st := &stateFile{Version: stateVersion, BootID: d.sys.BootID(), Saved: sv, Starts: map[string]int64{}, Listen: d.addrs}
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
		st.Starts[instKey(r.H)] = p.StartTime
	}
	if err := d.state.write(st); err != nil {
		d.log.Error("persist", "err", err)
	}
}

func (d *Driver) runProbe(a *engine.Action) {
	pr := d.eng.Probe(a.H.Worker, a.Probe)
	if pr == nil {
		return
	}
	h, kind, spec := a.H, a.Probe, a.Spec
	t := probe.Target{PID: a.PID, Dir: spec.Workdir}
	t.Listen = d.addrs[replicaKey(h)]
	go func() {
		err := probe.Run(context.Background(), pr, t)
		if err != nil {
			d.log.Debug("probe failed", "instance", instKey(h), "probe", kind.String(), "err", err)
		}
		d.post(engine.Event{Kind: engine.EvProbe, H: h, Probe: kind, OK: err == nil})
	}()
}

// adopt finds an unmanaged worker's process. It runs in the driver
// goroutine (a pidfile read or a /proc scan) so the PID is recorded before
// any later action.
func (d *Driver) adopt(h engine.Handle, spec *config.Worker) {
	adopted := make(chan struct{})
	defer close(adopted) // the exit is reported after EvAdopted
	p, err := d.sys.Find(spec)
	if err == nil {
		err = d.sys.Watch(h, p, func(st ExitStatus) { <-adopted; d.exited(h, st) })
	}
	if err != nil {
		d.post(engine.Event{Kind: engine.EvAdopted, H: h, Err: err.Error()})
		return
	}
	d.procs[h] = p
	d.post(engine.Event{Kind: engine.EvAdopted, H: h, OK: true, PID: p.PID})
}

// listener returns the socket of an integrated worker's replica (a dup
// for the child; hsu keeps its own) and its address.
func (d *Driver) listener(h engine.Handle, spec *config.Worker) (*os.File, string, error) {
	key := replicaKey(h)
	l := d.listeners[key]
	if l != nil && !sameListen(spec.Listen, l.Addr().String()) {
		l.Close() // listen changed by a reload
		delete(d.listeners, key)
		delete(d.addrs, key)
		l = nil
	}
	if l == nil {
		// The address a previous instance had (possibly one re-adopted
		// from a previous hsu, whose port was ephemeral) is kept if free.
		var ln net.Listener
		err := fmt.Errorf("no address")
		if a := d.addrs[key]; a != "" && sameListen(spec.Listen, a) {
			ln, err = net.Listen("tcp", a)
		}
		if err != nil {
			if ln, err = net.Listen("tcp", spec.Listen); err != nil {
				return nil, "", fmt.Errorf("listen %s: %w", spec.Listen, err)
			}
		}
		l = ln.(*net.TCPListener)
		d.listeners[key] = l
		d.addrs[key] = l.Addr().String()
		d.dirty = true
	}
	f, err := l.File()
	if err != nil {
		return nil, "", fmt.Errorf("listen %s: %w", spec.Listen, err)
	}
	return f, l.Addr().String(), nil
}

func replicaKey(h engine.Handle) string { return fmt.Sprintf("%s-%d", h.Worker, h.Replica) }

// sameListen reports whether a bound address satisfies a listen setting:
// same host, and the same port unless the setting asks for any (0).
func sameListen(want, bound string) bool {
	wh, wp, err1 := net.SplitHostPort(want)
	bh, bp, err2 := net.SplitHostPort(bound)
	if err1 != nil || err2 != nil {
		return false
	}
	sameHost := wh == bh || (wh == "" && (bh == "::" || bh == "0.0.0.0")) ||
		(wh == "localhost" && (bh == "127.0.0.1" || bh == "::1"))
	return sameHost && (wp == "0" || wp == bp)
}

// closeUnwantedListeners closes the sockets, and forgets the addresses,
// of replicas that no longer exist (worker removed or scaled down, or no
// longer integrated).
func (d *Driver) closeUnwantedListeners() {
	for key := range d.addrs { // order-free: each is judged alone
		i := strings.LastIndexByte(key, '-')
		worker := key[:i]
		replica, _ := strconv.Atoi(key[i+1:])
		spec := d.eng.Spec(worker)
		if spec == nil || spec.Type != config.TypeIntegrated || replica > d.eng.Desired(worker) {
			if l := d.listeners[key]; l != nil {
				l.Close()
				delete(d.listeners, key)
			}
			delete(d.addrs, key)
			d.dirty = true
		}
	}
}

// stopCommand runs the worker's stop command for an instance, with
// HSU_PID naming the process to stop; the engine's stop timeout still
// applies to the instance.
func (d *Driver) stopCommand(h engine.Handle, spec *config.Worker) {
	p := d.procs[h]
	env, err := workerEnv(spec, h)
	if err != nil {
		d.post(engine.Event{Kind: engine.EvDone, H: h, Done: engine.ActStopCommand, Err: err.Error()})
		return
	}
	env = append(env, fmt.Sprintf("HSU_PID=%d", p.PID))
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), max(spec.Stop.Timeout.D(), time.Second))
		defer cancel()
		cmd := exec.CommandContext(ctx, spec.Stop.Command[0], spec.Stop.Command[1:]...)
		cmd.Env, cmd.Dir = env, spec.Workdir
		cmd.WaitDelay = time.Second
		out, err := cmd.CombinedOutput()
		if err != nil {
			err = fmt.Errorf("stop command: %w: %s", err, lastBytes(out, 200))
		}
		d.post(engine.Event{Kind: engine.EvDone, H: h, Done: engine.ActStopCommand, Err: errString(err)})
	}()
}

func lastBytes(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// KillAll SIGKILLs every instance the driver knows (a second Ctrl-C).
// Call it only after Run has returned.
func (d *Driver) KillAll() {
	for h, p := range d.procs { // order-free: every one is killed
		if p.Group { // never an adopted unmanaged process
			d.sys.Kill(h, p)
		}
	}
}

// DefaultStateDir is $XDG_RUNTIME_DIR/hsu, /run/hsu as root, else a
// per-user directory under the system temp dir; %LOCALAPPDATA%\hsu on
// Windows.
func DefaultStateDir() string {
	if runtime.GOOS == "windows" {
		if d := os.Getenv("LOCALAPPDATA"); d != "" {
			return filepath.Join(d, "hsu")
		}
		return filepath.Join(os.TempDir(), "hsu")
	}
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" {
		return filepath.Join(x, "hsu")
	}
	if os.Geteuid() == 0 {
		return "/run/hsu"
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("hsu-%d", os.Geteuid()))
}
