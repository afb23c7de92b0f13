package mvcc

import (
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/internal/invariants"
)

// aplResult is one key's PessimisticLockKeyResult.
type aplResult struct {
	value        []byte
	exists       bool
	conflictTS   uint64 // locked with conflict at this commit_ts
	notLocked    bool   // lock_only_if_exists on a missing key
	checkedValue bool
}

// acquireKey is actions/acquire_pessimistic_lock.rs acquire_pessimistic_lock.
// acqBlock says why an acquire stopped at another transaction's lock:
// holders are the start_ts values to wait for; shrink, when set, is the
// key's shared locks just marked shrink-only (answered at once, no wait).
type acqBlock struct {
	holders []uint64
	shrink  *sharedLocks
}

func (t *mvccTxn) acquireKey(req *kvrpcpb.PessimisticLockRequest, m *kvrpcpb.Mutation, allowConflict bool) (aplResult, *kvrpcpb.KeyError, *acqBlock) {
	raw := m.GetKey()
	enc := EncodeKey(raw)
	isShared := m.GetOp() == kvrpcpb.Op_SharedPessimisticLock
	if s := t.s.getShared(enc); s != nil || isShared {
		if l := t.s.getLock(enc); l != nil {
			// Share-mode request vs an exclusive lock.
			return aplResult{}, errLocked(l, raw), &acqBlock{holders: []uint64{l.StartTS}}
		}
		if !isShared {
			if !s.shrinkOnly {
				ns := s.clone()
				ns.shrinkOnly = true
				return aplResult{}, &kvrpcpb.KeyError{Locked: ns.lockInfo(raw)}, &acqBlock{shrink: ns}
			}
			return aplResult{}, &kvrpcpb.KeyError{Locked: s.lockInfo(raw)}, &acqBlock{holders: sharedHolders(s)}
		}
		if m.GetAssertion() == kvrpcpb.Assertion_NotExist || req.GetReturnValues() || req.GetCheckExistence() {
			t.e.updateMaxTS(req.GetForUpdateTs())
		}
		res, kerr, wait := t.acquireShared(req, raw, enc, s)
		if kerr != nil && wait {
			return res, kerr, &acqBlock{holders: sharedHolders(s)}
		}
		return res, kerr, nil
	}
	startTS, forUpdateTS := req.GetStartVersion(), req.GetForUpdateTs()
	shouldNotExist := m.GetAssertion() == kvrpcpb.Assertion_NotExist
	needValue := req.GetReturnValues()
	needExist := req.GetCheckExistence()
	var res aplResult
	if req.GetLockOnlyIfExists() && !needValue {
		return res, errAbort("LockIfExistsFailed { start_ts: %d, key: %X }", startTS, raw), nil
	}
	if shouldNotExist || needValue || needExist {
		t.e.updateMaxTS(forUpdateTS)
	}
	load := func(ts uint64) {
		v, _, found := t.s.getValueAt(enc, ts)
		res.value, res.exists, res.checkedValue = v, found, true
	}
	if l := t.s.getLock(enc); l != nil {
		if l.StartTS != startTS {
			return res, errLocked(l, raw), &acqBlock{holders: []uint64{l.StartTS}}
		}
		if l.Type != LockPessimistic {
			return res, errAbort("LockTypeNotMatch { start_ts: %d, key: %X, pessimistic: false }", startTS, raw), nil
		}
		// handle_existing_exclusive_lock: re-check at the (possibly lock's)
		// for_update_ts; rewrite only when for_update_ts grows.
		readTS := forUpdateTS
		if allowConflict && forUpdateTS < l.ForUpdateTS {
			readTS = l.ForUpdateTS
			res.conflictTS = l.ForUpdateTS
		}
		if needValue || needExist || shouldNotExist || res.conflictTS != 0 {
			if w, cts := t.s.latestDataWrite(enc, readTS); w != nil {
				if perr := t.checkDataConstraint(shouldNotExist, w, cts, raw, enc); perr != nil {
					if cts > forUpdateTS {
						return res, errWriteConflict(startTS, w.StartTS, cts, raw, req.GetPrimaryLock(), kvrpcpb.WriteConflict_PessimisticRetry), nil
					}
					return res, perr.kerr, nil
				}
			}
			load(readTS)
		}
		if readTS > l.ForUpdateTS {
			// The rewritten lock takes the request's primary: aggressive
			// locking may switch primaries between statement attempts
			// (handle_existing_exclusive_lock writes primary.into()).
			nl := l.clone()
			nl.Primary = append([]byte(nil), req.GetPrimaryLock()...)
			nl.ForUpdateTS = readTS
			nl.TTL = req.GetLockTtl()
			nl.MinCommitTS = req.GetMinCommitTs()
			t.putLock(enc, nl)
		}
		return res, nil, nil
	}
	lockFUT := forUpdateTS
	invariants.Assert(t.s.getLock(enc) == nil, "acquiring %x over a lock", raw)
	if cts, w := t.s.seekWrite(enc, maxTS); w != nil {
		if cts > forUpdateTS {
			if !allowConflict {
				return res, errWriteConflict(startTS, w.StartTS, cts, raw, req.GetPrimaryLock(), kvrpcpb.WriteConflict_PessimisticRetry), nil
			}
			res.conflictTS = cts
			lockFUT = cts
		}
		if cts == startTS && (w.Type == WriteRollback || w.HasOverlappedRollback) {
			return res, errAbort("PessimisticLockRolledBack { start_ts: %d, key: %X }", startTS, raw), nil
		}
		if cts > startTS {
			if ocs, ow := t.s.seekWrite(enc, startTS); ow != nil && ocs == startTS && (ow.Type == WriteRollback || ow.HasOverlappedRollback) {
				return res, errAbort("PessimisticLockRolledBack { start_ts: %d, key: %X }", startTS, raw), nil
			}
		}
		if perr := t.checkDataConstraint(shouldNotExist, w, cts, raw, enc); perr != nil {
			if res.conflictTS != 0 {
				return res, errWriteConflict(startTS, w.StartTS, cts, raw, req.GetPrimaryLock(), kvrpcpb.WriteConflict_PessimisticRetry), nil
			}
			return res, perr.kerr, nil
		}
	}
	if needValue || needExist || res.conflictTS != 0 || req.GetLockOnlyIfExists() {
		load(maxTS)
	}
	if req.GetLockOnlyIfExists() && !res.exists {
		if res.conflictTS != 0 {
			cts, w := t.s.seekWrite(enc, maxTS)
			return res, errWriteConflict(startTS, w.StartTS, cts, raw, req.GetPrimaryLock(), kvrpcpb.WriteConflict_PessimisticRetry), nil
		}
		res.notLocked = true
		return res, nil, nil
	}
	l := &Lock{Type: LockPessimistic, Primary: append([]byte(nil), req.GetPrimaryLock()...), StartTS: startTS,
		TTL: req.GetLockTtl(), ForUpdateTS: lockFUT, MinCommitTS: req.GetMinCommitTs(), IsLockedWithConflict: res.conflictTS != 0}
	invariants.Assert(l.ForUpdateTS >= forUpdateTS, "lock for_update_ts went backwards")
	t.putLock(enc, l)
	return res, nil, nil
}

