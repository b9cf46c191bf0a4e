package unix

import (
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/engine"
)

// TestMarkerFindsInstanceWithoutCgroup: without a cgroup, an instance's
// processes carry its marker in their environment, so hsu finds them by
// handle alone: a grandchild that left the process group (setsid) is
// listed among the strays and killed by a kill by handle, as after an
// hsu crash that lost the leader's PID.
func TestMarkerFindsInstanceWithoutCgroup(t *testing.T) {
	dir := t.TempDir()
	u, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cg := u.cg; cg != nil {
		t.Cleanup(cg.removeSubtree)
	}
	u.cg = nil // process groups only, as without a writable cgroup
	t.Cleanup(func() { u.Close() })
	spec := &config.Worker{Name: "w", Shell: "setsid sleep 30 & exec sleep 30", Workdir: dir}
	h := engine.Handle{Worker: "w", Replica: 1, Gen: 7}
	exited := make(chan ExitStatus, 1)
	p, err := u.Spawn(h, spec, os.Environ(), nil, nullSink{}, func(st ExitStatus) { exited <- st })
	if err != nil {
		t.Fatal(err)
	}
	u.Release(h, p)
	var pids []int
	waitCond(t, 10*time.Second, func() bool { pids = u.marked()[h]; return len(pids) == 2 })
	t.Cleanup(func() {
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if !slices.Contains(pids, p.PID) {
		t.Fatalf("marked %v, want the leader %d among them", pids, p.PID)
	}
	// Found, with its leader (the one process leading its own group
	// whose parent is not of the instance: the setsid grandchild's parent
	// is the leader).
	if got := u.Strays(); !slices.Contains(got, Stray{H: h, Leader: p}) {
		t.Fatalf("strays %v, want %s led by %d", got, instKey(h), p.PID)
	}
	if err := u.Kill(h, Proc{}); err != nil { // by handle: no PID known
		t.Fatal(err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil && !zombie(pid) {
			t.Errorf("pid %d of %s survived the kill by handle", pid, instKey(h))
		}
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the leader's exit was not reported")
	}
	if got := u.marked()[h]; len(got) > 0 {
		t.Errorf("still marked after the kill: %v", got)
	}
}

// zombie: pid is dead, but not reaped yet (or gone altogether).
func zombie(pid int) bool {
	f := statFields(itoa(pid))
	return len(f) == 0 || f[0] == "Z"
}
