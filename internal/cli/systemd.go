package cli

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hsu-run/hsu/engine"
	"github.com/hsu-run/hsu/osadapters/sdnotify"
)

// systemd is hsu's side of sd_notify, when it runs under a Type=notify
// unit: READY=1 after recovery and the first start pass, a STATUS= line
// kept current, STOPPING=1, RELOADING=1 around reloads, and the watchdog,
// pinged only while the supervision loop makes progress.
type systemd struct {
	n   *sdnotify.Notifier
	log *slog.Logger

	mu       sync.Mutex
	stopping bool // STOPPING=1 sent
}

// newSystemd reads (and then removes from hsu's environment, so no worker
// inherits them) systemd's variables. It returns nil when not under
// systemd.
func newSystemd(log *slog.Logger) (*systemd, time.Duration) {
	n := sdnotify.FromEnv()
	wd, ok := sdnotify.WatchdogInterval()
	sdnotify.Unset()
	if n == nil {
		return nil, 0
	}
	if !ok {
		wd = 0
	}
	return &systemd{n: n, log: log}, wd
}

// run follows hsu until ctx ends: the status line is refreshed after
// every batch that added events (and every few seconds, for usage).
func (s *systemd) run(ctx context.Context, c *control, watchdog time.Duration) {
	if s == nil {
		return
	}
	if watchdog > 0 {
		go s.n.RunWatchdog(ctx, watchdog, c.d.Progress, c.d.Wake)
	}
	select {
	case <-c.d.Started():
	case <-ctx.Done():
		return
	}
	s.send(s.n.Ready())
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	feed := c.d.Feed()
	last := ""
	after := uint64(0)
	for {
		evs, _, more := feed.Read(after, 1<<20)
		if len(evs) > 0 {
			after = evs[len(evs)-1].Seq
		}
		st := c.d.Status()
		if line := statusLine(st, c.health()); line != last {
			s.send(s.n.Status(line))
			last = line
		}
		if st.ShuttingDown {
			s.stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-more:
		case <-t.C:
		}
	}
}

// stop sends STOPPING=1 once (also at exit, in case the shutdown was too
// quick for run to see).
func (s *systemd) stop() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopping {
		s.stopping = true
		s.send(s.n.Stopping())
	}
}

func (s *systemd) reloading() {
	if s != nil {
		s.send(s.n.Reloading(time.Now()))
	}
}

func (s *systemd) reloaded() {
	if s != nil {
		s.send(s.n.Ready())
	}
}

func (s *systemd) send(err error) {
	if err != nil {
		s.log.Warn("sd_notify failed", "err", err)
	}
}

// statusLine is a one-line summary: "12 workers: 11 ready, 1 backoff".
func statusLine(st *engine.Status, degraded []string) string {
	counts := map[string]int{}
	for _, w := range st.Workers {
		for _, r := range w.Slots {
			counts[r.State.String()]++
		}
	}
	states := make([]string, 0, len(counts))
	for k := range counts {
		states = append(states, k)
	}
	sort.Slice(states, func(i, j int) bool {
		return counts[states[i]] > counts[states[j]] || counts[states[i]] == counts[states[j]] && states[i] < states[j]
	})
	parts := make([]string, len(states))
	for i, k := range states {
		parts[i] = fmt.Sprintf("%d %s", counts[k], k)
	}
	line := fmt.Sprintf("%d workers: %s", len(st.Workers), strings.Join(parts, ", "))
	if st.ShuttingDown {
		line = "shutting down; " + line
	}
	if len(degraded) > 0 {
		line += "; DEGRADED: " + strings.Join(degraded, "; ")
	}
	return line
}
