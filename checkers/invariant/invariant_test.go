package invariant

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tikvsim/tikvsim/checkers"
)

func load(t *testing.T, path string) checkers.History {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := checkers.ReadJSONL(f)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func run(name string, h checkers.History) checkers.Result {
	switch name {
	case "bank":
		return Bank(h, BankOptions{Total: 100, Accounts: []string{"b", "a"}})
	case "set":
		return Set(h, SetOptions{})
	default:
		return MonotonicReads(h, MonotonicOptions{})
	}
}

// TestCorpus walks testdata/MANIFEST.
func TestCorpus(t *testing.T) {
	f, err := os.Open("testdata/MANIFEST")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	seen := map[string]bool{}
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 || strings.HasPrefix(fs[0], "#") {
			continue
		}
		seen[fs[0]] = true
		t.Run(fs[0], func(t *testing.T) {
			r := run(fs[1], load(t, filepath.Join("testdata", fs[0])))
			kinds := strings.Join(r.Kinds(), ",")
			if kinds == "" {
				kinds = "-"
			}
			if r.Verdict.String() != fs[2] || kinds != fs[3] {
				t.Fatalf("got %s (%s), want %s %s", r.Verdict, r, fs[2], fs[3])
			}
			for _, a := range r.Anomalies {
				if len(a.Ops) == 0 || a.Explanation == "" {
					t.Errorf("anomaly without ops or explanation: %+v", a)
				}
			}
		})
	}
	all, _ := filepath.Glob("testdata/*.jsonl")
	for _, p := range all {
		if !seen[filepath.Base(p)] {
			t.Errorf("%s has no MANIFEST line", p)
		}
	}
}

func op(i int64, p int, ty checkers.Type, f string, v any) checkers.Op {
	return checkers.Op{Index: i, Time: i, Process: p, Type: ty, F: f, Value: v}
}

// Go-built values (not decoded from JSON) are accepted too.
func TestGoValues(t *testing.T) {
	h := checkers.History{
		op(0, 0, checkers.Invoke, checkers.FRead, nil),
		op(1, 0, checkers.OK, checkers.FRead, map[string]int64{"a": 50, "b": 50}),
	}
	if r := Bank(h, BankOptions{Total: 100}); r.Verdict != checkers.Ok {
		t.Fatal(r)
	}
	h = checkers.History{
		op(0, 0, checkers.Invoke, FAdd, int64(1)), op(1, 0, checkers.OK, FAdd, int64(1)),
		op(2, 0, checkers.Invoke, checkers.FRead, nil), op(3, 0, checkers.OK, checkers.FRead, []int64{1}),
		op(4, 0, checkers.Invoke, checkers.FRead, nil), op(5, 0, checkers.OK, checkers.FRead, []int64{1}),
	}
	if r := Set(h, SetOptions{}); r.Verdict != checkers.Ok {
		t.Fatal(r)
	}
	if r := MonotonicReads(h, MonotonicOptions{}); r.Verdict != checkers.Ok {
		t.Fatal(r)
	}
}

func TestMalformed(t *testing.T) {
	read := func(v any) checkers.History {
		return checkers.History{op(0, 0, checkers.Invoke, checkers.FRead, nil), op(1, 0, checkers.OK, checkers.FRead, v)}
	}
	if r := Bank(read(int64(3)), BankOptions{}); !strings.Contains(r.String(), "malformed-read") {
		t.Error(r)
	}
	if r := Bank(read(map[string]any{"a": "x"}), BankOptions{}); !strings.Contains(r.String(), "malformed-read") {
		t.Error(r)
	}
	if r := Set(read("x"), SetOptions{}); !strings.Contains(r.String(), "malformed-read") {
		t.Error(r)
	}
	if r := Set(read([]any{"x"}), SetOptions{}); !strings.Contains(r.String(), "malformed-read") {
		t.Error(r)
	}
	dup := checkers.History{
		op(0, 0, checkers.Invoke, FAdd, int64(1)), op(1, 0, checkers.OK, FAdd, int64(1)),
		op(2, 0, checkers.Invoke, FAdd, int64(1)), op(3, 0, checkers.OK, FAdd, int64(1)),
	}
	if r := Set(dup, SetOptions{}); r.Verdict != checkers.Unknown {
		t.Error(r)
	}
	if r := Set(checkers.History{op(0, 0, checkers.Invoke, FAdd, "x")}, SetOptions{}); r.Verdict != checkers.Unknown {
		t.Error(r)
	}
	mixed := append(read(int64(1)), op(2, 0, checkers.Invoke, checkers.FRead, nil), op(3, 0, checkers.OK, checkers.FRead, "s"))
	if r := MonotonicReads(mixed, MonotonicOptions{}); r.Verdict != checkers.Unknown {
		t.Error(r)
	}
	bad := checkers.History{op(0, 0, checkers.OK, checkers.FRead, nil)}
	for _, r := range []checkers.Result{Bank(bad, BankOptions{}), Set(bad, SetOptions{}), MonotonicReads(bad, MonotonicOptions{})} {
		if r.Verdict != checkers.Unknown {
			t.Error(r)
		}
	}
}
