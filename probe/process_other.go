//go:build !unix && !windows

package probe

import "errors"

func processAlive(pid int) error {
	return errors.New("process probes are not supported on this platform")
}
