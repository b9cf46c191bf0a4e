//go:build windows

package osadapters

// NewSystem returns this OS's System.
func NewSystem(stateDir string) (System, error) { return NewWindows(stateDir) }
