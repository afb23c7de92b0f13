package txnlock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/config/retry"
	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/internal/sender"
	"github.com/tikvsim/tikvsim/client/oracle"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
)

const (
	// ResolvedCacheSize is how many finished transactions' statuses are
	// kept (client-go ResolvedCacheSize).
	ResolvedCacheSize = 2048
	// resolveLiteThreshold: locks of transactions with fewer keys are
	// resolved key by key instead of scanning their region (client-go
	// resolveLockLiteThreshold default 16).
	resolveLiteThreshold = 16
	readTimeoutShort     = 30 * time.Second
)

// LockResolver resolves locks. It is safe for concurrent use.
type LockResolver struct {
	s  *sender.Sender
	o  oracle.Oracle
	mu sync.Mutex
	// resolved caches finished transactions' statuses, FIFO-evicted.
	resolved map[uint64]TxnStatus
	order    []uint64
}

// NewLockResolver returns a resolver sending through s, judging expiry with o.
func NewLockResolver(s *sender.Sender, o oracle.Oracle) *LockResolver {
	return &LockResolver{s: s, o: o, resolved: make(map[uint64]TxnStatus)}
}

func (lr *LockResolver) saveResolved(txnID uint64, st TxnStatus) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	if _, ok := lr.resolved[txnID]; ok {
		return
	}
	lr.resolved[txnID] = st
	lr.order = append(lr.order, txnID)
	if len(lr.order) > ResolvedCacheSize {
		delete(lr.resolved, lr.order[0])
		lr.order = lr.order[1:]
	}
}

func (lr *LockResolver) getResolved(txnID uint64) (TxnStatus, bool) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	st, ok := lr.resolved[txnID]
	return st, ok
}

// ResolveLocksResult says what became of the locks.
type ResolveLocksResult struct {
	// TTL is the ms to wait before the live locks may expire; 0 when every
	// lock is resolved.
	TTL int64
	// IgnoreLocks are transactions whose locks a reader at the caller's
	// start ts may skip (rolled back, committed after it, or pushed).
	IgnoreLocks []uint64
	// AccessLocks are transactions committed before the caller's start ts
	// whose locks a reader may read through.
	AccessLocks []uint64
}

// ResolveLocks resolves locks met by a transaction writing at callerStartTS.
func (lr *LockResolver) ResolveLocks(bo *retry.Backoffer, callerStartTS uint64, locks []*Lock) (int64, error) {
	res, err := lr.resolve(bo, callerStartTS, locks, false)
	return res.TTL, err
}

// ResolveLocksForRead resolves locks met by a reader at callerStartTS and
// says which it may ignore or read through (client-go ResolveLocksForRead).
func (lr *LockResolver) ResolveLocksForRead(bo *retry.Backoffer, callerStartTS uint64, locks []*Lock) (ResolveLocksResult, error) {
	return lr.resolve(bo, callerStartTS, locks, true)
}

func (lr *LockResolver) resolve(bo *retry.Backoffer, callerStartTS uint64, locks []*Lock, forRead bool) (ResolveLocksResult, error) {
	var res ResolveLocksResult
	var wait int64 // ms, smallest positive
	update := func(ms int64) {
		if ms <= 0 {
			ms = 0
		}
		if wait == 0 || ms < wait {
			wait = ms
		}
	}
	r := &resolveRound{cleaned: map[uint64]map[locate.RegionVerID]bool{}, async: map[uint64]TxnStatus{}}
	for _, l := range locks {
		st, err := lr.resolveOne(bo, r, l, callerStartTS, false)
		if err != nil {
			return ResolveLocksResult{}, err
		}
		switch {
		case !forRead && st.ttl != 0:
			update(lr.o.UntilExpired(l.TxnID, st.ttl))
		case forRead && (st.action == kvrpcpb.Action_MinCommitTSPushed || st.IsRolledBack() || (st.IsCommitted() && st.CommitTS() > callerStartTS)):
			res.IgnoreLocks = append(res.IgnoreLocks, l.TxnID)
		case forRead && st.IsCommitted():
			res.AccessLocks = append(res.AccessLocks, l.TxnID)
		case forRead:
			update(lr.o.UntilExpired(l.TxnID, st.ttl))
		}
	}
	res.TTL = wait
	return res, nil
}

// resolveRound is what one ResolveLocks call remembers across its locks.
type resolveRound struct {
	// cleaned: the regions already resolved region-wide, per transaction.
	cleaned map[uint64]map[locate.RegionVerID]bool
	// async: async-commit transactions already decided and resolved.
	async map[uint64]TxnStatus
}

