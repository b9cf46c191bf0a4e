package fakeos_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/engine"
	"github.com/hsu-run/hsu/fakeos"
	"github.com/hsu-run/hsu/scenario"
)

// genScenario draws a random config (1–4 workers with random restart
// policies, replicas, dependencies, probes, limits and stop timeouts),
// random process behaviours, and a schedule of at least minSteps faults
// and commands. rapid shrinks a failing draw to a minimal one and keeps it
// under testdata/rapid for the next run.
func genScenario(t *rapid.T, minSteps int) *scenario.Scenario {
	n := rapid.IntRange(1, 4).Draw(t, "workers")
	var b strings.Builder
	b.WriteString("version: 1\nworkers:\n")
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("w%d", i)
	}
	for i, name := range names {
		fmt.Fprintf(&b, "  %s:\n    command: [%s]\n", name, name)
		fmt.Fprintf(&b, "    replicas: %d\n", rapid.IntRange(0, 3).Draw(t, name+".replicas"))
		policy := rapid.SampledFrom([]string{"never", "on-failure", "always", "unless-stopped"}).Draw(t, name+".policy")
		fmt.Fprintf(&b, "    restart: {policy: %s, start_seconds: %dms, max_restarts: %d, window: 1m, reset_after: 30s,\n",
			policy, rapid.IntRange(0, 2000).Draw(t, name+".start"), rapid.IntRange(0, 5).Draw(t, name+".budget"))
		fmt.Fprintf(&b, "      backoff: {initial: %dms, max: 5s, multiplier: %d, jitter: 0.%d}",
			rapid.IntRange(0, 1500).Draw(t, name+".initial"), rapid.IntRange(1, 3).Draw(t, name+".mult"), rapid.IntRange(0, 9).Draw(t, name+".jitter"))
		if rapid.Bool().Draw(t, name+".healthOverride") {
			fmt.Fprintf(&b, ",\n      on: {health: {backoff: {initial: %dms}, max_restarts: %d}}", rapid.IntRange(0, 3000).Draw(t, name+".hInitial"), rapid.IntRange(0, 3).Draw(t, name+".hBudget"))
		}
		b.WriteString("}\n")
		fmt.Fprintf(&b, "    stop: {timeout: %dms}\n", rapid.IntRange(0, 4000).Draw(t, name+".stopTimeout"))
		if i > 0 && rapid.Bool().Draw(t, name+".hasDep") {
			dep := names[rapid.IntRange(0, i-1).Draw(t, name+".dep")]
			cond := rapid.SampledFrom([]string{"started", "healthy"}).Draw(t, name+".cond")
			fmt.Fprintf(&b, "    depends_on: {%s: {condition: %s}}\n", dep, cond)
		}
		if rapid.Bool().Draw(t, name+".probes") {
			b.WriteString("    health:\n      readiness: {tcp: {address: \"127.0.0.1:1\"}, period: 1s, timeout: 500ms}\n")
			b.WriteString("      liveness: {tcp: {address: \"127.0.0.1:1\"}, period: 1s, timeout: 500ms, failure_threshold: 2}\n")
		}
		if rapid.Bool().Draw(t, name+".memory") {
			policy := rapid.SampledFrom([]string{"immediate_kill", "restart", "graceful_shutdown", "throttle", "log"}).Draw(t, name+".memPolicy")
			fmt.Fprintf(&b, "    resources: {memory: {max: 64Mi, policy: %s}, monitor_interval: 1s}\n", policy)
		}
	}
	cfg, err := config.Parse("gen.yaml", []byte(b.String()), config.Options{})
	if err != nil {
		t.Fatalf("generated config is invalid: %v\n%s", err, b.String())
	}
	sc := &scenario.Scenario{Name: "generated", Duration: config.Duration(3 * time.Minute), Cfg: cfg, Behaviour: map[string]*scenario.Behaviour{}}
	for _, name := range names {
		beh := &scenario.Behaviour{
			StartDelay:    config.Duration(time.Duration(rapid.IntRange(0, 3000).Draw(t, name+".startDelay")) * time.Millisecond),
			IgnoreSigterm: rapid.Bool().Draw(t, name+".ignoreTerm"),
			Children:      rapid.IntRange(0, 2).Draw(t, name+".children"),
		}
		if rapid.Bool().Draw(t, name+".exits") {
			beh.ExitAfter = config.Duration(time.Duration(rapid.IntRange(1, 20000).Draw(t, name+".exitAfter")) * time.Millisecond)
			beh.ExitCode = rapid.IntRange(0, 2).Draw(t, name+".exitCode")
		}
		if rapid.Bool().Draw(t, name+".flaps") {
			beh.UnhealthyAfter = config.Duration(time.Duration(rapid.IntRange(1, 30).Draw(t, name+".unhealthy")) * time.Second)
			beh.RecoverAfter = config.Duration(time.Duration(rapid.IntRange(0, 10).Draw(t, name+".recover")) * time.Second)
		}
		if rapid.Bool().Draw(t, name+".grows") {
			beh.Memory = &scenario.Memory{Start: config.Size(8 << 20), Grow: scenario.Rate(rapid.IntRange(1, 100).Draw(t, name+".grow")) * (1 << 20) / 60}
		}
		sc.Behaviour[name] = beh
	}
	steps := rapid.IntRange(minSteps, minSteps+50).Draw(t, "steps")
	at := time.Duration(0)
	for i := 0; i < steps; i++ {
		at += time.Duration(rapid.IntRange(0, 5000).Draw(t, "gap")) * time.Millisecond
		name := rapid.SampledFrom(names).Draw(t, "target")
		f := &scenario.Fault{At: config.Duration(at), Target: scenario.Target{Worker: name}}
		switch rapid.SampledFrom([]string{"kill", "term", "stop", "start", "restart", "scale", "crash", "spawn_fail", "signal"}).Draw(t, "fault") {
		case "kill":
			f.Kill, f.Signal = name, "KILL"
		case "term":
			f.Kill, f.Signal = name, "TERM"
		case "stop", "start", "restart":
			verb, _ := engine.ParseVerb([]string{"stop", "start", "restart"}[rapid.IntRange(0, 2).Draw(t, "verb")])
			f.Command = verb.String() + " " + name
			f.Cmd = engine.Command{Verb: verb, Worker: name}
		case "scale":
			k := rapid.IntRange(0, 4).Draw(t, "scale")
			f.Command = fmt.Sprintf("scale %s %d", name, k)
			f.Cmd = engine.Command{Verb: engine.CmdScale, Worker: name, N: k}
		case "signal":
			f.Command = "signal " + name + " HUP"
			f.Cmd = engine.Command{Verb: engine.CmdSignal, Worker: name, Signal: "HUP"}
		case "crash":
			f.HsuCrash = true
			f.RestartAfter = config.Duration(time.Duration(rapid.IntRange(0, 8000).Draw(t, "restartAfter")) * time.Millisecond)
		case "spawn_fail":
			f.SpawnFail = name
			f.Errno = rapid.SampledFrom([]string{"EAGAIN", "ENOENT", "ENOMEM"}).Draw(t, "errno")
			f.Count = rapid.IntRange(1, 3).Draw(t, "count")
		}
		sc.Faults = append(sc.Faults, f)
	}
	if rapid.Bool().Draw(t, "shutdown") {
		sc.Faults = append(sc.Faults, &scenario.Fault{At: config.Duration(at + time.Second), Command: "shutdown", Cmd: engine.Command{Verb: engine.CmdShutdown}})
	}
	if d := at + 30*time.Second; d > sc.Duration.D() {
		sc.Duration = config.Duration(d)
	}
	return sc
}

// TestPropertyInvariants: under any config, behaviour and schedule of
// commands and faults, no built-in invariant breaks and no illegal
// transition happens; and the run is deterministic.
func TestPropertyInvariants(t *testing.T) {
	steps := 50
	if testing.Short() {
		steps = 20
	}
	rapid.Check(t, func(t *rapid.T) {
		sc := genScenario(t, steps)
		seed := rapid.Int64Range(0, 1<<40).Draw(t, "seed")
		res := fakeos.New(sc, seed, fakeos.Options{StopAtFirstViolation: true, StrictPersist: true}).Run()
		if !res.OK() {
			var lines []string
			fakeos.New(sc, seed, fakeos.Options{Timeline: func(l string) { lines = append(lines, l) }}).Run()
			t.Fatalf("%s\nconfig workers: %v\ntimeline:\n%s", res.Violations[0], sc.Cfg.Order, strings.Join(lines, "\n"))
		}
		if again := fakeos.New(sc, seed, fakeos.Options{StopAtFirstViolation: true}).Run(); again.TraceHash != res.TraceHash {
			t.Fatalf("nondeterministic trace for seed %d", seed)
		}
	})
}
