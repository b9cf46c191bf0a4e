package statefile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hsu-run/hsu/engine"
)

// tinyFS mounts a tmpfs of size bytes for the test, or skips.
func tinyFS(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// fill takes every free byte of dir's filesystem.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

func withInstances(n int) *stateFile {
	st := stateWith(uint64(n + 1))
	for i := range n {
		st.Saved.Instances = append(st.Saved.Instances, engine.Recovered{H: engine.Handle{Worker: "worker", Replica: i + 1, Gen: uint64(i + 1)}, PID: 100000 + i, State: engine.Running})
	}
	return st
}

// TestReservedRoom: the slots are preallocated, so once the disk is
// full the state still rewrites in place; growing it for a scale-up
// that the disk has no room for fails up front, and the writes within
// the reserved room still work.
func TestReservedRoom(t *testing.T) {
	dir := tinyFS(t, "512k")
	s := Open(dir)
	if err := s.write(withInstances(10)); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		fi, err := os.Stat(s.slotPath(i))
		if err != nil || fi.Size() < minReserve {
			t.Fatalf("slot %d: %v, size %d; want at least %d bytes reserved", i, err, fi.Size(), minReserve)
		}
	}
	fill(t, dir)
	for range 3 { // both slots, rewritten
		if err := s.write(withInstances(12)); err != nil {
			t.Fatalf("write within the reserved room on a full disk: %v", err)
		}
	}
	if err := s.Reserve(5000); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Reserve(5000) on a full disk: %v, want ENOSPC", err)
	}
	if err := s.write(withInstances(12)); err != nil {
		t.Fatalf("write after a refused reservation: %v", err)
	}
	st, _, err := s.read()
	if err != nil || st == nil || len(st.Saved.Instances) != 12 {
		t.Fatalf("read back %v, %v; want 12 instances", st, err)
	}
	os.Remove(filepath.Join(dir, "filler"))
	if err := s.Reserve(200); err != nil {
		t.Fatalf("Reserve(200) with room: %v", err)
	}
}
