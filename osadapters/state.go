package osadapters

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hsu-run/hsu/engine"
)

// stateFile is hsu's state file: what the engine saves (engine.Saved)
// plus, per live instance, what proves a PID is still the process hsu
// started: its start time (field 22 of /proc/PID/stat) and the boot id.
type stateFile struct {
	Version int              `json:"version"`
	BootID  string           `json:"boot_id"`
	Saved   engine.Saved     `json:"saved"`
	Starts  map[string]int64 `json:"start_times"` // "worker-replica-gen" -> start time in clock ticks
	// Listen: the address of each integrated replica's socket ("worker-replica" -> host:port).
	Listen map[string]string `json:"listen,omitempty"`
}

const stateVersion = 1

func instKey(h engine.Handle) string { return fmt.Sprintf("%s-%d-%d", h.Worker, h.Replica, h.Gen) }

// writeState writes the file atomically: a temp file in the same
// directory renamed over the old one. No fsync: the file is trusted only
// within the boot that wrote it (boot id), and the rename alone is atomic
// against an hsu crash; an fsync per state change made a stop of 100
// workers take twice as long on ext4.
func writeState(path string, st *stateFile) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".state-*")
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// readState reads the state file; a missing file is no state.
func readState(path string) (*stateFile, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("read state %s: %w", path, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("read state %s: version %d, this hsu reads %d", path, st.Version, stateVersion)
	}
	return &st, nil
}