// resolveOne finds the status of l's transaction and, when it is finished,
// commits or rolls back l (client-go resolveLocks' resolve closure):
//   - a live lock is left alone; its status (with the TTL) says how long
//     to wait;
//   - a lock whose primary is an expired async-commit lock: the
//     transaction's fate is decided from all its locks
//     (resolveAsyncCommitLock), or, when one of them turns out not to be an
//     async-commit lock, resolved again as 2PC (forceSync);
//   - otherwise the lock follows its primary: committed, rolled back, or
//     (pessimistic) rolled back when expired.
func (lr *LockResolver) resolveOne(bo *retry.Backoffer, r *resolveRound, l *Lock, callerStartTS uint64, forceSync bool) (TxnStatus, error) {
	if st, ok := r.async[l.TxnID]; ok {
		return st, nil
	}
	st, err := lr.statusFromLock(bo, l, callerStartTS, forceSync)
	var pm primaryMismatch
	if errors.As(err, &pm) && l.IsPessimistic() {
		// The lock points at a primary that is not one: roll it back.
		st, err = TxnStatus{}, nil
	}
	if err != nil {
		return TxnStatus{}, err
	}
	expiredAsync := st.ttl != 0 && st.primaryLock.GetUseAsyncCommit() && !forceSync && lr.o.IsExpired(l.TxnID, st.ttl)
	if st.ttl != 0 && !expiredAsync {
		return st, nil
	}
	if expiredAsync {
		st, err = lr.resolveAsyncCommitLock(bo, l, st)
		var na *nonAsyncCommitLock
		if errors.As(err, &na) {
			return lr.resolveOne(bo, r, l, callerStartTS, true)
		}
		if err == nil {
			r.async[l.TxnID] = st
		}
		return st, err
	}
	if r.cleaned[l.TxnID] == nil {
		r.cleaned[l.TxnID] = map[locate.RegionVerID]bool{}
	}
	if l.IsPessimistic() {
		err = lr.resolvePessimisticLock(bo, l)
	} else {
		err = lr.resolveLock(bo, l, st, r.cleaned[l.TxnID])
	}
	return st, err
}

type txnNotFoundErr struct{ *kvrpcpb.TxnNotFound }

func (e txnNotFoundErr) Error() string { return e.String() }

type primaryMismatch struct{ lock *kvrpcpb.LockInfo }

func (e primaryMismatch) Error() string { return "primary mismatch, current lock: " + e.lock.String() }

// statusFromLock is client-go getTxnStatusFromLock: it asks the primary,
// and when the primary knows nothing of the transaction it waits for the
// lock's TTL (the primary may still be being prewritten) before rolling the
// transaction back.
func (lr *LockResolver) statusFromLock(bo *retry.Backoffer, l *Lock, callerStartTS uint64, forceSync bool) (TxnStatus, error) {
	ctx := bo.GetCtx()
	var currentTS uint64
	if l.TTL == 0 {
		// TTL 0 is TiKV's signal to resolve unconditionally.
		currentTS = math.MaxUint64
	} else {
		ts, err := lr.o.GetLowResolutionTimestamp(ctx)
		if err != nil {
			return TxnStatus{}, err
		}
		currentTS = ts
	}
	rollbackIfNotExist := false
	for {
		st, err := lr.getTxnStatus(bo, l.TxnID, l.Primary, callerStartTS, currentTS, rollbackIfNotExist, forceSync, l)
		var nf txnNotFoundErr
		if !errors.As(err, &nf) {
			return st, err
		}
		// The latest timestamp seen must move for the lock to ever count
		// as expired: client-go relies on its background updater for that;
		// here the low-resolution read refreshes it when it is stale, so
		// the wait ends even when nobody runs the oracle's Run.
		if _, err := lr.o.GetLowResolutionTimestamp(ctx); err != nil {
			return TxnStatus{}, err
		}
		if lr.o.UntilExpired(l.TxnID, l.TTL) <= 0 {
			rollbackIfNotExist = true
			continue
		}
		if l.IsPessimistic() {
			return TxnStatus{ttl: l.TTL}, nil
		}
		if err := bo.Backoff(retry.BoTxnNotFound, err); err != nil {
			return TxnStatus{}, err
		}
	}
}

// GetTxnStatus queries a transaction's status at its primary key.
func (lr *LockResolver) GetTxnStatus(ctx context.Context, bo *retry.Backoffer, txnID, callerStartTS uint64, primary []byte) (TxnStatus, error) {
	currentTS, err := lr.o.GetLowResolutionTimestamp(ctx)
	if err != nil {
		return TxnStatus{}, err
	}
	return lr.getTxnStatus(bo, txnID, primary, callerStartTS, currentTS, true, false, nil)
}

