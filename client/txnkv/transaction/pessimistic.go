package transaction

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/config/retry"
	"github.com/tikvsim/tikvsim/client/kv"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/txnkv/txnlock"
	"github.com/tikvsim/tikvsim/client/util/farm"
)

const (
	// pessimisticLockMaxBackoff is the backoff budget of one LockKeys, in ms
	// (client-go pessimisticLockMaxBackoff, 20s).
	pessimisticLockMaxBackoff = 20000
	// pessimisticRollbackMaxBackoff is the budget of a pessimistic rollback
	// (client-go cleanupMaxBackoff, 20s).
	pessimisticRollbackMaxBackoff = 20000
	// skipResolveThresholdMs: a lock updated this recently (TiKV's wait
	// timeout answer carries duration_to_last_update_ms) belongs to a live
	// transaction; ask again instead of resolving it (client-go
	// pessimistic.go skipResolveThresholdMs, cg #758).
	skipResolveThresholdMs = 300
	// retryableDeadlockPause: after a deadlock on one of its own keys, the
	// statement waits this long, once its locks are rolled back, so the
	// transaction it blocked gets the lock (client-go txn.go lockKeys,
	// 5 ms).
	retryableDeadlockPause = 5 * time.Millisecond
	// lockRequestTimeout is the RPC timeout of a lock request (client-go
	// ReadTimeoutShort): TiKV answers a wait within wait-for-lock-timeout.
	lockRequestTimeout = 30 * time.Second
)

// Shared-lock misuse (client-go txn.go lockKeys): a share-mode lock needs
// an exclusive primary chosen by an earlier LockKeys, cannot be taken in
// aggressive locking, and a key locked in share mode cannot be upgraded
// to an exclusive lock.
var (
	ErrSharedLockNeedsPrimary = errors.New("transaction: pessimistic lock in share mode requires the primary key to be selected")
	ErrSharedLockInAggressive = errors.New("transaction: shared lock is not supported in aggressive (fair) locking mode")
	ErrSharedLockUpgrade      = errors.New("transaction: upgrading a shared lock to an exclusive lock is not supported")
)

// ErrNotPessimisticForAggressiveLocking is returned by LockKeys on an
// optimistic transaction in aggressive locking mode.
var ErrNotPessimisticForAggressiveLocking = errors.New("transaction: aggressive locking in an optimistic transaction")

// pessimisticState is the pessimistic part of a KVTxn. lockMu is a runtime
// mutex (held across RPCs) that serialises LockKeys, aggressive-locking
// calls, Commit and Rollback; the fields below are guarded by it.
type pessimisticState struct {
	lockMu      sync.Locker
	pessimistic bool
	// committer exists from the first LockKeys that locked at a
	// for_update_ts; it holds the primary, the for_update_ts and the TTL
	// manager, and Commit reuses it (client-go txn.committer).
	committer *committer
	// lockedCnt counts the keys locked on TiKV (client-go lockedCnt).
	lockedCnt int
	// aggressive is the aggressive-locking state, nil outside it.
	aggressive *aggressiveLockingContext
	// forUpdateTSChecks: keys locked by aggressive locking, with the
	// for_update_ts their lock must still have at prewrite (client-go
	// forUpdateTSChecks; guarded by the KVTxn's mu).
	forUpdateTSChecks map[string]uint64
}

// SetPessimistic makes the transaction pessimistic (client-go
// KVTxn.SetPessimistic): LockKeys then takes pessimistic locks on TiKV at
// the LockCtx's for_update_ts, and Commit prewrites locked keys with the
// pessimistic check. Call it before the first LockKeys.
func (t *KVTxn) SetPessimistic(b bool) {
	t.pess.lockMu.Lock()
	defer t.pess.lockMu.Unlock()
	t.pess.pessimistic = b
}

