// Package humanlog is a slog.Handler that writes hsu's own log for people
// at a console, between the workers' "NAME-i | text" lines:
//
//	10:00:01 hsu running config=hsu.yaml workers=3
//	10:00:01 db-1 pending → starting (dependencies met)
//	10:00:02 WARN sd_notify failed err="connection refused"
//
// It owns the line format only: where the lines go and from which level
// on is the caller's. Each record is one Write of one line, under one
// mutex shared by every handler derived from New, so lines never
// interleave. It is not a format to parse: machines read the json one.
package humanlog

import (
	"context"
	"encoding"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Options configures a handler; the zero value logs INFO and up, without
// colour, at each record's time.
type Options struct {
	// Level is the lowest level written; nil means slog.LevelInfo.
	Level slog.Leveler
	// Color colours the level of WARN (yellow), ERROR (red) and DEBUG
	// (grey) lines with ANSI escapes.
	Color bool
	// Now, when set, replaces each record's time (for tests); a record
	// without a time still prints none.
	Now func() time.Time
}

// New returns a handler that writes one line per record to w.
func New(w io.Writer, opts Options) slog.Handler {
	return &handler{out: &output{w: w}, opts: opts}
}

// output is the writer every handler derived from one New shares.
type output struct {
	mu sync.Mutex
	w  io.Writer
}

type handler struct {
	out  *output
	opts Options
	// attrs are the attributes of WithAttrs, formatted (" k=v" each), so
	// a record pays only for its own.
	attrs []byte
	// groups are the open groups of WithGroup, as a key prefix ("g.h.").
	groups string
}

func (h *handler) Enabled(_ context.Context, l slog.Level) bool {
	lowest := slog.LevelInfo
	if h.opts.Level != nil {
		lowest = h.opts.Level.Level()
	}
	return l >= lowest
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	h2 := *h
	h2.attrs = append([]byte(nil), h.attrs...)
	for _, a := range attrs {
		h2.attrs = appendAttr(h2.attrs, h.groups, a)
	}
	return &h2
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.groups = h.groups + name + "."
	return &h2
}

var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

func (h *handler) Handle(_ context.Context, r slog.Record) error {
	bp := bufs.Get().(*[]byte)
	b := h.appendRecord((*bp)[:0], &r)
	h.out.mu.Lock()
	_, err := h.out.w.Write(b)
	h.out.mu.Unlock()
	if cap(b) <= 64<<10 { // one huge record must not pin its buffer
		*bp = b
		bufs.Put(bp)
	}
	return err
}

// appendRecord appends the line of r: "15:04:05 [LEVEL ]message attrs\n".
func (h *handler) appendRecord(b []byte, r *slog.Record) []byte {
	if !r.Time.IsZero() {
		t := r.Time
		if h.opts.Now != nil {
			t = h.opts.Now()
		}
		b = t.AppendFormat(b, "15:04:05")
		b = append(b, ' ')
	}
	if r.Level != slog.LevelInfo {
		b = h.appendLevel(b, r.Level)
		b = append(b, ' ')
	}
	// A state change ("db-1 pending -> starting", reason=...) reads as
	// "db-1 pending → starting (reason)".
	reason, hasReason := "", false
	label, from, to, isTransition := transition(r.Message)
	if isTransition && h.groups == "" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "reason" {
				reason, hasReason = a.Value.Resolve().String(), true
				return false
			}
			return true
		})
	}
	if isTransition {
		b = appendText(b, label)
		b = append(b, ' ')
		b = appendText(b, from)
		b = append(b, " → "...)
		b = appendText(b, to)
		if reason != "" {
			b = append(b, " ("...)
			b = appendText(b, reason)
			b = append(b, ')')
		}
	} else {
		b = appendText(b, r.Message)
	}
	b = append(b, h.attrs...)
	skipReason := hasReason
	r.Attrs(func(a slog.Attr) bool {
		if skipReason && a.Key == "reason" {
			skipReason = false // the first only: that is the one shown
			return true
		}
		b = appendAttr(b, h.groups, a)
		return true
	})
	return append(b, '\n')
}

const (
	red    = "\x1b[31m"
	yellow = "\x1b[33m"
	grey   = "\x1b[90m"
	reset  = "\x1b[0m"
)

