package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// scalar is implemented by the value types that parse themselves from one
// YAML scalar. The decoder hands them the scalar text after ${VAR}
// expansion; the error they return is wrapped with the node's position.
type scalar interface {
	parseScalar(s string) error
	// schema describes the accepted forms for the JSON Schema.
	schema() map[string]any
}

// Duration is a length of time. It accepts Go syntax ("1m30s", "250ms"),
// a "d" suffix for days ("7d", "1d12h"), or a bare number of seconds ("10",
// "0.5"), so keys named *_seconds read naturally.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return formatDuration(time.Duration(d)) }

func (d *Duration) parseScalar(s string) error {
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func (Duration) schema() map[string]any {
	return map[string]any{
		"type":     []string{"string", "number"},
		"pattern":  `^\s*-?([0-9]+(\.[0-9]*)?|\.[0-9]+)(d|h|m|s|ms|us|µs|ns)?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(h|m|s|ms|us|µs|ns))*\s*$`,
		"examples": []string{"10s", "1m30s", "7d", "2"},
	}
}

// MarshalYAML writes the canonical form so a marshalled config reads back equal.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// ParseDuration parses the forms Duration accepts.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > float64(math.MaxInt64)/float64(time.Second) {
			return 0, fmt.Errorf("duration %q out of range", s)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	rest, days := s, 0.0
	neg := false
	if strings.HasPrefix(rest, "-") {
		neg, rest = true, rest[1:]
	}
	if i := strings.IndexByte(rest, 'd'); i >= 0 {
		f, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil || f < 0 || strings.ContainsAny(rest[:i], "eE+-") {
			return 0, fmt.Errorf("invalid duration %q (want Go syntax like 1m30s, a d suffix like 7d, or seconds)", s)
		}
		days, rest = f, rest[i+1:]
	}
	var d time.Duration
	if rest != "" {
		v, err := time.ParseDuration(rest)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("invalid duration %q (want Go syntax like 1m30s, a d suffix like 7d, or seconds)", s)
		}
		d = v
	}
	if days*24*float64(time.Hour)+float64(d) > float64(math.MaxInt64) {
		return 0, fmt.Errorf("duration %q out of range", s)
	}
	d += time.Duration(days * 24 * float64(time.Hour))
	if neg {
		d = -d
	}
	return d, nil
}

// formatDuration prints days as "d" so large values stay readable and the
// output is accepted by ParseDuration.
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	day := 24 * time.Hour
	if d > 0 && d >= day && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	s := d.String()
	// "5m0s" reads better as "5m", "1h0m0s" as "1h".
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Size is a byte count: a plain number of bytes, or a number with a binary
// (Ki, Mi, Gi, Ti) or decimal (K, M, G, T) suffix; an optional trailing B is
// accepted ("512Mi", "1GiB", "1G", "4096").
type Size int64

func (s *Size) parseScalar(v string) error {
	n, err := ParseSize(v)
	if err != nil {
		return err
	}
	*s = Size(n)
	return nil
}

func (Size) schema() map[string]any {
	return map[string]any{
		"type":     []string{"string", "integer"},
		"pattern":  `^\s*[0-9]+(\.[0-9]+)?\s*([KMGTkmgt]i?)?[Bb]?\s*$`,
		"examples": []string{"512Mi", "1Gi", "1G", "4096"},
	}
}