// IsPessimistic reports whether the transaction is pessimistic.
func (t *KVTxn) IsPessimistic() bool {
	t.pess.lockMu.Lock()
	defer t.pess.lockMu.Unlock()
	return t.pess.pessimistic
}

// GetForUpdateTS returns the for_update_ts of the latest LockKeys (0 before
// the first one); prewrite sends it.
func (t *KVTxn) GetForUpdateTS() uint64 {
	t.pess.lockMu.Lock()
	defer t.pess.lockMu.Unlock()
	if t.pess.committer == nil {
		return 0
	}
	return t.pess.committer.forUpdateTS
}

// PrimaryKey returns the primary key chosen by the first LockKeys of a
// pessimistic transaction, or nil.
func (t *KVTxn) PrimaryKey() []byte {
	t.pess.lockMu.Lock()
	defer t.pess.lockMu.Unlock()
	if t.pess.committer == nil {
		return nil
	}
	return t.pess.committer.primary
}

// LockKeysWithWaitTime locks keys with a fresh for_update_ts (from PD for a
// pessimistic transaction, the start ts for an optimistic one), waiting at
// most lockWaitTime ms for locks of other transactions (kv.LockAlwaysWait,
// kv.LockNoWait) (client-go KVTxn.LockKeysWithWaitTime).
func (t *KVTxn) LockKeysWithWaitTime(ctx context.Context, lockWaitTime int64, keys ...[]byte) error {
	forUpdateTS := t.startTS
	if t.IsPessimistic() {
		ts, err := t.store.Oracle.GetTimestamp(ctx)
		if err != nil {
			return fmt.Errorf("transaction %d: get for_update_ts: %w", t.startTS, err)
		}
		forUpdateTS = ts
	}
	return t.LockKeys(ctx, kv.NewLockCtx(forUpdateTS, lockWaitTime, t.store.RT.Now()), keys...)
}