func sharedHolders(s *sharedLocks) []uint64 {
	var out []uint64
	for _, l := range s.locks {
		out = append(out, l.StartTS)
	}
	return out
}

// LockWait describes a PessimisticLock request that must wait for another
// transaction's lock. The engine keeps the waiter queued; the caller parks
// the request and then exactly one of these happens:
//
//   - a Wakeup with this Token arrives through Ready (lock released, or a
//     delayed notify fired): finish the request with Wakeup.Resp, or, when
//     Wakeup.Retry is set, call PessimisticLock again with the original
//     request (resumable ForceLock waiters);
//   - Timeout elapses on the caller's clock first: call CancelLockWait,
//     which answers KeyIsLocked as TiKV does on wait timeout;
//   - the engine restarts: Restart returns the token; fail the request like
//     a lost connection.
type LockWait struct {
	Token       uint64
	StartTS     uint64
	ForUpdateTS uint64
	// Key is the raw key waited on; Lock is the lock held on it (a
	// SharedLock wrapper when held in share mode); Holders lists the
	// start_ts of every holder.
	Key     []byte
	Lock    *kvrpcpb.LockInfo
	Holders []uint64
	// Timeout is the wait's deadline: wait_timeout (0 = default), capped at
	// Config.WaitForLockTimeout.
	Timeout time.Duration
	Mode    kvrpcpb.PessimisticLockWakeUpMode
}

