package fuzz

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hsu-run/hsu/config"
)

// fuzzFile is the name the input is parsed under; errors in it must point
// inside it.
const fuzzFile = "/fuzz/hsu.yaml"

// fuzzEnv is the whole environment ${VAR} sees: fixed, so a result depends
// only on the input.
var fuzzEnv = map[string]string{"HOME": "/home/hsu", "PORT": "8080", "EMPTY": "", "DOLLAR": "$x"}

// fuzzOptions reads no disk: every env_file is missing and every include
// pattern matches nothing.
func fuzzOptions() config.Options {
	return config.Options{
		LookupEnv: func(k string) (string, bool) {
			v, ok := fuzzEnv[k]
			return v, ok
		},
		ReadFile: func(name string) ([]byte, error) {
			return nil, fmt.Errorf("open %s: %w", name, fs.ErrNotExist)
		},
		Glob: func(pattern string) ([]string, error) {
			if _, err := filepath.Match(pattern, ""); err != nil {
				return nil, err
			}
			return nil, nil
		},
	}
}

// seeds are the example config and every file under testdata/seeds.
func seeds(f *testing.F) [][]byte {
	files, err := filepath.Glob(filepath.Join("testdata", "seeds", "*.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	files = append(files, filepath.Join("..", "examples", "hsu.yaml"))
	var out [][]byte
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, data)
	}
	if len(out) < 5 {
		f.Fatalf("only %d seed files", len(out))
	}
	return out
}

func FuzzParseConfig(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	opts := fuzzOptions()
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse(fuzzFile, data, opts)

		// Deterministic: the same input gives the same result.
		cfg2, err2 := config.Parse(fuzzFile, data, opts)
		switch {
		case (err == nil) != (err2 == nil):
			t.Fatalf("second parse differs: %v, then %v", err, err2)
		case err != nil && err.Error() != err2.Error():
			t.Fatalf("second parse gives other errors:\n%v\nthen:\n%v", err, err2)
		case err == nil && !sameConfig(cfg, cfg2):
			t.Fatalf("second parse gives another config")
		}

		if err != nil {
			if cfg != nil {
				t.Fatalf("config returned with an error")
			}
			checkErrors(t, data, err)
			return
		}

		// A valid config marshals to YAML that reads back equal.
		out, err := config.Marshal(cfg)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		back, err := config.Parse(fuzzFile, out, opts)
		if err != nil {
			t.Fatalf("marshalled config does not parse: %v\nmarshalled:\n%s", err, out)
		}
		if back.Version != cfg.Version || !reflect.DeepEqual(withoutExtends(back), withoutExtends(cfg)) {
			t.Fatalf("marshalled config reads back different\nmarshalled:\n%s", out)
		}
	})
}

// checkErrors checks that err is an *config.ErrorList whose every error
// points inside the input.
func checkErrors(t *testing.T, data []byte, err error) {
	t.Helper()
	var list *config.ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error is %T, want *config.ErrorList: %v", err, err)
	}
	if len(list.Errs) == 0 || len(list.Errs) > config.MaxErrors {
		t.Fatalf("%d errors in the list", len(list.Errs))
	}
	lines := yamlLines(data)
	for _, e := range list.Errs {
		if e.Line < 1 || e.Col < 1 {
			t.Fatalf("error outside the file: %v", e)
		}
		// Nothing else is read (no include matches), so every error is in
		// the input.
		if e.File != fuzzFile {
			t.Fatalf("error names another file: %v", e)
		}
		if e.Line > len(lines)+1 {
			t.Fatalf("error at line %d of a %d-line input: %v", e.Line, len(lines), e)
		}
		if e.Line <= len(lines) && e.Col > len(lines[e.Line-1])+1 {
			t.Fatalf("error at column %d of a %d-byte line: %v", e.Col, len(lines[e.Line-1]), e)
		}
		// A %! that is not quoted from the input is a formatting mistake.
		if e.Msg == "" || strings.Contains(e.Error(), "%!") && !bytes.Contains(data, []byte("%!")) {
			t.Fatalf("bad message: %q", e.Error())
		}
	}
}

func sameConfig(a, b *config.Config) bool {
	return a.Version == b.Version && a.File == b.File &&
		reflect.DeepEqual(a.Workers, b.Workers) &&
		reflect.DeepEqual(a.Order, b.Order) &&
		reflect.DeepEqual(a.Defaults, b.Defaults) &&
		reflect.DeepEqual(a.Templates, b.Templates)
}

// withoutExtends copies the workers without extends, which Marshal leaves
// out because the templates are already applied.
func withoutExtends(cfg *config.Config) map[string]*config.Worker {
	out := map[string]*config.Worker{}
	for name, w := range cfg.Workers {
		c := *w
		c.Extends = nil
		out[name] = &c
	}
	return out
}

// yamlLines splits data where YAML breaks lines: at \r\n, \r and \n, and
// at NEL, LS and PS, which the parser counts too.
func yamlLines(data []byte) [][]byte {
	var lines [][]byte
	start := 0
	for i := 0; i < len(data); {
		n := 0 // length of the break at i
		switch {
		case bytes.HasPrefix(data[i:], []byte("\r\n")):
			n = 2
		case data[i] == '\r' || data[i] == '\n':
			n = 1
		case bytes.HasPrefix(data[i:], []byte("\u0085")), bytes.HasPrefix(data[i:], []byte("\u2028")), bytes.HasPrefix(data[i:], []byte("\u2029")):
			n = len(string(bytes.Runes(data[i:])[0]))
		}
		if n == 0 {
			i++
			continue
		}
		lines = append(lines, data[start:i])
		i += n
		start = i
	}
	return append(lines, data[start:])
}
