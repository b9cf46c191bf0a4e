package config

import (
	"reflect"
	"testing"
)

func TestExpand(t *testing.T) {
	env := map[string]string{"HOST": "db.local", "EMPTY": "", "PORT": "5432"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "plain", want: "plain"},
		{in: "${HOST}", want: "db.local"},
		{in: "postgres://${HOST}:${PORT}/app", want: "postgres://db.local:5432/app"},
		{in: "${MISSING:-fallback}", want: "fallback"},
		{in: "${EMPTY:-fallback}", want: "fallback"},
		{in: "${EMPTY-fallback}", want: ""},
		{in: "${MISSING-fallback}", want: "fallback"},
		{in: "${MISSING:-}", want: ""},
		{in: "${HOST:-fallback}", want: "db.local"},
		{in: "${HOST:?need a host}", want: "db.local"},
		{in: "${EMPTY?set}", want: ""},
		{in: "cost: $$5", want: "cost: $5"},
		{in: "$${HOST}", want: "${HOST}"},
		{in: "echo $HOME $1", want: "echo $HOME $1"},
		{in: "trailing $", want: "trailing $"},
		{in: "${MISSING}", wantErr: "environment variable MISSING is not set (write ${MISSING:-} to allow empty)"},
		{in: "${MISSING:?set MISSING to the token}", wantErr: "environment variable MISSING: set MISSING to the token"},
		{in: "${EMPTY:?}", wantErr: "environment variable EMPTY: is not set"},
		{in: "${MISSING?}", wantErr: "environment variable MISSING: is not set"},
		{in: "${HOST", wantErr: `unterminated ${ in "${HOST"`},
		{in: "${}", wantErr: `invalid variable name "" in ${}`},
		{in: "${1A}", wantErr: `invalid variable name "1A" in ${1A}`},
		{in: "${A B}", wantErr: `invalid variable name "A B" in ${A B}`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Expand(tt.in, lookup)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Expand(%q) = %q, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// TestExpandInConfig checks that ${VAR} works in every kind of value: typed
// ones are expanded before they are parsed.
func TestExpandInConfig(t *testing.T) {
	src := `version: 1
workers:
  api:
    command: ["${BIN:-/usr/bin/api}", "--port", "${PORT}"]
    env:
      DSN: "postgres://${DB_HOST}/app"
      LITERAL: "$$HOME"
    replicas: ${REPLICAS}
    resources:
      memory: {max: "${MEM:-256Mi}"}
    stop: {timeout: "${STOP_TIMEOUT}"}
`
	env := map[string]string{"PORT": "8080", "DB_HOST": "db:5432", "REPLICAS": "3", "STOP_TIMEOUT": "30s"}
	cfg, err := load(memFS{mainFile: src}, env)
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Workers["api"]
	if want := []string{"/usr/bin/api", "--port", "8080"}; !reflect.DeepEqual(w.Command, want) {
		t.Errorf("command = %q, want %q", w.Command, want)
	}
	if want := (EnvMap{"DSN": "postgres://db:5432/app", "LITERAL": "$HOME"}); !reflect.DeepEqual(w.Env, want) {
		t.Errorf("env = %v, want %v", w.Env, want)
	}
	if w.Replicas != 3 || w.Resources.Memory.Max != 256<<20 || w.Stop.Timeout.String() != "30s" {
		t.Errorf("replicas %d, memory %s, stop timeout %s; want 3, 256Mi, 30s", w.Replicas, w.Resources.Memory.Max, w.Stop.Timeout)
	}
}

func TestParseEnvFile(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    [][2]string
		wantErr string
	}{
		{
			name: "plain, export, comments and blanks",
			in:   "# settings\n\nA=1\nexport B=two words\n  C = spaced  \nD=x # trailing comment\nE=a#b\nF=\n",
			want: [][2]string{{"A", "1"}, {"B", "two words"}, {"C", "spaced"}, {"D", "x"}, {"E", "a#b"}, {"F", ""}},
		},
		{
			name: "single quotes are literal",
			in:   `A='x # not a comment \n $B'` + "\n",
			want: [][2]string{{"A", `x # not a comment \n $B`}},
		},
		{
			name: "double quotes with escapes",
			in:   `A="tab\there \"quoted\" back\\slash" # comment` + "\nB=\"line1\\nline2\"\n",
			want: [][2]string{{"A", "tab\there \"quoted\" back\\slash"}, {"B", "line1\nline2"}},
		},
		{
			name: "multi-line double quotes",
			in:   "KEY=\"-----BEGIN-----\nabc\n-----END-----\"\nNEXT=1\n",
			want: [][2]string{{"KEY", "-----BEGIN-----\nabc\n-----END-----"}, {"NEXT", "1"}},
		},
		{
			name: "later lines win when applied in order",
			in:   "A=1\nA=2\n",
			want: [][2]string{{"A", "1"}, {"A", "2"}},
		},
		{
			name: "CRLF line endings",
			in:   "A=1\r\nB=2\r\n",
			want: [][2]string{{"A", "1"}, {"B", "2"}},
		},
		{name: "empty", in: "", want: nil},
		{name: "no equals", in: "A=1\n\nnot a pair\n", wantErr: `line 3: expected KEY=VALUE, got "not a pair"`},
		{name: "empty key", in: "=1\n", wantErr: `line 1: expected KEY=VALUE, got "=1"`},
		{name: "bad name", in: "A=1\n1A=2\n", wantErr: `line 2: invalid variable name "1A"`},
		{name: "unterminated single quote", in: "A=1\nB='abc\nC=2\n", wantErr: `line 2: unterminated ' quote`},
		{name: "unterminated double quote", in: "A=1\nB=\"abc\nC=2\n", wantErr: `line 2: unterminated " quote`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEnvFile([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseEnvFile = %q, %v; want error %q", got, err, tt.wantErr)
				}
				if _, ok := err.(*EnvFileError); !ok {
					t.Errorf("error is %T, want *EnvFileError", err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseEnvFile = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
