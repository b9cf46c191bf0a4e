// Package simcli is the hsu-sim command line: run, sweep and check of
// simulator scenarios (DESIGN.md §4), and of plain hsu configs, which run
// as a scenario of their own (scenario.FromConfig) under swarm faults.
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
	"time"

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
  hsu-sim run FILE... [--seed N] [--swarm|--no-swarm] [--duration D] [--trace OUT.jsonl] [--check-determinism] [-o text|json] [-q]
  hsu-sim sweep FILE... --seeds N [--swarm|--no-swarm] [--duration D] [--keep-failing DIR] [--first-seed N] [-j N]
  hsu-sim check FILE...

FILE is a scenario, or a plain hsu config (hsu.yaml): a config runs for 1h
(--duration) with healthy processes under random swarm faults (--no-swarm
turns them off), and its summary counts restarts, give-ups and time not ready.

Exit status: 0 all held, 1 an invariant or expectation failed, 2 a bad scenario or config file.
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

// input is one file to run: a scenario, or a plain config made into one.
type input struct {
	sc   *scenario.Scenario
	kind scenario.Kind
}

func (in input) isConfig() bool { return in.kind == scenario.KindConfig }

// loadAll reads every scenario or config, printing all errors; ok is false
// if any file is bad.
func loadAll(files []string, errOut io.Writer) ([]input, bool) {
	var out []input
	ok := true
	for _, f := range files {
		sc, kind, err := scenario.LoadFile(f)
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
		out = append(out, input{sc, kind})
	}
	return out, ok
}

// runFlags are the flags run and sweep share for choosing what runs.
type runFlags struct {
	swarm, noSwarm *bool
	duration       *string
	dur            time.Duration // parsed --duration, 0 when not given
	platform       *string
	platformSet    func() bool
	plats          map[*scenario.Scenario]fakeos.Platform // per input, after apply
}

// platformName is the platform in runs on: --platform, else the
// scenario's platform:, else linux.
func (rf *runFlags) platformName(in input) string {
	if !rf.platformSet() && in.sc.Platform != "" {
		return in.sc.Platform
	}
	return *rf.platform
}

func addRunFlags(fs *pflag.FlagSet, swarmHelp string) *runFlags {
	return &runFlags{
		swarm:       fs.Bool("swarm", false, swarmHelp),
		noSwarm:     fs.Bool("no-swarm", false, "hsu configs: run without the random fault mix they get by default"),
		duration:    fs.String("duration", "", "hsu configs: virtual time to simulate (default 1h); a scenario sets its own duration:"),
		platform:    addPlatformFlag(fs),
		platformSet: func() bool { return fs.Changed("platform") },
	}
}

func addPlatformFlag(fs *pflag.FlagSet) *string {
	return fs.String("platform", "linux", "the OS modelled: linux (cgroup2, every controller), linux-hybrid (cgroup v1 controllers beside an empty cgroup2), linux-nocgroup (process groups only), darwin or windows; its hsu validate rules apply")
}

// checkPlatform applies the platform's capability rules to every config
// of every input (a reload's too), as hsu validate there would, printing
// each error; false if any.
func checkPlatform(cmd, name string, ins []input, errOut io.Writer) (fakeos.Platform, bool) {
	plat, err := fakeos.PlatformNamed(name)
	if err != nil {
		fmt.Fprintf(errOut, "hsu-sim %s: --platform: %v\n", cmd, err)
		return plat, false
	}
	ok := true
	for _, in := range ins {
		cfgs := []*config.Config{in.sc.Cfg}
		for _, f := range in.sc.Faults {
			if f.ReloadCfg != nil {
				cfgs = append(cfgs, f.ReloadCfg)
			}
		}
		for _, cfg := range cfgs {
			if err := plat.Check(cfg); err != nil {
				fmt.Fprintln(errOut, err)
				fmt.Fprintf(errOut, "%s: not supported on %s\n", in.sc.File, plat.Name)
				ok = false
			}
		}
	}
	return plat, ok
}