// LockKeys locks keys for the transaction (client-go KVTxn.LockKeys).
//
// In an optimistic transaction (or with lockCtx.ForUpdateTS 0) the keys are
// only marked locked: Commit prewrites them as Lock mutations, so a
// concurrent write to them makes the commit fail.
//
// In a pessimistic transaction every key not locked yet is locked on TiKV
// at lockCtx.ForUpdateTS, one request per region, the region of the
// primary first (the first LockKeys picks the smallest key as the primary
// and starts the TTL manager once it is locked). A key locked by another
// transaction makes TiKV park the request until that lock goes away or its
// wait times out (wait-for-lock-timeout); the client then resolves the lock
// if its transaction is finished and asks again, for at most the LockCtx's
// wait time. Outcomes:
//   - nil: every key is locked, marked locked in the write buffer, and
//     Values filled per ReturnValues / CheckExistence;
//   - *tikverr.ErrWriteConflict: a key was written after ForUpdateTS;
//     retry the statement with a newer for_update_ts (what TiDB does);
//   - *tikverr.ErrDeadlock: a deadlock cycle; IsRetryable when the cycle
//     goes through a key of this call;
//   - tikverr.ErrLockWaitTimeout, tikverr.ErrLockAcquireFailAndNoWaitSet,
//     tikverr.ErrQueryInterrupted (Killed), *tikverr.ErrKeyExist (a key
//     presumed absent exists), or a send error.
//
// On any error the keys this call may have locked are rolled back in the
// background (pessimistic rollback), and a primary chosen by this call is
// unset again; keys locked by earlier calls stay locked.
func (t *KVTxn) LockKeys(ctx context.Context, lockCtx *kv.LockCtx, keys ...[]byte) error {
	t.pess.lockMu.Lock()
	defer t.pess.lockMu.Unlock()
	if !t.Valid() {
		return ErrInvalidTxn
	}
	p := &t.pess
	if lockCtx.InShareMode && p.aggressive != nil {
		return ErrSharedLockInAggressive
	}
	if !p.pessimistic && p.aggressive != nil {
		return ErrNotPessimisticForAggressiveLocking
	}
	if err := t.exitAggressiveLockingIfInapplicable(ctx, keys); err != nil {
		return err
	}
	todo, err := t.filterLocked(lockCtx, keys)
	if err != nil || len(todo) == 0 {
		return err
	}
	if lockCtx.LockOnlyIfExists {
		if !lockCtx.ReturnValues {
			return &tikverr.ErrLockOnlyIfExistsNoReturnValue{StartTS: t.startTS, ForUpdateTs: lockCtx.ForUpdateTS, LockKey: todo[0]}
		}
		// A key that may not exist cannot become the primary of a
		// multi-key lock (client-go txn.go lockKeys).
		if (p.committer == nil || p.committer.primary == nil) && len(todo) > 1 {
			return &tikverr.ErrLockOnlyIfExistsNoPrimaryKey{StartTS: t.startTS, ForUpdateTs: lockCtx.ForUpdateTS, LockKey: todo[0]}
		}
	}
	todo = dedupSorted(todo)
	checkedExistence := false
	if p.pessimistic && lockCtx.ForUpdateTS > 0 {
		if p.committer == nil {
			p.committer = t.newCommitter()
		}
		c := p.committer
		assignedPrimary := false
		if c.primary == nil {
			if lockCtx.InShareMode {
				// A shared key cannot carry the transaction's status
				// (client-go 2pc.go: TODO(slock)).
				return ErrSharedLockNeedsPrimary
			}
			assignedPrimary = true
			t.selectPrimaryForPessimisticLock(todo)
		}
		c.forUpdateTS = lockCtx.ForUpdateTS
		all := todo
		mode := kvrpcpb.PessimisticLockWakeUpMode_WakeUpModeNormal
		if p.aggressive != nil {
			todo = t.filterAggressiveLockedKeys(lockCtx, all)
			t.resetTTLManagerForAggressiveLocking(len(todo) != 0, assignedPrimary)
			if len(todo) == 0 {
				return nil
			}
			if len(todo) == 1 {
				mode = kvrpcpb.PessimisticLockWakeUpMode_WakeUpModeForceLock
			}
		}
		bo := c.backoffer(ctx, pessimisticLockMaxBackoff)
		// A single key cannot take part in a deadlock cycle of this
		// request: TiKV skips detection for the first lock of a txn
		// (client-go isFirstLock).
		act := &lockAction{LockCtx: lockCtx, mode: mode, isFirstLock: p.lockedCnt == 0 && len(todo) == 1}
		err := c.pessimisticLockKeys(bo, act, todo)
		if p.aggressive != nil && lockCtx.MaxLockedWithConflictTS > p.aggressive.maxLockedWithConflictTS {
			p.aggressive.maxLockedWithConflictTS = lockCtx.MaxLockedWithConflictTS
		}
		if err != nil {
			t.onLockFailure(ctx, lockCtx, err, all, todo, assignedPrimary)
			return err
		}
		if lockCtx.CheckExistence {
			checkedExistence = true
		}
		if assignedPrimary && lockCtx.LockOnlyIfExists {
			// The only key did not exist: nothing was locked, so it is not
			// the primary (client-go unsetPrimaryKeyIfNeeded).
			if rv, ok := lockCtx.Values[string(c.primary)]; ok && !rv.Exists {
				t.resetPrimary(false)
			}
		}
	}
	return t.markLocked(lockCtx, todo, checkedExistence)
}