// PessimisticLock is KvPessimisticLock (commands/acquire_pessimistic_lock.rs).
// It returns exactly one of a response or a LockWait. The lock wait happens
// only when a key is locked by another txn and wait_timeout >= 0; with
// wait_timeout < 0 the KeyIsLocked error is returned at once. A multi-key
// request that meets a lock discards the keys it locked so far and waits on
// that key. Deadlock detection (skipped for is_first_lock) answers a
// Deadlock error instead of waiting.
func (e *Engine) PessimisticLock(req *kvrpcpb.PessimisticLockRequest) (*kvrpcpb.PessimisticLockResponse, *LockWait) {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.PessimisticLockResponse{}
	force := req.GetWakeUpMode() == kvrpcpb.PessimisticLockWakeUpMode_WakeUpModeForceLock
	// fail answers a command error: kv.rs sets only errors.
	fail := func(kerr *kvrpcpb.KeyError) *kvrpcpb.PessimisticLockResponse {
		resp.Errors = []*kvrpcpb.KeyError{kerr}
		return resp
	}
	// failLocked answers a lock the request does not wait for (no-wait,
	// deadlock): in ForceLock mode the key's result is Failed as well
	// (commands/acquire_pessimistic_lock.rs, PessimisticLockResults::into_pb).
	failLocked := func(kerr *kvrpcpb.KeyError) *kvrpcpb.PessimisticLockResponse {
		resp.Errors = []*kvrpcpb.KeyError{kerr}
		if force {
			resp.Results = []*kvrpcpb.PessimisticLockKeyResult{{Type: kvrpcpb.PessimisticLockKeyResultType_LockResultFailed}}
		}
		return resp
	}
	keys := make([][]byte, 0, len(req.GetMutations()))
	for _, m := range req.GetMutations() {
		if m == nil || (m.GetOp() != kvrpcpb.Op_PessimisticLock && m.GetOp() != kvrpcpb.Op_SharedPessimisticLock) {
			return fail(errAbort("invalid mutation in pessimistic lock request")), nil
		}
		keys = append(keys, m.GetKey())
	}
	if kerr := e.checkTxnKeys(req.GetContext(), keys...); kerr != nil {
		return fail(kerr), nil
	}
	if force && len(keys) > 1 {
		return fail(errAbort("Invalid request: allow_lock_with_conflict with more than one key")), nil
	}
	if req.GetStartVersion() == 0 && len(keys) > 0 {
		return fail(errZeroTS()), nil
	}
	e.beginCmd(req.GetContext(), false)
	t := e.newTxn(req.GetStartVersion())
	var results []aplResult
	for _, m := range req.GetMutations() {
		r, kerr, blk := t.acquireKey(req, m, force)
		if rerr := e.takeMaxTSErr(); rerr != nil {
			t.clear()
			return &kvrpcpb.PessimisticLockResponse{RegionError: rerr}, nil
		}
		if kerr == nil {
			results = append(results, r)
			continue
		}
		t.clear()
		if blk != nil && blk.shrink != nil {
			// An exclusive request marks the shared locks shrink-only and
			// fails at once (commands/acquire_pessimistic_lock.rs, tikv#19313).
			t.putShared(EncodeKey(m.GetKey()), m.GetKey(), blk.shrink, nil, 0)
			t.commit()
			return fail(kerr), nil
		}
		if blk == nil {
			return fail(kerr), nil
		}
		if req.GetWaitTimeout() < 0 {
			return failLocked(kerr), nil
		}
		return e.startWait(req, m.GetKey(), blk.holders, kerr, failLocked)
	}
	invariants.Assert(len(results) == len(req.GetMutations()), "%d results for %d mutations", len(results), len(req.GetMutations()))
	t.commit()
	for _, r := range results {
		if force {
			kr := &kvrpcpb.PessimisticLockKeyResult{Type: kvrpcpb.PessimisticLockKeyResultType_LockResultNormal}
			if r.conflictTS != 0 {
				kr.Type = kvrpcpb.PessimisticLockKeyResultType_LockResultLockedWithConflict
				kr.LockedWithConflictTs = r.conflictTS
			}
			// PessimisticLockKeyResult::new_success + into_pb: a value (and
			// existence) with return_values or a conflict, existence alone
			// with check_existence.
			switch {
			case r.conflictTS != 0 || req.GetReturnValues():
				if r.exists {
					kr.Value = append([]byte{}, r.value...)
				}
				kr.Existence = r.exists
			case req.GetCheckExistence():
				kr.Existence = r.exists
			}
			resp.Results = append(resp.Results, kr)
			continue
		}
		if req.GetReturnValues() {
			resp.Values = append(resp.Values, append([]byte(nil), r.value...))
			resp.NotFounds = append(resp.NotFounds, !r.exists)
		} else if req.GetCheckExistence() {
			resp.NotFounds = append(resp.NotFounds, !r.exists)
		}
	}
	return resp, nil
}

