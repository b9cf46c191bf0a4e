package osadapters

import (
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/hsu-run/hsu/engine"
)

func TestParseNotify(t *testing.T) {
	tests := []struct {
		in   string
		want engine.Notification
		ok   bool
	}{
		{"READY=1\n", engine.Notification{Ready: true}, true},
		{"READY=1\nSTATUS=serving 3 clients\nMAINPID=1", engine.Notification{Ready: true, Status: "serving 3 clients", HasStatus: true}, true},
		{"WATCHDOG=1", engine.Notification{Watchdog: true}, true},
		{"STATUS=", engine.Notification{HasStatus: true}, true},
		{"MAINPID=4242\nREADY=0", engine.Notification{}, false},
		{"", engine.Notification{}, false},
	}
	for _, tt := range tests {
		got, ok := parseNotify([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseNotify(%q) = %+v %v, want %+v %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestNotifySocketChecksSender: datagrams from the instance's group are
// posted; one from any other process is dropped.
func TestNotifySocketChecksSender(t *testing.T) {
	w := &World{log: discardLogger(), inbox: newQueue()}
	ns, err := openNotify(engine.Handle{Worker: "w", Replica: 1, Gen: uint64(time.Now().UnixNano())})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.close()
	// The "instance": a sleep in its own process group.
	leader := exec.Command("sleep", "60")
	leader.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := leader.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { leader.Process.Kill(); leader.Wait() }()
	go ns.serve(w, engine.Handle{Worker: "w", Replica: 1}, leader.Process.Pid)
	send := func() {
		c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: "\x00" + ns.name[1:], Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("READY=1"))
		c.Close()
	}
	send() // from this test: not of the instance
	// From inside the instance's group: a child joining its group.
	in := exec.Command(os.Args[0], "-test.run=^TestNotifyHelper$")
	in.Env = append(os.Environ(), "HSU_NOTIFY_HELPER="+ns.name)
	in.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: leader.Process.Pid}
	if out, err := in.CombinedOutput(); err != nil {
		t.Fatalf("helper: %v %s", err, out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		evs, _ := w.inbox.drain(nil)
		if len(evs) > 0 {
			if len(evs) != 1 || evs[0].Kind != engine.EvNotify || !evs[0].Notify.Ready || evs[0].Notify.Status != "from inside" {
				t.Fatalf("posted %+v, want only the instance's datagram", evs)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the instance's datagram was not posted")
		}
		select {
		case <-w.inbox.notify:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestNotifyHelper sends from inside the instance (TestNotifySocketChecksSender).
func TestNotifyHelper(t *testing.T) {
	name := os.Getenv("HSU_NOTIFY_HELPER")
	if name == "" {
		t.Skip("helper process only")
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: "\x00" + name[1:], Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("READY=1\nSTATUS=from inside"))
	c.Close()
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
