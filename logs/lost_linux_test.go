package logs

import (
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestFullDiskLinesCounted: a log file that cannot be written (/dev/full:
// ENOSPC on every write) counts each lost line in Dropped and reports the
// failure once, not once per line.
func TestFullDiskLinesCounted(t *testing.T) {
	var mu sync.Mutex
	var errs []string
	h := NewHub(io.Discard, HubOptions{OnError: func(err error) {
		mu.Lock()
		errs = append(errs, err.Error())
		mu.Unlock()
	}})
	defer h.Close()
	if err := h.Configure("w", logsCfg("/dev/full")); err != nil {
		t.Fatal(err)
	}
	h.Copy("w", 1, StreamStdout, strings.NewReader("one\ntwo\nthree\n"))
	h.Copy("w", 1, StreamStdout, strings.NewReader("four\nfive\n"))
	if !h.Sync(10 * time.Second) {
		t.Fatal("queue not written")
	}
	if n := h.Dropped(); n != 5 {
		t.Errorf("Dropped() = %d, want 5 lost lines", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 1 || !strings.Contains(errs[0], "no space left") {
		t.Errorf("errors reported: %q, want one ENOSPC", errs)
	}
}
