// Package simcli is the hsu-sim command line: run, sweep and check of
// simulator scenarios (DESIGN.md §4).
package simcli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/spf13/pflag"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/fakeos"
	"github.com/hsu-run/hsu/scenario"
)

// Exit codes (contract).
const (
	exitOK       = 0
	exitViolated = 1
	exitBadInput = 2
)

const usageText = `hsu-sim replays hsu configs on a simulated OS with a virtual clock, under
crashes, OOMs, hangs and races, and checks built-in invariants and the
scenario's expectations. Same scenario + seed => byte-identical trace.

Usage:
  hsu-sim run FILE... [--seed N] [--swarm] [--trace OUT.jsonl] [--check-determinism] [-o text|json] [-q]
  hsu-sim sweep FILE... --seeds N [--swarm] [--keep-failing DIR] [--first-seed N] [-j N]
  hsu-sim check FILE...

Exit status: 0 all held, 1 an invariant or expectation failed, 2 a bad scenario file.
See docs/simulator.md for the scenario format.
`

// Run is the hsu-sim entry point.
func Run(args []string, out, errOut io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(errOut, usageText)
		return exitBadInput
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], out, errOut)
	case "sweep":
		return cmdSweep(args[1:], out, errOut)
	case "check":
		return cmdCheck(args[1:], out, errOut)
	case "help", "-h", "--help":
		fmt.Fprint(out, usageText)
		return exitOK
	}
	fmt.Fprintf(errOut, "hsu-sim: unknown command %q\n\n%s", args[0], usageText)
	return exitBadInput
}

func flags(name string, errOut io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet("hsu-sim "+name, pflag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() {
		fmt.Fprintf(errOut, "Usage: hsu-sim %s FILE... [flags]\n\nFlags:\n%s", name, fs.FlagUsages())
	}
	return fs
}

func parse(fs *pflag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK, true
		}
		return exitBadInput, true
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(fs.Output(), "hsu-sim: no scenario files given")
		return exitBadInput, true
	}
	return 0, false
}

// loadAll reads every scenario, printing all errors; ok is false if any
// file is bad.
func loadAll(files []string, errOut io.Writer) ([]*scenario.Scenario, bool) {
	var out []*scenario.Scenario
	ok := true
	for _, f := range files {
		sc, err := scenario.Load(f)
		if err != nil {
			ok = false
			var list *config.ErrorList
			if errors.As(err, &list) {
				fmt.Fprintln(errOut, list.Error())
			} else {
				fmt.Fprintf(errOut, "%s: %v\n", f, err)
			}
			continue
		}
		out = append(out, sc)
	}
	return out, ok
}

func cmdCheck(args []string, out, errOut io.Writer) int {
	fs := flags("check", errOut)
	if code, done := parse(fs, args); done {
		return code
	}
	scs, ok := loadAll(fs.Args(), errOut)
	for _, sc := range scs {
		fmt.Fprintf(out, "%s: ok: %s, %d workers, %d faults, %d expectations\n", sc.File, sc.Name, len(sc.Cfg.Workers), len(sc.Faults), len(sc.Expect))
	}
	if !ok {
		return exitBadInput
	}
	return exitOK
}

// jsonResult is the -o json form of one run.
type jsonResult struct {
	Scenario   string              `json:"scenario"`
	File       string              `json:"file"`
	Seed       int64               `json:"seed"`
	OK         bool                `json:"ok"`
	Violations []string            `json:"violations"`
	Restarts   map[string]int      `json:"restarts"`
	Final      map[string][]string `json:"final"`
	Checks     int                 `json:"checks"`
	Events     int64               `json:"engine_events"`
	Trace      string              `json:"trace"`
	Reproduce  string              `json:"reproduce,omitempty"`
}

