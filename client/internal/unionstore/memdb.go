package unionstore

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/tikvsim/tikvsim/client/kv"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/internal/invariants"
)

// MaxKeyLen is the longest key the buffer accepts (client-go art.MaxKeyLen);
// a longer key fails with *tikverr.ErrKeyTooLarge.
const MaxKeyLen = math.MaxUint16

// Unlimited is the limit value meaning "no limit" (SetEntrySizeLimit).
const Unlimited = math.MaxUint64

// tombstone is the value Delete stores. It is never written in place.
var tombstone = []byte{}

// IsTombstone reports whether a value read from the buffer marks a deleted key.
func IsTombstone(val []byte) bool { return len(val) == 0 }

// entry is one buffered key. Entries are never moved while in the tree, so
// *entry doubles as the key's handle.
type entry struct {
	key   []byte
	vref  int32 // index in MemDB.vlog of the current value; -1 for none
	seq   int32 // creation number, for reclaiming keys on rollback
	flags kv.KeyFlags
	gone  bool // removed from the tree by a rollback or Reset
}

// vrec is one value-log record: a value written to e, and the record of the
// value it replaced (-1 for none).
type vrec struct {
	e   *entry
	old int32
	val []byte
}

// Checkpoint is a position in the buffer's history. RevertToCheckpoint rolls
// every value written after it back. Compare with client-go
// arena.MemDBCheckpoint.
type Checkpoint struct {
	vlog       int
	blk, off   int // value arena position
	kblk, koff int // key arena position
	entries    int // entries created so far
}

// KeyHandle identifies a buffered key for as long as the key stays in the
// buffer (until Reset, or a rollback that removes it). The 2PC committer keeps
// handles instead of copying keys, as client-go's MemKeyHandle.
type KeyHandle struct{ e *entry }

// IsNull reports whether h is the zero handle.
func (h KeyHandle) IsNull() bool { return h.e == nil }

// ErrSnapshotStale is returned by reads through a snapshot of the buffer
// (GetSnapshot) after the stage it was taken at has ended.
var ErrSnapshotStale = fmt.Errorf("unionstore: memdb snapshot is stale")

// MemDB is a transaction's write buffer: an ordered map from key to value,
// tombstone or nothing, with flags per key, nested stages and checkpoints.
// The zero value is not usable; call NewMemDB. See the package doc for the
// concurrency contract.
type MemDB struct {
	mu sync.RWMutex

	tree index
	vlog []vrec
	vals arena // value bytes; truncated on rollback
	keys arena // key bytes; only reset
	slab []entry
	// entries counts entries created since the last Reset; entry.seq is
	// the count when the entry was created.
	entries int
	stages  []Checkpoint
	// floor is the lowest vlog index that may be overwritten in place: no
	// stage or checkpoint handed out can need a value at or above it.
	floor int

	dirty           bool
	valuesDiscarded bool
	entryLimit      uint64
	bufferLimit     uint64
	len, size       int

	// writeSeq counts writes; iterators remember it and panic on mismatch.
	writeSeq int
	// snapSeq counts changes visible through GetSnapshot.
	snapSeq int

	last         atomic.Pointer[entry] // last key looked up or written
	hits, misses atomic.Uint64

	hook    func(uint64)
	lastMem uint64
}

// NewMemDB returns an empty buffer with no limits.
func NewMemDB() *MemDB { return newMemDB(&artTree{}) }

func newMemDB(tree index) *MemDB {
	return &MemDB{
		tree:        tree,
		vals:        newArena(),
		keys:        newArena(),
		entryLimit:  Unlimited,
		bufferLimit: Unlimited,
	}
}

// lookup returns the key's entry or nil. It may run concurrently with other
// lookups (the cache is atomic).
func (db *MemDB) lookup(key []byte) *entry {
	if e := db.last.Load(); e != nil && !e.gone && bytes.Equal(e.key, key) {
		db.hits.Add(1)
		return e
	}
	db.misses.Add(1)
	e := db.tree.get(key)
	if e == nil {
		return nil
	}
	db.last.Store(e)
	return e
}

