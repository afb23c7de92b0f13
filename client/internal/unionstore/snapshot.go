package unionstore

import (
	"context"

	"github.com/tikvsim/tikvsim/client/tikverr"
)

// MemDBSnapshot is a read-only view of a buffer as of the start of its
// outermost stage (or as of its creation when no stage is open): writes made
// inside stages are invisible to it. Its reads lock the buffer shared, so
// they may run concurrently with such writes (client-go
// membuffer_snapshot.go, art/art_snapshot.go).
//
// A snapshot from GetSnapshot checks that it is still current and fails with
// ErrSnapshotStale once the outermost stage ends, the buffer is reset or
// written outside any stage. One from SnapshotGetter does not check.
type MemDBSnapshot struct {
	db    *MemDB
	cp    int
	seq   int
	check bool
}

func (db *MemDB) snapshot(check bool) *MemDBSnapshot {
	db.mu.RLock()
	defer db.mu.RUnlock()
	cp := len(db.vlog)
	if len(db.stages) > 0 {
		cp = db.stages[0].vlog
	}
	return &MemDBSnapshot{db: db, cp: cp, seq: db.snapSeq, check: check}
}

// GetSnapshot returns a checked snapshot of the buffer; see MemDBSnapshot.
func (db *MemDB) GetSnapshot() *MemDBSnapshot { return db.snapshot(true) }

// SnapshotGetter returns an unchecked snapshot, for point reads only.
func (db *MemDB) SnapshotGetter() *MemDBSnapshot { return db.snapshot(false) }

// SnapshotIter iterates the buffer as of its outermost stage's start over
// [lower, upper) ascending. Tombstones are included.
func (db *MemDB) SnapshotIter(lower, upper []byte) *MemDBIter {
	return db.SnapshotGetter().iter(lower, upper, false)
}

// SnapshotIterReverse is SnapshotIter descending (argument order as IterReverse).
func (db *MemDB) SnapshotIterReverse(upper, lower []byte) *MemDBIter {
	return db.SnapshotGetter().iter(lower, upper, true)
}

// stale reports whether a checked snapshot is out of date; the caller holds
// db.mu shared.
func (s *MemDBSnapshot) stale() bool { return s.check && s.seq != s.db.snapSeq }

// Get returns key's value as of the snapshot: a tombstone for a key deleted
// before it, tikverr.ErrNotExist for a key without a value then.
func (s *MemDBSnapshot) Get(_ context.Context, key []byte) ([]byte, error) {
	db := s.db
	db.mu.RLock()
	defer db.mu.RUnlock()
	if s.stale() {
		return nil, ErrSnapshotStale
	}
	e := db.lookup(key)
	if e == nil {
		return nil, tikverr.ErrNotExist
	}
	v := int(e.vref)
	for v >= s.cp {
		v = int(db.vlog[v].old)
	}
	if v < 0 {
		return nil, tikverr.ErrNotExist
	}
	return db.vlog[v].val, nil
}

func (s *MemDBSnapshot) iter(lower, upper []byte, reverse bool) *MemDBIter {
	it := &MemDBIter{db: s.db, lower: lower, upper: upper, reverse: reverse, snap: true, snapCP: s.cp}
	if len(lower) > 0 && len(upper) > 0 && string(lower) >= string(upper) {
		it.done = true
		return it
	}
	it.fill()
	return it
}

// BatchedSnapshotIter returns an iterator over the snapshot in [lower,
// upper), descending when reverse. It reads the buffer in batches under the
// shared lock; once the snapshot is stale it stops being Valid and Next
// returns ErrSnapshotStale.
func (s *MemDBSnapshot) BatchedSnapshotIter(lower, upper []byte, reverse bool) Iterator {
	return &snapIter{s: s, it: s.iter(lower, upper, reverse)}
}

// ForEachInSnapshotRange calls f on each key and value of the snapshot in
// [lower, upper), descending when reverse, until f asks to stop or fails.
func (s *MemDBSnapshot) ForEachInSnapshotRange(lower, upper []byte, f func(k, v []byte) (stop bool, err error), reverse bool) error {
	it := s.BatchedSnapshotIter(lower, upper, reverse)
	defer it.Close()
	for it.Valid() {
		stop, err := f(it.Key(), it.Value())
		if err != nil || stop {
			return err
		}
		if err := it.Next(); err != nil {
			return err
		}
	}
	return s.err()
}

func (s *MemDBSnapshot) err() error {
	s.db.mu.RLock()
	defer s.db.mu.RUnlock()
	if s.stale() {
		return ErrSnapshotStale
	}
	return nil
}

// Close releases the snapshot.
func (s *MemDBSnapshot) Close() {}

type snapIter struct {
	s  *MemDBSnapshot
	it *MemDBIter
}

func (i *snapIter) Valid() bool   { return i.s.err() == nil && i.it.Valid() }
func (i *snapIter) Key() []byte   { return i.it.Key() }
func (i *snapIter) Value() []byte { return i.it.Value() }
func (i *snapIter) Close()        {}
func (i *snapIter) Next() error {
	if err := i.s.err(); err != nil {
		return err
	}
	return i.it.Next()
}
