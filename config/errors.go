package config

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a position in a config file.
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Error is one problem in a config, located in its file.
type Error struct {
	Pos
	Path string // key path like workers.api.restart.policy; empty for file-level problems
	Msg  string
}

func (e Error) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.Pos, e.Path, e.Msg)
}

// MaxErrors caps how many errors one load reports; the rest are counted.
const MaxErrors = 50

// ErrorList is every problem found in a config, sorted by position.
type ErrorList struct {
	Errs    []Error
	Dropped int // errors beyond MaxErrors
}

func (l *ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l.Errs {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	if l.Dropped > 0 {
		fmt.Fprintf(&b, "\n... and %d more errors", l.Dropped)
	}
	return b.String()
}

func (l *ErrorList) add(e Error) {
	if len(l.Errs) >= 10*MaxErrors {
		// Hostile input can produce errors without end; keep the work bounded.
		l.Dropped++
		return
	}
	for _, o := range l.Errs {
		if o == e {
			return
		}
	}
	l.Errs = append(l.Errs, e)
}

func (l *ErrorList) len() int { return len(l.Errs) }

// finish sorts, caps and returns nil when there is nothing to report.
func (l *ErrorList) finish() error {
	if len(l.Errs) == 0 {
		return nil
	}
	sort.SliceStable(l.Errs, func(i, j int) bool {
		a, b := l.Errs[i], l.Errs[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		return a.Msg < b.Msg
	})
	if len(l.Errs) > MaxErrors {
		l.Dropped += len(l.Errs) - MaxErrors
		l.Errs = l.Errs[:MaxErrors]
	}
	return l
}

// suggest returns the candidate closest to s, or "" when none is close
// enough to be a plausible typo.
func suggest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := editDistance(strings.ToLower(s), strings.ToLower(c))
		if d < bestD {
			best, bestD = c, d
		}
	}
	limit := 2
	if len(s) > 8 {
		limit = len(s) / 3
	}
	if bestD <= limit && bestD < len(s) {
		return best
	}
	return ""
}

// editDistance is the Damerau-Levenshtein (optimal string alignment) distance,
// so a swapped pair of letters counts as one typo.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
