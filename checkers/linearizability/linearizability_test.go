package linearizability

import (
	"bufio"
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/tikvsim/tikvsim/checkers"
	"pgregory.net/rapid"
)

func load(t testing.TB, path string) checkers.History {
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

// TestCorpus walks testdata/MANIFEST: each hand-made register history gets
// its expected verdict and the expected non-linearizable keys.
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
			h := load(t, filepath.Join("testdata", fs[0]))
			r := Check(h, Options{})
			if r.Verdict.String() != fs[1] {
				t.Fatalf("verdict %s, want %s", r, fs[1])
			}
			var keys []string
			for _, a := range r.Anomalies {
				keys = append(keys, a.Ops[0].Key)
				if a.Kind != "nonlinearizable" || a.Explanation == "" {
					t.Errorf("anomaly %+v", a)
				}
			}
			if got, want := strings.Join(keys, ","), strings.Join(fs[2:], ","); got != want {
				t.Fatalf("illegal keys %q, want %q", got, want)
			}
			if got := reference(t, h); got != (r.Verdict == checkers.Ok) {
				t.Fatalf("porcupine without partitioning says linearizable=%v", got)
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

// reference checks h with a model written directly against porcupine: one
// unpartitioned map-valued state, info ops open-ended with unknown output
// as in porcupine's own etcd tests, fail ops dropped.
func reference(t testing.TB, h checkers.History) bool {
	type in struct{ f, key, a, b string }
	type out struct {
		v       string
		unknown bool
	}
	pairs, err := h.Pairs()
	if err != nil {
		t.Fatal(err)
	}
	var ops []porcupine.Operation
	for _, p := range pairs {
		i := in{f: p.Invoke.F, key: p.Invoke.Key}
		switch i.f {
		case checkers.FWrite:
			i.a = checkers.FormatValue(p.Invoke.Value)
		case checkers.FCAS:
			l := p.Invoke.Value.([]any)
			i.a, i.b = checkers.FormatValue(l[0]), checkers.FormatValue(l[1])
		}
		o := out{v: checkers.FormatValue(p.Complete.Value), unknown: p.Complete.Type == checkers.Info}
		ret := p.Complete.Time
		switch {
		case p.Complete.Type == checkers.Fail:
			continue
		case o.unknown:
			ret = 1 << 60
		}
		ops = append(ops, porcupine.Operation{ClientId: p.Invoke.Process, Input: i, Output: o, Call: p.Invoke.Time, Return: ret})
	}
	model := porcupine.Model{
		Init: func() any { return map[string]string{} },
		Step: func(state, input, output any) (bool, any) {
			s, i, o := state.(map[string]string), input.(in), output.(out)
			cur, ok := s[i.key]
			if !ok {
				cur = "null"
			}
			switch i.f {
			case checkers.FRead:
				return o.unknown || o.v == cur, s
			case checkers.FWrite:
				n := maps.Clone(s)
				n[i.key] = i.a
				return true, n
			default:
				if cur != i.a {
					return o.unknown, s
				}
				n := maps.Clone(s)
				n[i.key] = i.b
				return true, n
			}
		},
		Equal: func(a, b any) bool { return maps.Equal(a.(map[string]string), b.(map[string]string)) },
	}
	return porcupine.CheckOperations(model, ops)
}

// genRegister records a history of a sequential execution of register ops
// with overlapping intervals: each op takes effect at one instant inside
// its interval. With corrupt set, a read may report a wrong value.
func genRegister(rt *rapid.T, corrupt bool) checkers.History {
	nOps := rapid.IntRange(1, 14).Draw(rt, "ops")
	nProcs := rapid.IntRange(1, 4).Draw(rt, "procs")
	state := map[string]int64{}
	type pending struct {
		inv     checkers.Op
		applied bool
		out     checkers.Op
	}
	var h checkers.History
	var now int64
	running := map[int]*pending{}
	procID := make([]int, nProcs)
	for i := range procID {
		procID[i] = i
	}
	next := nProcs
	issued := 0
	emit := func(op checkers.Op) {
		op.Index, op.Time = int64(len(h)), now
		h = append(h, op)
	}
	for issued < nOps || len(running) > 0 {
		now += int64(rapid.IntRange(0, 2).Draw(rt, "dt"))
		p := rapid.IntRange(0, nProcs-1).Draw(rt, "p")
		r := running[p]
		switch {
		case r == nil && issued < nOps:
			issued++
			key := rapid.SampledFrom([]string{"x", "y"}).Draw(rt, "key")
			op := checkers.Op{Process: procID[p], Type: checkers.Invoke, Key: key}
			v := int64(rapid.IntRange(1, 3).Draw(rt, "v"))
			switch rapid.IntRange(0, 2).Draw(rt, "f") {
			case 0:
				op.F = checkers.FRead
			case 1:
				op.F, op.Value = checkers.FWrite, v
			default:
				op.F, op.Value = checkers.FCAS, []any{int64(rapid.IntRange(1, 3).Draw(rt, "old")), v}
			}
			emit(op)
			running[p] = &pending{inv: op}
		case r == nil:
		case !r.applied:
			r.applied = true
			out := checkers.Op{Process: r.inv.Process, Type: checkers.OK, F: r.inv.F, Key: r.inv.Key, Value: r.inv.Value}
			outcome := rapid.IntRange(0, 9).Draw(rt, "outcome")
			if outcome == 0 {
				out.Type = checkers.Fail
				r.out = out
				break
			}
			cur, ok := state[r.inv.Key]
			switch r.inv.F {
			case checkers.FRead:
				out.Value = nil
				if ok {
					out.Value = cur
				}
				if corrupt && rapid.IntRange(0, 3).Draw(rt, "corrupt") == 0 {
					out.Value = int64(rapid.IntRange(1, 3).Draw(rt, "bogus"))
				}
			case checkers.FWrite:
				state[r.inv.Key] = r.inv.Value.(int64)
			case checkers.FCAS:
				l := r.inv.Value.([]any)
				if !ok || cur != l[0].(int64) {
					out.Type = checkers.Fail
				} else {
					state[r.inv.Key] = l[1].(int64)
				}
			}
			if outcome == 1 {
				out.Type, out.Value = checkers.Info, r.inv.Value
			}
			r.out = out
		default:
			emit(r.out)
			delete(running, p)
			if r.out.Type == checkers.Info {
				procID[p] = next
				next++
			}
		}
	}
	return h
}

// Histories recorded from a sequential execution are always linearizable.
func TestSequentialIsLinearizable(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		h := genRegister(rt, false)
		if r := Check(h, Options{}); r.Verdict != checkers.Ok {
			rt.Fatalf("%s\n%v", r, h)
		}
	})
}