// PessimisticRollback is KvPessimisticRollback: removes this txn's
// pessimistic locks whose for_update_ts <= for_update_ts. Empty keys scans
// the whole engine (see PessimisticRollbackInRange). No rollback record is
// written.
func (e *Engine) PessimisticRollback(req *kvrpcpb.PessimisticRollbackRequest) *kvrpcpb.PessimisticRollbackResponse {
	return e.PessimisticRollbackInRange(req, nil, nil)
}

// PessimisticRollbackInRange is PessimisticRollback whose region-wide form
// (empty keys) is clipped to [start, end).
func (e *Engine) PessimisticRollbackInRange(req *kvrpcpb.PessimisticRollbackRequest, start, end []byte) *kvrpcpb.PessimisticRollbackResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.PessimisticRollbackResponse{}
	if kerr := e.checkTxnKeys(req.GetContext(), req.GetKeys()...); kerr != nil {
		resp.Errors = []*kvrpcpb.KeyError{kerr}
		return resp
	}
	keys := req.GetKeys()
	if len(keys) == 0 {
		e.forEachLock(start, end, func(raw []byte, l *Lock, s *sharedLocks) bool {
			if s != nil {
				l = s.get(req.GetStartVersion())
			}
			if l != nil && l.StartTS == req.GetStartVersion() && l.Type == LockPessimistic {
				keys = append(keys, raw)
			}
			return true
		})
	}
	t := e.newTxn(req.GetStartVersion())
	for _, k := range keys {
		enc := EncodeKey(k)
		if s := t.s.getShared(enc); s != nil {
			if sl := s.get(req.GetStartVersion()); sl != nil && sl.Type == LockPessimistic && sl.ForUpdateTS <= req.GetForUpdateTs() {
				ns := s.clone()
				ns.remove(sl.StartTS)
				t.putShared(enc, k, ns, sl, 0)
			}
			continue
		}
		l := t.s.getLock(enc)
		if l != nil && l.Type == LockPessimistic && l.StartTS == req.GetStartVersion() && l.ForUpdateTS <= req.GetForUpdateTs() {
			t.unlockKey(enc, k, l, 0)
		}
	}
	t.commit()
	return resp
}
