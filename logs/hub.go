// Package logs is everything that happens to a worker's stdout and stderr
// bytes after hsu reads them: splitting into lines, and routing every line
// to the console, to the worker's log file (text or JSON, rotated), to an
// in-memory ring buffer per worker (for `hsu logs -n`) and to subscribers
// (for `hsu logs -f`).
//
// Lossless is the main requirement. Copy returns only once every byte read
// from the child's pipe has been routed, and the last line is delivered even
// when it has no trailing newline. Lines are kept whole whatever their
// length (unless HubOptions.MaxLine asks otherwise). A slow subscriber never
// blocks the output path: its lines are dropped and it is told how many.
//
// Decisions:
//
//   - CRLF: a "\r" immediately before "\n" is removed; any other "\r"
//     (progress bars) stays in the line. An unterminated final line is
//     delivered as is.
//   - Console: "NAME-i | text", the label padded to the widest label of the
//     workers printing to the console; stderr lines use "!" instead of "|",
//     hsu's own notices (Emit with stream "hsu") use "*". Notices about the
//     worker as a whole (replica 0) are labelled "NAME".
//   - Text files: the line as printed. When the worker has more than one
//     replica (SetReplicas, or a writer or Emit for replica 2 or higher
//     was seen) each line is prefixed "[i] "; hsu's notices are prefixed
//     "hsu: ". Without SetReplicas, replica 1's lines from before that are
//     untagged: the hub cannot know the count any earlier.
//   - JSON files: one object per line: time (RFC 3339 with nanoseconds),
//     worker, replica, stream, line. JSON cannot carry invalid UTF-8, so
//     such bytes become U+FFFD there (text files and the console keep the
//     raw bytes).
//   - Rotation is done here rather than with lumberjack, whose size limit is
//     in whole megabytes and whose Close leaks a goroutine per logger
//     (natefinch/lumberjack#56). A file rotates before a line would make it
//     exceed max_size (in bytes; a single longer line goes alone into a fresh
//     file, lines are never split across files). Rotated files are named
//     like lumberjack's: NAME-2006-01-02T15-04-05.000.EXT (UTC), gzipped
//     to ....EXT.gz when compress is set. max_files and max_age prune them.
//     Compression and pruning run in a background goroutine that Close
//     waits for.
//   - Files are opened in append mode with mode 0640, parent directories
//     created with 0750. Writes go straight to the file (no user-space
//     buffer), so nothing is lost if hsu is killed.
//   - A worker that writes or emits before Configure gets the defaults:
//     console on, no file, a ring of DefaultBuffer lines.
package logs

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hsu-run/hsu/config"
)

// Streams.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
	// StreamHsu marks hsu's own lines: notices given to Emit and the
	// "... N lines dropped" line a subscriber receives.
	StreamHsu = "hsu"
)

// DefaultBuffer is the ring size of a worker that was never configured.
const DefaultBuffer = 1000

// ErrClosed is returned by Configure after Close.
var ErrClosed = errors.New("logs: hub closed")

// Line is one captured output line. Its JSON form is the JSON file format.
type Line struct {
	Time    time.Time `json:"time"`
	Worker  string    `json:"worker"`
	Replica int       `json:"replica"`
	Stream  string    `json:"stream"` // "stdout" | "stderr" | "hsu"
	Text    string    `json:"line"`   // without the trailing newline; any length
	// Seq numbers the lines the hub routed, in routing order (each
	// worker's lines in the order it printed them).
	Seq uint64 `json:"-"`
	// Dropped is set only on the synthetic line a subscriber receives after
	// it fell behind: the number of lines it missed at that point. Worker
	// is then the worker of the dropped lines, or "" when they were from
	// several.
	Dropped int `json:"dropped,omitempty"`
}

// HubOptions configures a Hub.
type HubOptions struct {
	// Color colours console labels; use ColorFor(os.Stdout).
	Color bool
	// Now stamps lines; time.Now when nil.
	Now func() time.Time
	// OnLine, when set, is called for every routed line, in order per
	// writer, after it has been routed (e.g. to spot ready_log_line). It
	// runs on the writer's goroutine, so it must be quick, and it must not
	// call Emit or write to the same worker's writers.
	OnLine func(Line)
	// OnError receives file errors (open, write, rotate, compress). When
	// nil they are printed to the console as "hsu: logs: ...", once per
	// failure streak of a file. It must not call back into the Hub.
	OnError func(error)
	// MaxLine, when > 0, splits longer lines into pieces of MaxLine bytes
	// (nothing is dropped); it bounds the memory a child printing without
	// newlines can make hsu use. 0 keeps lines whole whatever their size.
	MaxLine int
	// AsyncConsole writes the console from a goroutine of its own with a
	// queue of this many bytes, so a console that stops reading blocks
	// nothing (beyond the queue, console lines are dropped and counted;
	// Close waits up to 2 s to write the rest). 0: write synchronously.
	AsyncConsole int
}

