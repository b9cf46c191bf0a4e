// Package osadapters runs hsu on the real operating system: World is the
// shared driver's OS (driver.OS) on Linux, macOS and Windows. Processes,
// signals, probes, samples and timers run here; everything slow runs in
// goroutines that post their completion to the driver's inbox, so the
// driver goroutine, the only one that steps the engine, never blocks.
package osadapters

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/driver"
	"github.com/hsu-run/hsu/engine"
	"github.com/hsu-run/hsu/osadapters/errno"
	"github.com/hsu-run/hsu/osadapters/statefile"
	"github.com/hsu-run/hsu/probe"
)

// The driver's types, which the platform code fills in.
type (
	ExitStatus = driver.ExitStatus
	Proc       = driver.Proc
	LogSink    = driver.LogSink
)

// System is one platform's process calls (Unix, Windows); World adapts it
// to the driver.
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

// Options configures a driver on the real OS.
type Options struct {
	StateDir string // where the state file lives
	Logger   *slog.Logger
	Logs     LogSink
	Seed     uint64 // jitter source; 0 picks one
}

// World is the real OS as the driver sees it.
type World struct {
	sys   System
	log   *slog.Logger
	inbox *queue
	start time.Time

	mu     sync.Mutex
	timers map[uint64]*time.Timer

	sigOnce sync.Once
	sigs    []chan sigReq // the signallers' queues (Signal)

	sampleMu sync.Mutex
	sampleQ  [][]driver.SampleReq
	sampling bool // a sampler goroutine runs
	// sampleEvs is the sampler's event slice, kept between ticks.
	sampleEvs []engine.Event
}

// Driver is the shared driver running on the real OS.
type Driver struct {
	*driver.Driver
	w     *World
	dir   string
	store *statefile.Store

	// busy counts events since memory was last handed back to the OS;
	// trim does that once a burst (a cold start, a mass restart) is over.
	busy int
	trim *time.Timer

	// lag is how long the last batch's oldest event waited until it was
	// handled (hsu_loop_lag_seconds); progress counts batches (the
	// systemd watchdog is pinged only while it moves).
	lag      atomic.Int64
	progress atomic.Uint64
	started  chan struct{}
}

// Started is closed once recovery and re-adoption are done and the first
// start pass has run (systemd's READY=1).
func (d *Driver) Started() <-chan struct{} { return d.started }

// Wall turns a world time (Status.At, Since, ...) into wall-clock time.
func (d *Driver) Wall(at time.Duration) time.Time { return d.w.start.Add(at) }

// LoopLag is how long the last batch's oldest event waited to be handled.
func (d *Driver) LoopLag() time.Duration { return time.Duration(d.lag.Load()) }

// Progress counts the batches handled so far.
func (d *Driver) Progress() uint64 { return d.progress.Load() }

// Wake posts nothing but makes the loop run a batch (the watchdog's
// proof of progress).
func (d *Driver) Wake() { d.w.inbox.postAll(nil) }

// NewDriver prepares the driver for cfg on sys.
func NewDriver(cfg *config.Config, sys System, opt Options) *Driver {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if s, ok := sys.(interface{ SetAdoptedLogs(LogSink) }); ok {
		s.SetAdoptedLogs(opt.Logs)
	}
	w := &World{sys: sys, log: opt.Logger, inbox: newQueue(), start: time.Now(), timers: map[uint64]*time.Timer{}}
	store := statefile.Open(opt.StateDir)
	d := driver.New(cfg, w, store, driver.Options{Logger: opt.Logger, Logs: opt.Logs, Seed: opt.Seed, Publish: true})
	return &Driver{Driver: d, w: w, dir: opt.StateDir, store: store, started: make(chan struct{})}
}

