package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hsu-run/hsu/driver"
	"github.com/hsu-run/hsu/engine"
)

var epoch = time.Unix(1_700_000_000, 0)

// fixture is a hand-built snapshot: a ready replica with a usage sample,
// one in back-off that never started, an exited batch job, and a worker
// scaled to zero.
func fixture() Input {
	counts := make([]uint64, len(driver.ProbeBuckets)+1)
	counts[0], counts[2], counts[len(counts)-1] = 1, 2, 1 // ≤1ms, ≤10ms, +Inf
	return Input{
		Status: &engine.Status{At: 30 * time.Second, Workers: []engine.WorkerStatus{
			{Name: "web", Replicas: 2, Slots: []engine.ReplicaStatus{
				{Replica: 1, State: engine.Ready, Alive: true, Ready: true, PID: 42,
					StartedAt:  10*time.Second + 500*time.Millisecond,
					RestartsBy: map[string]int{"crash": 2, "health": 1}, OOMKills: 1,
					Usage: engine.Usage{Memory: 5 << 20, Pids: 3, CPUSeconds: 1.25, FDs: 7, IORead: 4096, IOWrite: 8192}, UsageAt: 20 * time.Second,
					Throttled: true,
					Limits: []engine.LimitStatus{{Resource: "memory", Value: 5 << 20, Max: 64 << 20, Policy: "throttle"},
						{Resource: "cpu", Value: 250, Max: 500, Policy: "throttle"}}},
				{Replica: 2, State: engine.Backoff},
			}},
			{Name: "batch", Replicas: 1, Slots: []engine.ReplicaStatus{
				{Replica: 1, State: engine.Exited, RestartsBy: map[string]int{"command": 1}},
			}},
			{Name: "idle", Replicas: 0},
		}},
		Wall:   func(d time.Duration) time.Time { return epoch.Add(d) },
		Probes: []driver.ProbeHist{{Worker: "web", Probe: "readiness", Counts: counts, Sum: 7.5, Count: 4}},

		WriteFailures: 3, LoopLag: 250 * time.Millisecond, LogDropped: 9, Degraded: true,
		Version: "v1.2.3", Revision: "abc123", GoVersion: "go1.26.8",
		LimitAlerts: map[string]uint64{"web/memory": 4, "batch/cpu": 1},
	}
}

func render(t *testing.T, in Input) map[string]*dto.MetricFamily {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, in); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return parse(t, b.Bytes())
}

func parse(t *testing.T, text []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, text)
	}
	// The parser keeps duplicate series; a scrape must not have any.
	for name, mf := range mfs {
		seen := map[string]bool{}
		for _, m := range mf.Metric {
			k := labelKey(m)
			if seen[k] {
				t.Errorf("%s: duplicate series {%s}", name, k)
			}
			seen[k] = true
		}
	}
	return mfs
}

