//go:build linux

package trim

import (
	"bytes"
	"os"
	"strconv"
	"testing"
)

func TestReadOnlyMapping(t *testing.T) {
	const exe = "/usr/bin/hsu"
	tests := []struct {
		line       string
		start, end uint64
		ok         bool
	}{
		{"00400000-00a00000 r-xp 00000000 fe:00 123 /usr/bin/hsu", 0x400000, 0xa00000, true},
		{"00a00000-01000000 r--p 00600000 fe:00 123 /usr/bin/hsu", 0xa00000, 0x1000000, true},
		// Data: its written pages are the program's state.
		{"01000000-01100000 rw-p 00c00000 fe:00 123 /usr/bin/hsu", 0, 0, false},
		{"01000000-01100000 r--s 00c00000 fe:00 123 /usr/bin/hsu", 0, 0, false},
		{"7f0000000000-7f0000100000 r-xp 00000000 fe:00 9 /usr/lib/libc.so", 0, 0, false},
		{"7f0000000000-7f0000100000 rw-p 00000000 00:00 0", 0, 0, false},
		{"7f0000000000-7f0000100000 r-xp 00000000 00:00 0 [vdso]", 0, 0, false},
		{"garbage", 0, 0, false},
	}
	for _, tt := range tests {
		start, end, ok := readOnlyMapping([]byte(tt.line), exe)
		if ok != tt.ok || start != tt.start || end != tt.end {
			t.Errorf("%q: %x-%x %v, want %x-%x %v", tt.line, start, end, ok, tt.start, tt.end, tt.ok)
		}
	}
}

var written = []int{1, 2, 3} // data the program changed: must survive

// TestExecutable: the test binary's read-only pages leave its resident
// set, its data does not change, and it runs on.
func TestExecutable(t *testing.T) {
	written[1] = 42
	before := pssFile(t)
	n, err := Executable()
	if err != nil {
		t.Fatal(err)
	}
	after := pssFile(t)
	if n == 0 {
		t.Fatalf("no mapping of the executable advised")
	}
	if after >= before {
		t.Errorf("file-backed PSS %d kB before, %d kB after: nothing given back", before, after)
	}
	if written[0] != 1 || written[1] != 42 || written[2] != 3 {
		t.Fatalf("data changed by the trim: %v", written)
	}
	if got := strconv.Itoa(12345); got != "12345" { // code paged in again
		t.Fatalf("strconv after trim: %q", got)
	}
	t.Logf("advised %d bytes of mappings; file-backed PSS %d -> %d kB", n, before, after)
}

func pssFile(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		t.Skipf("no smaps_rollup: %v", err)
	}
	i := bytes.Index(b, []byte("Pss_File:"))
	if i < 0 {
		t.Skip("no Pss_File in smaps_rollup (kernel < 5.0?)")
	}
	f := bytes.Fields(b[i+len("Pss_File:"):])
	n, _ := strconv.ParseInt(string(f[0]), 10, 64)
	return n
}