// filterLocked drops keys already locked by this transaction (client-go
// lockKeys' first loop): they report AlreadyLocked with ReturnValues, and a
// locked key that must not exist but existed fails with ErrKeyExist.
func (t *KVTxn) filterLocked(lockCtx *kv.LockCtx, keys [][]byte) ([][]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([][]byte, 0, len(keys))
	for _, key := range keys {
		var locked, valueExist, checkExists, shared bool
		if f, err := t.buf.GetFlags(key); err == nil {
			locked, valueExist, checkExists = f.HasLocked(), f.HasLockedValueExists(), f.HasNeedCheckExists()
			shared = f.HasLocked() && f.HasLockedInShareMode()
		}
		if shared && !lockCtx.InShareMode {
			return nil, ErrSharedLockUpgrade
		}
		lastStage := false
		if a := t.pess.aggressive; a != nil {
			if e, ok := a.currentLockedKeys[string(key)]; ok {
				locked, valueExist = true, e.value.Exists
			} else if e, ok := a.lastRetryUnnecessaryLocks[string(key)]; ok {
				locked, valueExist, lastStage = true, e.value.Exists, true
			}
		}
		if !locked || lastStage {
			out = append(out, slices.Clone(key))
		}
		if locked && t.pess.pessimistic && checkExists && valueExist {
			return nil, &tikverr.ErrKeyExist{AlreadyExist: &kvrpcpb.AlreadyExist{Key: key}}
		}
		if locked && lockCtx.ReturnValues {
			lockCtx.SetValue(key, kv.ReturnedValue{AlreadyLocked: true})
		}
	}
	return out, nil
}

// dedupSorted sorts keys and drops duplicates (client-go deduplicateKeys).
func dedupSorted(keys [][]byte) [][]byte {
	slices.SortFunc(keys, bytes.Compare)
	return slices.CompactFunc(keys, bytes.Equal)
}

// selectPrimaryForPessimisticLock picks the primary among the sorted keys
// of the first LockKeys: the previous attempt's primary in aggressive
// locking when it is among them, else the smallest key (client-go
// selectPrimaryForPessimisticLock).
func (t *KVTxn) selectPrimaryForPessimisticLock(sorted [][]byte) {
	c := t.pess.committer
	c.primary = sorted[0]
	if a := t.pess.aggressive; a != nil {
		if a.lastPrimaryKey != nil {
			if i, ok := slices.BinarySearchFunc(sorted, a.lastPrimaryKey, bytes.Compare); ok {
				c.primary = sorted[i]
			}
		}
		a.assignedPrimaryKey = true
		a.primaryKey = c.primary
	}
}

// resetPrimary unsets the primary (client-go resetPrimary): the first lock
// failed or was rolled back, so another key may become the primary. The TTL
// manager stops unless keepTTLManager.
func (t *KVTxn) resetPrimary(keepTTLManager bool) {
	c := t.pess.committer
	c.primary = nil
	if !keepTTLManager {
		c.resetTTLManager()
	}
}

// onLockFailure is client-go lockKeys' error path: presume-not-exist marks
// are removed, keys that may have been locked are rolled back in the
// background (waited for on a retryable deadlock, then a short pause), and a
// primary assigned by this call is unset.
func (t *KVTxn) onLockFailure(ctx context.Context, lockCtx *kv.LockCtx, err error, all, sent [][]byte, assignedPrimary bool) {
	t.mu.Lock()
	for _, key := range sent {
		if f, ferr := t.buf.GetFlags(key); ferr == nil && f.HasPresumeKeyNotExists() {
			t.buf.UpdateFlags(key, kv.DelPresumeKeyNotExists)
		}
	}
	t.mu.Unlock()
	mayBeLocked := !tikverr.IsErrWriteConflict(err) && !tikverr.IsErrKeyExist(err)
	if len(sent) > 1 || mayBeLocked {
		var dl *tikverr.ErrDeadlock
		isDeadlock := errors.As(err, &dl)
		if isDeadlock {
			dl.IsRetryable = hashInKeys(dl.DeadlockKeyHash, sent)
			if lockCtx.OnDeadlock != nil {
				lockCtx.OnDeadlock(dl)
			}
		}
		forUpdateTS := max(lockCtx.ForUpdateTS, lockCtx.MaxLockedWithConflictTS)
		done := t.asyncPessimisticRollback(all, forUpdateTS)
		if a := t.pess.aggressive; a != nil {
			for _, k := range all {
				delete(a.currentLockedKeys, string(k))
			}
		}
		if isDeadlock && dl.IsRetryable {
			_ = done.Wait(ctx)
			_ = t.store.RT.Sleep(ctx, retryableDeadlockPause)
		}
	}
	if assignedPrimary {
		t.resetPrimary(false)
	}
}

