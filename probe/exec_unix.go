//go:build unix

package probe

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// procGroup runs the command as the leader of its own process group, so a
// timeout kills everything it started (that stayed in the group).
type procGroup struct{ cmd *exec.Cmd }

func newProcGroup(cmd *exec.Cmd) *procGroup {
	g := &procGroup{cmd: cmd}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = g.kill
	return g
}

func (g *procGroup) started() {}
func (g *procGroup) release() {}

// kill sends SIGKILL to the whole group. The group id is the leader's pid,
// which Start set before Cancel or kill can run; the id can't be reused while
// the group has members.
func (g *procGroup) kill() error {
	p := g.cmd.Process
	if p == nil || p.Pid <= 0 {
		return nil
	}
	err := syscall.Kill(-p.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}
