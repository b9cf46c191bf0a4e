// Package engine is hsu's supervisor logic as a pure, deterministic state
// machine: events in, actions out. It does no I/O, starts no goroutine and
// reads no clock; every event carries the time. The same engine runs on
// the real OS (osadapters) and on the simulated one (fakeos), so whatever
// the simulator proves holds for production.
//
// Every action has a completion event: the engine never assumes a spawn,
// signal or probe succeeded. Every instance is addressed by a Handle whose
// generation makes late events of a previous instance harmless.
package engine

import (
	"fmt"
	"strconv"
	"time"

	"github.com/hsu-run/hsu/config"
)

// State is the state of one replica (contract: shown by hsu status and in
// traces).
type State uint8

const (
	Pending  State = iota // waiting for dependencies
	Starting              // spawned (or being spawned), not yet past start_seconds / startup probe
	Running               // up
	Ready                 // up and its readiness probe passes
	Stopping              // stop signal sent, waiting for the exit
	Stopped               // stopped by a command, shutdown or resource policy
	Backoff               // waiting to restart
	Exited                // finished, not to be restarted
	Failed                // gave up: restart budget spent or spawn impossible
	Unknown               // adopted after an hsu restart, not yet verified
	numStates
)

var stateNames = [numStates]string{"pending", "starting", "running", "ready", "stopping", "stopped", "backoff", "exited", "failed", "unknown"}

func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return "invalid"
}

