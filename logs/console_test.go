package logs

import (
	"strings"
	"testing"
	"time"
)

// gateWriter blocks every Write until the gate opens (a paused terminal).
type gateWriter struct {
	gate chan struct{}
	syncBuffer
}

func (g *gateWriter) Write(p []byte) (int, error) {
	<-g.gate
	return g.syncBuffer.Write(p)
}

func TestAsyncConsole(t *testing.T) {
	tests := []struct {
		name      string
		limit     int
		lines     int
		wantLines int // console lines of the workers that come out
		wantDrop  string
	}{
		{"fits: nothing lost", 1 << 20, 1000, 1000, ""},
		{"over the queue: dropped and counted", 4096, 1000, 0, "console lines dropped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			con := &gateWriter{gate: make(chan struct{})}
			h := NewHub(con, HubOptions{AsyncConsole: tt.limit, Now: func() time.Time { return time.Unix(0, 0) }})
			var in strings.Builder
			for i := range tt.lines {
				in.WriteString("line " + strings.Repeat("x", i%50) + "\n")
			}
			// Routing completes although the console reads nothing.
			done := make(chan error, 1)
			go func() { done <- h.Copy("api", 1, StreamStdout, strings.NewReader(in.String())) }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("a console that does not read blocked routing")
			}
			if got := len(h.Tail([]string{"api"}, 0)); got != min(tt.lines, DefaultBuffer) {
				t.Errorf("ring has %d lines, want %d: the ring must not depend on the console", got, min(tt.lines, DefaultBuffer))
			}
			close(con.gate)
			h.Close()
			out := con.String()
			if got := strings.Count(out, "api-1 | line"); tt.wantLines > 0 && got != tt.wantLines {
				t.Errorf("console got %d lines, want %d", got, tt.wantLines)
			}
			if tt.wantDrop != "" && !strings.Contains(out, tt.wantDrop) {
				t.Errorf("console does not say lines were dropped:\n%s", lastLines(out, 3))
			}
			if tt.wantDrop == "" && strings.Contains(out, "dropped") {
				t.Errorf("console reports drops although the queue was large enough")
			}
		})
	}
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(len(l)-n, 0):], "\n")
}
