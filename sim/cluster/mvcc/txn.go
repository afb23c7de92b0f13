package mvcc

import (
	"github.com/tikvsim/tikvsim/internal/invariants"
)

// released records a lock removed by a command, for waking lock waiters
// (ReleasedLock in src/storage/mvcc/txn.rs).
type released struct {
	raw      []byte
	startTS  uint64
	commitTS uint64 // 0 when rolled back
	pess     bool
}

// mvccTxn buffers a command's writes (MvccTxn in src/storage/mvcc/txn.rs).
// Reads go to the store, not the buffer, as TiKV's reader reads the
// snapshot taken before the command.
type mvccTxn struct {
	e        *Engine
	s        *store
	startTS  uint64
	mods     []modify
	released []released
	// locksFor1PC are the locks a 1PC prewrite would write.
	locksFor1PC []onePCLock
	// acquired lists locks newly taken by this command.
	acquired []acquiredLock
}

type onePCLock struct {
	enc, raw      []byte
	lock          *Lock
	delPessimLock bool
}

func (e *Engine) newTxn(startTS uint64) *mvccTxn {
	return &mvccTxn{e: e, s: e.st, startTS: startTS}
}

func (t *mvccTxn) putLock(enc []byte, l *Lock) {
	invariants.Assert(l.StartTS == t.startTS || t.startTS == 0, "lock ts %d written by txn %d", l.StartTS, t.startTS)
	if l.Type == LockPessimistic && !t.e.cfg.DisableInMemoryPessimisticLocks {
		l.InMemory = true
	} else {
		l.InMemory = false
	}
	t.mods = append(t.mods, modify{cf: CFLock, key: enc, lock: l})
	if old := t.s.getLock(enc); old == nil || old.StartTS != l.StartTS {
		// A newly acquired lock (new_acquired_locks): waiters on the key
		// learn the new holder when the command applies.
		raw, ok := DecodeKey(enc)
		invariants.Assert(ok, "undecodable key %x", enc)
		t.acquired = append(t.acquired, acquiredLock{raw: raw, lock: l})
	}
}

type acquiredLock struct {
	raw  []byte
	lock *Lock
}

// unlockKey removes a lock and records its release (txn.unlock_key).
func (t *mvccTxn) unlockKey(enc, raw []byte, l *Lock, commitTS uint64) {
	t.mods = append(t.mods, modify{cf: CFLock, key: enc, del: true})
	t.released = append(t.released, released{raw: raw, startTS: l.StartTS, commitTS: commitTS, pess: l.Type == LockPessimistic})
}

func (t *mvccTxn) putWrite(enc []byte, commitTS uint64, w *Write) {
	invariants.Assert(commitTS != 0, "write at commit_ts 0")
	t.mods = append(t.mods, modify{cf: CFWrite, key: appendTS(enc, commitTS), write: w})
}

func (t *mvccTxn) deleteWrite(enc []byte, commitTS uint64) {
	t.mods = append(t.mods, modify{cf: CFWrite, key: appendTS(enc, commitTS), del: true})
}

func (t *mvccTxn) putValue(enc []byte, startTS uint64, v []byte) {
	t.mods = append(t.mods, modify{cf: CFDefault, key: appendTS(enc, startTS), value: append([]byte{}, v...)})
}

func (t *mvccTxn) deleteValue(enc []byte, startTS uint64) {
	t.mods = append(t.mods, modify{cf: CFDefault, key: appendTS(enc, startTS), del: true})
}

// clear drops everything buffered (txn.clear()).
func (t *mvccTxn) clear() {
	t.mods = nil
	t.released = nil
	t.locksFor1PC = nil
	t.acquired = nil
}

// commit applies the buffer and queues wake-ups for released locks.
func (t *mvccTxn) commit() {
	t.s.apply(t.mods)
	for _, r := range t.released {
		t.e.wakeUpKey(r.raw, r.startTS, r.commitTS)
	}
	for _, a := range t.acquired {
		if cur := t.s.getLock(EncodeKey(a.raw)); cur != nil && cur.StartTS == a.lock.StartTS {
			t.e.updateLockWait(a.raw, cur)
		}
	}
	t.mods, t.released, t.acquired = nil, nil, nil
}

