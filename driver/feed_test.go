package driver_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hsu-run/hsu/driver"
	"github.com/hsu-run/hsu/engine"
)

// TestFeedRead: readers get what came after their sequence number, or,
// when the ring no longer holds it, the oldest kept and how many were
// lost.
func TestFeedRead(t *testing.T) {
	f := driver.NewFeed(4)
	for i := 1; i <= 10; i++ {
		if seq := f.Add(driver.FeedEvent{Kind: driver.FeedNotice, Reason: fmt.Sprint(i)}, false); seq != uint64(i) {
			t.Fatalf("event %d numbered %d", i, seq)
		}
	}
	tests := []struct {
		after, missed uint64
		want          string
	}{
		{0, 6, "7 8 9 10"},
		{6, 0, "7 8 9 10"},
		{5, 1, "7 8 9 10"},
		{8, 0, "9 10"},
		{10, 0, ""},
		{99, 0, ""}, // another run's number: nothing, and no panic
	}
	for _, tt := range tests {
		evs, missed, _ := f.Read(tt.after, 100)
		var got []string
		for _, e := range evs {
			got = append(got, e.Reason)
		}
		if strings.Join(got, " ") != tt.want || missed != tt.missed {
			t.Errorf("Read(%d) = %q missed %d, want %q missed %d", tt.after, got, missed, tt.want, tt.missed)
		}
	}
	// Wake closes the channel a reader waits on, once something was added.
	f.Wake() // the adds above
	_, _, more := f.Read(10, 1)
	f.Wake() // nothing new since: no wake
	select {
	case <-more:
		t.Fatal("woken without a new event")
	default:
	}
	f.Add(driver.FeedEvent{Kind: driver.FeedNotice}, true)
	select {
	case <-more:
	case <-time.After(5 * time.Second):
		t.Fatal("not woken by a new event")
	}
}

// TestCommandsOneBatch: a command naming three workers is one batch with
// one state write, and a refusal comes back typed.
func TestCommandsOneBatch(t *testing.T) {
	r := newRig(t, threeWorkers, driver.Options{Publish: true}, nil)
	r.start()
	r.pump()
	before := len(r.store.writes)
	errs := make(chan []error, 1)
	cmds := []engine.Command{{Verb: engine.CmdStop, Worker: "a"}, {Verb: engine.CmdStop, Worker: "b"}, {Verb: engine.CmdStop, Worker: "c"}, {Verb: engine.CmdStop, Worker: "nope"}}
	go func() { errs <- r.d.Commands(context.Background(), cmds) }()
	waitInbox(t, r, len(cmds))
	r.o.mu.Lock()
	batch := r.o.inbox
	r.o.inbox = nil
	r.o.mu.Unlock()
	r.d.Handle(batch)
	got := <-errs
	if n := len(r.store.writes) - before; n != 1 {
		t.Errorf("%d state writes for one stop of three workers, want 1", n)
	}
	for i, err := range got[:3] {
		if err != nil {
			t.Errorf("stop %s: %v", cmds[i].Worker, err)
		}
	}
	var ce *driver.CommandError
	if !errors.As(got[3], &ce) || ce.Code != engine.ErrNotFound {
		t.Errorf("stop nope: %v, want a not-found CommandError", got[3])
	}
	// The status is published with the batch, at a higher version.
	if st := r.d.Status(); st.Version < 2 || st.Workers[0].Slots[0].State != engine.Stopping {
		t.Errorf("status version %d, a is %s: not published", st.Version, st.Workers[0].Slots[0].State)
	}
}

func waitInbox(t *testing.T, r *rig, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.o.mu.Lock()
		got := len(r.o.inbox)
		r.o.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d commands posted", got, n)
		}
		select {
		case <-r.o.posted:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestFeedEvents: transitions carry their reason, a restart its trigger,
// a failed probe its error text; a dry-run reload returns the diff and
// changes nothing.
func TestFeedEvents(t *testing.T) {
	r := newRig(t, `
version: 1
workers:
  a: {command: [a], restart: {backoff: {initial: 1s}}, health: {liveness: {exec: {command: [check]}, period: 5s}}}
  b: {command: [b]}
`, driver.Options{Publish: true}, nil)
	r.start()
	r.pump()
	r.fire("a", engine.TimerStartGrace)
	f := r.d.Feed()
	mark := f.Last()
	r.exit("a", 1, driver.ExitStatus{Code: 3})
	r.fire("a", engine.TimerBackoff)
	evs, _, _ := f.Read(mark, 100)
	var lines []string
	for _, e := range evs {
		lines = append(lines, e.Kind+" "+e.Worker+" "+e.From+">"+e.To+" "+e.Trigger+" "+e.Reason)
	}
	text := strings.Join(lines, "\n")
	for _, want := range []string{"transition a running>backoff  ", "restart a > crash ", "transition a backoff>starting  back-off elapsed"} {
		if !strings.Contains(text, want) {
			t.Errorf("feed:\n%s\nlacks %q", text, want)
		}
	}
	// A failed probe carries the probe's own words.
	mark = f.Last()
	r.fire("a", engine.TimerStartGrace)
	r.fire("a", engine.TimerProbe+engine.TimerKind(engine.ProbeLiveness))
	h := engine.Handle{Worker: "a", Replica: 1, Gen: r.d.Status().Workers[0].Slots[0].Gen}
	r.d.Handle([]engine.Event{{Kind: engine.EvProbe, H: h, Probe: engine.ProbeLiveness, Err: "exit status 2: db unreachable"}})
	evs, _, _ = f.Read(mark, 100)
	found := false
	for _, e := range evs {
		found = found || e.Kind == driver.FeedProbeFailed && e.Error == "exit status 2: db unreachable"
	}
	if !found {
		t.Errorf("no probe_failed event with the error text in %+v", evs)
	}
	// Reload: a dry run reports and changes nothing.
	cfg := parse(t, "version: 1\nworkers:\n  a: {command: [a], restart: {backoff: {initial: 1s}}, health: {liveness: {exec: {command: [check]}, period: 5s}}}\n  c: {command: [c]}\n")
	type res struct {
		d   engine.Diff
		err error
	}
	ch := make(chan res, 1)
	go func() { d, err := r.d.ReloadDiff(context.Background(), cfg, true); ch <- res{d, err} }()
	waitInbox(t, r, 1)
	r.pump()
	got := <-ch
	if got.err != nil || fmt.Sprint(got.d.Added, got.d.Removed, got.d.Unchanged) != "[c] [b] [a]" {
		t.Errorf("dry run diff %+v, %v", got.d, got.err)
	}
	if r.d.Engine().Spec("c") != nil || r.d.Engine().Spec("b") == nil {
		t.Error("a dry run changed the config")
	}
}
