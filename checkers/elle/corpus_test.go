package elle

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tikvsim/tikvsim/checkers"
)

func loadHistory(t testing.TB, path string) checkers.History {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := checkers.ReadJSONL(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return h
}

func opIndexes(a checkers.Anomaly) string {
	var idx []int64
	for _, o := range a.Ops {
		idx = append(idx, o.Index)
	}
	slices.Sort(idx)
	var s []string
	for _, i := range idx {
		s = append(s, fmt.Sprint(i))
	}
	return strings.Join(s, ",")
}

// TestCorpus walks testdata/MANIFEST: every hand-made history must get the
// expected verdict, anomaly kinds and cycle under each listed model.
func TestCorpus(t *testing.T) {
	f, err := os.Open("testdata/MANIFEST")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	covered := map[string]bool{}
	files := map[string]bool{}
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		file, model, verdict, kinds := fs[0], Model(fs[1]), fs[2], fs[3]
		files[file] = true
		t.Run(file+"/"+string(model), func(t *testing.T) {
			h := loadHistory(t, filepath.Join("testdata", file))
			res := Check(h, Options{Model: model})
			if res.Verdict.String() != verdict {
				t.Fatalf("verdict %s, want %s\n%s", res.Verdict, verdict, res)
			}
			got := strings.Join(res.Kinds(), ",")
			if got == "" {
				got = "-"
			}
			if got != kinds {
				t.Fatalf("kinds %s, want %s\n%s", got, kinds, res)
			}
			for _, k := range res.Kinds() {
				covered[k] = true
			}
			for _, want := range fs[4:] {
				kind, ops, _ := strings.Cut(want, "=")
				i := slices.IndexFunc(res.Anomalies, func(a checkers.Anomaly) bool { return a.Kind == kind })
				if i < 0 {
					t.Fatalf("no %s anomaly", kind)
				}
				if got := opIndexes(res.Anomalies[i]); got != ops {
					t.Errorf("%s cycle ops %s, want %s\n%s", kind, got, ops, res)
				}
			}
			for _, a := range res.Anomalies {
				if a.Explanation == "" || len(a.Ops) == 0 && !strings.HasPrefix(a.Kind, "duplicate-elements") {
					t.Errorf("%s: empty explanation or ops: %+v", a.Kind, a)
				}
				if len(a.Cycle) > 0 {
					if len(a.Cycle) != len(a.Ops) {
						t.Errorf("%s: %d steps for %d ops", a.Kind, len(a.Cycle), len(a.Ops))
					}
					for _, s := range a.Cycle {
						if !strings.Contains(s.Why, " because ") || strings.Contains(s.Why, "dependency") {
							t.Errorf("%s: step not explained: %q", a.Kind, s.Why)
						}
					}
				}
			}
		})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	// Every history in testdata has expectations, and every anomaly the
	// checker names is shown by at least one history.
	all, _ := filepath.Glob("testdata/*.jsonl")
	for _, p := range all {
		if !files[filepath.Base(p)] {
			t.Errorf("%s has no MANIFEST line", p)
		}
	}
	for _, k := range []string{"G0", "G1a", "G1b", "G1c", "G-single", "G-nonadjacent", "G2-item",
		"internal", "duplicate-appends", "duplicate-writes", "duplicate-elements", "incompatible-order",
		"incompatible-version-order", "garbage-read", "lost-write", "lost-update", "G-single-realtime", "G0-process", "G0-realtime", "G1c-realtime"} {
		if !covered[k] && !t.Failed() {
			t.Errorf("no corpus history shows %s", k)
		}
	}
}
