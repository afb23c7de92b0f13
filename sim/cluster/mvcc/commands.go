package mvcc

import (
	"bytes"
	"sort"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/internal/invariants"
)

// physical extracts the physical (millisecond) part of a TSO timestamp.
func physical(ts uint64) uint64 { return ts >> 18 }

// commitKey is actions/commit.rs commit().
func (t *mvccTxn) commitKey(raw []byte, commitTS uint64) *kvrpcpb.KeyError {
	enc := EncodeKey(raw)
	if s := t.s.getShared(enc); s != nil && s.get(t.startTS) != nil {
		return t.commitSharedKey(enc, raw, s, commitTS)
	}
	l := t.s.getLock(enc)
	if l == nil || l.StartTS != t.startTS {
		rec := t.s.getTxnCommitRecord(enc, t.startTS)
		if rec.kind == recSingle && rec.write.Type != WriteRollback {
			return nil // already committed: idempotent
		}
		return errTxnLockNotFound(t.startTS, commitTS, raw)
	}
	invariants.Assert(l.StartTS == t.startTS && commitTS != 0, "commit of lock %d by txn %d at %d", l.StartTS, t.startTS, commitTS)
	if commitTS < l.MinCommitTS {
		return errCommitTSExpired(t.startTS, commitTS, raw, l.MinCommitTS)
	}
	if l.Type == LockPessimistic {
		// tikv#14557: a pessimistic lock met at commit is removed, not
		// committed.
		t.unlockKey(enc, raw, l, 0)
		return nil
	}
	wt := map[LockType]WriteType{LockPut: WritePut, LockDelete: WriteDelete, LockLock: WriteLock}[l.Type]
	invariants.Assert(l.Type != LockPessimistic, "committing a pessimistic lock as %v", wt)
	w := &Write{Type: wt, StartTS: t.startTS, ShortValue: l.ShortValue, HasValue: l.HasValue}
	if containsTS(l.RollbackTS, commitTS) {
		w.HasOverlappedRollback = true
	}
	t.putWrite(enc, commitTS, w)
	t.unlockKey(enc, raw, l, commitTS)
	return nil
}

// Commit is KvCommit (commands/commit.rs). commit_version must be greater
// than start_version. Only keys, start_version and commit_version are read.
func (e *Engine) Commit(req *kvrpcpb.CommitRequest) *kvrpcpb.CommitResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.CommitResponse{}
	if kerr := e.checkTxnKeys(req.GetContext(), req.GetKeys()...); kerr != nil {
		resp.Error = kerr
		return resp
	}
	if req.GetCommitVersion() <= req.GetStartVersion() {
		resp.Error = errAbort("InvalidTxnTso { start_ts: %d, commit_ts: %d }", req.GetStartVersion(), req.GetCommitVersion())
		return resp
	}
	t := e.newTxn(req.GetStartVersion())
	for _, k := range req.GetKeys() {
		if kerr := t.commitKey(k, req.GetCommitVersion()); kerr != nil {
			resp.Error = kerr
			return resp
		}
	}
	t.commit()
	resp.CommitVersion = req.GetCommitVersion()
	return resp
}

// missingLockAction is MissingLockAction (actions/check_txn_status.rs).
type missingLockAction int

const (
	mlRollback missingLockAction = iota
	mlProtectedRollback
	mlReturnError
)

// txnStatus is TxnStatus (src/storage/txn/mod.rs).
type txnStatus struct {
	action   kvrpcpb.Action
	commitTS uint64
	lock     *Lock // Uncommitted
	rolled   bool  // rolled back (any kind)
	notFound bool  // TxnNotFound error
}

// checkTxnStatusMissingLock is check_txn_status_missing_lock.
func (t *mvccTxn) checkTxnStatusMissingLock(raw []byte, mismatch *Lock, action missingLockAction, resolvingPessimistic bool) txnStatus {
	enc := EncodeKey(raw)
	rec := t.s.getTxnCommitRecord(enc, t.startTS)
	switch rec.kind {
	case recSingle:
		if rec.write.Type == WriteRollback {
			return txnStatus{rolled: true}
		}
		return txnStatus{commitTS: rec.commitTS}
	case recOverlappedRollback:
		return txnStatus{rolled: true}
	}
	if action == mlReturnError {
		return txnStatus{notFound: true}
	}
	if resolvingPessimistic {
		return txnStatus{action: kvrpcpb.Action_LockNotExistDoNothing, rolled: true}
	}
	invariants.Assert(rec.kind == recNone, "rolling back txn %d that has a record", t.startTS)
	invariants.Assert(mismatch == nil || mismatch.StartTS != t.startTS, "mismatching lock is our own")
	if action == mlRollback {
		t.collapsePrevRollback(enc, t.startTS)
	}
	if mismatch != nil && rec.overlapped == nil {
		t.markRollbackOnMismatchingLock(enc, mismatch, action == mlProtectedRollback)
	}
	t.makeRollback(enc, t.startTS, action == mlProtectedRollback, rec.overlapped)
	return txnStatus{action: kvrpcpb.Action_LockNotExistRollback, rolled: true}
}

