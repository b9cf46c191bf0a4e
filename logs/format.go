package logs

import (
	"hash/fnv"
	"os"
	"strconv"
	"time"
	"unicode/utf8"
)

// palette holds the six ANSI foreground colours worker labels cycle through.
var palette = [6]string{"\x1b[36m", "\x1b[33m", "\x1b[32m", "\x1b[35m", "\x1b[34m", "\x1b[31m"}

const reset = "\x1b[0m"

// colorFor returns the stable colour of a worker name.
func colorFor(name string) []byte {
	f := fnv.New32a()
	f.Write([]byte(name))
	return []byte(palette[f.Sum32()%uint32(len(palette))])
}

// ColorFor reports whether console output to f should be coloured: not
// when NO_COLOR is set to a non-empty value (no-color.org), not when TERM
// is "dumb", and only when f is a terminal. On Windows it also turns on the
// console's ANSI escape processing, and says false if that fails.
func ColorFor(f *os.File) bool {
	if f == nil || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	return isTerminal(f)
}

// IsTerminal reports whether f is a terminal, whatever NO_COLOR and TERM
// say: for choosing a format for people (hsu run's log) apart from
// choosing colour (ColorFor).
func IsTerminal(f *os.File) bool { return f != nil && isTerminal(f) }

// labelWidth is the width of the widest label "NAME-i" of a worker.
func labelWidth(name string, replicas int) int {
	return utf8.RuneCountInString(name) + 1 + len(strconv.Itoa(max(replicas, 1)))
}

// appendConsole appends the console form of l: "NAME-i | text".
func appendConsole(dst []byte, w *worker, l *Line, width int, color bool) []byte {
	if color {
		dst = append(dst, w.color...)
	}
	start := len(dst)
	dst = append(dst, l.Worker...)
	if l.Replica > 0 {
		dst = append(dst, '-')
		dst = strconv.AppendInt(dst, int64(l.Replica), 10)
	}
	for n := utf8.RuneCount(dst[start:]); n < width; n++ {
		dst = append(dst, ' ')
	}
	switch l.Stream {
	case StreamStderr:
		dst = append(dst, " !"...)
	case StreamStdout:
		dst = append(dst, " |"...)
	default:
		dst = append(dst, " *"...)
	}
	if color {
		dst = append(dst, reset...)
	}
	if l.Text != "" {
		dst = append(dst, ' ')
		dst = append(dst, l.Text...)
	}
	return append(dst, '\n')
}

// appendFile appends the file form of l in the worker's format.
func appendFile(dst []byte, w *worker, l *Line) []byte {
	if w.format == "json" {
		return appendJSON(dst, l)
	}
	if w.replicas > 1 && l.Replica > 0 {
		dst = append(dst, '[')
		dst = strconv.AppendInt(dst, int64(l.Replica), 10)
		dst = append(dst, "] "...)
	}
	if l.Stream == StreamHsu {
		dst = append(dst, "hsu: "...)
	}
	dst = append(dst, l.Text...)
	return append(dst, '\n')
}

// appendJSON appends {"time","worker","replica","stream","line"} and a newline.
func appendJSON(dst []byte, l *Line) []byte {
	dst = append(dst, `{"time":"`...)
	dst = l.Time.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","worker":`...)
	dst = appendJSONString(dst, l.Worker)
	dst = append(dst, `,"replica":`...)
	dst = strconv.AppendInt(dst, int64(l.Replica), 10)
	dst = append(dst, `,"stream":`...)
	dst = appendJSONString(dst, l.Stream)
	dst = append(dst, `,"line":`...)
	dst = appendJSONString(dst, l.Text)
	return append(dst, "}\n"...)
}

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\u202`...)
			dst = append(dst, hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
