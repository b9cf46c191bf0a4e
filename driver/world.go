package driver

import (
	"errors"
	"io"
	"sync"
	"time"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/engine"
	"github.com/hsu-run/hsu/probe"
)

// OS is the world the driver runs in: a clock, timers, and the operating
// system's calls. osadapters implements it on the real OS (goroutines post
// completions to an inbox) and fakeos on the simulated one (completions
// are queued at a virtual time). Every asynchronous call reports through
// its done function or through Post, never by blocking the driver.
type OS interface {
	// Now is the time since the world started.
	Now() time.Duration
	// Post hands a completion to the driver's next batch.
	Post(ev engine.Event)
	// StartTimer posts EvTimer{ref} at at; CancelTimer drops it if it has
	// not fired (a fired stale timer is harmless: the engine ignores it).
	StartTimer(ref engine.TimerRef, at time.Duration)
	CancelTimer(ref engine.TimerRef)

	// Spawn starts every instance of batch, each with its output going to
	// its Logs, and returns once each has started (Proc set) or failed
	// (Err set). The OS may start them in parallel: they are independent
	// (the engine spawns a dependent only once its dependencies are
	// started, and a replica's next instance only once the last is gone).
	// Env is added to the worker's environment; Ln, if not nil, becomes
	// the child's descriptor 3 (socket handover). Exited is called once,
	// after the process has exited, the rest of its group (and cgroup) has
	// been killed and its output drained.
	//
	// Where FindsByHandle is false, the processes are held: they do not
	// run the program until Release, and exit without running it if hsu
	// dies first, so a crash before their PIDs are written leaves nothing
	// unseen.
	Spawn(batch []SpawnReq)
	// Release lets a held instance run its program (see Spawn). A release
	// that fails is not reported: the held process then exits, and that
	// exit is reported as any other.
	Release(h engine.Handle, p Proc)
	// Watch follows a process hsu did not spawn itself (re-adopted after
	// an hsu restart, or an unmanaged worker's): exited when it is gone.
	Watch(h engine.Handle, p Proc, exited func(ExitStatus)) error
	// Signal sends sig to the instance's process group (to p alone when
	// !p.Group).
	// It may be sent after Signal returns: done.Done reports the error
	// (ESRCH when the process is gone).
	Signal(h engine.Handle, p Proc, sig string, done Completion)
	// Kill SIGKILLs everything of the instance and calls done.Done once it
	// is all gone, or the platform's deadline passed.
	Kill(h engine.Handle, p Proc, done Completion)
	// StopCommand runs spec.Stop.Command for the instance.
	StopCommand(h engine.Handle, p Proc, spec *config.Worker, done Completion)
	// Probe runs one health check.
	Probe(h engine.Handle, pr *config.Probe, t probe.Target, done Completion)
	// Sample measures the instances due at one tick, each one's whole
	// tree, and answers each req's Done.Sampled (or posts every
	// SampleEvent at once).
	Sample(batch []SampleReq)
	// Throttle reports whether the kernel throttles the instance's
	// resource ("memory", "cpu", "pids"): throttles are limits set at the
	// start, so this only asks whether one is in force.
	Throttle(h engine.Handle, p Proc, resource string) error
	// Verify reports whether p is still the process that was started (PID
	// and start time), so a reused PID is never adopted.
	Verify(p Proc) bool
	// Find locates an unmanaged worker's process (pidfile or discover)
	// and reports it with done.Found, from any goroutine: the scans of
	// discover read every process's /proc entry.
	Find(h engine.Handle, spec *config.Worker, done Completion)
	// Listen binds the socket of an integrated worker's replica.
	Listen(addr string) (Listener, error)
	// BootID identifies this boot: PIDs from another boot are never trusted.
	BootID() string
	// Strays lists the instances of this state dir the OS can find by
	// handle alone (their cgroups, or their environment marker), alive or
	// not yet emptied, in a stable order, each with its leader where the
	// OS can tell it (else Leader.PID is 0).
	Strays() []Stray
	// FindsByHandle reports whether a spawned instance can be found and
	// killed by its handle alone (a cgroup), so that a crash before its PID
	// is written leaves nothing behind unseen.
	FindsByHandle() bool
}

// Stray is an instance the OS found by its handle alone (OS.Strays).
type Stray struct {
	H engine.Handle
	// Leader is the process hsu started for it, if the OS can tell it
	// (the one group leader among its processes): then it is adopted,
	// once Verify confirms it, instead of killed.
	Leader Proc
}

// SpawnReq is one instance for OS.Spawn to start, and what came of it.
type SpawnReq struct {
	H      engine.Handle
	Spec   *config.Worker
	Env    []string
	Ln     Listener
	Logs   LogSink
	Exited func(ExitStatus)

	Proc Proc  // set by Spawn: the started process
	Err  error // set by Spawn: why it did not start
}

// Completion is how an asynchronous OS call reports back: the OS calls
// Done (Sampled for a sample) exactly once, from any goroutine. It is a
// plain value, not a closure, so the simulator's calls allocate nothing.
type Completion struct {
	d     *Driver
	wg    *sync.WaitGroup // KillAll: counted down instead of posted
	h     engine.Handle
	act   engine.ActionKind
	probe engine.ProbeKind
}