// cleanupKey is actions/cleanup.rs cleanup(). committed != 0 reports the
// Committed error.
func (t *mvccTxn) cleanupKey(raw []byte, currentTS uint64, protect bool) (kerr *kvrpcpb.KeyError, committed uint64) {
	enc := EncodeKey(raw)
	if s := t.s.getShared(enc); s != nil && s.get(t.startTS) != nil {
		sl := s.get(t.startTS)
		if currentTS != 0 && physical(sl.StartTS)+sl.TTL >= physical(currentTS) {
			return &kvrpcpb.KeyError{Locked: s.lockInfo(raw)}, 0
		}
		t.rollbackSharedLock(enc, raw, s, !protect)
		return nil, 0
	}
	l := t.s.getLock(enc)
	if l != nil && l.StartTS == t.startTS {
		if currentTS != 0 && physical(l.StartTS)+l.TTL >= physical(currentTS) {
			return errLocked(l, raw), 0
		}
		t.rollbackLock(enc, raw, l, !protect)
		return nil, 0
	}
	action := mlRollback
	if protect {
		action = mlProtectedRollback
	}
	st := t.checkTxnStatusMissingLock(raw, l, action, false)
	if st.commitTS != 0 {
		return errAbort("Committed { start_ts: %d, commit_ts: %d, key: %X }", t.startTS, st.commitTS, raw), st.commitTS
	}
	return nil, 0
}

// Cleanup is KvCleanup (commands/cleanup.rs): rolls back the key's lock of
// start_version if its TTL expired against current_ts (0 = always), writing
// a protected rollback. A committed txn answers only commit_version.
func (e *Engine) Cleanup(req *kvrpcpb.CleanupRequest) *kvrpcpb.CleanupResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.CleanupResponse{}
	if kerr := e.checkTxnKeys(req.GetContext(), req.GetKey()); kerr != nil {
		resp.Error = kerr
		return resp
	}
	if req.GetStartVersion() == 0 {
		resp.Error = errZeroTS()
		return resp
	}
	e.beginCmd(req.GetContext(), true)
	e.updateMaxTS(req.GetStartVersion())
	if rerr := e.takeMaxTSErr(); rerr != nil {
		resp.RegionError = rerr
		return resp
	}
	t := e.newTxn(req.GetStartVersion())
	kerr, cts := t.cleanupKey(req.GetKey(), req.GetCurrentTs(), true)
	if cts != 0 {
		// A committed txn answers only commit_version (kv.rs future_cleanup,
		// extract_committed).
		resp.CommitVersion = cts
		return resp
	}
	if kerr != nil {
		resp.Error = kerr
		return resp
	}
	t.commit()
	return resp
}

// BatchRollback is KvBatchRollback (commands/rollback.rs): unprotected
// rollbacks of every key, whatever the lock's TTL.
func (e *Engine) BatchRollback(req *kvrpcpb.BatchRollbackRequest) *kvrpcpb.BatchRollbackResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.BatchRollbackResponse{}
	if kerr := e.checkTxnKeys(req.GetContext(), req.GetKeys()...); kerr != nil {
		resp.Error = kerr
		return resp
	}
	if req.GetStartVersion() == 0 && len(req.GetKeys()) > 0 {
		resp.Error = errZeroTS()
		return resp
	}
	t := e.newTxn(req.GetStartVersion())
	for _, k := range req.GetKeys() {
		if kerr, _ := t.cleanupKey(k, 0, false); kerr != nil {
			resp.Error = kerr
			return resp
		}
	}
	t.commit()
	return resp
}

