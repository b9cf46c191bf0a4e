package statefile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hsu-run/hsu/engine"
)

func stateWith(gen uint64) *stateFile {
	return &stateFile{Version: stateVersion, BootID: "b", Saved: engine.Saved{NextGen: gen}, Starts: map[string]int64{}}
}

func TestStateStore(t *testing.T) {
	tests := []struct {
		name    string
		writes  int // states written, NextGen 1..writes
		damage  func(t *testing.T, s *Store)
		want    uint64 // NextGen read back; 0: no state
		wantErr string
		damaged []string // what Damage must report, by substring, in slot order
	}{
		{name: "nothing written", want: 0},
		{name: "one write", writes: 1, want: 1},
		{name: "newest of many", writes: 5, want: 5},
		{name: "both slots overwritten with random bytes", writes: 4, want: 0, damaged: []string{"state.0: ", "state.1: "}, damage: func(t *testing.T, s *Store) {
			for i := range 2 {
				os.WriteFile(s.slotPath(i), []byte("\x8f\x01garbage\nmore garbage"), 0o600)
			}
		}},
		{name: "truncated newest slot", writes: 3, want: 2, damaged: []string{"state.1: truncated"}, damage: func(t *testing.T, s *Store) {
			b, _ := os.ReadFile(s.slotPath(1))
			os.WriteFile(s.slotPath(1), b[:strings.IndexByte(string(b), '\n')+5], 0o600)
		}},
		{name: "torn newest write falls back to the one before", writes: 5, want: 4, damaged: []string{"state.1: checksum mismatch"}, damage: func(t *testing.T, s *Store) {
			// Slot of seq 5: a crash mid-write left the old bytes at
			// the end of its body.
			p := s.slotPath(1)
			b, _ := os.ReadFile(p)
			_, body, why := parseSlot(b)
			ok := why == ""
			if !ok {
				t.Fatal("slot unreadable before the damage")
			}
			end := strings.IndexByte(string(b), '\n') + 1 + len(body)
			copy(b[end-10:end], "xxxxxxxxxx")
			os.WriteFile(p, b, 0o600)
		}},
		{name: "flipped byte fails the checksum", writes: 2, want: 1, damaged: []string{"state.0: checksum mismatch"}, damage: func(t *testing.T, s *Store) {
			p := s.slotPath(0)
			b, _ := os.ReadFile(p)
			_, body, _ := parseSlot(b)
			end := strings.IndexByte(string(b), '\n') + 1 + len(body)
			b[end-3] ^= 0x20
			os.WriteFile(p, b, 0o600)
		}},
		{name: "shorter state over a longer one", writes: 3, want: 3, damage: nil},
		{name: "legacy state.json", want: 7, damage: func(t *testing.T, s *Store) {
			b, _ := json.Marshal(stateWith(7))
			os.WriteFile(s.legacyPath(), b, 0o600)
		}},
		{name: "other version", wantErr: "version 99", damage: func(t *testing.T, s *Store) {
			st := stateWith(1)
			st.Version = 99
			s.write(st)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := Open(dir)
			for i := 1; i <= tt.writes; i++ {
				st := stateWith(uint64(i))
				if i == 1 { // a long first state, overwritten in place by shorter ones
					st.BootID = strings.Repeat("x", 4096)
				}
				if err := s.write(st); err != nil {
					t.Fatal(err)
				}
			}
			if tt.damage != nil {
				tt.damage(t, s)
			}
			r := Open(dir)
			st, _, err := r.read()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := uint64(0)
			if st != nil {
				got = st.Saved.NextGen
			}
			if got != tt.want {
				t.Fatalf("read NextGen %d, want %d", got, tt.want)
			}
			dmg := r.Damage()
			if len(dmg) != len(tt.damaged) {
				t.Fatalf("damage %q, want %d entries like %q", dmg, len(tt.damaged), tt.damaged)
			}
			for i, want := range tt.damaged {
				if !strings.Contains(dmg[i], want) {
					t.Errorf("damage[%d] = %q, want it to say %q", i, dmg[i], want)
				}
			}
			// Writes continue the sequence: the next one wins.
			if err := r.write(stateWith(100)); err != nil {
				t.Fatal(err)
			}
			if st, _, _ := Open(dir).read(); st == nil || st.Saved.NextGen != 100 {
				t.Fatalf("write after read is not the newest: %+v", st)
			}
			r.remove()
			if m, _ := filepath.Glob(filepath.Join(dir, "state*")); len(m) != 0 {
				t.Fatalf("remove left %v", m)
			}
		})
	}
}
