package engine

import (
	"fmt"
	"strconv"
	"time"
)

// ReasonKind classifies why a transition happened. Reasons are structured,
// not formatted strings, so the engine's hot path allocates nothing; String
// renders them for people.
type ReasonKind uint8

const (
	RNone            ReasonKind = iota
	RDefined                    // the worker was defined (start of supervision, reload, scale up)
	RWaitingDep                 // Text: dependency, Trigger: condition
	RDepsMet                    // dependencies reached their conditions
	RSpawning                   // a spawn was requested
	RSpawnFailed                // Text: errno; will retry
	RSpawnImpossible            // Text: errno; permanent (ENOENT, EACCES, ...)
	RStarted                    // ran past start_seconds (and startup probe)
	RReadinessPassed            //
	RReadinessFailed            //
	RLivenessFailed             // N consecutive failures
	RStartupFailed              // N consecutive failures
	RExited                     // Code
	RSignalled                  // Signal
	ROOM                        // killed by the OOM killer / memory limit
	RBackoff                    // D: delay, N: restart number, Trigger
	RBudget                     // N restarts within D, Trigger
	RCommand                    // Text: verb
	RShutdown                   // hsu is shutting down
	RResource                   // Text: resource, Trigger: policy, N: value, D unused
	RResourceWarn               // Text: resource, N: value
	RStopTimeout                // the stop timeout passed; the group was killed
	RRecovered                  // adopted after an hsu restart, verifying
	RVerified                   // recovered instance verified
	RVerifyFailed               // recovered instance gone or not ours
	RAdopted                    // unmanaged process adopted (N: pid)
	RAdoptFailed                // Text: why
	RReload                     // config changed
	RRemoved                    // worker or replica removed by reload or scale
	RActionFailed               // Text: an action failed (signal, kill, stop command, throttle, ...)
	RBackoffDone                // the back-off delay elapsed
	RWaitingCapacity            // N: desired; surplus replicas are still stopping
	// RResourceKilled: hsu itself SIGKILLed the instance under
	// immediate_kill after a sample reached max (Text: resource, N: value,
	// Trigger: policy). Kept apart from ROOM, the kernel's kill at a limit
	// it enforces, so a reader can tell which of the two acted. Last in
	// the list so the values of the kinds before it do not change.
	RResourceKilled
	// RIgnored: something asked of hsu was not done (Text: what and why),
	// such as a reload during a shutdown.
	RIgnored
	RNotifyReady    // a notify worker sent READY=1
	RWatchdogMissed // D: the watchdog period without a WATCHDOG=1
	RRolloutStopped // Text: why a rolling reload stopped
	RThrottled      // Text: resource, N: value, Limit: the limit, Source; the kernel throttles it (memory.high)
	RChildOOM       // N: processes of the instance other than its leader the kernel OOM-killed
)

// Reason says why a transition or notice happened.
type Reason struct {
	Kind    ReasonKind
	Code    int
	Signal  string
	Text    string
	Trigger string
	N       int64
	D       time.Duration
	// Limit is the threshold a resource reason is about (warn or max), and
	// Source where the value was measured (Usage.Source).
	Limit  int64
	Source string
	// FailedStart marks an exit before start_seconds.
	FailedStart bool
	// Cause is what a backoff or budget reason is about (an exit, a probe,
	// a spawn error), rendered from Code, Signal and Text; kept as a kind
	// rather than a string so the hot path does not format.
	Cause ReasonKind
	// CauseN and CauseTrigger carry the cause's own N and Trigger.
	CauseN       int64
	CauseTrigger string
}

func (r Reason) String() string {
	s := r.text()
	if r.FailedStart && (r.Kind == RExited || r.Kind == RSignalled || r.Kind == ROOM || r.Kind == RResourceKilled) {
		s += " before start_seconds (failed start)"
	}
	return s
}

