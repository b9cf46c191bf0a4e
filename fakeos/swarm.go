package fakeos

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/engine"
	"github.com/hsu-run/hsu/scenario"
)

// swarmFaults draws a fault mix from the seed, TigerBeetle-style: each
// seed enables a random subset of fault kinds at random rates, so
// different seeds stress different combinations.
func (w *World) swarmFaults() []*scenario.Fault {
	r := rand.New(rand.NewPCG(uint64(w.seed), 0x5eed))
	dur := w.sc.Duration.D()
	var managed []string
	for _, name := range w.cfg.Order {
		if w.cfg.Workers[name].Type != config.TypeUnmanaged {
			managed = append(managed, name)
		}
	}
	if len(managed) == 0 {
		return nil
	}
	kinds := []string{"kill", "stop", "start", "restart", "scale", "crash", "spawn_fail", "state_write_fail"}
	var on []string
	for _, k := range kinds {
		if r.IntN(2) == 0 {
			on = append(on, k)
		}
	}
	if len(on) == 0 {
		on = []string{kinds[r.IntN(len(kinds))]}
	}
	n := 5 + r.IntN(40)
	out := make([]*scenario.Fault, 0, n)
	for i := 0; i < n; i++ {
		at := config.Duration(time.Duration(r.Int64N(int64(dur))))
		name := managed[r.IntN(len(managed))]
		f := &scenario.Fault{At: at, Target: scenario.Target{Worker: name}}
		switch on[r.IntN(len(on))] {
		case "kill":
			f.Kill = name
			f.Signal = []config.Signal{"KILL", "TERM", "INT"}[r.IntN(3)]
		case "stop":
			f.Command = "stop " + name
			f.Cmd = engine.Command{Verb: engine.CmdStop, Worker: name}
		case "start":
			f.Command = "start " + name
			f.Cmd = engine.Command{Verb: engine.CmdStart, Worker: name}
		case "restart":
			f.Command = "restart " + name
			f.Cmd = engine.Command{Verb: engine.CmdRestart, Worker: name}
		case "scale":
			k := r.IntN(4)
			f.Command = fmt.Sprintf("scale %s %d", name, k)
			f.Cmd = engine.Command{Verb: engine.CmdScale, Worker: name, N: k}
		case "crash":
			f.HsuCrash = true
			f.RestartAfter = config.Duration(time.Duration(1+r.IntN(10)) * time.Second)
		case "state_write_fail":
			f.StateWriteFail = true
			f.For = config.Duration(time.Duration(1+r.IntN(30)) * time.Second)
			f.Target = scenario.Target{}
		case "spawn_fail":
			f.SpawnFail = name
			f.Errno = []string{"EAGAIN", "ENOMEM", "EMFILE"}[r.IntN(3)]
			f.Count = 1 + r.IntN(3)
		}
		out = append(out, f)
	}
	return out
}
