// Package scenario reads hsu-sim scenario files: a config, fake process
// behaviours, timed faults and expectations (DESIGN.md §4). Decoding is as
// strict as the config's: every mistake is reported with file:line:col.
package scenario

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/engine"
)

// Scenario is one simulation.
type Scenario struct {
	Name        string                `yaml:"name" doc:"Short name shown in reports." required:"true"`
	Description string                `yaml:"description" doc:"What the scenario proves, for the person reading a failure."`
	Seed        int64                 `yaml:"seed" doc:"Seed of the simulated OS's PRNG; --seed overrides." default:"1" min:"0"`
	Duration    config.Duration       `yaml:"duration" doc:"Virtual time to simulate." required:"true"`
	Platform    string                `yaml:"platform" doc:"The OS modelled (linux, linux-hybrid, linux-nocgroup, darwin, windows); --platform overrides." default:"linux"`
	Config      config.RawNode        `yaml:"config" doc:"An inline hsu config."`
	ConfigFile  string                `yaml:"config_file" doc:"Path of an hsu config, relative to the scenario file."`
	Behaviour   map[string]*Behaviour `yaml:"behaviour" doc:"Fake process models by worker name."`
	Faults      []*Fault              `yaml:"faults" doc:"Timed faults and commands."`
	Expect      []*Expect             `yaml:"expect" doc:"What must hold."`

	// File is the scenario's path; Cfg the config it runs.
	File string         `yaml:"-"`
	Cfg  *config.Config `yaml:"-"`
}

// Behaviour models one worker's processes. A worker without one starts at
// once, stays up, is healthy, and exits on SIGTERM.
type Behaviour struct {
	StartDelay     config.Duration `yaml:"start_delay" doc:"Time after spawn until it listens: probes fail and no ready line before."`
	ExitAfter      config.Duration `yaml:"exit_after" doc:"Each instance exits this long after its start (0: never)."`
	ExitCode       int             `yaml:"exit_code" doc:"Exit code at exit_after." min:"0" max:"255"`
	ExitSignal     config.Signal   `yaml:"exit_signal" doc:"Die by this signal at exit_after instead of exiting."`
	IgnoreSigterm  bool            `yaml:"ignore_sigterm" doc:"SIGTERM (and the stop signal) is ignored; only SIGKILL ends it."`
	Memory         *Memory         `yaml:"memory" doc:"Memory use over time; crossing a kernel-enforced limit is an OOM kill."`
	CPU            config.Cores    `yaml:"cpu" doc:"Constant CPU use reported by samples."`
	UnhealthyAfter config.Duration `yaml:"unhealthy_after" doc:"Probes fail from this long after start."`
	RecoverAfter   config.Duration `yaml:"recover_after" doc:"Probes pass again this long after becoming unhealthy (0: never)."`
	SpawnError     string          `yaml:"spawn_error" doc:"Every spawn fails with this errno (ENOENT, EACCES, EAGAIN, ...)."`
	Children       int             `yaml:"children" doc:"Grandchildren forked at start; they must not survive a stop." min:"0" max:"100"`
}

// Memory is a linear memory growth model.
type Memory struct {
	Start config.Size `yaml:"start" doc:"Memory at start."`
	Grow  Rate        `yaml:"grow" doc:"Growth rate like 100Mi/min, 1Mi/s."`
}

// Rate is bytes per second, written SIZE/UNIT with UNIT s, min or h.
type Rate float64

// UnmarshalText parses "100Mi/min".
func (r *Rate) UnmarshalText(b []byte) error {
	v, err := config.ParseRate(string(b))
	*r = Rate(v)
	return err
}