// hashInKeys reports whether one of keys has the deadlock key hash (TiKV
// and client-go use farmhash Fingerprint64 of the raw key).
func hashInKeys(hash uint64, keys [][]byte) bool {
	for _, k := range keys {
		if farm.Fingerprint64(k) == hash {
			return true
		}
	}
	return false
}

// markLocked records successfully locked keys in the write buffer (client-go
// lockKeys' last loop): KeyLocked plus whether the value existed; keys a
// LockOnlyIfExists call skipped stay unlocked. In aggressive locking the
// keys go to the attempt's buffer instead.
func (t *KVTxn) markLocked(lockCtx *kv.LockCtx, keys [][]byte, checkedExistence bool) error {
	skipped := 0
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, key := range keys {
		valExists := true
		lockCtx.ValuesLock.Lock()
		val, ok := lockCtx.Values[string(key)]
		lockCtx.ValuesLock.Unlock()
		if ok && (lockCtx.ReturnValues || checkedExistence || val.LockedWithConflictTS != 0) && !val.Exists {
			valExists = false
		}
		if lockCtx.LockOnlyIfExists && !valExists {
			skipped++
			continue
		}
		if a := t.pess.aggressive; a != nil {
			actual := lockCtx.ForUpdateTS
			if val.LockedWithConflictTS > actual {
				actual = val.LockedWithConflictTS
			} else if val.LockedWithConflictTS != 0 {
				return fmt.Errorf("transaction %d: lock of %q returned LockedWithConflictTS %d not above for_update_ts %d",
					t.startTS, key, val.LockedWithConflictTS, lockCtx.ForUpdateTS)
			}
			a.currentLockedKeys[string(key)] = tempLockBufferEntry{hasReturnValue: lockCtx.ReturnValues,
				hasCheckExistence: lockCtx.CheckExistence, value: val, actualLockForUpdateTS: actual}
			continue
		}
		exist := kv.SetKeyLockedValueExists
		if !valExists {
			exist = kv.SetKeyLockedValueNotExists
		}
		mode := kv.SetKeyLockedInExclusiveMode
		if lockCtx.InShareMode && t.pess.pessimistic {
			mode = kv.SetKeyLockedInShareMode
		}
		t.buf.UpdateFlags(key, kv.SetKeyLocked, kv.DelNeedCheckExists, exist, mode)
	}
	t.pess.lockedCnt += len(keys) - skipped
	return nil
}

// lockAction is one LockKeys call's request options (client-go
// actionPessimisticLock).
type lockAction struct {
	*kv.LockCtx
	mode        kvrpcpb.PessimisticLockWakeUpMode
	isFirstLock bool
}

// pessimisticLockKeys locks keys (sorted) region by region: the batch
// holding the primary first, then the others in parallel (client-go
// doActionOnMutations for actionPessimisticLock).
func (c *committer) pessimisticLockKeys(bo *retry.Backoffer, act *lockAction, keys [][]byte) error {
	bs, err := c.groups(bo, keys, func(k []byte) int { return len(k) })
	if err != nil {
		return err
	}
	for i, b := range bs {
		if b.hasPrimary(c.primary) {
			if err := c.lockBatch(bo, act, b); err != nil {
				return err
			}
			bs = slices.Delete(bs, i, i+1)
			break
		}
	}
	if len(bs) == 0 {
		return nil
	}
	return c.forEach(bo, bs, func(bo *retry.Backoffer, b batch) error { return c.lockBatch(bo, act, b) })
}