func (lr *LockResolver) getTxnStatus(bo *retry.Backoffer, txnID uint64, primary []byte, callerStartTS, currentTS uint64,
	rollbackIfNotExist, forceSync bool, l *Lock) (TxnStatus, error) {
	if st, ok := lr.getResolved(txnID); ok {
		return st, nil
	}
	pessimistic := l != nil && l.IsPessimistic()
	mk := func() *tikvrpc.Request {
		return tikvrpc.NewRequest(tikvrpc.CmdCheckTxnStatus, &kvrpcpb.CheckTxnStatusRequest{
			PrimaryKey: primary, LockTs: txnID, CallerStartTs: callerStartTS, CurrentTs: currentTS,
			RollbackIfNotExist: rollbackIfNotExist, ForceSyncCommit: forceSync, ResolvingPessimisticLock: pessimistic, VerifyIsPrimary: true,
			IsTxnFile: l != nil && l.IsTxnFile,
		})
	}
	resp, err := lr.sendToKey(bo, primary, mk)
	if err != nil {
		return TxnStatus{}, err
	}
	r := resp.Resp.(*kvrpcpb.CheckTxnStatusResponse)
	if ke := r.GetError(); ke != nil {
		if nf := ke.GetTxnNotFound(); nf != nil {
			return TxnStatus{}, txnNotFoundErr{nf}
		}
		if pm := ke.GetPrimaryMismatch(); pm != nil && pessimistic {
			return TxnStatus{}, primaryMismatch{pm.GetLockInfo()}
		}
		return TxnStatus{}, fmt.Errorf("txnlock: CheckTxnStatus of txn %d: %w", txnID, tikverr.ExtractKeyErr(ke))
	}
	st := TxnStatus{action: r.Action, primaryLock: r.LockInfo}
	if r.LockTtl != 0 {
		st.ttl = r.LockTtl
	} else {
		st.commitTS = r.CommitVersion
		if st.IsStatusDetermined() {
			lr.saveResolved(txnID, st)
		}
	}
	return st, nil
}

// sendToKey sends the request built by mk to key's region, relocating on
// region errors.
func (lr *LockResolver) sendToKey(bo *retry.Backoffer, key []byte, mk func() *tikvrpc.Request) (*tikvrpc.Response, error) {
	resp, _, err := lr.s.SendLocated(bo.GetCtx(), bo, lr.s.KeyLocator(key, false), readTimeoutShort,
		func(*locate.KeyLocation) *tikvrpc.Request { return mk() })
	return resp, err
}

// resolveLock commits or rolls back the lock's transaction in the lock's
// region: only the lock's key for small transactions (lite), the whole region
// otherwise (client-go resolveLock). The primary was resolved by
// CheckTxnStatus already.
func (lr *LockResolver) resolveLock(bo *retry.Backoffer, l *Lock, st TxnStatus, cleaned map[locate.RegionVerID]bool) error {
	lite := l.TxnSize < resolveLiteThreshold
	if lite && bytes.Equal(l.Key, l.Primary) {
		return nil
	}
	ctx := bo.GetCtx()
	for {
		loc, err := lr.s.Cache().LocateKey(ctx, sender.PDBackoffer{Bo: bo}, l.Key)
		if err != nil {
			return err
		}
		if cleaned[loc.Region] {
			return nil
		}
		req := &kvrpcpb.ResolveLockRequest{StartVersion: l.TxnID, CommitVersion: st.CommitTS(), IsTxnFile: l.IsTxnFile}
		if lite {
			req.Keys = [][]byte{l.Key}
		}
		resp, _, err := lr.s.Send(ctx, bo, tikvrpc.NewRequest(tikvrpc.CmdResolveLock, req), loc.Region, readTimeoutShort)
		if err != nil {
			return err
		}
		if re, _ := resp.GetRegionError(); re != nil {
			if err := bo.Backoff(retry.BoRegionMiss, errors.New(re.String())); err != nil {
				return err
			}
			continue
		}
		if ke := resp.Resp.(*kvrpcpb.ResolveLockResponse).GetError(); ke != nil {
			return fmt.Errorf("txnlock: resolve lock %v: %w", l, tikverr.ExtractKeyErr(ke))
		}
		if !lite {
			cleaned[loc.Region] = true
		}
		return nil
	}
}

