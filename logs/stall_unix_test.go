//go:build linux || darwin

package logs

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStalledFileBlocksNobody: a log file that takes no more bytes (here
// a FIFO nobody reads, as a file on a stalled disk) holds up neither its
// own worker's writer nor any other worker's output, and every line
// reaches it once it drains.
func TestStalledFileBlocksNobody(t *testing.T) {
	f := newFixture(t, HubOptions{})
	stalled := filepath.Join(f.dir, "stalled.log")
	if err := syscall.Mkfifo(stalled, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenFile(stalled, os.O_RDONLY|syscall.O_NONBLOCK, 0) // a reader that reads only at the end
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := f.h.Configure("slow", logsCfg(stalled)); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(f.dir, "good.log")
	if err := f.h.Configure("fast", logsCfg(good)); err != nil {
		t.Fatal(err)
	}
	line := strings.Repeat("x", 1000) + "\n"
	done := make(chan struct{})
	go func() {
		defer close(done)
		w := f.h.Writer("slow", 1, StreamStdout)
		for range 200 { // 200 kB: three times what the FIFO holds
			io.WriteString(w, line)
		}
		w.Close()
		io.WriteString(f.h.Writer("fast", 1, StreamStdout), "still flowing\n")
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("writing to a stalled log file blocked the output")
	}
	if got := readFileNow(t, good); !slices.Equal(got, []string{"still flowing"}) {
		t.Errorf("good.log = %q", got)
	}
	// The reader drains the FIFO: every line arrives.
	syscall.SetNonblock(int(r.Fd()), false)
	got := make(chan int, 1)
	go func() {
		b, _ := io.ReadAll(r)
		got <- strings.Count(string(b), "\n")
	}()
	if !f.h.Sync(10 * time.Second) {
		t.Fatal("the queue did not empty once the file drained")
	}
	f.h.Remove("slow") // closes the FIFO's write end: the reader sees EOF
	if n := <-got; n != 200 {
		t.Errorf("%d lines reached the file, want 200", n)
	}
}

// readFileNow reads a log file that the fast sink has written (after
// syncing only its hub's other files would wait for the stalled one).
func readFileNow(t *testing.T, path string) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if len(b) > 0 || time.Now().After(deadline) {
			return splitFile(b)
		}
		time.Sleep(10 * time.Millisecond) // its writer goroutine: a condition with a deadline
	}
}