func (db *MemDB) newEntry(key []byte) *entry {
	if len(db.slab) == cap(db.slab) {
		// Slabs grow from 8 entries to 128, so a small transaction
		// does not pay for a large slab.
		db.slab = make([]entry, 0, min(max(8, 2*cap(db.slab)), 128))
	}
	var k []byte
	if len(key) > 0 {
		k = db.keys.alloc(len(key))
		copy(k, key)
	} else {
		k = []byte{}
	}
	db.slab = append(db.slab, entry{key: k, vref: -1, seq: int32(db.entries)})
	db.entries++
	e := &db.slab[len(db.slab)-1]
	db.tree.insert(e)
	db.len++
	db.size += len(k)
	return e
}

func (db *MemDB) value(e *entry) []byte {
	if e.vref < 0 {
		return nil
	}
	return db.vlog[e.vref].val
}

// Get returns the buffered value of key: a tombstone (empty, non-nil) for a
// deleted key, tikverr.ErrNotExist for a key not buffered or buffered with
// flags only. It panics after DiscardValues.
func (db *MemDB) Get(_ context.Context, key []byte) ([]byte, error) {
	if db.valuesDiscarded {
		invariants.Fail("unionstore: Get after DiscardValues")
	}
	e := db.lookup(key)
	if e == nil || e.vref < 0 {
		return nil, tikverr.ErrNotExist
	}
	return db.vlog[e.vref].val, nil
}

// BatchGet returns the buffered values of keys, tombstones included, keyed
// by string(key). Keys not buffered (or flags-only) are absent.
func (db *MemDB) BatchGet(ctx context.Context, keys [][]byte) (map[string][]byte, error) {
	if db.len == 0 {
		return map[string][]byte{}, nil
	}
	m := make(map[string][]byte, len(keys))
	for _, k := range keys {
		v, err := db.Get(ctx, k)
		if err != nil {
			if tikverr.IsErrNotFound(err) {
				continue
			}
			return nil, err
		}
		m[string(k)] = v
	}
	return m, nil
}

// GetFlags returns the key's flags, or tikverr.ErrNotExist if the key is not
// buffered at all.
func (db *MemDB) GetFlags(key []byte) (kv.KeyFlags, error) {
	e := db.lookup(key)
	if e == nil {
		return 0, tikverr.ErrNotExist
	}
	return e.flags, nil
}

// Set buffers value for key in the innermost stage. An empty value fails with
// tikverr.ErrCannotSetNilValue (use Delete). See SetWithFlags for limits.
func (db *MemDB) Set(key, value []byte) error {
	if len(value) == 0 {
		return tikverr.ErrCannotSetNilValue
	}
	return db.set(key, value, nil)
}

// SetWithFlags is Set that also applies ops to the key's flags. Any value
// write clears NeedConstraintCheckInPrewrite before ops apply.
//
// Errors: *tikverr.ErrKeyTooLarge (key longer than MaxKeyLen) and
// *tikverr.ErrEntryTooLarge (key+value over the entry limit) leave the
// buffer unchanged; *tikverr.ErrTxnTooLarge (Size over the buffer limit) is
// returned after the write was applied, as in client-go, and the caller is
// expected to abandon the transaction.
func (db *MemDB) SetWithFlags(key, value []byte, ops ...kv.FlagsOp) error {
	if len(value) == 0 {
		return tikverr.ErrCannotSetNilValue
	}
	return db.set(key, value, ops)
}

// Delete buffers a tombstone for key.
func (db *MemDB) Delete(key []byte) error { return db.set(key, tombstone, nil) }

// DeleteWithFlags buffers a tombstone for key and applies ops to its flags.
func (db *MemDB) DeleteWithFlags(key []byte, ops ...kv.FlagsOp) error {
	return db.set(key, tombstone, ops)
}

// UpdateFlags applies ops to key's flags without touching its value; a key
// not buffered yet becomes a flags-only entry.
func (db *MemDB) UpdateFlags(key []byte, ops ...kv.FlagsOp) { _ = db.set(key, nil, ops) }

