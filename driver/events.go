package driver

import (
	"maps"
	"sync"
	"time"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/engine"
)

// ProbeBuckets are the upper bounds (seconds) of the probe duration
// histogram.
var ProbeBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// ProbeHist is the duration histogram of one worker's probe kind.
type ProbeHist struct {
	Worker, Probe string
	Counts        []uint64 // per bucket, not cumulative; the last is +Inf
	Sum           float64
	Count         uint64
}

// probeStats times probes from their action to their result.
type probeStats struct {
	mu      sync.Mutex
	started map[probeKey]time.Duration
	hist    map[[2]string]*ProbeHist
}

type probeKey struct {
	h engine.Handle
	k engine.ProbeKind
}

func (p *probeStats) start(h engine.Handle, k engine.ProbeKind, at time.Duration) {
	p.mu.Lock()
	if p.started == nil {
		p.started, p.hist = map[probeKey]time.Duration{}, map[[2]string]*ProbeHist{}
	}
	p.started[probeKey{h, k}] = at
	p.mu.Unlock()
}

func (p *probeStats) done(h engine.Handle, k engine.ProbeKind, at time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t0, ok := p.started[probeKey{h, k}]
	if !ok {
		return
	}
	delete(p.started, probeKey{h, k})
	key := [2]string{h.Worker, k.String()}
	ph := p.hist[key]
	if ph == nil {
		ph = &ProbeHist{Worker: h.Worker, Probe: k.String(), Counts: make([]uint64, len(ProbeBuckets)+1)}
		p.hist[key] = ph
	}
	secs := (at - t0).Seconds()
	i := 0
	for i < len(ProbeBuckets) && secs > ProbeBuckets[i] {
		i++
	}
	ph.Counts[i]++
	ph.Sum += secs
	ph.Count++
}

// ProbeHistograms returns a copy of every probe duration histogram.
func (d *Driver) ProbeHistograms() []ProbeHist {
	p := &d.probes
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ProbeHist, 0, len(p.hist))
	for _, h := range p.hist { // order-free: sorted by the caller
		c := *h
		c.Counts = append([]uint64(nil), h.Counts...)
		out = append(out, c)
	}
	return out
}

// reloadRequest handles a reload that waits for its diff
// (ReloadDiff): it records the diff, and a dry run ends here. It reports
// whether the event is done with.
func (d *Driver) reloadRequest(ev *engine.Event) bool {
	d.mu.Lock()
	req := d.reloads[ev.Cmd.ID]
	delete(d.reloads, ev.Cmd.ID)
	d.mu.Unlock()
	if ev.Config == nil {
		d.answers = append(d.answers, answer{ev.Cmd.ID, "no config", engine.ErrInvalid})
		return true
	}
	if d.eng.ShuttingDown() {
		d.answers = append(d.answers, answer{ev.Cmd.ID, "hsu is shutting down", engine.ErrShuttingDown})
		return true
	}
	diff := d.eng.Diff(ev.Config)
	if req != nil {
		req.diff = diff // read by the caller only after its reply
	}
	if req != nil && req.dry {
		d.answers = append(d.answers, answer{id: ev.Cmd.ID})
		return true
	}
	// The reply follows the reload's state write, as a command's does.
	d.answers = append(d.answers, answer{id: ev.Cmd.ID})
	if d.feed != nil {
		d.feed.Add(FeedEvent{At: ev.At, Kind: FeedReload, Reason: diffSummary(diff)}, false)
	}
	return false
}

func diffSummary(d engine.Diff) string {
	s := ""
	add := func(label string, names []string) {
		if len(names) == 0 {
			return
		}
		if s != "" {
			s += "; "
		}
		s += label + " " + itoa(len(names))
	}
	add("added", d.Added)
	add("removed", d.Removed)
	add("restarted", d.Restarted)
	add("scaled", d.Scaled)
	add("unchanged", d.Unchanged)
	return s
}

// feedEvent records what an incoming event itself says (before the
// engine steps it): failed probes, with the probe's own error text.
func (d *Driver) feedEvent(ev *engine.Event) {
	if ev.Kind == engine.EvProbe {
		d.probes.done(ev.H, ev.Probe, ev.At)
	}
	if ev.Kind == engine.EvProbe && !ev.OK && d.eng.Alive(ev.H) {
		d.feed.Add(FeedEvent{At: ev.At, Kind: FeedProbeFailed, Worker: ev.H.Worker, Replica: ev.H.Replica,
			Trigger: ev.Probe.String(), Error: ev.Err}, false)
	}
}

func (d *Driver) feedTransition(a *engine.Action, reason string) {
	at := d.os.Now()
	fe := FeedEvent{At: at, Kind: FeedTransition, Worker: a.H.Worker, Replica: a.H.Replica,
		From: a.From.String(), To: a.To.String(), Reason: reason}
	d.feed.Add(fe, false)
	if a.Trigger != "" {
		d.feed.Add(FeedEvent{At: at, Kind: FeedRestart, Worker: a.H.Worker, Replica: a.H.Replica, Trigger: a.Trigger, Reason: fe.Reason}, false)
	}
	if a.Reason.Kind == engine.ROOM || a.Reason.Cause == engine.ROOM {
		if a.From.Live() { // the exit itself, not a later step of its back-off
			d.feed.Add(FeedEvent{At: at, Kind: FeedOOM, Worker: a.H.Worker, Replica: a.H.Replica, Reason: fe.Reason}, false)
		}
	}
}

func (d *Driver) feedNotice(a *engine.Action) {
	fe := FeedEvent{At: d.os.Now(), Kind: FeedNotice, Worker: a.H.Worker, Replica: a.H.Replica, Reason: a.Reason.String()}
	r := &a.Reason
	switch r.Kind {
	case engine.RResourceWarn:
		fe.Kind, fe.Resource, fe.Value, fe.Limit, fe.Source = FeedLimitWarn, r.Text, r.N, r.Limit, r.Source
	case engine.RResource:
		fe.Kind, fe.Resource, fe.Value, fe.Limit, fe.Source, fe.Trigger = FeedLimit, r.Text, r.N, r.Limit, r.Source, r.Trigger
		if r.Trigger == config.ResAlert {
			fe.Kind = FeedAlert
			d.alerts.add(a.H.Worker + "/" + r.Text)
		}
	case engine.RThrottled:
		fe.Kind, fe.Resource, fe.Value, fe.Limit, fe.Source = FeedThrottled, r.Text, r.N, r.Limit, r.Source
	case engine.RChildOOM:
		fe.Kind, fe.Value, fe.Source = FeedOOM, r.N, r.Source
	}
	d.feed.Add(fe, false)
}

// alertCounts counts limit alerts by "worker/resource", for
// hsu_worker_limit_alerts_total (read by the API's goroutines).
type alertCounts struct {
	mu sync.Mutex
	n  map[string]uint64
}

func (c *alertCounts) add(key string) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]uint64{}
	}
	c.n[key]++
	c.mu.Unlock()
}

// LimitAlerts returns a copy of the alert counts by "worker/resource".
func (d *Driver) LimitAlerts() map[string]uint64 {
	d.alerts.mu.Lock()
	defer d.alerts.mu.Unlock()
	return maps.Clone(d.alerts.n)
}
