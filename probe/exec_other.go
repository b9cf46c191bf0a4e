//go:build !unix && !windows

package probe

import "os/exec"

// procGroup: this platform has no process groups; only the command itself
// is killed on timeout.
type procGroup struct{ cmd *exec.Cmd }

func newProcGroup(cmd *exec.Cmd) *procGroup { return &procGroup{cmd: cmd} }
func (g *procGroup) started()               {}
func (g *procGroup) release()               {}
func (g *procGroup) kill() error {
	if g.cmd.Process == nil {
		return nil
	}
	return g.cmd.Process.Kill()
}
