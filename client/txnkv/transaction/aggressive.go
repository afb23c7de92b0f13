package transaction

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/config/retry"
	"github.com/tikvsim/tikvsim/client/kv"
	"github.com/tikvsim/tikvsim/client/rt"
)

// aggressiveLockingContext is the state of aggressive ("fair") locking
// (client-go txn.go aggressiveLockingContext): the locks of the current
// statement attempt, those of the previous attempt, and the primaries
// chosen by both.
type aggressiveLockingContext struct {
	// lastRetryUnnecessaryLocks: locks of the previous attempt not (yet)
	// needed by this one; released when the attempt ends.
	lastRetryUnnecessaryLocks map[string]tempLockBufferEntry
	// currentLockedKeys: locks of this attempt, moved into the write
	// buffer by DoneAggressiveLocking.
	currentLockedKeys      map[string]tempLockBufferEntry
	lastPrimaryKey         []byte
	lastAssignedPrimaryKey bool
	lastAttemptStartTime   time.Time
	primaryKey             []byte
	assignedPrimaryKey     bool
	startTime              time.Time
	// maxLockedWithConflictTS is the largest LockedWithConflictTS of the
	// procedure: pessimistic rollbacks must reach it.
	maxLockedWithConflictTS uint64
}

// ErrAggressiveLockingPending is returned by Commit while aggressive
// locking holds locks of the current attempt: call DoneAggressiveLocking
// (or CancelAggressiveLocking) first (client-go KVTxn.Commit).
var ErrAggressiveLockingPending = errors.New("transaction: commit while aggressive locking is pending")

// tempLockBufferEntry is one key locked during aggressive locking.
type tempLockBufferEntry struct {
	hasReturnValue        bool
	hasCheckExistence     bool
	value                 kv.ReturnedValue
	actualLockForUpdateTS uint64
}

// trySkipLockingOnRetry reports whether a key locked in the previous
// attempt can be reused without asking TiKV again, and adapts the entry to
// the new request (client-go tempLockBufferEntry.trySkipLockingOnRetry).
func (e *tempLockBufferEntry) trySkipLockingOnRetry(returnValue, checkExistence bool) bool {
	if e.value.LockedWithConflictTS != 0 {
		// The statement is retried at a newer for_update_ts that covers
		// the conflict: it is now an ordinary lock.
		e.value.LockedWithConflictTS = 0
	} else {
		if !e.hasReturnValue && returnValue {
			return false
		}
		if !returnValue && !e.hasCheckExistence && checkExistence {
			return false
		}
	}
	if !returnValue {
		e.hasReturnValue = false
		e.value.Value = nil
	}
	if !checkExistence {
		e.hasCheckExistence = false
		e.value.Exists = true
	}
	return true
}

// StartAggressiveLocking enters aggressive locking for a statement
// (client-go KVTxn.StartAggressiveLocking): the locks LockKeys takes are
// kept aside; when the statement is retried after a write conflict
// (RetryAggressiveLocking), locks still needed are reused and the others
// released; single-key LockKeys calls use TiKV's fair locking
// (WakeUpModeForceLock: a conflict locks the key anyway and returns the
// newer value instead of failing). End it with DoneAggressiveLocking or
// CancelAggressiveLocking. It panics when already started, as client-go.
func (t *KVTxn) StartAggressiveLocking() {
	t.pess.lockMu.Lock()
	defer t.pess.lockMu.Unlock()
	if t.pess.aggressive != nil {
		panic("transaction: StartAggressiveLocking while aggressive locking is already started")
	}
	t.pess.aggressive = &aggressiveLockingContext{currentLockedKeys: map[string]tempLockBufferEntry{}, startTime: t.store.RT.Now()}
}

// IsInAggressiveLockingMode reports whether aggressive locking is started.
func (t *KVTxn) IsInAggressiveLockingMode() bool {
	t.pess.lockMu.Lock()
	defer t.pess.lockMu.Unlock()
	return t.pess.aggressive != nil
}

// IsInAggressiveLockingStage reports whether key was locked in the current
// aggressive-locking attempt.
func (t *KVTxn) IsInAggressiveLockingStage(key []byte) bool {
	t.pess.lockMu.Lock()
	defer t.pess.lockMu.Unlock()
	if a := t.pess.aggressive; a != nil {
		_, ok := a.currentLockedKeys[string(key)]
		return ok
	}
	return false
}