// Fault is one timed intervention; exactly one of its kinds is set.
type Fault struct {
	At           config.Duration `yaml:"at" doc:"Virtual time of the fault." required:"true"`
	Kill         string          `yaml:"kill" doc:"Send signal to the worker's instances from outside hsu (NAME or NAME-i)."`
	Signal       config.Signal   `yaml:"signal" doc:"Signal for kill." default:"KILL"`
	Command      string          `yaml:"command" doc:"A CLI verb: start|stop|restart NAME[-i], scale NAME N, signal NAME SIG, shutdown (a reload is the reload: fault)."`
	HsuCrash     bool            `yaml:"hsu_crash" doc:"hsu dies (kill -9); its workers keep running."`
	RestartAfter config.Duration `yaml:"restart_after" doc:"With hsu_crash: start a new hsu this much later (0: never)."`
	AfterFork    string          `yaml:"after_fork" doc:"With hsu_crash: hsu dies at the next spawn of this worker from at on, right after the fork and before it writes anything more (its state file, the PID)."`
	SpawnFail    string          `yaml:"spawn_fail" doc:"The next count spawns of this worker fail with errno."`
	Errno        string          `yaml:"errno" doc:"errno for spawn_fail." default:"EAGAIN"`
	Count        int             `yaml:"count" doc:"How many spawns spawn_fail affects." default:"1" min:"1"`
	Reload       config.RawNode  `yaml:"reload" doc:"Reload hsu with this inline config."`
	// StateWriteFail makes every write of the state file fail (a full or
	// failing disk) for For.
	StateWriteFail bool            `yaml:"state_write_fail" doc:"Every state file write fails (a full or failing disk) for for."`
	For            config.Duration `yaml:"for" doc:"With state_write_fail: how long writes fail."`
	// StateCorrupt overwrites both slots of the state file with garbage
	// (while hsu is down, the next hsu finds nothing readable).
	StateCorrupt bool `yaml:"state_corrupt" doc:"Both slots of the state file become unreadable (overwritten with garbage)."`

	// Parsed forms.
	Cmd       engine.Command `yaml:"-"`
	ReloadCfg *config.Config `yaml:"-"`
	Target    Target         `yaml:"-"`
}

// Kind names the fault's kind.
func (f *Fault) Kind() string {
	switch {
	case f.Kill != "":
		return "kill"
	case f.Command != "":
		return "command"
	case f.HsuCrash:
		return "hsu_crash"
	case f.SpawnFail != "":
		return "spawn_fail"
	case f.ReloadCfg != nil:
		return "reload"
	case f.StateWriteFail:
		return "state_write_fail"
	case f.StateCorrupt:
		return "state_corrupt"
	}
	return ""
}

// Target is a worker, optionally one replica (NAME-i).
type Target struct {
	Worker  string
	Replica int // 0: all
}

func (t Target) String() string {
	if t.Replica == 0 {
		return t.Worker
	}
	return t.Worker + "-" + strconv.Itoa(t.Replica)
}

// Range bounds a count; a nil end is open.
type Range struct {
	Min *int `yaml:"min" doc:"At least."`
	Max *int `yaml:"max" doc:"At most."`
}

// Holds reports whether n is within the range.
func (r Range) Holds(n int) bool {
	return (r.Min == nil || n >= *r.Min) && (r.Max == nil || n <= *r.Max)
}

func (r Range) String() string {
	switch {
	case r.Min != nil && r.Max != nil:
		return fmt.Sprintf("%d..%d", *r.Min, *r.Max)
	case r.Min != nil:
		return fmt.Sprintf(">= %d", *r.Min)
	case r.Max != nil:
		return fmt.Sprintf("<= %d", *r.Max)
	}
	return "any"
}

// Expect is one expectation.
type Expect struct {
	At       *config.Duration  `yaml:"at" doc:"Check state (and alive) at this virtual time."`
	State    map[string]string `yaml:"state" doc:"Worker (every replica) or NAME-i → state at time at; running is also satisfied by ready."`
	Final    map[string]string `yaml:"final" doc:"Worker or NAME-i → state at the end."`
	Restarts map[string]Range  `yaml:"restarts" doc:"Spawns after each replica's first start, summed over replicas, by the end (or at)."`
	Alive    map[string]Range  `yaml:"alive" doc:"Live processes of the worker, grandchildren included (ground truth), at time at or at the end."`
	OOMKills map[string]Range  `yaml:"oom_kills" doc:"OOM kills of the worker's instances by the end."`
}

