package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hsu-run/hsu/api"
	"github.com/hsu-run/hsu/engine"
)

func init() {
	for name, c := range map[string]command{
		"status":   {"show every worker's replicas (or the named ones)", "[NAME...] [-o json|wide]", cmdStatus},
		"start":    {"start workers and wait until they run", "NAME...|all [--no-wait] [--timeout D]", verbCmd("start")},
		"stop":     {"stop workers and wait until they are stopped", "NAME...|all [--no-wait] [--timeout D]", verbCmd("stop")},
		"restart":  {"restart workers and wait until they run again", "NAME...|all [--rolling] [--no-wait] [--timeout D]", verbCmd("restart")},
		"scale":    {"set a worker's replica count and wait for it", "NAME N [--no-wait] [--timeout D]", cmdScale},
		"signal":   {"send a signal to a worker's running instances", "NAME SIG", cmdSignal},
		"logs":     {"print workers' recent output, or follow it", "[-f] [-n N] [--since D] [NAME...]", cmdLogs},
		"events":   {"print hsu's events, or follow them", "[-f] [-o json]", cmdEvents},
		"reload":   {"re-read the config file and apply what changed", "[--dry-run]", cmdReload},
		"shutdown": {"stop every worker and end hsu run", "[--no-wait] [--timeout D]", cmdShutdown},
		"reexec":   {"replace hsu run with the hsu binary on disk (an upgrade); the workers keep running", "[--no-wait] [--timeout D]", cmdReexec},
		"wait":     {"wait until workers reach a state (for scripts and CI)", "NAME... --for ready|running|stopped|exited [--timeout D]", cmdWait},
	} {
		commands[name] = c
	}
}

func cmdStatus(args []string, out, errOut io.Writer) int {
	fs := newFlags("status", errOut)
	var cf clientFlags
	cf.register(fs)
	format := fs.StringP("output", "o", "table", "table, wide or json")
	if code, done := parse(fs, args); done {
		return code
	}
	c := cf.client("status", errOut)
	ctx, cancel := withTimeout(10 * time.Second)
	defer cancel()
	names := fs.Args()
	if slices.Contains(names, "all") {
		names = nil
	}
	st, err := c.status(ctx, names)
	if err == nil {
		err = checkNames(st, names)
	}
	if err != nil {
		return c.fail(err)
	}
	switch *format {
	case "json":
		b, _ := json.MarshalIndent(st, "", "  ")
		fmt.Fprintf(out, "%s\n", b)
	case "table", "wide":
		printStatus(out, st, *format == "wide")
	default:
		fmt.Fprintf(errOut, "hsu status: -o %q: want table, wide or json\n", *format)
		return exitUsage
	}
	if len(names) > 0 {
		for _, w := range st.Workers {
			for _, r := range w.Slots {
				if r.State != "running" && r.State != "ready" {
					return exitNotRunning
				}
			}
			if len(w.Slots) == 0 {
				return exitNotRunning
			}
		}
	}
	return exitOK
}