// CheckTxnStatus is KvCheckTxnStatus (commands/check_txn_status.rs and
// actions/check_txn_status.rs).
func (e *Engine) CheckTxnStatus(req *kvrpcpb.CheckTxnStatusRequest) *kvrpcpb.CheckTxnStatusResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.CheckTxnStatusResponse{}
	if kerr := e.checkTxnKeys(req.GetContext(), req.GetPrimaryKey()); kerr != nil {
		resp.Error = kerr
		return resp
	}
	if req.GetLockTs() == 0 {
		resp.Error = errZeroTS()
		return resp
	}
	e.beginCmd(req.GetContext(), true)
	e.updateMaxTS(max(req.GetLockTs(), req.GetCurrentTs()*boolU(req.GetCurrentTs() != maxTS), req.GetCallerStartTs()*boolU(req.GetCallerStartTs() != maxTS)))
	if rerr := e.takeMaxTSErr(); rerr != nil {
		resp.RegionError = rerr
		return resp
	}
	raw := req.GetPrimaryKey()
	enc := EncodeKey(raw)
	t := e.newTxn(req.GetLockTs())
	if s := t.s.getShared(enc); s != nil {
		// A shared-locked key cannot be a primary (commands/check_txn_status.rs).
		resp.Error = &kvrpcpb.KeyError{PrimaryMismatch: &kvrpcpb.PrimaryMismatch{LockInfo: s.lockInfo(raw)}}
		return resp
	}
	l := t.s.getLock(enc)
	var st txnStatus
	if l != nil && l.StartTS == req.GetLockTs() {
		var kerr *kvrpcpb.KeyError
		st, kerr = t.checkTxnStatusLockExists(raw, l.clone(), req)
		if kerr != nil {
			resp.Error = kerr
			return resp
		}
	} else {
		action := mlReturnError
		if req.GetRollbackIfNotExist() {
			action = mlProtectedRollback
		}
		st = t.checkTxnStatusMissingLock(raw, l, action, req.GetResolvingPessimisticLock())
		if st.notFound {
			resp.Error = errTxnNotFound(req.GetLockTs(), raw)
			return resp
		}
	}
	t.commit()
	resp.Action = st.action
	resp.CommitVersion = st.commitTS
	if st.lock != nil {
		resp.LockTtl = st.lock.TTL
		// kv.rs builds it with the lock's own primary as the key.
		resp.LockInfo = st.lock.lockInfo(st.lock.Primary)
		invariants.Assert(resp.LockTtl > 0 || st.lock.TTL == 0, "uncommitted lock ttl")
	}
	return resp
}

// checkTxnStatusLockExists is check_txn_status_lock_exists.
func (t *mvccTxn) checkTxnStatusLockExists(raw []byte, l *Lock, req *kvrpcpb.CheckTxnStatusRequest) (txnStatus, *kvrpcpb.KeyError) {
	enc := EncodeKey(raw)
	invariants.Assert(l.StartTS == t.startTS, "check_txn_status on lock %d for txn %d", l.StartTS, t.startTS)
	currentTS, callerTS := req.GetCurrentTs(), req.GetCallerStartTs()
	resolvingPess := req.GetResolvingPessimisticLock()
	if req.GetVerifyIsPrimary() && !bytes.Equal(raw, l.Primary) {
		if !resolvingPess && l.Type == LockPessimistic {
			action := mlReturnError
			if req.GetRollbackIfNotExist() {
				action = mlProtectedRollback
			}
			st := t.checkTxnStatusMissingLock(raw, nil, action, false)
			if st.notFound {
				return st, errTxnNotFound(t.startTS, raw)
			}
			t.unlockKey(enc, raw, l, 0)
			return st, nil
		}
		return txnStatus{}, errPrimaryMismatch(l, raw)
	}
	if l.UseAsyncCommit && !req.GetForceSyncCommit() {
		return txnStatus{lock: l}, nil
	}
	expired := physical(l.StartTS)+l.TTL < physical(currentTS)
	if l.Type == LockPessimistic {
		if l.IsLockedWithConflict {
			rec := t.s.getTxnCommitRecord(enc, t.startTS)
			if rec.kind != recNone {
				t.unlockKey(enc, raw, l, 0)
				if rec.kind == recSingle && rec.write.Type != WriteRollback {
					return txnStatus{commitTS: rec.commitTS}, nil
				}
				return txnStatus{rolled: true}, nil
			}
		}
		if expired {
			if resolvingPess {
				t.unlockKey(enc, raw, l, 0)
				return txnStatus{action: kvrpcpb.Action_TTLExpirePessimisticRollback, rolled: true}, nil
			}
			t.rollbackLock(enc, raw, l, true)
			return txnStatus{action: kvrpcpb.Action_TTLExpireRollback, rolled: true}, nil
		}
	} else if expired {
		t.rollbackLock(enc, raw, l, true)
		return txnStatus{action: kvrpcpb.Action_TTLExpireRollback, rolled: true}, nil
	}
	if l.MinCommitTS != 0 && callerTS != maxTS && callerTS >= l.MinCommitTS {
		l.MinCommitTS = callerTS + 1
		if l.MinCommitTS < currentTS {
			l.MinCommitTS = currentTS
		}
		invariants.Assert(l.MinCommitTS > callerTS, "pushed min_commit_ts %d not above caller %d", l.MinCommitTS, callerTS)
		t.putLock(enc, l)
	}
	pushed := (callerTS != 0 && l.MinCommitTS > callerTS) || callerTS == maxTS
	st := txnStatus{lock: l}
	if pushed {
		st.action = kvrpcpb.Action_MinCommitTSPushed
	}
	return st, nil
}

