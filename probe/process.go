package probe

import "fmt"

func (r *run) process(t Target) error {
	what := fmt.Sprintf("process %d", t.PID)
	if t.PID <= 0 {
		return fmt.Errorf("process: no pid")
	}
	if err := processAlive(t.PID); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