// resolvePessimisticLock rolls back a pessimistic lock whose transaction is
// finished or gone (client-go resolvePessimisticLock).
func (lr *LockResolver) resolvePessimisticLock(bo *retry.Backoffer, l *Lock) error {
	if bytes.Equal(l.Key, l.Primary) {
		return nil
	}
	forUpdateTS := l.LockForUpdateTS
	if forUpdateTS == 0 {
		forUpdateTS = math.MaxUint64
	}
	resp, err := lr.sendToKey(bo, l.Key, func() *tikvrpc.Request {
		return tikvrpc.NewRequest(tikvrpc.CmdPessimisticRollback, &kvrpcpb.PessimisticRollbackRequest{
			StartVersion: l.TxnID, ForUpdateTs: forUpdateTS, Keys: [][]byte{l.Key}})
	})
	if err != nil {
		return err
	}
	if errs := resp.Resp.(*kvrpcpb.PessimisticRollbackResponse).GetErrors(); len(errs) > 0 {
		return fmt.Errorf("txnlock: pessimistic rollback of %v: %w", l, tikverr.ExtractKeyErr(errs[0]))
	}
	return nil
}

// BatchResolveLocks resolves locks that all lie in region, as GC does with
// the locks it scanned below its safe point (client-go BatchResolveLocks):
// it finds each transaction's status once, rolling back those still running
// (GC kills them: every lock below the safe point must go), then commits or
// rolls back all of them in one ResolveLock request carrying every
// transaction. It reports false, with no error, when the region changed;
// the caller scans again.
func (lr *LockResolver) BatchResolveLocks(bo *retry.Backoffer, locks []*Lock, region locate.RegionVerID) (bool, error) {
	if len(locks) == 0 {
		return true, nil
	}
	status := map[uint64]uint64{} // txn -> commit ts (0: rolled back)
	var infos []*kvrpcpb.TxnInfo
	for _, l := range locks {
		if _, ok := status[l.TxnID]; ok {
			continue
		}
		// GC must leave no lock below its safe point, so it kills every
		// transaction still running there: current ts MaxUint64 makes
		// TiKV treat every lock as expired and roll back undecided
		// transactions (client-go BatchResolveLocks: "rollback the txn, no
		// matter the lock is expired or not").
		st, err := lr.getTxnStatus(bo, l.TxnID, l.Primary, 0, math.MaxUint64, true, false, l)
		if err != nil {
			return false, err
		}
		if l.IsPessimistic() {
			// A pessimistic lock's primary may not be the transaction's real
			// primary, so its status cannot go into the batch: roll the lock
			// back on its own (pessimistic locks are never committed; tidb
			// #42937, #45134).
			if err := lr.resolvePessimisticLock(bo, l); err != nil {
				return false, err
			}
			continue
		}
		if st.ttl != 0 && st.primaryLock.GetUseAsyncCommit() {
			// TiKV never rolls back an async-commit primary on
			// CheckTxnStatus: decide the transaction from all its locks
			// (client-go checkAllSecondaries), or force it to the 2PC
			// protocol when it turns out not to be async after all.
			st, err = lr.resolveAsyncCommitLock(bo, l, st)
			var na *nonAsyncCommitLock
			if errors.As(err, &na) {
				st, err = lr.getTxnStatus(bo, l.TxnID, l.Primary, 0, math.MaxUint64, true, true, l)
			}
			if err != nil {
				return false, err
			}
		}
		if st.ttl != 0 {
			return false, fmt.Errorf("txnlock: batch resolve: txn %d still alive after a forced CheckTxnStatus (protocol error)", l.TxnID)
		}
		status[l.TxnID] = st.CommitTS()
		infos = append(infos, &kvrpcpb.TxnInfo{Txn: l.TxnID, Status: st.CommitTS()})
	}
	if len(infos) == 0 {
		return true, nil
	}
	req := tikvrpc.NewRequest(tikvrpc.CmdResolveLock, &kvrpcpb.ResolveLockRequest{TxnInfos: infos})
	resp, _, err := lr.s.Send(bo.GetCtx(), bo, req, region, readTimeoutShort)
	if err != nil {
		return false, err
	}
	if re, _ := resp.GetRegionError(); re != nil {
		return false, bo.Backoff(retry.BoRegionMiss, errors.New(re.String()))
	}
	if ke := resp.Resp.(*kvrpcpb.ResolveLockResponse).GetError(); ke != nil {
		return false, fmt.Errorf("txnlock: batch resolve locks: %w", tikverr.ExtractKeyErr(ke))
	}
	return true, nil
}
