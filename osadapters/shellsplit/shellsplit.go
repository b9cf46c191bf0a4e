// Package shellsplit tells whether a worker's shell: line is one simple
// command that /bin/sh would only split into words and exec, and gives
// those words. hsu then execs the program itself: the shell in between
// costs an exec per start (a millisecond of CPU on a small VM, and a
// cold start of 100 workers is 100 of them), and changes nothing the
// worker could notice, since sh -c execs a last simple command in place.
//
// It is a deliberately small recogniser, not a shell parser: a line with
// any character that could mean more than a word to some /bin/sh (dash,
// bash, busybox) is left to the shell. (mvdan.cc/sh parses exactly, but
// its parser, paged in by every start, added half a MiB to hsu's idle
// memory.)
package shellsplit

import "strings"

// Split returns the argv of line when it is one simple command made of
// plain words: letters, digits and _ - . / , : = + @ % ^, in single or
// double quotes or not, separated by blanks; and a first word that is
// neither an assignment nor a shell keyword or builtin (cd, exec, ulimit,
// echo: their meaning is the shell's). ok is false for anything else
// ($, `, globs, ~, \, redirections, pipes, lists, &, comments, braces),
// which then runs under /bin/sh -c.
func Split(line string) (argv []string, ok bool) {
	var word strings.Builder
	inWord, quoted := false, false // quoted: the word had quotes (so "" is a word)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				argv = append(argv, word.String())
				word.Reset()
				inWord, quoted = false, false
			}
		case c == '\'' || c == '"':
			end := strings.IndexByte(line[i+1:], c)
			if end < 0 {
				return nil, false // unterminated: the shell's error
			}
			inner := line[i+1 : i+1+end]
			for j := 0; j < len(inner); j++ {
				if !plain(inner[j]) && inner[j] != ' ' && (c == '"' || inner[j] == '\n') {
					return nil, false // "$x", "`x`", "\x", "!x": the shell expands them
				}
			}
			word.WriteString(inner)
			inWord, quoted = true, true
			i += end + 1
		case plain(c):
			word.WriteByte(c)
			inWord = true
		default:
			return nil, false
		}
	}
	if inWord || quoted {
		argv = append(argv, word.String())
	}
	if len(argv) == 0 || builtins[argv[0]] || assignment(line) {
		return nil, false
	}
	return argv, true
}

// plain: a character no shell gives a meaning to inside a word.
func plain(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("_-./,:=+@%^", c) >= 0
}

// assignment: the line's first word is NAME=..., which sets a variable
// for the command that follows rather than naming a program.
func assignment(line string) bool {
	first := strings.TrimLeft(line, " \t")
	n := 0
	for n < len(first) && (first[n] == '_' || 'a' <= first[n] && first[n] <= 'z' || 'A' <= first[n] && first[n] <= 'Z' || n > 0 && '0' <= first[n] && first[n] <= '9') {
		n++
	}
	return n > 0 && n < len(first) && first[n] == '='
}

// builtins are the keywords and builtins of dash, bash and POSIX sh: as
// the first word they mean the shell's, not a program.
var builtins = map[string]bool{}

func init() {
	for _, n := range strings.Fields(`! . : [ [[ { } alias bg break builtin case cd command continue
		declare do done echo elif else esac eval exec exit export false fc fg fi for function getopts
		hash if in jobs kill let local logout newgrp printf pwd read readonly return select set shift
		source test then time times trap true type typeset ulimit umask unalias unset until wait while`) {
		builtins[n] = true
	}
}
