package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// update rewrites generated files (docs/config.md's reference, docs/hsu.schema.json,
// golden files) instead of comparing against them:
//
//	go test ./config -run 'Reference|Schema' -update
var update = flag.Bool("update", false, "rewrite generated docs and golden files from the code")

const (
	refBegin = "<!-- BEGIN GENERATED REFERENCE -->"
	refEnd   = "<!-- END GENERATED REFERENCE -->"
)

var (
	configDoc  = filepath.Join("..", "docs", "config.md")
	schemaFile = filepath.Join("..", "docs", "hsu.schema.json")
)

// TestReferenceUpToDate checks that docs/config.md carries the reference
// generated from the struct tags.
func TestReferenceUpToDate(t *testing.T) {
	data, err := os.ReadFile(configDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i := strings.Index(doc, refBegin)
	j := strings.Index(doc, refEnd)
	if i < 0 || j < i {
		t.Fatalf("%s: want the markers %s and %s, in that order", configDoc, refBegin, refEnd)
	}
	want := refBegin + "\n\n" + Reference() + refEnd
	got := doc[i : j+len(refEnd)]
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(configDoc, []byte(doc[:i]+want+doc[j+len(refEnd):]), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("updated %s", configDoc)
		return
	}
	t.Errorf("%s: the generated reference is out of date (first difference at line %d of it); run: go test ./config -run Reference -update",
		configDoc, firstDiffLine(got, want))
}

// TestSchemaFileUpToDate checks that docs/hsu.schema.json is what
// `hsu schema` prints.
func TestSchemaFileUpToDate(t *testing.T) {
	s, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	want := append(s, '\n')
	got, err := os.ReadFile(schemaFile)
	if err == nil && bytes.Equal(got, want) {
		return
	}
	if *update {
		if err := os.MkdirAll(filepath.Dir(schemaFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(schemaFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("updated %s", schemaFile)
		return
	}
	if err != nil {
		t.Fatalf("%v; run: go test ./config -run Schema -update", err)
	}
	t.Errorf("%s is out of date (first difference at line %d); run: go test ./config -run Schema -update",
		schemaFile, firstDiffLine(string(got), string(want)))
}

// TestReferenceCoversEveryKey checks that every key of every struct type
// reachable from Config has a row, and that each row has a description.
func TestReferenceCoversEveryKey(t *testing.T) {
	ref := Reference()
	w := &refWalker{secs: map[reflect.Type]*refSection{}}
	w.visit(reflect.TypeOf(Config{}), "", "")
	for _, typ := range w.order {
		head := "### " + refTitle(typ) + "\n"
		i := strings.Index(ref, head)
		if i < 0 {
			t.Errorf("no section %q for %s", head, typ.Name())
			continue
		}
		sec := ref[i+len(head):]
		if k := strings.Index(sec, "\n### "); k >= 0 {
			sec = sec[:k]
		}
		for _, f := range fieldsOf(typ).list {
			if !strings.Contains(sec, "| `"+f.key+"` |") {
				t.Errorf("section %s: no row for %s", refTitle(typ), f.key)
			}
			if f.tag.Get("doc") == "" {
				t.Errorf("%s.%s: no doc tag", typ.Name(), f.key)
			}
		}
	}
	if Reference() != ref {
		t.Error("Reference is not deterministic")
	}
}

func firstDiffLine(a, b string) int {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(la) && i < len(lb); i++ {
		if la[i] != lb[i] {
			return i + 1
		}
	}
	return min(len(la), len(lb)) + 1
}
