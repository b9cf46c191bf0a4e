package unix

import (
	"github.com/hsu-run/hsu/osadapters/exechelper"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/engine"
)

// The test binary is its own exec helper (wrapExec runs /proc/self/exe).
func TestMain(m *testing.M) {
	exechelper.Run()
	os.Exit(m.Run())
}

// TestHeldSpawnWithoutCgroup: without a cgroup a spawned instance waits in
// the exec helper until Release; if hsu gives up on it (as when hsu dies:
// the release pipe closes) it exits without ever running the program.
func TestHeldSpawnWithoutCgroup(t *testing.T) {
	tests := []struct {
		name    string
		release bool
	}{
		{"released after the PID is written", true},
		{"hsu gone before the write", false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			u, err := New(dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { u.Close() }) // its FIFO dir, in /dev/shm
			if cg := u.cg; cg != nil {
				t.Cleanup(cg.removeSubtree) // New made the state dir's cgroups
			}
			u.cg = nil // process groups only, as without a writable cgroup
			marker := filepath.Join(dir, "ran")
			spec := &config.Worker{Name: "w", Shell: "echo ran > " + marker + "; exec sleep 30", Workdir: dir}
			h := engine.Handle{Worker: "w", Replica: 1, Gen: uint64(i + 1)}
			exited := make(chan ExitStatus, 1)
			p, err := u.Spawn(h, spec, os.Environ(), nil, nullSink{}, func(st ExitStatus) { exited <- st })
			if err != nil {
				t.Fatal(err)
			}
			defer u.Kill(h, p)
			// Held: still the helper, not yet the program.
			if cmd, _ := os.ReadFile("/proc/" + itoa(p.PID) + "/cmdline"); !strings.Contains(string(cmd), exechelper.Arg) {
				t.Fatalf("pid %d runs %q before its release, want the exec helper", p.PID, cmd)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("the program ran before its release")
			}
			if tt.release {
				u.Release(h, p)
				waitCond(t, 10*time.Second, func() bool { _, err := os.Stat(marker); return err == nil })
				return
			}
			u.mu.Lock()
			u.holds[h].Close() // what hsu's death does to the pipe
			delete(u.holds, h)
			u.mu.Unlock()
			select {
			case st := <-exited:
				if st.Code != 127 {
					t.Errorf("held helper exited with %+v, want code 127", st)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the held helper did not exit when its release pipe closed")
			}
			if _, err := os.Stat(marker); err == nil {
				t.Error("the program ran although hsu never released it")
			}
		})
	}
}

type nullSink struct{}

func (nullSink) Writer(string, int, string) io.WriteCloser { return nopCloser{} }

type nopCloser struct{}

func (nopCloser) Write(p []byte) (int, error) { return len(p), nil }
func (nopCloser) Close() error                { return nil }

func itoa(i int) string { return strconv.Itoa(i) }

// waitCond polls cond until it holds or the deadline passes.
func waitCond(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
