package fuzz

import (
	"slices"
	"strings"
	"testing"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/engine"
)

// truthStep is one input to liveTruth: an event the harness feeds, or an
// action the engine emits (whichever has a Kind).
type truthStep struct {
	fed  engine.Event
	emit engine.Action
}

func emit(k engine.ActionKind, h engine.Handle) truthStep {
	return truthStep{emit: engine.Action{Kind: k, H: h}}
}

func feed(k engine.EventKind, h engine.Handle) truthStep {
	return truthStep{fed: engine.Event{Kind: k, H: h}}
}

func feedOK(k engine.EventKind, h engine.Handle, ok bool) truthStep {
	return truthStep{fed: engine.Event{Kind: k, H: h, OK: ok}}
}

// TestLiveTruth holds the checker to the engine's entitlements: what ends
// an instance (an exit, a failed spawn, a completed kill the engine asked
// for) lets the replica spawn again; anything else leaves it alive or in
// flight, and the next spawn of that replica is reported.
func TestLiveTruth(t *testing.T) {
	api := func(replica int, gen uint64) engine.Handle {
		return engine.Handle{Worker: "api", Replica: replica, Gen: gen}
	}
	legacy := func(gen uint64) engine.Handle { return engine.Handle{Worker: "legacy", Replica: 1, Gen: gen} }
	h1, h2 := api(1, 1), api(1, 2)
	doneKill := truthStep{fed: engine.Event{Kind: engine.EvDone, H: h1, Done: engine.ActKill}}
	doneSignal := truthStep{fed: engine.Event{Kind: engine.EvDone, H: h1, Done: engine.ActSignal}}
	tests := []struct {
		name  string
		steps []truthStep
		want  string // substring of the error at the last step; "" for none
	}{
		// What the engine is entitled to.
		{"respawn after exit", []truthStep{emit(engine.ActSpawn, h1), feed(engine.EvSpawned, h1), feed(engine.EvExited, h1), emit(engine.ActSpawn, h2)}, ""},
		{"respawn after failed spawn", []truthStep{emit(engine.ActSpawn, h1), feed(engine.EvSpawnFailed, h1), emit(engine.ActSpawn, h2)}, ""},
		{"respawn after a requested kill completed", []truthStep{emit(engine.ActSpawn, h1), feed(engine.EvSpawned, h1), emit(engine.ActKill, h1), doneKill, emit(engine.ActSpawn, h2)}, ""},
		{"late answer after a failed spawn revives nothing", []truthStep{emit(engine.ActSpawn, h1), feed(engine.EvSpawnFailed, h1), feed(engine.EvSpawned, h1), emit(engine.ActSpawn, h2)}, ""},
		{"spawned then adopted-failed: the first answer counts", []truthStep{emit(engine.ActSpawn, h1), feed(engine.EvSpawned, h1), feedOK(engine.EvAdopted, h1, false), feed(engine.EvExited, h1), emit(engine.ActSpawn, h2)}, ""},
		{"other replicas are independent", []truthStep{emit(engine.ActSpawn, h1), feed(engine.EvSpawned, h1), emit(engine.ActSpawn, api(2, 2))}, ""},
		{"adopt after failed adopt", []truthStep{emit(engine.ActAdopt, legacy(1)), feedOK(engine.EvAdopted, legacy(1), false), emit(engine.ActAdopt, legacy(2))}, ""},
		{"adopt after the adopted process exited", []truthStep{emit(engine.ActAdopt, legacy(1)), feedOK(engine.EvAdopted, legacy(1), true), feed(engine.EvExited, legacy(1)), emit(engine.ActAdopt, legacy(2))}, ""},

		// What it is not.
		{"respawn while alive", []truthStep{emit(engine.ActSpawn, h1), feed(engine.EvSpawned, h1), emit(engine.ActSpawn, h2)}, "generation 1 is alive"},
		{"respawn while the spawn is in flight", []truthStep{emit(engine.ActSpawn, h1), emit(engine.ActSpawn, h2)}, "generation 1 is in flight"},
		{"exit before the spawn answer is ignored", []truthStep{emit(engine.ActSpawn, h1), feed(engine.EvExited, h1), feed(engine.EvSpawned, h1), emit(engine.ActSpawn, h2)}, "generation 1 is alive"},
		{"exit of another generation", []truthStep{emit(engine.ActSpawn, h1), feed(engine.EvSpawned, h1), feed(engine.EvExited, api(1, 7)), emit(engine.ActSpawn, h2)}, "generation 1 is alive"},
		{"exit of another replica", []truthStep{emit(engine.ActSpawn, h1), feed(engine.EvSpawned, h1), feed(engine.EvExited, api(2, 1)), emit(engine.ActSpawn, h2)}, "generation 1 is alive"},
		{"kill asked, not completed", []truthStep{emit(engine.ActSpawn, h1), feed(engine.EvSpawned, h1), emit(engine.ActKill, h1), emit(engine.ActSpawn, h2)}, "generation 1 is alive"},
		{"kill completion nobody asked for", []truthStep{emit(engine.ActSpawn, h1), feed(engine.EvSpawned, h1), doneKill, emit(engine.ActSpawn, h2)}, "generation 1 is alive"},
		{"stop signal delivered is not an exit", []truthStep{emit(engine.ActSpawn, h1), feed(engine.EvSpawned, h1), emit(engine.ActSignal, h1), doneSignal, emit(engine.ActSpawn, h2)}, "generation 1 is alive"},
		{"adopt while adopted", []truthStep{emit(engine.ActAdopt, legacy(1)), feedOK(engine.EvAdopted, legacy(1), true), emit(engine.ActAdopt, legacy(2))}, "generation 1 is alive"},
		{"spawn while adopting", []truthStep{emit(engine.ActAdopt, legacy(1)), emit(engine.ActSpawn, legacy(2))}, "generation 1 is in flight"},
		{"spawn sent twice", []truthStep{emit(engine.ActSpawn, h1), emit(engine.ActSpawn, h1)}, "reuses generation 1, which is in flight"},
		{"generation reused after exit", []truthStep{emit(engine.ActSpawn, h1), feed(engine.EvSpawned, h1), feed(engine.EvExited, h1), emit(engine.ActSpawn, h1)}, "reuses generation 1, which is gone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lt := newLiveTruth()
			var err error
			at := -1
			for i, st := range tt.steps {
				if st.fed.Kind != 0 {
					lt.fed(st.fed)
				}
				if st.emit.Kind != 0 {
					if err = lt.emitted(st.emit); err != nil {
						at = i
						break
					}
				}
			}
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("reported a legitimate spawn: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("not reported, want %q", tt.want)
			case tt.want != "" && (at != len(tt.steps)-1 || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("step %d of %d reported %q, want %q at the last", at, len(tt.steps), err, tt.want)
			}
		})
	}
}

