package config

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
)

// checker reports semantic problems at the position of a key path.
type checker struct {
	cfg  *Config
	errs *ErrorList
}

func (c *checker) errorf(path, format string, args ...any) {
	c.errs.add(Error{Pos: c.cfg.pos.Near(path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Position returns where a key path was written (or its nearest parent), for
// errors found after loading, such as a platform check or a reload diff.
func (c *Config) Position(path string) Pos { return c.pos.Near(path) }

// validate checks what the decoder cannot see: relations between keys and
// between workers.
func validate(cfg *Config, dirty map[string]bool, errs *ErrorList, opts Options) {
	c := &checker{cfg: cfg, errs: errs}
	if len(cfg.Workers) == 0 {
		c.errorf("workers", "no workers defined")
	}
	for _, name := range cfg.Order {
		if dirty[name] {
			continue
		}
		c.worker(cfg.Workers[name], "workers."+name, opts)
	}
	c.dependencies()
}

func (c *checker) worker(w *Worker, p string, opts Options) {
	switch w.Type {
	case TypeManaged, TypeIntegrated:
		switch {
		case len(w.Command) == 0 && w.Shell == "":
			c.errorf(p, "a %s worker needs command or shell", w.Type)
		case len(w.Command) > 0 && w.Shell != "":
			c.errorf(p+".shell", "set command or shell, not both")
		case len(w.Command) > 0 && w.Command[0] == "":
			c.errorf(p+".command[0]", "program name is empty")
		}
		if w.Pidfile != "" || w.Discover != nil {
			c.errorf(p+".type", "pidfile and discover are for unmanaged workers; this one is %s", w.Type)
		}
	case TypeUnmanaged:
		if w.Pidfile == "" && (w.Discover == nil || (w.Discover.Cmdline == "" && w.Discover.Port == 0)) {
			c.errorf(p, "an unmanaged worker needs pidfile or discover (cmdline or port)")
		}
		if len(w.Command) > 0 || w.Shell != "" {
			c.errorf(p+".type", "an unmanaged worker is never started by hsu; remove command/shell or use type managed")
		}
		if w.Replicas > 1 {
			c.errorf(p+".replicas", "an unmanaged worker has exactly one instance")
		}
	}
	if w.Type != TypeIntegrated && w.Listen != "127.0.0.1:0" && w.Listen != "" {
		c.errorf(p+".listen", "listen is for integrated workers")
	}
	if w.Type == TypeIntegrated {
		c.hostPort(p+".listen", w.Listen, true)
	}
	for k := range w.Env {
		if !validEnvName(k) {
			c.errorf(p+".env."+k, "invalid environment variable name")
		}
	}
	for i, f := range w.EnvFile {
		data, err := opts.ReadFile(f)
		if err != nil {
			c.errorf(fmt.Sprintf("%s.env_file[%d]", p, i), "cannot read %s: %v", f, err)
			continue
		}
		if _, err := ParseEnvFile(data); err != nil {
			c.errorf(fmt.Sprintf("%s.env_file[%d]", p, i), "%s: %v", f, err)
		}
	}
	c.restart(&w.Restart, p+".restart")
	for _, pr := range []struct {
		name string
		p    *Probe
	}{{"startup", w.Health.Startup}, {"readiness", w.Health.Readiness}, {"liveness", w.Health.Liveness}} {
		if pr.p != nil {
			c.probe(w, pr.p, p+".health."+pr.name)
		}
	}
	c.resources(&w.Resources, p+".resources")
	if w.Stop.Timeout < 0 {
		c.errorf(p+".stop.timeout", "must not be negative")
	}
	if len(w.Stop.Command) > 0 && w.Stop.Command[0] == "" {
		c.errorf(p+".stop.command[0]", "program name is empty")
	}
	if w.Logs.Rotate.MaxSize <= 0 {
		c.errorf(p+".logs.rotate.max_size", "must be positive")
	}
	if w.Logs.Rotate.MaxAge < 0 {
		c.errorf(p+".logs.rotate.max_age", "must not be negative")
	}
	if w.Discover != nil && w.Discover.Cmdline == "" && w.Discover.Port == 0 {
		c.errorf(p+".discover", "set cmdline, port or both")
	}
	switch {
	case w.Notify && w.Type == TypeUnmanaged:
		c.errorf(p+".notify", "an unmanaged worker is not started by hsu, so it cannot be given a NOTIFY_SOCKET")
	case w.Watchdog < 0:
		c.errorf(p+".watchdog", "must not be negative")
	case w.Watchdog > 0 && !w.Notify:
		c.errorf(p+".watchdog", "the watchdog needs notify: true (it is WATCHDOG=1 on the notify socket)")
	}
}

func (c *checker) restart(r *Restart, p string) {
	c.backoff(r.Backoff.Initial, r.Backoff.Max, p+".backoff", "")
	if r.ResetAfter < 0 {
		c.errorf(p+".reset_after", "must not be negative")
	}
	if r.StartSeconds < 0 {
		c.errorf(p+".start_seconds", "must not be negative")
	}
	if r.MaxRestarts > 0 && r.Window <= 0 {
		c.errorf(p+".window", "must be positive while max_restarts is %d (max_restarts: 0 means no limit)", r.MaxRestarts)
	}
	for i, code := range r.SuccessExitCodes {
		if code < 0 || code > 255 {
			c.errorf(fmt.Sprintf("%s.success_exit_codes[%d]", p, i), "exit codes are 0 to 255, got %d", code)
		}
	}
	for _, t := range []struct {
		name string
		o    *TriggerRestart
	}{{TriggerCrash, r.On.Crash}, {TriggerHealth, r.On.Health}, {TriggerResource, r.On.Resource}} {
		if t.o == nil {
			continue
		}
		eff := r.ForTrigger(t.name)
		tp := p + ".on." + t.name
		// With neither initial nor max of its own, the worker's check
		// covers both.
		if b := t.o.Backoff; b != nil && (b.Initial != nil || b.Max != nil) {
			inherited := ""
			switch {
			case b.Max == nil:
				inherited = "max"
			case b.Initial == nil:
				inherited = "initial"
			}
			c.backoff(eff.Backoff.Initial, eff.Backoff.Max, tp+".backoff", inherited)
		}
		if eff.MaxRestarts > 0 && eff.Window <= 0 {
			c.errorf(tp+".window", "must be positive while max_restarts is %d (max_restarts: 0 means no limit)", eff.MaxRestarts)
		}
	}
}

// backoff checks one back-off; inherited names the field ("initial" or
// "max") that a trigger's override does not set, so that the error points
// at the one it wrote.
func (c *checker) backoff(initial, maxD Duration, p, inherited string) {
	if initial < 0 {
		c.errorf(p+".initial", "must not be negative")
	}
	if maxD >= initial {
		return
	}
	switch inherited {
	case "max":
		c.errorf(p+".initial", "initial (%s) is above max (%s), inherited from restart.backoff.max", initial, maxD)
	case "initial":
		c.errorf(p+".max", "max (%s) is below initial (%s), inherited from restart.backoff.initial", maxD, initial)
	default:
		c.errorf(p+".max", "max (%s) is below initial (%s)", maxD, initial)
	}
}

func (c *checker) probe(w *Worker, pr *Probe, p string) {
	kinds := 0
	for _, set := range []bool{pr.HTTP != nil, pr.TCP != nil, pr.GRPC != nil, pr.Exec != nil, pr.Process != nil} {
		if set {
			kinds++
		}
	}
	switch {
	case kinds == 0:
		c.errorf(p, "a probe needs one of http, tcp, grpc, exec or process")
	case kinds > 1:
		c.errorf(p, "a probe has exactly one of http, tcp, grpc, exec or process; %d are set", kinds)
	}
	if pr.Period <= 0 {
		c.errorf(p+".period", "must be positive")
	}
	if pr.Timeout <= 0 {
		c.errorf(p+".timeout", "must be positive")
	} else if pr.Timeout > pr.Period && pr.Period > 0 {
		// Only when both were written: an unwritten one is derived from
		// the other (deriveProbe).
		c.errorf(p+".timeout", "timeout (%s) must not exceed period (%s)", pr.Timeout, pr.Period)
	}
	if pr.InitialDelay < 0 {
		c.errorf(p+".initial_delay", "must not be negative")
	}
	switch {
	case pr.HTTP != nil:
		u, err := url.Parse(pr.HTTP.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			c.errorf(p+".http.url", "want an http:// or https:// URL with a host, got %q", pr.HTTP.URL)
		}
	case pr.TCP != nil:
		c.hostPort(p+".tcp.address", pr.TCP.Address, false)
	case pr.GRPC != nil:
		if pr.GRPC.Address == "" && w.Type != TypeIntegrated {
			c.errorf(p+".grpc.address", "required (only integrated workers default to their own socket)")
		} else if pr.GRPC.Address != "" {
			c.hostPort(p+".grpc.address", pr.GRPC.Address, false)
		}
	case pr.Exec != nil:
		if len(pr.Exec.Command) == 0 || pr.Exec.Command[0] == "" {
			c.errorf(p+".exec.command", "needs a program")
		}
	}
}

func (c *checker) hostPort(p, addr string, portZeroOK bool) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		c.errorf(p, "want host:port, got %q", addr)
		return
	}
	var n int
	if _, err := fmt.Sscanf(port, "%d", &n); err != nil || n < 0 || n > 65535 || (n == 0 && !portZeroOK) || fmt.Sprint(n) != port {
		c.errorf(p, "invalid port %q", port)
	}
}

func (c *checker) resources(r *Resources, p string) {
	if r.MonitorInterval <= 0 {
		c.errorf(p+".monitor_interval", "must be positive")
	}
	if m := r.Memory; m != nil {
		if m.Max <= 0 && m.Warn <= 0 {
			c.errorf(p+".memory", "set max, warn or both")
		}
		if m.Max < 0 {
			c.errorf(p+".memory.max", "must be positive")
		}
		if m.Max > 0 && m.Warn >= m.Max {
			c.errorf(p+".memory.warn", "warn (%s) must be below max (%s)", m.Warn, m.Max)
		}
	}
	if cpu := r.CPU; cpu != nil {
		if cpu.Max <= 0 && cpu.Warn <= 0 {
			c.errorf(p+".cpu", "set max, warn or both")
		}
		if cpu.Max < 0 || cpu.Warn < 0 {
			c.errorf(p+".cpu", "must not be negative")
		}
		if cpu.Max > 0 && cpu.Warn >= cpu.Max {
			c.errorf(p+".cpu.warn", "warn (%v) must be below max (%v)", float64(cpu.Warn), float64(cpu.Max))
		}
	}
	if pl := r.Pids; pl != nil {
		if pl.Max == 0 {
			c.errorf(p+".pids.max", "required")
		}
		if pl.Warn > 0 && pl.Warn >= pl.Max {
			c.errorf(p+".pids.warn", "warn (%d) must be below max (%d)", pl.Warn, pl.Max)
		}
	}
	if io := r.IO; io != nil {
		if io.ReadBPS <= 0 && io.WriteBPS <= 0 && io.ReadIOPS <= 0 && io.WriteIOPS <= 0 {
			c.errorf(p+".io", "set read_bps, write_bps, read_iops or write_iops")
		}
		if io.ReadBPS < 0 || io.WriteBPS < 0 {
			c.errorf(p+".io", "bytes per second must not be negative")
		}
		if d := io.Device; d != "" && !strings.HasPrefix(d, "/") && !IsMajMin(d) {
			c.errorf(p+".io.device", "want an absolute path or MAJ:MIN (8:0), got %q", d)
		}
	}
	if f := r.FDs; f != nil && f.Max == 0 {
		c.errorf(p+".fds.max", "required")
	}
}

// IsMajMin reports whether s is a device number as MAJ:MIN ("8:0").
func IsMajMin(s string) bool {
	maj, min, ok := strings.Cut(s, ":")
	isNum := func(x string) bool {
		if x == "" || len(x) > 7 {
			return false
		}
		for _, r := range x {
			if r < '0' || r > '9' {
				return false
			}
		}
		return true
	}
	return ok && isNum(maj) && isNum(min)
}

// dependencies checks that every dependency exists, that its condition can
// be met, and that there is no cycle.
func (c *checker) dependencies() {
	for _, name := range c.cfg.Order {
		w := c.cfg.Workers[name]
		for _, dep := range slices.Sorted(maps.Keys(w.DependsOn)) {
			p := "workers." + name + ".depends_on." + dep
			d, ok := c.cfg.Workers[dep]
			switch {
			case dep == name:
				c.errorf(p, "a worker cannot depend on itself")
				continue
			case !ok:
				msg := fmt.Sprintf("unknown worker %q", dep)
				if s := suggest(dep, c.cfg.Order); s != "" {
					msg += fmt.Sprintf("; did you mean %s?", s)
				}
				c.errorf(p, "%s", msg)
				continue
			}
			switch w.DependsOn[dep].Condition {
			case CondLogReady:
				if d.ReadyLogLine == "" {
					c.errorf(p+".condition", "log_ready needs %s to set ready_log_line", dep)
				}
			case CondCompleted, CondCompletedSuccessfully:
				if d.Restart.Policy == PolicyAlways || d.Restart.Policy == PolicyUnlessStopped {
					c.errorf(p+".condition", "%s has restart policy %s, so it never completes", dep, d.Restart.Policy)
				}
				if d.Type == TypeUnmanaged {
					c.errorf(p+".condition", "%s is unmanaged; hsu cannot wait for it to complete", dep)
				}
			}
		}
	}
	for _, cycle := range findCycles(c.cfg) {
		c.errorf("workers."+cycle[0]+".depends_on."+cycle[1], "dependency cycle: %s", strings.Join(cycle, " -> "))
	}
}

// findCycles returns each dependency cycle once, starting at its
// first-defined member, in config order.
func findCycles(cfg *Config) [][]string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var cycles [][]string
	var visit func(n string)
	visit = func(n string) {
		color[n] = grey
		stack = append(stack, n)
		for _, dep := range slices.Sorted(maps.Keys(cfg.Workers[n].DependsOn)) {
			if _, ok := cfg.Workers[dep]; !ok || dep == n {
				continue
			}
			switch color[dep] {
			case white:
				visit(dep)
			case grey:
				for i, s := range stack {
					if s == dep {
						cycles = append(cycles, append(append([]string{}, stack[i:]...), dep))
					}
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
	}
	for _, n := range cfg.Order {
		if color[n] == white {
			visit(n)
		}
	}
	return cycles
}

// EffectiveRestart is a worker's restart settings for one trigger, with the
// trigger's overrides applied.
type EffectiveRestart struct {
	Backoff     Backoff
	MaxRestarts int
	Window      Duration
}

// ForTrigger resolves the overrides of trigger (crash, health, resource).
func (r *Restart) ForTrigger(trigger string) EffectiveRestart {
	e := EffectiveRestart{Backoff: r.Backoff, MaxRestarts: r.MaxRestarts, Window: r.Window}
	var o *TriggerRestart
	switch trigger {
	case TriggerCrash:
		o = r.On.Crash
	case TriggerHealth:
		o = r.On.Health
	case TriggerResource:
		o = r.On.Resource
	}
	if o == nil {
		return e
	}
	if b := o.Backoff; b != nil {
		if b.Initial != nil {
			e.Backoff.Initial = *b.Initial
		}
		if b.Max != nil {
			e.Backoff.Max = *b.Max
		}
		if b.Multiplier != nil {
			e.Backoff.Multiplier = *b.Multiplier
		}
		if b.Jitter != nil {
			e.Backoff.Jitter = *b.Jitter
		}
	}
	if o.MaxRestarts != nil {
		e.MaxRestarts = *o.MaxRestarts
	}
	if o.Window != nil {
		e.Window = *o.Window
	}
	return e
}