func (s Size) String() string {
	n := int64(s)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if n != 0 && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// MarshalYAML writes the canonical form so a marshalled config reads back equal.
func (s Size) MarshalYAML() (any, error) { return s.String(), nil }

// ParseSize parses the forms Size accepts.
func ParseSize(v string) (int64, error) {
	s := strings.TrimSpace(v)
	bad := fmt.Errorf("invalid size %q (want bytes or a number with Ki, Mi, Gi, Ti, K, M, G or T, like 512Mi)", v)
	if s == "" {
		return 0, bad
	}
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.TrimSpace(s[i:])
	if num == "" {
		return 0, bad
	}
	unit = strings.TrimSuffix(strings.TrimSuffix(unit, "B"), "b")
	mult := map[string]float64{
		"": 1, "K": 1e3, "k": 1e3, "M": 1e6, "m": 1e6, "G": 1e9, "g": 1e9, "T": 1e12, "t": 1e12,
		"Ki": 1 << 10, "ki": 1 << 10, "Mi": 1 << 20, "mi": 1 << 20, "Gi": 1 << 30, "gi": 1 << 30, "Ti": 1 << 40, "ti": 1 << 40,
	}
	m, ok := mult[unit]
	if !ok {
		return 0, bad
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, bad
	}
	total := f * m
	if total >= float64(math.MaxInt64) {
		return 0, fmt.Errorf("size %q out of range", v)
	}
	return int64(total), nil
}

// Cores is an amount of CPU in cores: 1.5, or Kubernetes-style millicores
// "500m", or a percentage of one core "150%".
type Cores float64

func (c *Cores) parseScalar(v string) error {
	s := strings.TrimSpace(v)
	div := 1.0
	switch {
	case strings.HasSuffix(s, "m"):
		s, div = strings.TrimSuffix(s, "m"), 1000
	case strings.HasSuffix(s, "%"):
		s, div = strings.TrimSuffix(s, "%"), 100
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("invalid CPU amount %q (want cores like 1.5, millicores like 500m, or a percentage like 150%%)", v)
	}
	*c = Cores(f / div)
	return nil
}

func (Cores) schema() map[string]any {
	return map[string]any{
		"type":     []string{"number", "string"},
		"pattern":  `^\s*[0-9]+(\.[0-9]+)?\s*(m|%)?\s*$`,
		"examples": []any{1.5, "500m", "150%"},
	}
}

// MarshalYAML writes a plain number of cores.
func (c Cores) MarshalYAML() (any, error) { return float64(c), nil }

// Signal is a POSIX signal name, normalised without the SIG prefix
// ("TERM"). Numbers are accepted for the common signals.
type Signal string

// signalNumbers are the Linux numbers; the OS adapters map names to their
// platform's values, so only the names matter outside Linux.
var signalNumbers = map[string]int{
	"HUP": 1, "INT": 2, "QUIT": 3, "ABRT": 6, "KILL": 9, "USR1": 10, "SEGV": 11,
	"USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "CONT": 18, "STOP": 19, "TSTP": 20, "WINCH": 28,
}

// SignalNames lists the accepted names in a stable order.
func SignalNames() []string {
	return []string{"HUP", "INT", "QUIT", "ABRT", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM", "TERM", "CONT", "STOP", "TSTP", "WINCH"}
}

// Number returns the Linux signal number.
func (s Signal) Number() int { return signalNumbers[string(s)] }

// ParseSignal accepts "TERM", "SIGTERM", "sigterm" or "15".
func ParseSignal(v string) (Signal, error) {
	s := strings.ToUpper(strings.TrimSpace(v))
	if n, err := strconv.Atoi(s); err == nil {
		for name, num := range signalNumbers {
			if num == n {
				return Signal(name), nil
			}
		}
		return "", fmt.Errorf("unknown signal number %d", n)
	}
	s = strings.TrimPrefix(s, "SIG")
	if _, ok := signalNumbers[s]; !ok {
		return "", fmt.Errorf("unknown signal %q (want one of %s)", v, strings.Join(SignalNames(), ", "))
	}
	return Signal(s), nil
}

func (s *Signal) parseScalar(v string) error {
	sig, err := ParseSignal(v)
	if err != nil {
		return err
	}
	*s = sig
	return nil
}

func (Signal) schema() map[string]any {
	names := []any{}
	for _, n := range SignalNames() {
		names = append(names, n, "SIG"+n)
	}
	return map[string]any{"anyOf": []any{
		map[string]any{"type": "string", "enum": names},
		map[string]any{"type": "integer", "minimum": 1, "maximum": 31},
	}}
}

// ParseRate parses a byte rate written SIZE/UNIT, with UNIT s, sec, min, m
// or h ("100Mi/min"), into bytes per second.
func ParseRate(v string) (float64, error) {
	size, unit, ok := strings.Cut(v, "/")
	if !ok {
		return 0, fmt.Errorf("invalid rate %q (want SIZE/UNIT like 100Mi/min)", v)
	}
	n, err := ParseSize(size)
	if err != nil {
		return 0, err
	}
	per := map[string]float64{"s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}[strings.TrimSpace(unit)]
	if per == 0 {
		return 0, fmt.Errorf("invalid rate unit %q (want s, min or h)", unit)
	}
	return float64(n) / per, nil
}
