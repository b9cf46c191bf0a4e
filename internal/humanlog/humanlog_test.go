package humanlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/slogtest"
	"time"
)

var fixed = time.Date(2026, 12, 3, 10, 0, 1, 500_000_000, time.UTC)

func fixedNow() time.Time { return fixed }

// token is a LogValuer, resolved before it is formatted.
type token struct{}

func (token) LogValue() slog.Value { return slog.StringValue("resolved") }

// addr is a TextMarshaler.
type addr struct{}

func (addr) MarshalText() ([]byte, error) { return []byte("127.0.0.1:80"), nil }

func TestFormat(t *testing.T) {
	tests := []struct {
		name  string
		color bool
		log   func(l *slog.Logger)
		want  string
	}{
		{"info: no level", false, func(l *slog.Logger) {
			l.Info("hsu running", "config", "hsu.yaml", "workers", 3)
		}, "10:00:01 hsu running config=hsu.yaml workers=3\n"},
		{"transition with a reason", false, func(l *slog.Logger) {
			l.Info("db-1 pending -> starting", "reason", "dependencies met")
		}, "10:00:01 db-1 pending → starting (dependencies met)\n"},
		{"transition: other attrs after the reason", false, func(l *slog.Logger) {
			l.Info("api-12 running -> stopping", "pid", 42, "reason", "stop command")
		}, "10:00:01 api-12 running → stopping (stop command) pid=42\n"},
		{"transition: dotted worker name", false, func(l *slog.Logger) {
			l.Info("web.v2_a-b-3 backoff -> starting", "reason", "back-off 2s elapsed")
		}, "10:00:01 web.v2_a-b-3 backoff → starting (back-off 2s elapsed)\n"},
		{"transition without a reason", false, func(l *slog.Logger) {
			l.Info("db-1 stopped -> pending")
		}, "10:00:01 db-1 stopped → pending\n"},
		{"transition with an empty reason", false, func(l *slog.Logger) {
			l.Info("db-1 stopped -> pending", "reason", "")
		}, "10:00:01 db-1 stopped → pending\n"},
		{"transition: a second reason stays an attr", false, func(l *slog.Logger) {
			l.Info("db-1 starting -> running", "reason", "up", "reason", "again")
		}, "10:00:01 db-1 starting → running (up) reason=again\n"},
		{"transition at debug", false, func(l *slog.Logger) {
			l.Debug("db-1 stopped -> pending", "reason", "defined")
		}, "10:00:01 DEBUG db-1 stopped → pending (defined)\n"},
		{"not a transition: no replica number", false, func(l *slog.Logger) {
			l.Info("db pending -> starting", "reason", "x y")
		}, "10:00:01 db pending -> starting reason=\"x y\"\n"},
		{"not a transition: more words", false, func(l *slog.Logger) {
			l.Info("db-1 is pending -> starting")
		}, "10:00:01 db-1 is pending -> starting\n"},
		{"reason outside a transition", false, func(l *slog.Logger) {
			l.Info("reload ignored", "reason", "shutting down")
		}, "10:00:01 reload ignored reason=\"shutting down\"\n"},
		{"warn", false, func(l *slog.Logger) {
			l.Warn("sd_notify failed", "err", errors.New("connection refused"))
		}, "10:00:01 WARN sd_notify failed err=\"connection refused\"\n"},
		{"error", false, func(l *slog.Logger) { l.Error("state file", "file", "/var/lib/hsu/state") },
			"10:00:01 ERROR state file file=/var/lib/hsu/state\n"},
		{"between levels", false, func(l *slog.Logger) { l.Log(context.Background(), slog.LevelInfo+2, "m") },
			"10:00:01 INFO+2 m\n"},
		{"warn in colour", true, func(l *slog.Logger) { l.Warn("lag") }, "10:00:01 \x1b[33mWARN\x1b[0m lag\n"},
		{"error in colour", true, func(l *slog.Logger) { l.Error("x") }, "10:00:01 \x1b[31mERROR\x1b[0m x\n"},
		{"debug in colour", true, func(l *slog.Logger) { l.Debug("x") }, "10:00:01 \x1b[90mDEBUG\x1b[0m x\n"},
		{"info in colour: nothing coloured", true, func(l *slog.Logger) { l.Info("db-1 a -> b") }, "10:00:01 db-1 a → b\n"},
		{"quoting", false, func(l *slog.Logger) {
			l.Info("q", "empty", "", "space", "a b", "eq", "a=b", "quote", `say "hi"`, "nl", "a\nb", "tab", "a\tb", "plain", "/a/b:c,d")
		}, `10:00:01 q empty="" space="a b" eq="a=b" quote="say \"hi\"" nl="a\nb" tab="a\tb" plain=/a/b:c,d` + "\n"},
		{"unicode", false, func(l *slog.Logger) {
			l.Info("ü", "name", "größe", "nbsp", "a\u00a0b", "bad", "\xff")
		}, `10:00:01 ü name=größe nbsp="a\u00a0b" bad="\xff"` + "\n"},
		{"keys needing quotes", false, func(l *slog.Logger) { l.Info("k", "a key", 1) }, `10:00:01 k "a key"=1` + "\n"},
		{"kinds", false, func(l *slog.Logger) {
			l.Info("kinds", "i", -3, "u", uint64(7), "f", 0.25, "b", true, "d", 1500*time.Millisecond,
				"t", time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC), "nil", nil, "any", []int{1, 2},
				"text", addr{}, "bytes", []byte("raw"), "lv", token{})
		}, "10:00:01 kinds i=-3 u=7 f=0.25 b=true d=1.5s t=2026-01-02T03:04:05.006Z nil=<nil> any=\"[1 2]\" text=127.0.0.1:80 bytes=raw lv=resolved\n"},
		{"group attr", false, func(l *slog.Logger) {
			l.Info("req", slog.Group("http", "method", "GET", slog.Group("url", "path", "/x")), "n", 1)
		}, "10:00:01 req http.method=GET http.url.path=/x n=1\n"},
		{"empty group and empty attr", false, func(l *slog.Logger) {
			l.Info("m", slog.Group("g"), slog.Attr{}, "a", 1)
		}, "10:00:01 m a=1\n"},
		{"inline group with an empty key", false, func(l *slog.Logger) {
			l.Info("m", slog.Group("", "a", 1, "b", 2))
		}, "10:00:01 m a=1 b=2\n"},
		{"WithAttrs before the record's", false, func(l *slog.Logger) {
			l.With("worker", "db").Info("m", "a", 1)
		}, "10:00:01 m worker=db a=1\n"},
		{"WithAttrs on a transition: after the reason", false, func(l *slog.Logger) {
			l.With("boot", 2).Info("db-1 pending -> starting", "reason", "r")
		}, "10:00:01 db-1 pending → starting (r) boot=2\n"},
		{"WithGroup", false, func(l *slog.Logger) {
			l.With("a", 1).WithGroup("g").With("b", 2).WithGroup("h").Info("m", "c", 3)
		}, "10:00:01 m a=1 g.b=2 g.h.c=3\n"},
		{"WithGroup: the reason is a grouped attr", false, func(l *slog.Logger) {
			l.WithGroup("g").Info("db-1 a -> b", "reason", "r")
		}, "10:00:01 db-1 a → b g.reason=r\n"},
		{"WithGroup without attrs", false, func(l *slog.Logger) {
			l.WithGroup("g").WithGroup("h").Info("m")
		}, "10:00:01 m\n"},
		{"empty WithGroup name", false, func(l *slog.Logger) { l.WithGroup("").Info("m", "a", 1) },
			"10:00:01 m a=1\n"},
		{"control characters in the message", false, func(l *slog.Logger) {
			l.Info("bad\x1b[31m red\nline\u0085end\x01")
		}, `10:00:01 bad\x1b[31m red\nline\u0085end\x01` + "\n"},
		{"control characters in a reason", false, func(l *slog.Logger) {
			l.Info("db-1 a -> b", "reason", "x\x1by")
		}, `10:00:01 db-1 a → b (x\x1by)` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.log(slog.New(New(&buf, Options{Level: slog.LevelDebug, Color: tt.color, Now: fixedNow})))
			if got := buf.String(); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestLevelAndTime(t *testing.T) {
	at := time.Date(2026, 12, 3, 23, 59, 58, 0, time.FixedZone("X", 3600))
	tests := []struct {
		name  string
		opts  Options
		level slog.Level
		time  time.Time
		want  string
	}{
		{"default level drops debug", Options{}, slog.LevelDebug, at, ""},
		{"default level keeps info", Options{}, slog.LevelInfo, at, "23:59:58 m\n"},
		{"level warn drops info", Options{Level: slog.LevelWarn}, slog.LevelInfo, at, ""},
		{"a LevelVar", Options{Level: new(slog.LevelVar)}, slog.LevelInfo, at, "23:59:58 m\n"},
		{"the record's time in its own zone", Options{}, slog.LevelInfo, at, "23:59:58 m\n"},
		{"Now replaces the time", Options{Now: fixedNow}, slog.LevelInfo, at, "10:00:01 m\n"},
		{"no time", Options{Now: fixedNow}, slog.LevelInfo, time.Time{}, "m\n"},
		{"no time, warn", Options{}, slog.LevelWarn, time.Time{}, "WARN m\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := New(&buf, tt.opts)
			if h.Enabled(context.Background(), tt.level) {
				if err := h.Handle(context.Background(), slog.NewRecord(tt.time, tt.level, "m", 0)); err != nil {
					t.Fatal(err)
				}
			}
			if got := buf.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestSlogtest runs the standard library's handler conformance checks,
// reading the lines back into maps.
func TestSlogtest(t *testing.T) {
	var buf bytes.Buffer
	slogtest.Run(t, func(*testing.T) slog.Handler {
		buf.Reset()
		return New(&buf, Options{})
	}, func(t *testing.T) map[string]any {
		return parseLine(t, buf.String())
	})
}

var clock = regexp.MustCompile(`^\d\d:\d\d:\d\d$`)

// parseLine reads a line of a one-word message back: "[time] [LEVEL] msg
// k=v ...", with dotted keys as nested groups.
func parseLine(t *testing.T, line string) map[string]any {
	t.Helper()
	if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
		t.Fatalf("want one line, got %q", line)
	}
	fields := splitFields(t, strings.TrimSuffix(line, "\n"))
	m := map[string]any{slog.LevelKey: "INFO"}
	if len(fields) > 0 && clock.MatchString(fields[0]) {
		m[slog.TimeKey], fields = fields[0], fields[1:]
	}
	if len(fields) > 0 && regexp.MustCompile(`^(DEBUG|WARN|ERROR)`).MatchString(fields[0]) {
		m[slog.LevelKey], fields = fields[0], fields[1:]
	}
	if len(fields) == 0 {
		t.Fatalf("no message in %q", line)
	}
	m[slog.MessageKey] = fields[0]
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			t.Fatalf("attr %q in %q is not key=value", f, line)
		}
		if strings.HasPrefix(v, `"`) {
			uq, err := strconv.Unquote(v)
			if err != nil {
				t.Fatalf("value %s: %v", v, err)
			}
			v = uq
		}
		g := m
		path := strings.Split(k, ".")
		for _, p := range path[:len(path)-1] {
			sub, ok := g[p].(map[string]any)
			if !ok {
				sub = map[string]any{}
				g[p] = sub
			}
			g = sub
		}
		g[path[len(path)-1]] = v
	}
	return m
}

// splitFields splits at spaces outside double quotes.
func splitFields(t *testing.T, s string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && quoted && i+1 < len(s):
			cur.WriteByte(c)
			i++
			cur.WriteByte(s[i])
		case c == '"':
			quoted = !quoted
			cur.WriteByte(c)
		case c == ' ' && !quoted:
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if quoted {
		t.Fatalf("unterminated quote in %q", s)
	}
	return append(out, cur.String())
}

// writes records each Write call, as a file would receive it.
type writes struct {
	mu    sync.Mutex
	calls []string
}

func (w *writes) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.calls = append(w.calls, string(p))
	w.mu.Unlock()
	return len(p), nil
}

// TestConcurrent logs from many goroutines through derived handlers, which
// share the one writer: every record is one Write of one whole line.
func TestConcurrent(t *testing.T) {
	const goroutines, each = 8, 200
	w := &writes{}
	root := slog.New(New(w, Options{Now: fixedNow}))
	var wg sync.WaitGroup
	for g := range goroutines {
		l := root.With("g", g)
		if g%2 == 1 {
			l = l.WithGroup("odd")
		}
		wg.Go(func() {
			for i := range each {
				l.Info(fmt.Sprintf("w-%d a -> b", g), "reason", "r", "i", i)
			}
		})
	}
	wg.Wait()
	if len(w.calls) != goroutines*each {
		t.Fatalf("%d writes, want %d", len(w.calls), goroutines*each)
	}
	line := regexp.MustCompile(`^10:00:01 w-\d a → b (\(r\) g=\d i=\d+|g=\d odd\.reason=r odd\.i=\d+)\n$`)
	for _, c := range w.calls {
		if !line.MatchString(c) {
			t.Fatalf("write %q is not one whole line", c)
		}
	}
}

// TestAllocs: a record of strings and numbers formats without allocating
// (with the race detector, sync.Pool drops buffers on purpose).
func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool is not reliable under the race detector")
	}
	h := New(discard{}, Options{Now: fixedNow}).WithAttrs([]slog.Attr{slog.String("worker", "db")})
	ctx := context.Background()
	records := []slog.Record{
		slog.NewRecord(fixed, slog.LevelInfo, "db-1 pending -> starting", 0),
		slog.NewRecord(fixed, slog.LevelWarn, "a state file write failed", 0),
	}
	records[0].AddAttrs(slog.String("reason", "dependencies met"))
	records[1].AddAttrs(slog.String("file", "/var/lib/hsu/state"), slog.Int("failed_writes", 3), slog.Bool("degraded", true))
	for _, r := range records {
		if n := testing.AllocsPerRun(100, func() { h.Handle(ctx, r) }); n != 0 {
			t.Errorf("%q: %v allocations per record, want 0", r.Message, n)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func BenchmarkHandle(b *testing.B) {
	h := New(discard{}, Options{})
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "db-1 pending -> starting", 0)
	r.AddAttrs(slog.String("reason", "dependencies met"), slog.Int("pid", 4242))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		h.Handle(ctx, r)
	}
}