// effectiveWaitTime is client-go calculateEffectiveWaitTime without
// max_execution_time: the wait left, or LockNoWait when none is left.
func effectiveWaitTime(r rt.Clock, act *lockAction) int64 {
	w := act.LockWaitTime()
	if w == kv.LockNoWait || w <= 0 {
		return kv.LockNoWait
	}
	if w == kv.LockAlwaysWait {
		return w
	}
	left := w - rt.Since(r, act.WaitStartTime).Milliseconds()
	if left <= 0 {
		return kv.LockNoWait
	}
	return left
}

// lockBatch locks one region's keys until it succeeds or fails (client-go
// actionPessimisticLock.handleSingleBatch). TiKV parks the request while a
// key is locked; when it answers KeyIsLocked (wait timed out, or no-wait),
// the locks of finished transactions are resolved and the request sent
// again, unless the wait time is used up.
func (c *committer) lockBatch(bo *retry.Backoffer, act *lockAction, b batch) error {
	isPrimary := b.hasPrimary(c.primary)
	muts := make([]*kvrpcpb.Mutation, len(b.keys))
	for i, k := range b.keys {
		muts[i] = &kvrpcpb.Mutation{Op: kvrpcpb.Op_PessimisticLock, Key: k}
		if act.InShareMode {
			muts[i].Op = kvrpcpb.Op_SharedPessimisticLock
		}
		if c.presumeNotExists != nil && c.presumeNotExists(k) {
			muts[i].Assertion = kvrpcpb.Assertion_NotExist
		}
	}
	r := c.store.RT
	for {
		if act.IsKilled() {
			return tikverr.ErrQueryInterrupted
		}
		req := &kvrpcpb.PessimisticLockRequest{Mutations: muts, PrimaryLock: c.primary, StartVersion: c.startTS,
			ForUpdateTs: c.forUpdateTS, IsFirstLock: act.isFirstLock, WaitTimeout: effectiveWaitTime(r, act),
			ReturnValues: act.ReturnValues, CheckExistence: act.CheckExistence, MinCommitTs: c.forUpdateTS + 1,
			WakeUpMode: act.mode, LockOnlyIfExists: act.LockOnlyIfExists,
			// The lock lives while the TTL manager (started at the primary)
			// keeps extending it (client-go: elapsed + ManagedLockTTL).
			LockTtl: uint64((rt.Since(r, c.startTime) + managedLockTTL).Milliseconds())}
		resp, _, err := c.store.Sender.Send(bo.GetCtx(), bo, tikvrpc.NewRequest(tikvrpc.CmdPessimisticLock, req), b.region, lockRequestTimeout)
		if err != nil {
			return err
		}
		if re, _ := resp.GetRegionError(); re != nil {
			if err := bo.Backoff(retry.BoRegionMiss, errors.New(re.String())); err != nil {
				return err
			}
			return c.pessimisticLockKeys(bo, act, b.keys)
		}
		lr, ok := resp.Resp.(*kvrpcpb.PessimisticLockResponse)
		if !ok || lr == nil {
			return tikverr.ErrBodyMissing
		}
		var done bool
		if act.mode == kvrpcpb.PessimisticLockWakeUpMode_WakeUpModeForceLock {
			done, err = c.handleForceLockResponse(bo, act, b, isPrimary, req, lr)
		} else {
			done, err = c.handleNormalLockResponse(bo, act, b, isPrimary, req, lr)
		}
		if err != nil || done {
			return err
		}
	}
}