// printStatus prints the status table. Its columns are fixed: a narrow
// terminal wraps lines rather than losing a column.
func printStatus(out io.Writer, st *api.StatusView, wide bool) {
	if len(st.Degraded) > 0 {
		fmt.Fprintf(out, "hsu is DEGRADED: %s\n", strings.Join(st.Degraded, "; "))
	}
	if st.ShuttingDown {
		fmt.Fprintln(out, "hsu is shutting down")
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	head := "NAME\tSTATE\tREADY\tPID\tUPTIME\tRESTARTS\tLAST EXIT\tCPU\tMEM"
	if wide {
		head += "\tREASON\tHEALTH\tNEXT RESTART\tLIMITS"
	}
	fmt.Fprintln(tw, head)
	for _, w := range st.Workers {
		for _, r := range w.Slots {
			name := w.Name
			if w.Replicas > 1 || len(w.Slots) > 1 {
				name += "-" + strconv.Itoa(r.Replica)
			}
			ready := "no"
			if r.Ready {
				ready = "yes"
			}
			pid, uptime := "-", "-"
			if r.PID > 0 {
				pid = strconv.Itoa(r.PID)
				uptime = shortDuration(time.Duration(r.Uptime * float64(time.Second)))
				if r.StartedAt != nil {
					uptime = shortDuration(time.Since(*r.StartedAt)) // the snapshot may be older
				}
			}
			restarts := strconv.Itoa(r.Restarts)
			if r.LastTrigger != "" {
				restarts += " (" + r.LastTrigger + ")"
			}
			exit := "-"
			if e := r.LastExit; e != nil {
				switch {
				case e.OOM:
					exit = "OOM"
				case e.Signal != "":
					exit = "SIG" + strings.TrimPrefix(e.Signal, "SIG")
				default:
					exit = "code " + strconv.Itoa(e.Code)
				}
				exit += ", " + shortDuration(time.Since(e.At)) + " ago"
			}
			cpu, mem := "-", "-"
			if u := r.Usage; u != nil {
				cpu = strconv.FormatFloat(u.CPUSeconds, 'f', 1, 64) + "s"
				mem = bytesIEC(u.Memory)
				for _, l := range r.Limits {
					if l.Resource == "memory" && l.Max > 0 {
						mem += "/" + bytesIEC(int64(l.Max))
					}
				}
				if r.Throttled {
					mem += " throttled"
				}
			}
			row := strings.Join([]string{name, r.State, ready, pid, uptime, restarts, exit, cpu, mem}, "\t")
			if wide {
				health := "-"
				var parts []string
				for _, p := range r.Probes {
					s := p.Probe + " ok"
					if !p.OK {
						s = p.Probe + " failing"
						if p.Error != "" {
							s += ": " + p.Error
						}
					}
					parts = append(parts, s)
				}
				if r.Status != "" {
					parts = append(parts, "status: "+r.Status)
				}
				if len(parts) > 0 {
					health = strings.Join(parts, "; ")
				}
				next := "-"
				if r.NextRestartAt != nil {
					next = "in " + shortDuration(time.Until(*r.NextRestartAt))
				}
				reason := r.Reason
				if reason == "" {
					reason = "-"
				}
				row += "\t" + reason + "\t" + health + "\t" + next + "\t" + limitsText(r)
			}
			fmt.Fprintln(tw, row)
		}
	}
	tw.Flush()
}

// limitsText shows each limit against the last sample, with how it is
// enforced and whether it is crossed, then where the sample was measured
// (one source per sample): "memory 60Mi/64Mi immediate_kill kernel over
// (cgroup2)". The source tells a kernel counter from a /proc estimate.
func limitsText(r api.ReplicaView) string {
	var parts []string
	for _, l := range r.Limits {
		v, m := strconv.FormatFloat(l.Value, 'f', -1, 64), strconv.FormatFloat(l.Max, 'f', -1, 64)
		switch l.Resource {
		case "memory":
			v, m = bytesIEC(int64(l.Value)), bytesIEC(int64(l.Max))
		case "io_read", "io_write":
			v, m = bytesIEC(int64(l.Value))+"/s", bytesIEC(int64(l.Max))+"/s"
		}
		s := l.Resource + " " + v
		if l.Max > 0 {
			s += "/" + m
		}
		s += " " + l.Policy + " " + l.Enforced
		switch {
		case l.Over:
			s += " over"
		case l.Warned:
			s += " warn"
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "-"
	}
	s := strings.Join(parts, "; ")
	if r.Usage != nil && r.Usage.Source != "" {
		s += " (" + r.Usage.Source + ")"
	}
	return s
}

func shortDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return strconv.Itoa(int(d.Hours()/24)) + "d"
}

func bytesIEC(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + "B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ci", float64(n)/float64(div), "KMGTPE"[exp])
}

