//go:build linux || darwin

package api

import (
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hsu-run/hsu/engine"
)

// status100 is a status of 100 running workers, sampled and probed.
func status100() *engine.Status {
	st := &engine.Status{Version: 7, At: time.Hour}
	for i := 0; i < 100; i++ {
		st.Workers = append(st.Workers, engine.WorkerStatus{Name: "worker" + strconv.Itoa(i), Type: "managed", Replicas: 1,
			Slots: []engine.ReplicaStatus{{Replica: 1, State: engine.Ready, Reason: "readiness probe passed", PID: 1000 + i, Alive: true,
				Ready: true, StartedAt: time.Minute, Restarts: 2, LastTrigger: "crash", RestartsBy: map[string]int{"crash": 2},
				Exit: &engine.ExitInfo{Code: 1, At: 30 * time.Second}, LastExit: "exit code 1",
				Probes: []engine.ProbeStatus{{Kind: engine.ProbeReadiness, OK: true, At: time.Hour, Duration: time.Millisecond}},
				Usage:  engine.Usage{Memory: 10 << 20, CPUSeconds: 12.5, Pids: 3}, UsageAt: time.Hour}}})
	}
	return st
}

// BenchmarkListWorkers100 is GET /v1/workers with 100 workers over the
// Unix socket, as hsu status does it; it reports the p99 too.
func BenchmarkListWorkers100(b *testing.B) {
	fb := newFake()
	fb.st = status100()
	s := New(Options{Backend: fb})
	sock := filepath.Join(b.TempDir(), "hsu.sock")
	l, info, err := ListenUnix(sock, "", true)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go s.Serve(l, info)
	hc := unixClient(sock)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		resp, err := hc.Get("http://hsu/v1/workers")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatal(resp.Status)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