// handleNormalLockResponse is client-go
// handlePessimisticLockResponseNormalMode: success records values and
// starts the TTL manager at the primary; key errors end the call (already
// exists, deadlock, write conflict, ...) or are locks to resolve before
// asking again.
func (c *committer) handleNormalLockResponse(bo *retry.Backoffer, act *lockAction, b batch, isPrimary bool,
	req *kvrpcpb.PessimisticLockRequest, lr *kvrpcpb.PessimisticLockResponse) (bool, error) {
	if len(lr.Results) != 0 {
		return true, fmt.Errorf("transaction %d: pessimistic lock response corrupted (results in normal mode)", c.startTS)
	}
	if len(lr.Errors) == 0 {
		if isPrimary {
			c.startTTLManagerOnce()
		}
		if act.ReturnValues || act.CheckExistence {
			if len(lr.NotFounds) != len(b.keys) || (act.ReturnValues && len(lr.Values) != len(b.keys)) {
				return true, fmt.Errorf("transaction %d: pessimistic lock response has %d values, %d not-founds for %d keys",
					c.startTS, len(lr.Values), len(lr.NotFounds), len(b.keys))
			}
			for i, k := range b.keys {
				rv := kv.ReturnedValue{Exists: !lr.NotFounds[i]}
				if act.ReturnValues {
					rv.Value = lr.Values[i]
				}
				act.SetValue(k, rv)
			}
		}
		return true, nil
	}
	return c.resolveForLock(bo, act, req, lr.Errors)
}

// resolveForLock handles a lock response's key errors (client-go
// handleKeyErrorForResolve and the rest of the normal-mode handler):
// it returns (true, err) for a final error, (false, nil) to send again.
func (c *committer) resolveForLock(bo *retry.Backoffer, act *lockAction, req *kvrpcpb.PessimisticLockRequest, kerrs []*kvrpcpb.KeyError) (bool, error) {
	var locks []*txnlock.Lock
	for _, ke := range kerrs {
		li := ke.GetLocked()
		if li == nil {
			return true, finalKeyErr(ke)
		}
		if len(li.GetSharedLockInfos()) > 0 {
			for _, s := range li.GetSharedLockInfos() {
				if d := s.GetDurationToLastUpdateMs(); d > 0 && d < skipResolveThresholdMs && req.WaitTimeout >= 0 {
					continue
				}
				locks = append(locks, txnlock.NewLock(s))
			}
			continue
		}
		// A lock updated moments ago belongs to a live transaction: do not
		// resolve it, ask again (only after a wait, so no-wait requests
		// cannot spin).
		if d := li.GetDurationToLastUpdateMs(); d > 0 && d < skipResolveThresholdMs && req.WaitTimeout >= 0 {
			continue
		}
		locks = append(locks, txnlock.NewLock(li))
	}
	if len(locks) == 0 {
		return false, nil
	}
	// TiKV already made us wait: no backoff. CallerStartTS 0: a lock
	// request never pushes another transaction's min_commit_ts.
	ttl, err := c.store.Resolver.ResolveLocks(bo, 0, locks)
	if err != nil {
		return true, err
	}
	if ttl > 0 {
		switch w := act.LockWaitTime(); {
		case w == kv.LockNoWait:
			return true, tikverr.ErrLockAcquireFailAndNoWaitSet
		case w == kv.LockAlwaysWait:
		default:
			if rt.Since(c.store.RT, act.WaitStartTime).Milliseconds() >= w {
				return true, tikverr.ErrLockWaitTimeout
			}
		}
		if act.PessimisticLockWaited != nil {
			atomic.StoreInt32(act.PessimisticLockWaited, 1)
		}
	}
	return false, nil
}

// finalKeyErr is a lock response's key error that ends the call: already
// exists, deadlock, write conflict (the key changed after for_update_ts),
// or any other (typed by tikverr.ExtractKeyErr).
func finalKeyErr(ke *kvrpcpb.KeyError) error {
	return tikverr.ExtractKeyErr(ke)
}

