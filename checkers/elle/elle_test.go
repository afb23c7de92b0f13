package elle

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tikvsim/tikvsim/checkers"
	"pgregory.net/rapid"
)

var allModels = []Model{SnapshotIsolation, StrongSnapshotIsolation, Serializable, StrictSerializable}

// Histories produced by a strict-serializable execution pass under every
// model, with or without crashed and aborted transactions.
func TestGeneratedValid(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		cfg := genConfig{
			txns:      rapid.IntRange(1, 200).Draw(rt, "txns"),
			procs:     rapid.IntRange(1, 8).Draw(rt, "procs"),
			keys:      rapid.IntRange(1, 6).Draw(rt, "keys"),
			perKey:    rapid.IntRange(1, 20).Draw(rt, "perKey"),
			maxMops:   rapid.IntRange(1, 6).Draw(rt, "maxMops"),
			pInfo:     rapid.Float64Range(0, 0.3).Draw(rt, "pInfo"),
			pFail:     rapid.Float64Range(0, 0.3).Draw(rt, "pFail"),
			registers: rapid.Bool().Draw(rt, "registers"),
		}
		h := genHistory(rapid.Uint64().Draw(rt, "seed"), cfg)
		for _, m := range allModels {
			if r := Check(h, Options{Model: m}); r.Verdict != checkers.Ok {
				rt.Fatalf("%s: %s", m, r)
			}
		}
	})
}

// Dropping the last element of one list-append read makes the reader miss
// a write it could not have missed if a later read saw it: the checker must
// notice under strict serializability whenever the read had a successor.
func TestStaleReadDetected(t *testing.T) {
	h := checkers.History{
		{Index: 0, Time: 0, Process: 0, Type: checkers.Invoke, F: checkers.FTxn, Value: []checkers.Mop{checkers.Append("x", 1)}},
		{Index: 1, Time: 1, Process: 0, Type: checkers.OK, F: checkers.FTxn, Value: []checkers.Mop{checkers.Append("x", 1)}},
		{Index: 2, Time: 2, Process: 1, Type: checkers.Invoke, F: checkers.FTxn, Value: []checkers.Mop{checkers.Read("x", nil)}},
		{Index: 3, Time: 3, Process: 1, Type: checkers.OK, F: checkers.FTxn, Value: []checkers.Mop{checkers.Read("x", []int64{})}},
		{Index: 4, Time: 4, Process: 1, Type: checkers.Invoke, F: checkers.FTxn, Value: []checkers.Mop{checkers.Read("x", nil)}},
		{Index: 5, Time: 5, Process: 1, Type: checkers.OK, F: checkers.FTxn, Value: []checkers.Mop{checkers.Read("x", []int64{1})}},
	}
	r := Check(h, Options{Model: StrictSerializable})
	if r.Verdict != checkers.Illegal || !strings.Contains(r.String(), "G-single-realtime") {
		t.Fatalf("want G-single-realtime, got %s", r)
	}
	if r := Check(h, Options{Model: Serializable}); r.Verdict != checkers.Ok {
		t.Fatalf("serializable allows a stale read: %s", r)
	}
}

// The checker is a pure function: the same history gives the same result,
// byte for byte.
func TestDeterministic(t *testing.T) {
	h := genHistory(7, genConfig{txns: 500, procs: 6, keys: 4, perKey: 10, maxMops: 4, pInfo: 0.05, pFail: 0.05})
	// Break it: swap two appends' values in one read to force anomalies.
	for i := range h {
		if h[i].Type != checkers.OK {
			continue
		}
		mops := h[i].Value.([]checkers.Mop)
		if r, ok := mops[0].Value.([]int64); ok && len(r) >= 3 {
			r[0], r[1] = r[1], r[0]
			break
		}
	}
	for _, m := range allModels {
		a, b := Check(h, Options{Model: m}), Check(h, Options{Model: m})
		if !reflect.DeepEqual(a, b) || a.String() != b.String() {
			t.Fatalf("%s: results differ", m)
		}
		if a.Verdict != checkers.Illegal {
			t.Fatalf("%s: broken history passed", m)
		}
	}
}

func TestBadInput(t *testing.T) {
	inv := func(v any) checkers.Op {
		return checkers.Op{Type: checkers.Invoke, F: checkers.FTxn, Value: v}
	}
	for name, h := range map[string]checkers.History{
		"mixed":     {inv([]checkers.Mop{checkers.Append("x", 1), checkers.Write("y", 1)})},
		"bad mop":   {inv([]checkers.Mop{{F: "inc", Key: "x"}})},
		"not mops":  {inv(3)},
		"unpaired":  {{Type: checkers.OK, F: checkers.FTxn}},
		"bad model": {},
	} {
		opts := Options{}
		if name == "bad model" {
			opts.Model = "read-your-mind"
		}
		if r := Check(h, opts); r.Verdict != checkers.Unknown || r.Reason == "" {
			t.Errorf("%s: got %s, want unknown with a reason", name, r)
		}
	}
	if r := Check(checkers.History{inv([]checkers.Mop{checkers.Append("x", 1)})}, Options{Workload: RWRegister}); r.Verdict != checkers.Unknown {
		t.Errorf("append in rw-register: %s", r)
	}
	if r := Check(checkers.History{inv([]checkers.Mop{checkers.Write("x", 1)})}, Options{Workload: ListAppend}); r.Verdict != checkers.Unknown {
		t.Errorf("write in list-append: %s", r)
	}
}

// A tiny search budget turns an undecided search into Unknown, never into
// a verdict.
func TestBudget(t *testing.T) {
	h := loadHistory(t, "testdata/la-g-nonadjacent.jsonl")
	r := Check(h, Options{Model: SnapshotIsolation, SearchBudget: 1})
	if r.Verdict != checkers.Unknown || !strings.Contains(r.Reason, "budget") {
		t.Fatalf("got %s", r)
	}
}
