package sdnotify

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// listen binds a unixgram socket at addr (a path or "@name") and makes it
// $NOTIFY_SOCKET.
func listen(t *testing.T, addr string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", addr)
	return c
}

// notifier is FromEnv, closed at the end of the test.
func notifier(t *testing.T) *Notifier {
	t.Helper()
	n := FromEnv()
	if n == nil {
		t.Fatalf("FromEnv() = nil with NOTIFY_SOCKET=%q", os.Getenv("NOTIFY_SOCKET"))
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// recv returns the next datagram, waiting at most 5s.
func recv(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no datagram: %v", err)
	}
	return string(buf[:n])
}

// expectNone fails if a datagram is queued. Sends are synchronous (the
// datagram is queued when sendto returns), so this needs no waiting.
func expectNone(t *testing.T, c *net.UnixConn) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	var n int
	var rerr error
	if err := rc.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if rerr == nil {
		t.Fatalf("unexpected datagram %q", buf[:n])
	}
	if !errors.Is(rerr, unix.EAGAIN) {
		t.Fatalf("recv: %v", rerr)
	}
}

func addrs(t *testing.T) map[string]string {
	return map[string]string{
		"path":     filepath.Join(t.TempDir(), "notify"),
		"abstract": "@hsu-test-" + rand.Text(),
	}
}

func TestHelpers(t *testing.T) {
	for kind, addr := range addrs(t) {
		t.Run(kind, func(t *testing.T) {
			c := listen(t, addr)
			n := notifier(t)
			for _, tt := range []struct {
				name string
				send func() error
				want string
			}{
				{"Ready", n.Ready, "READY=1\n"},
				{"Status", func() error { return n.Status("running: 3 of 4 workers") }, "STATUS=running: 3 of 4 workers\n"},
				{"Status one line", func() error { return n.Status("a\nb\r\nc") }, "STATUS=a b c\n"},
				{"Stopping", n.Stopping, "STOPPING=1\n"},
				{"Watchdog", n.Watchdog, "WATCHDOG=1\n"},
				{"Send", func() error { return n.Send("A=1", "B=2") }, "A=1\nB=2\n"},
				{"Send after Send", func() error { return n.Send("EXTEND_TIMEOUT_USEC=5000000") }, "EXTEND_TIMEOUT_USEC=5000000\n"},
			} {
				if err := tt.send(); err != nil {
					t.Fatalf("%s: %v", tt.name, err)
				}
				if got := recv(t, c); got != tt.want {
					t.Errorf("%s sent %q, want %q", tt.name, got, tt.want)
				}
			}
			if err := n.Send(); err != nil {
				t.Errorf("Send(): %v", err)
			}
			if err := n.Send("A=1\nB=2"); !errors.Is(err, errNewline) {
				t.Errorf("Send of a line with a line break: %v, want errNewline", err)
			}
			expectNone(t, c)
		})
	}
}

func TestReloading(t *testing.T) {
	c := listen(t, filepath.Join(t.TempDir(), "notify"))
	n := notifier(t)
	for _, ago := range []time.Duration{0, time.Second, -time.Hour} {
		before, _ := monotonicUsec()
		now := time.Now()
		if err := n.Reloading(now.Add(-ago)); err != nil {
			t.Fatal(err)
		}
		after, _ := monotonicUsec()
		got := recv(t, c)
		var usec uint64
		if _, err := fmt.Sscanf(got, "RELOADING=1\nMONOTONIC_USEC=%d\n", &usec); err != nil || got != "RELOADING=1\nMONOTONIC_USEC="+strconv.FormatUint(usec, 10)+"\n" {
			t.Fatalf("Reloading sent %q", got)
		}
		shift := uint64(max(ago, 0) / time.Microsecond) // a future now counts as the present
		if lo, hi := before-shift-1, after-shift+1; usec < lo || usec > hi {
			t.Errorf("Reloading(now-%v): MONOTONIC_USEC=%d, want within [%d, %d]", ago, usec, lo, hi)
		}
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if n := FromEnv(); n != nil {
		t.Errorf("FromEnv() with NOTIFY_SOCKET empty = %v, want nil", n)
	}
	os.Unsetenv("NOTIFY_SOCKET")
	if n := FromEnv(); n != nil {
		t.Errorf("FromEnv() with NOTIFY_SOCKET unset = %v, want nil", n)
	}
	for _, bad := range []string{"run/notify", "vsock:2:1234", "/" + strings.Repeat("x", 200)} {
		t.Setenv("NOTIFY_SOCKET", bad)
		if err := notifier(t).Ready(); err == nil {
			t.Errorf("Ready with NOTIFY_SOCKET=%q: no error", bad)
		}
	}
}

func TestSendErrors(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("NOTIFY_SOCKET", filepath.Join(dir, "nobody"))
	if err := notifier(t).Ready(); !errors.Is(err, unix.ENOENT) {
		t.Errorf("Ready to a missing socket: %v, want ENOENT", err)
	}

	c := listen(t, filepath.Join(dir, "notify"))
	n := notifier(t)
	n.Close()
	if err := n.Ready(); err == nil {
		t.Errorf("Ready after Close: no error")
	}
	expectNone(t, c)
}

// A receiver that stops reading fills its queue; Send then fails at once
// instead of blocking hsu.
func TestSendNeverBlocks(t *testing.T) {
	listen(t, filepath.Join(t.TempDir(), "notify"))
	n := notifier(t)
	errc := make(chan error, 1)
	go func() {
		for range 100000 {
			if err := n.Watchdog(); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, unix.EAGAIN) {
			t.Errorf("Send to a full queue: %v, want EAGAIN", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Send blocked on a full queue")
	}
}

func TestWatchdogInterval(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "30000000")
	t.Setenv("WATCHDOG_PID", "")
	if every, ok := WatchdogInterval(); !ok || every != 15*time.Second {
		t.Errorf("WatchdogInterval() = %v, %v; want 15s, true", every, ok)
	}
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	if every, ok := WatchdogInterval(); !ok || every != 15*time.Second {
		t.Errorf("WatchdogInterval() for our pid = %v, %v; want 15s, true", every, ok)
	}
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()+1))
	if every, ok := WatchdogInterval(); ok {
		t.Errorf("WatchdogInterval() for another pid = %v, true; want false", every)
	}
	os.Unsetenv("WATCHDOG_PID")
	os.Unsetenv("WATCHDOG_USEC")
	if every, ok := WatchdogInterval(); ok {
		t.Errorf("WatchdogInterval() unset = %v, true; want false", every)
	}
}

