//go:build !linux && !darwin

package osadapters

// RunExecHelper does nothing here: only the Unix adapters start workers
// through the exec helper.
func RunExecHelper() {}
