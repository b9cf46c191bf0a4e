//go:build !linux && !darwin && !windows

package osadapters

// LockStateDir is not needed where hsu run is not supported.
func LockStateDir(string) (func(), error) { return func() {}, nil }