func cmdRun(args []string, out, errOut io.Writer) int {
	fs := flags("run", errOut)
	seed := fs.Int64("seed", -1, "seed for the simulated OS; the scenario's seed when not given")
	swarm := fs.Bool("swarm", false, "add the random fault mix that sweep --swarm draws from the seed (expectations are skipped)")
	tracePath := fs.String("trace", "", "write the JSON-lines trace to this file")
	determinism := fs.Bool("check-determinism", false, "run each scenario twice and fail if the traces differ")
	format := fs.StringP("output", "o", "text", "output format: text or json")
	quiet := fs.BoolP("quiet", "q", false, "text: print only the summary, not the timeline")
	if code, done := parse(fs, args); done {
		return code
	}
	if fs.Changed("seed") && *seed < 0 {
		fmt.Fprintf(errOut, "hsu-sim run: --seed must be >= 0, got %d\n", *seed)
		return exitBadInput
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(errOut, "hsu-sim run: -o must be text or json, got %q\n", *format)
		return exitBadInput
	}
	scs, ok := loadAll(fs.Args(), errOut)
	if !ok {
		return exitBadInput
	}
	var traceOut *bufio.Writer
	if *tracePath != "" {
		f, err := os.Create(*tracePath)
		if err != nil {
			fmt.Fprintf(errOut, "hsu-sim run: %v\n", err)
			return exitBadInput
		}
		defer f.Close()
		traceOut = bufio.NewWriterSize(f, 1<<16)
		defer traceOut.Flush()
	}
	code := exitOK
	for _, sc := range scs {
		s := sc.Seed
		if *seed >= 0 {
			s = *seed
		}
		opt := fakeos.Options{Swarm: *swarm}
		if traceOut != nil {
			opt.Trace = traceOut
		}
		var timeline []string
		if *format == "text" && !*quiet {
			opt.Timeline = func(line string) { timeline = append(timeline, line) }
		}
		res := fakeos.New(sc, s, opt).Run()
		repro := reproduce(sc.File, s, *swarm)
		var nondet string
		if *determinism {
			again := fakeos.New(sc, s, fakeos.Options{Swarm: *swarm}).Run()
			if again.TraceHash != res.TraceHash {
				nondet = fmt.Sprintf("nondeterminism: two runs of seed %d gave traces %s and %s", s, res.TraceHash, again.TraceHash)
			}
		}
		if !res.OK() || nondet != "" {
			code = exitViolated
		}
		if *format == "json" {
			jr := jsonResult{Scenario: sc.Name, File: sc.File, Seed: s, OK: res.OK() && nondet == "", Restarts: res.Restarts,
				Final: map[string][]string{}, Checks: res.Checks, Events: res.Stats.EngineEvents, Trace: res.TraceHash, Violations: []string{}}
			for _, v := range res.Violations {
				jr.Violations = append(jr.Violations, v.String())
			}
			if nondet != "" {
				jr.Violations = append(jr.Violations, nondet)
			}
			for name, states := range res.Final {
				for _, st := range states {
					jr.Final[name] = append(jr.Final[name], st.String())
				}
			}
			if !jr.OK {
				jr.Reproduce = repro
			}
			enc := json.NewEncoder(out)
			enc.SetEscapeHTML(false)
			enc.Encode(jr)
			continue
		}
		fmt.Fprintf(out, "== %s (%s) seed=%d duration=%s\n", sc.Name, sc.File, s, sc.Duration)
		for _, l := range timeline {
			fmt.Fprintln(out, l)
		}
		printSummary(out, sc, res)
		status := "ok"
		if !res.OK() || nondet != "" {
			status = "FAIL"
			if len(res.Violations) > 0 {
				fmt.Fprintf(out, "first violation: %s\n", res.Violations[0])
				if len(res.Violations) > 1 {
					fmt.Fprintf(out, "(%d violations in all)\n", len(res.Violations))
				}
			}
			if nondet != "" {
				fmt.Fprintln(out, nondet)
			}
			fmt.Fprintf(out, "reproduce: %s\n", repro)
		}
		fmt.Fprintf(out, "%s %s seed=%d checks=%d trace=%s\n", status, sc.Name, s, res.Checks, res.TraceHash)
	}
	return code
}

