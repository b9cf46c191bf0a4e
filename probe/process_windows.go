//go:build windows

package probe

import (
	"errors"
	"fmt"

	"golang.org/x/sys/windows"
)

// stillActive is STILL_ACTIVE, GetExitCodeProcess's "no exit code yet".
const stillActive = 259

var errNotRunning = errors.New("not running")

func processAlive(pid int) error {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION|windows.SYNCHRONIZE, false, uint32(pid))
	if err != nil {
		switch {
		case errors.Is(err, windows.ERROR_INVALID_PARAMETER):
			return errNotRunning // no such process
		case errors.Is(err, windows.ERROR_ACCESS_DENIED):
			return nil // exists, not ours to query
		}
		return fmt.Errorf("OpenProcess: %w", err)
	}
	defer windows.CloseHandle(h)
	var code uint32
	if err := windows.GetExitCodeProcess(h, &code); err != nil {
		return fmt.Errorf("GetExitCodeProcess: %w", err)
	}
	if code != stillActive {
		return fmt.Errorf("exited with code %d", code)
	}
	// A process may exit with code 259 itself; its handle being signalled
	// tells the two apart.
	if ev, err := windows.WaitForSingleObject(h, 0); err == nil && ev == windows.WAIT_OBJECT_0 {
		return fmt.Errorf("exited with code %d", code)
	}
	return nil
}