// The watchdog pings while each wake moves progress, and stops pinging
// once the loop is stuck; ticks are driven by hand.
func TestRunWatchdogStuckLoop(t *testing.T) {
	c := listen(t, "@hsu-test-"+rand.Text())
	n := notifier(t)
	ticks := make(chan time.Time)
	wakes := make(chan struct{}, 1)
	var progress atomic.Uint64
	var healthy atomic.Bool // the loop runs the batch a wake asks for
	healthy.Store(true)
	wake := func() {
		if healthy.Load() {
			progress.Add(1)
		}
		wakes <- struct{}{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		n.runWatchdog(ctx, ticks, progress.Load, wake)
		close(done)
	}()
	woken := func() {
		t.Helper()
		select {
		case <-wakes:
		case <-time.After(5 * time.Second):
			t.Fatal("no wake")
		}
	}
	// tick returns once the tick is handled: wake comes after any ping.
	tick := func() {
		t.Helper()
		select {
		case ticks <- time.Now():
		case <-time.After(5 * time.Second):
			t.Fatal("watchdog took no tick")
		}
		woken()
	}

	woken() // at once, so that the first ping comes one tick in
	expectNone(t, c)
	for range 3 {
		tick()
		if got := recv(t, c); got != "WATCHDOG=1\n" {
			t.Fatalf("got %q, want WATCHDOG=1", got)
		}
		expectNone(t, c)
	}

	healthy.Store(false)
	tick() // the batch of the last wake ran: one more ping
	if got := recv(t, c); got != "WATCHDOG=1\n" {
		t.Fatalf("got %q, want WATCHDOG=1", got)
	}
	for range 5 {
		tick()
		expectNone(t, c) // stuck: no ping, so systemd restarts hsu
	}

	progress.Add(1) // moving again
	tick()
	if got := recv(t, c); got != "WATCHDOG=1\n" {
		t.Fatalf("got %q, want WATCHDOG=1", got)
	}
	expectNone(t, c)

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("runWatchdog did not return when ctx ended")
	}
}

// RunWatchdog on a real ticker: a loop that moves on every wake is pinged.
func TestRunWatchdog(t *testing.T) {
	c := listen(t, filepath.Join(t.TempDir(), "notify"))
	n := notifier(t)
	var progress atomic.Uint64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		n.RunWatchdog(ctx, 20*time.Millisecond, progress.Load, func() { progress.Add(1) })
		close(done)
	}()
	for range 2 {
		if got := recv(t, c); got != "WATCHDOG=1\n" {
			t.Fatalf("got %q, want WATCHDOG=1", got)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunWatchdog did not return when ctx ended")
	}

	ret := make(chan struct{})
	go func() {
		n.RunWatchdog(context.Background(), 0, progress.Load, func() {})
		close(ret)
	}()
	select {
	case <-ret:
	case <-time.After(5 * time.Second):
		t.Fatal("RunWatchdog with every 0 did not return")
	}
}