// CheckSecondaryLocks is KvCheckSecondaryLocks
// (commands/check_secondary_locks.rs).
func (e *Engine) CheckSecondaryLocks(req *kvrpcpb.CheckSecondaryLocksRequest) *kvrpcpb.CheckSecondaryLocksResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.CheckSecondaryLocksResponse{}
	if kerr := e.checkTxnKeys(req.GetContext(), req.GetKeys()...); kerr != nil {
		resp.Error = kerr
		return resp
	}
	if req.GetStartVersion() == 0 && len(req.GetKeys()) > 0 {
		resp.Error = errZeroTS()
		return resp
	}
	// "commit must not overwrite a protected rollback": bump max_ts.
	e.beginCmd(req.GetContext(), true)
	e.updateMaxTS(req.GetStartVersion())
	if rerr := e.takeMaxTSErr(); rerr != nil {
		resp.RegionError = rerr
		return resp
	}
	t := e.newTxn(req.GetStartVersion())
	var locks []*kvrpcpb.LockInfo
	for _, raw := range req.GetKeys() {
		enc := EncodeKey(raw)
		l := t.s.getLock(enc)
		var rolled bool
		var committed uint64
		needRollback := false
		var overlapped *Write
		if l != nil && l.StartTS == t.startTS {
			if l.Type != LockPessimistic {
				locks = append(locks, l.lockInfo(raw))
				continue
			}
			rec := t.s.getTxnCommitRecord(enc, t.startTS)
			t.unlockKey(enc, raw, l, 0)
			switch {
			case rec.kind == recSingle && rec.write.Type != WriteRollback:
				committed = rec.commitTS
			case rec.kind != recNone:
				rolled = true
			default:
				rolled, needRollback, overlapped = true, true, rec.overlapped
			}
		} else {
			rec := t.s.getTxnCommitRecord(enc, t.startTS)
			switch {
			case rec.kind == recSingle && rec.write.Type != WriteRollback:
				committed = rec.commitTS
			case rec.kind != recNone:
				rolled = true
			default:
				if l != nil {
					t.markRollbackOnMismatchingLock(enc, l, true)
				}
				rolled, needRollback, overlapped = true, true, rec.overlapped
			}
		}
		if needRollback {
			t.makeRollback(enc, t.startTS, true, overlapped)
			t.collapsePrevRollback(enc, t.startTS)
		}
		invariants.Assert(rolled || committed != 0, "secondary status undetermined for %x", raw)
		t.commit()
		if committed != 0 {
			resp.CommitTs = committed
		}
		return resp
	}
	invariants.Assert(len(locks) == len(req.GetKeys()), "%d locks for %d keys", len(locks), len(req.GetKeys()))
	t.commit()
	resp.Locks = locks
	return resp
}

// ResolveLock is KvResolveLock over the whole engine; see ResolveLockInRange.
func (e *Engine) ResolveLock(req *kvrpcpb.ResolveLockRequest) *kvrpcpb.ResolveLockResponse {
	return e.ResolveLockInRange(req, nil, nil)
}

