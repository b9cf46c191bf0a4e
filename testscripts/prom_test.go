//go:build linux

package testscripts

import (
	"net"
	"os"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rogpeppe/go-internal/testscript"
)

// cmdPromCheck: promcheck FILE FAMILY... — FILE parses as the Prometheus
// text format, and has every FAMILY.
func cmdPromCheck(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 {
		ts.Fatalf("usage: promcheck FILE FAMILY...")
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(ts.ReadFile(args[0])))
	if err != nil {
		ts.Fatalf("promcheck: %s is not Prometheus text: %v", args[0], err)
	}
	for _, f := range args[1:] {
		if _, ok := fams[f]; !ok {
			ts.Fatalf("promcheck: no %s in %s", f, args[0])
		}
	}
}

// cmdNotifyListen: notifylisten SOCKET FILE — receives sd_notify
// datagrams on the unixgram SOCKET (as systemd would) and appends each to
// FILE, one per line, until the script ends.
func cmdNotifyListen(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: notifylisten SOCKET FILE")
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: ts.MkAbs(args[0]), Net: "unixgram"})
	if err != nil {
		ts.Fatalf("notifylisten: %v", err)
	}
	out, err := os.OpenFile(ts.MkAbs(args[1]), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		ts.Fatalf("notifylisten: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 4096)
		for {
			n, err := c.Read(b)
			if err != nil {
				return
			}
			out.Write([]byte(strings.ReplaceAll(strings.TrimRight(string(b[:n]), "\n"), "\n", " ") + "\n"))
		}
	}()
	ts.Defer(func() {
		c.Close()
		<-done
		out.Close()
	})
}
