package simcli

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/engine"
)

// A plain config has no expectations, so what a run of it tells the user
// is what went wrong and how often: automatic restarts by trigger,
// give-ups, and the time replicas spent down. The summary is built from
// the engine's transitions (fakeos.Options.OnAction), which is hsu's own
// account of the run, the one `hsu status` and the logs would show.

// triggers are the restart triggers, in the order they are printed.
var triggers = []string{config.TriggerCrash, config.TriggerHealth, config.TriggerResource}

// Summary is one run's account of trouble, by worker.
type Summary struct {
	Workers map[string]*WorkerSummary `json:"workers"`
	order   []string
}

// WorkerSummary is one worker's share of a Summary.
type WorkerSummary struct {
	// Restarts counts automatic restarts by trigger (crash, health,
	// resource): each time the engine decided to restart a replica after
	// an exit, a failed probe, a resource limit, a failed spawn or an
	// instance lost while hsu was down. Restarts asked for by a command or
	// reload are not automatic and are not counted here.
	Restarts map[string]int `json:"restarts"`
	// GiveUps are the transitions to failed: a spent restart budget or an
	// impossible spawn.
	GiveUps []GiveUp `json:"give_ups"`
	// NotReady is the virtual time, summed over replicas, that replicas
	// spent down after they first came up (see notReady).
	NotReady Seconds `json:"not_ready_s"`
	// NotReadyByReplica splits NotReady by replica (NAME-i).
	NotReadyByReplica map[string]Seconds `json:"not_ready_by_replica"`
	// NeverUp are the replicas that never became running or ready and did
	// not end stopped or exited either, such as one whose program is
	// missing: their time is not in NotReady, since they had no first start.
	NeverUp []string `json:"never_up"`
}

// GiveUp is one transition to failed.
type GiveUp struct {
	Replica string  `json:"replica"`
	At      Seconds `json:"t"`
	Reason  string  `json:"reason"`
}

// Seconds is a virtual duration, shown in seconds with millisecond
// precision like the timeline's times.
type Seconds time.Duration

// MarshalJSON writes seconds as a number (12.345), which jq can compare.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, math.Round(time.Duration(s).Seconds()*1000)/1000, 'f', -1, 64), nil
}

func (s Seconds) String() string { return fmt.Sprintf("%.3fs", time.Duration(s).Seconds()) }

// replicaState follows one replica through its transitions.
type replicaState struct {
	state    engine.State
	since    time.Duration
	wasUp    bool
	seen     bool
	notReady time.Duration
}

// collector builds a Summary from the actions of one run. It is fed from
// the simulation's single goroutine, so it needs no lock.
type collector struct {
	cfg      *config.Config
	workers  map[string]*WorkerSummary
	replicas map[engine.Handle]*replicaState // Gen always 0: keyed by replica
}

func newCollector(cfg *config.Config) *collector {
	return &collector{cfg: cfg, workers: map[string]*WorkerSummary{}, replicas: map[engine.Handle]*replicaState{}}
}

func newWorkerSummary() *WorkerSummary {
	ws := &WorkerSummary{Restarts: map[string]int{}, GiveUps: []GiveUp{}, NotReadyByReplica: map[string]Seconds{}, NeverUp: []string{}}
	for _, t := range triggers {
		ws.Restarts[t] = 0
	}
	return ws
}

func (c *collector) worker(name string) *WorkerSummary {
	ws := c.workers[name]
	if ws == nil {
		ws = newWorkerSummary()
		c.workers[name] = ws
	}
	return ws
}

// notReady says whether time in state counts as down: anything but
// running or ready, except stopped and exited, which a command, a
// scale-down or a finished job asked for (swarm faults stop and scale
// workers on purpose; that is not the config's failure).
func notReady(s engine.State) bool {
	switch s {
	case engine.Running, engine.Ready, engine.Stopped, engine.Exited:
		return false
	}
	return true
}

