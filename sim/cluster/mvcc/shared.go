package mvcc

import (
	"sort"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/internal/invariants"
)

// sharedLocks is txn_types::SharedLocks (components/txn_types/src/lock.rs):
// the lock-CF value of a key held in share mode by several transactions.
// Each holder has a sub-lock (Pessimistic, or Lock once prewritten).
// Shrink-only means no new holder may join (set when an exclusive request
// arrives, tikv#19313). Sub-locks are kept sorted by start_ts so iteration
// is deterministic.
type sharedLocks struct {
	shrinkOnly bool
	locks      []*Lock
}

func (s *sharedLocks) clone() *sharedLocks {
	c := &sharedLocks{shrinkOnly: s.shrinkOnly}
	for _, l := range s.locks {
		c.locks = append(c.locks, l.clone())
	}
	return c
}

func (s *sharedLocks) get(ts uint64) *Lock {
	for _, l := range s.locks {
		if l.StartTS == ts {
			return l
		}
	}
	return nil
}

// put inserts or replaces the sub-lock of l.StartTS.
func (s *sharedLocks) put(l *Lock) {
	invariants.Assert(l.Type == LockLock || l.Type == LockPessimistic, "shared sub-lock of type %v", l.Type)
	for i, x := range s.locks {
		if x.StartTS == l.StartTS {
			s.locks[i] = l
			return
		}
	}
	s.locks = append(s.locks, l)
	sort.Slice(s.locks, func(i, j int) bool { return s.locks[i].StartTS < s.locks[j].StartTS })
}

func (s *sharedLocks) remove(ts uint64) *Lock {
	for i, x := range s.locks {
		if x.StartTS == ts {
			s.locks = append(s.locks[:i:i], s.locks[i+1:]...)
			return x
		}
	}
	return nil
}

// lockInfo is SharedLocks::into_lock_info: a wrapper of type SharedLock
// whose holders are in shared_lock_infos (the wrapper's other fields are
// not to be read).
func (s *sharedLocks) lockInfo(raw []byte) *kvrpcpb.LockInfo {
	info := &kvrpcpb.LockInfo{LockType: kvrpcpb.Op_SharedLock, Key: append([]byte(nil), raw...)}
	for _, l := range s.locks {
		info.SharedLockInfos = append(info.SharedLockInfos, l.lockInfo(raw))
	}
	return info
}

func (s *store) getShared(enc []byte) *sharedLocks {
	it, ok := s.lock.Get(kvItem{key: enc})
	if !ok {
		return nil
	}
	return it.shared
}

// putShared writes shared locks back, or removes the key's lock entry when
// no holder is left (txn.put_shared_locks / unlock_key).
func (t *mvccTxn) putShared(enc, raw []byte, s *sharedLocks, released *Lock, commitTS uint64) {
	if len(s.locks) == 0 {
		t.mods = append(t.mods, modify{cf: CFLock, key: enc, del: true})
	} else {
		t.mods = append(t.mods, modify{cf: CFLock, key: enc, shared: s})
	}
	if released != nil && len(s.locks) == 0 {
		t.released = append(t.released, released2(raw, released, commitTS))
	}
}

func released2(raw []byte, l *Lock, commitTS uint64) released {
	return released{raw: raw, startTS: l.StartTS, commitTS: commitTS, pess: l.Type == LockPessimistic}
}

// rollbackSharedLock is rollback_shared_lock (actions/check_txn_status.rs):
// always an unprotected rollback (a shared key is never a primary).
func (t *mvccTxn) rollbackSharedLock(enc, raw []byte, s *sharedLocks, collapse bool) {
	s = s.clone()
	l := s.remove(t.startTS)
	if l == nil {
		return
	}
	rec := t.s.getTxnCommitRecord(enc, t.startTS)
	if rec.kind == recNone {
		t.makeRollback(enc, t.startTS, false, rec.overlapped)
		if collapse {
			t.collapsePrevRollback(enc, t.startTS)
		}
	}
	t.putShared(enc, raw, s, l, 0)
}

// commitSharedKey is the shared branch of actions/commit.rs commit().
func (t *mvccTxn) commitSharedKey(enc, raw []byte, s *sharedLocks, commitTS uint64) *kvrpcpb.KeyError {
	s = s.clone()
	l := s.remove(t.startTS)
	invariants.Assert(l != nil, "commitSharedKey without a sub-lock")
	if commitTS < l.MinCommitTS {
		return errCommitTSExpired(t.startTS, commitTS, raw, l.MinCommitTS)
	}
	if l.Type != LockPessimistic {
		w := &Write{Type: WriteLock, StartTS: t.startTS}
		if containsTS(l.RollbackTS, commitTS) {
			w.HasOverlappedRollback = true
		}
		t.putWrite(enc, commitTS, w)
	} else {
		commitTS = 0 // a stale pessimistic sub-lock is just removed
	}
	t.putShared(enc, raw, s, l, commitTS)
	return nil
}

