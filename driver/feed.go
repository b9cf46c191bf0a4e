package driver

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// FeedEvent is one entry of the event feed: what the API streams as
// /v1/events and hsu events prints.
type FeedEvent struct {
	Seq uint64 `json:"seq"`
	// At is the world's time (Driver.Wall turns it into a wall-clock time).
	At time.Duration `json:"-"`
	// Wall, when set, is the event's time (events the API adds itself).
	Wall    time.Time `json:"-"`
	Kind    string    `json:"kind"`
	Worker  string    `json:"worker,omitempty"`
	Replica int       `json:"replica,omitempty"`
	From    string    `json:"from,omitempty"`
	To      string    `json:"to,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	// Trigger is a restart's trigger (crash, health, resource, command,
	// reload) or a limit's policy.
	Trigger  string `json:"trigger,omitempty"`
	Resource string `json:"resource,omitempty"`
	// Value is a limit event's measured value and Limit the threshold it
	// crossed (bytes for memory, millicores for cpu, a count for pids);
	// Source is where the value was measured (cgroup2, cgroup1, proc, job).
	Value  int64  `json:"value,omitempty"`
	Limit  int64  `json:"limit,omitempty"`
	Source string `json:"source,omitempty"`
	Error  string `json:"error,omitempty"`
	// Command events: the verb, who asked, and the result ("ok" or the error).
	Verb   string `json:"verb,omitempty"`
	Who    string `json:"who,omitempty"`
	Result string `json:"result,omitempty"`
	// Missed is set on a gap record: how many events were lost there.
	Missed uint64 `json:"missed,omitempty"`
}

// Feed kinds.
const (
	FeedTransition  = "transition"
	FeedRestart     = "restart"
	FeedOOM         = "oom_kill"
	FeedProbeFailed = "probe_failed"
	FeedLimitWarn   = "limit_warning"
	FeedLimit       = "limit_crossed"
	FeedAlert       = "alert"     // a limit's alert policy acted
	FeedThrottled   = "throttled" // the kernel throttled an instance (memory.high)
	FeedNotice      = "notice"
	FeedReload      = "reload"
	FeedCommand     = "command"
	FeedDegraded    = "degraded"
	FeedRecovered   = "recovered"
	FeedGap         = "gap"
)

// Feed is a bounded, sequence-numbered log of events. Appending never
// blocks and never waits for a reader: a reader that falls behind finds
// its next events gone and is told how many (Read's missed).
type Feed struct {
	run string

	mu    sync.Mutex
	buf   []FeedEvent // ring
	next  uint64      // the next sequence number (the first is 1)
	wake  chan struct{}
	dirty bool // appended since the last wake
}

// DefaultFeedSize is how many events the feed keeps.
const DefaultFeedSize = 4096

// NewFeed returns a feed keeping the last size events.
func NewFeed(size int) *Feed {
	var b [8]byte
	rand.Read(b[:])
	return &Feed{run: hex.EncodeToString(b[:]), buf: make([]FeedEvent, max(size, 1)), next: 1, wake: make(chan struct{})}
}

// Run identifies this feed (this hsu run), so a sequence number of an
// earlier hsu is never taken for one of this run's.
func (f *Feed) Run() string { return f.run }

// Add appends ev, numbering it, and returns its sequence number. Readers
// are woken by Wake (the driver calls it once per batch) or at once when
// now is set.
func (f *Feed) Add(ev FeedEvent, now bool) uint64 {
	f.mu.Lock()
	ev.Seq = f.next
	f.buf[f.next%uint64(len(f.buf))] = ev
	f.next++
	f.dirty = true
	f.mu.Unlock()
	if now {
		f.Wake()
	}
	return ev.Seq
}

// Wake tells waiting readers that events were added.
func (f *Feed) Wake() {
	f.mu.Lock()
	if f.dirty {
		close(f.wake)
		f.wake = make(chan struct{})
		f.dirty = false
	}
	f.mu.Unlock()
}

// Last is the sequence number of the newest event (0: none yet).
func (f *Feed) Last() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.next - 1
}

// Read returns up to limit events after sequence number after, the
// number of events lost before them (those after `after` that the ring no
// longer holds), and a channel closed when more arrive.
func (f *Feed) Read(after uint64, limit int) (evs []FeedEvent, missed uint64, more <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	oldest := uint64(1)
	if n := uint64(len(f.buf)); f.next > n {
		oldest = f.next - n
	}
	if after >= f.next {
		after = f.next - 1 // from the future (another run's id): nothing to give
	}
	from := after + 1
	if from < oldest {
		missed = oldest - from
		from = oldest
	}
	for s := from; s < f.next && len(evs) < limit; s++ {
		evs = append(evs, f.buf[s%uint64(len(f.buf))])
	}
	return evs, missed, f.wake
}
