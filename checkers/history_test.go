package checkers

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// The two lines from the issue that defined the format.
const issueExample = `{"index":0,"time":1200,"process":3,"type":"invoke","f":"txn","value":[["append","x",1],["r","y",null]]}
{"index":1,"time":1950,"process":3,"type":"ok","f":"txn","value":[["append","x",1],["r","y",[1,2]]]}
`

func TestIssueExample(t *testing.T) {
	h, err := ReadJSONL(strings.NewReader(issueExample))
	if err != nil {
		t.Fatal(err)
	}
	want := History{
		{Index: 0, Time: 1200, Process: 3, Type: Invoke, F: FTxn, Value: []Mop{Append("x", 1), Read("y", nil)}},
		{Index: 1, Time: 1950, Process: 3, Type: OK, F: FTxn, Value: []Mop{Append("x", 1), Read("y", []int64{1, 2})}},
	}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("got %#v", h)
	}
	var b bytes.Buffer
	if err := WriteJSONL(&b, h); err != nil {
		t.Fatal(err)
	}
	if b.String() != issueExample {
		t.Fatalf("re-encoded as\n%s", b.String())
	}
	pairs, err := h.Pairs()
	if err != nil || len(pairs) != 1 || pairs[0].Complete.Index != 1 {
		t.Fatalf("pairs %v, %v", pairs, err)
	}
}

func genValue(t *rapid.T, depth int) any {
	n := 5
	if depth > 2 {
		n = 4
	}
	switch rapid.IntRange(0, n).Draw(t, "kind") {
	case 0:
		return nil
	case 1:
		return rapid.Int64().Draw(t, "int")
	case 2:
		return rapid.String().Draw(t, "string")
	case 3:
		return rapid.Bool().Draw(t, "bool")
	case 4:
		return []any{genValue(t, depth+1), genValue(t, depth+1)}
	default:
		return map[string]any{rapid.StringN(0, 3, -1).Draw(t, "k"): genValue(t, depth+1)}
	}
}

func genOp(t *rapid.T, i int) Op {
	op := Op{
		Index:   int64(i),
		Time:    rapid.Int64Min(0).Draw(t, "time"),
		Process: rapid.IntRange(0, 1000).Draw(t, "process"),
		Type:    rapid.SampledFrom([]Type{Invoke, OK, Fail, Info}).Draw(t, "type"),
		Error:   rapid.SampledFrom([]string{"", "timeout"}).Draw(t, "error"),
	}
	if rapid.Bool().Draw(t, "txn") {
		op.F = FTxn
		var mops []Mop
		for range rapid.IntRange(0, 4).Draw(t, "mops") {
			k := rapid.String().Draw(t, "key")
			switch rapid.IntRange(0, 4).Draw(t, "mop") {
			case 0:
				mops = append(mops, Append(k, rapid.Int64().Draw(t, "v")))
			case 1:
				mops = append(mops, Write(k, rapid.Int64().Draw(t, "v")))
			case 2:
				mops = append(mops, Read(k, nil))
			case 3:
				mops = append(mops, Read(k, rapid.Int64().Draw(t, "v")))
			default:
				mops = append(mops, Read(k, rapid.SliceOf(rapid.Int64()).Draw(t, "l")))
			}
		}
		if mops == nil {
			mops = []Mop{}
		}
		for i := range mops {
			if l, ok := mops[i].Value.([]int64); ok && l == nil {
				mops[i].Value = []int64{}
			}
		}
		op.Value = mops
	} else {
		op.F = rapid.SampledFrom([]string{FRead, FWrite, FCAS, "transfer"}).Draw(t, "f")
		op.Key = rapid.String().Draw(t, "key")
		op.Value = genValue(t, 0)
	}
	return op
}

// Writing then reading any history gives it back unchanged.
func TestJSONLRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var h History
		for i := range rapid.IntRange(0, 8).Draw(t, "len") {
			h = append(h, genOp(t, i))
		}
		var b bytes.Buffer
		if err := WriteJSONL(&b, h); err != nil {
			t.Fatal(err)
		}
		got, err := ReadJSONL(&b)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) == 0 && len(got) == 0 {
			return
		}
		if !reflect.DeepEqual(got, h) {
			t.Fatalf("round trip changed the history:\n got %v\nwant %v", got, h)
		}
	})
}

