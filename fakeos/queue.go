package fakeos

import (
	"time"

	"github.com/hsu-run/hsu/driver"
	"github.com/hsu-run/hsu/engine"
	"github.com/hsu-run/hsu/scenario"
)

// itemKind is what a queued item does when its time comes.
type itemKind uint8

const (
	itEngine       itemKind = iota + 1 // deliver ev to hsu (if the same hsu is still up)
	itExit                             // the process exits by itself (exit_after)
	itOOM                              // the kernel OOM-kills the process
	itSignal                           // a signal reaches the process's group
	itKill                             // SIGKILL to the instance's group and cgroup
	itLogLine                          // the process prints its ready line
	itFault                            // a scenario fault
	itHsuStart                         // a new hsu process starts
	itExpect                           // check an expectation
	itStopDeadline                     // checker: the instance must be killed by now
	itNotify                           // a notify worker sends READY=1 (first) or WATCHDOG=1
)

// item is one entry of the event queue, ordered by (at, class, seq).
type item struct {
	at    time.Duration
	class uint8 // 0: happenings; 1: checks, which see everything of their instant
	seq   uint64
	kind  itemKind
	epoch int // itEngine: the hsu incarnation it is for
	ev    engine.Event
	p     *proc
	sig   string
	fault *scenario.Fault
	exp   *scenario.Expect
	h     engine.Handle
	done  driver.Completion // itKill: the driver's
	pid   int               // itKill without cgroups: the group to kill (-1: none known)
}

// queue is a binary min-heap of items; items are recycled to keep the
// simulator's allocation rate low.
type queue struct {
	h    []*item
	free []*item
}

func (q *queue) less(i, j int) bool {
	a, b := q.h[i], q.h[j]
	if a.at != b.at {
		return a.at < b.at
	}
	if a.class != b.class {
		return a.class < b.class
	}
	return a.seq < b.seq
}

func (q *queue) push(it *item) {
	q.h = append(q.h, it)
	i := len(q.h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q.h[i], q.h[p] = q.h[p], q.h[i]
		i = p
	}
}

func (q *queue) pop() *item {
	n := len(q.h) - 1
	top := q.h[0]
	q.h[0] = q.h[n]
	q.h[n] = nil
	q.h = q.h[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && q.less(l, m) {
			m = l
		}
		if r < n && q.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		q.h[i], q.h[m] = q.h[m], q.h[i]
		i = m
	}
	return top
}

func (q *queue) peek() *item {
	if len(q.h) == 0 {
		return nil
	}
	return q.h[0]
}

func (q *queue) alloc() *item {
	if n := len(q.free); n > 0 {
		it := q.free[n-1]
		q.free = q.free[:n-1]
		return it
	}
	return &item{}
}

func (q *queue) release(it *item) {
	*it = item{}
	q.free = append(q.free, it)
}
