//go:build linux

package testscripts

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"go.yaml.in/yaml/v3"
)

// TestConformance runs each scenario of testdata/conformance in both
// worlds: simulated by hsu-sim, and for real by hsu with hsu-testworker
// acting out the same behaviours. sameseq then requires every replica to
// have gone through the same sequence of states, for the same kinds of
// reasons, in both.
//
// The set-up is TestRun's (realOSParams).
func TestConformance(t *testing.T) {
	testscript.Run(t, realOSParams(t, "testdata/conformance", map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"sameseq":   cmdSameSeq,
		"attime":    cmdAtTime,
		"sigpid":    cmdSigPID,
		"reloadcfg": cmdReloadCfg,
	}))
}

// memoryCgroup reports whether hsu can put an instance in a memory cgroup
// (the kernel enforces a hard limit only there): a writable cgroup2 tree
// with the memory controller, or the memory hierarchy of cgroup v1 on a
// hybrid system.
func memoryCgroup() bool {
	if os.Geteuid() != 0 || !cgroup2Writable() {
		return false
	}
	for _, base := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		if b, err := os.ReadFile(filepath.Join(base, "cgroup.controllers")); err == nil && slices.Contains(strings.Fields(string(b)), "memory") {
			return true
		}
	}
	var st syscall.Statfs_t
	return syscall.Statfs("/sys/fs/cgroup/memory", &st) == nil && st.Type == 0x27e0eb && // CGROUP_SUPER_MAGIC
		syscall.Access("/sys/fs/cgroup/memory", 2) == nil
}

// step is one entry of a replica's sequence: a state change and the kind
// of its reason, or one of the notices worth comparing.
type step string

var (
	// hsu-sim's timeline: "  12.345s  api-1          running -> backoff  exited with code 1; ..."
	simLine = regexp.MustCompile(`^\s*[0-9.]+s\s+(\S+-[0-9]+)\s+(.*)$`)
	// hsu run's log: time=... level=INFO msg="api-1 running -> backoff" reason="exited with code 1; ..."
	realMsg    = regexp.MustCompile(`\bmsg=("(?:[^"\\]|\\.)*"|\S+)`)
	realReason = regexp.MustCompile(`\breason=("(?:[^"\\]|\\.)*"|\S+)`)
	transition = regexp.MustCompile(`^(\w+) -> (\w+)$`)
	replicaMsg = regexp.MustCompile(`^(\S+-[0-9]+) (.*)$`)
	// Notices that are part of a replica's story in both worlds.
	comparedNotices = []string{"stop timeout: killed"}
)

var reasonRules = []struct {
	re  *regexp.Regexp
	out string
}{
	{regexp.MustCompile(`^exited with code (\d+)$`), "exit $1"},
	{regexp.MustCompile(`^killed by SIG(\w+)$`), "signal $1"},
	{regexp.MustCompile(`^OOMKilled$`), "OOM"},
	// Limit reasons carry the measured value, the threshold and where the
	// value came from ("(cgroup2+proc)" for real, nothing in hsu-sim):
	// only the resource and the policy are compared.
	{regexp.MustCompile(`^killed by hsu \([^)]*\): (\w+) \S+ reached max \S+ \(policy (\w+)\)$`), "killed by hsu: $1 max ($2)"},
	{regexp.MustCompile(`^(\w+) \S+ reached max \S+(?: \([^)]*\))?: policy (\w+)$`), "$1 max ($2)"},
	{regexp.MustCompile(`^(\w+) \S+ crossed warn \S+(?: \([^)]*\))?$`), "$1 warn"},
}

// limitNotice matches the reason kinds of the notices a sampled limit
// gives while the instance keeps running (a warn crossed, a max reached
// under policy log or alert): they are part of the replica's story, so
// both worlds must give them, once each, in the same place.
var limitNotice = regexp.MustCompile(`^\w+ (warn|max \((log|alert)\))$`)

var (
	backoffReason = regexp.MustCompile(`^(.*); restart (\d+) \((\w+)\) in \S+$`)
	budgetReason  = regexp.MustCompile(`^(.*); restart budget spent: (\d+) (\w+) restarts within \S+$`)
)