// restartTrigger says whether a transition is an automatic restart, and
// under which trigger. With a back-off the engine says so itself
// (backoff, reason RBackoff with its trigger). With a zero back-off it
// goes straight to starting and the reason is the cause, so the trigger is
// read back from it the way the engine chose it (engine/slot.go exited and
// restartAfter): an exit, a signal or a spawn, verify or adopt failure is
// a crash, a failed liveness or startup probe is health, and the kernel's
// OOM kill, a sample at max or hsu's own kill at max is resource. Any
// other cause is taken as resource too, since the crash and health causes
// are the settled ones and new kinds have been resource decisions. A start
// for dependencies, after a back-off, or on a command or reload is not
// automatic.
func restartTrigger(to engine.State, r engine.Reason) (string, bool) {
	switch {
	case to == engine.Backoff && r.Kind == engine.RBackoff:
		return r.Trigger, true
	case to != engine.Starting:
		return "", false
	}
	switch r.Kind {
	case engine.RNone, engine.RDefined, engine.RDepsMet, engine.RBackoffDone, engine.RCommand, engine.RReload, engine.RRecovered:
		return "", false
	case engine.RExited, engine.RSignalled, engine.RSpawnFailed, engine.RVerifyFailed, engine.RAdoptFailed:
		return config.TriggerCrash, true
	case engine.RLivenessFailed, engine.RStartupFailed:
		return config.TriggerHealth, true
	case engine.ROOM, engine.RResource, engine.RResourceKilled:
		return config.TriggerResource, true
	}
	return config.TriggerResource, true
}

// onAction is the fakeos.Options.OnAction hook.
func (c *collector) onAction(at time.Duration, a *engine.Action) {
	if a.Kind != engine.ActTransition {
		return
	}
	ws := c.worker(a.H.Worker)
	if t, ok := restartTrigger(a.To, a.Reason); ok {
		ws.Restarts[t]++
	}
	key := engine.Handle{Worker: a.H.Worker, Replica: a.H.Replica}
	if a.To == engine.Failed {
		ws.GiveUps = append(ws.GiveUps, GiveUp{Replica: replicaName(key), At: Seconds(at), Reason: a.Reason.String()})
	}
	rs := c.replicas[key]
	if rs == nil {
		rs = &replicaState{}
		c.replicas[key] = rs
	}
	c.settle(rs, at)
	rs.state, rs.since, rs.seen = a.To, at, true
	if a.To == engine.Running || a.To == engine.Ready {
		rs.wasUp = true
	}
}

// settle adds the time since the replica's last transition, if it was
// down and had been up before.
func (c *collector) settle(rs *replicaState, now time.Duration) {
	if rs.seen && rs.wasUp && notReady(rs.state) {
		rs.notReady += now - rs.since
	}
	rs.since = now
}

// finish closes every replica's last interval at end and returns the
// summary. Workers are listed in config order, then any others (a worker
// only a reload knew) by name.
func (c *collector) finish(end time.Duration) *Summary {
	for _, name := range c.cfg.Order {
		c.worker(name)
	}
	keys := slices.SortedFunc(maps.Keys(c.replicas), func(a, b engine.Handle) int {
		if a.Worker != b.Worker {
			return strings.Compare(a.Worker, b.Worker)
		}
		return a.Replica - b.Replica
	})
	for _, k := range keys {
		rs := c.replicas[k]
		c.settle(rs, end)
		ws := c.worker(k.Worker)
		switch {
		case rs.wasUp:
			ws.NotReady += Seconds(rs.notReady)
			ws.NotReadyByReplica[replicaName(k)] = Seconds(rs.notReady)
		case rs.state != engine.Stopped && rs.state != engine.Exited:
			ws.NeverUp = append(ws.NeverUp, replicaName(k))
		}
	}
	s := &Summary{Workers: c.workers, order: slices.Clone(c.cfg.Order)}
	for _, name := range slices.Sorted(maps.Keys(c.workers)) {
		if !slices.Contains(s.order, name) {
			s.order = append(s.order, name)
		}
	}
	return s
}

func replicaName(h engine.Handle) string { return h.Worker + "-" + strconv.Itoa(h.Replica) }