// respawnOn plays an engine that, besides its own actions, spawns a new
// instance of ev.H's replica after each event that matches: a duplicate
// the harness must catch when it runs the real engine's actions through
// the same checks as the fuzz target.
func respawnOn(match func(engine.Event) bool) tamper {
	return func(ev engine.Event, acts []engine.Action) []engine.Action {
		if !match(ev) {
			return acts
		}
		h := ev.H
		h.Gen += 1000 // a generation the engine has not used
		// Clone: the engine reuses its action slice on the next step.
		return append(slices.Clone(acts), engine.Action{Kind: engine.ActSpawn, H: h})
	}
}

// TestEngineRunCatchesSabotage proves FuzzEngineEvents' duplicate check
// can fire: the real engine, with a tampered action stream, fails the same
// engineRun the fuzz target calls, and the honest engine passes it.
func TestEngineRunCatchesSabotage(t *testing.T) {
	cfg, err := config.Parse("fuzz.yaml", []byte(engineConfig), fuzzOptions())
	if err != nil {
		t.Fatal(err)
	}
	// The stream spawns db-1 (generation 1), exits it, fires its back-off
	// timer and answers the new spawn (generation 4): every event of a
	// restart. With the handles as engineRun picks them: after EvStart the
	// engine named db 1 and legacy 2, then job 3 once db started.
	restart := []byte{
		0, 1, 1, 5, // EvSpawned for db-1 gen 1
		2, 1, 2, 1, // EvExited for db-1 gen 1, code 1: back-off
		3, 0, 0, 2, // EvTimer: the last timer armed, the back-off
		0, 0, 0, 5, // EvSpawned for db-1 gen 4
	}
	unaskedKill := []byte{
		0, 1, 1, 5, // EvSpawned for db-1 gen 1
		10, 1, 2, 0, // EvDone of an ActKill for db-1 gen 1 the engine never sent
	}
	dup := func(ev engine.Event, acts []engine.Action) []engine.Action {
		var out []engine.Action
		for _, a := range acts {
			out = append(out, a)
			if a.Kind == engine.ActSpawn {
				out = append(out, a)
			}
		}
		return out
	}
	is := func(k engine.EventKind) func(engine.Event) bool {
		return func(ev engine.Event) bool { return ev.Kind == k }
	}
	tests := []struct {
		name string
		data []byte
		tp   tamper
		want string // substring of the error; "" for none
		// dbSpawns, when set, is how many spawns of db-1 an honest run
		// makes: proof that the stream really goes where the sabotage
		// cases assume.
		dbSpawns int
	}{
		{"honest engine, restart", restart, nil, "", 2},
		{"honest engine, unasked kill completion", unaskedKill, nil, "", 1},
		{"every spawn sent twice", restart, dup, "spawn of db-1 reuses generation 1, which is in flight", 0},
		{"respawn while alive", restart, respawnOn(is(engine.EvSpawned)), "spawn of db-1 generation 1001 while generation 1 is alive", 0},
		{"respawn on an unasked kill completion", unaskedKill, respawnOn(is(engine.EvDone)), "spawn of db-1 generation 1001 while generation 1 is alive", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := engineRun(cfg, tt.data, tt.tp)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("honest run reported: %v", err)
			case tt.dbSpawns > 0 && countSpawns(out, "{db 1 ") != tt.dbSpawns:
				t.Fatalf("%d spawns of db-1, want %d; actions:\n%s", countSpawns(out, "{db 1 "), tt.dbSpawns, strings.Join(out, "\n"))
			case tt.want != "" && err == nil:
				t.Fatalf("sabotage not reported, want %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("reported %q, want %q", err, tt.want)
			}
		})
	}
}

// countSpawns counts rendered spawn actions whose handle starts with
// prefix.
func countSpawns(out []string, prefix string) int {
	n := 0
	for _, l := range out {
		if strings.HasPrefix(l, "spawn "+prefix) {
			n++
		}
	}
	return n
}