// waitFlags are the flags of verbs that wait for their effect.
type waitFlags struct {
	noWait  bool
	timeout time.Duration
}

func (w *waitFlags) register(fs interface {
	BoolVar(*bool, string, bool, string)
	DurationVar(*time.Duration, string, time.Duration, string)
}) {
	fs.BoolVar(&w.noWait, "no-wait", false, "return once the command is accepted")
	fs.DurationVar(&w.timeout, "timeout", 60*time.Second, "how long to wait for the change (0: no limit)")
}

// verbCmd is start, stop and restart.
func verbCmd(verb string) func(args []string, out, errOut io.Writer) int {
	return func(args []string, out, errOut io.Writer) int {
		fs := newFlags(verb, errOut)
		var cf clientFlags
		cf.register(fs)
		var wf waitFlags
		wf.register(fs)
		rolling := false
		replica := 0
		if verb == "restart" {
			fs.BoolVar(&rolling, "rolling", false, "one replica at a time, each once the one before is ready again")
		}
		fs.IntVar(&replica, "replica", 0, "only this replica (default: every replica)")
		if code, done := parse(fs, args); done {
			return code
		}
		names := fs.Args()
		if len(names) == 0 {
			fmt.Fprintf(errOut, "hsu %s: name at least one worker, or all\n", verb)
			return exitUsage
		}
		c := cf.client(verb, errOut)
		ctx, cancel := withTimeout(wf.timeout)
		defer cancel()
		before, err := c.status(ctx, nil)
		if err == nil {
			err = checkNames(before, names)
		}
		if err != nil {
			return c.fail(err)
		}
		body := api.CommandRequest{Replica: replica, Rolling: rolling}
		if err := c.do(ctx, http.MethodPost, "/v1/workers/"+url.PathEscape(strings.Join(names, ","))+"/"+verb, body, nil); err != nil {
			return c.fail(err)
		}
		if wf.noWait {
			return exitOK
		}
		var cond func(api.WorkerView, api.ReplicaView) (bool, error)
		switch verb {
		case "start":
			cond = func(_ api.WorkerView, r api.ReplicaView) (bool, error) { return isUp(r) }
		case "stop":
			cond = func(_ api.WorkerView, r api.ReplicaView) (bool, error) { return isDown(r), nil }
		case "restart":
			gens := map[string]time.Time{}
			for _, w := range before.Workers {
				for _, r := range w.Slots {
					if r.StartedAt != nil {
						gens[w.Name+"/"+strconv.Itoa(r.Replica)] = *r.StartedAt
					}
				}
			}
			cond = func(w api.WorkerView, r api.ReplicaView) (bool, error) {
				old, had := gens[w.Name+"/"+strconv.Itoa(r.Replica)]
				if had && (r.StartedAt == nil || !r.StartedAt.After(old)) {
					return false, failedErr(r)
				}
				return isUp(r)
			}
		}
		return c.waitFor(ctx, expand(before, names), replica, cond, out)
	}
}

func expand(st *api.StatusView, names []string) []string {
	for _, n := range names {
		if n == "all" {
			out := make([]string, 0, len(st.Workers))
			for _, w := range st.Workers {
				out = append(out, w.Name)
			}
			return out
		}
	}
	return names
}

// isUp: running (or ready); an error once it failed or backs off.
func isUp(r api.ReplicaView) (bool, error) {
	switch r.State {
	case "running", "ready":
		return true, nil
	}
	return false, failedErr(r)
}

func failedErr(r api.ReplicaView) error {
	switch r.State {
	case "failed", "exited", "backoff":
		return fmt.Errorf("replica %d is %s: %s", r.Replica, r.State, r.Reason)
	}
	return nil
}

func isDown(r api.ReplicaView) bool {
	switch r.State {
	case "stopped", "exited", "failed":
		return true
	}
	return false
}