// Done reports the end of a kill, stop command or probe.
func (c Completion) Done(err error) {
	if c.d == nil && c.wg == nil {
		return // nobody waits (a stray's kill)
	}
	if c.wg != nil {
		c.wg.Done()
		return
	}
	ev := engine.Event{Kind: engine.EvDone, H: c.h, Done: c.act}
	if c.act == engine.ActProbe {
		ev = engine.Event{Kind: engine.EvProbe, H: c.h, Probe: c.probe, OK: err == nil}
	}
	if err != nil {
		ev.Err = err.Error()
	}
	c.d.os.Post(ev)
}

// Found reports an unmanaged worker's process (Find): hsu watches it
// and then posts EvAdopted, whose exit is reported only after it.
func (c Completion) Found(p Proc, err error) {
	d, h := c.d, c.h
	if err == nil {
		adopted := make(chan struct{})
		if err = d.os.Watch(h, p, func(st ExitStatus) { <-adopted; d.exited(h, st) }); err == nil {
			d.mu.Lock()
			d.found[h] = p
			d.mu.Unlock()
			d.os.Post(engine.Event{Kind: engine.EvAdopted, H: h, OK: true, PID: p.PID})
			close(adopted)
			return
		}
	}
	d.os.Post(engine.Event{Kind: engine.EvAdopted, H: h, Err: err.Error()})
}

// Sampled reports a sample; a failed one re-arms the engine's next.
func (c Completion) Sampled(u engine.Usage, err error) {
	c.d.os.Post(c.SampleEvent(u, err))
}

// SampleEvent is the event Sampled posts, for an OS that posts a whole
// tick's samples together.
func (c Completion) SampleEvent(u engine.Usage, err error) engine.Event {
	if err != nil {
		return engine.Event{Kind: engine.EvDone, H: c.h, Done: engine.ActSample, Err: err.Error()}
	}
	return engine.Event{Kind: engine.EvSample, H: c.h, Usage: u}
}

// SampleReq is one instance of a tick's sampling.
type SampleReq struct {
	H    engine.Handle
	P    Proc
	Done Completion
}

// Proc identifies a process beyond its PID: a PID plus its start time.
type Proc struct {
	PID       int
	StartTime int64 // clock ticks since boot (Linux), a serial (fakeos), 0 where unknown
	// Group: hsu made it a process-group leader (a managed instance), so
	// signals and kills go to the group. An adopted unmanaged process is
	// signalled alone and never killed with a group it may share.
	Group bool
}

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

// Listener is a socket hsu holds for an integrated worker's replica, kept
// across restarts so the address never changes.
type Listener interface {
	Addr() string
	Close() error
}

// Errno is an error the OS names like a C errno ("EAGAIN"): the name is
// what the engine and the traces see.
type Errno string

func (e Errno) Error() string { return string(e) }

// ErrnoName is the errno name of an OS error: an Errno, or any error with
// an ErrnoName method (the real adapters map syscall errors); EIO for the
// rest.
func ErrnoName(err error) string {
	var e Errno
	if errors.As(err, &e) {
		return string(e)
	}
	var n interface{ ErrnoName() string }
	if errors.As(err, &n) {
		return n.ErrnoName()
	}
	return "EIO"
}

// State is hsu's state file: what the engine saves (engine.Saved) plus,
// per live instance, what proves a PID is still the process hsu started:
// its start time and the boot id.
type State struct {
	Version int              `json:"version"`
	BootID  string           `json:"boot_id"`
	Saved   engine.Saved     `json:"saved"`
	Starts  map[string]int64 `json:"start_times"` // "worker-replica-gen" -> start time
	// Listen: the address of each integrated replica's socket ("worker-replica" -> host:port).
	Listen map[string]string `json:"listen,omitempty"`
}

// StateVersion is the version State files are written with.
const StateVersion = 1

// Store keeps the state file. Write may keep build and call it later, as
// long as that gives what calling it now would (fakeos does, since the
// driver writes whenever the state changes): building the file is the
// costly part of a write in the simulator.
type Store interface {
	// Read returns the last state written, nil if there is none, and
	// where it was found (for messages).
	Read() (*State, string, error)
	Write(build func() *State) error
	// Reserve makes room for extra more instances than the last write
	// named, so that the writes that follow a scale-up cannot fail for
	// want of space: a scale-up it cannot reserve for is refused.
	Reserve(extra int) error
	// Remove deletes the state: a clean shutdown leaves nothing to adopt.
	Remove()
}

// Observer sees what the driver does; the simulator's tracer and
// invariant checker are one. It must not change anything.
type Observer interface {
	// Event is called before the engine steps ev (ev.At is set).
	Event(ev *engine.Event)
	// Action is called before the driver carries a out.
	Action(a *engine.Action)
	// Stepped is called after ev's actions, with the engine's bugs.
	Stepped(ev *engine.Event, bugs []string)
}

// InstKey names an instance in files: "worker-replica-gen".
func InstKey(h engine.Handle) string {
	return h.Worker + "-" + itoa(h.Replica) + "-" + utoa(h.Gen)
}

// ReplicaKey names a replica in files: "worker-replica".
func ReplicaKey(h engine.Handle) string { return h.Worker + "-" + itoa(h.Replica) }
