package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hsu-run/hsu/driver"
	"github.com/hsu-run/hsu/engine"
	"github.com/hsu-run/hsu/logs"
)

// streamer writes a streamed reply: every write has its own deadline, so
// a client that stops reading is dropped after WriteTimeout instead of
// holding a goroutine and a buffer for ever.
type streamer struct {
	s   *Server
	w   http.ResponseWriter
	rc  *http.ResponseController
	r   *http.Request
	err error
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request, contentType string) *streamer {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	st := &streamer{s: s, w: w, rc: http.NewResponseController(w), r: r}
	st.flush()
	return st
}

func (st *streamer) write(b []byte) bool {
	if st.err != nil {
		return false
	}
	st.rc.SetWriteDeadline(time.Now().Add(st.s.opt.WriteTimeout))
	if _, err := st.w.Write(b); err != nil {
		st.fail(err)
		return false
	}
	return true
}

func (st *streamer) flush() bool {
	if st.err != nil {
		return false
	}
	st.rc.SetWriteDeadline(time.Now().Add(st.s.opt.WriteTimeout))
	if err := st.rc.Flush(); err != nil {
		st.fail(err)
		return false
	}
	return true
}

func (st *streamer) fail(err error) {
	st.err = err
	if errors.Is(err, os.ErrDeadlineExceeded) || st.r.Context().Err() == nil {
		st.s.log.Warn("api: client dropped: it did not read its stream within the write deadline",
			"path", st.r.URL.Path, "deadline", st.s.opt.WriteTimeout, "err", err)
	}
}

// --- logs ---

// logs serves GET /v1/workers/{name}/logs?n=N&since=D&follow=1: the last
// n lines (default 100) as JSON lines, then, with follow, new lines as
// they come. A follower that falls behind gets a gap record (dropped).
func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	if s.opt.Logs == nil {
		httpError(w, http.StatusNotFound, "logs are not served")
		return
	}
	q := r.URL.Query()
	n := 100
	if v := q.Get("n"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 0 {
			httpError(w, http.StatusBadRequest, "n must be a number of lines")
			return
		}
	}
	var since time.Time
	if v := q.Get("since"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t, terr := time.Parse(time.RFC3339, v)
			if terr != nil {
				httpError(w, http.StatusBadRequest, "since must be a duration (10m) or an RFC 3339 time")
				return
			}
			since = t
		} else {
			since = time.Now().Add(-d)
		}
	}
	follow := q.Get("follow") == "1" || q.Get("follow") == "true"
	var workers []string
	if name := r.PathValue("name"); name != "all" {
		workers = s.names(name)
		st := s.opt.Backend.Status()
		for _, n := range workers {
			if !hasWorker(st, n) {
				writeJSON(w, http.StatusNotFound, errorBody{Error: "unknown worker " + strconv.Quote(n), Code: engine.ErrNotFound.String()})
				return
			}
		}
	}
	// Subscribe before reading the tail, so no line falls between them;
	// lines in both are skipped by their sequence number.
	var lines <-chan logs.Line
	if follow {
		ch, cancel := s.opt.Logs.Subscribe(workers, 4096)
		lines = ch
		defer cancel()
	}
	tail := s.opt.Logs.Tail(workers, 0)
	if !since.IsZero() {
		i := 0
		for i < len(tail) && tail[i].Time.Before(since) {
			i++
		}
		tail = tail[i:]
	}
	if n > 0 && len(tail) > n {
		tail = tail[len(tail)-n:]
	} else if n == 0 && !since.IsZero() {
		// n=0 with since: everything since.
	} else if n == 0 {
		tail = nil
	}
	st := s.stream(w, r, "application/x-ndjson")
	// Lines both in the tail and on the subscription are skipped by their
	// sequence number, per worker: numbers rise within a worker's lines,
	// not across workers (each is numbered under its own lock).
	last := map[string]uint64{}
	dup := func(l logs.Line) bool { return l.Dropped == 0 && l.Seq <= last[l.Worker] }
	enc := func(v LineView) bool {
		b, _ := json.Marshal(v)
		return st.write(append(b, '\n'))
	}
	for _, l := range tail {
		if !enc(lineView(l)) {
			return
		}
		last[l.Worker] = max(last[l.Worker], l.Seq)
	}
	if !st.flush() || !follow {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		case l, ok := <-lines:
			if !ok {
				return
			}
			if dup(l) {
				continue
			}
			if !enc(lineView(l)) {
				return
			}
			// Batch what is already there into one flush.
			for more := true; more; {
				select {
				case l, ok := <-lines:
					if !ok {
						st.flush()
						return
					}
					if dup(l) {
						continue
					}
					if !enc(lineView(l)) {
						return
					}
				default:
					more = false
				}
			}
			if !st.flush() {
				return
			}
		}
	}
}

func hasWorker(st *engine.Status, name string) bool {
	for i := range st.Workers {
		if st.Workers[i].Name == name {
			return true
		}
	}
	return false
}

// --- events ---

// eventID is the SSE id of a feed event: the run, then the sequence.
func eventID(run string, seq uint64) string { return run + "-" + strconv.FormatUint(seq, 10) }

