package logs

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hsu-run/hsu/config"
)

// backupLayout is the time stamp in rotated file names, as lumberjack's.
const backupLayout = "2006-01-02T15-04-05.000"

// fileSink is one open log file, shared by every worker configured to
// write to its path. Writes are serialised by mu.
type fileSink struct {
	h    *Hub
	path string
	refs int // under Hub.mu

	mu         sync.Mutex
	f          *os.File // nil after a failed reopen; retried on the next write
	size       int64
	rot        config.Rotate
	closed     bool
	failing    bool      // an error was reported and nothing has succeeded since
	lost       int       // lines lost in this failure streak
	lastBackup time.Time // name stamp of the newest rotated file
	milling    bool      // a mill goroutine is running
	millAgain  bool      // settings or backups changed while it ran
	retryAt    int64     // after a failed rotation: size at which to try again

	// The queue of lines for the file, written by the sink's own
	// goroutine (writer): a file on a stalled disk holds up neither the
	// output loop every instance shares nor any exit report, until
	// fileQueueMax bytes wait (then its workers' lines wait: nothing is
	// dropped).
	qmu     sync.Mutex
	qcond   sync.Cond // qmu: the queue shrank, or the writer stopped
	queue   []queuedWrite
	qbytes  int
	writing bool // a writer goroutine runs
}

// queuedWrite is a batch of whole lines and their end offsets.
type queuedWrite struct {
	b    []byte
	ends []int
}

// fileQueueMax is how much a file sink queues before writers wait.
const fileQueueMax = 8 << 20

// write queues lines (b, with ends their end offsets) for the file; its
// errors go to the hub's error report.
func (s *fileSink) write(b []byte, ends []int) error {
	s.qmu.Lock()
	for s.qbytes > 0 && s.qbytes+len(b) > fileQueueMax {
		s.qcond.Wait()
	}
	s.queue = append(s.queue, queuedWrite{append([]byte(nil), b...), append([]int(nil), ends...)})
	s.qbytes += len(b)
	if !s.writing {
		s.writing = true
		go s.writer()
	}
	s.qmu.Unlock()
	return nil
}

// writer writes the queue to the file until it is empty.
func (s *fileSink) writer() {
	for {
		s.qmu.Lock()
		batch := s.queue
		s.queue = nil
		if len(batch) == 0 {
			s.writing = false
			s.qcond.Broadcast()
			s.qmu.Unlock()
			return
		}
		s.qmu.Unlock()
		for _, q := range batch {
			if err := s.writeNow(q.b, q.ends); err != nil {
				s.h.reportError(err)
			}
			s.qmu.Lock()
			s.qbytes -= len(q.b)
			s.qcond.Broadcast()
			s.qmu.Unlock()
		}
	}
}

// sync waits until everything queued is in the file, or limit passes
// (a stalled disk); it reports whether the queue emptied.
func (s *fileSink) sync(limit time.Duration) bool {
	done := make(chan struct{})
	go func() {
		s.qmu.Lock()
		for s.writing {
			s.qcond.Wait()
		}
		s.qmu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(limit):
		return false
	}
}

