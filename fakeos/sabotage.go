package fakeos

import (
	"errors"
	"fmt"
	"time"

	"github.com/hsu-run/hsu/driver"
	"github.com/hsu-run/hsu/engine"
)

// Sabotage: deliberate faults, each of which breaks one built-in invariant
// the way a real bug would, so that a test (sabotage_test.go) can prove the
// checker reports it. An invariant no fault can break is a check that may
// have rotted into dead code; these keep every one of them honest.
//
// They are compiled into the package but inert: World.sab is zero unless a
// test sets it (NewSabotaged in export_test.go), and each hook in world.go
// and os.go is a single `if w.sab.kind != sabNone` that costs one compare.
// Most faults live in the fake OS; a few, for invariants no OS misbehaviour
// can break alone, rewrite what the driver hands the engine or carries out
// for it, at the Observer boundary. None touches the engine's own code.

// sabKind is one sabotage.
type sabKind uint8

const (
	sabNone sabKind = iota
	// sabScaleOffByOne: the CLI hands hsu "scale W N+1" for "scale W N",
	// so the engine runs one instance more than asked for (max-instances).
	sabScaleOffByOne
	// sabEscapedChild: every instance forks a grandchild that leaves its
	// process group (setsid), and the adapter cleans up only the group
	// when the leader dies or is signalled, not the cgroup: the grandchild
	// outlives its instance (stop-complete, duplicate-instance).
	sabEscapedChild
	// sabLostStateFile: the state file was never fsynced, so the hsu that
	// starts after a crash finds it empty and starts everything afresh,
	// replicas that had stopped or failed included (spawn-after-halt).
	sabLostStateFile
	// sabEarlyBackoff: back-off timers fire after a tenth of their delay
	// (a timer wheel that mixes up units): restarts come too soon (backoff).
	sabEarlyBackoff
	// sabEarlyReap: the adapter reaps a dead child (frees its PID) as it
	// reports the exit, before hsu has taken it; a stop hsu sends in
	// between reaches whoever got the PID next (foreign-signal).
	sabEarlyReap
	// sabEarlyStopTimeout: the stop-timeout timer fires after a tenth of
	// the timeout: SIGKILL before the timeout (kill-timing).
	sabEarlyStopTimeout
	// sabLateStopTimeout: the stop-timeout timer fires lateBy late: a
	// stubborn process outlives its timeout unkilled (kill-timing).
	sabLateStopTimeout
	// sabLateExit: exits reach hsu lateBy after the process died (an
	// adapter polling waitpid slowly): meanwhile a dependency that died
	// still counts as healthy and a dependent starts on it
	// (dependency-order).
	sabLateExit
	// sabLostReload: hsu acknowledges a reload but re-reads the config it
	// started with, so the engine never learns of the new one: it stops in
	// the old dependency order (stop-order) and waits for dependencies the
	// config no longer has (stuck-pending).
	sabLostReload
	// sabMangledExit: the driver hands the engine an exit under the
	// previous generation's handle, which the engine rightly ignores as
	// stale: it believes a dead instance alive (exit-observed). The
	// checker sees the real event: the handle is restored before it looks.
	sabMangledExit
	// sabDropPersist: the engine's ActPersist requests are lost on the way
	// to the driver, which then writes only for spawns: the state file
	// misses what recovery depends on (persist, with StrictPersist).
	sabDropPersist
	// sabIllegalTransition: the engine records every starting -> running
	// transition as illegal, as if its table of legal transitions had lost
	// that entry (engine). The engine's own code is not modified: the
	// record goes into its Bugs, where its transition() would put it, and
	// travels through the driver to the checker as a real one would.
	sabIllegalTransition
	// sabLostExit: exits are never reported; the zombie hsu never takes is
	// left at the end (exit-observed).
	sabLostExit
	// sabCorruptStateFile: a state file that exists cannot be parsed, so
	// the hsu started after a crash refuses to start (hsu-start).
	sabCorruptStateFile
	// sabSwallowWriteError: a failed state write is reported as done, as
	// hsu once did on a full disk (durable).
	sabSwallowWriteError
	numSabKinds
)

// sabNames are the sabotages by the names tests use.
var sabNames = [numSabKinds]string{
	sabNone:              "",
	sabScaleOffByOne:     "scale-off-by-one",
	sabEscapedChild:      "escaped-child",
	sabLostStateFile:     "lost-state-file",
	sabEarlyBackoff:      "early-backoff-timer",
	sabEarlyReap:         "early-reap",
	sabEarlyStopTimeout:  "early-stop-timeout",
	sabLateStopTimeout:   "late-stop-timeout",
	sabLateExit:          "late-exit",
	sabLostReload:        "lost-reload",
	sabMangledExit:       "mangled-exit",
	sabDropPersist:       "drop-persist",
	sabIllegalTransition: "illegal-transition",
	sabLostExit:          "lost-exit",
	sabCorruptStateFile:  "corrupt-state-file",
	sabSwallowWriteError: "swallow-write-error",
}

