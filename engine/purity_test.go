package engine

import (
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEngineIsPure enforces DESIGN.md §2: the engine does no I/O, starts
// no goroutine, reads no clock, uses no global randomness, and ranges over
// no map unless the line says why the order cannot leak ("// order-free").
func TestEngineIsPure(t *testing.T) {
	forbiddenImports := map[string]bool{
		"os": true, "os/exec": true, "syscall": true, "net": true, "net/http": true,
		"math/rand": true, "math/rand/v2": true, "io/ioutil": true, "unsafe": true,
		"golang.org/x/sys/unix": true, "golang.org/x/sys/windows": true,
	}
	forbiddenCalls := map[string]bool{
		"time.Now": true, "time.Sleep": true, "time.After": true, "time.AfterFunc": true,
		"time.NewTimer": true, "time.NewTicker": true, "time.Tick": true, "time.Since": true, "time.Until": true,
	}
	fset := token.NewFileSet()
	paths, _ := filepath.Glob("*.go")
	var files []*ast.File
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, p, src, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		t.Fatal("no engine sources found")
	}
	info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Uses: map[*ast.Ident]types.Object{}}
	conf := types.Config{Importer: importer.ForCompiler(fset, "source", nil)}
	if _, err := conf.Check("github.com/hsu-run/hsu/engine", fset, files, info); err != nil {
		t.Fatalf("type-check engine: %v", err)
	}
	for _, f := range files {
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if forbiddenImports[path] {
				t.Errorf("%s: engine imports %s", fset.Position(imp.Pos()), path)
			}
		}
		lines := map[int]string{}
		for _, cg := range f.Comments {
			for _, c := range cg.List {
				lines[fset.Position(c.Pos()).Line] += c.Text
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GoStmt:
				t.Errorf("%s: engine starts a goroutine", fset.Position(n.Pos()))
			case *ast.SelectorExpr:
				if id, ok := n.X.(*ast.Ident); ok {
					if pkg, ok := info.Uses[id].(*types.PkgName); ok {
						name := pkg.Imported().Path() + "." + n.Sel.Name
						if forbiddenCalls[name] {
							t.Errorf("%s: engine uses %s", fset.Position(n.Pos()), name)
						}
					}
				}
			case *ast.RangeStmt:
				if tv, ok := info.Types[n.X]; ok {
					if _, isMap := tv.Type.Underlying().(*types.Map); isMap {
						line := fset.Position(n.Pos()).Line
						if !strings.Contains(lines[line], "order-free") {
							t.Errorf("%s: engine ranges over a map; its order could leak into output (mark the line // order-free if it cannot)", fset.Position(n.Pos()))
						}
					}
				}
			}
			return true
		})
	}
}