func openSink(h *Hub, path string, rot config.Rotate) (*fileSink, error) {
	s := &fileSink{h: h, path: path, rot: rot}
	s.qcond.L = &s.qmu
	if err := s.open(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.triggerMill()
	s.mu.Unlock()
	return s, nil
}

// open opens (creating) the file for appending. Caller holds mu or owns s.
func (s *fileSink) open() error {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o750); err != nil {
		return err
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	s.f, s.size = f, st.Size()
	return nil
}

func (s *fileSink) setRotation(rot config.Rotate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rot == rot {
		return
	}
	s.rot = rot
	s.triggerMill()
}

// write appends b, whose lines end at the offsets in ends (the last one is
// len(b)). When a rotation size is set, the file rotates before a line that
// would take it past the size; a line longer than the size goes alone into
// a fresh file. It returns the first error of a failure streak, nil else.
func (s *fileSink) writeNow(b []byte, ends []int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if s.f == nil {
		if err := s.open(); err != nil {
			return s.fail(err)
		}
	}
	limit := int64(s.rot.MaxSize)
	if s.size < s.retryAt {
		limit = 0
	}
	base := 0
	for base < len(b) {
		n := len(b) - base
		if limit > 0 {
			room := limit - s.size
			n = 0
			for _, e := range ends {
				if e <= base {
					continue
				}
				if int64(e-base) > room {
					break
				}
				n = e - base
			}
			if n == 0 {
				if s.size > 0 {
					if err := s.rotate(); err != nil {
						if s.f == nil {
							return s.fail(err)
						}
						// Could not rotate: keep appending to the old file
						// and try again after another limit's worth.
						s.report(err)
						s.retryAt = s.size + limit
						limit = 0
					}
					continue
				}
				// One line larger than the limit, into the empty file.
				for _, e := range ends {
					if e > base {
						n = e - base
						break
					}
				}
			}
		}
		w, err := s.f.Write(b[base : base+n])
		s.size += int64(w)
		if err != nil {
			// The lines not (wholly) written are lost: counted, and said
			// when the file works again.
			lost := 0
			for _, e := range ends {
				if e > base+w {
					lost++
				}
			}
			s.lost += lost
			s.h.lost.Add(uint64(lost))
			return s.fail(fmt.Errorf("write %s: %w", s.path, err))
		}
		base += n
	}
	if s.failing && s.lost > 0 {
		s.h.reportError(fmt.Errorf("%s works again; %d lines were lost while it failed", s.path, s.lost))
	}
	s.failing, s.lost = false, 0
	return nil
}

// fail returns err if it starts a failure streak, nil if one is on.
func (s *fileSink) fail(err error) error {
	if s.failing {
		return nil
	}
	s.failing = true
	return err
}

// report hands an error to the hub now (caller holds mu; reportError only
// takes the console lock or calls OnError, which must not call back).
func (s *fileSink) report(err error) {
	if err = s.fail(err); err != nil {
		s.h.reportError(err)
	}
}

// rotate renames the file to its backup name and opens a new one. If the
// rename fails the old file is reopened and an error returned; if even
// that fails s.f is nil.
func (s *fileSink) rotate() error {
	if err := s.f.Close(); err != nil {
		s.f = nil
		return err
	}
	s.f = nil
	name := s.backupName()
	rerr := os.Rename(s.path, name)
	if err := s.open(); err != nil {
		return errors.Join(rerr, err)
	}
	if rerr != nil {
		return fmt.Errorf("rotate %s: %w", s.path, rerr)
	}
	s.triggerMill()
	return nil
}

// backupName returns an unused name stamped with the current time (made
// later than the previous backup's, so the order of names is the order of
// rotations even with a coarse or frozen clock).
func (s *fileSink) backupName() string {
	t := s.h.now().UTC().Truncate(time.Millisecond)
	if !t.After(s.lastBackup) {
		t = s.lastBackup.Add(time.Millisecond)
	}
	prefix, ext := splitExt(s.path)
	for {
		name := prefix + "-" + t.Format(backupLayout) + ext
		if !exists(name) && !exists(name+".gz") {
			s.lastBackup = t
			return name
		}
		t = t.Add(time.Millisecond)
	}
}

func exists(name string) bool {
	_, err := os.Lstat(name)
	return err == nil
}

func splitExt(path string) (prefix, ext string) {
	ext = filepath.Ext(path)
	return path[:len(path)-len(ext)], ext
}

// triggerMill starts compression and pruning of backups in the background
// if the settings ask for any. Caller holds mu.
func (s *fileSink) triggerMill() {
	if s.closed || (s.rot.MaxFiles == 0 && s.rot.MaxAge == 0 && !s.rot.Compress) {
		return
	}
	if s.milling {
		s.millAgain = true
		return
	}
	s.milling = true
	s.h.wg.Add(1)
	go s.mill()
}

func (s *fileSink) mill() {
	defer s.h.wg.Done()
	for {
		s.mu.Lock()
		rot := s.rot
		s.millAgain = false
		s.mu.Unlock()
		if err := millOnce(s.path, rot, s.h.now()); err != nil {
			s.h.reportError(err)
		}
		s.mu.Lock()
		again := s.millAgain // even when closed: Close waits for the last pass
		if !again {
			s.milling = false
		}
		s.mu.Unlock()
		if !again {
			return
		}
	}
}

type backup struct {
	name string // without .gz
	t    time.Time
	gz   bool // only the .gz exists
}

// backups lists the rotated files of path, newest first.
func backups(path string) ([]backup, error) {
	dir := filepath.Dir(path)
	prefix, ext := splitExt(filepath.Base(path))
	prefix += "-"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	byName := map[string]*backup{}
	var list []*backup
	for _, e := range entries {
		n := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(n, prefix) {
			continue
		}
		if strings.HasSuffix(n, ext+".gz.tmp") {
			os.Remove(filepath.Join(dir, n)) // left by an interrupted compression
			continue
		}
		gz := strings.HasSuffix(n, ext+".gz")
		stem := strings.TrimSuffix(n, ".gz")
		if !strings.HasSuffix(stem, ext) {
			continue
		}
		t, err := time.Parse(backupLayout, stem[len(prefix):len(stem)-len(ext)])
		if err != nil {
			continue
		}
		full := filepath.Join(dir, stem)
		if b := byName[full]; b != nil {
			// Both exist: the .gz is complete (it is renamed into place),
			// the original just was not removed yet.
			os.Remove(full)
			b.gz = true
			continue
		}
		b := &backup{name: full, t: t, gz: gz}
		byName[full] = b
		list = append(list, b)
	}
	out := make([]backup, len(list))
	for i, b := range list {
		out[i] = *b
	}
	slices.SortFunc(out, func(a, b backup) int { return b.t.Compare(a.t) })
	return out, nil
}

// millOnce removes backups beyond max_files or older than max_age and
// gzips the others when compress is set.
func millOnce(path string, rot config.Rotate, now time.Time) error {
	list, err := backups(path)
	if err != nil {
		return err
	}
	var errs []error
	for i, b := range list {
		old := rot.MaxAge > 0 && b.t.Before(now.Add(-rot.MaxAge.D()))
		if (rot.MaxFiles > 0 && i >= rot.MaxFiles) || old {
			name := b.name
			if b.gz {
				name += ".gz"
			}
			if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		if rot.Compress && !b.gz {
			if err := compress(b.name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// compress gzips name to name.gz (through a temporary file renamed into
// place) and removes name.
func compress(name string) (err error) {
	src, err := os.Open(name)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp := name + ".gz.tmp"
	dst, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			dst.Close()
			os.Remove(tmp)
		}
	}()
	zw := gzip.NewWriter(dst)
	if _, err = io.Copy(zw, src); err != nil {
		return fmt.Errorf("compress %s: %w", name, err)
	}
	if err = zw.Close(); err != nil {
		return fmt.Errorf("compress %s: %w", name, err)
	}
	if err = dst.Close(); err != nil {
		return fmt.Errorf("compress %s: %w", name, err)
	}
	if err = os.Rename(tmp, name+".gz"); err != nil {
		return err
	}
	src.Close()
	return os.Remove(name)
}

// close closes the file; a running mill is waited for by Hub.Close.
func (s *fileSink) close() error {
	if !s.sync(5 * time.Second) {
		// The writer still holds the file (and mu) in a write that does
		// not return: leave both to it.
		s.h.reportError(fmt.Errorf("%s: lines still unwritten after 5 s (a stalled disk?): given up", s.path))
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}
