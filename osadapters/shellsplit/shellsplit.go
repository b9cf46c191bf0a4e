// Package shellsplit tells whether a worker's shell: line is one simple
// command that /bin/sh would only split into words and exec, and gives
// those words. hsu then execs the program itself: the shell in between
// costs an exec per start (a millisecond of CPU on a small VM, and a
// cold start of 100 workers is 100 of them), and changes nothing the
// worker could notice, since sh -c execs a last simple command in place.
package shellsplit

import (
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// Split returns the argv of line when it is one simple command made of
// plain words: no expansion ($, `, globs, ~), no redirection, pipe, list,
// assignment or background, no backslash, and a program that is not a
// shell builtin (cd, exec, ulimit, echo: their meaning is the shell's).
// ok is false for anything else, which then runs under /bin/sh -c.
func Split(line string) (argv []string, ok bool) {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(strings.NewReader(line), "")
	if err != nil || len(f.Stmts) != 1 {
		return nil, false
	}
	st := f.Stmts[0]
	if st.Negated || st.Background || st.Coprocess || st.Disown || len(st.Redirs) > 0 {
		return nil, false
	}
	call, isCall := st.Cmd.(*syntax.CallExpr)
	if !isCall || len(call.Assigns) > 0 || len(call.Args) == 0 {
		return nil, false
	}
	for _, w := range call.Args {
		arg, ok := plainWord(w)
		if !ok {
			return nil, false
		}
		argv = append(argv, arg)
	}
	if builtins[argv[0]] {
		return nil, false
	}
	return argv, true
}

// plainWord is the value of a word the shell passes on as it stands
// (quotes removed), or false if the shell would expand or unescape it.
func plainWord(w *syntax.Word) (string, bool) {
	var b strings.Builder
	for _, part := range w.Parts {
		switch p := part.(type) {
		case *syntax.Lit:
			// $ before quotes is $'...' in newer shells; where /bin/sh is
			// bash, braces expand, and so does ~ after an =.
			if strings.ContainsAny(p.Value, "\\*?[${}~") {
				return "", false
			}
			b.WriteString(p.Value)
		case *syntax.SglQuoted:
			if p.Dollar {
				return "", false
			}
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			if p.Dollar {
				return "", false
			}
			for _, q := range p.Parts {
				l, ok := q.(*syntax.Lit)
				if !ok || strings.ContainsRune(l.Value, '\\') {
					return "", false
				}
				b.WriteString(l.Value)
			}
		default:
			return "", false // a parameter, command or arithmetic expansion
		}
	}
	return b.String(), true
}

// builtins are the names dash and POSIX sh run themselves, or may: as
// the first word they mean the shell's builtin, not a program.
var builtins = map[string]bool{}

func init() {
	for _, n := range strings.Fields(`! . : [ alias bg break cd command continue echo eval exec exit
		export false fc fg getopts hash jobs kill local newgrp printf pwd read readonly return set
		shift test times trap true type ulimit umask unalias unset wait`) {
		builtins[n] = true
	}
}