// parseEventID reads a Last-Event-ID; ok is false for another run's id
// (or garbage).
func parseEventID(run, id string) (uint64, bool) {
	r, seq, found := strings.Cut(id, "-")
	if !found || r != run {
		return 0, false
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	return n, err == nil
}

// events serves GET /v1/events as server-sent events. Without
// Last-Event-ID it starts with new events (?from=0: the whole feed); with
// one of this run it resumes after it. A gap it cannot fill, or an id it
// does not know, is a "reset" event: the client must re-read the status.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	feed := s.opt.Backend.Feed()
	if feed == nil {
		httpError(w, http.StatusNotFound, "events are not served")
		return
	}
	run := feed.Run()
	after := feed.Last()
	reset := ""
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		if seq, ok := parseEventID(run, id); ok && seq <= after {
			after = seq
		} else {
			reset = "unknown event id " + strconv.Quote(id) + " (another hsu run): re-read the status"
		}
	} else if r.URL.Query().Get("from") == "0" {
		after = 0
	}
	st := s.stream(w, r, "text/event-stream")
	if reset != "" && !s.writeReset(st, run, after, reset) {
		return
	}
	if !st.flush() {
		return
	}
	hb := time.NewTicker(s.opt.Heartbeat)
	defer hb.Stop()
	for {
		evs, missed, more := feed.Read(after, 256)
		if missed > 0 && after > 0 {
			if !s.writeReset(st, run, after+missed, fmt.Sprintf("%d events were lost (the feed keeps %d): re-read the status", missed, driver.DefaultFeedSize)) {
				return
			}
		}
		for _, ev := range evs {
			if !s.writeEvent(st, run, ev) {
				return
			}
			after = ev.Seq
		}
		if len(evs) > 0 {
			if !st.flush() {
				return
			}
			continue
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		case <-more:
		case <-hb.C:
			if !st.write([]byte(": heartbeat\n\n")) || !st.flush() {
				return
			}
		}
	}
}

func (s *Server) eventView(run string, ev driver.FeedEvent) EventView {
	t := ev.Wall
	if t.IsZero() {
		t = s.opt.Backend.Wall(ev.At)
	}
	return EventView{ID: eventID(run, ev.Seq), Time: t.UTC(), FeedEvent: ev}
}

func (s *Server) writeEvent(st *streamer, run string, ev driver.FeedEvent) bool {
	b, _ := json.Marshal(s.eventView(run, ev))
	return st.write([]byte("id: " + eventID(run, ev.Seq) + "\nevent: " + ev.Kind + "\ndata: " + string(b) + "\n\n"))
}

func (s *Server) writeReset(st *streamer, run string, seq uint64, why string) bool {
	b, _ := json.Marshal(map[string]string{"kind": "reset", "reason": why})
	id := ""
	if seq > 0 {
		id = "id: " + eventID(run, seq) + "\n"
	}
	return st.write([]byte(id + "event: reset\ndata: " + string(b) + "\n\n"))
}

// --- rolling restart ---

// rolling restarts each named worker one replica at a time: the next
// replica goes only once the previous one is ready again (or running past
// start_seconds without a readiness probe); a worker's rollout stops at
// its first failure.
func (s *Server) rolling(ctx context.Context, cmds []engine.Command) []error {
	errs := make([]error, len(cmds))
	for i, c := range cmds {
		errs[i] = s.rollOne(ctx, c)
	}
	return errs
}

func (s *Server) rollOne(ctx context.Context, c engine.Command) error {
	st := s.opt.Backend.Status()
	var ws *engine.WorkerStatus
	for i := range st.Workers {
		if st.Workers[i].Name == c.Worker {
			ws = &st.Workers[i]
		}
	}
	if ws == nil {
		return &driver.CommandError{Code: engine.ErrNotFound, Verb: engine.CmdRestart, Worker: c.Worker, Msg: "unknown worker " + strconv.Quote(c.Worker)}
	}
	for r := 1; r <= ws.Replicas; r++ {
		var gen uint64
		if r <= len(ws.Slots) {
			gen = ws.Slots[r-1].Gen
		}
		one := c
		one.Replica = r
		if err := s.opt.Backend.Commands(ctx, []engine.Command{one})[0]; err != nil {
			return err
		}
		if err := s.waitReady(ctx, c.Worker, r, gen); err != nil {
			return &driver.CommandError{Code: engine.ErrConflict, Verb: engine.CmdRestart, Worker: c.Worker,
				Msg: fmt.Sprintf("rolling restart stopped at replica %d: %v", r, err)}
		}
	}
	return nil
}

// waitReady waits for a new instance (generation above gen) of a replica
// to be ready; a replica that fails or backs off ends the wait.
func (s *Server) waitReady(ctx context.Context, worker string, replica int, gen uint64) error {
	feed := s.opt.Backend.Feed()
	after := uint64(0)
	if feed != nil {
		after = feed.Last()
	}
	for {
		st := s.opt.Backend.Status()
		for i := range st.Workers {
			w := &st.Workers[i]
			if w.Name != worker || replica > len(w.Slots) {
				continue
			}
			rs := w.Slots[replica-1]
			if rs.Gen > gen {
				switch {
				case rs.Ready:
					return nil
				case rs.State == engine.Failed || rs.State == engine.Backoff || rs.State == engine.Exited:
					return errors.New("it is " + rs.State.String() + ": " + rs.Reason)
				}
			}
		}
		var more <-chan struct{}
		if feed != nil {
			var evs []driver.FeedEvent
			evs, _, more = feed.Read(after, 1<<20)
			if len(evs) > 0 {
				after = evs[len(evs)-1].Seq
				continue // status may have moved with them
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-more:
		case <-time.After(100 * time.Millisecond):
			// Status is published after the batch's events: look again.
		}
	}
}
