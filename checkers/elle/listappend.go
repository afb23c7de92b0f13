package elle

import (
	"fmt"
	"slices"

	"github.com/tikvsim/tikvsim/checkers"
	"github.com/tikvsim/tikvsim/internal/invariants"
)

// kv is a (key, value) pair with an interned key.
type kv struct {
	k int32
	v int64
}

// none marks "no transaction".
const none int32 = -1

// listAppend infers the list-append dependency graph and its non-cycle
// anomalies, following elle's src/elle/list_append.clj:
//   - appends are unique per key (verify-unique-appends);
//   - the longest read of each key is its version order, and every other
//     read must be a prefix of it (sorted-values, incompatible-orders);
//   - wr: T2 read a list whose last element T1 appended (wr-mop-dep);
//   - ww: T2 appended the element right after T1's (ww-mop-dep); an append
//     nobody read follows the last observed element
//     (previously-appended-element);
//   - rw: T1 read the state just before T2's append (rw-mop-deps);
//   - G1a, G1b, internal as in g1a-cases, g1b-cases, op-int-case and
//     op-future-read-case.
//
// Every read that is a prefix of its key's longest read holds only elements
// of that longest read, so per-element checks (garbage, G1a) run once per
// element of the longest reads and of the reads that are not prefixes.
func (c *checker) listAppend() error {
	// One entry per (key, element) seen, found through one map lookup.
	type elem struct {
		writer       int32   // the appending transaction, or none
		pos          int32   // index in the key's longest read, or -1
		intermediate bool    // its writer appended to the key again later
		readers      []int32 // ok transactions whose read of the key ends here
	}
	nMops := 0
	for i := range c.txns {
		nMops += len(c.txns[i].mops)
	}
	elems := make([]elem, 0, nMops)
	index := make(map[kv]int32, nMops)
	find := func(x kv) *elem {
		if i, ok := index[x]; ok {
			return &elems[i]
		}
		return nil
	}
	// add returns x's entry, creating it; the pointer is valid until the
	// next add.
	add := func(x kv) *elem {
		if i, ok := index[x]; ok {
			return &elems[i]
		}
		index[x] = int32(len(elems))
		elems = append(elems, elem{writer: none, pos: -1})
		return &elems[len(elems)-1]
	}
	// Pass 1: who appended what, duplicates, intermediate appends.
	for i := range c.txns {
		t := &c.txns[i]
		for mi, m := range t.mops {
			k := t.keys[mi]
			if m.F == checkers.MopRead {
				if m.Value != nil {
					if _, ok := m.Value.([]int64); !ok {
						return fmt.Errorf("op %d: read of %q has value %v, want a list", t.op().Index, m.Key, m.Value)
					}
				}
				continue
			}
			if m.F != checkers.MopAppend {
				return fmt.Errorf("op %d: mop %q in a list-append history", t.inv.Index, m.F)
			}
			v, ok := m.Value.(int64)
			if !ok {
				return fmt.Errorf("op %d: append to %q of %v, want an integer", t.inv.Index, m.Key, m.Value)
			}
			x := kv{k, v}
			if e := add(x); e.writer != none {
				c.simple("duplicate-appends", []int32{e.writer, int32(i)}, "%d was appended to %q more than once (by #%d and #%d); list-append needs unique appends", v, m.Key, c.txns[e.writer].inv.Index, t.inv.Index)
			} else {
				e.writer = int32(i)
			}
			// An earlier append to k in this transaction is intermediate.
			for j := mi - 1; j >= 0; j-- {
				if t.keys[j] == k && t.mops[j].F == checkers.MopAppend {
					find(kv{k, t.mops[j].Value.(int64)}).intermediate = true
					break
				}
			}
		}
	}
	writerOf := func(x kv) int32 {
		if e := find(x); e != nil {
			return e.writer
		}
		return none
	}

	// Pass 2: reads of ok transactions.
	nk := len(c.keyName)
	readersInit := make([][]int32, nk)
	longest := make([][]int64, nk)
	longestBy := make([]int32, nk)
	lastReader := make([]int32, nk) // the ok reader of each key invoked last
	for k := range lastReader {
		lastReader[k] = none
	}
	for i := range c.txns {
		t := &c.txns[i]
		if t.typ != checkers.OK {
			continue
		}
		c.internalListAppend(int32(i), writerOf)
		for mi, m := range t.mops {
			if m.F != checkers.MopRead {
				continue
			}
			k := t.keys[mi]
			r, _ := m.Value.([]int64)
			if lr := lastReader[k]; lr == none || c.txns[lr].inv.Time < t.inv.Time {
				lastReader[k] = int32(i)
			}
			if len(r) > len(longest[k]) {
				longest[k], longestBy[k] = r, int32(i)
			}
			if len(r) == 0 {
				readersInit[k] = append(readersInit[k], int32(i))
				continue
			}
			last := kv{k, r[len(r)-1]}
			e := add(last)
			w := e.writer
			e.readers = append(e.readers, int32(i))
			if w != none && w != int32(i) && e.intermediate {
				c.simple("G1b", []int32{int32(i), w}, "#%d read %q = %s, ending in %d, an intermediate append of #%d, which appended to %q again later", t.op().Index, m.Key, formatList(r), last.v, c.txns[w].op().Index, m.Key)
			}
			if w != none && c.txns[w].typ != checkers.Fail {
				c.edge(w, int32(i), kWR)
			}
		}
	}

	// checkElements reports garbage and aborted (G1a) elements of one read.
	checkElements := func(reader int32, key string, k int32, r []int64) {
		for _, e := range r {
			w := writerOf(kv{k, e})
			if w == none {
				c.simple("garbage-read", []int32{reader}, "#%d read %d in %q, which no transaction appended", c.txns[reader].op().Index, e, key)
				return
			}
			if c.txns[w].typ == checkers.Fail {
				c.simple("G1a", []int32{reader, w}, "#%d read %q = %s, including %d appended by #%d, which failed", c.txns[reader].op().Index, key, formatList(r), e, c.txns[w].op().Index)
				return
			}
		}
	}

	// Version orders: position of each element in its key's longest read.
	for k := int32(0); int(k) < nk; k++ {
		l := longest[k]
		if len(l) == 0 {
			continue
		}
		checkElements(longestBy[k], c.keyName[k], k, l)
		for i, e := range l {
			el := add(kv{k, e})
			if el.pos >= 0 {
				c.simple("duplicate-elements", []int32{longestBy[k]}, "#%d read %q = %s, which contains %d twice", c.txns[longestBy[k]].op().Index, c.keyName[k], formatList(l), e)
				continue
			}
			el.pos = int32(i)
			if invariants.Enabled && !(find(kv{k, e}).pos == int32(i)) {
				invariants.Fail("pos of %d", e)
			}
		}
	}
	reported := make([]bool, nk)
	for i := range c.txns {
		t := &c.txns[i]
		if t.typ != checkers.OK {
			continue
		}
		for mi, m := range t.mops {
			r, _ := m.Value.([]int64)
			if m.F != checkers.MopRead || len(r) == 0 {
				continue
			}
			k := t.keys[mi]
			l := longest[k]
			if slices.Equal(r, l[:min(len(r), len(l))]) {
				continue
			}
			checkElements(int32(i), m.Key, k, r)
			if !reported[k] {
				reported[k] = true
				c.simple("incompatible-order", []int32{int32(i), longestBy[k]}, "#%d read %q = %s, which is not a prefix of %s, read by #%d: no single order of appends explains both", t.op().Index, m.Key, formatList(r), formatList(l), c.txns[longestBy[k]].op().Index)
			}
		}
	}

	seen := func(x kv) bool {
		e := find(x)
		return e != nil && e.pos >= 0
	}

	// A transaction's appends to one key are atomic: where the version order
	// shows them, they must sit next to one another, in mop order.
	for i := range c.txns {
		t := &c.txns[i]
		if t.typ == checkers.Fail {
			continue
		}
		for mi, m := range t.mops {
			if m.F != checkers.MopAppend {
				continue
			}
			k := t.keys[mi]
			for j := mi + 1; j < len(t.mops); j++ {
				if t.keys[j] != k || t.mops[j].F != checkers.MopAppend {
					continue
				}
				a, b := find(kv{k, m.Value.(int64)}), find(kv{k, t.mops[j].Value.(int64)})
				if b.pos >= 0 && (a.pos < 0 || b.pos != a.pos+1) && !reported[k] {
					reported[k] = true
					c.simple("incompatible-order", []int32{int32(i), longestBy[k]}, "#%d appended %d then %d to %q, but #%d read %q = %s, which does not show them adjacent and in that order", t.op().Index, m.Value.(int64), t.mops[j].Value.(int64), m.Key, c.txns[longestBy[k]].op().Index, m.Key, formatList(longest[k]))
				}
				break
			}
		}
	}

	// prev returns the element appended just before x in version order, or
	// false when x follows the initial empty state.
	prev := func(x kv) (int64, bool) {
		l := longest[x.k]
		i := len(l) // never observed: after every observed element
		if e := find(x); e != nil && e.pos >= 0 {
			i = int(e.pos)
		}
		if i == 0 {
			return 0, false
		}
		return l[i-1], true
	}

	// ww and rw edges, and lost writes.
	for i := range c.txns {
		t := &c.txns[i]
		if t.typ == checkers.Fail {
			continue
		}
		for mi, m := range t.mops {
			if m.F != checkers.MopAppend {
				continue
			}
			x := kv{t.keys[mi], m.Value.(int64)}
			var rs []int32
			if pv, ok := prev(x); ok {
				e := find(kv{x.k, pv})
				if w := e.writer; w != none && c.txns[w].typ != checkers.Fail {
					c.edge(w, int32(i), kWW)
				}
				rs = e.readers
			} else {
				rs = readersInit[x.k]
			}
			for _, r := range rs {
				c.edge(r, int32(i), kRW)
			}
			if !seen(x) && t.typ == checkers.OK {
				if lr := lastReader[x.k]; lr != none && c.txns[lr].inv.Time > t.comp.Time {
					c.simple("lost-write", []int32{int32(i), lr}, "#%d's append of %d to %q was acknowledged, but #%d, invoked later, read %q without it, and no read ever saw it", t.op().Index, x.v, m.Key, c.txns[lr].op().Index, m.Key)
				}
			}
		}
	}

	c.explain = func(a, b int32, k uint8, an, bn string) string {
		tb := &c.txns[b]
		for mi, m := range tb.mops {
			key := tb.keys[mi]
			switch {
			case k == kWR && m.F == checkers.MopRead:
				r, _ := m.Value.([]int64)
				if len(r) > 0 && writerOf(kv{key, r[len(r)-1]}) == a {
					return fmt.Sprintf("%s read %s's append of %d to %q", bn, an, r[len(r)-1], m.Key)
				}
			case (k == kWW || k == kRW) && m.F == checkers.MopAppend:
				x := kv{key, m.Value.(int64)}
				pv, ok := prev(x)
				note := ""
				if !seen(x) {
					note = " (no read saw it, so it follows every observed append)"
				}
				if k == kWW && ok && writerOf(kv{key, pv}) == a {
					return fmt.Sprintf("%s appended %d to %q after %s appended %d%s", bn, x.v, m.Key, an, pv, note)
				}
				if k == kRW {
					if r, found := readOf(c.txns[a].mops, m.Key, pv, ok); found {
						return fmt.Sprintf("%s read %q = %s, which does not include %s's append of %d%s", an, m.Key, formatList(r), bn, x.v, note)
					}
				}
			}
		}
		return ""
	}
	return nil
}

