//go:build !linux && !darwin && !windows

package logs

import "os"

// isTerminal approximates: a character device (this also admits /dev/null).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