func (db *MemDB) set(key, value []byte, ops []kv.FlagsOp) error {
	if db.valuesDiscarded {
		invariants.Fail("unionstore: write after DiscardValues")
	}
	if len(key) > MaxKeyLen {
		return &tikverr.ErrKeyTooLarge{KeySize: len(key)}
	}
	if value != nil {
		if size := uint64(len(key) + len(value)); size > db.entryLimit {
			return &tikverr.ErrEntryTooLarge{Limit: db.entryLimit, Size: size}
		}
	}
	db.mu.Lock()
	db.writeSeq++
	if len(db.stages) == 0 {
		db.dirty = true
		db.snapSeq++
	}
	e := db.lookup(key)
	if e == nil {
		e = db.newEntry(key)
		db.last.Store(e)
	}
	flags := e.flags
	if value != nil {
		flags = kv.ApplyFlagsOps(flags, kv.DelNeedConstraintCheckInPrewrite)
	}
	flags = kv.ApplyFlagsOps(flags, ops...)
	if flags.AndPersistent() != 0 {
		db.dirty = true
	}
	e.flags = flags
	if value != nil {
		db.setValue(e, value)
	}
	size := db.size
	db.mu.Unlock()
	db.memChanged()
	if uint64(size) > db.bufferLimit {
		return &tikverr.ErrTxnTooLarge{Size: size}
	}
	return nil
}

func (db *MemDB) setValue(e *entry, value []byte) {
	if e.vref >= 0 {
		old := db.vlog[e.vref].val
		if int(e.vref) >= db.floor && len(old) > 0 && len(old) == len(value) {
			copy(old, value)
			return
		}
		db.size -= len(old)
	}
	v := tombstone
	if len(value) > 0 {
		v = db.vals.alloc(len(value))
		copy(v, value)
	}
	db.size += len(value)
	invariants.Assert(len(db.vlog) < math.MaxInt32, "value log overflow")
	db.vlog = append(db.vlog, vrec{e: e, old: e.vref, val: v})
	e.vref = int32(len(db.vlog) - 1)
}

// checkpoint returns the current position; the caller holds mu.
func (db *MemDB) checkpoint() Checkpoint {
	blk, off := db.vals.pos()
	kblk, koff := db.keys.pos()
	return Checkpoint{vlog: len(db.vlog), blk: blk, off: off, kblk: kblk, koff: koff, entries: db.entries}
}

// revert rolls values back to cp; the caller holds mu.
func (db *MemDB) revert(cp Checkpoint) {
	invariants.Assert(cp.vlog <= len(db.vlog), "revert to %d beyond log end %d", cp.vlog, len(db.vlog))
	newGone := 0 // entries created after cp and removed here
	for i := len(db.vlog) - 1; i >= cp.vlog; i-- {
		r := db.vlog[i]
		e := r.e
		invariants.Assert(int(e.vref) == i, "revert: entry %q points at %d, record %d", e.key, e.vref, i)
		e.vref = r.old
		db.size -= len(r.val)
		if r.old >= 0 {
			db.size += len(db.vlog[r.old].val)
			continue
		}
		if kept := e.flags.AndPersistent(); kept != 0 {
			e.flags = kept
			continue
		}
		db.tree.remove(e.key)
		e.gone = true
		db.len--
		db.size -= len(e.key)
		if int(e.seq) >= cp.entries {
			newGone++
		}
	}
	if newGone == db.entries-cp.entries {
		// No key allocated after cp survives: reclaim their bytes. Entries
		// with persistent flags, or flags-only entries made after cp, keep
		// the key arena as it is.
		db.keys.truncate(cp.kblk, cp.koff)
		db.entries = cp.entries
	}
	invariants.Assert(db.len == db.tree.len() && db.len >= 0 && db.size >= 0,
		"after revert: len %d, tree %d, size %d", db.len, db.tree.len(), db.size)
	clear(db.vlog[cp.vlog:])
	db.vlog = db.vlog[:cp.vlog]
	db.vals.truncate(cp.blk, cp.off)
	db.floor = cp.vlog
}

