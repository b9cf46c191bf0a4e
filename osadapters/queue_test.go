package osadapters

import (
	"testing"

	"github.com/hsu-run/hsu/engine"
)

// TestQueueKeepsRecurringBuffers: the inbox keeps the buffer a recurring
// batch fills (a tick's samples) and drops a burst's.
func TestQueueKeepsRecurringBuffers(t *testing.T) {
	tests := []struct {
		name    string
		batches []int // events posted, then drained, in turn
		kept    bool  // the buffer survives the last drain
	}{
		{"small batches", []int{10, 20}, true},
		{"a recurring tick of 1000", []int{1000, 1000}, true},
		{"a burst, then little", []int{1000, 3}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newQueue()
			var buf []engine.Event
			for _, n := range tt.batches {
				q.postAll(make([]engine.Event, n))
				if buf, _ = q.drain(buf); len(buf) != n {
					t.Fatalf("drained %d events, want %d", len(buf), n)
				}
			}
			if kept := q.items != nil; kept != tt.kept {
				t.Fatalf("buffer kept: %v, want %v (cap %d)", kept, tt.kept, cap(q.items))
			}
		})
	}
}
