package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/osadapters"
	"github.com/hsu-run/hsu/osadapters/platform"
)

// defaultConfig is the file used when -f is not given.
const defaultConfig = "hsu.yaml"

// thisPlatform reports what this OS (and build) and this machine cannot
// enforce, at validation; probed once, by the verbs that load a config.
var thisPlatform = probePlatform("") // a var: tests stand in a machine

// probePlatform probes this machine once, when first asked, for a run
// with --cgroup-parent parent.
func probePlatform(parent string) func() platform.Platform {
	return sync.OnceValue(func() platform.Platform { return osadapters.ThisPlatform(parent) })
}

func loadConfig(path string) (*config.Config, error) {
	return config.Load(path, config.Options{Platform: thisPlatform()})
}

// warnDegraded warns, once at start, of each limit this run samples
// instead of leaving it to the kernel, as the cgroups hsu could open
// decide it.
func warnDegraded(log *slog.Logger, cfg *config.Config, sys any) {
	p := thisPlatform()
	if m, ok := sys.(interface{ Machine() *platform.Machine }); ok {
		p.Machine = m.Machine()
	}
	for _, e := range p.Plan(cfg) {
		if e.Degraded {
			log.Warn("limit not enforced by the kernel in this run: hsu samples it every "+e.Interval, "worker", e.Worker, "resource", e.Resource, "why", e.Why)
		}
	}
}

func cmdValidate(args []string, out, errOut io.Writer) int {
	fs := newFlags("validate", errOut)
	file := fs.StringP("file", "f", defaultConfig, "config file")
	output := fs.StringP("output", "o", "", "json: the result and the enforcement plan as JSON")
	if code, done := parse(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(errOut, "hsu validate: unexpected argument %q (use -f FILE)\n", fs.Arg(0))
		return exitUsage
	}
	if *output != "" && *output != "json" {
		fmt.Fprintf(errOut, "hsu validate: -o %q: want json\n", *output)
		return exitUsage
	}
	cfg, err := loadConfig(*file)
	if err != nil {
		printLoadError(errOut, "validate", *file, err)
		return exitFailure
	}
	replicas := 0
	for _, w := range cfg.Workers {
		replicas += w.Replicas
	}
	plan := thisPlatform().Plan(cfg)
	if *output == "json" {
		if plan == nil {
			plan = []platform.Enforcement{}
		}
		b, _ := json.MarshalIndent(struct {
			File      string                 `json:"file"`
			OK        bool                   `json:"ok"`
			Workers   int                    `json:"workers"`
			Instances int                    `json:"instances"`
			Platform  string                 `json:"platform"`
			Limits    []platform.Enforcement `json:"limits"`
		}{*file, true, len(cfg.Workers), replicas, runtime.GOOS, plan}, "", "  ")
		out.Write(append(b, '\n'))
		return exitOK
	}
	fmt.Fprintf(out, "%s: ok: %d worker%s, %d instance%s\n", *file, len(cfg.Workers), plural(len(cfg.Workers)), replicas, plural(replicas))
	if len(plan) > 0 {
		fmt.Fprintf(out, "limits on this machine (%s):\n", runtime.GOOS)
		for _, e := range plan {
			fmt.Fprintf(out, "  %s\n", e)
		}
	}
	return exitOK
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func cmdSchema(args []string, out, errOut io.Writer) int {
	fs := newFlags("schema", errOut)
	if code, done := parse(fs, args); done {
		return code
	}
	b, err := config.JSONSchema()
	if err != nil {
		fmt.Fprintf(errOut, "hsu schema: %v\n", err)
		return exitFailure
	}
	out.Write(append(b, '\n'))
	return exitOK
}