// RetryAggressiveLocking ends the current attempt and starts the next one
// (client-go KVTxn.RetryAggressiveLocking): locks of the attempt before it
// that were not needed again are released; this attempt's locks become the
// previous attempt's. It panics outside aggressive locking.
func (t *KVTxn) RetryAggressiveLocking(ctx context.Context) {
	t.pess.lockMu.Lock()
	defer t.pess.lockMu.Unlock()
	a := t.pess.aggressive
	if a == nil {
		panic("transaction: RetryAggressiveLocking outside aggressive locking")
	}
	t.cleanupAggressiveLockingRedundantLocks()
	if a.assignedPrimaryKey {
		a.assignedPrimaryKey = false
		a.lastAssignedPrimaryKey = true
		// Keep the TTL manager: the next attempt may pick the same
		// primary (resetTTLManagerForAggressiveLocking, tidb#58279).
		t.resetPrimary(true)
	}
	a.lastPrimaryKey, a.primaryKey = a.primaryKey, nil
	a.lastAttemptStartTime, a.startTime = a.startTime, t.store.RT.Now()
	a.lastRetryUnnecessaryLocks, a.currentLockedKeys = a.currentLockedKeys, map[string]tempLockBufferEntry{}
}

// CancelAggressiveLocking leaves aggressive locking and releases every
// lock taken during it (client-go KVTxn.CancelAggressiveLocking). It panics
// outside aggressive locking.
func (t *KVTxn) CancelAggressiveLocking(ctx context.Context) {
	t.pess.lockMu.Lock()
	defer t.pess.lockMu.Unlock()
	t.cancelAggressiveLocking()
}

func (t *KVTxn) cancelAggressiveLocking() {
	a := t.pess.aggressive
	if a == nil {
		panic("transaction: CancelAggressiveLocking outside aggressive locking")
	}
	defer func() { t.pess.aggressive = nil }() // even on a panic (tidb#53540)
	t.cleanupAggressiveLockingRedundantLocks()
	if a.assignedPrimaryKey || a.lastAssignedPrimaryKey {
		t.resetPrimary(false)
		a.assignedPrimaryKey = false
	}
	keys := sortedKeys(a.currentLockedKeys)
	if len(keys) != 0 {
		t.asyncPessimisticRollback(keys, max(t.pess.committer.forUpdateTS, a.maxLockedWithConflictTS))
		t.pess.lockedCnt -= len(keys)
	}
}

// DoneAggressiveLocking leaves aggressive locking keeping the current
// attempt's locks: they go into the write buffer as if LockKeys had taken
// them normally, each with the for_update_ts it was actually locked at,
// which prewrite then checks (client-go KVTxn.DoneAggressiveLocking,
// forUpdateTSChecks; tikv#14311). Unneeded locks of the previous attempt
// are released. It panics outside aggressive locking.
func (t *KVTxn) DoneAggressiveLocking(ctx context.Context) {
	t.pess.lockMu.Lock()
	defer t.pess.lockMu.Unlock()
	t.doneAggressiveLocking()
}

func (t *KVTxn) doneAggressiveLocking() {
	a := t.pess.aggressive
	if a == nil {
		panic("transaction: DoneAggressiveLocking outside aggressive locking")
	}
	defer func() { t.pess.aggressive = nil }()
	c := t.pess.committer
	if a.lastAssignedPrimaryKey && !a.assignedPrimaryKey && c != nil {
		// Nothing is locked in the end and the TTL manager was started
		// for a primary of an earlier attempt: stop it.
		c.resetTTLManager()
	}
	t.cleanupAggressiveLockingRedundantLocks()
	t.mu.Lock()
	for _, key := range sortedKeys(a.currentLockedKeys) {
		e := a.currentLockedKeys[string(key)]
		exist := kv.SetKeyLockedValueExists
		if (e.hasCheckExistence || e.hasReturnValue) && !e.value.Exists {
			exist = kv.SetKeyLockedValueNotExists
		}
		t.buf.UpdateFlags(key, kv.SetKeyLocked, kv.DelNeedCheckExists, exist)
		if t.pess.forUpdateTSChecks == nil {
			t.pess.forUpdateTSChecks = map[string]uint64{}
		}
		if _, ok := t.pess.forUpdateTSChecks[string(key)]; !ok {
			t.pess.forUpdateTSChecks[string(key)] = e.actualLockForUpdateTS
		}
	}
	t.mu.Unlock()
	if c != nil && a.maxLockedWithConflictTS > c.maxLockedWithConflictTS {
		c.maxLockedWithConflictTS = a.maxLockedWithConflictTS
	}
}

// cleanupAggressiveLockingRedundantLocks releases the previous attempt's
// locks that this attempt did not take again.
func (t *KVTxn) cleanupAggressiveLockingRedundantLocks() {
	a := t.pess.aggressive
	keys := sortedKeys(a.lastRetryUnnecessaryLocks)
	if len(keys) == 0 {
		return
	}
	t.asyncPessimisticRollback(keys, max(t.pess.committer.forUpdateTS, a.maxLockedWithConflictTS))
	t.pess.lockedCnt -= len(keys)
	a.lastRetryUnnecessaryLocks = nil
}

func sortedKeys(m map[string]tempLockBufferEntry) [][]byte {
	out := make([][]byte, 0, len(m))
	for k := range m {
		out = append(out, []byte(k))
	}
	slices.SortFunc(out, bytes.Compare)
	return out
}

