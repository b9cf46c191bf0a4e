package config

import (
	"fmt"
	"io/fs"
	"path"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// memFS is an in-memory file tree for Options.ReadFile and Options.Glob, so
// load tests need no disk and name files with stable absolute paths.
type memFS map[string]string

func (m memFS) ReadFile(name string) ([]byte, error) {
	if s, ok := m[name]; ok {
		return []byte(s), nil
	}
	return nil, fmt.Errorf("open %s: %w", name, fs.ErrNotExist)
}

func (m memFS) Glob(pattern string) ([]string, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, err
	}
	var out []string
	for name := range m {
		if ok, _ := path.Match(pattern, name); ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// opts returns Options reading from m with env as the whole environment.
func (m memFS) opts(env map[string]string) Options {
	return Options{
		ReadFile: m.ReadFile,
		Glob:     m.Glob,
		LookupEnv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		},
	}
}

// mainFile is where test configs live; errors name it.
const mainFile = "/cfg/hsu.yaml"

// load parses files[mainFile] with the other files available to include and
// env_file.
func load(files memFS, env map[string]string) (*Config, error) {
	return Parse(mainFile, []byte(files[mainFile]), files.opts(env))
}

// mustLoad loads src as the main file and fails the test on any error.
func mustLoad(t *testing.T, src string) *Config {
	t.Helper()
	cfg, err := load(memFS{mainFile: src}, nil)
	if err != nil {
		t.Fatalf("load:\n%s\nerror:\n%v", src, err)
	}
	return cfg
}

// errorLines returns the errors of err one per line, failing the test when
// err is not an *ErrorList.
func errorLines(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	list, ok := err.(*ErrorList)
	if !ok {
		t.Fatalf("error is %T, want *ErrorList: %v", err, err)
	}
	var out []string
	for _, e := range list.Errs {
		out = append(out, e.Error())
	}
	return out
}

// diffLines reports got and want side by side when they differ.
func diffLines(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n  got:\n\t%s\n  want:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// deepDiff lists where a and b differ, by field path, following pointers,
// for readable failures of reflect.DeepEqual on configs.
func deepDiff(a, b any) []string {
	var out []string
	var walk func(p string, x, y reflect.Value)
	walk = func(p string, x, y reflect.Value) {
		if len(out) > 20 {
			return
		}
		if x.IsValid() != y.IsValid() || (x.IsValid() && x.Type() != y.Type()) {
			out = append(out, fmt.Sprintf("%s: %v != %v", p, x, y))
			return
		}
		if !x.IsValid() {
			return
		}
		switch x.Kind() {
		case reflect.Pointer, reflect.Interface:
			if x.IsNil() || y.IsNil() {
				if x.IsNil() != y.IsNil() {
					out = append(out, fmt.Sprintf("%s: %v != %v", p, x, y))
				}
				return
			}
			walk(p, x.Elem(), y.Elem())
		case reflect.Struct:
			for i := 0; i < x.NumField(); i++ {
				if x.Type().Field(i).IsExported() {
					walk(p+"."+x.Type().Field(i).Name, x.Field(i), y.Field(i))
				}
			}
		case reflect.Map:
			if x.IsNil() != y.IsNil() {
				out = append(out, fmt.Sprintf("%s: nil map %v != %v", p, x.IsNil(), y.IsNil()))
			}
			keys := map[string]reflect.Value{}
			for _, k := range append(x.MapKeys(), y.MapKeys()...) {
				keys[fmt.Sprint(k)] = k
			}
			for ks, k := range keys {
				walk(p+"["+ks+"]", x.MapIndex(k), y.MapIndex(k))
			}
		case reflect.Slice:
			if x.IsNil() != y.IsNil() || x.Len() != y.Len() {
				out = append(out, fmt.Sprintf("%s: %#v != %#v", p, x, y))
				return
			}
			for i := 0; i < x.Len(); i++ {
				walk(fmt.Sprintf("%s[%d]", p, i), x.Index(i), y.Index(i))
			}
		default:
			if !reflect.DeepEqual(x.Interface(), y.Interface()) {
				out = append(out, fmt.Sprintf("%s: %#v != %#v", p, x, y))
			}
		}
	}
	walk("", reflect.ValueOf(a), reflect.ValueOf(b))
	sort.Strings(out)
	return out
}