func (h *handler) appendLevel(b []byte, l slog.Level) []byte {
	color := ""
	if h.opts.Color {
		switch {
		case l >= slog.LevelError:
			color = red
		case l >= slog.LevelWarn:
			color = yellow
		case l < slog.LevelInfo:
			color = grey
		}
	}
	b = append(b, color...)
	b = append(b, l.String()...)
	if color != "" {
		b = append(b, reset...)
	}
	return b
}

// transition splits a state change as the driver logs it, "NAME-i FROM ->
// TO"; ok is false for any other message.
func transition(msg string) (label, from, to string, ok bool) {
	label, rest, ok := strings.Cut(msg, " ")
	if !ok || !isLabel(label) {
		return "", "", "", false
	}
	from, to, ok = strings.Cut(rest, " -> ")
	if !ok || !isWord(from) || !isWord(to) {
		return "", "", "", false
	}
	return label, from, to, true
}

// isLabel: an instance label, "NAME-i" with i a number.
func isLabel(s string) bool {
	i := strings.LastIndexByte(s, '-')
	if i <= 0 || i == len(s)-1 {
		return false
	}
	for _, c := range []byte(s[i+1:]) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isWord: a state name.
func isWord(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && c != '_' {
			return false
		}
	}
	return true
}

// appendAttr appends " key=value", with groups ("g.") before the key, and
// a group's attributes each in turn.
func appendAttr(b []byte, groups string, a slog.Attr) []byte {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return b
	}
	if a.Value.Kind() == slog.KindGroup {
		attrs := a.Value.Group()
		if len(attrs) == 0 {
			return b
		}
		if a.Key != "" {
			groups += a.Key + "."
		}
		for _, ga := range attrs {
			b = appendAttr(b, groups, ga)
		}
		return b
	}
	b = append(b, ' ')
	if needsQuote(a.Key) || (groups != "" && needsQuote(groups)) {
		b = strconv.AppendQuote(b, groups+a.Key)
	} else {
		b = append(b, groups...)
		b = append(b, a.Key...)
	}
	b = append(b, '=')
	return appendValue(b, a.Value)
}

func appendValue(b []byte, v slog.Value) []byte {
	switch v.Kind() {
	case slog.KindString:
		return appendString(b, v.String())
	case slog.KindInt64:
		return strconv.AppendInt(b, v.Int64(), 10)
	case slog.KindUint64:
		return strconv.AppendUint(b, v.Uint64(), 10)
	case slog.KindFloat64:
		return strconv.AppendFloat(b, v.Float64(), 'g', -1, 64)
	case slog.KindBool:
		return strconv.AppendBool(b, v.Bool())
	case slog.KindDuration:
		return append(b, v.Duration().String()...)
	case slog.KindTime:
		return v.Time().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	}
	switch x := v.Any().(type) {
	case nil:
		return append(b, "<nil>"...)
	case error:
		return appendString(b, x.Error())
	case encoding.TextMarshaler:
		t, err := x.MarshalText()
		if err != nil {
			return appendString(b, "!ERROR:"+err.Error())
		}
		return appendString(b, string(t))
	case []byte:
		return appendString(b, string(x))
	default:
		return appendString(b, fmt.Sprint(x))
	}
}

// appendString appends s, quoted when it would not read back as one value.
func appendString(b []byte, s string) []byte {
	if needsQuote(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

// needsQuote: s is empty, or has a space, '=', '"', or a rune that does
// not print as itself.
func needsQuote(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c <= ' ' || c == '=' || c == '"' || c == 0x7f {
				return true
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += n
	}
	return false
}

// appendText appends a message as it is, with control characters (an
// escape sequence, a newline) escaped: one record, one line, and no text
// that steers the terminal.
func appendText(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		r, n := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, n = utf8.DecodeRuneInString(s[i:])
		}
		if r >= ' ' && r != 0x7f && (r < 0x80 || r >= 0xa0) && (r != utf8.RuneError || n > 1) {
			i += n
			continue
		}
		b = append(b, s[start:i]...)
		switch r {
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			const hex = "0123456789abcdef"
			if n == 1 { // an ASCII control, or a byte that is not UTF-8
				b = append(b, '\\', 'x', hex[s[i]>>4], hex[s[i]&15])
			} else { // a C1 control
				b = append(b, '\\', 'u', '0', '0', hex[r>>4], hex[r&15])
			}
		}
		i += n
		start = i
	}
	return append(b, s[start:]...)
}