// acquireShared is the share-mode branch of acquire_pessimistic_lock.
func (t *mvccTxn) acquireShared(req *kvrpcpb.PessimisticLockRequest, raw, enc []byte, s *sharedLocks) (aplResult, *kvrpcpb.KeyError, bool) {
	startTS, forUpdateTS := req.GetStartVersion(), req.GetForUpdateTs()
	var res aplResult
	if s != nil && s.get(startTS) != nil {
		// handle_existing_shared_lock
		old := s.get(startTS)
		if forUpdateTS > old.ForUpdateTS {
			ns := s.clone()
			ns.put(&Lock{Type: LockPessimistic, Primary: append([]byte(nil), req.GetPrimaryLock()...), StartTS: startTS,
				TTL: req.GetLockTtl(), ForUpdateTS: forUpdateTS, MinCommitTS: req.GetMinCommitTs(), IsLockedWithConflict: old.IsLockedWithConflict})
			t.putShared(enc, raw, ns, nil, 0)
		}
		return res, nil, false
	}
	if s != nil && s.shrinkOnly {
		return res, &kvrpcpb.KeyError{Locked: s.lockInfo(raw)}, true
	}
	if cts, w := t.s.seekWrite(enc, maxTS); w != nil {
		if cts > forUpdateTS {
			return res, errWriteConflict(startTS, w.StartTS, cts, raw, req.GetPrimaryLock(), kvrpcpb.WriteConflict_PessimisticRetry), false
		}
		if cts == startTS && (w.Type == WriteRollback || w.HasOverlappedRollback) {
			return res, errAbort("PessimisticLockRolledBack { start_ts: %d, key: %X }", startTS, raw), false
		}
	}
	if req.GetReturnValues() || req.GetCheckExistence() {
		v, _, found := t.s.getValueAt(enc, maxTS)
		res.value, res.exists, res.checkedValue = v, found, true
	}
	ns := &sharedLocks{}
	if s != nil {
		ns = s.clone()
	}
	ns.put(&Lock{Type: LockPessimistic, Primary: append([]byte(nil), req.GetPrimaryLock()...), StartTS: startTS,
		TTL: req.GetLockTtl(), ForUpdateTS: forUpdateTS, MinCommitTS: req.GetMinCommitTs()})
	t.putShared(enc, raw, ns, nil, 0)
	return res, nil, false
}

// prewriteShared is the shared branch of prewrite_with_generation plus the
// shared part of write_lock: the holder's pessimistic sub-lock becomes a
// Lock-type sub-lock.
func (t *mvccTxn) prewriteShared(p *txnProps, pm *pmut, s *sharedLocks, async bool, generation uint64) *prewriteErr {
	if s == nil || s.get(p.startTS) == nil {
		if pm.isShared {
			return &prewriteErr{kerr: errPessimisticLockNotFound(p.startTS, pm.raw, reasonLockMissingAmendFail), class: clsPessimisticLockNotFound}
		}
		return &prewriteErr{kerr: &kvrpcpb.KeyError{Locked: s.lockInfo(pm.raw)}, class: clsLocked}
	}
	if !pm.isShared {
		return &prewriteErr{kerr: errAbort("use Op::SharedLock to prewrite on a shared lock")}
	}
	old := s.get(p.startTS)
	if old.Type == LockLock {
		return nil // duplicate prewrite
	}
	switch {
	case generation > 0:
		return &prewriteErr{kerr: errAbort("shared lock prewrite does not support non-zero generation, generation: %d", generation)}
	case p.kind == kind1PC:
		return &prewriteErr{kerr: errAbort("shared lock prewrite is incompatible with one-phase commit")}
	case async:
		return &prewriteErr{kerr: errAbort("shared lock prewrite cannot use async-commit, falling back to 2PC")}
	}
	ns := s.clone()
	ns.put(&Lock{Type: LockLock, Primary: append([]byte(nil), p.primary...), StartTS: p.startTS, TTL: max(pm.lockTTL, old.TTL),
		ForUpdateTS: max(p.forUpdateTS, old.ForUpdateTS), TxnSize: p.txnSize, MinCommitTS: max(pm.minCommitTS, old.MinCommitTS)})
	t.putShared(pm.enc, pm.raw, ns, nil, 0)
	return nil
}
