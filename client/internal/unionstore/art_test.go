package unionstore

import (
	"bytes"
	"slices"
	"sort"
	"testing"

	"pgregory.net/rapid"
)

// artKey draws keys that stress the tree's shapes: keys that are prefixes of
// each other (the empty key included), long shared prefixes, and first bytes
// spread over the whole byte range so nodes grow to 48 and 256 children and
// shrink back.
var artKey = rapid.OneOf(
	rapid.Custom(func(t *rapid.T) string { // short keys over a small alphabet
		return string(rapid.SliceOfN(rapid.ByteRange('a', 'c'), 0, 4).Draw(t, "short"))
	}),
	rapid.Custom(func(t *rapid.T) string { // a long shared prefix, then a byte
		n := rapid.IntRange(0, 40).Draw(t, "pfx")
		tail := rapid.SliceOfN(rapid.Byte(), 0, 2).Draw(t, "tail")
		return string(bytes.Repeat([]byte{'p'}, n)) + string(tail)
	}),
	rapid.Custom(func(t *rapid.T) string { // wide fan-out at depth 0 or 1
		b := rapid.Byte().Draw(t, "b")
		if rapid.Bool().Draw(t, "deep") {
			return "w" + string([]byte{b})
		}
		return string([]byte{b})
	}),
)

// artModel is the sorted-map model of artTree.
type artModel map[string]*entry

func (m artModel) sorted() []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// checkART verifies the tree's structure: node sizes match their kind (with
// the shrink slack), no node is redundant, and the leaf count matches.
func checkART(t *rapid.T, tr *artTree) {
	leaves := 0
	var walk func(r artRef, depth int, path []byte)
	walk = func(r artRef, depth int, path []byte) {
		if r.e != nil {
			leaves++
			if !bytes.HasPrefix(r.e.key, path) {
				t.Fatalf("leaf %q under path %q", r.e.key, path)
			}
			return
		}
		n := r.n
		if n == nil {
			return
		}
		path = append(slices.Clone(path), n.prefix...)
		lo := map[int]int{art4: 1, art16: 4, art48: 13, art256: 41}[n.kind]
		if n.num > n.kind || n.num < lo && !(n.num >= 1 && n.term != nil) {
			t.Fatalf("node of %d holds %d children", n.kind, n.num)
		}
		if n.num == 1 && n.term == nil || n.num == 0 {
			t.Fatalf("redundant node at %q: %d children, term %v", path, n.num, n.term != nil)
		}
		if n.term != nil {
			leaves++
			if !bytes.Equal(n.term.key, path) {
				t.Fatalf("in-place leaf %q at path %q", n.term.key, path)
			}
		}
		cnt := 0
		n.each(func(b byte, c artRef) bool {
			cnt++
			walk(c, depth+len(n.prefix)+1, append(slices.Clone(path), b))
			return true
		})
		if cnt != n.num {
			t.Fatalf("node counts %d children, holds %d", n.num, cnt)
		}
	}
	walk(tr.root, 0, nil)
	if leaves != tr.len() {
		t.Fatalf("%d leaves, len %d", leaves, tr.len())
	}
}

// TestModelART drives artTree and a sorted map with random inserts, deletes,
// lookups and bounded walks in both directions.
func TestModelART(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tr := &artTree{}
		m := artModel{}
		t.Repeat(map[string]func(*rapid.T){
			"insert": func(t *rapid.T) {
				k := artKey.Draw(t, "k")
				if m[k] != nil {
					t.Skip("present")
				}
				e := &entry{key: []byte(k)}
				tr.insert(e)
				m[k] = e
			},
			"insertMany": func(t *rapid.T) { // grow a node well past 48
				pfx := rapid.SliceOfN(rapid.ByteRange('x', 'y'), 0, 3).Draw(t, "pfx")
				n := rapid.IntRange(1, 256).Draw(t, "n")
				for b := 0; b < n; b++ {
					k := string(pfx) + string([]byte{byte(b)})
					if m[k] == nil {
						e := &entry{key: []byte(k)}
						tr.insert(e)
						m[k] = e
					}
				}
			},
			"delete": func(t *rapid.T) {
				k := artKey.Draw(t, "k")
				if got, want := tr.remove([]byte(k)), m[k] != nil; got != want {
					t.Fatalf("remove %q = %v, want %v", k, got, want)
				}
				delete(m, k)
			},
			"deleteSome": func(t *rapid.T) { // shrink: drop a random share
				for _, k := range m.sorted() {
					if rapid.IntRange(0, 3).Draw(t, "drop") != 0 {
						if !tr.remove([]byte(k)) {
							t.Fatalf("remove %q failed", k)
						}
						delete(m, k)
					}
				}
			},
			"get": func(t *rapid.T) {
				k := artKey.Draw(t, "k")
				if got := tr.get([]byte(k)); got != m[k] {
					t.Fatalf("get %q = %v, want %v", k, got, m[k])
				}
			},
			"walk": func(t *rapid.T) {
				var from []byte
				if rapid.Bool().Draw(t, "bounded") {
					from = []byte(artKey.Draw(t, "from"))
				}
				limit := rapid.IntRange(1, 300).Draw(t, "limit")
				reverse := rapid.Bool().Draw(t, "reverse")
				var want []string
				ks := m.sorted()
				if reverse {
					slices.Reverse(ks)
				}
				for _, k := range ks {
					if from != nil && (!reverse && k < string(from) || reverse && k > string(from)) {
						continue
					}
					if len(want) == limit {
						break
					}
					want = append(want, k)
				}
				var got []string
				f := func(e *entry) bool {
					got = append(got, string(e.key))
					return len(got) < limit
				}
				if reverse {
					tr.descend(from, f)
				} else {
					tr.ascend(from, f)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("walk from %q reverse %v limit %d:\n got %q\nwant %q", from, reverse, limit, got, want)
				}
				// The cursor must agree with the walk.
				var cur artCursor
				var e *entry
				if reverse {
					e = cur.seekLE(tr, from)
				} else {
					e = cur.seekGE(tr, from)
				}
				got = got[:0]
				for e != nil && len(got) < limit {
					got = append(got, string(e.key))
					if reverse {
						e = cur.prev()
					} else {
						e = cur.next()
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("cursor from %q reverse %v limit %d:\n got %q\nwant %q", from, reverse, limit, got, want)
				}
			},
			"": func(t *rapid.T) {
				checkART(t, tr)
			},
		})
	})
}

