//go:build !linux

package testscripts

import (
	"os"
	"runtime"
	"testing"
)

// TestRun is the real-OS suite; it runs on Linux only.
func TestRun(t *testing.T) {
	t.Skipf("the real-OS suite runs on Linux; this is %s", runtime.GOOS)
}

// cgexecMain is the program cgexec of the Linux suite.
func cgexecMain() int { os.Exit(2); return 2 }
