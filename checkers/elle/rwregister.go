package elle

import (
	"fmt"

	"github.com/tikvsim/tikvsim/checkers"
)

// rwRegister infers the rw-register dependency graph and its non-cycle
// anomalies, following elle's src/elle/rw_register.clj:
//   - writes are unique per key;
//   - only a transaction's external reads (before it writes the key) and
//     final writes of each key are visible to others (ext-reads,
//     ext-writes); reading a non-final write is G1b, a failed one G1a;
//   - version order: the initial state precedes every version
//     (initial-state-version-graphs), and a transaction that externally
//     read v1 and then wrote v2 puts v1 before v2 (wfr-version-graphs);
//     a cyclic order is incompatible-version-order (cyclic-versions);
//   - for every version edge v1 < v2: ww from the writer of v1 to the
//     writer of v2, rw from each reader of v1 to the writer of v2; readers
//     of the initial state get rw edges to the writers of the first
//     versions (those with no other predecessor);
//   - wr from the writer of a version to each transaction reading it.
func (c *checker) rwRegister() error {
	writer := map[kv]int32{}
	final := map[kv]bool{} // versions: final writes of ok/info transactions
	var versions []kv      // in (writer, mop) order
	for i := range c.txns {
		t := &c.txns[i]
		for mi, m := range t.mops {
			if m.F == checkers.MopRead {
				if _, ok := m.Value.(int64); !ok && m.Value != nil {
					return fmt.Errorf("op %d: read of %q has value %v, want an integer or null", t.op().Index, m.Key, m.Value)
				}
				continue
			}
			if m.F != checkers.MopWrite {
				return fmt.Errorf("op %d: mop %q in an rw-register history", t.inv.Index, m.F)
			}
			v, ok := m.Value.(int64)
			if !ok {
				return fmt.Errorf("op %d: write to %q of %v, want an integer", t.inv.Index, m.Key, m.Value)
			}
			x := kv{t.keys[mi], v}
			if w, dup := writer[x]; dup && w != int32(i) {
				c.simple("duplicate-writes", []int32{w, int32(i)}, "%d was written to %q more than once (by #%d and #%d); rw-register needs unique writes", v, m.Key, c.txns[w].inv.Index, t.inv.Index)
			} else if !dup {
				writer[x] = int32(i)
			}
			if t.typ != checkers.Fail && finalWrite(t, mi) && !final[x] {
				final[x] = true
				versions = append(versions, x)
			}
		}
	}

	readers := map[kv][]int32{}
	readersInit := make([][]int32, len(c.keyName))
	vid := make(map[kv]int32, len(versions))
	for i, x := range versions {
		vid[x] = int32(i)
	}
	var vedges []edge      // version graph over vid
	preds := map[kv][]kv{} // writes-follow-reads predecessors, for explanations
	for i := range c.txns {
		t := &c.txns[i]
		if t.typ != checkers.OK {
			continue
		}
		internal := false
		for mi, m := range t.mops {
			if m.F != checkers.MopRead {
				continue
			}
			k := t.keys[mi]
			rv, isVal := m.Value.(int64)
			// The latest earlier mop on k says what this read must see.
			j := mi - 1
			for ; j >= 0 && t.keys[j] != k; j-- {
			}
			if j >= 0 {
				ev, eIsVal := t.mops[j].Value.(int64)
				if !internal && (eIsVal != isVal || isVal && ev != rv) {
					internal = true
					c.simple("internal", []int32{int32(i)}, "#%d read %q = %s, but its own earlier reads and writes imply %s", t.op().Index, m.Key, checkers.FormatValue(m.Value), checkers.FormatValue(t.mops[j].Value))
				}
				continue
			}
			// An external read.
			fw, wrote := int64(0), false
			for x := len(t.mops) - 1; x > mi; x-- {
				if t.keys[x] == k && t.mops[x].F == checkers.MopWrite {
					fw, wrote = t.mops[x].Value.(int64), true
					break
				}
			}
			if !isVal {
				readersInit[k] = append(readersInit[k], int32(i))
				continue
			}
			x := kv{k, rv}
			w, ok := writer[x]
			switch {
			case !ok:
				c.simple("garbage-read", []int32{int32(i)}, "#%d read %q = %d, which no transaction wrote", t.op().Index, m.Key, rv)
			case w == int32(i):
				c.simple("internal", []int32{int32(i)}, "#%d read %q = %d before writing that value itself", t.op().Index, m.Key, rv)
			case c.txns[w].typ == checkers.Fail:
				c.simple("G1a", []int32{int32(i), w}, "#%d read %q = %d, written by #%d, which failed", t.op().Index, m.Key, rv, c.txns[w].op().Index)
			case !final[x] && w != int32(i):
				c.simple("G1b", []int32{int32(i), w}, "#%d read %q = %d, an intermediate write of #%d, which wrote %q again later", t.op().Index, m.Key, rv, c.txns[w].op().Index, m.Key)
			default:
				readers[x] = append(readers[x], int32(i))
				c.edge(w, int32(i), kWR)
				// Writes follow reads: v1 (read) < v2 (final write).
				if wrote && fw != rv {
					b := kv{k, fw}
					vedges = append(vedges, edge{vid[x], vid[b], 1})
					preds[b] = append(preds[b], x)
				}
			}
		}
	}

	// Under the real-time models, a final write that completed before
	// another final write of the same key was invoked is the older version
	// (elle's linearizable-keys option).
	if c.realtime() {
		type writes struct {
			ids  []int32 // final writers of the key (ok or info)
			vids []int32 // the version each wrote
		}
		byKey := make([]writes, len(c.keyName))
		for i := range c.txns {
			t := &c.txns[i]
			if t.typ == checkers.Fail {
				continue
			}
			for mi, m := range t.mops {
				if m.F == checkers.MopWrite && finalWrite(t, mi) {
					w := &byKey[t.keys[mi]]
					w.ids = append(w.ids, int32(i))
					w.vids = append(w.vids, vid[kv{t.keys[mi], m.Value.(int64)}])
				}
			}
		}
		for _, w := range byKey {
			if len(w.ids) > 1 {
				c.realtimePairs(w.ids, func(i, j int) {
					vedges = append(vedges, edge{w.vids[i], w.vids[j], 1})
				})
			}
		}
	}

	// Cyclic version orders.
	vg := buildGraph(len(versions), vedges)
	_, vcomps := vg.sccs(1)
	for _, comp := range vcomps {
		var ts []int32
		var vals []int64
		for _, id := range comp {
			ts = append(ts, writer[versions[id]])
			vals = append(vals, versions[id].v)
		}
		k := versions[comp[0]].k
		c.simple("incompatible-version-order", ts, "the versions %s of %q form a cycle: each was read by a transaction that then wrote the next", formatList(vals), c.keyName[k])
	}

	// ww and rw edges from the version order.
	hasPred := map[kv]bool{}
	for v1 := int32(0); int(v1) < vg.n(); v1++ {
		a := versions[v1]
		for i := vg.off[v1]; i < vg.off[v1+1]; i++ {
			b := versions[vg.to[i]]
			hasPred[b] = true
			wb := writer[b]
			c.edge(writer[a], wb, kWW)
			for _, r := range readers[a] {
				c.edge(r, wb, kRW)
			}
		}
	}
	for _, x := range versions {
		if hasPred[x] {
			continue
		}
		for _, r := range readersInit[x.k] {
			c.edge(r, writer[x], kRW)
		}
	}

	extReadOf := func(t int32, key string) (int64, bool, bool) {
		for _, m := range c.txns[t].mops {
			if m.Key != key {
				continue
			}
			if m.F == checkers.MopWrite {
				return 0, false, false
			}
			v, isVal := m.Value.(int64)
			return v, !isVal, true
		}
		return 0, false, false
	}
	// rtPred returns a's final write of k when a completed before b was
	// invoked, so that write precedes b's in the real-time version order.
	rtPred := func(a, b, k int32) (int64, bool) {
		ta, tb := &c.txns[a], &c.txns[b]
		if ta.typ != checkers.OK || ta.comp.Time >= tb.inv.Time {
			return 0, false
		}
		return finalWriteOf(ta, k)
	}
	c.explain = func(a, b int32, k uint8, an, bn string) string {
		for _, m := range c.txns[b].mops {
			key := c.key(m.Key)
			switch {
			case k == kWR && m.F == checkers.MopRead:
				if v, absent, ok := extReadOf(b, m.Key); ok && !absent && writer[kv{key, v}] == a {
					return fmt.Sprintf("%s read %s's write of %d to %q", bn, an, v, m.Key)
				}
			case (k == kWW || k == kRW) && m.F == checkers.MopWrite:
				x := kv{key, m.Value.(int64)}
				if !final[x] {
					continue
				}
				for _, p := range preds[x] {
					if k == kWW && writer[p] == a {
						return fmt.Sprintf("%s read %s's write of %d to %q and then overwrote it with %d", bn, an, p.v, m.Key, x.v)
					}
					if v, absent, ok := extReadOf(a, m.Key); k == kRW && ok && !absent && v == p.v {
						return fmt.Sprintf("%s read %q = %d, which %s overwrote with %d", an, m.Key, p.v, bn, x.v)
					}
				}
				// Real-time version order: some final write of the key
				// completed before b was invoked.
				if c.realtime() {
					if v, ok := rtPred(a, b, key); ok && k == kWW {
						return fmt.Sprintf("%s wrote %d to %q after %s's write of %d had completed", bn, x.v, m.Key, an, v)
					}
					if v, absent, ok := extReadOf(a, m.Key); k == kRW && ok && !absent {
						if w, found := writer[kv{key, v}]; found {
							if _, ok := rtPred(w, b, key); ok {
								return fmt.Sprintf("%s read %q = %d, which %s, invoked after that write completed, overwrote with %d", an, m.Key, v, bn, x.v)
							}
						}
					}
				}
				if _, absent, ok := extReadOf(a, m.Key); k == kRW && ok && absent && !hasPred[x] {
					return fmt.Sprintf("%s read %q as absent (the initial state), which %s's write of %d follows", an, m.Key, bn, x.v)
				}
			}
		}
		return ""
	}
	return nil
}

// finalWrite reports whether mop mi of t is its last write of that key.
func finalWrite(t *txn, mi int) bool {
	for j := mi + 1; j < len(t.mops); j++ {
		if t.keys[j] == t.keys[mi] && t.mops[j].F == checkers.MopWrite {
			return false
		}
	}
	return true
}

// finalWriteOf returns t's final write of key k.
func finalWriteOf(t *txn, k int32) (int64, bool) {
	for j := len(t.mops) - 1; j >= 0; j-- {
		if t.keys[j] == k && t.mops[j].F == checkers.MopWrite {
			return t.mops[j].Value.(int64), true
		}
	}
	return 0, false
}
