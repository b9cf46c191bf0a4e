//go:build darwin

package unix

import "os"

// drain routes both FIFOs of an instance into logs, a goroutine each.
func (u *Unix) drain(h instHandle, logs LogSink, files ...*os.File) (done chan struct{}, stop func()) {
	return drainGoroutines(h, logs, files...)
}

// onExit: fallback waits for the exit itself (in a goroutine).
func (*Unix) onExit(_ int, _, fallback func()) { go fallback() }

// onGone: fallback waits for the exit itself; the status is unknown.
func (*Unix) onGone(_ Proc, _ func() bool, _ func(*ExitStatus), fallback func()) { go fallback() }

// ioLoops: macOS has none (kqueue waits live in wait_darwin.go).
type ioLoops struct{}
