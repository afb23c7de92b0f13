package mvcc

import (
	"bytes"

	"github.com/google/btree"

	"github.com/tikvsim/tikvsim/internal/invariants"
)

// CF names, as TiKV spells them (engine_traits CF_DEFAULT, CF_LOCK, CF_WRITE).
const (
	CFDefault = "default"
	CFLock    = "lock"
	CFWrite   = "write"
)

type kvItem struct {
	key   []byte
	lock  *Lock  // lock CF
	write *Write // write CF
	value []byte // default CF
	// shared is set instead of lock for a key held in share mode.
	shared *sharedLocks
}

func itemLess(a, b kvItem) bool { return bytes.Compare(a.key, b.key) < 0 }

const btreeDegree = 16

// store holds the three transactional column families.
type store struct {
	def   *btree.BTreeG[kvItem]
	lock  *btree.BTreeG[kvItem]
	write *btree.BTreeG[kvItem]
}

func newStore() *store {
	return &store{
		def:   btree.NewG(btreeDegree, itemLess),
		lock:  btree.NewG(btreeDegree, itemLess),
		write: btree.NewG(btreeDegree, itemLess),
	}
}

// snapshot returns a copy-on-write clone: later writes to s do not show.
func (s *store) snapshot() *store {
	return &store{def: s.def.Clone(), lock: s.lock.Clone(), write: s.write.Clone()}
}

// getLock returns the lock on an encoded key, or nil.
func (s *store) getLock(enc []byte) *Lock {
	it, ok := s.lock.Get(kvItem{key: enc})
	if !ok {
		return nil
	}
	invariants.Assert(it.lock != nil || it.shared != nil, "lock CF item without lock at %x", enc)
	return it.lock
}

// getValue returns the default-CF value written at start_ts.
func (s *store) getValue(enc []byte, startTS uint64) ([]byte, bool) {
	it, ok := s.def.Get(kvItem{key: appendTS(enc, startTS)})
	return it.value, ok
}

// versions calls f for each write record of enc with commit_ts <= ts, newest
// first, until f returns false.
func (s *store) versions(enc []byte, ts uint64, f func(commitTS uint64, w *Write) bool) {
	start := appendTS(enc, ts)
	end := appendTS(enc, 0)
	s.write.AscendRange(kvItem{key: start}, kvItem{key: end}, func(it kvItem) bool {
		_, cts := splitTS(it.key)
		return f(cts, it.write)
	})
	// commit_ts 0 cannot exist (it is rejected as InvalidTxnTso), so the
	// exclusive end bound loses nothing.
	if w, ok := s.write.Get(kvItem{key: end}); ok {
		invariants.Assert(false, "write record at commit_ts 0 for %x: %+v", enc, w.write)
	}
}

// seekWrite returns the newest write of enc with commit_ts <= ts.
func (s *store) seekWrite(enc []byte, ts uint64) (uint64, *Write) {
	var cts uint64
	var wr *Write
	s.versions(enc, ts, func(c uint64, w *Write) bool {
		cts, wr = c, w
		return false
	})
	return cts, wr
}

// encodedKeysIn returns, in order, the distinct encoded user keys that have
// data (lock or write) in [startEnc, endEnc) (endEnc nil = unbounded).
// Used by scans; cheap enough for a simulator.
func (s *store) nextUserKey(from []byte, endEnc []byte, reverse bool) ([]byte, bool) {
	// Candidates come from the lock CF and the write CF.
	var best []byte
	consider := func(k []byte) {
		if best == nil || (!reverse && bytes.Compare(k, best) < 0) || (reverse && bytes.Compare(k, best) > 0) {
			best = append([]byte(nil), k...)
		}
	}
	if !reverse {
		s.lock.AscendGreaterOrEqual(kvItem{key: from}, func(it kvItem) bool {
			if endEnc == nil || bytes.Compare(it.key, endEnc) < 0 {
				consider(it.key)
			}
			return false
		})
		s.write.AscendGreaterOrEqual(kvItem{key: from}, func(it kvItem) bool {
			uk, _ := splitTS(it.key)
			if bytes.Compare(uk, from) >= 0 && (endEnc == nil || bytes.Compare(uk, endEnc) < 0) {
				consider(uk)
			}
			return false
		})
	} else {
		// reverse: from is an exclusive upper bound (nil = unbounded); endEnc
		// is the inclusive lower bound.
		lt := func(k []byte) bool { return from == nil || bytes.Compare(k, from) < 0 }
		pivot := func(f func(it kvItem) bool, t *btree.BTreeG[kvItem]) {
			if from == nil {
				t.Descend(f)
			} else {
				t.DescendLessOrEqual(kvItem{key: from}, f)
			}
		}
		pivot(func(it kvItem) bool {
			if !lt(it.key) {
				return true
			}
			if endEnc == nil || bytes.Compare(it.key, endEnc) >= 0 {
				consider(it.key)
			}
			return false
		}, s.lock)
		pivot(func(it kvItem) bool {
			uk, _ := splitTS(it.key)
			if !lt(uk) {
				return true
			}
			if endEnc == nil || bytes.Compare(uk, endEnc) >= 0 {
				consider(uk)
			}
			return false
		}, s.write)
	}
	return best, best != nil
}

// modify is one buffered change, applied in order.
type modify struct {
	cf     string
	key    []byte
	del    bool
	lock   *Lock
	write  *Write
	value  []byte
	shared *sharedLocks
}

// apply writes the modifies into the store.
func (s *store) apply(mods []modify) {
	for _, m := range mods {
		var t *btree.BTreeG[kvItem]
		switch m.cf {
		case CFDefault:
			t = s.def
		case CFLock:
			t = s.lock
			invariants.Assert(m.del || m.lock != nil || m.shared != nil, "lock modify without lock")
		default:
			t = s.write
			invariants.Assert(m.del || m.write != nil, "write modify without write")
		}
		if m.del {
			t.Delete(kvItem{key: m.key})
			continue
		}
		t.ReplaceOrInsert(kvItem{key: m.key, lock: m.lock, write: m.write, value: m.value, shared: m.shared})
	}
}

type storeTree struct{ t *btree.BTreeG[kvItem] }