// reasonKind reduces a reason to what both worlds must agree on: the exit
// code, signal, OOM or trigger, the restart number, the command; not the
// measured values or the (jittered) back-off delay.
func reasonKind(r string) string {
	failed := ""
	if s, ok := strings.CutSuffix(r, " before start_seconds (failed start)"); ok {
		r, failed = s, " (failed start)"
	}
	if m := backoffReason.FindStringSubmatch(r); m != nil {
		return reasonKind(m[1]) + "; restart " + m[2] + " (" + m[3] + ")"
	}
	if m := budgetReason.FindStringSubmatch(r); m != nil {
		return reasonKind(m[1]) + "; gave up after " + m[2] + " " + m[3] + " restarts"
	}
	for _, rule := range reasonRules {
		if rule.re.MatchString(r) {
			return rule.re.ReplaceAllString(r, rule.out) + failed
		}
	}
	return r + failed
}

// newStep makes the step of a timeline or log entry about a replica
// (rest is "from -> to" with its reason, or a notice), or "" for one not
// compared.
func newStep(rest, reason string) step {
	if m := transition.FindStringSubmatch(rest); m != nil {
		if m[1] == "stopped" && m[2] == "pending" && reasonKind(reason) == "defined" {
			return "" // hsu run logs it at debug level only
		}
		return step(m[1] + " -> " + m[2] + ": " + reasonKind(reason))
	}
	if slices.Contains(comparedNotices, rest) {
		return step("(" + rest + ")")
	}
	if k := reasonKind(rest); limitNotice.MatchString(k) {
		return step("(" + k + ")")
	}
	return ""
}

// simSteps reads hsu-sim's timeline: replica -> its steps.
func simSteps(text string) map[string][]step {
	out := map[string][]step{}
	for _, l := range strings.Split(text, "\n") {
		m := simLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		rest, reason, _ := strings.Cut(m[2], "  ")
		if s := newStep(rest, reason); s != "" {
			out[m[1]] = append(out[m[1]], s)
		}
	}
	return out
}

// realSteps reads hsu run's log (slog text lines): replica -> its steps.
// Lines of the workers' own output (NAME-i | ...) have no msg= and are
// left out.
func realSteps(text string) map[string][]step {
	out := map[string][]step{}
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(l, "time=") {
			continue
		}
		mm := realMsg.FindStringSubmatch(l)
		if mm == nil {
			continue
		}
		msg := unquote(mm[1])
		m := replicaMsg.FindStringSubmatch(msg)
		if m == nil {
			continue
		}
		reason := ""
		if rm := realReason.FindStringSubmatch(l); rm != nil {
			reason = unquote(rm[1])
		}
		if s := newStep(m[2], reason); s != "" {
			out[m[1]] = append(out[m[1]], s)
		}
	}
	return out
}

func unquote(v string) string {
	if s, err := strconv.Unquote(v); err == nil {
		return s
	}
	return v
}

// cmdSameSeq: sameseq SIM_TIMELINE REAL_LOG — every replica went through
// the same sequence of (state change, reason kind) in hsu-sim's timeline
// and in the real hsu's log. Replicas are compared one by one, since how
// independent replicas interleave depends on timing. On a difference both
// sequences are printed side by side.
func cmdSameSeq(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: sameseq SIM_TIMELINE REAL_LOG")
	}
	sim, real := simSteps(ts.ReadFile(args[0])), realSteps(ts.ReadFile(args[1]))
	if len(sim) == 0 {
		ts.Fatalf("sameseq: no replica transitions in %s", args[0])
	}
	names := slices.Sorted(maps.Keys(sim))
	for name := range real {
		if _, ok := sim[name]; !ok {
			names = append(names, name)
		}
	}
	var diffs []string
	steps := 0
	for _, name := range names {
		if slices.Equal(sim[name], real[name]) {
			steps += len(sim[name])
			continue
		}
		diffs = append(diffs, sideBySide(name, sim[name], real[name]))
	}
	if len(diffs) > 0 != neg {
		if neg {
			ts.Fatalf("sameseq: both worlds agree on every replica")
		}
		ts.Fatalf("sameseq: %d of %d replicas differ\n%s", len(diffs), len(names), strings.Join(diffs, "\n"))
	}
	ts.Logf("sameseq: %d replicas, %d identical steps", len(names), steps)
}

