package driver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/driver"
	"github.com/hsu-run/hsu/engine"
	"github.com/hsu-run/hsu/probe"
)

// fakeOS is a driver.OS that does nothing on its own: every call is
// recorded, in order and in one log with the state store's writes and the
// command replies, so a test can tell what came before what. Completions
// go to an inbox the test hands to the driver (pump); instances exit when
// the test says so (exit).
type fakeOS struct {
	mu     sync.Mutex
	inbox  []engine.Event
	posted chan struct{} // a Post happened (for Command, which waits in another goroutine)
	log    []string

	now      time.Duration
	boot     string
	byHandle bool // FindsByHandle
	nextPID  int
	nextPort int
	timers   []engine.Action // ActStartTimer-like records: Timer and At

	// Answers the test chooses.
	spawnErr    error
	listenErr   map[string]error
	verifyOK    bool
	watchErr    error
	findErr     error
	throttleErr error
	sampleErr   error
	usage       engine.Usage

	strays []driver.Stray // what Strays finds

	spawns []spawnCall
	exits  map[string]func(driver.ExitStatus) // "worker-replica" -> exited of its current process
	pids   map[string]int
	probes []probe.Target
}

type spawnCall struct {
	h    engine.Handle
	env  []string
	ln   driver.Listener
	logs driver.LogSink
}

func newFakeOS() *fakeOS {
	return &fakeOS{boot: "boot-1", nextPID: 100, nextPort: 40000, posted: make(chan struct{}, 1),
		listenErr: map[string]error{}, exits: map[string]func(driver.ExitStatus){}, pids: map[string]int{}}
}

func (o *fakeOS) record(format string, args ...any) {
	o.mu.Lock()
	o.log = append(o.log, fmt.Sprintf(format, args...))
	o.mu.Unlock()
}

// since returns the log from mark on.
func (o *fakeOS) since(mark int) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.log[mark:])
}

func (o *fakeOS) mark() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.log)
}

func rk(h engine.Handle) string { return driver.ReplicaKey(h) }

func (o *fakeOS) Now() time.Duration { return o.now }

func (o *fakeOS) Post(ev engine.Event) {
	o.mu.Lock()
	o.inbox = append(o.inbox, ev)
	o.mu.Unlock()
	select {
	case o.posted <- struct{}{}:
	default:
	}
}

func (o *fakeOS) StartTimer(ref engine.TimerRef, at time.Duration) {
	o.timers = append(o.timers, engine.Action{Timer: ref, At: at})
}

func (o *fakeOS) CancelTimer(engine.TimerRef) {}

func (o *fakeOS) Spawn(batch []driver.SpawnReq) {
	for i := range batch {
		r := &batch[i]
		o.record("spawn %s", rk(r.H))
		if o.spawnErr != nil {
			r.Err = o.spawnErr
			continue
		}
		o.nextPID++
		o.spawns = append(o.spawns, spawnCall{r.H, r.Env, r.Ln, r.Logs})
		o.exits[rk(r.H)], o.pids[rk(r.H)] = r.Exited, o.nextPID
		r.Proc = driver.Proc{PID: o.nextPID, StartTime: int64(o.nextPID) * 10, Group: true}
	}
}

func (o *fakeOS) Release(h engine.Handle, p driver.Proc) { o.record("release %s", rk(h)) }

func (o *fakeOS) Watch(h engine.Handle, p driver.Proc, exited func(driver.ExitStatus)) error {
	o.record("watch %s %d", rk(h), p.PID)
	if o.watchErr != nil {
		return o.watchErr
	}
	o.exits[rk(h)], o.pids[rk(h)] = exited, p.PID
	return nil
}

func (o *fakeOS) Signal(h engine.Handle, p driver.Proc, sig string, done driver.Completion) {
	o.record("signal %s %d %s", rk(h), p.PID, sig)
	done.Done(nil)
}

// Kill also ends the instance, as the real one does.
func (o *fakeOS) Kill(h engine.Handle, p driver.Proc, done driver.Completion) {
	o.record("kill %s %d", rk(h), p.PID)
	if ex := o.exits[rk(h)]; ex != nil {
		delete(o.exits, rk(h))
		ex(driver.ExitStatus{Code: 137, Signal: "KILL"})
	}
	done.Done(nil)
}

func (o *fakeOS) StopCommand(h engine.Handle, p driver.Proc, spec *config.Worker, done driver.Completion) {
	o.record("stopcommand %s %d %s", rk(h), p.PID, strings.Join(spec.Stop.Command, " "))
	done.Done(nil)
}

func (o *fakeOS) Probe(h engine.Handle, pr *config.Probe, t probe.Target, done driver.Completion) {
	o.record("probe %s", rk(h))
	o.probes = append(o.probes, t)
	done.Done(nil)
}

func (o *fakeOS) Sample(batch []driver.SampleReq) {
	for _, r := range batch {
		o.record("sample %s", rk(r.H))
		r.Done.Sampled(o.usage, o.sampleErr)
	}
}

func (o *fakeOS) Throttle(h engine.Handle, p driver.Proc, resource string) error {
	o.record("throttle %s %s", rk(h), resource)
	return o.throttleErr
}

func (o *fakeOS) Verify(p driver.Proc) bool {
	o.record("verify %d/%d", p.PID, p.StartTime)
	return o.verifyOK
}

func (o *fakeOS) Find(h engine.Handle, spec *config.Worker, done driver.Completion) {
	o.record("find %s", rk(h))
	done.Found(driver.Proc{PID: 77}, o.findErr) // an unmanaged process: not a group leader of hsu's
}

func (o *fakeOS) Listen(addr string) (driver.Listener, error) {
	o.record("listen %s", addr)
	if err := o.listenErr[addr]; err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if port == "0" {
		o.nextPort++
		port = strconv.Itoa(o.nextPort)
	}
	return &fakeListener{o: o, addr: net.JoinHostPort(host, port)}, nil
}

func (o *fakeOS) BootID() string      { return o.boot }
func (o *fakeOS) FindsByHandle() bool { return o.byHandle }

func (o *fakeOS) Strays() []driver.Stray { return o.strays }

type fakeListener struct {
	o    *fakeOS
	addr string
}

func (l *fakeListener) Addr() string { return l.addr }
func (l *fakeListener) Close() error { l.o.record("close %s", l.addr); return nil }

// fakeStore keeps the state in memory; writes go into the OS's log.
type fakeStore struct {
	damage     []string // what Damage reports
	o          *fakeOS
	saved      *driver.State
	readErr    error
	writeErr   error // every Write fails with it while set
	reserveErr error // every Reserve fails with it while set
	writes     []*driver.State
	removed    bool
}

func (s *fakeStore) Read() (*driver.State, string, error) { return s.saved, "state.json", s.readErr }

