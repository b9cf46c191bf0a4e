package sdnotify

import (
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestScrubEnv(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want []string
	}{
		{"nil", nil, nil},
		{"none to remove", []string{"PATH=/bin", "HOME=/root"}, []string{"PATH=/bin", "HOME=/root"}},
		{"every variable", []string{
			"PATH=/bin", "NOTIFY_SOCKET=/run/systemd/notify", "HOME=/root", "WATCHDOG_USEC=30000000",
			"WATCHDOG_PID=1", "LISTEN_PID=1", "LISTEN_FDS=2", "LISTEN_FDNAMES=http:https", "TERM=xterm",
		}, []string{"PATH=/bin", "HOME=/root", "TERM=xterm"}},
		{"first and last", []string{"NOTIFY_SOCKET=@x", "A=1", "LISTEN_FDS=1"}, []string{"A=1"}},
		{"only ours", []string{"NOTIFY_SOCKET=@x", "WATCHDOG_PID=1"}, []string{}},
		{"empty value and no =", []string{"NOTIFY_SOCKET=", "WATCHDOG_USEC", "A=1"}, []string{"A=1"}},
		{"look-alikes are kept", []string{
			"NOTIFY_SOCKETS=1", "XNOTIFY_SOCKET=1", "notify_socket=1", "LISTEN_FDS_EXTRA=1", "A=NOTIFY_SOCKET=x", "=NOTIFY_SOCKET",
		}, []string{
			"NOTIFY_SOCKETS=1", "XNOTIFY_SOCKET=1", "notify_socket=1", "LISTEN_FDS_EXTRA=1", "A=NOTIFY_SOCKET=x", "=NOTIFY_SOCKET",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.env)
			got := ScrubEnv(in)
			if !slices.Equal(got, tt.want) {
				t.Errorf("ScrubEnv(%q) = %q, want %q", tt.env, got, tt.want)
			}
			if !slices.Equal(in, tt.env) {
				t.Errorf("ScrubEnv modified its input: %q, was %q", in, tt.env)
			}
		})
	}
}

func TestUnset(t *testing.T) {
	for _, v := range vars {
		t.Setenv(v, "1")
	}
	t.Setenv("PATH_KEPT", "1")
	Unset()
	for _, v := range vars {
		if val, ok := os.LookupEnv(v); ok {
			t.Errorf("%s=%s after Unset", v, val)
		}
	}
	if os.Getenv("PATH_KEPT") != "1" {
		t.Errorf("Unset removed PATH_KEPT")
	}
}

func TestParseWatchdog(t *testing.T) {
	const self = 4242
	tests := []struct {
		usec, pid string
		want      time.Duration
		ok        bool
	}{
		{"30000000", "", 15 * time.Second, true},
		{"30000000", strconv.Itoa(self), 15 * time.Second, true},
		{"30000000", strconv.Itoa(self + 1), 0, false}, // another process's watchdog
		{"30000000", "x", 0, false},
		{"1", "", 500 * time.Nanosecond, true},
		{"", "", 0, false},
		{"", strconv.Itoa(self), 0, false},
		{"0", "", 0, false},
		{"-5", "", 0, false},
		{"30s", "", 0, false},
		{"18446744073709551615", "", 0, false}, // overflows a Duration
	}
	for _, tt := range tests {
		got, ok := parseWatchdog(tt.usec, tt.pid, self)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseWatchdog(%q, %q) = %v, %v; want %v, %v", tt.usec, tt.pid, got, ok, tt.want, tt.ok)
		}
	}
}

func TestNilNotifier(t *testing.T) {
	var n *Notifier
	for name, err := range map[string]error{
		"Send":      n.Send("A=1"),
		"Ready":     n.Ready(),
		"Status":    n.Status("x"),
		"Stopping":  n.Stopping(),
		"Reloading": n.Reloading(time.Now()),
		"Watchdog":  n.Watchdog(),
		"Close":     n.Close(),
	} {
		if err != nil {
			t.Errorf("nil Notifier: %s: %v", name, err)
		}
	}
	done := make(chan struct{})
	go func() {
		n.RunWatchdog(t.Context(), time.Millisecond, func() uint64 { return 0 }, func() {})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunWatchdog of a nil Notifier did not return")
	}
}
