//go:build !linux

package osadapters

import (
	"errors"

	"github.com/hsu-run/hsu/engine"
)

// notifySock: notify workers are Linux only (hsu validate says so).
type notifySock struct{ name string }

func openNotify(engine.Handle) (*notifySock, error) {
	return nil, errors.New("notify workers are supported on Linux only")
}

func (n *notifySock) close()                           {}
func (n *notifySock) serve(*World, engine.Handle, int) {}
