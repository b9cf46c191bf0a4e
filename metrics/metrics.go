// Package metrics renders hsu's Prometheus metrics at scrape time from an
// immutable snapshot (Input), in the text format 0.0.4 (docs/api.md).
// It owns the metric names, labels and help texts. It must never keep
// metric state of its own or be updated on a hot path: every scrape
// renders one Input, streaming, with a few KiB of garbage whatever the
// number of workers.
//
// It is a plain writer, not client_golang: with 100 workers that
// library cost 6 MiB more idle PSS than this writer (its registry builds
// every series as a protobuf message, 2 MiB of garbage a scrape, and it
// adds 3.9 MB to the binary), while the budget leaves none. The tests
// check the output with Prometheus's own parser.
package metrics

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"iter"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hsu-run/hsu/driver"
	"github.com/hsu-run/hsu/engine"
)

// Input is what one scrape renders.
type Input struct {
	Status *engine.Status
	// Wall maps world time (Status.At, ReplicaStatus.StartedAt) to the
	// wall clock.
	Wall          func(time.Duration) time.Time
	Probes        []driver.ProbeHist
	WriteFailures uint64
	LoopLag       time.Duration
	LogDropped    uint64
	Degraded      bool
	Version       string
	Revision      string
	GoVersion     string
	// LimitAlerts counts resource limit alerts by "worker/resource".
	LimitAlerts map[string]uint64
}

// contentType is the text format Write produces.
const contentType = "text/plain; version=0.0.4; charset=utf-8"

// scrapeTimeout bounds the reply to one scrape: a client that stops
// reading is dropped once it passes.
const scrapeTimeout = 10 * time.Second

// Handler serves the metrics of get() (GET and HEAD). An Input that
// cannot be rendered is a 500 with the reason, never a partial scrape.
func Handler(get func() Input) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		// Not every ResponseWriter has deadlines (httptest's has not).
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(scrapeTimeout))
		in := get()
		s, err := prepare(&in)
		if err != nil {
			http.Error(w, "metrics: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", contentType)
		if r.Method == http.MethodHead {
			return
		}
		_ = s.write(w) // an error here is the client going away
	})
}

// Write writes the metrics of in to w. It checks in first: if in cannot
// be rendered, Write returns why and writes nothing.
func Write(w io.Writer, in Input) error {
	s, err := prepare(&in)
	if err != nil {
		return err
	}
	return s.write(w)
}

type family struct{ name, typ, help string }

var (
	fUp        = family{"hsu_up", "gauge", "1 while hsu serves metrics."}
	fBuild     = family{"hsu_build_info", "gauge", "hsu's build, as labels; the value is 1."}
	fWriteFail = family{"hsu_state_write_failures_total", "counter", "State file writes that failed."}
	fLag       = family{"hsu_loop_lag_seconds", "gauge", "How far the supervision loop lags behind its events."}
	fDropped   = family{"hsu_log_lines_dropped_total", "counter", "Log lines lost: a log file could not be written, or the console did not read."}
	fDegraded  = family{"hsu_degraded", "gauge", "1 if hsu is degraded (see /healthz), 0 if not."}
	fDesired   = family{"hsu_worker_desired_replicas", "gauge", "The replica count a worker should have."}
	fState     = family{"hsu_worker_state", "gauge", "A replica's state, as a state set: 1 for the current state, 0 for the others."}
	fReady     = family{"hsu_worker_ready", "gauge", "1 if the replica is ready, 0 if not."}
	fRestarts  = family{"hsu_worker_restarts_total", "counter", "Restarts of a replica, by what triggered them."}
	fOOM       = family{"hsu_worker_oom_kills_total", "counter", "Instances of the replica killed by the OOM killer."}
	fStart     = family{"hsu_worker_start_time_seconds", "gauge", "When the replica's current instance was spawned, in Unix seconds."}
	fCPU       = family{"hsu_worker_cpu_seconds_total", "counter", "CPU time the replica's current instance used."}
	fMem       = family{"hsu_worker_memory_bytes", "gauge", "Memory of the replica's current instance at its last sample."}
	fPids      = family{"hsu_worker_pids", "gauge", "Processes of the replica's current instance at its last sample."}
	fFDs       = family{"hsu_worker_open_fds", "gauge", "Open file descriptors of the replica's current instance at its last sample."}
	fIORead    = family{"hsu_worker_io_read_bytes_total", "counter", "Bytes the replica's current instance read from block devices."}
	fIOWrite   = family{"hsu_worker_io_write_bytes_total", "counter", "Bytes the replica's current instance wrote to block devices."}
	fLimit     = family{"hsu_worker_limit", "gauge", "A resource limit's max, by resource: bytes for memory, cores for cpu, tasks for pids."}
	fLimitUse  = family{"hsu_worker_limit_usage", "gauge", "The usage a resource limit is compared with, at the last sample, in the limit's unit."}
	fThrottled = family{"hsu_worker_throttled", "gauge", "1 if the kernel throttled the replica at memory.high at its last sample."}
	fAlerts    = family{"hsu_worker_limit_alerts_total", "counter", "Resource limit alerts, by worker and resource."}
	fProbe     = family{"hsu_probe_duration_seconds", "histogram", "How long probes took, by worker and probe kind."}
)

