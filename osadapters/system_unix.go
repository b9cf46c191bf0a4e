//go:build linux || darwin

package osadapters

// NewSystem returns this OS's System.
func NewSystem(stateDir string) (System, error) { return NewUnix(stateDir) }
