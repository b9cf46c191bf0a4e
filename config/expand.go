package config

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// Expand substitutes ${VAR}, ${VAR:-default}, ${VAR-default} and
// ${VAR:?message} in s; $$ is a literal $. A $ followed by anything else is
// kept as written, so shell snippets like "echo $HOME" pass through to the
// shell. An unset ${VAR} without a default is an error: a typo in a
// variable name must not silently become an empty string.
func Expand(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '{':
		default:
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in %q", s)
		}
		expr := s[i+2 : i+2+end]
		val, err := expandOne(expr, lookup)
		if err != nil {
			return "", err
		}
		b.WriteString(val)
		i += 2 + end
	}
	return b.String(), nil
}

func expandOne(expr string, lookup func(string) (string, bool)) (string, error) {
	name, op, arg := expr, "", ""
	for _, o := range []string{":-", ":?", "-", "?"} {
		if i := strings.Index(expr, o); i > 0 {
			name, op, arg = expr[:i], o, expr[i+len(o):]
			break
		}
	}
	if !validEnvName(name) {
		return "", fmt.Errorf("invalid variable name %q in ${%s}", name, expr)
	}
	val, set := lookup(name)
	switch op {
	case "":
		if !set {
			return "", fmt.Errorf("environment variable %s is not set (write ${%s:-} to allow empty)", name, name)
		}
		return val, nil
	case ":-":
		if !set || val == "" {
			return arg, nil
		}
	case "-":
		if !set {
			return arg, nil
		}
	case ":?", "?":
		if !set || (op == ":?" && val == "") {
			if arg == "" {
				arg = "is not set"
			}
			return "", fmt.Errorf("environment variable %s: %s", name, arg)
		}
	}
	return val, nil
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// EnvFileError is a problem at one line of a dotenv file.
type EnvFileError struct {
	Line int
	Msg  string
}

func (e *EnvFileError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// ParseEnvFile reads dotenv syntax: KEY=VALUE lines, optional "export ",
// # comments, blank lines, 'single' quotes taken literally and "double"
// quotes with \n \t \" \\ escapes (and spanning lines). Values are not
// ${VAR}-expanded. Later lines win.
func ParseEnvFile(data []byte) ([][2]string, error) {
	var out [][2]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		text = strings.TrimPrefix(text, "export ")
		eq := strings.IndexByte(text, '=')
		if eq <= 0 {
			return nil, &EnvFileError{line, fmt.Sprintf("expected KEY=VALUE, got %q", text)}
		}
		key, val := strings.TrimSpace(text[:eq]), strings.TrimSpace(text[eq+1:])
		if !validEnvName(key) {
			return nil, &EnvFileError{line, fmt.Sprintf("invalid variable name %q", key)}
		}
		start := line
		switch {
		case strings.HasPrefix(val, "'"):
			end := strings.IndexByte(val[1:], '\'')
			if end < 0 {
				return nil, &EnvFileError{start, "unterminated ' quote"}
			}
			val = val[1 : 1+end]
		case strings.HasPrefix(val, `"`):
			raw := val[1:]
			for !closedDouble(raw) {
				if !sc.Scan() {
					return nil, &EnvFileError{start, `unterminated " quote`}
				}
				line++
				raw += "\n" + sc.Text()
			}
			val = unescapeDouble(raw[:closingDouble(raw)])
		default:
			if i := strings.Index(val, " #"); i >= 0 {
				val = strings.TrimSpace(val[:i])
			}
		}
		out = append(out, [2]string{key, val})
	}
	if err := sc.Err(); err != nil {
		return nil, &EnvFileError{line + 1, err.Error()}
	}
	return out, nil
}

func closingDouble(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

func closedDouble(s string) bool { return closingDouble(s) >= 0 }

func unescapeDouble(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			default:
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
