package elle

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/tikvsim/tikvsim/checkers"
	"pgregory.net/rapid"
)

// genSI records a history of a snapshot-isolation store: each transaction
// reads the snapshot of everything committed before it was invoked, and
// commits at one instant before it completes unless a transaction that
// committed since its snapshot wrote one of its keys (first committer
// wins), in which case it fails. Such histories are strong snapshot
// isolation, and typically not serializable (write skew).
func genSI(seed uint64, cfg genConfig) checkers.History {
	rng := rand.New(rand.NewPCG(seed, 1))
	type version struct {
		ts   int64
		list []int64 // list-append state, or a one-element register value
	}
	store := map[string][]version{}
	at := func(k string, ts int64) []int64 {
		vs := store[k]
		for i := len(vs) - 1; i >= 0; i-- {
			if vs[i].ts <= ts {
				return vs[i].list
			}
		}
		return nil
	}
	type running struct {
		proc      int
		snap      int64
		mops      []checkers.Mop
		committed bool
		out       checkers.Op
	}
	var h checkers.History
	var now, clock, next int64
	emit := func(op checkers.Op) {
		op.Index, op.Time = int64(len(h)), now
		h = append(h, op)
	}
	procs := make([]*running, cfg.procs)
	invoked := 0
	keys := make([]string, cfg.keys)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i)
	}
	for invoked < cfg.txns || slices.ContainsFunc(procs, func(r *running) bool { return r != nil }) {
		now++
		p := rng.IntN(cfg.procs)
		r := procs[p]
		switch {
		case r == nil && invoked < cfg.txns:
			invoked++
			var mops []checkers.Mop
			for range 1 + rng.IntN(cfg.maxMops) {
				k := keys[rng.IntN(len(keys))]
				next++
				switch {
				case rng.IntN(2) == 0:
					mops = append(mops, checkers.Read(k, nil))
				case cfg.registers:
					mops = append(mops, checkers.Write(k, next))
				default:
					mops = append(mops, checkers.Append(k, next))
				}
			}
			procs[p] = &running{proc: p, snap: clock, mops: mops}
			emit(checkers.Op{Process: p, Type: checkers.Invoke, F: checkers.FTxn, Value: mops})
		case r == nil:
		case !r.committed:
			r.committed = true
			local := map[string][]int64{}
			view := func(k string) []int64 {
				if l, ok := local[k]; ok {
					return l
				}
				return at(k, r.snap)
			}
			res := make([]checkers.Mop, len(r.mops))
			conflict := false
			for i, m := range r.mops {
				switch m.F {
				case checkers.MopRead:
					l := view(m.Key)
					if cfg.registers {
						res[i] = checkers.Read(m.Key, nil)
						if len(l) > 0 {
							res[i].Value = l[0]
						}
					} else {
						res[i] = checkers.Read(m.Key, append([]int64{}, l...))
					}
				default:
					if vs := store[m.Key]; len(vs) > 0 && vs[len(vs)-1].ts > r.snap {
						conflict = true
					}
					if cfg.registers {
						local[m.Key] = []int64{m.Value.(int64)}
					} else {
						local[m.Key] = append(slices.Clone(view(m.Key)), m.Value.(int64))
					}
					res[i] = m
				}
			}
			if conflict {
				r.out = checkers.Op{Process: r.proc, Type: checkers.Fail, F: checkers.FTxn, Value: r.mops}
				break
			}
			clock++
			for k, l := range local {
				store[k] = append(store[k], version{clock, l})
			}
			r.out = checkers.Op{Process: r.proc, Type: checkers.OK, F: checkers.FTxn, Value: res}
		default:
			emit(r.out)
			procs[p] = nil
		}
	}
	return h
}

// Snapshot-isolation histories pass both SI models; the checker never
// mistakes write skew for a forbidden cycle, however the cycles interlock.
func TestSnapshotIsolationValid(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		cfg := genConfig{
			txns:      rapid.IntRange(1, 300).Draw(rt, "txns"),
			procs:     rapid.IntRange(1, 10).Draw(rt, "procs"),
			keys:      rapid.IntRange(1, 5).Draw(rt, "keys"),
			maxMops:   rapid.IntRange(1, 5).Draw(rt, "maxMops"),
			registers: rapid.Bool().Draw(rt, "registers"),
		}
		h := genSI(rapid.Uint64().Draw(rt, "seed"), cfg)
		for _, m := range []Model{SnapshotIsolation, StrongSnapshotIsolation} {
			if r := Check(h, Options{Model: m}); r.Verdict != checkers.Ok {
				rt.Fatalf("%s: %s", m, r)
			}
		}
	})
}

// Write skew is common enough in SI histories that serializability fails.
func TestSnapshotIsolationNotSerializable(t *testing.T) {
	h := genSI(1, genConfig{txns: 2000, procs: 10, keys: 3, maxMops: 4})
	r := Check(h, Options{Model: Serializable})
	if r.Verdict != checkers.Illegal {
		t.Fatalf("no G2 in 2000 SI transactions: %s", r.Verdict)
	}
	if k := r.Kinds(); !slices.Contains(k, "G2-item") {
		t.Fatalf("kinds %v", k)
	}
}

func BenchmarkSnapshotIsolation(b *testing.B) {
	h := genSI(1, genConfig{txns: 10_000, procs: 16, keys: 64, maxMops: 4})
	b.ReportAllocs()
	for b.Loop() {
		if r := Check(h, Options{Model: StrongSnapshotIsolation}); r.Verdict != checkers.Ok {
			b.Fatal(r)
		}
	}
}
