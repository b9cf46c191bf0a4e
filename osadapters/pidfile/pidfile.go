// Package pidfile reads the pidfile an unmanaged worker names.
package pidfile

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Read returns the PID an unmanaged worker's pidfile names.
func Read(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("pidfile: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pidfile %s: no pid in %q", path, strings.TrimSpace(string(b)))
	}
	return pid, nil
}
