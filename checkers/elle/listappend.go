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
func (c *checker) listAppend() error {
	writer := map[kv]int32{}
	intermediate := map[kv]bool{}
	lastAppend := map[int32]int64{}
	// Pass 1: who appended what, duplicates, intermediate appends.
	for i := range c.txns {
		t := &c.txns[i]
		clear(lastAppend)
		for _, m := range t.mops {
			if m.F == checkers.MopRead {
				if m.Value != nil {
					if _, ok := m.Value.([]int64); !ok {
						return fmt.Errorf("op %d: read of %q has value %v, want a list", t.op().Index, m.Key, m.Value)
					}
				}
				continue
			}
			v, ok := m.Value.(int64)
			if !ok {
				return fmt.Errorf("op %d: append to %q of %v, want an integer", t.inv.Index, m.Key, m.Value)
			}
			k := c.key(m.Key)
			x := kv{k, v}
			if w, dup := writer[x]; dup {
				c.simple("duplicate-appends", []int32{w, int32(i)}, "%d was appended to %q more than once (by #%d and #%d); list-append needs unique appends", v, m.Key, c.txns[w].inv.Index, t.inv.Index)
			} else {
				writer[x] = int32(i)
			}
			if prev, ok := lastAppend[k]; ok {
				intermediate[kv{k, prev}] = true
			}
			lastAppend[k] = v
		}
	}
	writerOf := func(x kv) int32 {
		if w, ok := writer[x]; ok {
			return w
		}
		return none
	}

	// Pass 2: reads of ok transactions.
	readers := map[kv][]int32{}
	readersInit := map[int32][]int32{}
	longest := map[int32][]int64{}
	lastReader := map[int32]int32{} // key -> ok reader invoked last
	for i := range c.txns {
		t := &c.txns[i]
		if t.typ != checkers.OK {
			continue
		}
		c.internalListAppend(int32(i), writer)
		for _, m := range t.mops {
			if m.F != checkers.MopRead {
				continue
			}
			k := c.key(m.Key)
			r, _ := m.Value.([]int64)
			if lr, ok := lastReader[k]; !ok || c.txns[lr].inv.Time < t.inv.Time {
				lastReader[k] = int32(i)
			}
			if len(r) > len(longest[k]) {
				longest[k] = r
			}
			if len(r) == 0 {
				readersInit[k] = append(readersInit[k], int32(i))
				continue
			}
			for _, e := range r {
				w := writerOf(kv{k, e})
				if w == none {
					c.simple("garbage-read", []int32{int32(i)}, "#%d read %d in %q, which no transaction appended", t.op().Index, e, m.Key)
					break
				}
				if c.txns[w].typ == checkers.Fail {
					c.simple("G1a", []int32{int32(i), w}, "#%d read %q = %s, including %d appended by #%d, which failed", t.op().Index, m.Key, formatList(r), e, c.txns[w].op().Index)
					break
				}
			}
			last := kv{k, r[len(r)-1]}
			w := writerOf(last)
			if w != none && w != int32(i) && intermediate[last] {
				c.simple("G1b", []int32{int32(i), w}, "#%d read %q = %s, ending in %d, an intermediate append of #%d, which appended to %q again later", t.op().Index, m.Key, formatList(r), last.v, c.txns[w].op().Index, m.Key)
			}
			readers[last] = append(readers[last], int32(i))
			if w != none && c.txns[w].typ != checkers.Fail {
				c.edge(w, int32(i), kWR)
			}
		}
	}

	// Version orders: position of each element in its key's longest read.
	pos := map[kv]int{}
	keys := make([]int32, 0, len(longest))
	for k := range longest {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for i, e := range longest[k] {
			if _, dup := pos[kv{k, e}]; dup {
				c.simple("duplicate-elements", nil, "the longest read of %q, %s, contains %d twice", c.keyName[k], formatList(longest[k]), e)
				continue
			}
			pos[kv{k, e}] = i
		}
	}
	reported := map[int32]bool{}
	for i := range c.txns {
		t := &c.txns[i]
		if t.typ != checkers.OK {
			continue
		}
		for _, m := range t.mops {
			r, _ := m.Value.([]int64)
			if m.F != checkers.MopRead || len(r) == 0 {
				continue
			}
			k := c.key(m.Key)
			l := longest[k]
			if !reported[k] && !slices.Equal(r, l[:min(len(r), len(l))]) {
				reported[k] = true
				c.simple("incompatible-order", []int32{int32(i)}, "#%d read %q = %s, which is not a prefix of %s, read elsewhere: no single order of appends explains both", t.op().Index, m.Key, formatList(r), formatList(l))
			}
		}
	}

	// prev returns the element appended just before x in version order, or
	// (-1, false) when x follows the initial empty state.
	prev := func(x kv) (int64, bool) {
		l := longest[x.k]
		i, ok := pos[x]
		if !ok {
			i = len(l) // never observed: after every observed element
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
		for _, m := range t.mops {
			if m.F != checkers.MopAppend {
				continue
			}
			x := kv{c.key(m.Key), m.Value.(int64)}
			var rs []int32
			if pv, ok := prev(x); ok {
				if w := writerOf(kv{x.k, pv}); w != none && c.txns[w].typ != checkers.Fail {
					c.edge(w, int32(i), kWW)
				}
				rs = readers[kv{x.k, pv}]
			} else {
				rs = readersInit[x.k]
			}
			for _, r := range rs {
				c.edge(r, int32(i), kRW)
			}
			if _, seen := pos[x]; !seen && t.typ == checkers.OK {
				if lr, ok := lastReader[x.k]; ok && c.txns[lr].inv.Time > t.comp.Time {
					c.simple("lost-write", []int32{int32(i), lr}, "#%d's append of %d to %q was acknowledged, but #%d, invoked later, read %q without it, and no read ever saw it", t.op().Index, x.v, m.Key, c.txns[lr].op().Index, m.Key)
				}
			}
		}
	}

	c.explain = func(a, b int32, k uint8, an, bn string) string {
		for _, m := range c.txns[b].mops {
			key := c.key(m.Key)
			switch {
			case k == kWR && m.F == checkers.MopRead:
				r, _ := m.Value.([]int64)
				if len(r) > 0 && writerOf(kv{key, r[len(r)-1]}) == a {
					return fmt.Sprintf("%s read %s's append of %d to %q", bn, an, r[len(r)-1], m.Key)
				}
			case (k == kWW || k == kRW) && m.F == checkers.MopAppend:
				x := kv{key, m.Value.(int64)}
				pv, ok := prev(x)
				_, seen := pos[x]
				note := ""
				if !seen {
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
// transaction only makes later.
func (c *checker) internalListAppend(i int32, writer map[kv]int32) {
	t := &c.txns[i]
	type state struct {
		read   bool
		base   []int64
		suffix []int64
	}
	var st map[string]*state
	for mi, m := range t.mops {
		if st == nil {
			st = map[string]*state{}
		}
		s := st[m.Key]
		if s == nil {
			s = &state{}
			st[m.Key] = s
		}
		if m.F == checkers.MopAppend {
			s.suffix = append(s.suffix, m.Value.(int64))
			continue
		}
		r, _ := m.Value.([]int64)
		var bad bool
		var want string
		if s.read {
			exp := append(slices.Clone(s.base), s.suffix...)
			bad, want = !slices.Equal(exp, r), formatList(exp)
		} else if len(s.suffix) > 0 {
			n := len(s.suffix)
			bad = len(r) < n || !slices.Equal(r[len(r)-n:], s.suffix)
			want = "[... " + formatList(s.suffix)[1:]
		}
		if bad {
			c.simple("internal", []int32{i}, "#%d read %q = %s, but its own earlier reads and appends imply %s", t.op().Index, m.Key, formatList(r), want)
			return
		}
		k := c.key(m.Key)
		for _, e := range r {
			if w, ok := writer[kv{k, e}]; !ok || w != i {
				continue
			}
			if !slices.Contains(s.suffix, e) && !slices.Contains(s.base, e) {
				// Appended by this transaction, but not yet.
				invariants.Assert(mi < len(t.mops), "mop index")
				c.simple("internal", []int32{i}, "#%d read %q = %s, containing %d, which it appends only later", t.op().Index, m.Key, formatList(r), e)
				return
			}
		}
		s.read, s.base, s.suffix = true, r, nil
	}
}
