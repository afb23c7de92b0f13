package txnlock

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/config/retry"
	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/internal/sender"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
)

// Async-commit recovery (client-go lock_resolver.go resolveAsyncCommitLock,
// checkAllSecondaries, asyncResolveData.addKeys).
//
// An async-commit transaction is committed as soon as every one of its keys
// holds its lock; its commit ts is then the largest min_commit_ts of those
// locks. TiKV never changes an async-commit primary in CheckTxnStatus, so once
// the primary's TTL has expired a resolver decides the transaction from all
// its locks: CheckSecondaryLocks on every secondary listed in the primary
// (per region). A missing lock means the transaction was already committed
// (TiKV answers the commit ts) or rolled back, or that the lock was never
// written, in which case TiKV writes a protected rollback so it never will
// be: the transaction is rolled back. When every lock is present the
// transaction is committed at the largest min_commit_ts. A lock that is not
// an async-commit lock (the client fell back to 2PC for part of it) means
// the primary decides after all: the caller resolves again with
// force_sync_commit.

// nonAsyncCommitLock: CheckSecondaryLocks met a lock of the transaction that
// is not an async-commit lock.
type nonAsyncCommitLock struct{}

func (*nonAsyncCommitLock) Error() string {
	return "txnlock: CheckSecondaryLocks met a non-async-commit lock"
}

// asyncResolveData accumulates the CheckSecondaryLocks answers.
type asyncResolveData struct {
	// commitTS: with missingLock, the commit ts TiKV reported (0: rolled
	// back); otherwise the largest min_commit_ts seen so far.
	commitTS    uint64
	keys        [][]byte // the locked keys to resolve
	missingLock bool
}

// addKeys adds one region's answer for expected keys: fewer locks than keys
// means a lock is missing and the transaction is decided (commitTS from TiKV,
// every region must agree); otherwise every lock must be this transaction's
// async-commit lock and raises the commit ts to its min_commit_ts.
func (d *asyncResolveData) addKeys(locks []*kvrpcpb.LockInfo, expected int, startTS, commitTS uint64) error {
	if len(locks) < expected {
		if !d.missingLock {
			if commitTS != 0 && commitTS < d.commitTS {
				return fmt.Errorf("txnlock: async commit of txn %d: commit ts %d below min commit ts %d", startTS, commitTS, d.commitTS)
			}
			d.commitTS = commitTS
		}
		d.missingLock = true
		if d.commitTS != commitTS {
			return fmt.Errorf("txnlock: async commit of txn %d: commit ts mismatch %d and %d", startTS, d.commitTS, commitTS)
		}
		return nil
	}
	for _, l := range locks {
		if l.LockVersion != startTS {
			return fmt.Errorf("txnlock: CheckSecondaryLocks of txn %d returned a lock of txn %d", startTS, l.LockVersion)
		}
		if !l.UseAsyncCommit {
			return &nonAsyncCommitLock{}
		}
		if !d.missingLock {
			d.commitTS = max(d.commitTS, l.MinCommitTs)
		}
		d.keys = append(d.keys, l.Key)
	}
	return nil
}

// resolveAsyncCommitLock decides the async-commit transaction of l, whose
// primary lock st.primaryLock has expired, and commits or rolls back its
// locks. The returned status is determined (TTL 0) and cached.
func (lr *LockResolver) resolveAsyncCommitLock(bo *retry.Backoffer, l *Lock, st TxnStatus) (TxnStatus, error) {
	primary := st.primaryLock
	d := &asyncResolveData{commitTS: primary.GetMinCommitTs()}
	if err := lr.checkSecondaries(bo, l.TxnID, primary.GetSecondaries(), d); err != nil {
		return TxnStatus{}, err
	}
	// The decision is final: a missing lock can never appear again (TiKV
	// protects its rollback), and with every lock present any other
	// resolver, and the writer itself, commit at the same ts.
	decided := TxnStatus{commitTS: d.commitTS, action: kvrpcpb.Action_NoAction, primaryLock: primary}
	lr.saveResolved(l.TxnID, decided)
	keys := append(d.keys, l.Primary)
	if err := lr.resolveKeys(bo, l, decided, keys); err != nil {
		return TxnStatus{}, err
	}
	return decided, nil
}

