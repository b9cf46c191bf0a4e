package engine

import (
	"maps"
	"time"

	"github.com/hsu-run/hsu/config"
)

// Status is an immutable snapshot of every worker, built on demand (not
// on the hot path) for the API, hsu status and the simulator.
type Status struct {
	// Version increases with every published snapshot (the driver sets
	// it), so a reader can tell a newer status from an older one.
	Version      uint64
	At           time.Duration
	ShuttingDown bool
	Workers      []WorkerStatus
}

// WorkerStatus is one worker.
type WorkerStatus struct {
	Name     string
	Type     string
	Replicas int // desired
	Slots    []ReplicaStatus
}

// ReplicaStatus is one replica.
type ReplicaStatus struct {
	Replica  int
	State    State
	Reason   string
	Since    time.Duration
	PID      int // 0 when not running
	Gen      uint64
	Restarts int
	LastExit string

	// StartedAt is when the current instance was spawned (Alive only).
	StartedAt time.Duration
	Alive     bool
	// Ready: the replica is ready, or, without a readiness probe, running
	// past start_seconds (as the healthy dependency condition reads it).
	Ready bool
	// LastTrigger is the last restart's trigger; RestartsBy counts the
	// restarts per trigger (crash, health, resource, command, reload).
	LastTrigger string
	RestartsBy  map[string]int
	// Exit is the last exit, if there was one.
	Exit *ExitInfo
	// NextRestart is when the back-off ends (state Backoff only).
	NextRestart time.Duration
	Probes      []ProbeStatus
	// Usage is the last sample of the current instance (UsageAt > 0).
	Usage   Usage
	UsageAt time.Duration
	// StatusText is what a notify worker last sent as STATUS=.
	StatusText string
	OOMKills   int
	// Throttled: the kernel throttled the instance at memory.high in its
	// last sample.
	Throttled bool
	// Limits are the instance's usage against each limit it has (from its
	// last sample; Alive and sampled only).
	Limits []LimitStatus
}

// LimitStatus is one resource's usage against its limit. Values are
// bytes for memory, millicores for cpu, a count for pids, bytes per
// second for io_read and io_write.
type LimitStatus struct {
	Resource string
	Value    int64
	Warn     int64
	Max      int64
	Policy   string
	// Kernel: the kernel enforces Max itself; otherwise hsu acts on its
	// samples.
	Kernel bool
	Warned bool // at or above Warn
	Over   bool // at or above Max
}

// ExitInfo is how an instance ended.
type ExitInfo struct {
	Code   int
	Signal string
	OOM    bool
	At     time.Duration
}

// ProbeStatus is a probe's last result.
type ProbeStatus struct {
	Kind     ProbeKind
	OK       bool
	Err      string
	At       time.Duration
	Duration time.Duration
}

