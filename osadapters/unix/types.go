//go:build linux || darwin

// Package unix is hsu's system for Linux and macOS: every managed instance
// is its own process group (and, on Linux, its own cgroup), its output
// goes through FIFOs that survive an hsu crash, and exits are held as
// zombies until the rest of the instance is gone. osadapters.World drives
// it for the shared driver; it never decides anything, only does.
package unix

import (
	"github.com/hsu-run/hsu/driver"
	"github.com/hsu-run/hsu/engine"
)

// The driver's types, which this system fills in.
type (
	ExitStatus = driver.ExitStatus
	Proc       = driver.Proc
	LogSink    = driver.LogSink
	Stray      = driver.Stray
)

func instKey(h engine.Handle) string    { return driver.InstKey(h) }
func replicaKey(h engine.Handle) string { return driver.ReplicaKey(h) }
