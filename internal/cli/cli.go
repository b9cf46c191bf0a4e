// Package cli is the hsu command line: the subcommands, their flags and
// their output. It lives outside cmd/hsu so tests (testscripts) can run the
// real CLI in-process.
package cli

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/pflag"
)

// command is one hsu subcommand.
type command struct {
	summary string
	usage   string // the arguments after the verb
	run     func(args []string, out, errOut io.Writer) int
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"validate": {"check a config file and report every problem with file:line:col", "[-f FILE]", cmdValidate},
		"run":      {"supervise the workers of a config file in the foreground", "[-f FILE] [--state-dir DIR]", cmdRun},
		"schema":   {"print the JSON Schema of the config file", "", cmdSchema},
		"version":  {"print the version", "", cmdVersion},
		"help":     {"show help for a command", "[COMMAND]", cmdHelp},
	}
}

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// Run runs the hsu command line with args (without the program name) and
// returns the process exit code.
func Run(args []string, out, errOut io.Writer) int {
	if len(args) == 0 {
		usage(errOut)
		return exitUsage
	}
	verb := args[0]
	switch verb {
	case "-h", "--help":
		usage(out)
		return exitOK
	case "-v", "--version":
		verb = "version"
	}
	c, ok := commands[verb]
	if !ok {
		fmt.Fprintf(errOut, "hsu: unknown command %q\n", verb)
		if s := closest(verb); s != "" {
			fmt.Fprintf(errOut, "did you mean: hsu %s\n", s)
		}
		fmt.Fprintln(errOut, "run 'hsu help' for the list of commands")
		return exitUsage
	}
	return c.run(args[1:], out, errOut)
}

func usage(w io.Writer) {
	fmt.Fprint(w, `hsu supervises native processes: it starts workers from a YAML file, probes
their health, restarts them with back-off, enforces resource limits and
collects their logs.

Usage:
  hsu COMMAND [ARGS]

Commands:
`)
	for _, name := range visibleVerbs() {
		fmt.Fprintf(w, "  %-10s %s\n", name, commands[name].summary)
	}
	fmt.Fprint(w, "\nRun 'hsu COMMAND -h' for the flags of a command.\n")
}

func verbs() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func closest(verb string) string {
	for _, n := range verbs() {
		if strings.HasPrefix(n, verb) || strings.HasPrefix(verb, n) {
			return n
		}
	}
	return ""
}

// newFlags returns a flag set whose -h prints the command's real usage.
func newFlags(name string, errOut io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet("hsu "+name, pflag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() {
		c := commands[name]
		fmt.Fprintf(errOut, "Usage: hsu %s %s\n\n%s.\n", name, c.usage, upperFirst(c.summary))
		if fs.HasFlags() {
			fmt.Fprintf(errOut, "\nFlags:\n%s", fs.FlagUsages())
		}
	}
	return fs
}

// parse parses flags; done reports that the command should return code.
func parse(fs *pflag.FlagSet, args []string) (code int, done bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK, true
		}
		// Under ContinueOnError pflag prints nothing itself.
		fmt.Fprintf(fs.Output(), "%s: %v\nrun '%s -h' for usage\n", fs.Name(), err, fs.Name())
		return exitUsage, true
	}
	return 0, false
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func cmdHelp(args []string, out, errOut io.Writer) int {
	if len(args) == 0 {
		usage(out)
		return exitOK
	}
	if _, ok := commands[args[0]]; !ok {
		fmt.Fprintf(errOut, "hsu help: unknown command %q\n", args[0])
		return exitUsage
	}
	// Each command declares its flags when run; ask it for -h.
	return commands[args[0]].run([]string{"-h"}, out, out)
}

// cmdVersion prints the version, VCS revision and time, and Go version
// (buildinfo.go; the metrics' hsu_build_info has the same).
func cmdVersion(args []string, out, errOut io.Writer) int {
	fs := newFlags("version", errOut)
	if code, done := parse(fs, args); done {
		return code
	}
	fmt.Fprintln(out, readBuild())
	return exitOK
}
