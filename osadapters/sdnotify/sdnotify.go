// Package sdnotify speaks systemd's service notification protocol
// (sd_notify(3)) for hsu itself: READY=1, STATUS=, STOPPING=1,
// RELOADING=1 and watchdog pings, as datagrams to $NOTIFY_SOCKET. It
// also owns the variables systemd hands to hsu (NOTIFY_SOCKET, WATCHDOG_*,
// LISTEN_*), and keeps them from the workers: they describe hsu's unit,
// and a worker that pinged or signalled readiness with them would speak
// for hsu.
//
// It never logs, never blocks on the socket (a full socket queue is an
// error, returned), and never decides when hsu is ready or alive: the
// caller does, and the watchdog pings only when the caller's progress
// counter moved. Off Linux there is no systemd: FromEnv returns nil.
package sdnotify

import (
	"context"
	"os"
	"strconv"
	"strings"
	"time"
)

// vars are the variables systemd sets for hsu's own unit.
var vars = []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"}

// ScrubEnv returns env without systemd's variables for hsu's own unit
// (NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID, LISTEN_PID, LISTEN_FDS,
// LISTEN_FDNAMES). env itself is never modified; when it holds none of
// them, it is returned as is.
func ScrubEnv(env []string) []string {
	keep := func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		for _, v := range vars {
			if k == v {
				return false
			}
		}
		return true
	}
	for i, kv := range env {
		if keep(kv) {
			continue
		}
		out := append(make([]string, 0, len(env)-1), env[:i]...)
		for _, kv := range env[i+1:] {
			if keep(kv) {
				out = append(out, kv)
			}
		}
		return out
	}
	return env
}

// Unset removes the variables ScrubEnv removes from hsu's own
// environment, so that no child inherits them, whichever code path
// starts it. Call it after FromEnv and WatchdogInterval have read them.
func Unset() {
	for _, v := range vars {
		os.Unsetenv(v)
	}
}

// parseWatchdog is WatchdogInterval on the values of WATCHDOG_USEC and
// WATCHDOG_PID, for the process self.
func parseWatchdog(usec, pid string, self int) (time.Duration, bool) {
	u, err := strconv.ParseUint(usec, 10, 64)
	if err != nil || u == 0 || u > uint64(1<<63-1)/uint64(time.Microsecond) {
		return 0, false
	}
	if pid != "" {
		if p, err := strconv.Atoi(pid); err != nil || p != self {
			return 0, false // the watchdog is some other process's
		}
	}
	return time.Duration(u) * time.Microsecond / 2, true
}

// Ready tells systemd that hsu has started (READY=1).
func (n *Notifier) Ready() error { return n.Send("READY=1") }

// Status sets the one-line status systemctl status shows (STATUS=s).
// Line breaks in s become spaces: a line break would end the assignment.
func (n *Notifier) Status(s string) error {
	return n.Send("STATUS=" + oneLine.Replace(s))
}

var oneLine = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")

// Stopping tells systemd that hsu is stopping its workers (STOPPING=1).
func (n *Notifier) Stopping() error { return n.Send("STOPPING=1") }

// Reloading tells systemd that hsu began reloading its config at now
// (normally time.Now()): RELOADING=1 and MONOTONIC_USEC, the
// CLOCK_MONOTONIC reading at now in microseconds. A now in the future
// counts as the present. Send READY=1 when the reload is done.
func (n *Notifier) Reloading(now time.Time) error {
	if n == nil {
		return nil
	}
	ago := time.Since(now) // first, so that usec-ago is never before now
	usec, err := monotonicUsec()
	if err != nil {
		return err
	}
	if ago > 0 && uint64(ago/time.Microsecond) < usec {
		usec -= uint64(ago / time.Microsecond)
	}
	return n.Send("RELOADING=1", "MONOTONIC_USEC="+strconv.FormatUint(usec, 10))
}

// Watchdog pings systemd's watchdog (WATCHDOG=1).
func (n *Notifier) Watchdog() error { return n.Send("WATCHDOG=1") }

// RunWatchdog pings the watchdog, every `every` (WatchdogInterval), for
// as long as the caller's loop is alive, until ctx ends. It wakes the
// loop at once, so that the first ping comes one tick in; at each tick it
// first sends WATCHDOG=1 if progress() moved since the last ping, then
// calls wake() to ask the loop for a batch, whose run must move
// progress() before the next tick. A stuck loop is thus never pinged and
// systemd restarts hsu; an idle one is woken and pinged. wake must not
// block (a non-blocking send on a channel of one, say). Send errors are
// dropped: a missed ping is what systemd acts on. It returns at once for
// a nil Notifier or an every <= 0.
func (n *Notifier) RunWatchdog(ctx context.Context, every time.Duration, progress func() uint64, wake func()) {
	if n == nil || every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	n.runWatchdog(ctx, t.C, progress, wake)
}

// runWatchdog is RunWatchdog on the ticks of ticks (a test drives them by
// hand).
func (n *Notifier) runWatchdog(ctx context.Context, ticks <-chan time.Time, progress func() uint64, wake func()) {
	last := progress()
	wake()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		}
		if p := progress(); p != last {
			last = p
			n.Watchdog()
		}
		wake()
	}
}