// Load reads and checks a scenario file.
func Load(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and checks a scenario.
func Parse(path string, data []byte) (*Scenario, error) {
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, &config.ErrorList{Errs: []config.Error{{Pos: config.Pos{File: path, Line: 1, Col: 1}, Msg: "empty scenario file"}}}
	}
	root, err := config.ParseYAML(path, data)
	if err != nil {
		return nil, err
	}
	sc := &Scenario{File: path}
	pos, err := config.DecodeNode(path, root, sc, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	errs := &config.ErrorList{}
	sc.check(pos, errs)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return sc, nil
}

// Platforms are the names of the platforms fakeos models (a test keeps
// the two lists equal).
var Platforms = []string{"linux", "linux-hybrid", "linux-nocgroup", "darwin", "windows"}

func (sc *Scenario) check(pos config.Positions, errs *config.ErrorList) {
	add := func(path, format string, args ...any) { errs.Add(pos.Errorf(path, format, args...)) }
	if sc.Platform != "" && !slices.Contains(Platforms, sc.Platform) {
		add("platform", "unknown platform %q (want one of %s)", sc.Platform, strings.Join(Platforms, ", "))
	}
	switch {
	case sc.Config.Node != nil && sc.ConfigFile != "":
		add("config_file", "set config or config_file, not both")
		return
	case sc.Config.Node != nil:
		cfg, err := config.ParseNode(sc.File, sc.Config.Node, config.Options{})
		if err != nil {
			addAll(errs, err)
			return
		}
		sc.Cfg = cfg
	case sc.ConfigFile != "":
		p := sc.ConfigFile
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(sc.File), p)
		}
		cfg, err := config.Load(p, config.Options{})
		if err != nil {
			if _, ok := err.(*config.ErrorList); ok {
				addAll(errs, err)
			} else {
				add("config_file", "%v", err)
			}
			return
		}
		sc.Cfg = cfg
	default:
		add("", "missing config or config_file")
		return
	}
	if sc.Duration <= 0 {
		add("duration", "must be positive")
	}
	for _, name := range slices.Sorted(maps.Keys(sc.Behaviour)) {
		p := "behaviour." + name
		if _, ok := sc.Cfg.Workers[name]; !ok {
			add(p, "%s", sc.unknownWorker(name))
			continue
		}
		b := sc.Behaviour[name]
		if b.SpawnError != "" && !validErrno(b.SpawnError) {
			add(p+".spawn_error", "unknown errno %q (want one of %s)", b.SpawnError, strings.Join(errnos, ", "))
		}
		if b.ExitSignal != "" && b.ExitCode != 0 {
			add(p+".exit_signal", "set exit_code or exit_signal, not both")
		}
		if b.RecoverAfter > 0 && b.UnhealthyAfter == 0 {
			add(p+".recover_after", "recover_after needs unhealthy_after")
		}
	}
	for i, f := range sc.Faults {
		p := fmt.Sprintf("faults[%d]", i)
		sc.checkFault(f, p, pos, errs)
	}
	for i, e := range sc.Expect {
		p := fmt.Sprintf("expect[%d]", i)
		if e.State != nil && e.At == nil {
			add(p+".state", "state needs at (use final for the end)")
		}
		if e.At != nil && *e.At < 0 {
			add(p+".at", "must not be negative")
		}
		if e.At != nil && *e.At > sc.Duration {
			add(p+".at", "after the end of the scenario (%s)", sc.Duration)
		}
		for _, m := range []struct {
			key string
			m   map[string]string
		}{{"state", e.State}, {"final", e.Final}} {
			for _, name := range slices.Sorted(maps.Keys(m.m)) {
				if _, err := sc.target(name); err != "" {
					add(p+"."+m.key+"."+name, "%s", err)
				}
				if _, ok := engine.ParseState(m.m[name]); !ok {
					add(p+"."+m.key+"."+name, "unknown state %q (want pending, starting, running, ready, stopping, stopped, backoff, exited, failed or unknown)", m.m[name])
				}
			}
		}
		for _, m := range []struct {
			key string
			m   map[string]Range
		}{{"restarts", e.Restarts}, {"alive", e.Alive}, {"oom_kills", e.OOMKills}} {
			for _, name := range slices.Sorted(maps.Keys(m.m)) {
				if t, err := sc.target(name); err != "" {
					add(p+"."+m.key+"."+name, "%s", err)
				} else if m.key == "oom_kills" && t.Replica != 0 {
					add(p+"."+m.key+"."+name, "oom_kills counts a whole worker; name %s", t.Worker)
				}
			}
		}
	}
}

func (sc *Scenario) checkFault(f *Fault, p string, pos config.Positions, errs *config.ErrorList) {
	add := func(path, format string, args ...any) { errs.Add(pos.Errorf(path, format, args...)) }
	if f.Reload.Node != nil {
		cfg, err := config.ParseNode(sc.File, f.Reload.Node, config.Options{})
		if err != nil {
			addAll(errs, err)
			return
		}
		f.ReloadCfg = cfg
	}
	n := 0
	for _, set := range []bool{f.Kill != "", f.Command != "", f.HsuCrash, f.SpawnFail != "", f.ReloadCfg != nil, f.StateWriteFail, f.StateCorrupt} {
		if set {
			n++
		}
	}
	if n != 1 {
		add(p, "a fault has exactly one of kill, command, hsu_crash, spawn_fail, reload, state_write_fail, state_corrupt; %d are set", n)
		return
	}
	if f.StateWriteFail && f.For <= 0 {
		add(p+".for", "state_write_fail needs a positive for: (how long writes fail)")
	}
	if f.For != 0 && !f.StateWriteFail {
		add(p+".for", "for goes with state_write_fail: true")
	}
	if f.AfterFork != "" && !f.HsuCrash {
		add(p+".after_fork", "after_fork goes with hsu_crash: true")
	}
	if f.At < 0 {
		add(p+".at", "must not be negative")
	}
	if f.At > sc.Duration {
		add(p+".at", "after the end of the scenario (%s)", sc.Duration)
	}
	switch {
	case f.Kill != "":
		t, err := sc.target(f.Kill)
		if err != "" {
			add(p+".kill", "%s", err)
		}
		f.Target = t
	case f.SpawnFail != "":
		t, err := sc.target(f.SpawnFail)
		if err != "" || t.Replica != 0 {
			add(p+".spawn_fail", "%s", sc.unknownWorker(f.SpawnFail))
		}
		f.Target = t
		if !validErrno(f.Errno) {
			add(p+".errno", "unknown errno %q (want one of %s)", f.Errno, strings.Join(errnos, ", "))
		}
	case f.HsuCrash && f.AfterFork != "":
		t, err := sc.target(f.AfterFork)
		if err != "" || t.Replica != 0 {
			add(p+".after_fork", "%s", sc.unknownWorker(f.AfterFork))
		}
		f.Target = t
	case f.Command != "":
		cmd, t, err := sc.parseCommand(f.Command)
		if err != "" {
			add(p+".command", "%s", err)
		}
		f.Cmd, f.Target = cmd, t
	}
}