// The per-key checker agrees with plain porcupine on arbitrary (possibly
// corrupted) register histories.
func TestAgreesWithPorcupine(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		h := genRegister(rt, true)
		got := Check(h, Options{}).Verdict == checkers.Ok
		if want := reference(t, h); got != want {
			rt.Fatalf("checker says linearizable=%v, porcupine says %v\n%v", got, want, h)
		}
	})
}

func TestVisualize(t *testing.T) {
	h := load(t, "testdata/nonmonotonic.jsonl")
	var a, b bytes.Buffer
	if err := Visualize(&a, h, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := Visualize(&b, h, Options{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(a.Bytes(), []byte("<html")) || !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("visualization missing or not deterministic (%d vs %d bytes)", a.Len(), b.Len())
	}
	if err := Visualize(&a, checkers.History{{Type: checkers.OK}}, Options{}); err == nil {
		t.Fatal("malformed history visualized")
	}
}

// A porcupine timeout yields Unknown, never Ok or Illegal.
func TestTimeoutIsUnknown(t *testing.T) {
	// Many concurrent writes and a read of a value none wrote: porcupine
	// must try every order of the writes before it can say Illegal.
	var h checkers.History
	const n = 40
	add := func(op checkers.Op) {
		op.Index = int64(len(h))
		h = append(h, op)
	}
	for i := range n {
		add(checkers.Op{Time: 0, Process: i, Type: checkers.Invoke, F: checkers.FWrite, Key: "x", Value: int64(i)})
		add(checkers.Op{Time: 0, Process: n + i, Type: checkers.Invoke, F: checkers.FRead, Key: "x"})
	}
	for i := range n {
		add(checkers.Op{Time: 10, Process: i, Type: checkers.OK, F: checkers.FWrite, Key: "x", Value: int64(i)})
		v := int64(i)
		if i == n-1 {
			v = 999
		}
		add(checkers.Op{Time: 10, Process: n + i, Type: checkers.OK, F: checkers.FRead, Key: "x", Value: v})
	}
	r := Check(h, Options{Timeout: 50 * time.Millisecond})
	if r.Verdict == checkers.Ok {
		t.Fatalf("got %s", r)
	}
	t.Logf("verdict under a 50ms timeout: %s", r.Verdict)
	if r.Verdict == checkers.Unknown && !strings.Contains(r.Reason, "timed out") {
		t.Fatalf("unknown without a timeout reason: %s", r)
	}
}

func TestBadInput(t *testing.T) {
	for name, h := range map[string]checkers.History{
		"not a register op": {{Type: checkers.Invoke, F: "txn"}},
		"bad cas":           {{Type: checkers.Invoke, F: checkers.FCAS, Value: int64(1)}},
		"unpaired":          {{Type: checkers.OK, F: checkers.FRead}},
	} {
		if r := Check(h, Options{}); r.Verdict != checkers.Unknown || r.Reason == "" {
			t.Errorf("%s: %s", name, r)
		}
	}
}

// The anomaly keeps only the reads needed to show the violation.
func TestMinimizedAnomaly(t *testing.T) {
	var h checkers.History
	add := func(p int, ty checkers.Type, f string, v any, tm int64) {
		h = append(h, checkers.Op{Index: int64(len(h)), Time: tm, Process: p, Type: ty, F: f, Key: "x", Value: v})
	}
	add(0, checkers.Invoke, checkers.FWrite, int64(1), 0)
	add(0, checkers.OK, checkers.FWrite, int64(1), 10)
	for i := range 20 {
		add(1, checkers.Invoke, checkers.FRead, nil, int64(20+10*i))
		add(1, checkers.OK, checkers.FRead, int64(1), int64(25+10*i))
	}
	add(2, checkers.Invoke, checkers.FRead, nil, 1000)
	add(2, checkers.OK, checkers.FRead, nil, 1010)
	r := Check(h, Options{})
	if r.Verdict != checkers.Illegal || len(r.Anomalies) != 1 {
		t.Fatalf("got %s", r)
	}
	var idx []int64
	for _, op := range r.Anomalies[0].Ops {
		idx = append(idx, op.Index)
	}
	if len(idx) != 2 || idx[0] != 1 || idx[1] != int64(len(h)-1) {
		t.Fatalf("anomaly ops %v, want the write and the stale read", idx)
	}
	// W1, W2 then a read of 1: the read of 2 in between is not needed.
	if h := load(t, "testdata/nonmonotonic.jsonl"); len(Check(h, Options{}).Anomalies[0].Ops) != 3 {
		t.Fatalf("nonmonotonic: %s", Check(h, Options{}))
	}
}