// asyncPessimisticRollback rolls back the pessimistic locks of keys at
// forUpdateTS in a background task and returns an event fired when it ends
// (client-go asyncPessimisticRollback).
func (t *KVTxn) asyncPessimisticRollback(keys [][]byte, forUpdateTS uint64) rt.Event {
	done := t.store.RT.NewEvent()
	c := t.pess.committer
	keys = slices.Clone(keys)
	t.store.RT.Go("pessimistic-rollback", func() {
		defer done.Fire()
		bo := c.backoffer(context.Background(), pessimisticRollbackMaxBackoff)
		_ = c.pessimisticRollbackKeys(bo, keys, forUpdateTS)
	})
	return done
}

// pessimisticRollbackKeys sends PessimisticRollback for keys, per region
// (client-go actionPessimisticRollback): TiKV removes this transaction's
// pessimistic locks with for_update_ts <= forUpdateTS and leaves anything
// else (a prewritten lock, another transaction's lock) alone.
func (c *committer) pessimisticRollbackKeys(bo *retry.Backoffer, keys [][]byte, forUpdateTS uint64) error {
	bs, err := c.groups(bo, keys, func(k []byte) int { return len(k) })
	if err != nil {
		return err
	}
	return c.forEach(bo, bs, func(bo *retry.Backoffer, b batch) error {
		req := &kvrpcpb.PessimisticRollbackRequest{StartVersion: c.startTS, ForUpdateTs: forUpdateTS, Keys: b.keys}
		resp, _, err := c.store.Sender.Send(bo.GetCtx(), bo, tikvrpc.NewRequest(tikvrpc.CmdPessimisticRollback, req), b.region, lockRequestTimeout)
		if err != nil {
			return err
		}
		if re, _ := resp.GetRegionError(); re != nil {
			if err := bo.Backoff(retry.BoRegionMiss, errors.New(re.String())); err != nil {
				return err
			}
			return c.pessimisticRollbackKeys(bo, b.keys, forUpdateTS)
		}
		return nil
	})
}

// lockedKeys returns the keys the write buffer marks locked, sorted.
func (t *KVTxn) lockedKeys() [][]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out [][]byte
	it := t.buf.IterWithFlags(nil, nil)
	defer it.Close()
	for ; it.Valid(); _ = it.Next() {
		if it.Flags().HasLocked() {
			out = append(out, slices.Clone(it.Key()))
		}
	}
	return out
}

// rollbackPessimisticLocks is Rollback's pessimistic part (client-go
// KVTxn.Rollback / rollbackPessimisticLocks): it stops the TTL manager and
// releases every lock the transaction holds on TiKV. The release runs in
// the background and the returned event fires when it ends: client-go
// waits for it in Rollback, but a busy store's backoff is exempt from the
// budget (up to 10 minutes), and Rollback has no context to bound it.
// lockMu is held.
func (t *KVTxn) rollbackPessimisticLocks() rt.Event {
	p := &t.pess
	c := p.committer
	if !p.pessimistic || c == nil {
		return nil
	}
	c.stopTTLManager()
	keys := t.lockedKeys()
	if a := p.aggressive; a != nil {
		for k := range a.currentLockedKeys {
			keys = append(keys, []byte(k))
		}
		for k := range a.lastRetryUnnecessaryLocks {
			keys = append(keys, []byte(k))
		}
		p.aggressive = nil
		keys = dedupSorted(keys)
	}
	if len(keys) == 0 {
		return nil
	}
	return t.asyncPessimisticRollback(keys, max(c.forUpdateTS, c.maxLockedWithConflictTS))
}

// newCommitter returns the committer of a pessimistic transaction's locks,
// which Commit goes on with.
func (t *KVTxn) newCommitter() *committer {
	c := &committer{store: t.store, startTS: t.startTS, startTime: t.startTime}
	c.presumeNotExists = func(k []byte) bool {
		t.mu.Lock()
		defer t.mu.Unlock()
		f, err := t.buf.GetFlags(k)
		return err == nil && f.HasPresumeKeyNotExists()
	}
	return c
}
