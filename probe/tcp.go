package probe

import (
	"errors"
	"net"

	"github.com/hsu-run/hsu/config"
)

func (r *run) tcp(p *config.TCPProbe) error {
	what := "tcp " + p.Address
	var d net.Dialer
	c, err := d.DialContext(r.ctx, "tcp", p.Address)
	if err != nil {
		return r.fail(what, unwrapOpError(err))
	}
	c.Close()
	return nil
}

// unwrapOpError turns "dial tcp 127.0.0.1:1: connect: connection refused"
// into "connect: connection refused": the address is already in context.
func unwrapOpError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}