// readOf finds a read of key in mops whose list ends in last (or is empty
// when !nonEmpty).
func readOf(mops []checkers.Mop, key string, last int64, nonEmpty bool) ([]int64, bool) {
	for _, m := range mops {
		if m.F != checkers.MopRead || m.Key != key {
			continue
		}
		r, _ := m.Value.([]int64)
		if !nonEmpty && len(r) == 0 || nonEmpty && len(r) > 0 && r[len(r)-1] == last {
			return r, true
		}
	}
	return nil, false
}

// internalListAppend checks one ok transaction against itself (elle's
// op-int-case and op-future-read-case): a read must equal the previous read
// of the key plus the appends since, or end with the appends since when the
// key was not read before; and a read must not contain an append the
// transaction makes only later. It scans the transaction's mops directly, so
// it allocates nothing for the common small transaction.
func (c *checker) internalListAppend(i int32, writerOf func(kv) int32) {
	t := &c.txns[i]
	for mi, m := range t.mops {
		if m.F != checkers.MopRead {
			continue
		}
		k := t.keys[mi]
		r, _ := m.Value.([]int64)
		// Walk back to the previous read of k, collecting appends since.
		var prevRead []int64
		hasPrev := false
		nApp := 0
		for j := mi - 1; j >= 0; j-- {
			if t.keys[j] != k {
				continue
			}
			if t.mops[j].F == checkers.MopRead {
				prevRead, _ = t.mops[j].Value.([]int64)
				hasPrev = true
				break
			}
			nApp++
		}
		if hasPrev || nApp > 0 {
			// Expected: prevRead (if any) then the appends since, in order.
			want := nApp
			if hasPrev {
				want += len(prevRead)
			}
			bad := len(r) < want || hasPrev && len(r) != want
			if !bad {
				base := len(r) - nApp
				if hasPrev && !slices.Equal(r[:len(prevRead)], prevRead) {
					bad = true
				}
				n := 0
				for j := 0; j < mi && !bad; j++ {
					if t.keys[j] != k || t.mops[j].F != checkers.MopAppend || !after(t, j, mi, k) {
						continue
					}
					if r[base+n] != t.mops[j].Value.(int64) {
						bad = true
					}
					n++
				}
				if invariants.Enabled && !(bad || n == nApp) {
					invariants.Fail("internal: counted %d appends, want %d", n, nApp)
				}
			}
			if bad {
				c.simple("internal", []int32{i}, "#%d read %q = %s, which disagrees with its own earlier reads and appends of %q", t.op().Index, m.Key, formatList(r), m.Key)
				return
			}
		}
		// Future read: r holds a value this transaction appends later.
		for j := mi + 1; j < len(t.mops); j++ {
			if t.keys[j] != k || t.mops[j].F != checkers.MopAppend {
				continue
			}
			v := t.mops[j].Value.(int64)
			if slices.Contains(r, v) && writerOf(kv{k, v}) == i {
				c.simple("internal", []int32{i}, "#%d read %q = %s, containing %d, which it appends only later", t.op().Index, m.Key, formatList(r), v)
				return
			}
		}
	}
}

// after reports whether mop j of t comes after the last read of k before
// mop end.
func after(t *txn, j, end int, k int32) bool {
	for x := j + 1; x < end; x++ {
		if t.keys[x] == k && t.mops[x].F == checkers.MopRead {
			return false
		}
	}
	return true
}