// parseCommand reads "VERB [NAME[-i]] [ARG]".
func (sc *Scenario) parseCommand(s string) (engine.Command, Target, string) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return engine.Command{}, Target{}, "empty command"
	}
	verb, ok := engine.ParseVerb(fields[0])
	if !ok || verb == engine.CmdReload {
		msg := fmt.Sprintf("unknown verb %q (want start, stop, restart, scale, signal or shutdown)", fields[0])
		if verb == engine.CmdReload {
			msg = "a reload carries the new config: use a reload: fault instead of a command"
		}
		return engine.Command{}, Target{}, msg
	}
	cmd := engine.Command{Verb: verb}
	want := map[engine.Verb]int{engine.CmdStart: 2, engine.CmdStop: 2, engine.CmdRestart: 2, engine.CmdScale: 3, engine.CmdSignal: 3, engine.CmdShutdown: 1, engine.CmdReload: 1}[verb]
	if len(fields) != want {
		usage := map[engine.Verb]string{engine.CmdScale: "scale NAME N", engine.CmdSignal: "signal NAME SIG", engine.CmdShutdown: "shutdown", engine.CmdReload: "reload"}[verb]
		if usage == "" {
			usage = verb.String() + " NAME[-i]"
		}
		return cmd, Target{}, fmt.Sprintf("want %q", usage)
	}
	if want == 1 {
		return cmd, Target{}, ""
	}
	t, err := sc.target(fields[1])
	if err != "" {
		return cmd, t, err
	}
	cmd.Worker, cmd.Replica = t.Worker, t.Replica
	switch verb {
	case engine.CmdScale:
		n, err := strconv.Atoi(fields[2])
		if err != nil || n < 0 {
			return cmd, t, fmt.Sprintf("scale needs a replica count >= 0, got %q", fields[2])
		}
		if t.Replica != 0 {
			return cmd, t, "scale takes a worker, not a replica"
		}
		cmd.N = n
	case engine.CmdSignal:
		sig, err := config.ParseSignal(fields[2])
		if err != nil {
			return cmd, t, err.Error()
		}
		cmd.Signal = string(sig)
	}
	return cmd, t, ""
}

// target resolves NAME or NAME-i against the config's workers.
func (sc *Scenario) target(s string) (Target, string) {
	if _, ok := sc.Cfg.Workers[s]; ok {
		return Target{Worker: s}, ""
	}
	if i := strings.LastIndexByte(s, '-'); i > 0 {
		if n, err := strconv.Atoi(s[i+1:]); err == nil && n >= 1 {
			if _, ok := sc.Cfg.Workers[s[:i]]; ok {
				return Target{Worker: s[:i], Replica: n}, ""
			}
		}
	}
	return Target{}, sc.unknownWorker(s)
}

func (sc *Scenario) unknownWorker(s string) string {
	return fmt.Sprintf("unknown worker %q (workers: %s)", s, strings.Join(sc.Cfg.Order, ", "))
}

func addAll(errs *config.ErrorList, err error) {
	if l, ok := err.(*config.ErrorList); ok {
		for _, e := range l.Errs {
			errs.Add(e)
		}
		return
	}
	errs.Add(config.Error{Msg: err.Error()})
}

// errnos are the spawn errors the fake OS can produce.
var errnos = []string{"ENOENT", "EACCES", "ENOEXEC", "EPERM", "EAGAIN", "ENOMEM", "EMFILE", "ENFILE"}

func validErrno(s string) bool {
	for _, e := range errnos {
		if e == s {
			return true
		}
	}
	return false
}
