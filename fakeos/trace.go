package fakeos

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strconv"
	"time"

	"github.com/hsu-run/hsu/engine"
	"github.com/hsu-run/hsu/scenario"
)

// TraceWriter receives trace lines.
type TraceWriter = io.Writer

// tracer writes one JSON object per line for every engine event, action
// and fault, and hashes them: same scenario + seed ⇒ same bytes ⇒ same
// hash. Lines are built by hand into one buffer: the simulator's speed
// depends on it.
type tracer struct {
	out io.Writer
	h   hash.Hash
	buf []byte // the whole current chunk of lines
	seq uint64
	// Full chunks are hashed (and written) by a goroutine while the
	// simulation goes on; the order of the bytes, and so the hash, is the
	// same as writing them in line.
	full  chan []byte
	empty chan []byte
	done  chan struct{}
}

const traceChunk = 64 << 10

func newTracer(out io.Writer) *tracer {
	return &tracer{out: out, h: sha256.New(), buf: make([]byte, 0, traceChunk+1024)}
}

// write hashes (and writes) one chunk.
func (t *tracer) write(b []byte) {
	t.h.Write(b)
	if t.out != nil {
		t.out.Write(b)
	}
}

// flush hands the current chunk to the hashing goroutine, started with
// the first full chunk (a short run never starts it).
func (t *tracer) flush() {
	if t.full == nil {
		t.full, t.empty, t.done = make(chan []byte, 2), make(chan []byte, 2), make(chan struct{})
		t.empty <- make([]byte, 0, traceChunk+1024)
		go func() {
			defer close(t.done)
			for b := range t.full {
				t.write(b)
				t.empty <- b[:0]
			}
		}()
	}
	t.full <- t.buf
	t.buf = <-t.empty
}

// sum finishes the trace and returns its SHA-256; the tracer is done.
func (t *tracer) sum() string {
	if t == nil {
		return ""
	}
	if t.full != nil {
		close(t.full)
		<-t.done
	}
	t.write(t.buf)
	t.buf = t.buf[:0]
	return hex.EncodeToString(t.h.Sum(nil))
}

// line starts a trace line; its kind is already prefixed (ev., act., ...).
func (t *tracer) begin(at time.Duration, kind string, worker string, replica int, gen uint64) {
	t.seq++
	b := t.buf
	b = append(b, `{"t":`...)
	b = strconv.AppendInt(b, int64(at), 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, t.seq, 10)
	b = append(b, `,"kind":"`...)
	b = append(b, kind...)
	b = append(b, `","worker":`...)
	b = appendQuote(b, worker)
	if replica != 0 {
		b = append(b, `,"replica":`...)
		b = strconv.AppendInt(b, int64(replica), 10)
	}
	if gen != 0 {
		b = append(b, `,"gen":`...)
		b = strconv.AppendUint(b, gen, 10)
	}
	t.buf = b
}

func (t *tracer) str(key, val string) {
	if val == "" {
		return
	}
	t.buf = append(t.buf, ',', '"')
	t.buf = append(t.buf, key...)
	t.buf = append(t.buf, '"', ':')
	t.buf = appendQuote(t.buf, val)
}

