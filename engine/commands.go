package engine

import (
	"reflect"
	"strconv"

	"github.com/hsu-run/hsu/config"
)

// MaxReplicas is the most replicas a worker may have (the config's
// replicas max, and a scale command's).
const MaxReplicas = 10000

// command applies an API/CLI command and answers it. Every command is
// idempotent: asking for the state a replica is already in (or heading to)
// changes nothing.
func (e *Engine) command(c Command) {
	if code, err := e.apply(c); err != "" {
		e.emit(Action{Kind: ActReply, CmdID: c.ID, Err: err, Code: code})
		return
	}
	if c.Verb == CmdStart || c.Verb == CmdStop || c.Verb == CmdRestart {
		e.emit(Action{Kind: ActPersist}) // who was stopped by a command survives an hsu restart
	}
	e.emit(Action{Kind: ActReply, CmdID: c.ID})
}

func (e *Engine) apply(c Command) (ErrCode, string) {
	if c.Verb == CmdShutdown {
		e.shutdown = true
		e.dirty = true
		return 0, ""
	}
	if e.shutdown {
		return ErrShuttingDown, "hsu is shutting down"
	}
	if c.Verb == CmdReload {
		return ErrInvalid, "reload needs a config (send EvReload)"
	}
	w := e.workers[c.Worker]
	if w == nil || w.removed {
		return ErrNotFound, "unknown worker " + strconv.Quote(c.Worker)
	}
	slots := w.slots[:min(w.desired, len(w.slots))]
	if c.Replica != 0 {
		if c.Replica < 1 || c.Replica > w.desired {
			return ErrNotFound, c.Worker + " has no replica " + strconv.Itoa(c.Replica)
		}
		slots = w.slots[c.Replica-1 : c.Replica]
	}
	r := Reason{Kind: RCommand, Text: c.Verb.String()}
	switch c.Verb {
	case CmdStart:
		for _, s := range slots {
			s.userStopped = false
			switch s.state {
			case Stopped, Exited, Failed:
				s.resetHistory()
				s.everStarted = false
				s.toPending(e, r)
			case Stopping:
				// Start again once the stop completes.
				s.after, s.afterReason = afterRestart, r
			}
		}
	case CmdStop:
		for _, s := range slots {
			s.userStopped = true
			s.stop(e, afterStop, r)
		}
	case CmdRestart:
		for _, s := range slots {
			s.userStopped = false
			s.resetHistory()
			if s.state == Pending {
				continue // it starts when its dependencies allow
			}
			s.stop(e, afterRestart, r)
		}
	case CmdScale:
		if c.N < 0 || c.N > MaxReplicas {
			return ErrInvalid, "replicas must be 0 to " + strconv.Itoa(MaxReplicas)
		}
		if w.spec.Type == config.TypeUnmanaged && c.N > 1 {
			return ErrInvalid, "an unmanaged worker has exactly one instance"
		}
		e.scale(w, c.N, r)
		e.emit(Action{Kind: ActPersist}) // a scale survives an hsu restart
	case CmdSignal:
		sig, err := config.ParseSignal(c.Signal)
		if err != nil {
			return ErrInvalid, err.Error()
		}
		sent := false
		for _, s := range slots {
			if s.inst.alive {
				sent = true
				e.emit(Action{Kind: ActSignal, H: s.handle(), PID: s.inst.pid, Signal: string(sig)})
			}
		}
		if !sent {
			return ErrConflict, c.Worker + " has no running instance"
		}
	default:
		return ErrInvalid, "unknown command"
	}
	return 0, ""
}

func (s *slot) resetHistory() {
	for i := range s.history {
		s.history[i].reset()
	}
	s.consecutive = 0
}

// scale changes the replica count: new replicas start (after their
// dependencies), surplus ones stop highest first and are then dropped.
func (e *Engine) scale(w *worker, n int, r Reason) {
	old := w.desired
	w.desired = n
	e.surplus = e.surplus || len(w.slots) > n
	for i := n; i < len(w.slots); i++ {
		// Highest replica first, so the trace reads in that order.
		s := w.slots[len(w.slots)-1-(i-n)]
		s.stop(e, afterStop, Reason{Kind: RRemoved})
	}
	for i := old; i < n; i++ {
		if i < len(w.slots) {
			s := w.slots[i]
			switch {
			case s.state == Stopping:
				s.after, s.afterReason = afterRestart, r
			case s.inst.cleaning:
				// A leftover spawn of a previous hsu is being killed by
				// handle: once it is gone, the replica is wanted again.
				s.setAfter(e, afterRestart, r)
			case !s.state.Live():
				s.toPending(e, r)
			}
			continue
		}
		s := newSlot(w, i+1)
		w.slots = append(w.slots, s)
		s.toPending(e, r)
	}
	e.dirty = true
}

