package osadapters

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadyReaderAcrossBoundaries(t *testing.T) {
	tests := []struct {
		in    string
		fires bool
	}{
		{"starting\nlistening on :80\n", true},
		{"nothing here\n", false},
		{"listen", false},
		{strings.Repeat("x", 10000) + "listening on" + strings.Repeat("y", 10), true},
	}
	for _, tt := range tests {
		fired := 0
		rr := &readyReader{r: iotest.OneByteReader(strings.NewReader(tt.in)), needle: []byte("listening on"), fire: func() { fired++ }}
		out, err := io.ReadAll(rr)
		if err != nil || string(out) != tt.in {
			t.Fatalf("%q: output changed or error %v", tt.in, err)
		}
		if (fired == 1) != tt.fires || fired > 1 {
			t.Errorf("%q: fired %d times, want fires=%v", tt.in, fired, tt.fires)
		}
	}
}
