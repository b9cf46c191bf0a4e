package cli

import (
	"fmt"
	"io"
	"strings"
	"time"
)

func init() {
	commands["completion"] = command{"print a shell completion script (bash, zsh or fish)", "bash|zsh|fish", cmdCompletion}
	commands["__workers"] = command{"", "", cmdCompleteWorkers} // hidden: the scripts' source of names
}

// verbsTakingWorkers complete worker names after the verb.
const verbsTakingWorkers = "status start stop restart scale signal logs wait"

func cmdCompletion(args []string, out, errOut io.Writer) int {
	fs := newFlags("completion", errOut)
	if code, done := parse(fs, args); done {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(errOut, "hsu completion: want bash, zsh or fish")
		return exitUsage
	}
	all := strings.Join(visibleVerbs(), " ")
	switch fs.Arg(0) {
	case "bash":
		fmt.Fprintf(out, `# hsu completion for bash: source <(hsu completion bash)
_hsu() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "%s" -- "$cur"))
    return
  fi
  case " %s " in
    *" ${COMP_WORDS[1]} "*)
      case "$cur" in
        -*) ;;
        *) COMPREPLY=($(compgen -W "$(hsu __workers 2>/dev/null) all" -- "$cur")); return ;;
      esac ;;
  esac
  COMPREPLY=($(compgen -f -- "$cur"))
}
complete -F _hsu hsu
`, all, verbsTakingWorkers)
	case "zsh":
		fmt.Fprintf(out, `#compdef hsu
# hsu completion for zsh: hsu completion zsh > "${fpath[1]}/_hsu"
_hsu() {
  if (( CURRENT == 2 )); then
    compadd -- %s
    return
  fi
  case " %s " in
    *" ${words[2]} "*) compadd -- ${(f)"$(hsu __workers 2>/dev/null)"} all ;;
    *) _files ;;
  esac
}
compdef _hsu hsu
`, all, verbsTakingWorkers)
	case "fish":
		fmt.Fprintf(out, "# hsu completion for fish: hsu completion fish | source\n")
		fmt.Fprintf(out, "complete -c hsu -f -n __fish_use_subcommand -a '%s'\n", all)
		fmt.Fprintf(out, "complete -c hsu -f -n '__fish_seen_subcommand_from %s' -a '(hsu __workers 2>/dev/null) all'\n", verbsTakingWorkers)
	default:
		fmt.Fprintf(errOut, "hsu completion: %q: want bash, zsh or fish\n", fs.Arg(0))
		return exitUsage
	}
	return exitOK
}

// cmdCompleteWorkers prints the running server's worker names, one per
// line; nothing (and success) when no server answers.
func cmdCompleteWorkers(args []string, out, errOut io.Writer) int {
	fs := newFlags("__workers", errOut)
	var cf clientFlags
	cf.register(fs)
	if code, done := parse(fs, args); done {
		return code
	}
	c := cf.client("__workers", io.Discard)
	ctx, cancel := withTimeout(2 * time.Second)
	defer cancel()
	st, err := c.status(ctx, nil)
	if err != nil {
		return exitOK
	}
	for _, w := range st.Workers {
		fmt.Fprintln(out, w.Name)
	}
	return exitOK
}

func visibleVerbs() []string {
	var out []string
	for _, v := range verbs() {
		if !strings.HasPrefix(v, "__") {
			out = append(out, v)
		}
	}
	return out
}