// The series names of fProbe.
const (
	probeBucket = "hsu_probe_duration_seconds_bucket"
	probeSum    = "hsu_probe_duration_seconds_sum"
	probeCount  = "hsu_probe_duration_seconds_count"
)

// states are the names of every engine.State, in order: those that
// ParseState reads back ("invalid" is none).
var states = func() []string {
	var out []string
	for i := range 256 {
		name := engine.State(i).String()
		if _, ok := engine.ParseState(name); !ok {
			break
		}
		out = append(out, name)
	}
	return out
}()

// scrape is a checked Input, with its maps and unordered lists put in
// order.
type scrape struct {
	*Input
	workers []engine.WorkerStatus
	probes  []*driver.ProbeHist // by worker, then probe
	alerts  []string            // LimitAlerts' keys, sorted
}

// prepare checks in and orders what it renders. It reports why in cannot
// be rendered: a label value that is not UTF-8, a series that would
// appear twice, a histogram whose buckets do not match
// driver.ProbeBuckets or its count, an alert key that is not
// worker/resource.
func prepare(in *Input) (scrape, error) {
	s := scrape{Input: in}
	for _, v := range []string{in.Version, in.Revision, in.GoVersion} {
		if !utf8.ValidString(v) {
			return s, fmt.Errorf("build info %q is not UTF-8", v)
		}
	}
	if in.Status != nil {
		s.workers = in.Status.Workers
	}
	names := make([]string, len(s.workers))
	for i := range s.workers {
		w := &s.workers[i]
		if !utf8.ValidString(w.Name) {
			return s, fmt.Errorf("worker %q is not UTF-8", w.Name)
		}
		names[i] = w.Name
		for j := range w.Slots {
			r := &w.Slots[j]
			for k := range j {
				if w.Slots[k].Replica == r.Replica {
					return s, fmt.Errorf("worker %s: replica %d is listed twice", w.Name, r.Replica)
				}
			}
			if int(r.State) >= len(states) {
				return s, fmt.Errorf("worker %s replica %d: invalid state %d", w.Name, r.Replica, r.State)
			}
			for t := range r.RestartsBy { // order-free: any bad one fails
				if !utf8.ValidString(t) {
					return s, fmt.Errorf("worker %s replica %d: restart trigger %q is not UTF-8", w.Name, r.Replica, t)
				}
			}
		}
	}
	slices.Sort(names)
	if i := dup(names); i >= 0 {
		return s, fmt.Errorf("worker %s is listed twice", names[i])
	}

	s.probes = make([]*driver.ProbeHist, len(in.Probes))
	for i := range in.Probes {
		s.probes[i] = &in.Probes[i]
	}
	slices.SortFunc(s.probes, func(a, b *driver.ProbeHist) int {
		return cmp.Or(strings.Compare(a.Worker, b.Worker), strings.Compare(a.Probe, b.Probe))
	})
	for i, p := range s.probes {
		if !utf8.ValidString(p.Worker) || !utf8.ValidString(p.Probe) {
			return s, fmt.Errorf("probe histogram %q/%q is not UTF-8", p.Worker, p.Probe)
		}
		if i > 0 && p.Worker == s.probes[i-1].Worker && p.Probe == s.probes[i-1].Probe {
			return s, fmt.Errorf("probe histogram %s/%s is listed twice", p.Worker, p.Probe)
		}
		if len(p.Counts) != len(driver.ProbeBuckets)+1 {
			return s, fmt.Errorf("probe histogram %s/%s: %d bucket counts for %d bounds (want bounds+1)", p.Worker, p.Probe, len(p.Counts), len(driver.ProbeBuckets))
		}
		var n uint64
		for _, c := range p.Counts {
			n += c
		}
		if n != p.Count {
			return s, fmt.Errorf("probe histogram %s/%s: bucket counts add up to %d, not to the count %d", p.Worker, p.Probe, n, p.Count)
		}
	}

	s.alerts = slices.Sorted(maps.Keys(in.LimitAlerts))
	for _, key := range s.alerts {
		w, res, ok := strings.Cut(key, "/")
		if !ok || w == "" || res == "" || !utf8.ValidString(key) {
			return s, fmt.Errorf("limit alert key %q is not worker/resource", key)
		}
	}
	return s, nil
}