// Hub routes lines: to the console, to per-worker files, to per-worker ring
// buffers, and to subscribers. It is safe for concurrent use.
//
// Lock order: Hub.mu, then worker.mu, then (fileSink.mu | Hub.subMu |
// Hub.conMu). Nothing that holds a later lock takes an earlier one.
type Hub struct {
	console io.Writer
	color   bool
	now     func() time.Time
	onLine  func(Line)
	onError func(error)
	maxLine int

	conMu sync.Mutex // serialises console writes
	async *asyncConsole

	mu      sync.RWMutex
	workers map[string]*worker
	files   map[string]*fileSink // by cleaned absolute path
	closed  bool
	width   atomic.Int64  // console label width
	seq     atomic.Uint64 // the last line's Seq
	lost    atomic.Uint64 // lines a file or the console could not take

	subMu     sync.RWMutex
	subs      []*subscription
	subClosed bool

	wg sync.WaitGroup // background goroutines: rotation mills, subscription pumps
}

// worker is the routing state of one worker. Fields marked (h+w) are
// written with both Hub.mu and worker.mu held, so either lock suffices to
// read them.
type worker struct {
	name  string
	color []byte // ANSI colour escape

	mu       sync.Mutex
	removed  bool      // (h+w)
	console  bool      // (h+w)
	format   string    // (h+w) "text" | "json"
	path     string    // (h+w)
	file     *fileSink // (h+w)
	replicas int       // (h+w)
	ring     ring      // (w)
	fbuf     []byte    // (w) scratch: file bytes
	fends    []int     // (w) scratch: line ends in fbuf
	cbuf     []byte    // (w) scratch: console bytes
}