func (r Reason) text() string {
	switch r.Kind {
	case RNone:
		return ""
	case RDefined:
		return "defined"
	case RWaitingDep:
		return "waiting for " + r.Text + " to be " + r.Trigger
	case RDepsMet:
		return "dependencies met"
	case RSpawning:
		return "spawning"
	case RSpawnFailed:
		return "spawn failed: " + r.Text
	case RSpawnImpossible:
		return "spawn impossible: " + r.Text
	case RStarted:
		return "started"
	case RReadinessPassed:
		return "readiness probe passed"
	case RReadinessFailed:
		return "readiness probe failed"
	case RLivenessFailed:
		return "liveness probe failed " + strconv.FormatInt(r.N, 10) + " times"
	case RStartupFailed:
		return "startup probe failed " + strconv.FormatInt(r.N, 10) + " times"
	case RExited:
		return "exited with code " + strconv.Itoa(r.Code)
	case RSignalled:
		return "killed by SIG" + r.Signal
	case ROOM:
		return "OOMKilled"
	case RResourceKilled:
		return fmt.Sprintf("killed by hsu (SIGKILL; no kernel limit): %s %s reached max %s (policy %s)", r.Text, formatUsage(r.Text, r.N), formatUsage(r.Text, r.Limit), r.Trigger)
	case RBackoff:
		return fmt.Sprintf("%s; restart %d (%s) in %s", r.cause(), r.N, r.Trigger, r.D.Round(time.Millisecond))
	case RWaitingCapacity:
		return fmt.Sprintf("waiting for replicas above %d to stop", r.N)
	case RBackoffDone:
		return "back-off elapsed"
	case RBudget:
		return fmt.Sprintf("%s; restart budget spent: %d %s restarts within %s", r.cause(), r.N, r.Trigger, r.D)
	case RCommand:
		return "command " + r.Text
	case RShutdown:
		return "shutdown"
	case RResource:
		return fmt.Sprintf("%s %s reached max %s%s: policy %s", r.Text, formatUsage(r.Text, r.N), formatUsage(r.Text, r.Limit), r.from(), r.Trigger)
	case RResourceWarn:
		return fmt.Sprintf("%s %s crossed warn %s%s", r.Text, formatUsage(r.Text, r.N), formatUsage(r.Text, r.Limit), r.from())
	case RThrottled:
		return fmt.Sprintf("%s throttled by the kernel at %s (memory.high %s)%s", r.Text, formatUsage(r.Text, r.N), formatUsage(r.Text, r.Limit), r.from())
	case RChildOOM:
		return fmt.Sprintf("OOMKilled: the kernel killed %d of its processes; killing the rest", r.N)
	case RStopTimeout:
		return "stop timeout: killed"
	case RRecovered:
		return "recovered after hsu restart"
	case RVerified:
		return "verified"
	case RVerifyFailed:
		return "gone while hsu was down"
	case RAdopted:
		return "adopted pid " + strconv.FormatInt(r.N, 10)
	case RAdoptFailed:
		return "adopt failed: " + r.Text
	case RReload:
		return "config changed"
	case RNotifyReady:
		return "sent READY=1"
	case RWatchdogMissed:
		return "watchdog: no WATCHDOG=1 for " + r.Text
	case RRolloutStopped:
		return "rolling reload stopped: " + r.Text
	case RRemoved:
		return "removed"
	case RActionFailed:
		return r.Text
	case RIgnored:
		return r.Text
	}
	return "reason " + strconv.Itoa(int(r.Kind))
}

// from names a sample's source, if known.
func (r Reason) from() string {
	if r.Source == "" {
		return ""
	}
	return " (" + r.Source + ")"
}

// cause renders the reason a backoff or budget reason is about.
func (r Reason) cause() string {
	c := Reason{Kind: r.Cause, Code: r.Code, Signal: r.Signal, Text: r.Text, FailedStart: r.FailedStart, N: r.CauseN, Trigger: r.CauseTrigger,
		Limit: r.Limit, Source: r.Source}
	return c.String()
}

// because makes a backoff or budget reason about why.
func because(kind ReasonKind, why Reason) Reason {
	return Reason{Kind: kind, Cause: why.Kind, Code: why.Code, Signal: why.Signal, Text: why.Text,
		FailedStart: why.FailedStart, CauseN: why.N, CauseTrigger: why.Trigger, Limit: why.Limit, Source: why.Source}
}

// formatUsage prints a resource value: bytes for memory, millicores for
// cpu, a count for pids.
func formatUsage(resource string, v int64) string {
	switch resource {
	case "memory":
		return fmt.Sprintf("%dMi", v>>20)
	case "cpu":
		return fmt.Sprintf("%dm", v)
	}
	return strconv.FormatInt(v, 10)
}