// commitRecord is TxnCommitRecord (src/storage/mvcc/reader/reader.rs).
type commitRecord struct {
	kind       int // recNone, recSingle, recOverlappedRollback
	commitTS   uint64
	write      *Write
	overlapped *Write // recNone: a write of another txn at commit_ts == start_ts
}

const (
	recNone = iota
	recSingle
	recOverlappedRollback
)

// getTxnCommitRecord scans the key's writes down to startTS looking for
// this transaction's commit or rollback record.
func (s *store) getTxnCommitRecord(enc []byte, startTS uint64) commitRecord {
	rec := commitRecord{kind: recNone}
	s.versions(enc, maxTS, func(cts uint64, w *Write) bool {
		if cts < startTS {
			return false
		}
		if w.StartTS == startTS {
			rec = commitRecord{kind: recSingle, commitTS: cts, write: w}
			return false
		}
		if cts == startTS {
			if w.HasOverlappedRollback {
				rec = commitRecord{kind: recOverlappedRollback, commitTS: cts}
				return false
			}
			rec.overlapped = w
		}
		return true
	})
	return rec
}

// makeRollback is make_rollback in src/storage/mvcc/txn.rs: an overlapped
// write of another txn absorbs a protected rollback as a flag; an
// unprotected rollback over it is simply skipped.
func (t *mvccTxn) makeRollback(enc []byte, startTS uint64, protected bool, overlapped *Write) {
	if overlapped != nil {
		invariants.Assert(startTS > overlapped.StartTS, "overlapped write start %d >= rollback %d", overlapped.StartTS, startTS)
		if protected {
			w := *overlapped
			w.HasOverlappedRollback = true
			t.putWrite(enc, startTS, &w)
		}
		return
	}
	t.putWrite(enc, startTS, &Write{Type: WriteRollback, StartTS: startTS, Protected: protected})
}

// collapsePrevRollback deletes the newest write at or below startTS when it
// is an unprotected rollback (collapse_prev_rollback).
func (t *mvccTxn) collapsePrevRollback(enc []byte, startTS uint64) {
	cts, w := t.s.seekWrite(enc, startTS)
	if w != nil && w.Type == WriteRollback && !w.Protected {
		t.deleteWrite(enc, cts)
	}
}

// rollbackLock is rollback_lock (actions/check_txn_status.rs): writes a
// rollback record (protected for primaries and pipelined locks) and removes
// the lock.
func (t *mvccTxn) rollbackLock(enc, raw []byte, l *Lock, collapse bool) {
	rec := t.s.getTxnCommitRecord(enc, t.startTS)
	if rec.kind == recSingle && rec.write.Type != WriteRollback {
		invariants.Assert(false, "txn %d has a commit record at %d but still a lock on %x", t.startTS, rec.commitTS, raw)
		return
	}
	if rec.kind != recNone {
		t.unlockKey(enc, raw, l, 0)
		return
	}
	if l.Type == LockPut && !l.HasValue {
		t.deleteValue(enc, l.StartTS)
	}
	protected := bytesEqual(raw, l.Primary) || l.Generation > 0
	t.makeRollback(enc, t.startTS, protected, rec.overlapped)
	if collapse {
		t.collapsePrevRollback(enc, t.startTS)
	}
	t.unlockKey(enc, raw, l, 0)
}

// markRollbackOnMismatchingLock is mark_rollback_on_mismatching_lock.
func (t *mvccTxn) markRollbackOnMismatchingLock(enc []byte, l *Lock, protected bool) {
	invariants.Assert(l.StartTS != t.startTS, "mismatching lock has our ts %d", t.startTS)
	if !protected || t.startTS < l.MinCommitTS || !l.UseAsyncCommit {
		return
	}
	nl := l.clone()
	nl.RollbackTS = append(nl.RollbackTS, t.startTS)
	nl.StartTS = l.StartTS
	t.mods = append(t.mods, modify{cf: CFLock, key: enc, lock: nl})
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }
