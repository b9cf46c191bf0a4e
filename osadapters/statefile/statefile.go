// Package statefile keeps hsu's state file on disk: the driver's State
// in two checksummed slots written in place. It knows nothing of
// processes; the driver decides what goes in and when.
package statefile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"

	"github.com/hsu-run/hsu/driver"
)

type stateFile = driver.State

const stateVersion = driver.StateVersion

// Store keeps the state file as two slots, state.0 and state.1,
// written in place in turn, each a header line "hsu-state SEQ LEN CRC32"
// and LEN bytes of JSON. The reader takes the valid slot with the highest
// sequence number. A write that an hsu crash tears fails its checksum, and
// the other slot is then exactly the state before that write (the write
// precedes the action it records). Unlike a temp file renamed over the
// old one, this creates no inode per write: on ext4 the inode churn of
// two writes per restart was a millisecond of every restart.
//
// No fsync: the file is trusted only within the boot that wrote it (boot
// id), and an hsu crash cannot lose what write(2) has returned.
type Store struct {
	damage []string // of the last read
	dir    string
	seq    uint64
	slots  [2]*os.File
	// reserved is the size both slots are preallocated to: a write that
	// fits never needs a block from the filesystem, so a disk that fills
	// up after the start cannot fail it. lastLen and lastInstances are
	// of the last write, to size the room a scale-up needs (Reserve).
	reserved      int64
	lastLen       int
	lastInstances int
}

// minReserve is the least room a slot is preallocated with: a state
// with a few dozen instances.
const minReserve = 16 << 10

// Open returns the store of the state dir dir (nothing is read yet).
func Open(dir string) *Store { return &Store{dir: dir} }

func (s *Store) slotPath(i int) string {
	return filepath.Join(s.dir, fmt.Sprintf("state.%d", i))
}

// legacyPath is where hsu before the slots kept its state (read only).
func (s *Store) legacyPath() string { return filepath.Join(s.dir, "state.json") }

// write stores st in the older slot.
func (s *Store) write(st *stateFile) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	// The sequence advances only once a slot is written: after a failed
	// write (a full disk) the next one retries the same, already torn,
	// slot and the other keeps the last good state.
	seq := s.seq + 1
	i := int(seq % 2)
	buf := fmt.Appendf(nil, "hsu-state %d %d %08x\n", seq, len(b), crc32.ChecksumIEEE(b))
	buf = append(buf, b...)
	if int64(len(buf)) > s.reserved {
		// Grown ahead of need, for both slots; if the disk has no room
		// for that, the write below may still fit.
		s.reserve(2 * int64(len(buf)))
	}
	f, err := s.slot(i)
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if _, err := f.WriteAt(buf, 0); err != nil {
		return fmt.Errorf("write state %s: %w", s.slotPath(i), err)
	}
	s.seq = seq
	s.lastLen, s.lastInstances = len(buf), len(st.Saved.Instances)
	return nil
}