// sideBySide prints a replica's two sequences in columns, marking each
// row where they differ with '*'.
func sideBySide(name string, sim, real []step) string {
	w := len("hsu-sim")
	for _, s := range sim {
		w = max(w, len(s))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d steps simulated, %d for real\n", name, len(sim), len(real))
	fmt.Fprintf(&b, "     # %-*s | %s\n", w, "hsu-sim", "hsu run")
	for i := range max(len(sim), len(real)) {
		var a, r step
		if i < len(sim) {
			a = sim[i]
		}
		if i < len(real) {
			r = real[i]
		}
		mark := " "
		if a != r {
			mark = "*"
		}
		fmt.Fprintf(&b, "  %s %2d %-*s | %s\n", mark, i+1, w, a, r)
	}
	return b.String()
}

// cmdAtTime: attime LOG DURATION — sleep until DURATION has passed since
// the time of LOG's first line (hsu's start, in hsu run's log; it waits
// for that line to be written), so a
// scenario's `at:` maps to the same moment of the real run. It fails
// when that moment had passed by more than 300ms: the real run would no
// longer act at the time the scenario says.
func cmdAtTime(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: attime LOG DURATION")
	}
	d, err := time.ParseDuration(args[1])
	if err != nil {
		ts.Fatalf("attime: bad duration %q", args[1])
	}
	var first string
	for until := time.Now().Add(15 * time.Second); ; {
		b, _ := os.ReadFile(ts.MkAbs(args[0]))
		if l, _, ok := strings.Cut(string(b), "\n"); ok {
			first = l
			break
		}
		if time.Now().After(until) {
			ts.Fatalf("attime: no line in %s after 15s", args[0])
		}
		time.Sleep(10 * time.Millisecond) // polling a file hsu is about to write
	}
	v, _, _ := strings.Cut(strings.TrimPrefix(first, "time="), " ")
	t0, err := time.Parse(time.RFC3339Nano, v)
	if !strings.HasPrefix(first, "time=") || err != nil {
		ts.Fatalf("attime: %s does not start with a time= line: %q", args[0], first)
	}
	wait := time.Until(t0.Add(d))
	if wait < -300*time.Millisecond {
		ts.Fatalf("attime: %s is already %s past", args[1], -wait.Round(time.Millisecond))
	}
	time.Sleep(wait) // the scenario's time line, not synchronisation
}

// cmdSigPID: sigpid PIDFILE TERM|INT|KILL — signal the process whose pid
// PIDFILE holds, as a kill fault of a scenario does.
func cmdSigPID(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: sigpid PIDFILE TERM|INT|KILL")
	}
	sig := map[string]syscall.Signal{"TERM": syscall.SIGTERM, "INT": syscall.SIGINT, "KILL": syscall.SIGKILL}[args[1]]
	if sig == 0 {
		ts.Fatalf("sigpid: unknown signal %s", args[1])
	}
	pid, err := strconv.Atoi(strings.TrimSpace(ts.ReadFile(args[0])))
	if err != nil {
		ts.Fatalf("sigpid: %v", err)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		ts.Fatalf("sigpid: %v", err)
	}
}

// cmdReloadCfg: reloadcfg SCENARIO N FILE — write the config of the
// scenario's fault N (counted from 0 in its faults list, a reload: fault)
// to FILE, so the real run reloads exactly what the simulated one does.
func cmdReloadCfg(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: reloadcfg SCENARIO N FILE")
	}
	n, err := strconv.Atoi(args[1])
	if err != nil {
		ts.Fatalf("reloadcfg: bad fault number %q", args[1])
	}
	var sc struct {
		Faults []struct {
			Reload yaml.Node `yaml:"reload"`
		} `yaml:"faults"`
	}
	if err := yaml.Unmarshal([]byte(ts.ReadFile(args[0])), &sc); err != nil {
		ts.Fatalf("reloadcfg: %v", err)
	}
	if n < 0 || n >= len(sc.Faults) || sc.Faults[n].Reload.Kind == 0 {
		ts.Fatalf("reloadcfg: fault %d of %s is not a reload", n, args[0])
	}
	out, err := yaml.Marshal(&sc.Faults[n].Reload)
	if err != nil {
		ts.Fatalf("reloadcfg: %v", err)
	}
	if err := os.WriteFile(ts.MkAbs(args[2]), out, 0o644); err != nil {
		ts.Fatalf("reloadcfg: %v", err)
	}
}