// dup returns the index of an element equal to the one before it, or -1.
func dup(sorted []string) int {
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			return i
		}
	}
	return -1
}

// replicas yields every replica with its worker, in status order.
func (s *scrape) replicas() iter.Seq2[*engine.WorkerStatus, *engine.ReplicaStatus] {
	return func(yield func(*engine.WorkerStatus, *engine.ReplicaStatus) bool) {
		for i := range s.workers {
			w := &s.workers[i]
			for j := range w.Slots {
				if !yield(w, &w.Slots[j]) {
					return
				}
			}
		}
	}
}

var printers = sync.Pool{New: func() any {
	return &printer{w: bufio.NewWriterSize(nil, 4<<10), b: make([]byte, 0, 256)}
}}

// write renders a prepared scrape. Each family is one pass over the
// status, so that its series stay together as the format requires.
func (s *scrape) write(w io.Writer) error {
	p := printers.Get().(*printer)
	p.w.Reset(w)
	defer func() {
		p.w.Reset(nil)
		printers.Put(p)
	}()

	p.family(fUp)
	p.series(fUp.name).float(1)
	p.family(fBuild)
	p.series(fBuild.name).label("version", s.Version).label("revision", s.Revision).label("goversion", s.GoVersion).float(1)
	p.family(fWriteFail)
	p.series(fWriteFail.name).uint(s.WriteFailures)
	p.family(fLag)
	p.series(fLag.name).float(s.LoopLag.Seconds())
	p.family(fDropped)
	p.series(fDropped.name).uint(s.LogDropped)
	p.family(fDegraded)
	p.series(fDegraded.name).float(b2f(s.Degraded))

	p.family(fDesired)
	for i := range s.workers {
		p.series(fDesired.name).label("worker", s.workers[i].Name).int(int64(s.workers[i].Replicas))
	}
	p.family(fState)
	for w, r := range s.replicas() {
		for k, name := range states {
			p.replica(fState.name, w, r).label("state", name).float(b2f(int(r.State) == k))
		}
	}
	p.family(fReady)
	for w, r := range s.replicas() {
		p.replica(fReady.name, w, r).float(b2f(r.Ready))
	}
	p.family(fRestarts)
	for w, r := range s.replicas() {
		// crash always, so that the series exists before the first restart
		if _, ok := r.RestartsBy["crash"]; !ok {
			p.replica(fRestarts.name, w, r).label("trigger", "crash").int(0)
		}
		var buf [8]string
		for _, t := range sortedKeys(buf[:0], r.RestartsBy) {
			p.replica(fRestarts.name, w, r).label("trigger", t).int(int64(r.RestartsBy[t]))
		}
	}
	p.family(fOOM)
	for w, r := range s.replicas() {
		p.replica(fOOM.name, w, r).int(int64(r.OOMKills))
	}
	p.family(fStart)
	for w, r := range s.replicas() {
		if r.Alive && s.Wall != nil {
			p.replica(fStart.name, w, r).float(float64(s.Wall(r.StartedAt).UnixNano()) / 1e9)
		}
	}
	p.family(fCPU)
	for w, r := range s.replicas() {
		if r.UsageAt > 0 {
			p.replica(fCPU.name, w, r).float(r.Usage.CPUSeconds)
		}
	}
	p.family(fMem)
	for w, r := range s.replicas() {
		if r.UsageAt > 0 {
			p.replica(fMem.name, w, r).int(r.Usage.Memory)
		}
	}
	p.family(fPids)
	for w, r := range s.replicas() {
		if r.UsageAt > 0 {
			p.replica(fPids.name, w, r).int(int64(r.Usage.Pids))
		}
	}

	p.family(fFDs)
	for w, r := range s.replicas() {
		if r.UsageAt > 0 {
			p.replica(fFDs.name, w, r).int(int64(r.Usage.FDs))
		}
	}
	p.family(fIORead)
	for w, r := range s.replicas() {
		if r.UsageAt > 0 {
			p.replica(fIORead.name, w, r).int(r.Usage.IORead)
		}
	}
	p.family(fIOWrite)
	for w, r := range s.replicas() {
		if r.UsageAt > 0 {
			p.replica(fIOWrite.name, w, r).int(r.Usage.IOWrite)
		}
	}
	p.family(fLimit)
	for w, r := range s.replicas() {
		for _, l := range r.Limits {
			if l.Max > 0 {
				p.replica(fLimit.name, w, r).label("resource", l.Resource).float(limitUnit(l.Resource, l.Max))
			}
		}
	}
	p.family(fLimitUse)
	for w, r := range s.replicas() {
		for _, l := range r.Limits {
			p.replica(fLimitUse.name, w, r).label("resource", l.Resource).float(limitUnit(l.Resource, l.Value))
		}
	}
	p.family(fThrottled)
	for w, r := range s.replicas() {
		if r.UsageAt > 0 {
			p.replica(fThrottled.name, w, r).int(b2i(r.Throttled))
		}
	}

	p.family(fAlerts)
	for _, key := range s.alerts {
		w, res, _ := strings.Cut(key, "/")
		p.series(fAlerts.name).label("worker", w).label("resource", res).uint(s.LimitAlerts[key])
	}

	p.family(fProbe)
	for _, h := range s.probes {
		var n uint64
		for i, le := range driver.ProbeBuckets {
			n += h.Counts[i]
			p.probe(probeBucket, h).labelFloat("le", le).uint(n)
		}
		p.probe(probeBucket, h).labelFloat("le", math.Inf(1)).uint(h.Count)
		p.probe(probeSum, h).float(h.Sum)
		p.probe(probeCount, h).uint(h.Count)
	}
	return p.w.Flush()
}

