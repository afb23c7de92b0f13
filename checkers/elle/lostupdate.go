package elle

import (
	"fmt"

	"github.com/tikvsim/tikvsim/checkers"
)

// lostUpdates reports transactions that read the same state of a key and
// then both wrote that key, and committed: whatever each computed from that
// state, one of their updates is lost. This mirrors lost-update-cases in
// elle's src/elle/txn.clj, which finds it directly (in linear time) because
// version-order inference may miss the ww edge of the G2-item cycle it
// implies. Every model we offer forbids it.
//
// The state read is the last element of the list (list-append) or the value
// (rw-register) seen by the transaction's first, external read of the key;
// empty stands for the initial state.
func (c *checker) lostUpdates() {
	type state struct {
		k     int32
		v     int64
		empty bool
	}
	groups := map[state][]int32{}
	var order []state
	for i := range c.txns {
		t := &c.txns[i]
		if t.typ != checkers.OK {
			continue
		}
		for mi, m := range t.mops {
			if m.F != checkers.MopRead {
				continue
			}
			k := t.keys[mi]
			external, writes := true, false
			for j := range t.mops {
				if t.keys[j] != k {
					continue
				}
				if j < mi {
					external = false
					break
				}
				if j > mi && t.mops[j].F != checkers.MopRead {
					writes = true
				}
			}
			if !external || !writes {
				continue
			}
			s := state{k: k, empty: true}
			switch v := m.Value.(type) {
			case int64:
				s.v, s.empty = v, false
			case []int64:
				if len(v) > 0 {
					s.v, s.empty = v[len(v)-1], false
				}
			}
			if _, ok := groups[s]; !ok {
				order = append(order, s)
			}
			groups[s] = append(groups[s], int32(i))
		}
	}
	for _, s := range order {
		ts := groups[s]
		if len(ts) < 2 {
			continue
		}
		what := "its initial state"
		if !s.empty {
			what = fmt.Sprintf("the state ending in %d", s.v)
			if c.workload == RWRegister {
				what = fmt.Sprintf("%d", s.v)
			}
		}
		var names string
		for i, t := range ts {
			if i > 0 {
				names += ", "
			}
			names += fmt.Sprintf("#%d", c.txns[t].op().Index)
		}
		c.simple("lost-update", ts, "transactions %s all read %q as %s and then wrote %q, and all committed: one update is lost", names, c.keyName[s.k], what, c.keyName[s.k])
	}
}