// apply checks the flags against the inputs and sets each config's
// duration; a non-zero return is the exit code of a usage error.
func (rf *runFlags) apply(cmd string, ins []input, errOut io.Writer) int {
	if *rf.swarm && *rf.noSwarm {
		fmt.Fprintf(errOut, "hsu-sim %s: --swarm and --no-swarm contradict each other\n", cmd)
		return exitBadInput
	}
	rf.plats = map[*scenario.Scenario]fakeos.Platform{}
	for _, in := range ins {
		plat, ok := checkPlatform(cmd, rf.platformName(in), []input{in}, errOut)
		if !ok {
			return exitBadInput
		}
		rf.plats[in.sc] = plat
	}
	if *rf.duration == "" {
		return 0
	}
	d, err := config.ParseDuration(*rf.duration)
	if err != nil || d <= 0 {
		fmt.Fprintf(errOut, "hsu-sim %s: --duration must be a positive duration, got %q\n", cmd, *rf.duration)
		return exitBadInput
	}
	rf.dur = d
	for _, in := range ins {
		if !in.isConfig() {
			// Its expectations and faults are placed within its own
			// duration; stretching or cutting it would silently change
			// what they mean.
			fmt.Fprintf(errOut, "hsu-sim %s: --duration is for hsu configs; %s is a scenario and sets its own duration:\n", cmd, in.sc.File)
			return exitBadInput
		}
		in.sc.Duration = config.Duration(d)
	}
	return 0
}

// swarmFor says whether in runs with swarm faults: scenarios only with
// --swarm, as always; configs unless --no-swarm, since a config has no
// faults of its own and healthy processes would otherwise just run.
func (rf *runFlags) swarmFor(in input) bool {
	if in.isConfig() {
		return !*rf.noSwarm
	}
	return *rf.swarm
}

// reproduce is the command that replays one run of in.
func (rf *runFlags) reproduce(in input, seed int64) string {
	s := fmt.Sprintf("hsu-sim run %s --seed %d", in.sc.File, seed)
	switch {
	case in.isConfig() && *rf.noSwarm:
		s += " --no-swarm"
	case !in.isConfig() && *rf.swarm:
		s += " --swarm"
	}
	if in.isConfig() && rf.dur > 0 {
		s += " --duration " + config.Duration(rf.dur).String()
	}
	if rf.platformSet() {
		s += " --platform " + *rf.platform
	}
	return s
}