// sortedKeys appends m's keys to buf, sorted.
func sortedKeys(buf []string, m map[string]int) []string {
	for k := range m { // order-free: sorted below
		buf = append(buf, k)
	}
	slices.Sort(buf)
	return buf
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// printer builds one line at a time in b and writes it to w. A write
// error is kept by w (bufio) and returned by Flush.
type printer struct {
	w      *bufio.Writer
	b      []byte
	labels int
}

func (p *printer) family(f family) {
	p.b = append(p.b[:0], "# HELP "...)
	p.b = append(p.b, f.name...)
	p.b = append(p.b, ' ')
	p.b = append(p.b, f.help...) // constant: nothing to escape
	p.b = append(p.b, "\n# TYPE "...)
	p.b = append(p.b, f.name...)
	p.b = append(p.b, ' ')
	p.b = append(p.b, f.typ...)
	p.b = append(p.b, '\n')
	p.w.Write(p.b)
}

func (p *printer) series(name string) *printer {
	p.b, p.labels = append(p.b[:0], name...), 0
	return p
}

// limitUnit turns an engine.LimitStatus value into the metric's unit:
// cores for cpu (the engine counts millicores).
func limitUnit(resource string, v int64) float64 {
	if resource == "cpu" {
		return float64(v) / 1000
	}
	return float64(v)
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func (p *printer) replica(name string, w *engine.WorkerStatus, r *engine.ReplicaStatus) *printer {
	return p.series(name).label("worker", w.Name).labelInt("replica", r.Replica)
}

func (p *printer) probe(name string, h *driver.ProbeHist) *printer {
	return p.series(name).label("worker", h.Worker).label("probe", h.Probe)
}

func (p *printer) labelName(k string) {
	if p.labels == 0 {
		p.b = append(p.b, '{')
	} else {
		p.b = append(p.b, ',')
	}
	p.labels++
	p.b = append(p.b, k...)
	p.b = append(p.b, `="`...)
}

// label appends k="v", escaping v as the format asks (\\, \", \n).
func (p *printer) label(k, v string) *printer {
	p.labelName(k)
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			p.b = append(p.b, `\\`...)
		case '"':
			p.b = append(p.b, `\"`...)
		case '\n':
			p.b = append(p.b, `\n`...)
		default:
			p.b = append(p.b, c)
		}
	}
	p.b = append(p.b, '"')
	return p
}

func (p *printer) labelInt(k string, v int) *printer {
	p.labelName(k)
	p.b = strconv.AppendInt(p.b, int64(v), 10)
	p.b = append(p.b, '"')
	return p
}

func (p *printer) labelFloat(k string, v float64) *printer {
	p.labelName(k)
	p.b = appendFloat(p.b, v)
	p.b = append(p.b, '"')
	return p
}

func (p *printer) end() {
	if p.labels > 0 {
		p.b = append(p.b, '}')
	}
	p.b = append(p.b, ' ')
}

func (p *printer) float(v float64) {
	p.end()
	p.b = appendFloat(p.b, v)
	p.line()
}

func (p *printer) uint(v uint64) {
	p.end()
	p.b = strconv.AppendUint(p.b, v, 10)
	p.line()
}

func (p *printer) int(v int64) {
	p.end()
	p.b = strconv.AppendInt(p.b, v, 10)
	p.line()
}

func (p *printer) line() {
	p.b = append(p.b, '\n')
	p.w.Write(p.b)
}

// appendFloat writes v as Prometheus does: shortest round-trip form,
// +Inf, -Inf, NaN.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}