// print writes the summary as a table, one row per worker, then each
// give-up and each replica that never came up.
func (s *Summary) print(out io.Writer) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "worker\tcrash\thealth\tresource\tgive-ups\tnot ready")
	var notes []string
	for _, name := range s.order {
		ws := s.Workers[name]
		nr := ws.NotReady.String()
		if worst, d := ws.worst(); worst != "" && len(ws.NotReadyByReplica) > 1 {
			nr += fmt.Sprintf(" (%s %s)", worst, d)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\n", name, ws.Restarts[triggers[0]], ws.Restarts[triggers[1]], ws.Restarts[triggers[2]], len(ws.GiveUps), nr)
		for _, g := range ws.GiveUps {
			notes = append(notes, fmt.Sprintf("gave up: %s at %s: %s", g.Replica, g.At, g.Reason))
		}
		if len(ws.NeverUp) > 0 {
			notes = append(notes, fmt.Sprintf("never up: %s", strings.Join(ws.NeverUp, ", ")))
		}
	}
	tw.Flush()
	for _, n := range notes {
		fmt.Fprintln(out, n)
	}
}

// worst is the replica with the most time down, if any had some.
func (ws *WorkerSummary) worst() (string, Seconds) {
	best, bestD := "", Seconds(0)
	for _, r := range slices.Sorted(maps.Keys(ws.NotReadyByReplica)) {
		if d := ws.NotReadyByReplica[r]; d > bestD {
			best, bestD = r, d
		}
	}
	return best, bestD
}

// sweepSummary adds up the summaries of many seeds of one config.
type sweepSummary struct {
	order   []string
	workers map[string]*sweepWorker
	seeds   int
}

type sweepWorker struct {
	restarts  map[string]int
	giveUps   int
	giveUpIn  int // seeds with at least one give-up
	notReady  time.Duration
	worst     time.Duration
	worstSeed int64
}

func newSweepSummary() *sweepSummary { return &sweepSummary{workers: map[string]*sweepWorker{}} }

// add merges one seed's summary. Seeds finish in any order; the result
// does not depend on it (sums, and the worst seed with ties to the lower).
func (ss *sweepSummary) add(seed int64, s *Summary) {
	ss.seeds++
	for _, name := range s.order {
		if !slices.Contains(ss.order, name) {
			ss.order = append(ss.order, name)
		}
		ws := s.Workers[name]
		sw := ss.workers[name]
		if sw == nil {
			sw = &sweepWorker{restarts: map[string]int{}}
			ss.workers[name] = sw
		}
		for t, n := range ws.Restarts {
			sw.restarts[t] += n
		}
		sw.giveUps += len(ws.GiveUps)
		if len(ws.GiveUps) > 0 {
			sw.giveUpIn++
		}
		d := time.Duration(ws.NotReady)
		sw.notReady += d
		if d > sw.worst || (d == sw.worst && d > 0 && seed < sw.worstSeed) {
			sw.worst, sw.worstSeed = d, seed
		}
	}
}

// print writes the totals over all seeds: restarts and give-ups summed,
// time not ready as the mean per seed and the worst seed.
func (ss *sweepSummary) print(out io.Writer) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "worker\tcrash\thealth\tresource\tgive-ups\tnot ready/seed\tworst seed")
	for _, name := range ss.order {
		sw := ss.workers[name]
		gu := strconv.Itoa(sw.giveUps)
		if sw.giveUps > 0 {
			gu += fmt.Sprintf(" (%s)", plural(sw.giveUpIn, "seed"))
		}
		mean := time.Duration(0)
		if ss.seeds > 0 {
			mean = sw.notReady / time.Duration(ss.seeds)
		}
		worst := "-"
		if sw.worst > 0 {
			worst = fmt.Sprintf("%s (seed %d)", Seconds(sw.worst), sw.worstSeed)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\n", name, sw.restarts[triggers[0]], sw.restarts[triggers[1]], sw.restarts[triggers[2]], gu, Seconds(mean), worst)
	}
	tw.Flush()
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