func TestReadErrors(t *testing.T) {
	for name, in := range map[string]string{
		"not json":      "{",
		"bad type":      `{"index":0,"type":"maybe","f":"read"}`,
		"bad mop":       `{"index":0,"type":"invoke","f":"txn","value":[["r","x"]]}`,
		"bad mop value": `{"index":0,"type":"invoke","f":"txn","value":[["r","x","s"]]}`,
		"bad key":       `{"index":0,"type":"invoke","f":"txn","value":[["r",[1],null]]}`,
		"bad list":      `{"index":0,"type":"invoke","f":"txn","value":[["r","x",["a"]]]}`,
		"not a list":    `{"index":0,"type":"invoke","f":"txn","value":3}`,
	} {
		if _, err := ReadJSONL(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%s: err %v", name, err)
		}
	}
	// Numeric keys are accepted; floats stay floats.
	h, err := ReadJSONL(strings.NewReader(`{"index":0,"type":"invoke","f":"txn","value":[["r",7,null]]}` + "\n\n" + `{"index":1,"type":"invoke","f":"x","value":1.5}`))
	if err != nil || h[0].Value.([]Mop)[0].Key != "7" || h[1].Value != 1.5 {
		t.Fatalf("%v %v", h, err)
	}
	var b bytes.Buffer
	if err := WriteJSONL(&b, History{{F: FTxn, Value: 3}}); err == nil {
		t.Error("txn with a non-mop value encoded")
	}
	if err := WriteJSONL(&b, History{{F: FTxn, Value: []Mop{{F: "r", Value: "s"}}}}); err == nil {
		t.Error("mop with a string value encoded")
	}
}

func TestPairs(t *testing.T) {
	op := func(i int64, tm int64, p int, ty Type, f string) Op {
		return Op{Index: i, Time: tm, Process: p, Type: ty, F: f}
	}
	good := History{
		op(0, 1, 1, Invoke, FRead), op(1, 1, 2, Invoke, FWrite), op(2, 2, 2, Info, FWrite),
		op(3, 3, 1, OK, FRead), op(4, 4, 5, Invoke, FRead), op(5, 4, 4, Invoke, FCAS),
	}
	pairs, err := good.Pairs()
	if err != nil {
		t.Fatal(err)
	}
	if len(pairs) != 4 || pairs[2].Complete.Time != OpenTime || pairs[2].Invoke.Process != 5 || pairs[3].Invoke.Process != 4 {
		t.Fatalf("pairs %v", pairs)
	}
	for name, h := range map[string]History{
		"unknown type":   {op(0, 0, 1, "x", FRead)},
		"time backwards": {op(0, 5, 1, Invoke, FRead), op(1, 4, 1, OK, FRead)},
		"after info":     {op(0, 0, 1, Invoke, FRead), op(1, 0, 1, Info, FRead), op(2, 0, 1, Invoke, FRead)},
		"double invoke":  {op(0, 0, 1, Invoke, FRead), op(1, 0, 1, Invoke, FRead)},
		"no invoke":      {op(0, 0, 1, OK, FRead)},
		"f mismatch":     {op(0, 0, 1, Invoke, FRead), op(1, 0, 1, OK, FWrite)},
	} {
		if _, err := h.Pairs(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestResult(t *testing.T) {
	var r Result
	r.Finish()
	if r.Verdict != Ok || r.String() != "ok" {
		t.Fatal(r)
	}
	r.Reason = "budget"
	r.Finish()
	if r.Verdict != Unknown || r.String() != "unknown: budget" {
		t.Fatal(r)
	}
	r.Anomalies = []Anomaly{{Kind: "b", Explanation: "x"}, {Kind: "a"}, {Kind: "b"}}
	r.Finish()
	if r.Verdict != Illegal || strings.Join(r.Kinds(), ",") != "a,b" || !strings.Contains(r.String(), "b: x") {
		t.Fatal(r)
	}
	if Verdict(9).String() == "" || !Info.Valid() || Type("x").Valid() {
		t.Fatal("verdict/type strings")
	}
	if s := (Op{Index: 3, Process: 1, Type: OK, F: FRead, Key: "x", Value: int64(2)}).String(); s != "#3 p1 ok read x 2" {
		t.Fatal(s)
	}
	if v, ok := AsInt(float64(3)); !ok || v != 3 {
		t.Fatal("AsInt")
	}
	if _, ok := AsInt(1.5); ok {
		t.Fatal("AsInt(1.5)")
	}
	if v, ok := AsInt(7); !ok || v != 7 {
		t.Fatal("AsInt(int)")
	}
}

func TestVerdictJSON(t *testing.T) {
	b, err := json.Marshal(Result{Verdict: Illegal})
	if err != nil || !strings.Contains(string(b), `"Verdict":"illegal"`) {
		t.Fatalf("%s %v", b, err)
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil || r.Verdict != Illegal {
		t.Fatalf("%v %v", r, err)
	}
	var v Verdict
	if v.UnmarshalText([]byte("maybe")) == nil {
		t.Fatal("parsed a bad verdict")
	}
}
