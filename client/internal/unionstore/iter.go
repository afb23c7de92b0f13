package unionstore

import (
	"bytes"
	"errors"

	"github.com/tikvsim/tikvsim/client/kv"
	"github.com/tikvsim/tikvsim/internal/invariants"
)

// Iterator walks keys in order. Key and Value are valid until Next; Next
// returns an error only when the underlying source fails.
type Iterator interface {
	// Valid reports whether the iterator is positioned at a key.
	Valid() bool
	// Key returns the current key.
	Key() []byte
	// Value returns the current value.
	Value() []byte
	// Next moves to the next key.
	Next() error
	// Close releases the iterator.
	Close()
}

// A snapshot iterator must survive rollbacks that change the index under it,
// and the B-tree index offers only callback iteration, so those iterators
// pull keys in batches and resume with a fresh descent from the last key
// seen. (A plain iterator over the ART uses an artCursor instead.) The first
// batch (iterBatch keys) lives inside the iterator, so a short scan costs one
// allocation; later batches double up to maxIterBatch to amortise descents.
const (
	iterBatch    = 16
	maxIterBatch = 512
)

type batchItem struct {
	key []byte
	e   *entry
	val []byte // the snapshot value, for snapshot iterators only
}

// MemDBIter iterates a MemDB forward or in reverse between bounds. It is
// invalidated by any write to the buffer (except a snapshot iterator, which
// stays valid while its snapshot does).
type MemDBIter struct {
	db           *MemDB
	lower, upper []byte
	reverse      bool
	withFlags    bool

	snap   bool // snapshot iterator: values as of snapCP, read under the lock
	snapCP int

	seq int

	arr   [iterBatch]batchItem
	buf   []batchItem // the current batch's storage: arr, then larger
	n     int         // items in buf
	pos   int         // current index in arr
	last  []byte      // last key visited by the tree walk; nil before the first
	full  bool        // the last walk stopped because arr was full
	done  bool        // the walk reached the bound or the end of the tree
	visit func(*entry) bool
	// lastBuf holds a snapshot iterator's resume key.
	lastBuf []byte

	// A plain iterator over the ART walks it directly with a cursor (it
	// is invalidated by any write, so the tree cannot change under it);
	// cur is its current entry, nil at the end.
	direct bool
	cur    *entry
	cursor artCursor
}

func (db *MemDB) newIter(lower, upper []byte, reverse, withFlags bool) *MemDBIter {
	it := &MemDBIter{db: db, lower: lower, upper: upper, reverse: reverse, withFlags: withFlags, seq: db.writeSeq}
	if len(lower) > 0 && len(upper) > 0 && bytes.Compare(lower, upper) >= 0 {
		it.done = true
		return it
	}
	if t, ok := db.tree.(*artTree); ok {
		it.direct = true
		var e *entry
		switch {
		case reverse && len(upper) > 0:
			e = it.cursor.seekLE(t, upper)
			if e != nil && bytes.Equal(e.key, upper) {
				e = it.cursor.prev() // upper is exclusive
			}
		case reverse:
			e = it.cursor.seekLE(t, nil)
		case len(lower) > 0:
			e = it.cursor.seekGE(t, lower)
		default:
			e = it.cursor.seekGE(t, nil)
		}
		it.settle(e)
		return it
	}
	it.fill()
	return it
}

// settle makes e, or the first entry after it that the iterator shows, the
// current one; it ends the iteration at the bound.
func (it *MemDBIter) settle(e *entry) {
	for ; e != nil; e = it.step() {
		if it.reverse {
			if len(it.lower) > 0 && bytes.Compare(e.key, it.lower) < 0 {
				e = nil
				break
			}
		} else if len(it.upper) > 0 && bytes.Compare(e.key, it.upper) >= 0 {
			e = nil
			break
		}
		if e.vref >= 0 || it.withFlags {
			break
		}
	}
	it.cur = e
}

func (it *MemDBIter) step() *entry {
	if it.reverse {
		return it.cursor.prev()
	}
	return it.cursor.next()
}

// Iter returns an iterator over keys in [lower, upper) in ascending order,
// skipping flags-only keys. Empty bounds are open.
func (db *MemDB) Iter(lower, upper []byte) *MemDBIter { return db.newIter(lower, upper, false, false) }

// IterReverse returns an iterator over keys in [lower, upper) in descending
// order (note the argument order, as client-go), skipping flags-only keys.
func (db *MemDB) IterReverse(upper, lower []byte) *MemDBIter {
	return db.newIter(lower, upper, true, false)
}

// IterWithFlags is Iter that also visits flags-only keys (Value is nil).
func (db *MemDB) IterWithFlags(lower, upper []byte) *MemDBIter {
	return db.newIter(lower, upper, false, true)
}

