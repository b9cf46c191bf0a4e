package shellsplit

import (
	"slices"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		line string
		want []string // nil: runs under /bin/sh -c
	}{
		{"/bin/sh /opt/ready.sh 1", []string{"/bin/sh", "/opt/ready.sh", "1"}},
		{"sleep 100000", []string{"sleep", "100000"}},
		{"  redis-server   --port 6380  ", []string{"redis-server", "--port", "6380"}},
		{`prog 'a b' "c d" e'f'"g"`, []string{"prog", "a b", "c d", "efg"}},
		{"prog --flag=x # a comment", nil},
		{"prog '$HOME *'", []string{"prog", "$HOME *"}},
		{`prog "a b" 'c'`, []string{"prog", "a b", "c"}},
		{"[[ -f x ]]", nil},
		{"prog a|b", nil},
		{"prog ; x", nil},
		{"prog\tb", []string{"prog", "b"}},
		{`prog ''`, []string{"prog", ""}},
		{"prog $HOME", nil},
		{`prog "$HOME"`, nil},
		{"prog ${X:-1}", nil},
		{"prog `date`", nil},
		{"prog $(date)", nil},
		{"prog $((1+2))", nil},
		{"prog *.txt", nil},
		{"prog a?", nil},
		{"prog [ab]", nil},
		{"prog ~/x", nil},
		{"prog --dir=~/x", nil},
		{`prog a\ b`, nil},
		{`prog "a\"b"`, nil},
		{"prog $'a'", nil},
		{"prog {a,b}", nil},
		{"prog a=b:c,d@e%f+g", []string{"prog", "a=b:c,d@e%f+g"}},
		{"prog > out.log", nil},
		{"prog 2>&1", nil},
		{"prog < in", nil},
		{"prog | grep x", nil},
		{"prog && other", nil},
		{"prog; other", nil},
		{"prog &", nil},
		{"! prog", nil},
		{"X=1 prog", nil},
		{"exec prog", nil},
		{"cd /tmp", nil},
		{"ulimit -n 10", nil},
		{"echo hi", nil},
		{"(prog)", nil},
		{"{ prog; }", nil},
		{"if true; then prog; fi", nil},
		{"while :; do prog; done", nil},
		{"prog 'unterminated", nil},
		{"", nil},
		{"prog\nother", nil},
	}
	for _, tt := range tests {
		got, ok := Split(tt.line)
		if ok != (tt.want != nil) || !slices.Equal(got, tt.want) {
			t.Errorf("Split(%q) = %q, %v; want %q", tt.line, got, ok, tt.want)
		}
	}
}

func FuzzSplit(f *testing.F) {
	for _, s := range []string{"prog a 'b c'", "prog $X", "a | b", `"x"y'z'`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		argv, ok := Split(line)
		if ok && len(argv) == 0 {
			t.Fatalf("Split(%q): ok with no words", line)
		}
		if ok && builtins[argv[0]] {
			t.Fatalf("Split(%q): a builtin %q runs without the shell", line, argv[0])
		}
	})
}
