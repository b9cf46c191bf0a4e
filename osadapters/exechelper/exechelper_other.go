//go:build !linux && !darwin

// Package exechelper is the exec helper of the Unix adapters (none here).
package exechelper

// RunExecHelper does nothing here: only the Unix adapters start workers
// through the exec helper.
func Run() {}
