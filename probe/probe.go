package probe

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hsu-run/hsu/config"
)

// DefaultTimeout is used when a probe has no timeout set (config's default).
const DefaultTimeout = time.Second

// ErrTimeout is wrapped by the error of a probe that did not finish within
// its timeout: errors.Is(err, ErrTimeout) reports it.
var ErrTimeout = errors.New("timed out")

// Target is what a probe checks.
type Target struct {
	PID    int      // the instance's main process (process probe)
	Env    []string // environment for exec probes (KEY=VALUE), nil = inherit
	Dir    string   // working directory for exec probes
	Listen string   // integrated workers: the address hsu bound for them (default for grpc without address)
}

// Run runs p once with its timeout (p.Timeout) and returns nil when it
// passes, or an error saying why it failed, wrapped with context such as
// "http GET http://127.0.0.1:8080/healthz: status 503". A probe cut short by
// its timeout returns an error wrapping ErrTimeout; one cut short by ctx
// returns an error wrapping ctx.Err().
func Run(ctx context.Context, p *config.Probe, t Target) error {
	if p == nil {
		return errors.New("probe: nil probe")
	}
	timeout := p.Timeout.D()
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r := run{parent: ctx, ctx: pctx, timeout: timeout}
	switch {
	case p.HTTP != nil:
		return r.http(p.HTTP)
	case p.TCP != nil:
		return r.tcp(p.TCP)
	case p.GRPC != nil:
		return r.grpc(p.GRPC, t)
	case p.Exec != nil:
		return r.exec(p.Exec, t)
	case p.Process != nil:
		return r.process(t)
	}
	return errors.New("probe: no kind set (want one of http, tcp, grpc, exec, process)")
}

// run carries one probe's contexts.
type run struct {
	parent  context.Context // the caller's context
	ctx     context.Context // parent plus the probe's timeout
	timeout time.Duration
}

// fail wraps err with what was being done; when the probe's context ended,
// the error says so instead (timeout or the caller's cancellation), because
// the underlying error is then only a consequence.
func (r *run) fail(what string, err error) error {
	if cerr := r.ended(); cerr != nil {
		return fmt.Errorf("%s: %w", what, cerr)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// ended returns nil while the probe's context is live, otherwise the
// caller's error if the caller's context ended, else a timeout error.
func (r *run) ended() error {
	if r.ctx.Err() == nil {
		return nil
	}
	if err := r.parent.Err(); err != nil {
		return err
	}
	return fmt.Errorf("%w after %s", ErrTimeout, r.timeout)
}
