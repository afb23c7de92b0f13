package transaction

import (
	"errors"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/config/retry"
	"github.com/tikvsim/tikvsim/client/oracle"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/txnkv/txnlock"
)

// prewrite prewrites muts, batch by batch in parallel, resolving the locks
// it meets and regrouping when regions change (client-go prewrite.go). 1PC
// needs the whole transaction in one request: more than one batch turns it
// off (client-go checkOnePCFallBack), also when a region error splits a
// retried batch.
func (c *committer) prewrite(bo *retry.Backoffer, muts []*mutation) error {
	bs, err := c.groups(bo, keysOf(muts), func(k []byte) int { m := c.mutationOf(k); return len(m.Key) + len(m.Value) })
	if err != nil {
		return err
	}
	if len(bs) > 1 {
		c.onePC.Store(false)
	}
	return c.forEach(bo, bs, c.prewriteBatch)
}

// rpcFailures counts the sends of bo whose outcome the client cannot know:
// transport failures (the sender backs off BoTiKVRPC on each, whether or not
// the request reached TiKV) and StaleCommand answers (BoStaleCmd: the leader
// that took the request lost its term, but its entry may still have been
// committed and applied by the next leader).
func rpcFailures(bo *retry.Backoffer) int {
	t := bo.GetBackoffTimes()
	return t[retry.BoTiKVRPC.String()] + t[retry.BoStaleCmd.String()]
}

// prewriteBatch prewrites one batch until it succeeds or fails. For async
// commit and 1PC it records whether the batch ended in an error after a
// send whose answer was lost (client-go prewrite1BatchReqHandler.drop): the
// locks of that send may exist.
func (c *committer) prewriteBatch(bo *retry.Backoffer, b batch) (err error) {
	failures := rpcFailures(bo)
	defer func() {
		if err == nil {
			return
		}
		lost := rpcFailures(bo) > failures || tikverr.IsErrUndetermined(err)
		if lost && (c.asyncCommit.Load() || c.onePC.Load()) {
			c.mu.Lock()
			if c.undetermined == nil {
				c.undetermined = err
			}
			c.mu.Unlock()
		}
	}()
	isPrimary := b.hasPrimary(c.primary)
	for {
		req := c.prewriteRequest(b, isPrimary)
		resp, _, err := c.store.Sender.Send(bo.GetCtx(), bo, tikvrpc.NewRequest(tikvrpc.CmdPrewrite, req), b.region, writeTimeout)
		if err != nil {
			return err
		}
		if re, _ := resp.GetRegionError(); re != nil {
			if err := bo.Backoff(retry.BoRegionMiss, errors.New(re.String())); err != nil {
				return err
			}
			muts := make([]*mutation, len(b.keys))
			for i, k := range b.keys {
				muts[i] = c.mutationOf(k)
			}
			return c.prewrite(bo, muts)
		}
		r := resp.Resp.(*kvrpcpb.PrewriteResponse)
		if len(r.Errors) == 0 {
			// An answer: whatever was lost before, TiKV has now run this
			// batch (client-go SetRPCError(nil)).
			failures = rpcFailures(bo)
			return c.prewriteSucceeded(b, isPrimary, r)
		}
		var locks []*txnlock.Lock
		for _, ke := range r.Errors {
			if ke.Locked == nil {
				return tikverr.ExtractKeyErr(ke) // write conflict, key exists, ...
			}
			if infos := ke.Locked.GetSharedLockInfos(); len(infos) > 0 {
				// A key held in share mode: the wrapper's fields mean
				// nothing; each holder is a lock to resolve, and a holder
				// newer than an optimistic transaction conflicts with it
				// (client-go prewrite.go extractKeyErrs).
				for _, info := range infos {
					l := txnlock.NewLock(info)
					if l.TxnID > c.startTS && !c.pessimistic {
						return tikverr.NewErrWriteConflictWithArgs(c.startTS, l.TxnID, 0, l.Key, kvrpcpb.WriteConflict_Optimistic)
					}
					locks = append(locks, l)
				}
				continue
			}
			l := txnlock.NewLock(ke.Locked)
			if l.TxnID > c.startTS && !c.pessimistic {
				// A transaction that started after us holds the key: it
				// conflicts with our commit whatever its fate, so fail now
				// instead of waiting out or rolling back its lock
				// (client-go prewrite.go, optimistic transactions only: a
				// pessimistic prewrite meeting another lock on a locked key
				// fails in TiKV, and on an unlocked key gets TTL 0 to
				// resolve).
				return tikverr.NewErrWriteConflictWithArgs(c.startTS, l.TxnID, 0, l.Key, kvrpcpb.WriteConflict_Optimistic)
			}
			locks = append(locks, l)
		}
		ms, err := c.store.Resolver.ResolveLocks(bo, c.startTS, locks)
		if err != nil {
			return err
		}
		if ms > 0 {
			if err := bo.BackoffWithCfgAndMaxSleep(retry.BoTxnLock, int(ms), fmt.Errorf("prewrite of txn %d met %d live lock(s)", c.startTS, len(locks))); err != nil {
				return err
			}
		}
	}
}

