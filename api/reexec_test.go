//go:build linux || darwin

package api

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// TestReexec: POST /v1/reexec is accepted (202) only when hsu says it can
// exec, is refused with 409 when it says why not, is 501 where hsu has
// no reexec, and is audited like every mutating call; the status names
// the hsu process serving it.
func TestReexec(t *testing.T) {
	started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		reexec   func(context.Context) error
		want     int
		wantBody string
		audited  string
	}{
		{"accepted", func(context.Context) error { return nil }, 202, `"re-executing"`, `"result":"ok"`},
		{"refused", func(context.Context) error { return &ReexecError{Msg: "reexec refused, hsu runs on: bad binary"} }, 409, `reexec_refused`, `bad binary`},
		{"failed", func(context.Context) error { return errors.New("boom") }, 500, `boom`, `boom`},
		{"unavailable", nil, 501, `not available`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, audit, sock := serveUnix(t, t.TempDir())
			s.opt.Reexec, s.opt.Hsu = tc.reexec, HsuInfo{Version: "v9", Started: started, PID: 77}
			hc := unixClient(sock)
			resp, err := hc.Post("http://hsu/v1/reexec", "application/json", strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want || !strings.Contains(string(b), tc.wantBody) {
				t.Errorf("POST /v1/reexec: %d %s, want %d with %q", resp.StatusCode, b, tc.want, tc.wantBody)
			}
			if tc.audited != "" && (!strings.Contains(audit.String(), `"verb":"reexec"`) || !strings.Contains(audit.String(), tc.audited)) {
				t.Errorf("audit %q, want reexec with %q", audit.String(), tc.audited)
			}
			resp, err = hc.Get("http://hsu/v1/workers")
			if err != nil {
				t.Fatal(err)
			}
			b, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, want := range []string{`"hsu_version":"v9"`, `"hsu_started":"2026-01-02T03:04:05Z"`, `"hsu_pid":77`} {
				if !strings.Contains(string(b), want) {
					t.Errorf("status %s lacks %s", b, want)
				}
			}
		})
	}
}