func cmdCheck(args []string, out, errOut io.Writer) int {
	fs := flags("check", errOut)
	platName := addPlatformFlag(fs)
	if code, done := parse(fs, args); done {
		return code
	}
	ins, ok := loadAll(fs.Args(), errOut)
	for _, in := range ins {
		name := *platName
		if !fs.Changed("platform") && in.sc.Platform != "" {
			name = in.sc.Platform
		}
		if _, pok := checkPlatform("check", name, []input{in}, errOut); !pok {
			ok = false
		}
	}
	for _, in := range ins {
		sc := in.sc
		if in.isConfig() {
			fmt.Fprintf(out, "%s: ok: hsu config, %d workers\n", sc.File, len(sc.Cfg.Workers))
			continue
		}
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
	Swarm      bool                `json:"swarm,omitempty"`
	OK         bool                `json:"ok"`
	Violations []string            `json:"violations"`
	Restarts   map[string]int      `json:"restarts"`
	Final      map[string][]string `json:"final"`
	Checks     int                 `json:"checks"`
	Events     int64               `json:"engine_events"`
	Trace      string              `json:"trace"`
	Reproduce  string              `json:"reproduce,omitempty"`
	// Summary is only given for a plain config: a scenario states what
	// must hold in its expectations instead.
	Summary *Summary `json:"summary,omitempty"`
}

func cmdRun(args []string, out, errOut io.Writer) int {
	fs := flags("run", errOut)
	seed := fs.Int64("seed", -1, "seed for the simulated OS; the scenario's seed (a config's: 1) when not given")
	rf := addRunFlags(fs, "add the random fault mix that sweep --swarm draws from the seed (expectations are skipped); on by default for hsu configs")
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
	ins, ok := loadAll(fs.Args(), errOut)
	if !ok {
		return exitBadInput
	}
	if code := rf.apply("run", ins, errOut); code != 0 {
		return code
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
	for _, in := range ins {
		sc := in.sc
		s := sc.Seed
		if *seed >= 0 {
			s = *seed
		}
		swarm := rf.swarmFor(in)
		opt := fakeos.Options{Swarm: swarm, Platform: rf.plats[sc]}
		if traceOut != nil {
			opt.Trace = traceOut
		}
		var timeline []string
		if *format == "text" && !*quiet {
			opt.Timeline = func(line string) { timeline = append(timeline, line) }
		}
		res, sum := runWithSummary(sc, s, opt, in.isConfig())
		repro := rf.reproduce(in, s)
		var nondet string
		if *determinism {
			again := fakeos.New(sc, s, fakeos.Options{Swarm: swarm, Platform: rf.plats[sc]}).Run()
			if again.TraceHash != res.TraceHash {
				nondet = fmt.Sprintf("nondeterminism: two runs of seed %d gave traces %s and %s", s, res.TraceHash, again.TraceHash)
			}
		}
		if !res.OK() || nondet != "" {
			code = exitViolated
		}
		if *format == "json" {
			jr := jsonResult{Scenario: sc.Name, File: sc.File, Seed: s, Swarm: swarm, OK: res.OK() && nondet == "", Restarts: res.Restarts,
				Final: map[string][]string{}, Checks: res.Checks, Events: res.Stats.EngineEvents, Trace: res.TraceHash, Violations: []string{},
				Summary: sum}
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
		header := fmt.Sprintf("== %s (%s) seed=%d duration=%s", sc.Name, sc.File, s, sc.Duration)
		if p := rf.plats[sc].Name; p != fakeos.Platforms[0].Name {
			header += " platform=" + p
		}
		if swarm {
			header += " swarm"
		}
		fmt.Fprintln(out, header)
		for _, l := range timeline {
			fmt.Fprintln(out, l)
		}
		printSummary(out, sc, res, sum)
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

func printSummary(out io.Writer, sc *scenario.Scenario, res *fakeos.Result, sum *Summary) {
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
	if sum != nil {
		sum.print(out)
	}
	fmt.Fprintf(out, "invariants: %d checks, %d violations; %d engine events, %d actions\n",
		res.Checks, len(res.Violations), res.Stats.EngineEvents, res.Stats.Actions)
}

func cmdSweep(args []string, out, errOut io.Writer) int {
	fs := flags("sweep", errOut)
	seeds := fs.Int("seeds", 100, "number of seeds to run")
	first := fs.Int64("first-seed", 1, "first seed")
	rf := addRunFlags(fs, "add a random fault mix drawn from each seed; on by default for hsu configs")
	keep := fs.String("keep-failing", "", "write the trace and a reproduce note of each failing seed into DIR")
	jobs := fs.IntP("jobs", "j", runtime.GOMAXPROCS(0), "seeds run in parallel")
	if code, done := parse(fs, args); done {
		return code
	}
	ins, ok := loadAll(fs.Args(), errOut)
	if !ok {
		return exitBadInput
	}
	if code := rf.apply("sweep", ins, errOut); code != 0 {
		return code
	}
	if *keep != "" {
		if err := os.MkdirAll(*keep, 0o755); err != nil {
			fmt.Fprintf(errOut, "hsu-sim sweep: %v\n", err)
			return exitBadInput
		}
	}
	code := exitOK
	for _, in := range ins {
		sc := in.sc
		swarm := rf.swarmFor(in)
		type failure struct {
			seed int64
			res  *fakeos.Result
		}
		var (
			mu       sync.Mutex
			failures []failure
			events   int64
			wg       sync.WaitGroup
			total    *sweepSummary
		)
		if in.isConfig() {
			total = newSweepSummary()
		}
		next := make(chan int64)
		for j := 0; j < max(1, *jobs); j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for s := range next {
					opt := fakeos.Options{Swarm: swarm, NoTrace: true, Platform: rf.plats[sc]}
					res, sum := runWithSummary(sc, s, opt, total != nil)
					mu.Lock()
					if sum != nil {
						total.add(s, sum)
					}
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
			repro := rf.reproduce(in, f.seed)
			fmt.Fprintf(out, "FAIL %s seed=%d: %s\n  reproduce: %s\n", sc.Name, f.seed, f.res.Violations[0], repro)
			if *keep != "" {
				if err := keepFailing(*keep, sc, f.seed, fakeos.Options{Swarm: swarm, Platform: rf.plats[sc]}, repro); err != nil {
					fmt.Fprintf(errOut, "hsu-sim sweep: %v\n", err)
				}
			}
		}
		if total != nil {
			total.print(out)
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
func keepFailing(dir string, sc *scenario.Scenario, seed int64, opt fakeos.Options, repro string) error {
	base := filepath.Join(dir, fmt.Sprintf("%s-seed%d", strings.ReplaceAll(sc.Name, "/", "_"), seed))
	f, err := os.Create(base + ".trace.jsonl")
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	opt.Trace = bw
	res := fakeos.New(sc, seed, opt).Run()
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

// runWithSummary runs one seed, collecting a config run's summary when
// summarize is set (nil otherwise).
func runWithSummary(sc *scenario.Scenario, seed int64, opt fakeos.Options, summarize bool) (*fakeos.Result, *Summary) {
	if !summarize {
		return fakeos.New(sc, seed, opt).Run(), nil
	}
	col := newCollector(sc.Cfg)
	opt.OnAction = col.onAction
	res := fakeos.New(sc, seed, opt).Run()
	return res, col.finish(res.End)
}
