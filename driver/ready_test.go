package driver

import (
	"strings"
	"testing"
)

type recordWriter struct{ strings.Builder }

func (*recordWriter) Close() error { return nil }

func TestReadyWriterAcrossBoundaries(t *testing.T) {
	tests := []struct {
		in    string
		chunk int
		fires bool
	}{
		{"starting\nlistening on :80\n", 1, true},
		{"starting\nlistening on :80\n", 5, true},
		{"starting\nlistening on :80\n", 1000, true},
		{"nothing here\n", 1, false},
		{"listen", 1, false},
		{"listen", 3, false},
		{strings.Repeat("x", 10000) + "listening on" + strings.Repeat("y", 10), 7, true},
		{strings.Repeat("x", 10000) + "listening on" + strings.Repeat("y", 10), 4096, true},
	}
	for _, tt := range tests {
		fired := 0
		rec := &recordWriter{}
		rw := &readyWriter{WriteCloser: rec, needle: []byte("listening on"), fire: func() { fired++ }}
		for in := tt.in; in != ""; {
			n := min(tt.chunk, len(in))
			if _, err := rw.Write([]byte(in[:n])); err != nil {
				t.Fatal(err)
			}
			in = in[n:]
		}
		if rec.String() != tt.in {
			t.Fatalf("%q: output changed", tt.in)
		}
		if (fired == 1) != tt.fires || fired > 1 {
			t.Errorf("%q by %d: fired %d times, want fires=%v", tt.in, tt.chunk, fired, tt.fires)
		}
	}
}
