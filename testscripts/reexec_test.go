//go:build linux

package testscripts

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/rogpeppe/go-internal/testscript"
)

var (
	hsuBuildsMu sync.Mutex
	hsuBuilds   = map[string]string{} // version -> binary, built once per test run
)

// cmdBuildHsu: buildhsu OUT VERSION — build cmd/hsu with that version
// string (-ldflags -X) and put it at OUT by a rename, as a package
// manager replaces a binary that is running.
func cmdBuildHsu(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: buildhsu OUT VERSION")
	}
	hsuBuildsMu.Lock()
	bin, ok := hsuBuilds[args[1]]
	if !ok {
		dir, err := os.MkdirTemp("", "hsu-build-")
		ts.Check(err)
		bin = filepath.Join(dir, "hsu")
		out, err := exec.Command("go", "build", "-o", bin, "-ldflags", "-X github.com/hsu-run/hsu/internal/cli.Version="+args[1], "../cmd/hsu").CombinedOutput()
		if err != nil {
			hsuBuildsMu.Unlock()
			ts.Fatalf("build hsu %s: %v\n%s", args[1], err, out)
		}
		hsuBuilds[args[1]] = bin
	}
	hsuBuildsMu.Unlock()
	b, err := os.ReadFile(bin)
	ts.Check(err)
	dst := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(filepath.Dir(dst), 0o755))
	tmp := dst + ".new"
	ts.Check(os.WriteFile(tmp, b, 0o755))
	ts.Check(os.Rename(tmp, dst))
}

// cmdWorkerPIDs: workerpids WORKER FILE — write the instance leaders of
// WORKER (its live processes, as procs counts them, that lead their
// process group: not a shell's passing children), sorted, one a line,
// to FILE.
func cmdWorkerPIDs(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: workerpids WORKER FILE")
	}
	var pids []int
	for _, pid := range workerPIDs(ts.Getenv("WORK"), args[0]) {
		if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
			pids = append(pids, pid)
		}
	}
	if len(pids) == 0 {
		ts.Fatalf("workerpids: no process of %s", args[0])
	}
	slices.Sort(pids)
	var b strings.Builder
	for _, p := range pids {
		fmt.Fprintln(&b, p)
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(b.String()), 0o644))
}

// cmdConsecutive: consecutive FILE PREFIX — the lines "PREFIX N" of FILE
// count up by one from their first, none lost and none twice.
func cmdConsecutive(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: consecutive FILE PREFIX")
	}
	re := regexp.MustCompile("^" + regexp.QuoteMeta(args[1]) + " ([0-9]+)$")
	want, n := -1, 0
	for i, l := range strings.Split(ts.ReadFile(args[0]), "\n") {
		m := re.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		got, _ := strconv.Atoi(m[1])
		if want >= 0 && got != want {
			ts.Fatalf("consecutive: %s line %d is %q, want %s %d", args[0], i+1, l, args[1], want)
		}
		want, n = got+1, n+1
	}
	if n == 0 {
		ts.Fatalf("consecutive: no line %q in %s", args[1]+" N", args[0])
	}
	ts.Logf("%d consecutive lines", n)
}
