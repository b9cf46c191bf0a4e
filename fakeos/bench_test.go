package fakeos_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/fakeos"
	"github.com/hsu-run/hsu/scenario"
)

// chaos100 is DESIGN.md §7's simulator budget case: 100 workers with
// mixed behaviour (crash loops, OOM growth, flapping health, SIGTERM
// ignored, grandchildren), hsu crashes and command storms, over 24
// virtual hours.
func chaos100(tb testing.TB) *scenario.Scenario {
	var b strings.Builder
	b.WriteString("version: 1\nworkers:\n")
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&b, "  w%d:\n    command: [w]\n    restart: {policy: always, max_restarts: 0, backoff: {initial: 1s, max: 30s}}\n", i)
		switch i % 5 {
		case 1:
			b.WriteString("    health: {liveness: {tcp: {address: \"127.0.0.1:1\"}, period: 10s, timeout: 1s}}\n")
		case 2:
			b.WriteString("    resources: {memory: {max: 256Mi}, monitor_interval: 30s}\n")
		}
	}
	cfg, err := config.Parse("chaos100.yaml", []byte(b.String()), config.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	sc := &scenario.Scenario{Name: "chaos100", Duration: config.Duration(24 * time.Hour), Cfg: cfg, Behaviour: map[string]*scenario.Behaviour{}}
	for i := 0; i < 100; i++ {
		beh := &scenario.Behaviour{}
		switch i % 5 {
		case 0:
			beh.ExitAfter, beh.ExitCode = config.Duration(time.Duration(30+i)*time.Second), 1
		case 1:
			beh.UnhealthyAfter, beh.RecoverAfter = config.Duration(5*time.Minute), config.Duration(time.Minute)
		case 2:
			beh.Memory = &scenario.Memory{Start: 10 << 20, Grow: scenario.Rate(float64(1<<20) / 10)}
		case 3:
			beh.IgnoreSigterm, beh.Children = true, 2
		}
		sc.Behaviour[fmt.Sprintf("w%d", i)] = beh
	}
	return sc
}

// BenchmarkSim100Workers24h reports engine events per wall second and
// virtual seconds per wall second (DESIGN.md §7: ≥ 1,000,000 events/s,
// 24 h of 100 chaotic workers in < 5 s).
// "traced" is hsu-sim run (every line hashed); "sweep" is hsu-sim sweep,
// which needs only the verdict.
func BenchmarkSim100Workers24h(b *testing.B) {
	sc := chaos100(b)
	for _, mode := range []struct {
		name    string
		noTrace bool
	}{{"traced", false}, {"sweep", true}} {
		b.Run(mode.name, func(b *testing.B) {
			var events int64
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				res := fakeos.New(sc, int64(i+1), fakeos.Options{Swarm: true, NoTrace: mode.noTrace}).Run()
				if !res.OK() {
					b.Fatalf("seed %d: %v", i+1, res.Violations[0])
				}
				events += res.Stats.EngineEvents
			}
			wall := time.Since(start).Seconds()
			b.ReportMetric(float64(events)/wall, "events/s")
			b.ReportMetric(float64(b.N)*sc.Duration.D().Seconds()/wall, "virtual-s/s")
			b.ReportMetric(float64(events)/float64(b.N), "events/run")
		})
	}
}