// waitFor polls the status until cond holds for every replica of names
// (only replica, when not 0), or a replica fails it, or ctx ends.
func (c *client) waitFor(ctx context.Context, names []string, replica int, cond func(api.WorkerView, api.ReplicaView) (bool, error), out io.Writer) int {
	var lastErr error // why the last look was not done yet, for the timeout
	return c.poll(ctx, func() error { return timeoutErr(lastErr) }, func() (bool, error) {
		st, err := c.status(ctx, names)
		if err != nil {
			return false, err
		}
		all := true
		lastErr = nil
		for _, w := range st.Workers {
			for _, r := range w.Slots {
				if replica != 0 && r.Replica != replica {
					continue
				}
				if r.Replica > w.Replicas {
					all = false // a surplus replica is still stopping
					continue
				}
				ok, err := cond(w, r)
				if !ok {
					all = false
					if err != nil {
						lastErr = fmt.Errorf("%s: %w", w.Name, err)
						if r.State == "failed" {
							return false, lastErr // it will not change by itself
						}
					}
				}
			}
		}
		return all, nil
	})
}

func timeoutErr(last error) error {
	if last != nil {
		return fmt.Errorf("timed out: %w", last)
	}
	return errors.New("timed out waiting for the change")
}

func cmdScale(args []string, out, errOut io.Writer) int {
	fs := newFlags("scale", errOut)
	var cf clientFlags
	cf.register(fs)
	var wf waitFlags
	wf.register(fs)
	if code, done := parse(fs, args); done {
		return code
	}
	if fs.NArg() != 2 {
		fmt.Fprintln(errOut, "hsu scale: want NAME N")
		return exitUsage
	}
	n, err := strconv.Atoi(fs.Arg(1))
	if err != nil || n < 0 {
		fmt.Fprintf(errOut, "hsu scale: %q is not a replica count\n", fs.Arg(1))
		return exitUsage
	}
	c := cf.client("scale", errOut)
	ctx, cancel := withTimeout(wf.timeout)
	defer cancel()
	name := fs.Arg(0)
	if err := c.do(ctx, http.MethodPost, "/v1/workers/"+url.PathEscape(name)+"/scale", api.CommandRequest{Replicas: &n}, nil); err != nil {
		return c.fail(err)
	}
	if wf.noWait {
		return exitOK
	}
	return c.poll(ctx, fixedErr("timed out waiting for the new replica count"), func() (bool, error) {
		st, err := c.status(ctx, []string{name})
		if err != nil {
			return false, err
		}
		// Done when there are N replicas and none is on its way somewhere:
		// the new ones run (a replica stopped by a command stays stopped).
		if len(st.Workers) != 1 || len(st.Workers[0].Slots) != n {
			return false, nil
		}
		for _, r := range st.Workers[0].Slots {
			switch r.State {
			case "running", "ready", "stopped", "exited":
			case "failed":
				return false, fmt.Errorf("%s: %w", name, failedErr(r))
			default:
				return false, nil
			}
		}
		return true, nil
	})
}

func cmdSignal(args []string, out, errOut io.Writer) int {
	fs := newFlags("signal", errOut)
	var cf clientFlags
	cf.register(fs)
	replica := fs.Int("replica", 0, "only this replica")
	if code, done := parse(fs, args); done {
		return code
	}
	if fs.NArg() != 2 {
		fmt.Fprintln(errOut, "hsu signal: want NAME SIG")
		return exitUsage
	}
	c := cf.client("signal", errOut)
	ctx, cancel := withTimeout(30 * time.Second)
	defer cancel()
	body := api.CommandRequest{Signal: fs.Arg(1), Replica: *replica}
	if err := c.do(ctx, http.MethodPost, "/v1/workers/"+url.PathEscape(fs.Arg(0))+"/signal", body, nil); err != nil {
		return c.fail(err)
	}
	return exitOK
}

