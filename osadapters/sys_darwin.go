//go:build darwin

package osadapters

import (
	"fmt"
	"syscall"
	"time"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/engine"
)

// BootID: macOS has no boot id file; kern.boottime identifies the boot.
func (u *Unix) BootID() string {
	tv, err := syscall.Sysctl("kern.boottime")
	if err != nil {
		return "darwin"
	}
	return fmt.Sprintf("darwin-%x", tv)
}

// startTime is not read on macOS yet, so recovered instances are never
// adopted there (Verify needs it): hsu restarts them instead of trusting
// a PID that may have been reused.
func startTime(int) int64 { return 0 }

func startedAfter(Proc, time.Time) bool { return false }

func (u *Unix) setSubreaper() {}

func waitPIDExit(_ int, limit time.Duration) { time.Sleep(limit) }

// Sample is not implemented on macOS yet; resource limits are rejected at
// validation there (see Platform).
func (u *Unix) Sample(h engine.Handle, _ Proc) (engine.Usage, error) {
	return engine.Usage{}, fmt.Errorf("sample %s: not supported on darwin yet", instKey(h))
}

func discover(*config.Discover) (Proc, error) {
	return Proc{}, fmt.Errorf("discover: not supported on darwin yet (use pidfile)")
}

type cgroups struct{}

func openCgroups(string) *cgroups { return nil }

func (*cgroups) prepare(engine.Handle, *syscall.SysProcAttr) (func(), error) { return func() {}, nil }
func (*cgroups) procs(engine.Handle) []int                                   { return nil }
func (*cgroups) empty(engine.Handle) bool                                    { return true }
func (*cgroups) kill(engine.Handle)                                          {}
func (*cgroups) oomKilled(engine.Handle) bool                                { return false }
func (*cgroups) remove(engine.Handle)                                        {}
func (*cgroups) setMemoryMax(engine.Handle, *config.Worker) error            { return nil }
func (*cgroups) limitMemory(engine.Handle, *config.Worker, int) error        { return nil }

func setFDLimit(pid int, spec *config.Worker) error {
	if spec.Resources.FDs != nil {
		return fmt.Errorf("fds limit: not supported on darwin yet")
	}
	return nil
}

type cpuSample struct{}
