package guard

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestDeterminismContract walks client/ and sim/ and fails on every rule
// broken outside the allow-list.
func TestDeterminismContract(t *testing.T) {
	root := filepath.Join("..", "..")
	checked := 0
	for _, dir := range []string{"client", "sim"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			rel, _ := filepath.Rel(root, path)
			rel = filepath.ToSlash(rel)
			if _, ok := Allowed[rel]; ok {
				return nil
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			checked++
			for _, v := range Check(fset, f) {
				t.Errorf("%s: %s", rel, v)
			}
			return nil
		})
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	if checked == 0 {
		t.Fatal("no files checked")
	}
	for path := range Allowed {
		if _, err := os.Stat(filepath.Join(root, path)); err != nil {
			t.Errorf("allow-list names %s, which does not exist", path)
		}
	}
}

// TestCheckCatchesEveryRule proves the guard can fail.
func TestCheckCatchesEveryRule(t *testing.T) {
	src := `package p

import (
	"context"
	"crypto/rand"
	mrand "math/rand"
	rv2 "math/rand/v2"
	"time"
)

func bad(ctx context.Context, a, b chan int) {
	_ = time.Now()
	time.Sleep(1)
	<-time.After(1)
	_ = time.NewTimer(1)
	_ = time.Since(time.Time{})
	go func() {}()
	_, _ = context.WithTimeout(ctx, 1)
	_ = mrand.Intn(3)
	_ = rv2.IntN(3)
	_, _ = rand.Read(nil)
	select {
	case <-a:
	case <-b:
	}
}

func fine(r *rv2.Rand, a chan int) {
	_ = rv2.New(rv2.NewPCG(1, 2))
	_ = time.Duration(3) * time.Millisecond
	select {
	case <-a:
	default:
	}
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	for _, v := range Check(fset, f) {
		lines = append(lines, v.Pos.Line)
	}
	sort.Ints(lines)
	want := []int{12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22}
	if len(lines) != len(want) {
		t.Fatalf("violations at lines %v, want %v", lines, want)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Fatalf("violations at lines %v, want %v", lines, want)
		}
	}
}