// IterReverseWithFlags is IterReverse from upper down to the first key, also
// visiting flags-only keys.
func (db *MemDB) IterReverseWithFlags(upper []byte) *MemDBIter {
	return db.newIter(nil, upper, true, true)
}

func (it *MemDBIter) accept(e *entry) bool {
	if it.last != nil && bytes.Equal(e.key, it.last) {
		return true // the resume point, seen in the previous batch
	}
	it.last = e.key
	if it.reverse {
		if len(it.lower) > 0 && bytes.Compare(e.key, it.lower) < 0 {
			it.done = true
			return false
		}
	} else if len(it.upper) > 0 && bytes.Compare(e.key, it.upper) >= 0 {
		it.done = true
		return false
	}
	if it.snap {
		v := int(e.vref)
		for v >= it.snapCP {
			v = int(it.db.vlog[v].old)
		}
		if v < 0 {
			return true
		}
		it.buf[it.n] = batchItem{key: e.key, e: e, val: it.db.vlog[v].val}
	} else {
		if e.vref < 0 && !it.withFlags {
			return true
		}
		it.buf[it.n] = batchItem{key: e.key, e: e}
	}
	it.n++
	if it.n == len(it.buf) {
		it.full = true
		return false
	}
	return true
}

// fill collects the next batch; it leaves it.n == 0 when the walk is over.
func (it *MemDBIter) fill() {
	it.n, it.pos, it.full = 0, 0, false
	switch {
	case it.visit == nil:
		it.visit = it.accept
		it.buf = it.arr[:]
	case len(it.buf) < maxIterBatch:
		it.buf = make([]batchItem, 2*len(it.buf))
	}
	if it.snap {
		it.db.mu.RLock()
		defer it.db.mu.RUnlock()
	}
	tree := it.db.tree
	switch {
	case !it.reverse && it.last != nil:
		tree.ascend(it.last, it.visit)
	case !it.reverse && len(it.lower) > 0:
		tree.ascend(it.lower, it.visit)
	case !it.reverse:
		tree.ascend(nil, it.visit)
	case it.last != nil:
		tree.descend(it.last, it.visit)
	case len(it.upper) > 0:
		// upper is exclusive: accept skips it as if it had been seen.
		it.last = it.upper
		tree.descend(it.upper, it.visit)
	default:
		tree.descend(nil, it.visit)
	}
	if !it.full {
		it.done = true
	} else if it.snap {
		// Resume from a private copy: a rollback may reuse the key's bytes.
		it.lastBuf = append(it.lastBuf[:0], it.last...)
		it.last = it.lastBuf
	}
}

func (it *MemDBIter) check() {
	if !it.snap && it.seq != it.db.writeSeq {
		invariants.Fail("unionstore: iterator used after the memdb was written (seq %d, now %d)", it.seq, it.db.writeSeq)
	}
}

// Valid reports whether the iterator is at a key.
func (it *MemDBIter) Valid() bool {
	it.check()
	if it.direct {
		return it.cur != nil
	}
	return it.pos < it.n
}

// Key returns the current key.
func (it *MemDBIter) Key() []byte {
	it.check()
	if it.direct {
		return it.cur.key
	}
	return it.buf[it.pos].key
}

// Value returns the current value: a tombstone for a deleted key, nil for a
// flags-only key (HasValue false).
func (it *MemDBIter) Value() []byte {
	it.check()
	if it.direct {
		return it.db.value(it.cur)
	}
	if it.snap {
		return it.buf[it.pos].val
	}
	return it.db.value(it.buf[it.pos].e)
}

// Flags returns the current key's flags.
func (it *MemDBIter) Flags() kv.KeyFlags {
	it.check()
	return it.entry().flags
}

// HasValue reports whether the current key has a value (or tombstone).
func (it *MemDBIter) HasValue() bool {
	it.check()
	return it.entry().vref >= 0
}

// Handle returns the current key's handle.
func (it *MemDBIter) Handle() KeyHandle { return KeyHandle{it.entry()} }

func (it *MemDBIter) entry() *entry {
	if it.direct {
		return it.cur
	}
	return it.buf[it.pos].e
}

// ErrIterFinished is returned by Next on an iterator that is no longer Valid.
var ErrIterFinished = errors.New("unionstore: iterator is finished")

// Next moves to the next key. It fails only when called on an iterator that
// is not Valid.
func (it *MemDBIter) Next() error {
	it.check()
	if it.direct {
		if it.cur == nil {
			return ErrIterFinished
		}
		it.settle(it.step())
		return nil
	}
	if it.pos >= it.n {
		return ErrIterFinished
	}
	it.pos++
	if it.pos >= it.n {
		if it.done {
			it.n, it.pos = 0, 0
			return nil
		}
		it.fill()
	}
	return nil
}

// Close releases the iterator.
func (it *MemDBIter) Close() {}