// prewriteRequest builds a batch's request as the protocol stands now
// (client-go buildPrewriteRequest): min_commit_ts at least start ts + 1,
// max_commit_ts, use_async_commit on every batch with the secondaries on
// the primary's, try_one_pc.
func (c *committer) prewriteRequest(b batch, isPrimary bool) *kvrpcpb.PrewriteRequest {
	c.mu.Lock()
	minCommitTS := c.minCommitTS
	c.mu.Unlock()
	if c.startTS >= minCommitTS {
		minCommitTS = c.startTS + 1
	}
	req := &kvrpcpb.PrewriteRequest{PrimaryLock: c.primary, StartVersion: c.startTS, LockTtl: c.lockTTL(),
		TxnSize: uint64(b.regionKeys), MinCommitTs: minCommitTS, MaxCommitTs: c.maxCommitTS}
	for _, k := range b.keys {
		m := c.mutationOf(k)
		req.Mutations = append(req.Mutations, &kvrpcpb.Mutation{Op: m.Op, Key: m.Key, Value: m.Value})
	}
	if c.forUpdateTS > 0 {
		// A pessimistic prewrite (client-go buildPrewriteRequest): TiKV
		// checks that each locked key still holds this transaction's
		// pessimistic lock (or amends a lost one), checks the
		// constraints of keys whose check was postponed, and prewrites
		// the rest like an optimistic transaction without the write
		// conflict check.
		req.ForUpdateTs = c.forUpdateTS
		for i, k := range b.keys {
			m := c.mutationOf(k)
			switch {
			case m.pessimisticLock:
				req.PessimisticActions = append(req.PessimisticActions, kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK)
			case m.constraintCheck:
				req.PessimisticActions = append(req.PessimisticActions, kvrpcpb.PrewriteRequest_DO_CONSTRAINT_CHECK)
			default:
				req.PessimisticActions = append(req.PessimisticActions, kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK)
			}
			if m.expectedForUpdateTS != 0 {
				// A key locked by aggressive locking: its lock must still
				// be the one taken then (tikv#14311).
				req.ForUpdateTsConstraints = append(req.ForUpdateTsConstraints,
					&kvrpcpb.PrewriteRequest_ForUpdateTSConstraint{Index: uint32(i), ExpectedForUpdateTs: m.expectedForUpdateTS})
			}
		}
	}
	if c.asyncCommit.Load() {
		if c.pessimistic {
			// The lock must outlive max_commit_ts: a resolver that finds it
			// expired then forces the transaction back to 2PC (client-go
			// prewrite.go safeTTL).
			safe := uint64(oracle.ExtractPhysical(c.maxCommitTS)-oracle.ExtractPhysical(c.startTS)) + 1
			req.LockTtl = max(req.LockTtl, safe)
		}
		req.UseAsyncCommit = true
		if isPrimary {
			req.Secondaries = c.asyncSecondaries()
		}
	}
	if c.onePC.Load() {
		req.TryOnePc = true
	}
	return req
}

// prewriteSucceeded handles a batch's successful answer (client-go
// handleSingleBatchSucceed): it starts the TTL manager once the primary is
// locked, and reads the protocol's outcome: 1PC committed at
// one_pc_commit_ts, or 1PC not applicable (0: TiKV wrote normal locks, the
// commit goes on as 2PC); async commit's min_commit_ts, or 0 when TiKV fell
// back to 2PC (CommitTsTooLarge, max_commit_ts exceeded).
func (c *committer) prewriteSucceeded(b batch, isPrimary bool, r *kvrpcpb.PrewriteResponse) error {
	if isPrimary && r.OnePcCommitTs == 0 {
		c.startTTLManagerOnce()
	}
	if c.onePC.Load() {
		if r.OnePcCommitTs == 0 {
			if r.MinCommitTs != 0 {
				return fmt.Errorf("transaction %d: min_commit_ts %d must be 0 when 1PC falls back to 2PC", c.startTS, r.MinCommitTs)
			}
			c.onePC.Store(false)
			c.asyncCommit.Store(false)
			return nil
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.onePCCommitTS != 0 {
			return fmt.Errorf("transaction %d: committed in 1PC twice", c.startTS)
		}
		c.onePCCommitTS = r.OnePcCommitTs
		return nil
	}
	if r.OnePcCommitTs != 0 {
		return fmt.Errorf("transaction %d: TiKV committed a non-1PC prewrite in 1PC", c.startTS)
	}
	if c.asyncCommit.Load() {
		if r.MinCommitTs == 0 {
			c.asyncCommit.Store(false)
			return nil
		}
		c.mu.Lock()
		c.minCommitTS = max(c.minCommitTS, r.MinCommitTs)
		c.mu.Unlock()
	}
	return nil
}
