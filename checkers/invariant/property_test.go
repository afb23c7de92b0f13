package invariant

import (
	"slices"
	"testing"

	"github.com/tikvsim/tikvsim/checkers"
	"pgregory.net/rapid"
)

// genAtomic records a history in which every operation takes effect at one
// instant between its invoke and its completion, over a bank of two
// accounts (total 100), a grow-only set and a counter read per process.
// apply performs an op and returns its result.
func genAtomic(t *rapid.T, fs []string, apply func(f string, arg any) any, arg func(f string) any) checkers.History {
	procs := rapid.IntRange(1, 4).Draw(t, "procs")
	n := rapid.IntRange(1, 40).Draw(t, "ops")
	type pending struct {
		inv  checkers.Op
		done bool
		out  any
	}
	running := make([]*pending, procs)
	var h checkers.History
	var now int64
	emit := func(op checkers.Op) {
		op.Index, op.Time = int64(len(h)), now
		h = append(h, op)
	}
	issued := 0
	for issued < n || slices.ContainsFunc(running, func(p *pending) bool { return p != nil }) {
		now++
		p := rapid.IntRange(0, procs-1).Draw(t, "p")
		r := running[p]
		switch {
		case r == nil && issued < n:
			issued++
			f := rapid.SampledFrom(fs).Draw(t, "f")
			op := checkers.Op{Process: p, Type: checkers.Invoke, F: f, Key: "x", Value: arg(f)}
			emit(op)
			running[p] = &pending{inv: op}
		case r == nil:
		case !r.done:
			r.done = true
			r.out = apply(r.inv.F, r.inv.Value)
		default:
			op := r.inv
			op.Type, op.Value = checkers.OK, r.out
			emit(op)
			running[p] = nil
		}
	}
	return h
}

func TestAtomicHistoriesPass(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		bal := map[string]int64{"a": 50, "b": 50}
		var set []any
		var counter int64
		next := int64(0)
		h := genAtomic(t, []string{FTransfer, FAdd, checkers.FRead, "incr"},
			func(f string, arg any) any {
				switch f {
				case FTransfer:
					m := arg.(map[string]any)
					from, to, amt := m["from"].(string), m["to"].(string), m["amount"].(int64)
					bal[from] -= amt
					bal[to] += amt
					return arg
				case FAdd:
					set = append(set, arg)
					return arg
				case "incr":
					counter++
					return nil
				}
				return map[string]any{"a": bal["a"], "b": bal["b"], "set": slices.Clone(set), "n": counter}
			},
			func(f string) any {
				switch f {
				case FTransfer:
					return map[string]any{"from": "a", "to": "b", "amount": rapid.Int64Range(-20, 20).Draw(t, "amount")}
				case FAdd:
					next++
					return next
				}
				return nil
			})
		// Split the combined reads into the three workloads' shapes.
		var bank, set2, mono checkers.History
		for _, op := range h {
			if op.F != checkers.FRead {
				set2 = append(set2, op)
				continue
			}
			b, s, m := op, op, op
			if op.Type == checkers.OK {
				v := op.Value.(map[string]any)
				b.Value = map[string]any{"a": v["a"], "b": v["b"]}
				s.Value = v["set"]
				m.Value = v["n"]
			}
			bank, set2, mono = append(bank, b), append(set2, s), append(mono, m)
		}
		if r := Bank(bank, BankOptions{Total: 100, Accounts: []string{"a", "b"}, AllowNegative: true}); r.Verdict != checkers.Ok {
			t.Fatalf("bank: %s", r)
		}
		if r := Set(set2, SetOptions{}); r.Verdict != checkers.Ok {
			t.Fatalf("set: %s", r)
		}
		if r := MonotonicReads(mono, MonotonicOptions{}); r.Verdict != checkers.Ok {
			t.Fatalf("monotonic: %s", r)
		}
	})
}