func (s *fakeStore) Write(build func() *driver.State) error {
	if s.writeErr != nil {
		s.o.record("write failed")
		return s.writeErr
	}
	s.writes = append(s.writes, build())
	s.o.record("write")
	return nil
}

func (s *fakeStore) Damage() []string { return s.damage }

func (s *fakeStore) Reserve(extra int) error {
	s.o.record("reserve %d", extra)
	return s.reserveErr
}

func (s *fakeStore) Remove() { s.removed = true; s.o.record("remove") }

func (s *fakeStore) last() *driver.State { return s.writes[len(s.writes)-1] }

// instance returns the entry of worker-replica in st.
func instance(st *driver.State, worker string, replica int) (engine.Recovered, bool) {
	for _, r := range st.Saved.Instances {
		if r.H.Worker == worker && r.H.Replica == replica {
			return r, true
		}
	}
	return engine.Recovered{}, false
}

type rig struct {
	t     *testing.T
	o     *fakeOS
	store *fakeStore
	d     *driver.Driver
	logs  *bytes.Buffer // the driver's log (text handler, info)
}

func parse(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("hsu.yaml", []byte(yaml), config.Options{LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// newRig makes a driver for yaml; set adjusts the OS and store first.
func newRig(t *testing.T, yaml string, opt driver.Options, set func(*fakeOS, *fakeStore)) *rig {
	t.Helper()
	o := newFakeOS()
	st := &fakeStore{o: o}
	if set != nil {
		set(o, st)
	}
	buf := &bytes.Buffer{}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	opt.Seed = 1
	return &rig{t: t, o: o, store: st, d: driver.New(parse(t, yaml), o, st, opt), logs: buf}
}

func (r *rig) start() {
	r.t.Helper()
	if err := r.d.Start(); err != nil {
		r.t.Fatal(err)
	}
}

// pump hands the inbox to the driver, batch after batch, until it is empty.
func (r *rig) pump() {
	r.t.Helper()
	for i := 0; ; i++ {
		r.o.mu.Lock()
		batch := r.o.inbox
		r.o.inbox = nil
		r.o.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		if i > 1000 {
			r.t.Fatal("the inbox never empties")
		}
		r.d.Handle(batch)
	}
}

// fire moves the clock to the last armed timer of kind for worker and
// delivers it.
func (r *rig) fire(worker string, kind engine.TimerKind) {
	r.t.Helper()
	if kind == engine.TimerSample {
		worker = "" // the engine's sampling tick, for every instance
	}
	for i := len(r.o.timers) - 1; i >= 0; i-- {
		if a := r.o.timers[i]; a.Timer.H.Worker == worker && a.Timer.Kind == kind {
			r.o.now = max(r.o.now, a.At)
			r.d.Handle([]engine.Event{{Kind: engine.EvTimer, Timer: a.Timer}})
			r.pump()
			return
		}
	}
	r.t.Fatalf("no %s timer for %s", kind, worker)
}

// exit ends worker-replica's current process.
func (r *rig) exit(worker string, replica int, st driver.ExitStatus) {
	r.t.Helper()
	k := worker + "-" + strconv.Itoa(replica)
	ex := r.o.exits[k]
	if ex == nil {
		r.t.Fatalf("%s has no process", k)
	}
	delete(r.o.exits, k)
	ex(st)
	r.pump()
}

// cmd submits c, handles it and returns the log from the submission on,
// the reply included ("reply <err>").
func (r *rig) cmd(c engine.Command) []string {
	r.t.Helper()
	mark := r.o.mark()
	ev := r.d.Submit(c, func(err string) { r.o.record("reply %s", err) })
	r.d.Handle([]engine.Event{ev})
	r.pump()
	return r.o.since(mark)
}

func (r *rig) state(worker string, replica int) engine.State {
	r.t.Helper()
	s, ok := r.d.Engine().State(worker, replica)
	if !ok {
		r.t.Fatalf("no replica %s-%d", worker, replica)
	}
	return s
}

func (r *rig) expectState(worker string, replica int, want engine.State) {
	r.t.Helper()
	if got := r.state(worker, replica); got != want {
		r.t.Fatalf("%s-%d is %s, want %s\nlog: %q", worker, replica, got, want, r.o.since(0))
	}
}

func index(log []string, prefix string) int {
	return slices.IndexFunc(log, func(s string) bool { return strings.HasPrefix(s, prefix) })
}

func count(log []string, prefix string) int {
	n := 0
	for _, s := range log {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

const threeWorkers = `
version: 1
workers:
  a: {command: [a]}
  b: {command: [b]}
  c: {command: [c]}
`

// TestWriteAhead: the state file names every instance before its process
// exists; where instances cannot be found by handle (no cgroup), each
// process is held until its PID is written. A cold start is one write
// before the spawns and one with their PIDs, not one per worker.
func TestWriteAhead(t *testing.T) {
	tests := []struct {
		name     string
		byHandle bool
		want     []string
	}{
		{
			// The PIDs go with the batch's write.
			name:     "cgroups",
			byHandle: true,
			want:     []string{"write", "spawn a-1", "spawn b-1", "spawn c-1", "write"},
		},
		{
			// The PIDs are written before the processes are released.
			name: "no cgroups",
			want: []string{"write", "spawn a-1", "spawn b-1", "spawn c-1", "write", "release a-1", "release b-1", "release c-1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, threeWorkers, driver.Options{}, func(o *fakeOS, _ *fakeStore) { o.byHandle = tt.byHandle })
			r.start()
			if got := r.o.since(0); !slices.Equal(got, tt.want) {
				t.Fatalf("first batch %q, want %q", got, tt.want)
			}
			// The first write, before any spawn, records all three as
			// starting without a PID, so a crash here is cleaned up.
			for _, w := range []string{"a", "b", "c"} {
				in, ok := instance(r.store.writes[0], w, 1)
				if !ok || in.State != engine.Starting || in.PID != 0 {
					t.Errorf("first write: %s-1 is %+v (recorded %v), want starting without a PID", w, in, ok)
				}
			}
			// The write that follows a spawn has its PID and start time:
			// the next hsu adopts the process instead of starting another.
			st := r.store.writes[1]
			in, _ := instance(st, "a", 1)
			if in.PID != r.o.pids["a-1"] || in.State != engine.Running || st.Starts[driver.InstKey(in.H)] != int64(in.PID)*10 || st.BootID != "boot-1" {
				t.Errorf("second write: a-1 %+v, start %d, boot %q; want pid %d, running, its start time", in, st.Starts[driver.InstKey(in.H)], st.BootID, r.o.pids["a-1"])
			}
			r.pump()
			r.expectState("a", 1, engine.Starting) // EvSpawned handled: start_seconds runs
		})
	}
}

// TestSpawnBatch: the spawns of a whole batch, across its events, share
// one write-ahead record; a stop command in the same batch as the timer
// that restarts the instance stops the started instance.
func TestSpawnBatch(t *testing.T) {
	r := newRig(t, threeWorkers+`defaults: {restart: {policy: always, backoff: {initial: 1s, jitter: 0}}}
`, driver.Options{}, func(o *fakeOS, _ *fakeStore) { o.byHandle = true })
	r.start()
	r.pump()
	for _, w := range []string{"a", "b", "c"} {
		k := w + "-1"
		ex := r.o.exits[k]
		delete(r.o.exits, k)
		ex(driver.ExitStatus{Code: 1})
	}
	r.pump() // three back-off timers armed
	var batch []engine.Event
	for _, w := range []string{"a", "b", "c"} {
		for i := len(r.o.timers) - 1; i >= 0; i-- {
			if a := r.o.timers[i]; a.Timer.H.Worker == w && a.Timer.Kind == engine.TimerBackoff {
				r.o.now = max(r.o.now, a.At)
				batch = append(batch, engine.Event{Kind: engine.EvTimer, Timer: a.Timer})
				break
			}
		}
	}
	if len(batch) != 3 {
		t.Fatalf("%d back-off timers, want 3", len(batch))
	}
	batch = append(batch, r.d.Submit(engine.Command{Verb: engine.CmdStop, Worker: "c"}, func(err string) { r.o.record("reply %s", err) }))
	mark := r.o.mark()
	r.d.Handle(batch)
	got := r.o.since(mark)
	want := []string{"write", "spawn a-1", "spawn b-1", "spawn c-1"}
	if len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
		t.Fatalf("batch %q, want it to begin %q", got, want)
	}
	if count(got, "write") != 2 {
		t.Errorf("batch %q: want two writes (the record ahead, the PIDs)", got)
	}
	r.pump()
	got = r.o.since(mark)
	if k := index(got, "signal c-1"); k < index(got, "spawn c-1") {
		t.Errorf("log %q: want c-1 signalled after its spawn", got)
	}
	r.expectState("c", 1, engine.Stopping)
}

// TestRepliesAfterWrite: a command is answered only once its effect is in
// the state file (an acknowledged stop survives an hsu crash); a refused
// command, which changes nothing, is answered without a write.
func TestRepliesAfterWrite(t *testing.T) {
	tests := []struct {
		name  string
		cmd   engine.Command
		reply string
		write bool // a write precedes the reply
		acts  []string
	}{
		{name: "stop", cmd: engine.Command{Verb: engine.CmdStop, Worker: "a"}, reply: "reply ", write: true, acts: []string{"signal a-1 101 TERM"}},
		{name: "scale", cmd: engine.Command{Verb: engine.CmdScale, Worker: "a", N: 2}, reply: "reply ", write: true, acts: []string{"spawn a-2"}},
		{name: "signal", cmd: engine.Command{Verb: engine.CmdSignal, Worker: "a", Signal: "HUP"}, reply: "reply ", acts: []string{"signal a-1 101 HUP"}},
		{name: "unknown worker", cmd: engine.Command{Verb: engine.CmdStop, Worker: "nope"}, reply: `reply unknown worker "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, threeWorkers, driver.Options{}, func(o *fakeOS, _ *fakeStore) { o.byHandle = true })
			r.start()
			r.pump()
			log := r.cmd(tt.cmd)
			i := index(log, "reply")
			if i < 0 || log[i] != tt.reply || count(log, "reply") != 1 {
				t.Fatalf("log %q: want one %q", log, tt.reply)
			}
			if w := index(log, "write"); tt.write != (w >= 0 && w < i) {
				t.Errorf("log %q: a write before the reply: %v, want %v", log, w >= 0 && w < i, tt.write)
			}
			for _, a := range tt.acts {
				if j := index(log, a); j < 0 || (tt.write && j > i) {
					t.Errorf("log %q: want %q before the reply", log, a)
				}
			}
		})
	}
}

// TestCommand: Command waits for the answer from another goroutine and
// turns a refusal into an error; a caller that gives up gets its
// context's error and is never answered later.
func TestCommand(t *testing.T) {
	tests := []struct {
		name   string
		cmd    engine.Command
		cancel bool
		want   string // "" for nil
	}{
		{name: "ok", cmd: engine.Command{Verb: engine.CmdStop, Worker: "a"}},
		{name: "refused", cmd: engine.Command{Verb: engine.CmdStop, Worker: "nope"}, want: `stop nope: unknown worker "nope"`},
		{name: "given up", cmd: engine.Command{Verb: engine.CmdStop, Worker: "a"}, cancel: true, want: "stop a: " + context.Canceled.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, threeWorkers, driver.Options{}, nil)
			r.start()
			r.pump()
			select {
			case <-r.o.posted: // the start's posts
			default:
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				cancel()
			}
			res := make(chan error, 1)
			go func() { res <- r.d.Command(ctx, tt.cmd) }()
			if !tt.cancel {
				<-r.o.posted // the command is in the inbox
				r.pump()
			}
			err := <-res
			if got := fmt.Sprint(err); (tt.want == "" && err != nil) || (tt.want != "" && got != tt.want) {
				t.Fatalf("Command = %v, want %q", err, tt.want)
			}
			if tt.cancel {
				r.pump() // the abandoned command is still carried out, without a reply
				r.expectState("a", 1, engine.Stopping)
			}
		})
	}
}

const integrated = `
version: 1
workers:
  svc:
    type: integrated
    command: [svc]
    restart: {policy: always, backoff: {initial: 1s, jitter: 0}}
`

// TestListenerKeptAcrossRestarts: an integrated worker's socket is bound
// once and handed to every instance of the replica (LISTEN_FDS), its
// address is in the state file before the first spawn, probes use it, and
// it is closed and forgotten when the replica goes away.
func TestListenerKeptAcrossRestarts(t *testing.T) {
	r := newRig(t, integrated, driver.Options{}, nil)
	r.start()
	r.pump()
	const addr = "127.0.0.1:40001"
	if len(r.o.spawns) != 1 || r.o.spawns[0].ln == nil || r.o.spawns[0].ln.Addr() != addr {
		t.Fatalf("spawns %+v, want one with the socket %s", r.o.spawns, addr)
	}
	env := r.o.spawns[0].env
	for _, kv := range []string{"LISTEN_FDS=1", "LISTEN_FDNAMES=hsu", "HSU_LISTEN=" + addr, "HSU_PORT=40001"} {
		if !slices.Contains(env, kv) {
			t.Errorf("env %q lacks %s", env, kv)
		}
	}
	if got := r.store.writes[0].Listen["svc-1"]; got != addr {
		t.Errorf("first write's listen address %q, want %s", got, addr)
	}

	// The default gRPC readiness probe is aimed at the socket.
	r.fire("svc", engine.TimerStartGrace)
	r.fire("svc", engine.TimerProbe+engine.TimerKind(engine.ProbeReadiness))
	if len(r.o.probes) != 1 || r.o.probes[0].Listen != addr || r.o.probes[0].PID != r.o.pids["svc-1"] {
		t.Fatalf("probe targets %+v, want %s and pid %d", r.o.probes, addr, r.o.pids["svc-1"])
	}
	r.expectState("svc", 1, engine.Ready)

	r.exit("svc", 1, driver.ExitStatus{Code: 1})
	r.fire("svc", engine.TimerBackoff)
	if len(r.o.spawns) != 2 || r.o.spawns[1].ln != r.o.spawns[0].ln {
		t.Fatalf("the restart got another socket: %+v", r.o.spawns)
	}
	if n := count(r.o.since(0), "listen"); n != 1 {
		t.Errorf("bound %d times, want once", n)
	}

	r.cmd(engine.Command{Verb: engine.CmdScale, Worker: "svc", N: 0})
	r.exit("svc", 1, driver.ExitStatus{Signal: "TERM"})
	if i := index(r.o.since(0), "close "+addr); i < 0 {
		t.Errorf("the socket of a replica scaled away was not closed: %q", r.o.since(0))
	}
	if a, ok := r.store.last().Listen["svc-1"]; ok {
		t.Errorf("the state file still has the address %s", a)
	}
}

// TestListenerAddress: which address a replica's socket gets. A reload
// that changes listen rebinds; an address from the previous hsu's state
// file is kept if it is free, else the setting's is used; a listen that
// fails is a failed spawn with the errno.
func TestListenerAddress(t *testing.T) {
	tests := []struct {
		name    string
		listen  string // the setting; "" for the default 127.0.0.1:0
		saved   string // svc-1's address in the state file
		fail    map[string]error
		reload  string // new listen setting
		listens []string
		addr    string // the spawn's socket; "" for a failed spawn
		closed  string
	}{
		{name: "fresh", listens: []string{"listen 127.0.0.1:0"}, addr: "127.0.0.1:40001"},
		{name: "previous address kept", saved: "127.0.0.1:45000", listens: []string{"listen 127.0.0.1:45000"}, addr: "127.0.0.1:45000"},
		{
			name: "previous address taken", saved: "127.0.0.1:45000", fail: map[string]error{"127.0.0.1:45000": driver.Errno("EADDRINUSE")},
			listens: []string{"listen 127.0.0.1:45000", "listen 127.0.0.1:0"}, addr: "127.0.0.1:40001",
		},
		// A previous ephemeral port does not satisfy a fixed one.
		{name: "previous address of another setting", listen: "127.0.0.1:9000", saved: "127.0.0.1:45000", listens: []string{"listen 127.0.0.1:9000"}, addr: "127.0.0.1:9000"},
		{name: "listen changed by a reload", reload: "127.0.0.1:9000", listens: []string{"listen 127.0.0.1:0", "listen 127.0.0.1:9000"}, addr: "127.0.0.1:9000", closed: "127.0.0.1:40001"},
		{name: "listen fails", fail: map[string]error{"127.0.0.1:0": driver.Errno("EADDRINUSE")}, listens: []string{"listen 127.0.0.1:0"}},
	}
	withListen := func(addr string) string {
		if addr == "" {
			return integrated
		}
		return strings.Replace(integrated, "command: [svc]", "command: [svc]\n    listen: \""+addr+"\"", 1)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, withListen(tt.listen), driver.Options{}, func(o *fakeOS, st *fakeStore) {
				for k, v := range tt.fail {
					o.listenErr[k] = v
				}
				if tt.saved != "" {
					st.saved = &driver.State{Version: driver.StateVersion, BootID: "boot-0", Listen: map[string]string{"svc-1": tt.saved}}
				}
			})
			r.start()
			r.pump()
			if tt.reload != "" {
				r.d.Reload(parse(t, withListen(tt.reload)))
				r.pump()
				r.exit("svc", 1, driver.ExitStatus{Signal: "TERM"}) // the changed worker restarts
			}
			log := r.o.since(0)
			var listens []string
			for _, l := range log {
				if strings.HasPrefix(l, "listen ") {
					listens = append(listens, l)
				}
			}
			if !slices.Equal(listens, tt.listens) {
				t.Errorf("binds %q, want %q", listens, tt.listens)
			}
			if tt.closed != "" && index(log, "close "+tt.closed) < 0 {
				t.Errorf("%s not closed: %q", tt.closed, log)
			}
			if tt.addr == "" {
				r.expectState("svc", 1, engine.Backoff)
				if rs := r.d.Engine().Snapshot().Workers[0].Slots[0]; rs.Reason != "spawn failed: EADDRINUSE; restart 1 (crash) in 1s" {
					t.Errorf("reason %q", rs.Reason)
				}
				return
			}
			last := r.o.spawns[len(r.o.spawns)-1]
			if last.ln.Addr() != tt.addr || r.store.last().Listen["svc-1"] != tt.addr {
				t.Errorf("socket %s, recorded %s; want %s", last.ln.Addr(), r.store.last().Listen["svc-1"], tt.addr)
			}
		})
	}
}

// TestKillAll: a second Ctrl-C kills every instance hsu started, all at
// once, leaves an adopted unmanaged process alone, and returns once they
// are gone, with the sockets closed.
func TestKillAll(t *testing.T) {
	r := newRig(t, `
version: 1
workers:
  api: {command: [api], replicas: 2}
  svc: {type: integrated, command: [svc]}
  legacy: {type: unmanaged, pidfile: /run/l.pid}
`, driver.Options{}, nil)
	r.start()
	r.pump()
	if index(r.o.since(0), "watch legacy-1 77") < 0 {
		t.Fatalf("legacy not adopted: %q", r.o.since(0))
	}
	mark := r.o.mark()
	r.d.KillAll()
	log := r.o.since(mark)
	var kills []string
	for _, l := range log {
		if strings.HasPrefix(l, "kill ") {
			kills = append(kills, l)
		}
	}
	slices.Sort(kills) // killed in parallel: in no order
	want := []string{"kill api-1 101", "kill api-2 102", "kill svc-1 103"}
	if !slices.Equal(kills, want) {
		t.Errorf("kills %q, want %q", kills, want)
	}
	if index(log, "close 127.0.0.1:40001") < 0 {
		t.Errorf("socket not closed: %q", log)
	}
}

const recovered = `
version: 1
workers:
  api: {command: [api], replicas: 2}
`

// TestRecovery: instances in the previous hsu's state file are adopted
// only if this is the same boot and the OS confirms PID and start time;
// otherwise nothing is adopted, and replicas that were down stay down.
func TestRecovery(t *testing.T) {
	tests := []struct {
		name     string
		boot     string
		verifyOK bool
		watchErr error
		want     []string // log lines, in order
		not      []string // log prefixes that must not appear
		state    engine.State
	}{
		{name: "adopted", boot: "boot-1", verifyOK: true, want: []string{"verify 500/777", "watch api-1 500"}, not: []string{"spawn api-1", "kill"}, state: engine.Running},
		// Gone, or its PID reused: cleaned up by handle, never by PID.
		{name: "not ours", boot: "boot-1", want: []string{"verify 500/777", "kill api-1 0"}, not: []string{"watch", "spawn api-1"}, state: engine.Backoff},
		{name: "cannot watch", boot: "boot-1", verifyOK: true, watchErr: errors.New("no pidfd"), want: []string{"verify 500/777", "watch api-1 500", "kill api-1 0"}, state: engine.Backoff},
		{name: "another boot", boot: "boot-0", want: []string{"spawn api-1"}, not: []string{"verify", "watch", "kill"}, state: engine.Starting},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, recovered, driver.Options{}, func(o *fakeOS, st *fakeStore) {
				o.verifyOK, o.watchErr = tt.verifyOK, tt.watchErr
				st.saved = &driver.State{
					Version: driver.StateVersion, BootID: tt.boot,
					Saved: engine.Saved{NextGen: 10, Instances: []engine.Recovered{
						{H: engine.Handle{Worker: "api", Replica: 1, Gen: 5}, PID: 500, State: engine.Running},
						{H: engine.Handle{Worker: "api", Replica: 2, Gen: 6}, State: engine.Stopped, UserStopped: true},
					}},
					Starts: map[string]int64{"api-1-5": 777},
				}
			})
			r.start()
			r.pump()
			log := r.o.since(0)
			at := -1
			for _, w := range tt.want {
				i := index(log, w)
				if i <= at {
					t.Fatalf("log %q: want %q in order", log, tt.want)
				}
				at = i
			}
			for _, n := range tt.not {
				if index(log, n) >= 0 {
					t.Errorf("log %q has %q", log, n)
				}
			}
			r.expectState("api", 1, tt.state)
			r.expectState("api", 2, engine.Stopped)
			if n := count(log, "spawn api-2"); n != 0 {
				t.Errorf("api-2, stopped by a command, was started")
			}
			if tt.state == engine.Running {
				// The adopted process's exit reaches the engine.
				r.exit("api", 1, driver.ExitStatus{Code: 3})
				if rs := r.d.Engine().Snapshot().Workers[0].Slots[0]; rs.LastExit != "exited with code 3" {
					t.Errorf("last exit %q, want the adopted process's", rs.LastExit)
				}
			}
		})
	}
}

// TestStateReadError: an unreadable state file stops the start: hsu
// must not start duplicates of what it cannot see.
func TestStateReadError(t *testing.T) {
	r := newRig(t, recovered, driver.Options{}, func(_ *fakeOS, st *fakeStore) { st.readErr = errors.New("corrupt") })
	if err := r.d.Start(); err == nil || err.Error() != "corrupt" {
		t.Fatalf("Start = %v, want the read error", err)
	}
	if log := r.o.since(0); len(log) != 0 {
		t.Errorf("acted without a state: %q", log)
	}
}

// TestAdoptUnmanaged: an unmanaged worker's process is found and watched,
// never spawned; a failure to find or watch it is the engine's adopt
// failure, with the error.
func TestAdoptUnmanaged(t *testing.T) {
	tests := []struct {
		name              string
		findErr, watchErr error
		state             engine.State
		reason            string
	}{
		{name: "adopted", state: engine.Starting, reason: "dependencies met"},
		{name: "not found", findErr: errors.New("no pidfile"), state: engine.Backoff, reason: "adopt failed: no pidfile"},
		{name: "cannot watch", watchErr: errors.New("ESRCH"), state: engine.Backoff, reason: "adopt failed: ESRCH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, `
version: 1
workers:
  legacy: {type: unmanaged, pidfile: /run/l.pid, restart: {policy: always}}
`, driver.Options{}, func(o *fakeOS, _ *fakeStore) { o.findErr, o.watchErr = tt.findErr, tt.watchErr })
			r.start()
			r.pump()
			r.expectState("legacy", 1, tt.state)
			rs := r.d.Engine().Snapshot().Workers[0].Slots[0]
			if !strings.HasPrefix(rs.Reason, tt.reason) {
				t.Errorf("reason %q, want %q", rs.Reason, tt.reason)
			}
			if index(r.o.since(0), "spawn") >= 0 {
				t.Error("an unmanaged worker was spawned")
			}
			if tt.findErr == nil && tt.watchErr == nil {
				defer func() {
					// Its exit, by a signal, is code -1 as in every world.
					r.exit("legacy", 1, driver.ExitStatus{Code: 9, Signal: "KILL"})
					if rs := r.d.Engine().Snapshot().Workers[0].Slots[0]; !strings.HasPrefix(rs.LastExit, "killed by SIGKILL") {
						t.Errorf("last exit %q", rs.LastExit)
					}
				}()
				if rs.PID != 77 {
					t.Errorf("pid %d, want 77", rs.PID)
				}
				in, _ := instance(r.store.last(), "legacy", 1)
				if in.PID != 77 {
					t.Errorf("state file: %+v, want pid 77", in)
				}
			}
		})
	}
}

// TestSpawnFailure: a spawn error becomes the engine's spawn failure with
// the errno name; a permanent one fails the replica.
func TestSpawnFailure(t *testing.T) {
	tests := []struct {
		err    error
		state  engine.State
		reason string
	}{
		{driver.Errno("ENOENT"), engine.Failed, "spawn impossible: ENOENT"},
		{fmt.Errorf("fork: %w", driver.Errno("EAGAIN")), engine.Backoff, "spawn failed: EAGAIN; restart 1 (crash)"},
		{errors.New("something odd"), engine.Backoff, "spawn failed: EIO; restart 1 (crash)"},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			r := newRig(t, `
version: 1
workers:
  api: {command: [api], restart: {policy: always}}
`, driver.Options{}, func(o *fakeOS, _ *fakeStore) { o.spawnErr = tt.err })
			r.start()
			r.pump()
			r.expectState("api", 1, tt.state)
			if rs := r.d.Engine().Snapshot().Workers[0].Slots[0]; !strings.HasPrefix(rs.Reason, tt.reason) {
				t.Errorf("reason %q, want %q", rs.Reason, tt.reason)
			}
			if !strings.Contains(r.logs.String(), "spawn failed") {
				t.Errorf("the failure is not logged: %s", r.logs)
			}
		})
	}
}

type namedErr struct{ name string }

func (e namedErr) Error() string     { return "named " + e.name }
func (e namedErr) ErrnoName() string { return e.name }

// TestErrnoName: the engine and traces see errno names: an Errno as is
// (wrapped or not), an error that names its errno, EIO for the rest.
func TestErrnoName(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{driver.Errno("EAGAIN"), "EAGAIN"},
		{fmt.Errorf("spawn: %w", driver.Errno("ENOENT")), "ENOENT"},
		{namedErr{"EPERM"}, "EPERM"},
		{fmt.Errorf("wrapped: %w", namedErr{"EMFILE"}), "EMFILE"},
		{errors.New("plain"), "EIO"},
	}
	for _, tt := range tests {
		if got := driver.ErrnoName(tt.err); got != tt.want {
			t.Errorf("ErrnoName(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
	if driver.Errno("ESRCH").Error() != "ESRCH" {
		t.Error("an Errno's message is its name")
	}
}

// TestReadyLogLine: the line is noticed in the output as it streams by
// (the engine then starts what waits for log_ready), and the output
// still reaches the sink unchanged; without a sink it is dropped, and
// still noticed.
func TestReadyLogLine(t *testing.T) {
	for _, sink := range []*memSink{{}, nil} {
		t.Run(fmt.Sprintf("sink %v", sink != nil), func(t *testing.T) {
			opt := driver.Options{}
			if sink != nil {
				opt.Logs = sink
			}
			r := newRig(t, `
version: 1
workers:
  a: {command: [a], ready_log_line: "listening on"}
  b: {command: [b], depends_on: {a: {condition: log_ready}}}
`, opt, nil)
			r.start()
			r.pump()
			w := r.o.spawns[0].logs.Writer("a", 1, "stdout")
			io.WriteString(w, "starting\nlisten")
			r.pump()
			r.expectState("b", 1, engine.Pending)
			io.WriteString(w, "ing on :80\n")
			w.Close()
			r.pump()
			r.expectState("b", 1, engine.Starting)
			if sink != nil && sink.String() != "starting\nlistening on :80\n" {
				t.Errorf("the sink got %q", sink.String())
			}
		})
	}
}

type memSink struct{ strings.Builder }

func (s *memSink) Writer(string, int, string) io.WriteCloser { return s }
func (s *memSink) Close() error                              { return nil }

// TestActionsThroughTheOS: stop commands, samples, throttles and their
// failures reach the OS with the instance's process, and come back to the
// engine.
func TestActionsThroughTheOS(t *testing.T) {
	const cfg = `
version: 1
workers:
  api:
    command: [api]
    stop: {command: [api, --drain]}
    resources: {memory: {max: 100Mi, policy: throttle}, monitor_interval: 1s}
`
	tests := []struct {
		name        string
		usage       engine.Usage
		sampleErr   error
		throttleErr error
		want        []string // log lines after the sample timer
		logged      string   // in the driver's log
	}{
		{name: "below max", usage: engine.Usage{Memory: 50 << 20}, want: []string{"sample api-1"}},
		{name: "throttled", usage: engine.Usage{Memory: 200 << 20}, want: []string{"sample api-1", "throttle api-1 memory"}, logged: "memory 200Mi reached max 100Mi: policy throttle"},
		{name: "throttle fails", usage: engine.Usage{Memory: 200 << 20}, throttleErr: driver.Errno("ENOTSUP"), want: []string{"sample api-1", "throttle api-1 memory"}, logged: "throttle failed: ENOTSUP"},
		{name: "sample fails", sampleErr: driver.Errno("ESRCH"), want: []string{"sample api-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, cfg, driver.Options{}, func(o *fakeOS, _ *fakeStore) {
				o.usage, o.sampleErr, o.throttleErr = tt.usage, tt.sampleErr, tt.throttleErr
			})
			r.start()
			r.pump()
			r.fire("api", engine.TimerStartGrace)
			timers := len(r.o.timers)
			mark := r.o.mark()
			r.fire("api", engine.TimerSample)
			var got []string
			for _, l := range r.o.since(mark) {
				if l != "write" {
					got = append(got, l)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("log %q, want %q", got, tt.want)
			}
			if !strings.Contains(r.logs.String(), tt.logged) {
				t.Errorf("driver log lacks %q:\n%s", tt.logged, r.logs)
			}
			// Sampling goes on, also after a failed sample.
			if len(r.o.timers) == timers || r.o.timers[len(r.o.timers)-1].Timer.Kind != engine.TimerSample {
				t.Error("no next sample armed")
			}
			log := r.cmd(engine.Command{Verb: engine.CmdStop, Worker: "api"})
			if index(log, "stopcommand api-1 101 api --drain") < 0 || index(log, "signal") >= 0 {
				t.Errorf("stop: %q, want the stop command and no signal", log)
			}
		})
	}
}

// observer records what the driver shows it.
type observer struct {
	events  []string
	actions []string
	stepped int
}

func (o *observer) Event(ev *engine.Event) {
	o.events = append(o.events, fmt.Sprintf("%s@%s", ev.Kind, ev.At))
}
func (o *observer) Action(a *engine.Action) {
	o.actions = append(o.actions, a.Kind.String())
}
func (o *observer) Stepped(ev *engine.Event, bugs []string) {
	if len(bugs) == 0 {
		o.stepped++
	}
}

// TestShutdownObservedAndPublished: the observer sees every event
// stamped with the OS's time and every action; status is published after
// each batch; the log has the transition lines hsu's users (and the
// testscripts) read; a finished shutdown removes the state file and
// closes the sockets.
func TestShutdownObservedAndPublished(t *testing.T) {
	obs := &observer{}
	r := newRig(t, `
version: 1
workers:
  svc: {type: integrated, command: [svc]}
`, driver.Options{Observer: obs, Publish: true}, nil)
	if st := r.d.Status(); st == nil || st.Workers[0].Slots[0].State != engine.Stopped {
		t.Fatalf("status before the start: %+v", st)
	}
	r.o.now = 3 * time.Second
	r.start()
	r.pump()
	if st := r.d.Status(); st.Workers[0].Slots[0].State != engine.Starting || st.Workers[0].Slots[0].PID == 0 {
		t.Errorf("published status %+v, want starting with its PID (published once spawned, with no transition)", st.Workers[0].Slots[0])
	}
	if len(obs.events) < 2 || obs.events[0] != "start@3s" || obs.events[1] != "spawned@3s" || obs.stepped != len(obs.events) {
		t.Errorf("observed events %q (%d stepped)", obs.events, obs.stepped)
	}
	if !slices.Contains(obs.actions, "spawn") || !slices.Contains(obs.actions, "persist") {
		t.Errorf("observed actions %q", obs.actions)
	}

	r.cmd(engine.Command{Verb: engine.CmdShutdown})
	if r.d.Done() {
		t.Fatal("done while svc still runs")
	}
	r.exit("svc", 1, driver.ExitStatus{Signal: "TERM"})
	if !r.d.Done() || !r.d.Status().ShuttingDown {
		t.Fatal("not done after the last exit")
	}
	r.d.Finish()
	if !r.store.removed || index(r.o.since(0), "close 127.0.0.1:40001") < 0 {
		t.Errorf("Finish: state removed %v, log %q", r.store.removed, r.o.since(0))
	}
	if strings.Contains(r.logs.String(), `msg="svc-1 stopped -> pending"`) {
		t.Errorf("the start's stopped -> pending is logged at info level:\n%s", r.logs)
	}
	for _, line := range []string{
		`msg="svc-1 pending -> starting" reason="dependencies met"`,
		`msg="svc-1 stopping -> stopped" reason=shutdown`,
		`msg="every worker stopped"`,
	} {
		if !strings.Contains(r.logs.String(), line) {
			t.Errorf("log lacks %s:\n%s", line, r.logs)
		}
	}
}

// TestReloadThroughInbox: Reload posts the new config; the next batch
// applies it.
func TestReloadThroughInbox(t *testing.T) {
	r := newRig(t, "version: 1\nworkers:\n  a: {command: [a]}\n", driver.Options{}, nil)
	r.start()
	r.pump()
	r.d.Reload(parse(t, "version: 1\nworkers:\n  a: {command: [a]}\n  b: {command: [b]}\n"))
	if index(r.o.since(0), "spawn b-1") >= 0 {
		t.Fatal("applied before the driver's next batch")
	}
	r.pump()
	if index(r.o.since(0), "spawn b-1") < 0 {
		t.Fatalf("b not started: %q", r.o.since(0))
	}
}

// TestQuietLogger: with a logger above info the driver formats nothing,
// and still logs errors.
func TestQuietLogger(t *testing.T) {
	buf := &bytes.Buffer{}
	r := newRig(t, "version: 1\nworkers:\n  a: {command: [a]}\n", driver.Options{Logger: slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelError}))},
		func(o *fakeOS, _ *fakeStore) { o.spawnErr = driver.Errno("EAGAIN") })
	r.start()
	r.pump()
	if s := buf.String(); strings.Contains(s, "->") || !strings.Contains(s, "spawn failed") {
		t.Errorf("log %q: want the error only", s)
	}
}

// TestFailedWritesHoldRepliesAndSpawns: while the state file cannot be
// written, hsu says so once (and once when writes work again), retries on
// a timer, holds command replies and keeps unrecorded spawns from running;
// the first write that works releases both.
func TestFailedWritesHoldRepliesAndSpawns(t *testing.T) {
	r := newRig(t, `
version: 1
workers:
  api: {command: [api]}
  job: {command: [job], restart: {policy: never}}
`, driver.Options{Publish: true}, func(o *fakeOS, st *fakeStore) { st.writeErr = errors.New("no space left on device") })
	r.start()
	r.pump()
	log := r.o.since(0)
	if slices.ContainsFunc(log, func(l string) bool { return strings.HasPrefix(l, "release") }) {
		t.Fatalf("a held spawn ran before any write worked: %q", log)
	}
	if !r.d.Degraded() {
		t.Error("not degraded while writes fail")
	}
	if r.d.WriteFailures() == 0 {
		t.Error("failed writes not counted (hsu_state_write_failures_total)")
	}
	if evs, _, _ := r.d.Feed().Read(0, 1<<20); !slices.ContainsFunc(evs, func(e driver.FeedEvent) bool { return e.Kind == driver.FeedDegraded }) {
		t.Error("no degraded event on the feed")
	}
	if !slices.ContainsFunc(r.o.timers, func(a engine.Action) bool { return a.Timer.ID == 0 && a.At == time.Second }) {
		t.Errorf("no retry timer armed for 1s: %v", r.o.timers)
	}
	mark := r.o.mark()
	ev := r.d.Submit(engine.Command{Verb: engine.CmdStop, Worker: "job"}, func(err string) { r.o.record("reply %s", err) })
	r.d.Handle([]engine.Event{ev})
	r.pump()
	if l := r.o.since(mark); slices.ContainsFunc(l, func(l string) bool { return strings.HasPrefix(l, "reply") }) {
		t.Fatalf("a reply went out while the state is not written: %q", l)
	}
	if n := strings.Count(r.logs.String(), "writes are failing"); n != 1 {
		t.Errorf("the failure is reported %d times, want once:\n%s", n, r.logs)
	}

	r.store.writeErr = nil
	mark = r.o.mark()
	r.d.Handle([]engine.Event{{Kind: engine.EvTimer, Timer: engine.TimerRef{ID: 0}}}) // the retry fires
	r.pump()
	l := r.o.since(mark)
	iw, ir, irel := index(l, "write"), index(l, "reply "), index(l, "release api-1")
	if iw < 0 || ir < iw || irel < iw {
		t.Errorf("after the retry: %q; want the write, then the reply and the release", l)
	}
	if r.d.Degraded() || !strings.Contains(r.logs.String(), "writes work again") {
		t.Errorf("degraded %v after a write worked; log:\n%s", r.d.Degraded(), r.logs)
	}
}

// TestStrays: an instance the OS finds by handle but the state file does
// not name (spawned after its last good write) is adopted when its leader
// is verified, and otherwise killed by handle before its replica starts
// afresh; a log line says which.
func TestStrays(t *testing.T) {
	stray := engine.Handle{Worker: "api", Replica: 1, Gen: 7}
	tests := []struct {
		name     string
		leader   driver.Proc
		verifies bool
		adopted  bool
		logs     string
	}{
		{name: "no leader to verify", logs: "no leader to verify: killed"},
		{name: "leader no longer the same process", leader: driver.Proc{PID: 900, StartTime: 9, Group: true}, logs: "no leader to verify: killed"},
		{name: "leader verified", leader: driver.Proc{PID: 900, StartTime: 9, Group: true}, verifies: true, adopted: true, logs: "leader is verified, so it is adopted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, `
version: 1
workers:
  api: {command: [api]}
`, driver.Options{}, func(o *fakeOS, st *fakeStore) {
				o.byHandle, o.boot, o.verifyOK = true, "b", tt.verifies
				o.strays = []driver.Stray{{H: stray, Leader: tt.leader}}
				st.saved = &driver.State{Version: driver.StateVersion, BootID: "b", Saved: engine.Saved{NextGen: 5,
					Instances: []engine.Recovered{{H: engine.Handle{Worker: "api", Replica: 1, Gen: 4}, PID: 0, State: engine.Exited}}}}
			})
			r.start()
			r.pump()
			l := r.o.since(0)
			if !strings.Contains(r.logs.String(), tt.logs) {
				t.Errorf("log %q missing from:\n%s", tt.logs, r.logs)
			}
			if tt.adopted {
				if index(l, "watch api-1 900") < 0 || index(l, "spawn") >= 0 || index(l, "kill") >= 0 {
					t.Fatalf("log %q: want the stray watched, nothing killed or spawned", l)
				}
				r.expectState("api", 1, engine.Running)
				return
			}
			ik, is := index(l, "kill api-1 0"), index(l, "spawn api-1")
			if ik < 0 || is < ik {
				t.Fatalf("log %q: want the stray killed, then api-1 spawned", l)
			}
			if gen := r.o.spawns[0].h.Gen; gen <= stray.Gen {
				t.Errorf("new instance has generation %d, want above the stray's %d", gen, stray.Gen)
			}
		})
	}
}

// TestCommandsAfterTheEndAreAnswered: a batch that ends the shutdown
// part way answers the commands after the end instead of dropping them.
func TestCommandsAfterTheEndAreAnswered(t *testing.T) {
	r := newRig(t, `
version: 1
workers:
  job: {command: [job], restart: {policy: never}}
`, driver.Options{}, nil)
	r.start()
	r.pump()
	r.exit("job", 1, driver.ExitStatus{})
	mark := r.o.mark()
	shut := r.d.Submit(engine.Command{Verb: engine.CmdShutdown}, func(err string) { r.o.record("reply shutdown %s", err) })
	late := r.d.Submit(engine.Command{Verb: engine.CmdStart, Worker: "job"}, func(err string) { r.o.record("reply start %s", err) })
	r.d.Handle([]engine.Event{shut, late})
	if !r.d.Done() {
		t.Fatal("the shutdown of a stopped world is not done at once")
	}
	if l := r.o.since(mark); index(l, "reply start hsu is shutting down") < 0 {
		t.Errorf("log %q: the command after the end got no answer", l)
	}
}

// TestDamagedStateIsReported: unreadable slots are logged with the reason,
// and so is what hsu does instead.
func TestDamagedStateIsReported(t *testing.T) {
	tests := []struct {
		name     string
		readable bool
		byHandle bool
		want     []string
	}{
		{"one slot torn", true, true, []string{"state file unreadable", "state.1: checksum mismatch", "using the other copy"}},
		{"both unreadable, cgroups", false, true, []string{"state.0: bad header", "no readable state file", "found by their cgroups"}},
		{"both unreadable, no cgroups", false, false, []string{"no readable state file", "may still run, unsupervised"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, "version: 1\nworkers:\n  api: {command: [api]}\n", driver.Options{}, func(o *fakeOS, st *fakeStore) {
				o.byHandle = tt.byHandle
				st.damage = []string{"state.0: bad header", "state.1: checksum mismatch"}
				if tt.readable {
					st.damage = st.damage[1:]
					st.saved = &driver.State{Version: driver.StateVersion, BootID: o.boot}
				}
			})
			r.start()
			for _, w := range tt.want {
				if !strings.Contains(r.logs.String(), w) {
					t.Errorf("log lacks %q:\n%s", w, r.logs)
				}
			}
		})
	}
}

// TestGrowthNeedsRoom: a scale-up, or a reload that adds instances, first
// reserves room in the state file; if the disk has none, it is refused
// at once and nothing is spawned, while a change that adds nothing needs
// no room.
func TestGrowthNeedsRoom(t *testing.T) {
	full := errors.New("no space left on device")
	tests := []struct {
		name      string
		reserve   error
		cmd       engine.Command
		reload    string // a config to reload instead of cmd
		reply     string // prefix of the reply; "" for ok
		reserved  bool   // Reserve was asked
		spawned   bool   // a new instance was spawned
		logsError string
	}{
		{name: "scale up with room", cmd: engine.Command{Verb: engine.CmdScale, Worker: "a", N: 3}, reserved: true, spawned: true},
		{name: "scale up on a full disk", reserve: full, cmd: engine.Command{Verb: engine.CmdScale, Worker: "a", N: 3}, reply: "scale refused: the state file has no room for 2 more instances", reserved: true, logsError: "scale a refused"},
		{name: "scale down on a full disk", reserve: full, cmd: engine.Command{Verb: engine.CmdScale, Worker: "a", N: 0}},
		{name: "reload adding a worker on a full disk", reserve: full, reload: threeWorkers + "  d: {command: [d], replicas: 2}\n", reserved: true, logsError: "reload refused"},
		{name: "reload adding a worker with room", reload: threeWorkers + "  d: {command: [d], replicas: 2}\n", reserved: true, spawned: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, threeWorkers, driver.Options{}, func(o *fakeOS, _ *fakeStore) { o.byHandle = true })
			r.start()
			r.pump()
			r.store.reserveErr = tt.reserve
			mark := r.o.mark()
			var log []string
			if tt.reload != "" {
				r.d.Handle([]engine.Event{{Kind: engine.EvReload, Config: parse(t, tt.reload)}})
				r.pump()
				log = r.o.since(mark)
			} else {
				log = r.cmd(tt.cmd)
				i := index(log, "reply")
				if i < 0 || !strings.HasPrefix(log[i], "reply "+tt.reply) {
					t.Fatalf("log %q: want a reply %q", log, tt.reply)
				}
			}
			if got := index(log, "reserve") >= 0; got != tt.reserved {
				t.Errorf("log %q: reserved %v, want %v", log, got, tt.reserved)
			}
			if got := index(log, "spawn") >= 0; got != tt.spawned {
				t.Errorf("log %q: spawned %v, want %v", log, got, tt.spawned)
			}
			if tt.logsError != "" && !strings.Contains(r.logs.String(), tt.logsError) {
				t.Errorf("driver log %q: want %q", r.logs.String(), tt.logsError)
			}
		})
	}
}

// TestOlderStrayIsKilled: two strays of one replica that no state file
// names: the newer takes the replica's place, the older is killed.
func TestOlderStrayIsKilled(t *testing.T) {
	old, newer := engine.Handle{Worker: "api", Replica: 1, Gen: 4}, engine.Handle{Worker: "api", Replica: 1, Gen: 5}
	r := newRig(t, "version: 1\nworkers:\n  api: {command: [api]}\n", driver.Options{}, func(o *fakeOS, _ *fakeStore) {
		o.byHandle, o.boot = true, "b"
		o.strays = []driver.Stray{{H: old}, {H: newer}}
	})
	r.start()
	r.pump()
	l := r.o.since(0)
	if index(l, "kill api-1 0") < 0 || count(l, "kill api-1") != 2 {
		t.Fatalf("log %q: want both strays killed by handle (the older at once, the newer before its replica starts)", l)
	}
	if !strings.Contains(r.logs.String(), "older instance no state file names is left: killed\" instance=api-1-4") {
		t.Errorf("the older stray's kill is not logged:\n%s", r.logs)
	}
}
