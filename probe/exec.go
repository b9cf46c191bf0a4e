package probe

import (
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hsu-run/hsu/config"
)

// execWaitDelay is how long an exec probe waits, after its command exited or
// was killed, for the output pipes to close: a grandchild still holding them
// can't hold the probe up longer than this.
const execWaitDelay = 500 * time.Millisecond

// execOutputTail is how many trailing bytes of output an error quotes.
const execOutputTail = 512

func (r *run) exec(p *config.ExecProbe, t Target) error {
	what := "exec " + quoteArgs(p.Command)
	if len(p.Command) == 0 || p.Command[0] == "" {
		return fmt.Errorf("%s: no command", what)
	}
	cmd := exec.CommandContext(r.ctx, p.Command[0], p.Command[1:]...)
	cmd.Env = t.Env
	cmd.Dir = t.Dir
	out := &tailBuffer{max: execOutputTail}
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.WaitDelay = execWaitDelay
	g := newProcGroup(cmd) // own process group; cmd.Cancel kills all of it

	if err := cmd.Start(); err != nil {
		g.release()
		return r.fail(what, err)
	}
	g.started()
	err := cmd.Wait()
	if errors.Is(err, exec.ErrWaitDelay) {
		// Something the command started still held its output after it
		// exited (or was killed): take the group down with it.
		g.kill()
	}
	g.release()
	if cerr := r.ended(); cerr != nil && err != nil {
		return fmt.Errorf("%s: %w%s", what, cerr, out.suffix())
	}
	if err == nil || errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState != nil && cmd.ProcessState.Success() {
		return nil
	}
	return fmt.Errorf("%s: %w%s", what, err, out.suffix())
}

func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\$`") {
			a = strconv.Quote(a)
		}
		q[i] = a
	}
	return "[" + strings.Join(q, " ") + "]"
}

// tailBuffer keeps the last max bytes written to it; safe for the two
// copying goroutines of Stdout and Stderr.
type tailBuffer struct {
	mu        sync.Mutex
	max       int
	buf       []byte
	truncated bool
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if len(p) >= b.max {
		b.truncated = b.truncated || len(p) > b.max || len(b.buf) > 0
		b.buf = append(b.buf[:0], p[len(p)-b.max:]...)
		return n, nil
	}
	if over := len(b.buf) + len(p) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
		b.truncated = true
	}
	b.buf = append(b.buf, p...)
	return n, nil
}

// suffix is ": <output>" for an error message, or "" without output.
func (b *tailBuffer) suffix() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := strings.TrimSpace(strings.ToValidUTF8(string(b.buf), "\uFFFD"))
	if s == "" {
		return ""
	}
	if b.truncated {
		s = "..." + s
	}
	return ": " + strconv.Quote(s)
}