// slot opens slot i for writing.
func (s *Store) slot(i int) (*os.File, error) {
	if s.slots[i] == nil {
		f, err := os.OpenFile(s.slotPath(i), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		s.slots[i] = f
	}
	return s.slots[i], nil
}

// reserve preallocates both slots to at least size bytes.
func (s *Store) reserve(size int64) error {
	size = max(size, minReserve)
	if size <= s.reserved {
		return nil
	}
	for i := range 2 {
		f, err := s.slot(i)
		if err == nil {
			err = preallocate(f, size)
		}
		if err != nil {
			return fmt.Errorf("reserve %d bytes for %s: %w", size, s.slotPath(i), err)
		}
	}
	s.reserved = size
	return nil
}

// Reserve makes room in the state file for extra more instances than
// the last write named, with as much again to spare, before hsu starts
// them: a scale-up that cannot have that room is refused instead of
// making later writes fail.
func (s *Store) Reserve(extra int) error {
	per := 256 // bytes per instance before anything is written
	if s.lastInstances > 0 {
		per = max(per, s.lastLen/s.lastInstances+64)
	}
	return s.reserve(2 * int64(s.lastLen+extra*per))
}

// preallocate makes f at least size bytes, with its blocks allocated:
// where the filesystem cannot allocate ahead (fallocate), by writing
// zeros, which the slot's length header makes the reader ignore.
func preallocate(f *os.File, size int64) error {
	err := fallocate(f, size)
	if err == nil {
		return nil
	}
	if !errors.Is(err, errNoFallocate) {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() >= size {
		return nil
	}
	_, err = f.WriteAt(make([]byte, size-fi.Size()), fi.Size())
	return err
}

// read returns the newest valid state, nil if there is none; later
// writes continue its sequence.
func (s *Store) read() (*stateFile, string, error) {
	var best []byte
	var bestSeq uint64
	bestPath := ""
	s.damage = s.damage[:0]
	for i := range 2 {
		b, err := os.ReadFile(s.slotPath(i))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			s.damage = append(s.damage, fmt.Sprintf("%s: %v", s.slotPath(i), err))
			continue
		}
		if len(b) == 0 || b[0] == 0 {
			continue // reserved, never written
		}
		seq, body, why := parseSlot(b)
		if why != "" {
			s.damage = append(s.damage, fmt.Sprintf("%s: %s", s.slotPath(i), why))
			continue
		}
		if best == nil || seq > bestSeq {
			best, bestSeq, bestPath = body, seq, s.slotPath(i)
		}
	}
	if best == nil {
		b, err := os.ReadFile(s.legacyPath())
		if errors.Is(err, os.ErrNotExist) {
			return nil, "", nil
		}
		if err != nil {
			return nil, "", fmt.Errorf("read state: %w", err)
		}
		best, bestPath = b, s.legacyPath()
	}
	s.seq = bestSeq
	var st stateFile
	if err := json.Unmarshal(best, &st); err != nil {
		return nil, bestPath, fmt.Errorf("read state %s: %w", bestPath, err)
	}
	if st.Version != stateVersion {
		return nil, bestPath, fmt.Errorf("read state %s: version %d, this hsu reads %d", bestPath, st.Version, stateVersion)
	}
	return &st, bestPath, nil
}

// parseSlot checks a slot's header and checksum; why says what is wrong
// with a slot that fails ("" for a good one).
func parseSlot(b []byte) (seq uint64, body []byte, why string) {
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return 0, nil, fmt.Sprintf("no header line (%d bytes)", len(b))
	}
	var n int
	var sum uint32
	if _, err := fmt.Sscanf(string(b[:nl]), "hsu-state %d %d %x", &seq, &n, &sum); err != nil {
		return 0, nil, fmt.Sprintf("bad header %q", truncate(b[:nl], 40))
	}
	body = b[nl+1:]
	switch {
	case n < 0 || n > len(body):
		return 0, nil, fmt.Sprintf("truncated: %d of %d bytes", len(body), n)
	case crc32.ChecksumIEEE(body[:n]) != sum:
		return 0, nil, "checksum mismatch (a torn or damaged write)"
	}
	return seq, body[:n], ""
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// Damage lists the slots the last Read found unreadable and why: hsu
// reports them, with what it does instead.
func (s *Store) Damage() []string { return s.damage }

// remove deletes the state (a clean shutdown leaves nothing to adopt).
func (s *Store) remove() {
	for i, f := range s.slots {
		if f != nil {
			f.Close()
			s.slots[i] = nil
		}
		os.Remove(s.slotPath(i))
	}
	os.Remove(s.legacyPath())
}

var _ driver.Store = (*Store)(nil)

// Read, Write and Remove make the store the driver's (driver.Store).
func (s *Store) Read() (*driver.State, string, error)   { return s.read() }
func (s *Store) Write(build func() *driver.State) error { return s.write(build()) }
func (s *Store) Remove()                                { s.remove() }