// reload applies a new config: workers whose definition is unchanged are
// not touched; changed ones restart; added ones start; removed ones stop.
// A change of replicas alone is a scale, not a restart.
func (e *Engine) reload(cfg *config.Config) {
	if cfg == nil {
		return
	}
	e.cfg = cfg
	e.emit(Action{Kind: ActPersist}) // scales are saved relative to the config
	for _, name := range cfg.Order {
		spec := cfg.Workers[name]
		w := e.workers[name]
		if w == nil || w.removed {
			if w != nil {
				// Re-added while its old replicas were still stopping.
				w.removed = false
				e.setSpec(w, spec)
				e.scale(w, spec.Replicas, Reason{Kind: RReload})
				continue
			}
			nw := e.addWorker(name, spec)
			for _, s := range nw.slots {
				s.toPending(e, Reason{Kind: RReload})
			}
			continue
		}
		// A scale command outlives reloads that leave the worker's
		// replicas key as it was; an edited replicas key wins.
		rescale := spec.Replicas != w.spec.Replicas
		same := sameExceptReplicas(w.spec, spec)
		e.setSpec(w, spec)
		if rescale {
			e.scale(w, spec.Replicas, Reason{Kind: RReload})
		}
		if same {
			continue
		}
		e.endRollout(w) // a newer config replaces a rollout in progress
		live := w.slots[:min(w.desired, len(w.slots))]
		if spec.Rollout == config.RolloutRolling && len(live) > 1 {
			for _, s := range live {
				w.roll = append(w.roll, s.idx)
			}
			e.rolling++
			w.rollCur = -1 // counted; nextRollout sets the first
			e.nextRollout(w)
			continue
		}
		for _, s := range live {
			if s.state.Live() || s.inst.spawning {
				s.stop(e, afterRestart, Reason{Kind: RReload})
			}
		}
	}
	for _, w := range e.order {
		if _, ok := cfg.Workers[w.name]; !ok && !w.removed {
			w.removed = true
			w.desired = 0
			e.surplus = true
			for i := len(w.slots) - 1; i >= 0; i-- {
				w.slots[i].stop(e, afterStop, Reason{Kind: RRemoved})
			}
		}
	}
	e.dirty = true
}

func sameExceptReplicas(a, b *config.Worker) bool {
	x, y := *a, *b
	x.Replicas, y.Replicas = 0, 0
	return reflect.DeepEqual(x, y)
}

// Diff is what a reload to a new config changes (Engine.Diff).
type Diff struct {
	Added     []string `json:"added"`
	Removed   []string `json:"removed"`
	Restarted []string `json:"restarted"`
	Scaled    []string `json:"scaled"`
	Unchanged []string `json:"unchanged"`
}

// Diff returns what reload(cfg) would do, without doing it: the same
// comparison reload makes, worker by worker.
func (e *Engine) Diff(cfg *config.Config) Diff {
	d := Diff{Added: []string{}, Removed: []string{}, Restarted: []string{}, Scaled: []string{}, Unchanged: []string{}}
	for _, name := range cfg.Order {
		spec := cfg.Workers[name]
		w := e.workers[name]
		switch {
		case w == nil || w.removed:
			d.Added = append(d.Added, name)
		case !sameExceptReplicas(w.spec, spec):
			d.Restarted = append(d.Restarted, name)
		case spec.Replicas != w.spec.Replicas:
			d.Scaled = append(d.Scaled, name)
		default:
			d.Unchanged = append(d.Unchanged, name)
		}
	}
	for _, w := range e.order {
		if _, ok := cfg.Workers[w.name]; !ok && !w.removed {
			d.Removed = append(d.Removed, w.name)
		}
	}
	return d
}