// TestARTShapes walks one tree through every node size and back.
func TestARTShapes(t *testing.T) {
	tr := &artTree{}
	kinds := func() int { return tr.root.n.kind }
	root := &entry{key: []byte{'k'}}
	tr.insert(root)
	var es []*entry
	for b := 0; b < 256; b++ {
		e := &entry{key: []byte{'k', byte(b)}}
		tr.insert(e)
		es = append(es, e)
		want := art4
		switch {
		case b+1 > 48:
			want = art256
		case b+1 > 16:
			want = art48
		case b+1 > 4:
			want = art16
		}
		if kinds() != want {
			t.Fatalf("after %d inserts: node of %d, want %d", b+1, kinds(), want)
		}
	}
	for b := 255; b >= 1; b-- {
		if !tr.remove(es[b].key) {
			t.Fatalf("remove %q", es[b].key)
		}
	}
	if kinds() != art4 || tr.root.n.num != 1 || tr.root.n.term != root {
		t.Fatalf("after removals: node of %d with %d children", kinds(), tr.root.n.num)
	}
	tr.remove(es[0].key)
	if tr.root.e != root || tr.len() != 1 {
		t.Fatalf("last two keys did not collapse into a leaf")
	}
	empty := &entry{key: []byte{}}
	tr.insert(empty)
	if tr.get(nil) != empty || tr.get([]byte{}) != empty || tr.get([]byte("k")) != root {
		t.Fatal("empty key lookups")
	}
}

// TestResetRetainsBoundedMemory fills a buffer with a large transaction
// (keys, values, a value larger than an arena block, a long value log) and
// checks that Reset keeps only the bounded cache.
func TestResetRetainsBoundedMemory(t *testing.T) {
	db := NewMemDB()
	for k := range 20000 {
		key := encodeInt(k)
		if err := db.Set(key, bytes.Repeat(key, 10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Set([]byte{}, make([]byte, 3*arenaMaxBlock)); err != nil {
		t.Fatal(err)
	}
	before := db.Mem()
	db.Reset()
	kept := db.vals.capSum + db.keys.capSum + uint64(cap(db.vlog))*40
	if kept > 2*arenaFirstBlock+maxKeptLog*40 || len(db.vals.blocks) > 1 || len(db.keys.blocks) > 1 {
		t.Fatalf("after Reset of %d bytes: %d bytes kept, %d+%d blocks", before, kept, len(db.vals.blocks), len(db.keys.blocks))
	}
	if db.tree.len() != 0 || db.Mem() > kept {
		t.Fatalf("after Reset: %d keys indexed, Mem %d", db.tree.len(), db.Mem())
	}
	// The first block of a fresh arena can be an oversized one: not kept.
	db.Set([]byte("k"), make([]byte, 2*arenaMaxBlock))
	db.Reset()
	if len(db.vals.blocks) != 0 || db.vals.capSum != 0 {
		t.Fatalf("oversized first block kept: %d blocks, %d bytes", len(db.vals.blocks), db.vals.capSum)
	}
	for k := range 100 {
		_ = db.Set(encodeInt(k), encodeInt(k))
	}
	if v, err := db.Get(bg, encodeInt(42)); err != nil || string(v) != string(encodeInt(42)) {
		t.Fatalf("reuse after Reset: %q, %v", v, err)
	}
}
