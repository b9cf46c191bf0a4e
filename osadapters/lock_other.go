//go:build !linux && !darwin

package osadapters

// LockStateDir is not needed where hsu run is not supported.
func LockStateDir(string) (func(), error) { return func() {}, nil }