func labelKey(m *dto.Metric) string {
	var kv []string
	for _, l := range m.Label {
		kv = append(kv, l.GetName()+"="+l.GetValue())
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

// find returns the series of family name with exactly labels (as k=v,...).
func find(mf *dto.MetricFamily, labels string) *dto.Metric {
	for _, m := range mf.GetMetric() {
		if labelKey(m) == labels {
			return m
		}
	}
	return nil
}

func value(mf *dto.MetricFamily, m *dto.Metric) float64 {
	switch mf.GetType() {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	}
	return math.NaN()
}

var families = map[string]dto.MetricType{
	"hsu_up":                          dto.MetricType_GAUGE,
	"hsu_build_info":                  dto.MetricType_GAUGE,
	"hsu_worker_state":                dto.MetricType_GAUGE,
	"hsu_worker_restarts_total":       dto.MetricType_COUNTER,
	"hsu_worker_cpu_seconds_total":    dto.MetricType_COUNTER,
	"hsu_worker_memory_bytes":         dto.MetricType_GAUGE,
	"hsu_worker_pids":                 dto.MetricType_GAUGE,
	"hsu_worker_oom_kills_total":      dto.MetricType_COUNTER,
	"hsu_worker_start_time_seconds":   dto.MetricType_GAUGE,
	"hsu_worker_ready":                dto.MetricType_GAUGE,
	"hsu_worker_desired_replicas":     dto.MetricType_GAUGE,
	"hsu_probe_duration_seconds":      dto.MetricType_HISTOGRAM,
	"hsu_state_write_failures_total":  dto.MetricType_COUNTER,
	"hsu_loop_lag_seconds":            dto.MetricType_GAUGE,
	"hsu_log_lines_dropped_total":     dto.MetricType_COUNTER,
	"hsu_degraded":                    dto.MetricType_GAUGE,
	"hsu_worker_limit_alerts_total":   dto.MetricType_COUNTER,
	"hsu_worker_open_fds":             dto.MetricType_GAUGE,
	"hsu_worker_io_read_bytes_total":  dto.MetricType_COUNTER,
	"hsu_worker_io_write_bytes_total": dto.MetricType_COUNTER,
	"hsu_worker_limit":                dto.MetricType_GAUGE,
	"hsu_worker_limit_usage":          dto.MetricType_GAUGE,
	"hsu_worker_throttled":            dto.MetricType_GAUGE,
}

func TestFamilies(t *testing.T) {
	mfs := render(t, fixture())
	for name, typ := range families {
		mf := mfs[name]
		switch {
		case mf == nil:
			t.Errorf("%s: missing", name)
		case mf.GetType() != typ:
			t.Errorf("%s: type %v, want %v", name, mf.GetType(), typ)
		case mf.GetHelp() == "":
			t.Errorf("%s: no HELP", name)
		}
	}
	for name := range mfs {
		if _, ok := families[name]; !ok {
			t.Errorf("%s: not in the list of families this test checks", name)
		}
	}
}

func TestValues(t *testing.T) {
	mfs := render(t, fixture())
	for _, tc := range []struct {
		name, labels string
		want         float64
	}{
		{"hsu_up", "", 1},
		{"hsu_worker_open_fds", "replica=1,worker=web", 7},
		{"hsu_worker_io_write_bytes_total", "replica=1,worker=web", 8192},
		{"hsu_worker_limit", "replica=1,resource=memory,worker=web", 64 << 20},
		{"hsu_worker_limit", "replica=1,resource=cpu,worker=web", 0.5},
		{"hsu_worker_limit_usage", "replica=1,resource=cpu,worker=web", 0.25},
		{"hsu_worker_throttled", "replica=1,worker=web", 1},
		{"hsu_build_info", "goversion=go1.26.8,revision=abc123,version=v1.2.3", 1},
		{"hsu_worker_state", "replica=1,state=ready,worker=web", 1},
		{"hsu_worker_state", "replica=1,state=running,worker=web", 0},
		{"hsu_worker_state", "replica=2,state=backoff,worker=web", 1},
		{"hsu_worker_state", "replica=1,state=exited,worker=batch", 1},
		{"hsu_worker_restarts_total", "replica=1,trigger=crash,worker=web", 2},
		{"hsu_worker_restarts_total", "replica=1,trigger=health,worker=web", 1},
		{"hsu_worker_restarts_total", "replica=2,trigger=crash,worker=web", 0},
		{"hsu_worker_restarts_total", "replica=1,trigger=command,worker=batch", 1},
		{"hsu_worker_restarts_total", "replica=1,trigger=crash,worker=batch", 0},
		{"hsu_worker_cpu_seconds_total", "replica=1,worker=web", 1.25},
		{"hsu_worker_memory_bytes", "replica=1,worker=web", 5 << 20},
		{"hsu_worker_pids", "replica=1,worker=web", 3},
		{"hsu_worker_oom_kills_total", "replica=1,worker=web", 1},
		{"hsu_worker_oom_kills_total", "replica=2,worker=web", 0},
		{"hsu_worker_start_time_seconds", "replica=1,worker=web", 1_700_000_010.5},
		{"hsu_worker_ready", "replica=1,worker=web", 1},
		{"hsu_worker_ready", "replica=2,worker=web", 0},
		{"hsu_worker_ready", "replica=1,worker=batch", 0},
		{"hsu_worker_desired_replicas", "worker=web", 2},
		{"hsu_worker_desired_replicas", "worker=batch", 1},
		{"hsu_worker_desired_replicas", "worker=idle", 0},
		{"hsu_state_write_failures_total", "", 3},
		{"hsu_loop_lag_seconds", "", 0.25},
		{"hsu_log_lines_dropped_total", "", 9},
		{"hsu_degraded", "", 1},
		{"hsu_worker_limit_alerts_total", "resource=memory,worker=web", 4},
		{"hsu_worker_limit_alerts_total", "resource=cpu,worker=batch", 1},
	} {
		t.Run(tc.name+"{"+tc.labels+"}", func(t *testing.T) {
			mf := mfs[tc.name]
			m := find(mf, tc.labels)
			if m == nil {
				t.Fatalf("no series")
			}
			if got := value(mf, m); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestAbsent: usage series only for sampled replicas, start time only for
// live ones.
func TestAbsent(t *testing.T) {
	mfs := render(t, fixture())
	for _, name := range []string{"hsu_worker_cpu_seconds_total", "hsu_worker_memory_bytes", "hsu_worker_pids", "hsu_worker_start_time_seconds"} {
		if n := len(mfs[name].GetMetric()); n != 1 {
			t.Errorf("%s: %d series, want 1 (web/1 only)", name, n)
		}
	}
}

func TestStateSet(t *testing.T) {
	in := fixture()
	mfs := render(t, in)
	type rep struct{ worker, replica string }
	ones, all := map[rep][]string{}, map[rep]int{}
	for _, m := range mfs["hsu_worker_state"].GetMetric() {
		l := map[string]string{}
		for _, p := range m.Label {
			l[p.GetName()] = p.GetValue()
		}
		r := rep{l["worker"], l["replica"]}
		all[r]++
		if v := m.GetGauge().GetValue(); v == 1 {
			ones[r] = append(ones[r], l["state"])
		} else if v != 0 {
			t.Errorf("%v %s: value %v, want 0 or 1", r, l["state"], v)
		}
	}
	n := 0
	for _, w := range in.Status.Workers {
		for _, s := range w.Slots {
			n++
			r := rep{w.Name, fmt.Sprint(s.Replica)}
			if all[r] != len(states) {
				t.Errorf("%v: %d state series, want %d", r, all[r], len(states))
			}
			if len(ones[r]) != 1 || ones[r][0] != s.State.String() {
				t.Errorf("%v: states at 1: %v, want [%s]", r, ones[r], s.State)
			}
		}
	}
	if len(all) != n {
		t.Errorf("state series for %d replicas, want %d", len(all), n)
	}
	// Every state is named, none is "invalid".
	if len(states) < 10 || states[0] != engine.Pending.String() || states[len(states)-1] != engine.Unknown.String() {
		t.Errorf("states = %v", states)
	}
}

func TestProbeHistogram(t *testing.T) {
	mfs := render(t, fixture())
	m := find(mfs["hsu_probe_duration_seconds"], "probe=readiness,worker=web")
	if m == nil {
		t.Fatal("no histogram for web/readiness")
	}
	h := m.GetHistogram()
	if h.GetSampleCount() != 4 || h.GetSampleSum() != 7.5 {
		t.Errorf("count %d sum %v, want 4 7.5", h.GetSampleCount(), h.GetSampleSum())
	}
	var les []float64
	var cum []uint64
	for _, b := range h.Bucket {
		les = append(les, b.GetUpperBound())
		cum = append(cum, b.GetCumulativeCount())
	}
	// The parser drops the +Inf bucket into the count; the finite ones
	// must be cumulative: 1 at ≤1ms, 3 from ≤10ms on.
	want := make([]uint64, len(driver.ProbeBuckets))
	for i := range want {
		want[i] = 3
	}
	want[0], want[1] = 1, 1
	if len(les) > len(driver.ProbeBuckets) && math.IsInf(les[len(les)-1], 1) {
		if cum[len(cum)-1] != 4 {
			t.Errorf("+Inf bucket %d, want 4", cum[len(cum)-1])
		}
		les, cum = les[:len(les)-1], cum[:len(cum)-1]
	}
	if fmt.Sprint(les) != fmt.Sprint(driver.ProbeBuckets) || fmt.Sprint(cum) != fmt.Sprint(want) {
		t.Errorf("buckets le=%v counts=%v, want le=%v counts=%v", les, cum, driver.ProbeBuckets, want)
	}
}

// TestEmpty: no status, no probes, no alerts: the hsu-wide series are
// still there.
func TestEmpty(t *testing.T) {
	mfs := render(t, Input{})
	for _, name := range []string{"hsu_up", "hsu_build_info", "hsu_state_write_failures_total", "hsu_loop_lag_seconds", "hsu_log_lines_dropped_total", "hsu_degraded"} {
		if len(mfs[name].GetMetric()) != 1 {
			t.Errorf("%s: missing", name)
		}
	}
}

// TestBroken feeds inputs that cannot be rendered: Write must return an
// error, not panic and not write a partial scrape that looks whole.
func TestBroken(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Input)
	}{
		{"counts too short", func(in *Input) { in.Probes[0].Counts = in.Probes[0].Counts[:3] }},
		{"counts too long", func(in *Input) { in.Probes[0].Counts = append(in.Probes[0].Counts, 0) }},
		{"counts do not add up", func(in *Input) { in.Probes[0].Count++ }},
		{"alert key without slash", func(in *Input) { in.LimitAlerts["memory"] = 1 }},
		{"duplicate worker", func(in *Input) { in.Status.Workers = append(in.Status.Workers, in.Status.Workers[1]) }},
		{"label not UTF-8", func(in *Input) { in.Version = "\xff" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := fixture()
			tc.mutate(&in)
			var b bytes.Buffer
			if err := Write(&b, in); err == nil {
				t.Fatalf("Write returned no error; wrote:\n%s", b.String())
			}
		})
	}
}

// TestEscaping: label values come back as they went in.
func TestEscaping(t *testing.T) {
	in := fixture()
	in.Version = "a\"b\\c\nd"
	mf := render(t, in)["hsu_build_info"]
	if m := find(mf, "goversion=go1.26.8,revision=abc123,version="+in.Version); m == nil {
		t.Errorf("version label lost its escapes: %v", mf)
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(b []byte) (int, error) {
	if f.n += len(b); f.n > 1000 {
		return 0, errors.New("disk full")
	}
	return len(b), nil
}

func TestWriteError(t *testing.T) {
	if err := Write(&failWriter{}, fixture()); err == nil || err.Error() != "disk full" {
		t.Errorf("Write = %v, want disk full", err)
	}
}

func TestHandlerMethods(t *testing.T) {
	h := Handler(fixture)
	for _, tc := range []struct {
		method string
		code   int
		body   bool
	}{{http.MethodGet, 200, true}, {http.MethodHead, 200, false}, {http.MethodPost, 405, false}} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, "/metrics", nil))
		if rec.Code != tc.code || (rec.Body.Len() > 0 && tc.code == 200) != tc.body {
			t.Errorf("%s: status %d, %d bytes; want %d, body %v", tc.method, rec.Code, rec.Body.Len(), tc.code, tc.body)
		}
	}
}

// BenchmarkWrite100 is a scrape of 100 workers with a probe each: its
// garbage is what scrapes add to hsu's idle heap.
func BenchmarkWrite100(b *testing.B) {
	in := fixture()
	web := in.Status.Workers[0]
	in.Status.Workers, in.Probes = nil, nil
	for i := range 100 {
		w := web
		w.Name = fmt.Sprintf("worker-%03d", i)
		w.Slots = w.Slots[:1]
		in.Status.Workers = append(in.Status.Workers, w)
		p := fixture().Probes[0]
		p.Worker = w.Name
		in.Probes = append(in.Probes, p)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := Write(io.Discard, in); err != nil {
			b.Fatal(err)
		}
	}
}

func TestHandler(t *testing.T) {
	in := fixture()
	h := Handler(func() Input { return in })
	get := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept", "text/plain")
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := get()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	var want bytes.Buffer
	if err := Write(&want, in); err != nil {
		t.Fatal(err)
	}
	if rec.Body.String() != want.String() {
		t.Errorf("Handler and Write differ:\n%s\n---\n%s", rec.Body, want.String())
	}
	parse(t, rec.Body.Bytes())

	in.Probes[0].Counts = nil
	if rec := get(); rec.Code != http.StatusInternalServerError {
		t.Errorf("broken input: status %d, want 500", rec.Code)
	}
}