// regionGroups groups keys by region, in key order (map order must not
// reach behaviour).
func (lr *LockResolver) regionGroups(bo *retry.Backoffer, keys [][]byte) ([]regionKeys, error) {
	byRegion, _, err := lr.s.Cache().GroupKeysByRegion(bo.GetCtx(), sender.PDBackoffer{Bo: bo}, keys, nil)
	if err != nil {
		return nil, err
	}
	out := make([]regionKeys, 0, len(byRegion))
	for id, ks := range byRegion {
		slices.SortFunc(ks, bytes.Compare)
		out = append(out, regionKeys{id, ks})
	}
	slices.SortFunc(out, func(a, b regionKeys) int { return bytes.Compare(a.keys[0], b.keys[0]) })
	return out, nil
}

type regionKeys struct {
	region locate.RegionVerID
	keys   [][]byte
}

// checkSecondaries sends CheckSecondaryLocks for keys, region by region
// (client-go checkSecondaries; regrouping after a region error).
func (lr *LockResolver) checkSecondaries(bo *retry.Backoffer, txnID uint64, keys [][]byte, d *asyncResolveData) error {
	if len(keys) == 0 {
		return nil
	}
	groups, err := lr.regionGroups(bo, keys)
	if err != nil {
		return err
	}
	for _, g := range groups {
		req := tikvrpc.NewRequest(tikvrpc.CmdCheckSecondaryLocks, &kvrpcpb.CheckSecondaryLocksRequest{Keys: g.keys, StartVersion: txnID})
		resp, _, err := lr.s.Send(bo.GetCtx(), bo, req, g.region, readTimeoutShort)
		if err != nil {
			return err
		}
		if re, _ := resp.GetRegionError(); re != nil {
			if err := bo.Backoff(retry.BoRegionMiss, errors.New(re.String())); err != nil {
				return err
			}
			if err := lr.checkSecondaries(bo, txnID, g.keys, d); err != nil {
				return err
			}
			continue
		}
		r := resp.Resp.(*kvrpcpb.CheckSecondaryLocksResponse)
		if ke := r.GetError(); ke != nil {
			return fmt.Errorf("txnlock: CheckSecondaryLocks of txn %d: %w", txnID, tikverr.ExtractKeyErr(ke))
		}
		if err := d.addKeys(r.Locks, len(g.keys), txnID, r.CommitTs); err != nil {
			return err
		}
	}
	return nil
}

// resolveKeys commits (st committed) or rolls back the locks of l's
// transaction on keys, one ResolveLock per region (client-go
// resolveRegionLocks).
func (lr *LockResolver) resolveKeys(bo *retry.Backoffer, l *Lock, st TxnStatus, keys [][]byte) error {
	groups, err := lr.regionGroups(bo, keys)
	if err != nil {
		return err
	}
	for _, g := range groups {
		req := tikvrpc.NewRequest(tikvrpc.CmdResolveLock, &kvrpcpb.ResolveLockRequest{
			StartVersion: l.TxnID, CommitVersion: st.CommitTS(), Keys: g.keys, IsTxnFile: l.IsTxnFile})
		resp, _, err := lr.s.Send(bo.GetCtx(), bo, req, g.region, readTimeoutShort)
		if err != nil {
			return err
		}
		if re, _ := resp.GetRegionError(); re != nil {
			if err := bo.Backoff(retry.BoRegionMiss, errors.New(re.String())); err != nil {
				return err
			}
			if err := lr.resolveKeys(bo, l, st, g.keys); err != nil {
				return err
			}
			continue
		}
		if ke := resp.Resp.(*kvrpcpb.ResolveLockResponse).GetError(); ke != nil {
			return fmt.Errorf("txnlock: resolve async-commit locks of txn %d: %w", l.TxnID, tikverr.ExtractKeyErr(ke))
		}
	}
	return nil
}