// lateBy is how late the late sabotages are: well past killSlack and
// latencySlack, so a checker that tolerates less than this must notice.
const lateBy = 2 * time.Second

// sabotage is a World's test-only fault; the zero value is none.
type sabotage struct {
	kind sabKind
	// realH is the handle of the exit sabMangledExit handed the engine
	// under a stale generation, restored in stepped; mangled says one is.
	realH   engine.Handle
	mangled bool
}

// parseSabotage maps a name of sabNames to its kind.
func parseSabotage(name string) (sabKind, error) {
	for k, n := range sabNames {
		if n == name && k != int(sabNone) {
			return sabKind(k), nil
		}
	}
	return sabNone, fmt.Errorf("unknown sabotage %q", name)
}

// sabSpawned runs when the fake OS has spawned leader p (Spawn).
func (w *World) sabSpawned(p *proc) {
	if w.sab.kind == sabEscapedChild {
		// A grandchild of p, owned by p's instance (its cgroup), but not in
		// p's group: signalGroup and die, which clean up p.children, miss
		// it. Only a kill by cgroup (killInstance) would still get it.
		w.newProc(p.owner, p.worker, p.beh, p)
	}
}

// sabPost runs before the fake OS posts a completion to hsu with latency
// lat, which it may change; false drops the completion.
func (w *World) sabPost(ev engine.Event, lat *time.Duration) bool {
	if ev.Kind != engine.EvExited {
		return true
	}
	switch w.sab.kind {
	case sabLateExit:
		*lat += lateBy
	case sabLostExit:
		return false
	case sabEarlyReap:
		if z := w.zombies[ev.H]; z != nil {
			w.release(z) // the PID is free while hsu still believes it its child's
		}
	}
	return true
}

// sabEvent runs after the checker saw ev and before the engine steps it;
// it may rewrite what the engine is handed.
func (w *World) sabEvent(ev *engine.Event) {
	switch w.sab.kind {
	case sabScaleOffByOne:
		if ev.Kind == engine.EvCommand && ev.Cmd.Verb == engine.CmdScale {
			ev.Cmd.N++
		}
	case sabLostReload:
		if ev.Kind == engine.EvReload {
			ev.Config = w.sc.Cfg // the config hsu started with
		}
	case sabMangledExit:
		if ev.Kind == engine.EvExited && w.eng.Alive(ev.H) {
			w.sab.realH, w.sab.mangled = ev.H, true
			ev.H.Gen-- // the previous generation's handle: stale
		}
	}
}

// sabStepped runs after the engine stepped ev, before the checker judges
// the step: it undoes sabEvent's rewrite, so the checker judges the engine
// by the event that really happened.
func (w *World) sabStepped(ev *engine.Event) {
	if w.sab.mangled {
		ev.H, w.sab.mangled = w.sab.realH, false
	}
}

// sabAction runs after the checker saw action a and before the driver
// carries it out; it may rewrite a.
func (w *World) sabAction(a *engine.Action) {
	switch w.sab.kind {
	case sabEarlyBackoff:
		if a.Kind == engine.ActStartTimer && a.Timer.Kind == engine.TimerBackoff {
			a.At = w.now + (a.At-w.now)/10
		}
	case sabEarlyStopTimeout:
		if a.Kind == engine.ActStartTimer && a.Timer.Kind == engine.TimerStopTimeout {
			a.At = w.now + (a.At-w.now)/10
		}
	case sabLateStopTimeout:
		if a.Kind == engine.ActStartTimer && a.Timer.Kind == engine.TimerStopTimeout {
			a.At += lateBy
		}
	case sabDropPersist:
		if a.Kind == engine.ActPersist {
			*a = engine.Action{Kind: engine.ActNotice} // an empty notice: the driver does nothing with it
		}
	case sabIllegalTransition:
		if a.Kind == engine.ActTransition && a.From == engine.Starting && a.To == engine.Running {
			w.eng.Bugs = append(w.eng.Bugs, a.H.Worker+": illegal transition "+a.From.String()+" -> "+a.To.String()+" ("+a.Reason.String()+")")
		}
	}
}

// sabRead runs when hsu reads the state file st (nil: none).
func (w *World) sabRead(st *driver.State) (*driver.State, string, error) {
	switch w.sab.kind {
	case sabLostStateFile:
		return nil, "state", nil
	case sabCorruptStateFile:
		if st != nil {
			return nil, "state", errors.New("state: unexpected end of JSON input")
		}
	}
	return st, "state", nil
}