// MarshalText writes a state by name (the state file): the numbering may
// change between versions, the names do not.
func (s State) MarshalText() ([]byte, error) {
	if s >= numStates {
		return nil, fmt.Errorf("invalid state %d", uint8(s))
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalJSON reads a state by name, or by number as state files of
// earlier versions have it.
func (s *State) UnmarshalJSON(b []byte) error {
	if n, err := strconv.ParseUint(string(b), 10, 8); err == nil {
		if n >= uint64(numStates) {
			return fmt.Errorf("invalid state %d", n)
		}
		*s = State(n)
		return nil
	}
	name, err := strconv.Unquote(string(b))
	if err != nil {
		return fmt.Errorf("invalid state %s", b)
	}
	st, ok := ParseState(name)
	if !ok {
		return fmt.Errorf("unknown state %q", name)
	}
	*s = st
	return nil
}

// ParseState is the inverse of State.String.
func ParseState(s string) (State, bool) {
	for i, n := range stateNames {
		if n == s {
			return State(i), true
		}
	}
	return 0, false
}

// Live reports whether a replica in this state may have a process.
func (s State) Live() bool {
	return s == Starting || s == Running || s == Ready || s == Stopping || s == Unknown
}

// Handle names one spawned instance: a replica of a worker and the
// generation of this spawn. Generations are unique within an engine's
// lifetime and across recoveries, so a late event for an old instance is
// recognised and ignored.
type Handle struct {
	Worker  string
	Replica int // 1-based
	Gen     uint64
}

// EventKind says what happened.
type EventKind uint8

const (
	EvStart       EventKind = iota + 1 // begin supervising; carries recovered instances
	EvSpawned                          // a Spawn action succeeded: PID
	EvSpawnFailed                      // a Spawn action failed: Err (errno name)
	EvExited                           // the instance's leader exited and its group was cleaned up: Code, Signal, OOM
	EvTimer                            // a StartTimer action fired: Timer
	EvProbe                            // a RunProbe action finished: Probe, OK
	EvSample                           // a Sample action finished: Usage
	EvLogReady                         // the instance printed ready_log_line
	EvVerified                         // a Verify action finished: OK (process still the one we started)
	EvAdopted                          // an Adopt action finished: OK, PID
	EvDone                             // a Signal/Kill/Throttle/StopCommand/Persist action finished: Err
	EvCommand                          // an API/CLI command: Cmd
	EvReload                           // a new config: Config
	EvNotify                           // a notify worker sent a datagram: Notify
)

// Notification is what a notify worker said (sd_notify).
type Notification struct {
	Ready    bool   // READY=1
	Watchdog bool   // WATCHDOG=1
	Status   string // STATUS=, when HasStatus
	// HasStatus: the datagram set STATUS (possibly to "").
	HasStatus bool
}

var eventNames = [...]string{
	EvStart: "start", EvSpawned: "spawned", EvSpawnFailed: "spawn_failed", EvExited: "exited",
	EvTimer: "timer", EvProbe: "probe", EvSample: "sample", EvLogReady: "log_ready",
	EvVerified: "verified", EvAdopted: "adopted", EvDone: "done", EvCommand: "command", EvReload: "reload",
	EvNotify: "notify",
}

func (k EventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "invalid"
}

// Event is one input. It is a flat struct so stepping allocates nothing.
type Event struct {
	Kind EventKind
	At   time.Duration // the driver's clock: time since it started
	H    Handle

	PID    int
	Code   int    // exit code (EvExited)
	Signal string // terminating signal name, "" if none (EvExited)
	OOM    bool   // killed for exceeding its memory limit (EvExited)
	Err    string // errno name or message (EvSpawnFailed, EvDone, EvAdopted)
	OK     bool   // EvProbe, EvVerified, EvAdopted

	Timer TimerRef   // EvTimer
	Probe ProbeKind  // EvProbe
	Usage Usage      // EvSample
	Done  ActionKind // EvDone: which action finished
	Cmd   Command    // EvCommand
	// Notify is what a notify worker sent (EvNotify).
	Notify Notification

	Saved  *Saved         // EvStart: the state file of a previous hsu, or nil
	Config *config.Config // EvReload
}

// Saved is what hsu keeps in its state file so that a new hsu process can
// take over from one that died: written on every ActPersist (from
// Engine.Save), handed back in EvStart.
type Saved struct {
	NextGen   uint64           `json:"next_gen"`
	Replicas  map[string]Scale `json:"replicas,omitempty"` // scaled replica counts
	Instances []Recovered      `json:"instances"`
}

// Scale is a replica count set by a command. It outlives an hsu restart
// only while the config still says Base: an edited config wins.
type Scale struct {
	Base int `json:"base"` // the config's replicas when the scale was made
	N    int `json:"n"`
}

// Recovered is one replica's entry in the state file.
type Recovered struct {
	H   Handle `json:"handle"`
	PID int    `json:"pid,omitempty"` // 0: no process known
	// State is stopped, exited or failed for a replica that must stay down,
	// starting for a spawn that was in flight (its process may exist
	// without hsu knowing its PID), else running.
	State       State `json:"state"`
	UserStopped bool  `json:"user_stopped,omitempty"`
	// Started: the replica has run (condition started holds).
	Started bool `json:"started,omitempty"`
	// Success: its last exit counted as success (completed_successfully).
	Success bool `json:"success,omitempty"`
}

// Usage is one resource sample of an instance's whole tree.
type Usage struct {
	// Memory is the instance's working set in bytes, the value its memory
	// limit is compared with: a cgroup's memory.current less its inactive
	// file cache (what the kernel can drop without asking), or the
	// resident set from /proc (PSS where the instance has several
	// processes, so shared pages count once).
	Memory int64
	// MemoryAnon and MemoryFile split a cgroup's memory (memory.stat anon
	// and file); zero without a memory cgroup.
	MemoryAnon, MemoryFile int64
	CPU                    float64 // cores, averaged since the last sample
	Pids                   int     // processes and threads
	// CPUSeconds is the CPU time the instance's processes used so far (a
	// cumulative count: Prometheus rates it).
	CPUSeconds float64
	FDs        int   // open file descriptors of the instance's processes
	IORead     int64 // bytes read from block devices so far (cumulative)
	IOWrite    int64 // bytes written to block devices so far (cumulative)
	// MemoryHigh counts the times the kernel throttled the instance at
	// memory.high (memory.events high), cumulative.
	MemoryHigh int64
	// OOMKills counts the kernel's OOM kills in the instance's cgroup,
	// cumulative: a rise while the instance lives is a process other than
	// its leader killed.
	OOMKills int64
	// PidsRefused counts the forks the kernel refused at pids.max
	// (pids.events max), cumulative: a rise means the instance hit its
	// limit, even if its count is below max again by the sample.
	PidsRefused int64
	// Source says where the numbers come from: "cgroup2", "cgroup1"
	// (hybrid: some from each tree, named by the memory's), "proc", "job"
	// (a Windows Job Object); the simulator reports its platform's.
	Source string
	// Kernel are the limits the kernel itself enforces for the instance:
	// hsu does not act at their max on its samples, the kernel has.
	Kernel Enforced
}

// Enforced is a set of resources whose limits the kernel enforces.
type Enforced uint8

const (
	EnforcedMemory Enforced = 1 << iota // memory.max / memory.high: the kernel's OOM kill or reclaim
	EnforcedCPU                         // a CPU quota
	EnforcedPids                        // pids.max: forks beyond max fail
	EnforcedIO                          // io.max / blkio throttling
)

// ProbeKind is which of the three probes.
type ProbeKind uint8

const (
	ProbeStartup ProbeKind = iota
	ProbeReadiness
	ProbeLiveness
	numProbes
)

var probeNames = [numProbes]string{"startup", "readiness", "liveness"}

func (p ProbeKind) String() string {
	if p < numProbes {
		return probeNames[p]
	}
	return "invalid"
}

// TimerKind is what a timer is for.
type TimerKind uint8

const (
	TimerBackoff     TimerKind = iota // restart after back-off
	TimerStopTimeout                  // escalate a stop to SIGKILL
	TimerStartGrace                   // start_seconds elapsed
	TimerSample                       // sample resources
	TimerWatchdog                     // a notify worker's WATCHDOG=1 is overdue
	TimerProbe                        // run a probe (+ProbeKind)
	numTimers        = TimerProbe + TimerKind(numProbes)
)

var timerNames = [...]string{"backoff", "stop_timeout", "start_grace", "sample", "watchdog", "probe_startup", "probe_readiness", "probe_liveness"}

func (t TimerKind) String() string {
	if int(t) < len(timerNames) {
		return timerNames[t]
	}
	return "invalid"
}

// TimerRef identifies an armed timer; ID is unique per engine.
type TimerRef struct {
	ID   uint64
	Kind TimerKind
	H    Handle
}

// Verb is a command verb.
type Verb uint8

const (
	CmdStart Verb = iota + 1
	CmdStop
	CmdRestart
	CmdScale
	CmdSignal
	CmdShutdown
	CmdReload
)

var verbNames = [...]string{CmdStart: "start", CmdStop: "stop", CmdRestart: "restart", CmdScale: "scale", CmdSignal: "signal", CmdShutdown: "shutdown", CmdReload: "reload"}

func (v Verb) String() string {
	if int(v) < len(verbNames) {
		return verbNames[v]
	}
	return "invalid"
}

// ParseVerb is the inverse of Verb.String.
func ParseVerb(s string) (Verb, bool) {
	for v, n := range verbNames {
		if n == s && n != "" {
			return Verb(v), true
		}
	}
	return 0, false
}

// Command is a request from the API, the CLI or a signal to hsu.
type Command struct {
	ID      uint64 // echoed in the Reply action
	Verb    Verb
	Worker  string // "" for shutdown/reload
	Replica int    // 0: every replica
	N       int    // scale target
	Signal  string // signal name for CmdSignal
}

// ErrCode classifies a refused command, so the API can answer 404, 409
// or 400 without parsing the message.
type ErrCode uint8

const (
	ErrNone         ErrCode = iota
	ErrNotFound             // no such worker or replica
	ErrConflict             // not possible in the current state
	ErrInvalid              // the command itself is wrong
	ErrShuttingDown         // hsu is stopping everything
)

var errCodeNames = [...]string{"", "not_found", "conflict", "invalid", "shutting_down"}

func (c ErrCode) String() string {
	if int(c) < len(errCodeNames) {
		return errCodeNames[c]
	}
	return "ErrCode(" + strconv.Itoa(int(c)) + ")"
}

// ActionKind says what the driver must do.
type ActionKind uint8

const (
	ActSpawn       ActionKind = iota + 1 // start an instance: Spec → EvSpawned | EvSpawnFailed, later EvExited
	ActSignal                            // send Signal to the instance's process group → EvDone
	ActKill                              // SIGKILL the group and cgroup → EvDone
	ActStopCommand                       // run Spec.Stop.Command for the instance → EvDone
	ActStartTimer                        // fire EvTimer{Timer} at At
	ActCancelTimer                       // the timer Timer is no longer wanted (an optimisation: stale timers are ignored anyway)
	ActProbe                             // run probe Probe of Spec → EvProbe
	ActSample                            // measure the instances of Samples → an EvSample each (EvDone with Err if one failed)
	ActThrottle                          // apply the throttling limit named by Resource → EvDone
	ActVerify                            // check PID is still the recovered instance → EvVerified
	ActAdopt                             // find the unmanaged process (pidfile/discover) → EvAdopted
	ActPersist                           // write the state file from Engine.Instances → EvDone (optional)
	ActReply                             // answer command CmdID with Err ("" = ok)
	ActTransition                        // a replica changed state (for status, events, traces)
	ActNotice                            // something worth telling the operator: Notice
	ActExit                              // shutdown finished: the driver may exit
)

var actionNames = [...]string{
	ActSpawn: "spawn", ActSignal: "signal", ActKill: "kill", ActStopCommand: "stop_command",
	ActStartTimer: "start_timer", ActCancelTimer: "cancel_timer", ActProbe: "probe", ActSample: "sample",
	ActThrottle: "throttle", ActVerify: "verify", ActAdopt: "adopt", ActPersist: "persist",
	ActReply: "reply", ActTransition: "transition", ActNotice: "notice", ActExit: "exit",
}

func (k ActionKind) String() string {
	if int(k) < len(actionNames) {
		return actionNames[k]
	}
	return "invalid"
}

// SampleTarget is one instance of an ActSample.
type SampleTarget struct {
	H   Handle
	PID int
}

// Action is one output. Like Event it is flat, and the engine reuses the
// slice it returns, so the driver must consume actions before the next Step.
type Action struct {
	Kind ActionKind
	H    Handle
	PID  int
	Spec *config.Worker // ActSpawn, ActStopCommand, ActProbe, ActAdopt, ActThrottle

	Signal   string        // ActSignal
	Timer    TimerRef      // ActStartTimer, ActCancelTimer
	At       time.Duration // ActStartTimer: when to fire
	Probe    ProbeKind     // ActProbe
	Resource string        // ActThrottle: "memory" | "cpu" | "pids"
	// Samples are the instances an ActSample measures: every instance due
	// at one tick, in one action (valid until the next Step, like the
	// action itself).
	Samples []SampleTarget

	CmdID uint64  // ActReply
	Err   string  // ActReply
	Code  ErrCode // ActReply: what kind of refusal Err is
	// Trigger is set on the ActTransition to Starting of a restart: crash,
	// health, resource, command or reload.
	Trigger string

	From, To State  // ActTransition
	Reason   Reason // ActTransition, ActNotice
}
