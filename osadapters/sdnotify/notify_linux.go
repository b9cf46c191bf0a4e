package sdnotify

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

var errNewline = errors.New("sdnotify: a line holds a line break")

// A Notifier sends datagrams to systemd's notification socket. It is safe
// for concurrent use. A nil *Notifier means hsu is not under systemd:
// every method does nothing and returns nil.
type Notifier struct {
	addr string // a path, or "@name" for an abstract socket
	err  error  // why addr is unusable, reported by every Send

	mu     sync.Mutex
	fd     int // -1 until the first Send
	closed bool
}

// FromEnv returns the Notifier of $NOTIFY_SOCKET, or nil when it is unset
// or empty. An address that is neither an absolute path nor "@name"
// (vsock: is not supported) gives a Notifier whose Send reports why. The
// socket is opened by the first Send, then kept.
func FromEnv() *Notifier {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	n := &Notifier{addr: addr, fd: -1}
	switch {
	case addr[0] != '/' && addr[0] != '@':
		n.err = fmt.Errorf("sdnotify: NOTIFY_SOCKET=%q is neither an absolute path nor @name", addr)
	case len(addr) >= len(unix.RawSockaddrUnix{}.Path):
		n.err = fmt.Errorf("sdnotify: NOTIFY_SOCKET=%q is too long for a unix socket", addr)
	}
	return n
}

// Send sends lines (assignments such as "READY=1") as one datagram, each
// line ending in a line break. It never waits for the socket: when
// systemd's queue is full, it returns EAGAIN.
func (n *Notifier) Send(lines ...string) error {
	if n == nil || len(lines) == 0 {
		return nil
	}
	if n.err != nil {
		return n.err
	}
	var b strings.Builder
	for _, l := range lines {
		if strings.Contains(l, "\n") {
			return errNewline
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return errors.New("sdnotify: notifier closed")
	}
	if n.fd < 0 {
		// Not connected: each datagram goes to the address, so a socket
		// systemd recreated (daemon-reexec) is found again.
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("sdnotify: socket: %w", err)
		}
		n.fd = fd
	}
	sa := &unix.SockaddrUnix{Name: n.addr} // a leading @ makes it abstract
	for {
		err := unix.Sendto(n.fd, []byte(b.String()), unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, sa)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("sdnotify: send to %s: %w", n.addr, err)
		}
		return nil
	}
}

// Close closes the socket; later Sends fail.
func (n *Notifier) Close() error {
	if n == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = true
	if n.fd < 0 {
		return nil
	}
	fd := n.fd
	n.fd = -1
	return unix.Close(fd)
}

// WatchdogInterval returns how often to ping the watchdog: half of
// $WATCHDOG_USEC, when it is set and $WATCHDOG_PID is unset or hsu's own
// PID. ok is false when there is no watchdog for hsu.
func WatchdogInterval() (every time.Duration, ok bool) {
	return parseWatchdog(os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID"), os.Getpid())
}

// monotonicUsec is CLOCK_MONOTONIC now, in microseconds.
func monotonicUsec() (uint64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, fmt.Errorf("sdnotify: clock_gettime: %w", err)
	}
	return uint64(ts.Sec)*1e6 + uint64(ts.Nsec)/1e3, nil
}
