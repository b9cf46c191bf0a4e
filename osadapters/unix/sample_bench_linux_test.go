package unix

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/engine"
)

// BenchmarkSample1000 samples 1000 running instances, each one op; the
// core-percent metric is what sampling all of them every second costs
// (the budget: under 2 % of one core). Run:
//
//	go test ./osadapters/unix -run '^$' -bench Sample1000 -benchtime 20x
func BenchmarkSample1000(b *testing.B) {
	for _, mode := range []string{"cgroup", "proc"} {
		b.Run(mode, func(b *testing.B) {
			dir := b.TempDir()
			u, err := New(dir)
			if err != nil {
				b.Fatal(err)
			}
			defer u.Close()
			if cg := u.cg; cg != nil {
				defer cg.removeSubtree()
			}
			if mode == "cgroup" && u.cg == nil {
				b.Skip("no writable cgroup2 tree here")
			}
			if mode == "proc" {
				u.cg = nil
			}
			const n = 1000
			type inst struct {
				h engine.Handle
				p Proc
			}
			insts := make([]inst, 0, n)
			defer func() {
				for _, in := range insts {
					u.Kill(in.h, in.p)
				}
			}()
			spec := &config.Worker{Name: "w", Command: []string{"sleep", "3600"}, Workdir: dir}
			for i := 0; i < n; i++ {
				h := engine.Handle{Worker: "w", Replica: i + 1, Gen: 1}
				p, err := u.Spawn(h, spec, os.Environ(), nil, nullSink{}, func(ExitStatus) {})
				if err != nil {
					b.Fatal(err)
				}
				if u.cg == nil {
					u.Release(h, p)
				}
				insts = append(insts, inst{h, p})
			}
			for _, in := range insts { // the first sample opens the files
				u.Sample(in.h, in.p)
			}
			b.ResetTimer()
			var r0, r1 syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
			for i := 0; i < b.N; i++ {
				u.PrepareSamples()
				for _, in := range insts {
					if _, err := u.Sample(in.h, in.p); err != nil {
						b.Fatal(err)
					}
				}
			}
			syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
			b.StopTimer()
			// CPU time, not wall time: what the process spent (user and
			// system), whatever else the machine runs.
			cpu := time.Duration(r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano())
			perSample := float64(cpu.Nanoseconds()) / float64(b.N*n)
			b.ReportMetric(perSample, "cpu-ns/sample")
			b.ReportMetric(perSample*n/1e9*100, "%core@1000/s")
		})
	}
}
