// Package unionstore owns a transaction's local state: the write buffer
// (MemDB) holding every key the transaction wrote, deleted or flagged, and the
// union store (UnionStore) that reads through the buffer into a snapshot of
// TiKV. It mirrors client-go internal/unionstore (memdb_art.go, art/,
// membuffer_snapshot.go, union_store.go, union_iter.go) and
// txnkv/transaction/batch_getter.go. Keys are indexed by an adaptive radix
// tree (art.go, after client-go art/art.go and art_node.go) whose leaves are
// the buffer's entries; values live in an append-only value log over an
// arena, as client-go's vlog.
//
// # Values, tombstones and flags
//
// Each buffered key has a value, a tombstone (an empty value written by
// Delete; IsTombstone reports it) or no value at all (a flags-only entry made
// by UpdateFlags). Every key also carries kv.KeyFlags. Values are versioned:
// each write appends to the value log with a link to the previous value, so
// Staging/Cleanup and Checkpoint/RevertToCheckpoint can roll values back and
// GetSnapshot can read values as of the outermost stage. Flags are not
// versioned: a rollback that leaves a key with no value keeps only its
// persistent flags (kv.KeyFlags.AndPersistent) and drops the key if none
// remain, as client-go's ART does.
//
// # Concurrency contract
//
// A MemDB belongs to one transaction and is written by one task at a time.
// Writes (Set, Delete, UpdateFlags, Staging, Release, Cleanup, Checkpoint,
// RevertToCheckpoint, Reset) take an internal sync.RWMutex exclusively for a
// short critical section that never waits. Reads through a snapshot
// (GetSnapshot, SnapshotGetter, SnapshotIter) take it shared, so they may run
// in other tasks concurrently with writes made inside a stage: such writes
// never change what the snapshot sees. Plain reads (Get, GetFlags, Iter) do
// not lock and must not race with writes. An iterator is invalidated by any
// write to the buffer; using it afterwards panics. A snapshot is invalidated
// when the outermost stage ends or a write happens with no stage open; it
// then returns ErrSnapshotStale.
//
// # What the transaction layer calls
//
// A transaction builds NewUnionStore(NewMemDB(), snapshot) with its snapshot
// of TiKV (the Snapshot interface here) and reads through UnionStore.Get,
// BatchGet, Iter and IterReverse. Each statement runs in a stage
// (MemDB.Staging, then Release or Cleanup). The 2PC committer walks the
// buffer with MemDB.IterWithFlags, keeps KeyHandles, reads values and flags
// with GetValueByHandle and GetFlagsByHandle, and skips flags-only keys
// unless their flags ask for a lock. Len, Size and Dirty size the commit.
//
// # Why an ART
//
// The buffer first used a B-tree of items carrying an 8-byte key prefix
// (index.go keeps it behind the same index methods, for benchmarks). Each
// B-tree lookup makes ~log2(n) key comparisons, each a likely cache miss, and
// it was 2-4x slower than client-go's ART on random point operations. The
// ART descends one byte per level with path compression, so a lookup costs
// about one node visit per distinguishing key byte and no full-key
// comparison until the leaf. Nodes are ordinary Go objects rather than arena
// offsets as in client-go: Reset drops the root and the collector takes the
// nodes, and the arenas keep at most one first block each (see Reset).
// docs/benchmarks.md has the side-by-side numbers (B-tree, ART, client-go's
// ART). Plain iterators walk the tree with a cursor (a stack of node
// positions); snapshot iterators, which must survive rollbacks that change
// the tree, collect keys in batches and resume each batch with a fresh seek.
//
// Byte slices returned by reads point into the buffer: they stay valid until
// the key is written again or its write is rolled back, and callers must not
// modify them. Keys and values passed in are copied.
package unionstore
