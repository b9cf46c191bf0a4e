package unix

import "testing"

func TestFieldInt(t *testing.T) {
	stat := []byte(" S 1 100 100 0 -1 4194560 91 0 0 0 17 4 0 0 20 0 3 0 12345 1000 200\n")
	tests := []struct {
		i    int
		want int64
	}{{1, 1}, {2, 100}, {11, 17}, {12, 4}, {17, 3}, {99, 0}}
	for _, tt := range tests {
		if got := fieldInt(stat, tt.i); got != tt.want {
			t.Errorf("fieldInt(%d) = %d, want %d", tt.i, got, tt.want)
		}
	}
	if got := fieldInt([]byte("2048 512 100 1 0 300 0\n"), 1); got != 512 {
		t.Errorf("statm rss = %d", got)
	}
}
