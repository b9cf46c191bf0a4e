//go:build !linux

package testscripts

import (
	"runtime"
	"testing"
)

// TestRun is the real-OS suite; it runs on Linux only.
func TestRun(t *testing.T) {
	t.Skipf("the real-OS suite runs on Linux; this is %s", runtime.GOOS)
}