func cmdLogs(args []string, out, errOut io.Writer) int {
	fs := newFlags("logs", errOut)
	var cf clientFlags
	cf.register(fs)
	follow := fs.BoolP("follow", "f", false, "keep printing new lines")
	n := fs.IntP("lines", "n", 100, "how many recent lines (0: none, with --since: all since)")
	since := fs.String("since", "", "only lines newer than this (10m, or an RFC 3339 time)")
	asJSON := fs.Bool("json", false, "print the lines as JSON")
	if code, done := parse(fs, args); done {
		return code
	}
	c := cf.client("logs", errOut)
	names := "all"
	if fs.NArg() > 0 {
		names = strings.Join(fs.Args(), ",")
	}
	q := url.Values{"n": {strconv.Itoa(*n)}}
	if *since != "" {
		q.Set("since", *since)
	}
	if *follow {
		q.Set("follow", "1")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, err := c.request(ctx, http.MethodGet, "/v1/workers/"+url.PathEscape(names)+"/logs?"+q.Encode(), nil, nil)
	if err != nil {
		return c.fail(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		var eb struct{ Error string }
		json.Unmarshal(b, &eb)
		return c.fail(&apiError{status: resp.StatusCode, msg: eb.Error})
	}
	width := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	bw := bufio.NewWriter(out)
	for sc.Scan() {
		if *asJSON {
			bw.Write(sc.Bytes())
			bw.WriteByte('\n')
		} else {
			var l api.LineView
			if json.Unmarshal(sc.Bytes(), &l) != nil {
				continue
			}
			label := l.Worker + "-" + strconv.Itoa(l.Replica)
			if l.Dropped > 0 {
				fmt.Fprintf(bw, "hsu: ... %d lines dropped here (this reader fell behind)\n", l.Dropped)
				continue
			}
			width = max(width, len(label))
			sep := "|"
			switch l.Stream {
			case "stderr":
				sep = "!"
			case "hsu":
				sep = "*"
			}
			fmt.Fprintf(bw, "%-*s %s %s\n", width, label, sep, l.Line)
		}
		if *follow {
			bw.Flush()
		}
	}
	bw.Flush()
	return exitOK
}

func cmdEvents(args []string, out, errOut io.Writer) int {
	fs := newFlags("events", errOut)
	var cf clientFlags
	cf.register(fs)
	follow := fs.BoolP("follow", "f", false, "keep printing new events")
	format := fs.StringP("output", "o", "text", "text or json")
	if code, done := parse(fs, args); done {
		return code
	}
	c := cf.client("events", errOut)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, err := c.request(ctx, http.MethodGet, "/v1/events?from=0", nil, nil)
	if err != nil {
		return c.fail(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c.fail(&apiError{status: resp.StatusCode, msg: resp.Status})
	}
	// Without -f: what the feed holds now, read until the stream goes
	// quiet (the server sends what it has at once).
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	idle := time.NewTimer(300 * time.Millisecond)
	for {
		var line string
		var ok bool
		if *follow {
			line, ok = <-lines
		} else {
			select {
			case line, ok = <-lines:
				if !idle.Stop() {
					<-idle.C
				}
				idle.Reset(300 * time.Millisecond)
			case <-idle.C:
				return exitOK
			}
		}
		if !ok {
			return exitOK
		}
		data, isData := strings.CutPrefix(line, "data: ")
		if !isData {
			continue
		}
		if *format == "json" {
			fmt.Fprintln(out, data)
			continue
		}
		fmt.Fprintln(out, eventLine(data))
	}
}

// eventLine prints an event for people.
func eventLine(data string) string {
	var ev struct {
		api.EventView
		Reason string `json:"reason"`
	}
	if json.Unmarshal([]byte(data), &ev) != nil {
		return data
	}
	t := ev.Time.Local().Format("15:04:05")
	who := ev.Worker
	if ev.Replica > 0 {
		who += "-" + strconv.Itoa(ev.Replica)
	}
	switch ev.Kind {
	case "transition":
		return fmt.Sprintf("%s %s %s -> %s (%s)", t, who, ev.From, ev.To, ev.Reason)
	case "restart":
		return fmt.Sprintf("%s %s restart (%s)", t, who, ev.Trigger)
	case "command":
		s := fmt.Sprintf("%s command %s", t, ev.Verb)
		if who != "" {
			s += " " + who
		}
		return s + " by " + ev.Who + ": " + ev.Result
	case "probe_failed":
		return fmt.Sprintf("%s %s %s probe failed: %s", t, who, ev.Trigger, ev.Error)
	case "reset":
		return t + " reset: " + ev.Reason
	}
	s := t + " " + ev.Kind
	if who != "" {
		s += " " + who
	}
	if ev.Reason != "" {
		s += ": " + ev.Reason
	}
	return s
}

func cmdReload(args []string, out, errOut io.Writer) int {
	fs := newFlags("reload", errOut)
	var cf clientFlags
	cf.register(fs)
	dry := fs.Bool("dry-run", false, "only show what would change")
	if code, done := parse(fs, args); done {
		return code
	}
	c := cf.client("reload", errOut)
	ctx, cancel := withTimeout(60 * time.Second)
	defer cancel()
	path := "/v1/reload"
	if *dry {
		path += "?dry_run=1"
	}
	var diff engine.Diff
	if err := c.do(ctx, http.MethodPost, path, nil, &diff); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.code == "invalid_config" {
			fmt.Fprintln(errOut, ae.msg)
			fmt.Fprintln(errOut, "hsu reload: the config has errors; the running config is kept")
			return exitFailure
		}
		return c.fail(err)
	}
	if *dry {
		fmt.Fprintln(out, "dry run: nothing was changed")
	}
	for _, g := range []struct {
		label string
		names []string
	}{{"added", diff.Added}, {"removed", diff.Removed}, {"restarted", diff.Restarted}, {"scaled", diff.Scaled}, {"unchanged", diff.Unchanged}} {
		list := "-"
		if len(g.names) > 0 {
			list = strings.Join(g.names, " ")
		}
		fmt.Fprintf(out, "%-10s %s\n", g.label+":", list)
	}
	return exitOK
}

func cmdShutdown(args []string, out, errOut io.Writer) int {
	fs := newFlags("shutdown", errOut)
	var cf clientFlags
	cf.register(fs)
	var wf waitFlags
	wf.register(fs)
	if code, done := parse(fs, args); done {
		return code
	}
	c := cf.client("shutdown", errOut)
	ctx, cancel := withTimeout(wf.timeout)
	defer cancel()
	if err := c.do(ctx, http.MethodPost, "/v1/shutdown", nil, nil); err != nil {
		return c.fail(err)
	}
	if wf.noWait {
		return exitOK
	}
	// Done when nothing answers any more: hsu run has exited.
	return c.poll(ctx, fixedErr("timed out waiting for hsu to stop"), func() (bool, error) {
		_, err := c.status(ctx, nil)
		var ns *errNoServer
		if errors.As(err, &ns) {
			return true, nil
		}
		return false, nil
	})
}

func cmdReexec(args []string, out, errOut io.Writer) int {
	fs := newFlags("reexec", errOut)
	var cf clientFlags
	cf.register(fs)
	var wf waitFlags
	wf.register(fs)
	if code, done := parse(fs, args); done {
		return code
	}
	c := cf.client("reexec", errOut)
	ctx, cancel := withTimeout(wf.timeout)
	defer cancel()
	before, err := c.status(ctx, nil)
	if err != nil {
		return c.fail(err)
	}
	if err := c.do(ctx, http.MethodPost, "/v1/reexec", nil, nil); err != nil {
		return c.fail(err)
	}
	if wf.noWait {
		return exitOK
	}
	// Done when the new process answers: the same PID, started later.
	var after *api.StatusView
	code := c.poll(ctx, fixedErr("timed out waiting for the new hsu to answer"), func() (bool, error) {
		st, err := c.status(ctx, nil)
		if err != nil {
			return false, nil // between the two processes nobody answers
		}
		if st.HsuStarted != nil && (before.HsuStarted == nil || st.HsuStarted.After(*before.HsuStarted)) {
			after = st
			return true, nil
		}
		return false, nil
	})
	if code == exitOK {
		fmt.Fprintf(out, "hsu re-executed: version %s -> %s (pid %d)\n", before.HsuVersion, after.HsuVersion, after.HsuPID)
	}
	return code
}

func fixedErr(msg string) func() error { return func() error { return errors.New(msg) } }

// poll calls step every pollEvery until it is done or fails, or ctx
// ends (then the error is timeout's).
func (c *client) poll(ctx context.Context, timeout func() error, step func() (bool, error)) int {
	for {
		done, err := step()
		if errors.Is(err, context.DeadlineExceeded) || err == nil && ctx.Err() != nil && !done {
			return c.fail(timeout())
		}
		if err != nil {
			return c.fail(err)
		}
		if done {
			return exitOK
		}
		select {
		case <-ctx.Done():
			return c.fail(timeout())
		case <-time.After(pollEvery):
		}
	}
}

func cmdWait(args []string, out, errOut io.Writer) int {
	fs := newFlags("wait", errOut)
	var cf clientFlags
	cf.register(fs)
	forState := fs.String("for", "ready", "ready, running, stopped or exited")
	timeout := fs.Duration("timeout", 0, "give up after this long (0: no limit)")
	if code, done := parse(fs, args); done {
		return code
	}
	names := fs.Args()
	if len(names) == 0 {
		fmt.Fprintln(errOut, "hsu wait: name at least one worker")
		return exitUsage
	}
	var cond func(api.WorkerView, api.ReplicaView) (bool, error)
	switch *forState {
	case "ready":
		// Ready is what the status says: readiness probe passed, or,
		// without one, running past start_seconds.
		cond = func(_ api.WorkerView, r api.ReplicaView) (bool, error) {
			return r.Ready, failedErr(r)
		}
	case "running":
		cond = func(_ api.WorkerView, r api.ReplicaView) (bool, error) { return isUp(r) }
	case "stopped":
		cond = func(_ api.WorkerView, r api.ReplicaView) (bool, error) { return isDown(r), nil }
	case "exited":
		cond = func(_ api.WorkerView, r api.ReplicaView) (bool, error) {
			return r.State == "exited" || r.State == "failed", nil
		}
	default:
		fmt.Fprintf(errOut, "hsu wait: --for %q: want ready, running, stopped or exited\n", *forState)
		return exitUsage
	}
	c := cf.client("wait", errOut)
	ctx, cancel := withTimeout(*timeout)
	defer cancel()
	// A server that is still starting is waited for too (scripts start
	// hsu run in the background and wait at once).
	st, err := c.status(ctx, nil)
	for ns := (*errNoServer)(nil); errors.As(err, &ns) && ctx.Err() == nil; {
		select {
		case <-ctx.Done():
		case <-time.After(pollEvery):
		}
		if st, err = c.status(ctx, nil); errors.Is(err, context.DeadlineExceeded) {
			err = ns
		}
	}
	if err == nil {
		err = checkNames(st, names)
	}
	if err != nil {
		return c.fail(err)
	}
	// A backoff on the way to ready is not the end: only waiting for
	// ready or running ends at failed; backoff is waited through.
	inner := cond
	cond = func(w api.WorkerView, r api.ReplicaView) (bool, error) {
		ok, err := inner(w, r)
		if err != nil && r.State == "backoff" {
			err = nil
		}
		return ok, err
	}
	return c.waitFor(ctx, expand(st, names), 0, cond, out)
}

// pollEvery is how often a waiting verb re-reads the status (a cached
// encoding on the server: cheap).
const pollEvery = 10 * time.Millisecond
