package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tikvsim/tikvsim/checkers"
)

func simrun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestDefaultRunEndsWithReplayCommand(t *testing.T) {
	code, out, _ := simrun(t, "--duration", "1s")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "replay: go run ./cmd/simrun --seed 1 ") {
		t.Fatalf("last line %q is not the replay command", last)
	}
	if !strings.Contains(out, "VALID") || !regexp.MustCompile(`trace hash: [0-9a-f]{16}`).MatchString(out) {
		t.Fatalf("summary lacks verdict or hash:\n%s", out)
	}
}

func TestJSONOneObjectPerSeed(t *testing.T) {
	code, out, _ := simrun(t, "--seeds", "1-3,7", "--faults", "swarm", "--duration", "1s", "--json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 4:\n%s", len(lines), out)
	}
	wantSeeds := []uint64{1, 2, 3, 7}
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"seed", "workload", "faults", "ops_ok", "ops_fail", "ops_info", "sim_ms", "wall_ms", "steps", "trace_hash", "valid", "anomalies"} {
			if _, ok := m[k]; !ok {
				t.Errorf("line %d lacks %q", i, k)
			}
		}
		if m["seed"].(float64) != float64(wantSeeds[i]) {
			t.Errorf("line %d seed %v, want %d", i, m["seed"], wantSeeds[i])
		}
		if h := m["trace_hash"].(string); len(h) != 16 {
			t.Errorf("trace_hash %q", h)
		}
	}
}

func TestSameSeedSameOutputParallelOrNot(t *testing.T) {
	_, a, _ := simrun(t, "--seeds", "1-6", "--faults", "all", "--duration", "1s", "--json")
	_, b, _ := simrun(t, "--seeds", "1-6", "--faults", "all", "--duration", "1s", "--json", "--parallel", "3")
	strip := regexp.MustCompile(`"wall_ms":\d+`)
	if strip.ReplaceAllString(a, "") != strip.ReplaceAllString(b, "") {
		t.Fatalf("parallel sweep differs:\n%s\n%s", a, b)
	}
}

func TestViolationExitsOneAndWritesFiles(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir()) // the failure files' default directory
	dir := t.TempDir()
	hist := filepath.Join(dir, "h.jsonl")
	trace := filepath.Join(dir, "t.jsonl")
	code, out, _ := simrun(t, "--seed", "1", "--faults", "dup(0.3)", "--bug", "counter-nodedup", "--duration", "2s",
		"--history", hist, "--trace", trace)
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out)
	}
	if !strings.Contains(out, "INVALID: counter-out-of-bounds") || !strings.Contains(out, "--bug counter-nodedup") {
		t.Fatalf("output:\n%s", out)
	}
	f, err := os.Open(hist)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := checkers.ReadJSONL(f)
	if err != nil || len(h) == 0 {
		t.Fatalf("history: %d ops, %v", len(h), err)
	}
	tb, err := os.ReadFile(trace)
	if err != nil || bytes.Count(tb, []byte("\n")) < 100 {
		t.Fatalf("trace: %d bytes, %v", len(tb), err)
	}
}

func TestShard(t *testing.T) {
	var all []string
	for k := 1; k <= 3; k++ {
		_, out, _ := simrun(t, "--seeds", "1-10", "--shard", fmt.Sprintf("%d/3", k), "--duration", "200ms", "--json")
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var m struct{ Seed int }
			_ = json.Unmarshal([]byte(l), &m)
			all = append(all, fmt.Sprint(m.Seed))
		}
	}
	if len(all) != 10 {
		t.Fatalf("shards covered %v", all)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{"--seeds", "5-1"}, {"--seeds", "x"}, {"--shard", "4/3"}, {"--shard", "1"},
		{"--workload", "nope"}, {"--faults", "explode(1)"}, {"--bug", "nope"}, {"--nope"}, {"extra"},
	} {
		if code, _, _ := simrun(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	code, _, errs := simrun(t, "--help")
	if code != 0 || !strings.Contains(errs, "Exit status") || !strings.Contains(errs, "-faults") {
		t.Errorf("--help: exit %d\n%s", code, errs)
	}
}
