//go:build !linux

package sdnotify

import (
	"errors"
	"time"
)

var errNotSystemd = errors.New("sdnotify: not under systemd")

// A Notifier would send to systemd's notification socket; off Linux there
// is none. A nil *Notifier (all FromEnv returns) does nothing and returns
// nil.
type Notifier struct{}

// FromEnv returns nil: off Linux, hsu is not under systemd.
func FromEnv() *Notifier { return nil }

// Send does nothing for a nil Notifier and reports "not under systemd"
// for any other.
func (n *Notifier) Send(lines ...string) error {
	if n == nil || len(lines) == 0 {
		return nil
	}
	return errNotSystemd
}

// Close does nothing.
func (n *Notifier) Close() error { return nil }

// WatchdogInterval reports no watchdog: off Linux, hsu is not under
// systemd.
func WatchdogInterval() (every time.Duration, ok bool) { return 0, false }

func monotonicUsec() (uint64, error) { return 0, errNotSystemd }