func printSummary(out io.Writer, sc *scenario.Scenario, res *fakeos.Result) {
	var restarts, final []string
	for _, name := range sc.Cfg.Order {
		restarts = append(restarts, fmt.Sprintf("%s=%d", name, res.Restarts[name]))
	}
	names := make([]string, 0, len(res.Final))
	for name := range res.Final {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		var sts []string
		for _, st := range res.Final[name] {
			sts = append(sts, st.String())
		}
		final = append(final, fmt.Sprintf("%s=%s", name, strings.Join(sts, ",")))
	}
	fmt.Fprintf(out, "restarts: %s\n", strings.Join(restarts, " "))
	if len(final) == 0 {
		final = []string{"(hsu not running)"}
	}
	fmt.Fprintf(out, "final: %s\n", strings.Join(final, " "))
	fmt.Fprintf(out, "invariants: %d checks, %d violations; %d engine events, %d actions\n",
		res.Checks, len(res.Violations), res.Stats.EngineEvents, res.Stats.Actions)
}

func reproduce(file string, seed int64, swarm bool) string {
	s := fmt.Sprintf("hsu-sim run %s --seed %d", file, seed)
	if swarm {
		s += " --swarm"
	}
	return s
}

func cmdSweep(args []string, out, errOut io.Writer) int {
	fs := flags("sweep", errOut)
	seeds := fs.Int("seeds", 100, "number of seeds to run")
	first := fs.Int64("first-seed", 1, "first seed")
	swarm := fs.Bool("swarm", false, "add a random fault mix drawn from each seed")
	keep := fs.String("keep-failing", "", "write the trace and a reproduce note of each failing seed into DIR")
	jobs := fs.IntP("jobs", "j", runtime.GOMAXPROCS(0), "seeds run in parallel")
	if code, done := parse(fs, args); done {
		return code
	}
	scs, ok := loadAll(fs.Args(), errOut)
	if !ok {
		return exitBadInput
	}
	if *keep != "" {
		if err := os.MkdirAll(*keep, 0o755); err != nil {
			fmt.Fprintf(errOut, "hsu-sim sweep: %v\n", err)
			return exitBadInput
		}
	}
	code := exitOK
	for _, sc := range scs {
		type failure struct {
			seed int64
			res  *fakeos.Result
		}
		var (
			mu       sync.Mutex
			failures []failure
			events   int64
			wg       sync.WaitGroup
		)
		next := make(chan int64)
		for j := 0; j < max(1, *jobs); j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for s := range next {
					res := fakeos.New(sc, s, fakeos.Options{Swarm: *swarm, NoTrace: true}).Run()
					mu.Lock()
					events += res.Stats.EngineEvents
					if !res.OK() {
						failures = append(failures, failure{s, res})
					}
					mu.Unlock()
				}
			}()
		}
		for i := 0; i < *seeds; i++ {
			next <- *first + int64(i)
		}
		close(next)
		wg.Wait()
		sort.Slice(failures, func(i, j int) bool { return failures[i].seed < failures[j].seed })
		for _, f := range failures {
			repro := reproduce(sc.File, f.seed, *swarm)
			fmt.Fprintf(out, "FAIL %s seed=%d: %s\n  reproduce: %s\n", sc.Name, f.seed, f.res.Violations[0], repro)
			if *keep != "" {
				if err := keepFailing(*keep, sc, f.seed, *swarm, f.res, repro); err != nil {
					fmt.Fprintf(errOut, "hsu-sim sweep: %v\n", err)
				}
			}
		}
		status := "ok"
		if len(failures) > 0 {
			status = "FAIL"
			code = exitViolated
		}
		fmt.Fprintf(out, "%s %s: %d seeds (%d..%d), %d failing, %d engine events\n", status, sc.Name, *seeds, *first, *first+int64(*seeds)-1, len(failures), events)
	}
	return code
}

// keepFailing writes the failing run's trace and a note saying how to
// reproduce it.
func keepFailing(dir string, sc *scenario.Scenario, seed int64, swarm bool, res *fakeos.Result, repro string) error {
	base := filepath.Join(dir, fmt.Sprintf("%s-seed%d", strings.ReplaceAll(sc.Name, "/", "_"), seed))
	f, err := os.Create(base + ".trace.jsonl")
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	fakeos.New(sc, seed, fakeos.Options{Swarm: swarm, Trace: bw}).Run()
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "scenario: %s (%s)\nseed: %d\nreproduce: %s\n", sc.Name, sc.File, seed, repro)
	for _, v := range res.Violations {
		fmt.Fprintf(&b, "violation: %s\n", v)
	}
	return os.WriteFile(base+".txt", []byte(b.String()), 0o644)
}
