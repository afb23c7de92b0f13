package checkers

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestHouseRules enforces DESIGN.md on the checkers' non-test code: no
// import of client/ or sim/, no wall clock (porcupine's timeout parameter
// is the one allowed use of package time), and no global math/rand.
func TestHouseRules(t *testing.T) {
	banned := map[string]string{
		"github.com/tikvsim/tikvsim/client": "checkers depend on nothing in client/",
		"github.com/tikvsim/tikvsim/sim":    "checkers depend on nothing in sim/",
		"math/rand":                         "no global randomness in checkers",
		"math/rand/v2":                      "no global randomness in checkers",
		"crypto/rand":                       "no randomness in checkers",
	}
	bannedCalls := map[string]bool{"time.Now": true, "time.Since": true, "time.Sleep": true, "time.After": true, "time.NewTimer": true, "time.Tick": true}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			for prefix, why := range banned {
				if p == prefix || strings.HasPrefix(p, prefix+"/") {
					t.Errorf("%s imports %s: %s", path, p, why)
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok && bannedCalls[id.Name+"."+sel.Sel.Name] {
					t.Errorf("%s: %s.%s: checkers never read the wall clock", fset.Position(sel.Pos()), id.Name, sel.Sel.Name)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
