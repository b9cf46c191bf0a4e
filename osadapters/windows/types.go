//go:build windows

// Package windows is hsu's system for Windows: a Job Object per managed
// instance (kill-on-close, memory, process and CPU-rate limits),
// CTRL_BREAK for graceful stops, pipes for output. osadapters.World
// drives it for the shared driver; it never decides anything, only does.
package windows

import (
	"github.com/hsu-run/hsu/driver"
	"github.com/hsu-run/hsu/engine"
)

// The driver's types, which this system fills in.
type (
	ExitStatus = driver.ExitStatus
	Proc       = driver.Proc
	LogSink    = driver.LogSink
)

func instKey(h engine.Handle) string    { return driver.InstKey(h) }
func replicaKey(h engine.Handle) string { return driver.ReplicaKey(h) }