// Run supervises until a shutdown completes or ctx ends (then it stops
// without stopping the workers, as a crash would: they are re-adopted by
// the next hsu).
func (d *Driver) Run(ctx context.Context) error {
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	if err := d.Start(); err != nil {
		return err
	}
	close(d.started)
	var batch []engine.Event
	for !d.Done() {
		select {
		case <-ctx.Done():
			d.w.stopTimers()
			d.stopTrim()
			return ctx.Err()
		case <-d.w.inbox.notify:
		}
		if !keepBuffer(cap(batch), len(batch)) {
			batch = nil
		}
		var lag time.Duration
		batch, lag = d.w.inbox.drain(batch)
		t0 := time.Now()
		d.Handle(batch)
		d.lag.Store(int64(lag + time.Since(t0)))
		d.progress.Add(1)
		d.trimAfterBurst(busyEvents(batch))
	}
	d.w.stopTimers()
	d.stopTrim()
	d.Finish()
	if c, ok := d.w.sys.(io.Closer); ok {
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

// busyEvents counts the events of a batch that are work, not the steady
// trickle of samples and probes: that trickle alone must not keep
// postponing the trim for ever.
func busyEvents(batch []engine.Event) int {
	n := 0
	for i := range batch {
		switch ev := &batch[i]; {
		case ev.Kind == engine.EvSample, ev.Kind == engine.EvProbe,
			ev.Kind == engine.EvDone && (ev.Done == engine.ActSample || ev.Done == engine.ActProbe),
			ev.Kind == engine.EvTimer && (ev.Timer.Kind == engine.TimerSample || ev.Timer.Kind >= engine.TimerProbe):
		default:
			n++
		}
	}
	return n
}

func (d *Driver) stopTrim() {
	if d.trim != nil {
		d.trim.Stop()
	}
}

// PostAll queues events so that the driver steps them in one batch.
func (w *World) PostAll(evs []engine.Event) { w.inbox.postAll(evs) }

// Now implements driver.OS.
func (w *World) Now() time.Duration { return time.Since(w.start) }

// Post implements driver.OS: completions go to the inbox.
func (w *World) Post(ev engine.Event) { w.inbox.post(ev) }

// StartTimer implements driver.OS.
func (w *World) StartTimer(ref engine.TimerRef, at time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	// Armed under the lock its callback takes, so a timer that fires at
	// once cannot be forgotten before it is recorded.
	w.timers[ref.ID] = time.AfterFunc(max(at-w.Now(), 0), func() {
		w.mu.Lock()
		delete(w.timers, ref.ID)
		w.mu.Unlock()
		w.inbox.post(engine.Event{Kind: engine.EvTimer, Timer: ref})
	})
}

// CancelTimer implements driver.OS.
func (w *World) CancelTimer(ref engine.TimerRef) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if t := w.timers[ref.ID]; t != nil {
		t.Stop()
		delete(w.timers, ref.ID)
	}
}

func (w *World) stopTimers() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, t := range w.timers { // order-free: stops all
		t.Stop()
		delete(w.timers, id)
	}
}

// errnoError carries a syscall error's errno name to the engine.
type errnoError struct{ err error }

func (e errnoError) Error() string     { return e.err.Error() }
func (e errnoError) Unwrap() error     { return e.err }
func (e errnoError) ErrnoName() string { return errno.Name(e.err) }

