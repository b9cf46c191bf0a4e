//go:build windows

package probe

import (
	"os"
	"os/exec"
	"sync"
	"syscall"

	"golang.org/x/sys/windows"
)

// procGroup runs the command in a new process group and a Job Object, so a
// timeout terminates everything it started (children inherit the job).
type procGroup struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	job windows.Handle // 0 until started, or when the job could not be made
}

func newProcGroup(cmd *exec.Cmd) *procGroup {
	g := &procGroup{cmd: cmd}
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: windows.CREATE_NEW_PROCESS_GROUP}
	cmd.Cancel = g.kill
	return g
}

// started puts the process into a fresh job. Children it spawns before this
// (within microseconds of the start) escape the job; everything later is in.
func (g *procGroup) started() {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return
	}
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, uint32(g.cmd.Process.Pid))
	if err != nil {
		windows.CloseHandle(job)
		return
	}
	err = windows.AssignProcessToJobObject(job, h)
	windows.CloseHandle(h)
	if err != nil {
		windows.CloseHandle(job)
		return
	}
	g.mu.Lock()
	g.job = job
	g.mu.Unlock()
}

func (g *procGroup) kill() error {
	g.mu.Lock()
	job := g.job
	g.mu.Unlock()
	if job != 0 {
		windows.TerminateJobObject(job, 1)
	}
	if g.cmd.Process == nil {
		return nil
	}
	err := g.cmd.Process.Kill()
	if err != nil && job != 0 {
		return os.ErrProcessDone // the job took it down already
	}
	return err
}

func (g *procGroup) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.job != 0 {
		windows.CloseHandle(g.job)
		g.job = 0
	}
}