// ResolveLockInRange is KvResolveLock (commands/resolve_lock.rs,
// resolve_lock_lite.rs) for a region [start, end) (nil end = unbounded).
// start_version > 0 resolves that one txn at commit_version (0 = roll back);
// otherwise txn_infos lists several. Empty keys scans the range for the
// listed txns' locks; non-empty keys resolves only those keys.
func (e *Engine) ResolveLockInRange(req *kvrpcpb.ResolveLockRequest, start, end []byte) *kvrpcpb.ResolveLockResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.ResolveLockResponse{}
	if kerr := e.checkTxnKeys(req.GetContext(), req.GetKeys()...); kerr != nil {
		resp.Error = kerr
		return resp
	}
	status := map[uint64]uint64{}
	if req.GetStartVersion() > 0 {
		status[req.GetStartVersion()] = req.GetCommitVersion()
	} else {
		for _, ti := range req.GetTxnInfos() {
			if ti != nil {
				status[ti.GetTxn()] = ti.GetStatus()
			}
		}
	}
	type kl struct {
		raw []byte
		l   *Lock
	}
	var targets []kl
	if len(req.GetKeys()) > 0 {
		// ResolveLockLite (commands/resolve_lock_lite.rs): every listed key
		// is committed or cleaned up, locked or not.
		if req.GetStartVersion() == 0 {
			resp.Error = errAbort("resolve lock lite requires start_version")
			return resp
		}
		t := e.newTxn(req.GetStartVersion())
		for _, k := range req.GetKeys() {
			var kerr *kvrpcpb.KeyError
			if req.GetCommitVersion() != 0 {
				kerr = t.commitKey(k, req.GetCommitVersion())
			} else {
				kerr, _ = t.cleanupKey(k, 0, false)
			}
			if kerr != nil {
				resp.Error = kerr
				return resp
			}
		}
		t.commit()
		return resp
	}
	e.forEachLock(start, end, func(raw []byte, l *Lock, s *sharedLocks) bool {
		if s != nil {
			for _, sl := range s.locks {
				if _, ok := status[sl.StartTS]; ok {
					targets = append(targets, kl{raw, sl})
				}
			}
			return true
		}
		if _, ok := status[l.StartTS]; ok {
			targets = append(targets, kl{raw, l})
		}
		return true
	})
	t := e.newTxn(0)
	for _, x := range targets {
		cts, ok := status[x.l.StartTS]
		invariants.Assert(ok, "resolving lock %d of an unlisted txn", x.l.StartTS)
		t.startTS = x.l.StartTS
		switch {
		case cts == 0:
			if kerr, _ := t.cleanupKey(x.raw, 0, false); kerr != nil {
				resp.Error = kerr
				return resp
			}
		case cts > x.l.StartTS:
			if kerr := t.commitKey(x.raw, cts); kerr != nil {
				if kerr.TxnLockNotFound != nil && x.l.Type == LockPessimistic {
					continue
				}
				resp.Error = kerr
				return resp
			}
		default:
			resp.Error = errAbort("InvalidTxnTso { start_ts: %d, commit_ts: %d }", x.l.StartTS, cts)
			return resp
		}
	}
	t.commit()
	return resp
}

// forEachLock visits the CF locks with raw key in [start, end), in order:
// exactly one of l and s is set (s for a shared-locked key).
func (e *Engine) forEachLock(start, end []byte, f func(raw []byte, l *Lock, s *sharedLocks) bool) {
	from := EncodeKey(start)
	var endEnc []byte
	if len(end) > 0 {
		endEnc = EncodeKey(end)
	}
	e.st.lock.AscendGreaterOrEqual(kvItem{key: from}, func(it kvItem) bool {
		if endEnc != nil && bytes.Compare(it.key, endEnc) >= 0 {
			return false
		}
		raw, ok := DecodeKey(it.key)
		invariants.Assert(ok, "undecodable lock key %x", it.key)
		return f(raw, it.lock, it.shared)
	})
}