// Staging opens a nested stage and returns its handle (1 for the outermost).
// Every stage must end with Release or Cleanup of its handle, innermost first.
func (db *MemDB) Staging() int {
	db.mu.Lock()
	defer db.mu.Unlock()
	cp := db.checkpoint()
	db.stages = append(db.stages, cp)
	db.floor = cp.vlog
	return len(db.stages)
}

// Release merges the innermost stage h into its parent. h == 0 is a no-op;
// any h other than the innermost handle panics.
func (db *MemDB) Release(h int) {
	if h == 0 {
		return
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if h != len(db.stages) {
		invariants.Fail("unionstore: cannot release staging buffer %d of %d", h, len(db.stages))
	}
	db.writeSeq++
	if h == 1 {
		db.snapSeq++
		if db.stages[0].vlog != len(db.vlog) {
			db.dirty = true
		}
	}
	db.stages = db.stages[:h-1]
}

// Cleanup discards the innermost stage h: values written in it are rolled
// back (keys left without a value keep only persistent flags, or vanish).
// h == 0 or a handle already gone is a no-op; an outer handle panics.
func (db *MemDB) Cleanup(h int) {
	if h == 0 {
		return
	}
	db.mu.Lock()
	if h > len(db.stages) {
		db.mu.Unlock()
		return
	}
	if h < len(db.stages) {
		db.mu.Unlock()
		invariants.Fail("unionstore: cannot cleanup staging buffer %d of %d", h, len(db.stages))
	}
	db.writeSeq++
	if h == 1 {
		db.snapSeq++
	}
	if !db.valuesDiscarded {
		db.revert(db.stages[h-1])
	}
	db.stages = db.stages[:h-1]
	db.mu.Unlock()
	db.memChanged()
}

// Checkpoint returns the current position for a later RevertToCheckpoint. A
// checkpoint should be taken and reverted to within the same stage.
func (db *MemDB) Checkpoint() *Checkpoint {
	db.mu.Lock()
	defer db.mu.Unlock()
	cp := db.checkpoint()
	db.floor = cp.vlog
	return &cp
}

// RevertToCheckpoint rolls back every value written after cp, like Cleanup
// does for a stage.
func (db *MemDB) RevertToCheckpoint(cp *Checkpoint) {
	db.mu.Lock()
	if n := len(db.stages); n > 0 {
		invariants.Assert(cp.vlog >= db.stages[n-1].vlog,
			"checkpoint at %d is older than the innermost stage at %d", cp.vlog, db.stages[n-1].vlog)
	}
	db.revert(*cp)
	db.writeSeq++
	if len(db.stages) == 0 || cp.vlog < db.stages[0].vlog {
		db.snapSeq++
	}
	db.mu.Unlock()
	db.memChanged()
}

// IsStaging reports whether a stage is open.
func (db *MemDB) IsStaging() bool { return len(db.stages) > 0 }

// Dirty reports whether the buffer holds changes that must be committed:
// a write made outside any stage, a released outermost stage that wrote, or
// a persistent flag (an acquired lock).
func (db *MemDB) Dirty() bool { return db.dirty }

// Len returns the number of buffered keys, flags-only ones included.
func (db *MemDB) Len() int { return db.len }

// Size returns the bytes of buffered keys plus current values; it is what
// the buffer limit applies to.
func (db *MemDB) Size() int { return db.size }

// Mem returns an estimate of the memory the buffer holds.
func (db *MemDB) Mem() uint64 {
	const itemBytes, entryBytes, recBytes = 32, 40, 40
	return db.vals.capSum + db.keys.capSum + uint64(cap(db.vlog))*recBytes +
		uint64(db.len)*(itemBytes+entryBytes)
}

// SetMemoryFootprintChangeHook registers hook, called with Mem() whenever it
// changes after a write or rollback.
func (db *MemDB) SetMemoryFootprintChangeHook(hook func(uint64)) { db.hook = hook }

// MemHookSet reports whether a memory hook is registered.
func (db *MemDB) MemHookSet() bool { return db.hook != nil }

func (db *MemDB) memChanged() {
	if db.hook == nil {
		return
	}
	if m := db.Mem(); m != db.lastMem {
		db.lastMem = m
		db.hook(m)
	}
}

// SetEntrySizeLimit sets the per-entry (key+value) and total (Size) limits;
// 0 means unlimited.
func (db *MemDB) SetEntrySizeLimit(entryLimit, bufferLimit uint64) {
	if entryLimit == 0 {
		entryLimit = Unlimited
	}
	if bufferLimit == 0 {
		bufferLimit = Unlimited
	}
	db.entryLimit, db.bufferLimit = entryLimit, bufferLimit
}

// GetEntrySizeLimit returns the per-entry and total limits.
func (db *MemDB) GetEntrySizeLimit() (entryLimit, bufferLimit uint64) {
	return db.entryLimit, db.bufferLimit
}

// maxKeptLog is the most value-log capacity Reset keeps for reuse.
const maxKeptLog = 1024

// Reset empties the buffer and drops all stages; limits and the hook stay.
// What it keeps for reuse is bounded (a first arena block for keys and one
// for values, a value log of maxKeptLog records) whatever the buffer held.
func (db *MemDB) Reset() {
	db.mu.Lock()
	db.tree.clear()
	if cap(db.vlog) > maxKeptLog {
		db.vlog = nil // do not hold a large transaction's log
	} else {
		clear(db.vlog)
		db.vlog = db.vlog[:0]
	}
	db.vals.reset()
	db.keys.reset()
	db.slab = nil
	db.entries = 0
	db.stages = db.stages[:0]
	db.floor = 0
	db.dirty = false
	db.valuesDiscarded = false
	db.len, db.size = 0, 0
	db.last.Store(nil)
	db.snapSeq++
	db.writeSeq++
	db.mu.Unlock()
	db.memChanged()
}

// DiscardValues frees every value while keeping keys and flags, for a
// transaction that only needs flags from now on (e.g. to release pessimistic
// locks). Afterwards Get and writes panic and iterators return nil values.
func (db *MemDB) DiscardValues() {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.valuesDiscarded = true
	for i := range db.vlog {
		db.vlog[i].val = nil
	}
	db.vals = newArena()
}

// InspectStage calls f for each key whose current value was written in
// stage h, newest write first, with the key, its flags and the value.
func (db *MemDB) InspectStage(h int, f func(key []byte, flags kv.KeyFlags, value []byte)) {
	head := db.stages[h-1].vlog
	for i := len(db.vlog) - 1; i >= head; i-- {
		r := &db.vlog[i]
		if int(r.e.vref) == i {
			f(r.e.key, r.e.flags, r.val)
		}
	}
}

// SelectValueHistory returns the newest value of key, current or
// overwritten, for which predicate is true; nil if none is. A key with no
// value fails with tikverr.ErrNotExist.
func (db *MemDB) SelectValueHistory(key []byte, predicate func(value []byte) bool) ([]byte, error) {
	e := db.lookup(key)
	if e == nil || e.vref < 0 {
		return nil, tikverr.ErrNotExist
	}
	for i := e.vref; i >= 0; i = db.vlog[i].old {
		if v := db.vlog[i].val; predicate(v) {
			return v, nil
		}
	}
	return nil, nil
}

// GetKeyByHandle returns the key h identifies.
func (db *MemDB) GetKeyByHandle(h KeyHandle) []byte { return h.e.key }

// GetValueByHandle returns the current value of the key h identifies, and
// false if it has none (flags only, or values discarded).
func (db *MemDB) GetValueByHandle(h KeyHandle) ([]byte, bool) {
	if db.valuesDiscarded || h.e.vref < 0 {
		return nil, false
	}
	return db.vlog[h.e.vref].val, true
}

// GetFlagsByHandle returns the flags of the key h identifies.
func (db *MemDB) GetFlagsByHandle(h KeyHandle) kv.KeyFlags { return h.e.flags }

// CacheHits and CacheMisses count lookups answered by, or missing, the
// last-key cache (client-go's MemDBHitCount/MemDBMissCount).
func (db *MemDB) CacheHits() uint64 { return db.hits.Load() }

// CacheMisses counts lookups that had to search the tree.
func (db *MemDB) CacheMisses() uint64 { return db.misses.Load() }
