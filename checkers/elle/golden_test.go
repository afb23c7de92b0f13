package elle

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/explanations.golden")

// TestExplanationsGolden pins the words of every report on the corpus
// under strict serializability (the model that reports the most), so a
// change in wording or in the cycles found shows up in review. Run with
// -update to rewrite the golden file.
func TestExplanationsGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range files {
		r := Check(loadHistory(t, f), Options{Model: StrictSerializable})
		b.WriteString("== " + filepath.Base(f) + "\n" + r.String() + "\n\n")
	}
	const golden = "testdata/explanations.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Fatalf("reports differ from %s (run with -update and review the diff):\n%s", golden, b.String())
	}
}