// Spawn implements driver.OS. A batch's instances start in parallel, two
// per core: each start waits on the kernel (the vfork until the child's
// exec, the cgroup and FIFO files), and another start's preparation fills
// that wait (a cold start of 100 on two cores: 0.23 s, against 0.27 s one
// at a time; docs/BENCHMARKS.md).
func (w *World) Spawn(batch []driver.SpawnReq) {
	if len(batch) == 1 {
		w.spawn(&batch[0]) // a restart: no goroutine between the exit and the new start
		return
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(len(batch), spawnParallel()) {
		wg.Go(func() {
			for i := range next {
				w.spawn(&batch[i])
			}
		})
	}
	for i := range batch {
		next <- i
	}
	close(next)
	wg.Wait()
}

// spawnParallel is how many spawns run at once.
func spawnParallel() int { return 2 * runtime.GOMAXPROCS(0) }

func (w *World) spawn(r *driver.SpawnReq) {
	h, spec := r.H, r.Spec
	env, err := workerEnv(spec, h)
	if err != nil {
		r.Err = fmt.Errorf("environment of %s: %w", instKey(h), driver.Errno("EINVAL"))
		return
	}
	env = append(env, r.Env...)
	var files []*os.File
	if l, ok := r.Ln.(tcpListener); ok {
		f, err := l.File()
		if err != nil {
			r.Err = errnoError{fmt.Errorf("listen %s: %w", l.Addr(), err)}
			return
		}
		defer f.Close() // the child has its copy
		files = []*os.File{f}
	}
	exited := r.Exited
	var ns *notifySock
	if spec.Notify {
		if ns, err = openNotify(h); err != nil {
			r.Err = errnoError{fmt.Errorf("notify socket of %s: %w", instKey(h), err)}
			return
		}
		env = append(env, "NOTIFY_SOCKET="+ns.name)
		orig := r.Exited // r is the driver's batch, reused after Spawn
		exited = func(st ExitStatus) { ns.close(); orig(st) }
	}
	p, err := w.sys.Spawn(h, spec, env, files, r.Logs, exited)
	if err != nil {
		if ns != nil {
			ns.close()
		}
		r.Err = errnoError{err}
		return
	}
	if ns != nil {
		go ns.serve(w, h, p.PID)
	}
	r.Proc = p
}

// Release implements driver.OS: a held instance (no cgroup to find it by)
// may run its program now that its PID is written.
func (w *World) Release(h engine.Handle, p Proc) {
	if r, ok := w.sys.(interface{ Release(engine.Handle, Proc) }); ok {
		r.Release(h, p)
	}
}

// Watch implements driver.OS.
func (w *World) Watch(h engine.Handle, p Proc, exited func(ExitStatus)) error {
	return w.sys.Watch(h, p, exited)
}

// Signal implements driver.OS: sent by one of the World's signaller
// goroutines, the same one for every signal of a replica, so they arrive
// in the order asked (STOP then CONT stays so). A kill wakes the
// processes it signals, and on a busy machine they take the CPU before the
// next kill is sent: a shutdown signalling 1000 instances one after
// another on the driver goroutine took 0.5 s to send the last signal.
func (w *World) Signal(h engine.Handle, p Proc, sig string, done driver.Completion) {
	w.sigOnce.Do(func() {
		w.sigs = make([]chan sigReq, spawnParallel())
		for i := range w.sigs {
			ch := make(chan sigReq, 256)
			w.sigs[i] = ch
			go func() {
				for r := range ch {
					r.done.Done(w.sys.Signal(r.p, r.sig))
				}
			}()
		}
	})
	shard := crc32.ChecksumIEEE([]byte(h.Worker)) + uint32(h.Replica)
	w.sigs[shard%uint32(len(w.sigs))] <- sigReq{p, sig, done}
}

// sigReq is a signal for the signaller goroutine to send.
type sigReq struct {
	p    Proc
	sig  string
	done driver.Completion
}

// Kill implements driver.OS: the kill waits for the group and cgroup to
// empty, so it runs off the driver goroutine.
func (w *World) Kill(h engine.Handle, p Proc, done driver.Completion) {
	go func() { done.Done(w.sys.Kill(h, p)) }()
}

// StopCommand implements driver.OS: the worker's stop command, with
// HSU_PID naming the process to stop; the engine's stop timeout still
// applies to the instance.
func (w *World) StopCommand(h engine.Handle, p Proc, spec *config.Worker, done driver.Completion) {
	env, err := workerEnv(spec, h)
	if err != nil {
		done.Done(err)
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
		done.Done(err)
	}()
}

func lastBytes(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// Probe implements driver.OS.
func (w *World) Probe(h engine.Handle, pr *config.Probe, t probe.Target, done driver.Completion) {
	go func() {
		err := probe.Run(context.Background(), pr, t)
		if err != nil {
			w.log.Debug("probe failed", "instance", instKey(h), "err", err)
		}
		done.Done(err)
	}()
}

// Sample implements driver.OS.
//
// Samples are taken one after another by one sampler goroutine: every
// instance is sampled, and a goroutine (and its stack) per sample of 100
// instances due at the same tick was 2 MiB of idle memory.
func (w *World) Sample(batch []driver.SampleReq) {
	w.sampleMu.Lock()
	w.sampleQ = append(w.sampleQ, batch)
	if !w.sampling {
		w.sampling = true
		go w.sampler()
	}
	w.sampleMu.Unlock()
}

// sampler takes the queued ticks until none is left, then ends (the next
// Sample starts it again): nothing runs between ticks. A tick's samples
// reach the driver together, as one batch.
func (w *World) sampler() {
	// One sampler runs at a time (sampling), so its event slice outlives
	// it: a tick of 1000 instances does not make a new one each second.
	w.sampleMu.Lock()
	evs := w.sampleEvs
	w.sampleMu.Unlock()
	for {
		w.sampleMu.Lock()
		if len(w.sampleQ) == 0 {
			w.sampling = false
			w.sampleQ = nil
			w.sampleEvs = evs[:0]
			w.sampleMu.Unlock()
			return
		}
		batch := w.sampleQ[0]
		w.sampleQ = w.sampleQ[1:]
		w.sampleMu.Unlock()
		evs = evs[:0]
		if p, ok := w.sys.(interface{ PrepareSamples() }); ok {
			p.PrepareSamples() // one pass over /proc per tick, not per instance
		}
		for _, r := range batch {
			u, err := w.sys.Sample(r.H, r.P)
			evs = append(evs, r.Done.SampleEvent(u, err))
		}
		w.inbox.postAll(evs) // copied: evs is free again
		clear(evs)
	}
}

// Throttle implements driver.OS: throttles are kernel limits set at the
// start (a CPU quota, a job rate cap), so this only asks whether one is in
// force.
func (w *World) Throttle(h engine.Handle, _ Proc, resource string) error {
	if t, ok := w.sys.(interface {
		Throttling(engine.Handle, string) error
	}); ok {
		return t.Throttling(h, resource)
	}
	return fmt.Errorf("%s throttling is not implemented on this platform", resource)
}

// Verify implements driver.OS.
func (w *World) Verify(p Proc) bool { return w.sys.Verify(p) }

// Find implements driver.OS.
func (w *World) Find(_ engine.Handle, spec *config.Worker, done driver.Completion) {
	go func() { done.Found(w.sys.Find(spec)) }() // discover scans /proc
}

// BootID implements driver.OS.
func (w *World) BootID() string { return w.sys.BootID() }

// Strays implements driver.OS.
func (w *World) Strays() []driver.Stray {
	if s, ok := w.sys.(interface{ Strays() []driver.Stray }); ok {
		return s.Strays()
	}
	return nil
}

// FindsByHandle implements driver.OS.
func (w *World) FindsByHandle() bool {
	c, ok := w.sys.(interface{ FindsByHandle() bool })
	return ok && c.FindsByHandle()
}

// tcpListener is an integrated replica's socket.
type tcpListener struct{ *net.TCPListener }

func (l tcpListener) Addr() string { return l.TCPListener.Addr().String() }

// Listen implements driver.OS.
func (w *World) Listen(addr string) (driver.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, errnoError{err}
	}
	return tcpListener{ln.(*net.TCPListener)}, nil
}

var _ driver.OS = (*World)(nil)

func replicaKey(h engine.Handle) string { return driver.ReplicaKey(h) }

func instKey(h engine.Handle) string { return driver.InstKey(h) }

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