// TxnHeartBeat is KvTxnHeartBeat (commands/txn_heart_beat.rs): raises the
// primary lock's TTL to advise_lock_ttl; min_commit_ts is raised only for
// pipelined (generation > 0), non-async locks.
func (e *Engine) TxnHeartBeat(req *kvrpcpb.TxnHeartBeatRequest) *kvrpcpb.TxnHeartBeatResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.TxnHeartBeatResponse{}
	if kerr := e.checkTxnKeys(req.GetContext(), req.GetPrimaryLock()); kerr != nil {
		resp.Error = kerr
		return resp
	}
	enc := EncodeKey(req.GetPrimaryLock())
	if s := e.st.getShared(enc); s != nil && s.get(req.GetStartVersion()) != nil {
		resp.Error = &kvrpcpb.KeyError{PrimaryMismatch: &kvrpcpb.PrimaryMismatch{LockInfo: s.lockInfo(req.GetPrimaryLock())}}
		return resp
	}
	l := e.st.getLock(enc)
	if l == nil || l.StartTS != req.GetStartVersion() {
		resp.Error = errTxnNotFound(req.GetStartVersion(), req.GetPrimaryLock())
		return resp
	}
	nl := l.clone()
	if nl.TTL < req.GetAdviseLockTtl() {
		nl.TTL = req.GetAdviseLockTtl()
	}
	if req.GetMinCommitTs() > 0 && !nl.UseAsyncCommit && nl.Generation > 0 && req.GetMinCommitTs() > nl.MinCommitTS {
		nl.MinCommitTS = req.GetMinCommitTs()
	}
	t := e.newTxn(req.GetStartVersion())
	t.putLock(enc, nl)
	t.commit()
	resp.LockTtl = nl.TTL
	return resp
}

// ScanLock is KvScanLock over the whole engine; see ScanLockInRange.
func (e *Engine) ScanLock(req *kvrpcpb.ScanLockRequest) *kvrpcpb.ScanLockResponse {
	return e.ScanLockInRange(req, nil, nil)
}

// ScanLockInRange is KvScanLock clipped to a region [rstart, rend): locks
// with start_ts <= max_version in [start_key, end_key), up to limit (0 =
// unlimited). It bumps max_ts to max_version.
func (e *Engine) ScanLockInRange(req *kvrpcpb.ScanLockRequest, rstart, rend []byte) *kvrpcpb.ScanLockResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.ScanLockResponse{}
	start, end := req.GetStartKey(), req.GetEndKey()
	if bytes.Compare(rstart, start) > 0 {
		start = rstart
	}
	if len(rend) > 0 && (len(end) == 0 || bytes.Compare(rend, end) < 0) {
		end = rend
	}
	if len(end) > 0 && bytes.Compare(start, end) >= 0 {
		return resp
	}
	e.beginCmd(req.GetContext(), true)
	e.updateMaxTS(req.GetMaxVersion())
	if rerr := e.takeMaxTSErr(); rerr != nil {
		resp.RegionError = rerr
		return resp
	}
	limit := int(req.GetLimit())
	count := 0
	e.forEachLock(start, end, func(raw []byte, l *Lock, s *sharedLocks) bool {
		if s != nil {
			// Shared holders are filtered and counted one by one
			// (scan_locks_from_storage), returned in one wrapper.
			fs := &sharedLocks{shrinkOnly: s.shrinkOnly}
			for _, sl := range s.locks {
				if sl.StartTS <= req.GetMaxVersion() && (limit == 0 || count < limit) {
					fs.locks = append(fs.locks, sl)
					count++
				}
			}
			if len(fs.locks) > 0 {
				resp.Locks = append(resp.Locks, fs.lockInfo(raw))
			}
		} else if l.StartTS <= req.GetMaxVersion() {
			resp.Locks = append(resp.Locks, l.lockInfo(raw))
			count++
		}
		return limit == 0 || count < limit
	})
	return resp
}

// DeleteRange is KvDeleteRange: removes every CF entry of user keys in
// [start_key, end_key), including locks. notify_only does nothing.
func (e *Engine) DeleteRange(req *kvrpcpb.DeleteRangeRequest) *kvrpcpb.DeleteRangeResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.DeleteRangeResponse{}
	if req.GetNotifyOnly() {
		return resp
	}
	start, end := req.GetStartKey(), req.GetEndKey()
	if len(end) > 0 && bytes.Compare(start, end) >= 0 {
		return resp
	}
	lo := EncodeKey(start)
	var hi []byte
	if len(end) > 0 {
		hi = EncodeKey(end)
	}
	for _, tr := range []*storeTree{{e.st.def}, {e.st.lock}, {e.st.write}, {e.memLocks}} {
		var del [][]byte
		tr.t.AscendGreaterOrEqual(kvItem{key: lo}, func(it kvItem) bool {
			if hi != nil && bytes.Compare(it.key, hi) >= 0 {
				return false
			}
			del = append(del, it.key)
			return true
		})
		for _, k := range del {
			tr.t.Delete(kvItem{key: k})
		}
	}
	return resp
}

// sortUint64 sorts in place and returns s.
func sortUint64(s []uint64) []uint64 {
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s
}

func boolU(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