// exitAggressiveLockingIfInapplicable: a multi-key LockKeys cannot use fair
// locking; the procedure ends as if done (client-go
// exitAggressiveLockingIfInapplicable).
func (t *KVTxn) exitAggressiveLockingIfInapplicable(_ context.Context, keys [][]byte) error {
	if t.pess.aggressive != nil && len(keys) > 1 {
		t.doneAggressiveLocking()
	}
	return nil
}

// filterAggressiveLockedKeys drops the keys locked in the previous attempt
// that can be reused: the primary is unchanged, the entry has the
// information the request wants, and the previous attempt is recent enough
// that its locks cannot have expired (client-go
// filterAggressiveLockedKeys).
func (t *KVTxn) filterAggressiveLockedKeys(lockCtx *kv.LockCtx, all [][]byte) [][]byte {
	a := t.pess.aggressive
	canTrySkip := !a.assignedPrimaryKey || bytes.Equal(a.lastPrimaryKey, a.primaryKey)
	mayExpire := rt.Since(t.store.RT, a.lastAttemptStartTime) >= managedLockTTL
	var out [][]byte
	for _, k := range all {
		if last, ok := a.lastRetryUnnecessaryLocks[string(k)]; ok {
			delete(a.lastRetryUnnecessaryLocks, string(k))
			if canTrySkip && last.trySkipLockingOnRetry(lockCtx.ReturnValues, lockCtx.CheckExistence) && !mayExpire {
				if lockCtx.Values != nil {
					lockCtx.SetValue(k, last.value)
				}
				a.currentLockedKeys[string(k)] = last
				continue
			}
		}
		out = append(out, k)
	}
	return out
}

// resetTTLManagerForAggressiveLocking restarts the TTL manager when an
// attempt picked a new primary (client-go
// resetTTLManagerForAggressiveLockingMode).
func (t *KVTxn) resetTTLManagerForAggressiveLocking(hasNewLock, assignedPrimary bool) {
	a := t.pess.aggressive
	if hasNewLock && assignedPrimary && !bytes.Equal(a.primaryKey, a.lastPrimaryKey) {
		t.pess.committer.resetTTLManager()
	}
}

// handleForceLockResponse is client-go
// handlePessimisticLockResponseForceLockMode: one key, a result per key;
// LockedWithConflict records the newer value and its commit ts; Failed (or a
// shared lock in the way) resolves the blocking locks and asks again.
func (c *committer) handleForceLockResponse(bo *retry.Backoffer, act *lockAction, b batch, isPrimary bool,
	req *kvrpcpb.PessimisticLockRequest, lr *kvrpcpb.PessimisticLockResponse) (bool, error) {
	if len(b.keys) != 1 || len(lr.Results) > 1 {
		return true, fmt.Errorf("transaction %d: force-lock request for %d keys got %d results", c.startTS, len(b.keys), len(lr.Results))
	}
	failed := false
	for _, ke := range lr.Errors {
		if len(ke.GetLocked().GetSharedLockInfos()) > 0 {
			failed = true
		}
	}
	if isPrimary && len(lr.Results) > 0 && lr.Results[0].Type != kvrpcpb.PessimisticLockKeyResultType_LockResultFailed {
		c.startTTLManagerOnce()
	}
	key := b.keys[0]
	if len(lr.Results) > 0 {
		res := lr.Results[0]
		switch res.Type {
		case kvrpcpb.PessimisticLockKeyResultType_LockResultNormal:
			if act.ReturnValues {
				act.SetValue(key, kv.ReturnedValue{Value: res.Value, Exists: res.Existence})
			} else if act.CheckExistence {
				act.SetValue(key, kv.ReturnedValue{Exists: res.Existence})
			}
		case kvrpcpb.PessimisticLockKeyResultType_LockResultLockedWithConflict:
			act.SetValue(key, kv.ReturnedValue{Value: res.Value, Exists: res.Existence, LockedWithConflictTS: res.LockedWithConflictTs})
			act.ValuesLock.Lock()
			act.MaxLockedWithConflictTS = max(act.MaxLockedWithConflictTS, res.LockedWithConflictTs)
			act.ValuesLock.Unlock()
		case kvrpcpb.PessimisticLockKeyResultType_LockResultFailed:
			failed = true
		default:
			return true, fmt.Errorf("transaction %d: unknown force-lock result %v", c.startTS, res.Type)
		}
	}
	if failed {
		return c.resolveForLock(bo, act, req, lr.Errors)
	}
	for _, ke := range lr.Errors {
		// A final error (already exists, write conflict, ...) comes back
		// as is; a lock without a Failed result is a corrupted answer.
		if ke.GetLocked() == nil {
			return true, finalKeyErr(ke)
		}
		return true, fmt.Errorf("transaction %d: force-lock response with a lock but no Failed result", c.startTS)
	}
	if len(lr.Results) == 0 {
		return true, fmt.Errorf("transaction %d: force-lock response corrupted (no results)", c.startTS)
	}
	return true, nil
}
