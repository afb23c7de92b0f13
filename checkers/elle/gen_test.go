package elle

import (
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/tikvsim/tikvsim/checkers"
)

// genConfig shapes a generated history.
type genConfig struct {
	txns      int     // transactions to invoke
	procs     int     // concurrent processes
	keys      int     // active keys at any time
	perKey    int     // appends (writes) before a key is retired
	maxMops   int     // mops per transaction, 1..maxMops
	pInfo     float64 // chance a transaction crashes (info)
	pFail     float64 // chance a transaction aborts (fail)
	registers bool    // rw-register instead of list-append
}

// genHistory runs transactions against an in-memory store, each applied
// atomically at one instant between its invoke and its completion, so the
// history is strict serializable by construction. Crashed transactions are
// applied or not at random; aborted ones are never applied.
func genHistory(seed uint64, cfg genConfig) checkers.History {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	type running struct {
		proc    int
		mops    []checkers.Mop
		applied bool
		outcome checkers.Type
	}
	lists := map[string][]int64{}
	regs := map[string]int64{}
	writes := map[string]int{}
	active := make([]string, cfg.keys)
	nextKey := 0
	newKey := func() string { nextKey++; return "k" + strconv.Itoa(nextKey) }
	for i := range active {
		active[i] = newKey()
	}
	var nextVal int64
	var h checkers.History
	var t int64
	emit := func(op checkers.Op) {
		op.Index = int64(len(h))
		op.Time = t
		h = append(h, op)
	}
	procs := make([]*running, cfg.procs)
	procID := make([]int, cfg.procs)
	for i := range procID {
		procID[i] = i
	}
	nextProc := cfg.procs
	invoked := 0
	for invoked < cfg.txns || slices.ContainsFunc(procs, func(r *running) bool { return r != nil }) {
		t += 1 + int64(rng.IntN(3))
		p := rng.IntN(cfg.procs)
		r := procs[p]
		switch {
		case r == nil:
			if invoked >= cfg.txns {
				continue
			}
			invoked++
			n := 1 + rng.IntN(cfg.maxMops)
			var inv []checkers.Mop
			for range n {
				k := active[rng.IntN(len(active))]
				if rng.IntN(2) == 0 {
					inv = append(inv, checkers.Read(k, nil))
				} else if cfg.registers {
					nextVal++
					inv = append(inv, checkers.Write(k, nextVal))
				} else {
					nextVal++
					inv = append(inv, checkers.Append(k, nextVal))
				}
			}
			out := checkers.OK
			switch x := rng.Float64(); {
			case x < cfg.pInfo:
				out = checkers.Info
			case x < cfg.pInfo+cfg.pFail:
				out = checkers.Fail
			}
			procs[p] = &running{proc: procID[p], mops: inv, outcome: out}
			emit(checkers.Op{Process: procID[p], Type: checkers.Invoke, F: checkers.FTxn, Value: inv})
		case !r.applied:
			r.applied = true
			if r.outcome == checkers.Fail || r.outcome == checkers.Info && rng.IntN(2) == 0 {
				continue
			}
			res := make([]checkers.Mop, len(r.mops))
			for i, m := range r.mops {
				switch m.F {
				case checkers.MopRead:
					if cfg.registers {
						if v, ok := regs[m.Key]; ok {
							res[i] = checkers.Read(m.Key, v)
						} else {
							res[i] = checkers.Read(m.Key, nil)
						}
					} else {
						res[i] = checkers.Read(m.Key, slices.Clone(lists[m.Key]))
						if res[i].Value.([]int64) == nil {
							res[i].Value = []int64{}
						}
					}
				case checkers.MopAppend:
					lists[m.Key] = append(lists[m.Key], m.Value.(int64))
					res[i] = m
				case checkers.MopWrite:
					regs[m.Key] = m.Value.(int64)
					res[i] = m
				}
				if m.F != checkers.MopRead {
					writes[m.Key]++
				}
			}
			r.mops = res
			// Retire keys that have had enough writes.
			for i, k := range active {
				if writes[k] >= cfg.perKey {
					active[i] = newKey()
				}
			}
		default:
			procs[p] = nil
			val := any(r.mops)
			if r.outcome != checkers.OK {
				val = h[lastInvoke(h, r.proc)].Value
			}
			emit(checkers.Op{Process: r.proc, Type: r.outcome, F: checkers.FTxn, Value: val})
			if r.outcome == checkers.Info {
				procID[p] = nextProc
				nextProc++
			}
		}
	}
	return h
}

func lastInvoke(h checkers.History, proc int) int {
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Process == proc && h[i].Type == checkers.Invoke {
			return i
		}
	}
	panic("no invoke")
}