// Snapshot returns the current status.
func (e *Engine) Snapshot() *Status {
	st := &Status{At: e.now, ShuttingDown: e.shutdown, Workers: make([]WorkerStatus, 0, len(e.order))}
	for _, w := range e.order {
		ws := WorkerStatus{Name: w.name, Type: w.spec.Type, Replicas: w.desired, Slots: make([]ReplicaStatus, 0, len(w.slots))}
		for _, s := range w.slots {
			rs := ReplicaStatus{Replica: s.idx, State: s.state, Reason: s.reason.String(), Since: s.since,
				Gen: s.inst.gen, Restarts: s.restarts, LastExit: s.lastExit.String()}
			if s.inst.alive {
				rs.PID = s.inst.pid
				rs.Alive = true
				rs.StartedAt = s.inst.spawnedAt
				if s.sampled && s.usageAt >= s.inst.spawnedAt {
					rs.Usage, rs.UsageAt = s.usage, s.usageAt
					rs.Throttled = s.inst.throttled
					for i, l := range limitsOf(w.spec.Resources, s.usage, false) {
						if l.set {
							rs.Limits = append(rs.Limits, LimitStatus{Resource: resourceNames[i], Value: l.val, Warn: l.warn, Max: l.max,
								Policy: l.policy, Kernel: l.kernel, Warned: s.inst.warned[i], Over: s.inst.over[i]})
						}
					}
					if io := w.spec.Resources.IO; io != nil {
						rs.Limits = append(rs.Limits, s.ioLimits(io, s.usage)...)
					}
				}
			}
			rs.Ready = s.state == Ready || (s.state == Running && !w.gatesReady())
			if s.inst.alive {
				rs.StatusText = s.inst.status
			}
			rs.LastTrigger, rs.OOMKills = s.lastTrigger, s.oomKills
			if len(s.restartsBy) > 0 {
				rs.RestartsBy = maps.Clone(s.restartsBy)
			}
			if s.exitSeen {
				rs.Exit = &ExitInfo{Code: s.lastExit.Code, Signal: s.lastExit.Signal, OOM: s.lastExit.Kind == ROOM, At: s.lastExitAt}
			}
			if s.state == Backoff {
				rs.NextRestart = s.nextRestart
			}
			for k := range s.inst.probes {
				if ps := &s.inst.probes[k]; ps.ran && w.probes[k] != nil {
					rs.Probes = append(rs.Probes, ProbeStatus{Kind: ProbeKind(k), OK: ps.ok, Err: ps.err, At: ps.at, Duration: ps.dur})
				}
			}
			ws.Slots = append(ws.Slots, rs)
		}
		st.Workers = append(st.Workers, ws)
	}
	return st
}

// State returns the state of one replica, or false if it does not exist.
func (e *Engine) State(worker string, replica int) (State, bool) {
	s := e.slotOf(Handle{Worker: worker, Replica: replica})
	if s == nil {
		return 0, false
	}
	return s.state, true
}

// Replicas returns the number of slots a worker has now (desired plus
// any still stopping after a scale-down).
func (e *Engine) Replicas(worker string) int {
	if w := e.workers[worker]; w != nil {
		return len(w.slots)
	}
	return 0
}

// Desired returns the replica count a worker should have.
func (e *Engine) Desired(worker string) int {
	if w := e.workers[worker]; w != nil {
		return w.desired
	}
	return 0
}

// Save returns what the state file must keep (ActPersist): the live and
// in-flight instances, the replicas that must stay down after an hsu
// restart (stopped by a command, exited, failed), scaled replica counts
// and the next generation, so handles are never reused.
func (e *Engine) Save() Saved {
	sv := Saved{NextGen: e.nextGen}
	for _, w := range e.order {
		if w.desired != w.spec.Replicas && !w.removed {
			if sv.Replicas == nil {
				sv.Replicas = map[string]Scale{}
			}
			sv.Replicas[w.name] = Scale{Base: w.spec.Replicas, N: w.desired}
		}
		for _, s := range w.slots {
			switch {
			case s.inst.alive:
				sv.Instances = append(sv.Instances, Recovered{H: s.handle(), PID: s.inst.pid, State: Running, UserStopped: s.userStopped})
			case s.inst.spawning || s.inst.cleaning:
				sv.Instances = append(sv.Instances, Recovered{H: s.handle(), State: Starting})
			case s.state == Exited || s.state == Failed || (s.state == Stopped && s.userStopped):
				sv.Instances = append(sv.Instances, Recovered{H: s.handle(), State: s.state, UserStopped: s.userStopped, Started: s.everStarted, Success: s.lastSuccess})
			}
		}
	}
	return sv
}

// Spec returns a worker's current spec, nil for an unknown or removed one.
func (e *Engine) Spec(worker string) *config.Worker {
	if w := e.workers[worker]; w != nil && !w.removed {
		return w.spec
	}
	return nil
}

// Alive reports whether the engine believes instance h is alive.
func (e *Engine) Alive(h Handle) bool {
	s := e.current(h)
	return s != nil && s.inst.alive
}

// Done reports whether a shutdown has finished.
func (e *Engine) Done() bool { return e.exitSent }

// ShuttingDown reports whether a shutdown was asked for.
func (e *Engine) ShuttingDown() bool { return e.shutdown }