// appendQuote writes s as a JSON string; the common case (printable ASCII
// without quotes or backslashes) is copied as is.
func appendQuote(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return strconv.AppendQuote(b, s)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func (t *tracer) num(key string, val int64) {
	t.buf = append(t.buf, ',', '"')
	t.buf = append(t.buf, key...)
	t.buf = append(t.buf, '"', ':')
	t.buf = strconv.AppendInt(t.buf, val, 10)
}

func (t *tracer) boolean(key string, val bool) {
	t.buf = append(t.buf, ',', '"')
	t.buf = append(t.buf, key...)
	t.buf = append(t.buf, '"', ':')
	t.buf = strconv.AppendBool(t.buf, val)
}

func (t *tracer) end() {
	t.buf = append(t.buf, '}', '\n')
	if len(t.buf) >= traceChunk {
		t.flush()
	}
}

// evKinds and actKinds are the trace kinds, built once.
var evKinds, actKinds [32]string

func init() {
	for i := range evKinds {
		evKinds[i] = "ev." + engine.EventKind(i).String()
		actKinds[i] = "act." + engine.ActionKind(i).String()
	}
}

func (t *tracer) event(at time.Duration, ev *engine.Event) {
	if t == nil {
		return // tracing off (sweeps)
	}
	h := ev.H
	if ev.Kind == engine.EvTimer {
		h = ev.Timer.H
	}
	t.begin(at, evKinds[ev.Kind%32], h.Worker, h.Replica, h.Gen)
	switch ev.Kind {
	case engine.EvSpawned, engine.EvAdopted:
		t.num("pid", int64(ev.PID))
		t.str("err", ev.Err)
	case engine.EvSpawnFailed:
		t.str("err", ev.Err)
	case engine.EvDone:
		t.str("done", ev.Done.String())
		t.str("err", ev.Err)
	case engine.EvExited:
		t.num("code", int64(ev.Code))
		t.str("signal", ev.Signal)
		if ev.OOM {
			t.boolean("oom", true)
		}
	case engine.EvTimer:
		t.str("timer", ev.Timer.Kind.String())
		t.num("id", int64(ev.Timer.ID))
	case engine.EvProbe:
		t.str("probe", ev.Probe.String())
		t.boolean("ok", ev.OK)
	case engine.EvVerified:
		t.boolean("ok", ev.OK)
	case engine.EvSample:
		t.num("memory", ev.Usage.Memory)
		t.num("cpu_milli", int64(ev.Usage.CPU*1000))
		t.num("pids", int64(ev.Usage.Pids))
	case engine.EvCommand:
		t.str("verb", ev.Cmd.Verb.String())
		t.str("target", ev.Cmd.Worker)
		t.num("n", int64(ev.Cmd.N))
	case engine.EvStart:
		if ev.Saved != nil {
			t.num("recovered", int64(len(ev.Saved.Instances)))
		}
	}
	t.end()
}

func (t *tracer) action(at time.Duration, a *engine.Action) {
	if t == nil {
		return // tracing off (sweeps)
	}
	h := a.H
	if a.Kind == engine.ActStartTimer || a.Kind == engine.ActCancelTimer {
		h = a.Timer.H
	}
	t.begin(at, actKinds[a.Kind%32], h.Worker, h.Replica, h.Gen)
	switch a.Kind {
	case engine.ActSignal:
		t.num("pid", int64(a.PID))
		t.str("signal", a.Signal)
	case engine.ActKill, engine.ActStopCommand, engine.ActVerify:
		t.num("pid", int64(a.PID))
	case engine.ActSample:
		var b []byte
		for i, s := range a.Samples {
			if i > 0 {
				b = append(b, ',')
			}
			b = fmt.Appendf(b, "%s-%d/%d:%d", s.H.Worker, s.H.Replica, s.H.Gen, s.PID)
		}
		t.str("instances", string(b))
	case engine.ActStartTimer:
		t.str("timer", a.Timer.Kind.String())
		t.num("id", int64(a.Timer.ID))
		t.num("at", int64(a.At))
	case engine.ActCancelTimer:
		t.num("id", int64(a.Timer.ID))
	case engine.ActProbe:
		t.str("probe", a.Probe.String())
	case engine.ActThrottle:
		t.str("resource", a.Resource)
	case engine.ActReply:
		t.num("cmd", int64(a.CmdID))
		t.str("err", a.Err)
	case engine.ActTransition:
		t.str("from", a.From.String())
		t.str("to", a.To.String())
		t.str("reason", a.Reason.String())
	case engine.ActNotice:
		t.str("reason", a.Reason.String())
	}
	t.end()
}

func (t *tracer) fault(at time.Duration, f *scenario.Fault) {
	if t == nil {
		return // tracing off (sweeps)
	}
	t.begin(at, "fault."+f.Kind(), f.Target.Worker, f.Target.Replica, 0)
	t.str("command", f.Command)
	if f.Kind() == "kill" {
		t.str("signal", string(f.Signal))
	}
	t.end()
}

func (t *tracer) hsu(at time.Duration, kind string, n int) {
	if t == nil {
		return // tracing off (sweeps)
	}
	t.begin(at, kind, "", 0, 0)
	t.num("n", int64(n))
	t.end()
}

// violation records a violation in the trace.
func (t *tracer) violation(at time.Duration, kind, msg string) {
	if t == nil {
		return // tracing off (sweeps)
	}
	t.begin(at, "violation", "", 0, 0)
	t.str("invariant", kind)
	t.str("message", msg)
	t.end()
}
