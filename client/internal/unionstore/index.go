package unionstore

import (
	"bytes"
	"encoding/binary"

	"github.com/google/btree"
)

// index orders a MemDB's entries by key. The buffer uses the adaptive radix
// tree (artTree); the B-tree (btreeIndex) it replaced is kept behind the same
// methods as a second implementation for tests and benchmarks to compare
// against.
type index interface {
	// get returns key's entry or nil.
	get(key []byte) *entry
	// insert adds e; its key must not be indexed yet.
	insert(e *entry)
	// remove drops key's entry, reporting whether it was there.
	remove(key []byte) bool
	len() int
	clear()
	// ascend calls f on the entries with keys >= from (all of them for a nil
	// from) in ascending order until f returns false; descend on those <=
	// from in descending order. An empty non-nil from is the empty key.
	ascend(from []byte, f func(*entry) bool)
	descend(from []byte, f func(*entry) bool)
}

// btreeDegree: BenchmarkDegree showed degrees 16-64 within measurement noise.
const btreeDegree = 16

// item is what the B-tree orders. It carries the key's first 8 bytes as a
// big-endian integer (zero-padded), so most comparisons inside a node do not
// touch the key bytes elsewhere in memory: ordering by the padded prefix and
// then by the whole key is the same as ordering by the key. Lookups build a
// probe item on the stack.
type item struct {
	pfx uint64
	key []byte
	e   *entry
}

func itemLess(a, b item) bool {
	if a.pfx != b.pfx {
		return a.pfx < b.pfx
	}
	return bytes.Compare(a.key, b.key) < 0
}

func prefixOf(key []byte) uint64 {
	if len(key) >= 8 {
		return binary.BigEndian.Uint64(key)
	}
	var p uint64
	for i := 0; i < 8; i++ {
		p <<= 8
		if i < len(key) {
			p |= uint64(key[i])
		}
	}
	return p
}

func probe(key []byte) item { return item{pfx: prefixOf(key), key: key} }

type btreeIndex struct{ t *btree.BTreeG[item] }

func newBTreeIndex() *btreeIndex { return &btreeIndex{btree.NewG(btreeDegree, itemLess)} }

func (x *btreeIndex) get(key []byte) *entry {
	it, ok := x.t.Get(probe(key))
	if !ok {
		return nil
	}
	return it.e
}

func (x *btreeIndex) insert(e *entry) {
	x.t.ReplaceOrInsert(item{pfx: prefixOf(e.key), key: e.key, e: e})
}

func (x *btreeIndex) remove(key []byte) bool {
	_, ok := x.t.Delete(probe(key))
	return ok
}

func (x *btreeIndex) len() int { return x.t.Len() }
func (x *btreeIndex) clear()   { x.t.Clear(true) }

func (x *btreeIndex) ascend(from []byte, f func(*entry) bool) {
	visit := func(i item) bool { return f(i.e) }
	if from == nil {
		x.t.Ascend(visit)
		return
	}
	x.t.AscendGreaterOrEqual(probe(from), visit)
}

func (x *btreeIndex) descend(from []byte, f func(*entry) bool) {
	visit := func(i item) bool { return f(i.e) }
	if from == nil {
		x.t.Descend(visit)
		return
	}
	x.t.DescendLessOrEqual(probe(from), visit)
}