// NewHub returns a Hub printing to console (nil: no console output).
func NewHub(console io.Writer, opts HubOptions) *Hub {
	h := &Hub{
		console: console, color: opts.Color, now: opts.Now, onLine: opts.OnLine,
		onError: opts.OnError, maxLine: opts.MaxLine,
		workers: map[string]*worker{}, files: map[string]*fileSink{},
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.console == nil {
		h.console = io.Discard
	}
	if opts.AsyncConsole > 0 {
		h.async = newAsyncConsole(h.console, opts.AsyncConsole)
		h.console = h.async
	}
	return h
}

func newWorker(name string) *worker {
	w := &worker{name: name, color: colorFor(name), console: true, format: "text", replicas: 1}
	w.ring.resize(DefaultBuffer)
	return w
}

// lookup returns the worker's state, creating a default one. Caller holds h.mu.
func (h *Hub) lookup(name string) *worker {
	w := h.workers[name]
	if w == nil {
		w = newWorker(name)
		h.workers[name] = w
		h.recomputeWidth()
	}
	return w
}

// recomputeWidth sets the console label width. Caller holds h.mu.
func (h *Hub) recomputeWidth() {
	width := 0
	for _, w := range h.workers {
		if !w.console {
			continue
		}
		n := labelWidth(w.name, w.replicas)
		width = max(width, n)
	}
	h.width.Store(int64(width))
}

// Configure (re)applies a worker's settings; it is called at start and on
// reload. A relative file path is made absolute against the current
// directory; "" means no file. When the file cannot be opened the other
// settings are still applied, the previous file (if any) is kept, and the
// error is returned.
func (h *Hub) Configure(worker string, cfg config.Logs) error {
	format := cfg.Format
	switch format {
	case "":
		format = "text"
	case "text", "json":
	default:
		return fmt.Errorf("logs: worker %s: unknown format %q (want text or json)", worker, cfg.Format)
	}
	path := ""
	if cfg.File != "" {
		abs, err := filepath.Abs(cfg.File)
		if err != nil {
			return fmt.Errorf("logs: worker %s: %w", worker, err)
		}
		path = filepath.Clean(abs)
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	w := h.lookup(worker)

	var err error
	sink, release := w.file, false
	switch {
	case path == w.path:
		if sink != nil {
			sink.setRotation(cfg.Rotate)
		}
	case path == "":
		sink, release = nil, true
	default:
		s, aerr := h.acquireFile(path, cfg.Rotate)
		if aerr != nil {
			// Keep writing where we did.
			err = fmt.Errorf("logs: worker %s: %w", worker, aerr)
			path = w.path
		} else {
			sink, release = s, true
		}
	}

	w.mu.Lock()
	old := w.file
	w.console = cfg.Console
	w.format = format
	w.path = path
	w.file = sink
	w.ring.resize(max(cfg.Buffer, 0))
	w.mu.Unlock()

	if release && old != nil {
		h.releaseFile(old)
	}
	h.recomputeWidth()
	return err
}

// SetReplicas tells the hub how many replicas a worker has: it widens the
// console labels and, above 1, tags text-file lines with "[i] ". A writer
// (or Emit) for a higher replica raises it too. Called before the first
// write, it is the only way replica 1's first lines get their tag.
func (h *Hub) SetReplicas(worker string, n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	w := h.lookup(worker)
	w.mu.Lock()
	w.replicas = max(n, 1)
	w.mu.Unlock()
	h.recomputeWidth()
}

// noteReplica raises a worker's replica count to at least r.
func (h *Hub) noteReplica(worker string, r int) {
	h.mu.RLock()
	w := h.workers[worker]
	known := w != nil && r <= w.replicas
	h.mu.RUnlock()
	if known {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	w = h.lookup(worker)
	if r <= w.replicas {
		return
	}
	w.mu.Lock()
	w.replicas = r
	w.mu.Unlock()
	h.recomputeWidth()
}

// Remove forgets a worker: its file is closed and its ring dropped. Lines
// that still arrive for it afterwards are routed with the defaults.
func (h *Hub) Remove(worker string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	w := h.workers[worker]
	if w == nil {
		return
	}
	delete(h.workers, worker)
	w.mu.Lock()
	w.removed = true
	old := w.file
	w.file, w.path = nil, ""
	w.mu.Unlock()
	if old != nil {
		h.releaseFile(old)
	}
	h.recomputeWidth()
}

// acquireFile returns the shared sink for path, opening it if needed, and
// applies rot to it. Caller holds h.mu.
func (h *Hub) acquireFile(path string, rot config.Rotate) (*fileSink, error) {
	if s := h.files[path]; s != nil {
		s.refs++
		s.setRotation(rot)
		return s, nil
	}
	s, err := openSink(h, path, rot)
	if err != nil {
		return nil, err
	}
	s.refs = 1
	h.files[path] = s
	return s, nil
}

// releaseFile drops one reference, closing the file with the last. Caller
// holds h.mu.
func (h *Hub) releaseFile(s *fileSink) {
	s.refs--
	if s.refs > 0 {
		return
	}
	if h.files[s.path] == s {
		delete(h.files, s.path)
	}
	if err := s.close(); err != nil {
		h.reportError(err)
	}
}

// Sync waits until every line routed so far is in its log file (file
// sinks write from goroutines of their own), for at most limit.
func (h *Hub) Sync(limit time.Duration) bool {
	h.mu.RLock()
	files := make([]*fileSink, 0, len(h.files))
	for _, s := range h.files { // order-free: each waited for
		files = append(files, s)
	}
	h.mu.RUnlock()
	deadline := time.Now().Add(limit)
	for _, s := range files {
		if !s.sync(time.Until(deadline)) {
			return false
		}
	}
	return true
}

// Writer returns an io.WriteCloser for one instance's stream. Bytes written
// are split into lines and routed; Close delivers a final line that has no
// newline. Write and Close may be called from any goroutine.
func (h *Hub) Writer(worker string, replica int, stream string) io.WriteCloser {
	if replica > 1 {
		h.noteReplica(worker, replica)
	}
	return &lineWriter{h: h, worker: worker, replica: replica, stream: stream}
}

// Copy drains r into Writer(worker, replica, stream) until EOF or a read
// error, then closes the writer. When it returns, every byte read has been
// routed. It returns the read error, or nil at EOF.
func (h *Hub) Copy(worker string, replica int, stream string, r io.Reader) error {
	w := h.Writer(worker, replica, stream)
	// Start small: most workers are quiet, and a hundred of them with two
	// streams each must stay cheap. Grow while reads fill the buffer.
	buf := make([]byte, 4<<10)
	var err error
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			w.Write(buf[:n]) // never fails before Close
			if n == len(buf) && len(buf) < 64<<10 {
				buf = make([]byte, 2*len(buf))
			}
		}
		if rerr != nil {
			if rerr != io.EOF {
				err = rerr
			}
			break
		}
	}
	w.Close()
	return err
}

// Emit routes one line, typically hsu's own notice about a worker
// ("restarting in 2s"). A zero Time is stamped with Now; an empty Stream
// becomes "hsu"; Text should hold no newline (it is routed as one line).
func (h *Hub) Emit(l Line) {
	if l.Stream == "" {
		l.Stream = StreamHsu
	}
	l.Dropped = 0
	if l.Replica > 1 {
		h.noteReplica(l.Worker, l.Replica)
	}
	h.route(l.Worker, []Line{l})
}

// route delivers lines of one worker to every destination. Lines with a
// zero Time are stamped. Per worker, the ring, subscribers, file and
// console all see lines in the same order.
func (h *Hub) route(name string, lines []Line) {
	var w *worker
	for {
		h.mu.RLock()
		w = h.workers[name]
		h.mu.RUnlock()
		if w == nil {
			h.mu.Lock()
			w = h.lookup(name)
			h.mu.Unlock()
		}
		w.mu.Lock()
		if !w.removed {
			break
		}
		w.mu.Unlock()
	}
	now := h.now()
	for i := range lines {
		if lines[i].Time.IsZero() {
			lines[i].Time = now
		}
		lines[i].Seq = h.seq.Add(1)
	}
	for i := range lines {
		w.ring.push(lines[i])
	}
	h.publish(lines)

	var ferr error
	if w.file != nil {
		w.fbuf, w.fends = w.fbuf[:0], w.fends[:0]
		for i := range lines {
			w.fbuf = appendFile(w.fbuf, w, &lines[i])
			w.fends = append(w.fends, len(w.fbuf))
		}
		ferr = w.file.write(w.fbuf, w.fends)
		w.fbuf = shrink(w.fbuf)
	}
	if w.console {
		width := int(h.width.Load())
		w.cbuf = w.cbuf[:0]
		for i := range lines {
			w.cbuf = appendConsole(w.cbuf, w, &lines[i], width, h.color)
		}
		h.conMu.Lock()
		h.console.Write(w.cbuf)
		h.conMu.Unlock()
		w.cbuf = shrink(w.cbuf)
	}
	w.mu.Unlock()

	if ferr != nil {
		h.reportError(ferr)
	}
	if h.onLine != nil {
		for _, l := range lines {
			h.onLine(l)
		}
	}
}

// shrink drops a scratch buffer that grew for an unusually large batch.
func shrink(b []byte) []byte {
	if cap(b) > 256<<10 {
		return nil
	}
	return b
}

// Dropped is the number of lines lost so far: not written to a failing
// log file, or beyond the console's queue. (A subscriber that falls behind
// is told its own losses in place.)
func (h *Hub) Dropped() uint64 {
	n := h.lost.Load()
	if h.async != nil {
		n += h.async.droppedTotal.Load()
	}
	return n
}

func (h *Hub) reportError(err error) {
	if h.onError != nil {
		h.onError(err)
		return
	}
	h.conMu.Lock()
	fmt.Fprintf(h.console, "hsu: logs: %v\n", err)
	h.conMu.Unlock()
}

// Tail returns the last n buffered lines of the given workers (all when
// empty; n <= 0: all buffered), oldest first, merged by time.
func (h *Hub) Tail(workers []string, n int) []Line {
	h.mu.RLock()
	var ws []*worker
	if len(workers) == 0 {
		for _, w := range h.workers {
			ws = append(ws, w)
		}
		slices.SortFunc(ws, func(a, b *worker) int {
			if a.name < b.name {
				return -1
			}
			if a.name > b.name {
				return 1
			}
			return 0
		})
	} else {
		seen := map[string]bool{}
		for _, name := range workers {
			if w := h.workers[name]; w != nil && !seen[name] {
				seen[name] = true
				ws = append(ws, w)
			}
		}
	}
	h.mu.RUnlock()

	lists := make([][]Line, 0, len(ws))
	for _, w := range ws {
		w.mu.Lock()
		if l := w.ring.last(n); len(l) > 0 {
			lists = append(lists, l)
		}
		w.mu.Unlock()
	}
	out := mergeByTime(lists)
	if n > 0 && len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// mergeByTime merges lists that are each in order into one list ordered by
// time, keeping each list's order and, on equal times, the lists' order.
func mergeByTime(lists [][]Line) []Line {
	switch len(lists) {
	case 0:
		return nil
	case 1:
		return lists[0]
	}
	total := 0
	for _, l := range lists {
		total += len(l)
	}
	out := make([]Line, 0, total)
	pos := make([]int, len(lists))
	for len(out) < total {
		best := -1
		for i, l := range lists {
			if pos[i] == len(l) {
				continue
			}
			if best < 0 || l[pos[i]].Time.Before(lists[best][pos[best]].Time) {
				best = i
			}
		}
		out = append(out, lists[best][pos[best]])
		pos[best]++
	}
	return out
}

// Close flushes and closes every file, ends every subscription (closing
// its channel) and waits for the hub's goroutines. Writers keep working
// afterwards, for the console and the rings only.
func (h *Hub) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	for _, w := range h.workers {
		w.mu.Lock()
		w.file, w.path = nil, ""
		w.mu.Unlock()
	}
	files := h.files
	h.files = map[string]*fileSink{}
	h.mu.Unlock()

	h.subMu.Lock()
	h.subClosed = true
	subs := h.subs
	h.subs = nil
	h.subMu.Unlock()
	for _, s := range subs {
		s.stop()
	}

	var errs []error
	for _, s := range files {
		if err := s.close(); err != nil {
			errs = append(errs, err)
		}
	}
	h.wg.Wait()
	if h.async != nil {
		h.async.close(2 * time.Second)
	}
	return errors.Join(errs...)
}
