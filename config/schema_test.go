package config

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func loadSchema(t *testing.T) map[string]any {
	t.Helper()
	b, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("JSONSchema is not JSON: %v", err)
	}
	return s
}

// TestJSONSchemaCoversEveryKey walks the config types by reflection and
// checks that each struct has a schema object with exactly its yaml keys as
// properties and additionalProperties false (strict, like the decoder).
func TestJSONSchemaCoversEveryKey(t *testing.T) {
	s := loadSchema(t)
	if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" || s["$id"] != SchemaID {
		t.Errorf("$schema %v, $id %v", s["$schema"], s["$id"])
	}
	if req, _ := s["required"].([]any); len(req) != 2 || req[0] != "version" || req[1] != "workers" {
		t.Errorf("root required = %v, want [version workers]", s["required"])
	}
	defs, _ := s["$defs"].(map[string]any)
	seen := map[reflect.Type]bool{}
	var visit func(t reflect.Type)
	var check func(typ reflect.Type, obj map[string]any)
	visit = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] {
			return
		}
		seen[typ] = true
		def, ok := defs[typ.Name()].(map[string]any)
		if !ok {
			t.Errorf("$defs has no %s", typ.Name())
			return
		}
		check(typ, def)
	}
	check = func(typ reflect.Type, obj map[string]any) {
		if obj["type"] != "object" || obj["additionalProperties"] != false {
			t.Errorf("%s: type %v, additionalProperties %v; want object, false", typ.Name(), obj["type"], obj["additionalProperties"])
		}
		props, _ := obj["properties"].(map[string]any)
		keys := 0
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			key := f.Tag.Get("yaml")
			if key == "" || key == "-" {
				continue
			}
			keys++
			p, ok := props[key].(map[string]any)
			if !ok {
				t.Errorf("%s: schema has no property %q", typ.Name(), key)
				continue
			}
			if p["description"] == nil || p["description"] == "" {
				t.Errorf("%s.%s: no description", typ.Name(), key)
			}
			if e := f.Tag.Get("enum"); e != "" && !reflect.DeepEqual(p["enum"], toAny(strings.Split(e, "|"))) {
				t.Errorf("%s.%s: enum %v, want %s", typ.Name(), key, p["enum"], e)
			}
			if _, ok := f.Tag.Lookup("default"); ok && p["default"] == nil {
				t.Errorf("%s.%s: no default", typ.Name(), key)
			}
			visit(f.Type)
		}
		if len(props) != keys {
			t.Errorf("%s: %d properties, %d keys", typ.Name(), len(props), keys)
		}
	}
	seen[reflect.TypeOf(Config{})] = true
	check(reflect.TypeOf(Config{}), s)
	visit(reflect.TypeOf(Dependency{}))
	if len(seen) < 20 {
		t.Errorf("walked only %d types", len(seen))
	}

	// Every $ref points at a definition.
	var refs func(x any)
	refs = func(x any) {
		switch v := x.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok {
				if _, ok := defs[strings.TrimPrefix(r, "#/$defs/")]; !ok || !strings.HasPrefix(r, "#/$defs/") {
					t.Errorf("dangling $ref %q", r)
				}
			}
			for _, c := range v {
				refs(c)
			}
		case []any:
			for _, c := range v {
				refs(c)
			}
		}
	}
	refs(s)
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// TestJSONSchemaPatterns checks that what Marshal writes for the typed
// values is accepted by the schema's patterns, so an editor does not flag a
// file hsu wrote.
func TestJSONSchemaPatterns(t *testing.T) {
	pattern := func(m map[string]any) *regexp.Regexp {
		return regexp.MustCompile(m["pattern"].(string))
	}
	dur, size, cores := pattern(Duration(0).schema()), pattern(Size(0).schema()), pattern(Cores(0).schema())
	for _, d := range []time.Duration{0, time.Second, 1500 * time.Millisecond, 90 * time.Second, 36 * time.Hour, 7 * 24 * time.Hour, -5 * time.Second, 250 * time.Microsecond} {
		if s := Duration(d).String(); !dur.MatchString(s) {
			t.Errorf("duration pattern rejects %q", s)
		}
	}
	for _, s := range []string{"10", "0.5", "1d12h", "1m30s"} {
		if !dur.MatchString(s) {
			t.Errorf("duration pattern rejects %q", s)
		}
	}
	for _, n := range []Size{0, 1000, 1 << 10, 512 << 20, 3 << 40} {
		if s := n.String(); !size.MatchString(s) {
			t.Errorf("size pattern rejects %q", s)
		}
	}
	for _, s := range []string{"1GiB", "1G", "4096"} {
		if !size.MatchString(s) {
			t.Errorf("size pattern rejects %q", s)
		}
	}
	for _, s := range []string{"1.5", "500m", "150%"} {
		if !cores.MatchString(s) {
			t.Errorf("cores pattern rejects %q", s)
		}
	}
	for _, s := range []string{"7days", "1x"} {
		if dur.MatchString(s) {
			t.Errorf("duration pattern accepts %q", s)
		}
	}
}
