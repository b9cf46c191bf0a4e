package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/hsu-run/hsu/api"
)

// reexec is what hsu needs to replace itself with the hsu binary on disk
// (hsu reexec, POST /v1/reexec, SIGUSR2) while its workers run on: the
// new process re-adopts them from the state dir, as after a kill -9.
type reexec struct {
	exe  string   // the binary hsu was started from (a new version may be there now)
	args []string // hsu's own arguments, unchanged
	env  []string // hsu's environment as it started, systemd's variables included
	// req asks the run loop to exec (one slot: a second request while one
	// waits is the same request).
	req chan struct{}
}

func newReexec() *reexec {
	exe, err := os.Executable()
	if err != nil {
		exe = "" // refused when asked, with this reason
	}
	return &reexec{exe: exe, args: os.Args, env: os.Environ(), req: make(chan struct{}, 1)}
}

// requestReexec checks that the binary on disk runs (hsu version) and
// then asks the run loop to exec it. A refusal leaves hsu as it was.
func (c *control) requestReexec(ctx context.Context) error {
	if c.d.Status().ShuttingDown {
		return &api.ReexecError{Msg: "reexec refused: hsu is shutting down"}
	}
	if !reexecSupported {
		return &api.ReexecError{Msg: "reexec refused: not supported on this OS"}
	}
	if c.rx == nil || c.rx.exe == "" {
		return &api.ReexecError{Msg: "reexec refused: the path of the hsu binary is unknown"}
	}
	if err := checkBinary(ctx, c.rx.exe, c.rx.args[0]); err != nil {
		return &api.ReexecError{Msg: "reexec refused, hsu runs on: " + err.Error()}
	}
	select {
	case c.rx.req <- struct{}{}:
	default:
	}
	return nil
}

// checkBinary runs `exe version`: a binary that is missing, truncated
// (a copy still in progress) or of another architecture fails here,
// before hsu has stopped anything. argv0 is hsu's own, for binaries
// that dispatch on it.
func checkBinary(ctx context.Context, exe, argv0 string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "version")
	cmd.Args[0] = argv0
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s version: %w: %s", exe, err, strings.TrimSpace(out.String()))
	}
	return nil
}
