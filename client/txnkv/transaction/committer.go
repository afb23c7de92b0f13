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
	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/internal/sender"
	"github.com/tikvsim/tikvsim/client/internal/unionstore"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/txnkv/txnlock"
)

const (
	// txnCommitBatchSize bounds the bytes of one prewrite or commit request
	// (client-go txnCommitBatchSize, 16 KiB).
	txnCommitBatchSize = 16 * 1024
	// defaultLockTTL is the lock TTL of a small transaction, in ms
	// (client-go defaultLockTTL).
	defaultLockTTL = 3000
	// maxLockTTL caps the size-based TTL of a big one at the TTL manager's
	// lease (client-go txnLockTTL caps at ManagedLockTTL, 20s): beyond that
	// the TTL manager keeps the lock alive, and a crashed writer's locks
	// block others for at most 20s.
	maxLockTTL = 20 * 1000
	// ttlFactor scales the TTL with the square root of the size in MiB.
	ttlFactor = 6000
	// prewriteMaxBackoff and commitMaxBackoff are the budgets in ms
	// (client-go PrewriteMaxBackoff 20s, CommitSecondaryMaxBackoff 41s).
	prewriteMaxBackoff = 20000
	commitMaxBackoff   = 41000
	writeTimeout       = 60 * time.Second
)

// mutation is one key's write.
type mutation struct {
	kvrpcpb.Mutation
}

// committable reports whether the mutation leaves a lock to commit: a
// CheckNotExists is prewrite-only.
func (m *mutation) committable() bool { return m.Op != kvrpcpb.Op_CheckNotExists }

// primaryOf picks the primary key: the first mutation that leaves a lock
// (a prewrite-only key cannot carry the transaction's status), or the first
// key when there is none.
func primaryOf(muts []*mutation) []byte {
	for _, m := range muts {
		if m.committable() {
			return m.Key
		}
	}
	return muts[0].Key
}

// collectMutations turns the write buffer into mutations in key order
// (client-go initKeysAndMutations): values become Put, or Insert when the
// key is presumed absent; tombstones become Del, or CheckNotExists when the
// key is presumed absent; flag-only keys are skipped.
func collectMutations(buf *unionstore.MemDB) []*mutation {
	var out []*mutation
	it := buf.IterWithFlags(nil, nil)
	defer it.Close()
	for ; it.Valid(); _ = it.Next() {
		if !it.HasValue() {
			continue
		}
		m := &mutation{kvrpcpb.Mutation{Key: slices.Clone(it.Key())}}
		v := it.Value()
		switch {
		case unionstore.IsTombstone(v) && it.Flags().HasPresumeKeyNotExists():
			// An insert deleted again in the same transaction (delete your
			// writes): nothing is written, but the key must still be checked
			// absent, in prewrite only (client-go initKeysAndMutations:
			// Op_CheckNotExists, flagged prewrite-only).
			m.Op = kvrpcpb.Op_CheckNotExists
		case unionstore.IsTombstone(v):
			m.Op = kvrpcpb.Op_Del
		case it.Flags().HasPresumeKeyNotExists():
			m.Op, m.Value = kvrpcpb.Op_Insert, slices.Clone(v)
		default:
			m.Op, m.Value = kvrpcpb.Op_Put, slices.Clone(v)
		}
		out = append(out, m)
	}
	return out
}

// committer runs one transaction's two-phase commit.
type committer struct {
	store     *Store
	startTS   uint64
	commitTS  uint64
	muts      []*mutation
	primary   []byte
	startTime time.Time
	size      int
}

func (c *committer) backoffer(ctx context.Context, ms int) *retry.Backoffer {
	return retry.NewBackoffer(ctx, ms, c.store.Sender.BackoffEnv(c.store.RT))
}

// lockTTL is client-go txnLockTTL: 3s for small transactions, growing with
// the square root of the size for big ones up to 20s, plus the time spent
// since Begin.
func (c *committer) lockTTL() uint64 {
	ttl := uint64(defaultLockTTL)
	if c.size >= txnCommitBatchSize {
		mb := float64(c.size) / 1024 / 1024
		ttl = min(uint64(ttlFactor*sqrt(mb)), maxLockTTL)
		ttl = max(ttl, defaultLockTTL)
	}
	return ttl + uint64(rt.Since(c.store.RT, c.startTime).Milliseconds())
}

func sqrt(x float64) float64 {
	if x <= 0 {
		return 0
	}
	z := x
	for range 30 {
		z = (z + x/z) / 2
	}
	return z
}

// execute prewrites every mutation, fetches the commit ts, commits the
// primary, then the secondaries in the background.
func (c *committer) execute(ctx context.Context) error {
	for _, m := range c.muts {
		c.size += len(m.Key) + len(m.Value)
	}
	bo := c.backoffer(ctx, prewriteMaxBackoff)
	if err := c.prewrite(bo, c.muts); err != nil {
		c.cleanupAsync()
		return err
	}
	if !slices.ContainsFunc(c.muts, (*mutation).committable) {
		return nil // only existence checks: they passed and nothing is locked
	}
	// Keep the primary lock alive until the commit decides (client-go starts
	// the TTL manager once the primary is prewritten).
	ttl := c.startTTLManager()
	defer ttl.close()
	commitTS, err := c.store.Oracle.GetTimestamp(ctx)
	if err != nil {
		c.cleanupAsync()
		return fmt.Errorf("transaction: get commit ts: %w", err)
	}
	if commitTS <= c.startTS {
		c.cleanupAsync()
		return fmt.Errorf("transaction: commit ts %d is not above start ts %d", commitTS, c.startTS)
	}
	c.commitTS = commitTS
	if err := c.commitPrimary(ctx); err != nil {
		return err
	}
	var secondaries [][]byte
	for _, m := range c.muts {
		if m.committable() && !bytes.Equal(m.Key, c.primary) {
			secondaries = append(secondaries, m.Key)
		}
	}
	if len(secondaries) > 0 {
		// Secondaries commit in the background: the transaction is already
		// committed; a failure leaves locks that readers resolve.
		c.store.RT.Go("commit-secondaries", func() {
			sbo := c.backoffer(context.Background(), commitMaxBackoff)
			_ = c.commitKeys(sbo, secondaries)
		})
	}
	return nil
}

// groups splits keys (sorted) into per-region batches of at most
// txnCommitBatchSize bytes, in key order.
func (c *committer) groups(bo *retry.Backoffer, keys [][]byte, size func([]byte) int) ([]batch, error) {
	byRegion, _, err := c.store.Sender.Cache().GroupKeysByRegion(bo.GetCtx(), sender.PDBackoffer{Bo: bo}, keys, nil)
	if err != nil {
		return nil, err
	}
	var out []batch
	for id, ks := range byRegion {
		slices.SortFunc(ks, bytes.Compare)
		b := batch{region: id}
		n := 0
		for _, k := range ks {
			if n > 0 && n+size(k) > txnCommitBatchSize {
				out = append(out, b)
				b, n = batch{region: id}, 0
			}
			b.keys = append(b.keys, k)
			n += size(k)
		}
		out = append(out, b)
	}
	for i := range out {
		out[i].regionKeys = len(byRegion[out[i].region])
	}
	slices.SortFunc(out, func(a, b batch) int { return bytes.Compare(a.keys[0], b.keys[0]) })
	return out, nil
}

type batch struct {
	region locate.RegionVerID
	keys   [][]byte
	// regionKeys is how many of the keys of this round fall in the region
	// (all its batches together): the prewrite's TxnSize, which decides
	// whether resolvers clean the region key by key (client-go
	// regionTxnSize).
	regionKeys int
}

// forEach runs f on every batch in parallel tasks (one batch runs inline).
func (c *committer) forEach(bo *retry.Backoffer, bs []batch, f func(*retry.Backoffer, batch) error) error {
	if len(bs) == 1 {
		return f(bo, bs[0])
	}
	g := rt.NewGroup(c.store.RT)
	for _, b := range bs {
		cbo := bo.Clone()
		g.Go("2pc-batch", func() error { return f(cbo, b) })
	}
	return g.Wait(bo.GetCtx())
}

func (c *committer) mutationOf(key []byte) *mutation {
	i, ok := slices.BinarySearchFunc(c.muts, key, func(m *mutation, k []byte) int { return bytes.Compare(m.Key, k) })
	if !ok {
		panic(fmt.Sprintf("transaction: no mutation for key %q", key))
	}
	return c.muts[i]
}

func keysOf(ms []*mutation) [][]byte {
	out := make([][]byte, len(ms))
	for i, m := range ms {
		out[i] = m.Key
	}
	return out
}

// prewrite prewrites muts, batch by batch in parallel, resolving the locks
// it meets and regrouping when regions change (client-go prewrite.go).
func (c *committer) prewrite(bo *retry.Backoffer, muts []*mutation) error {
	bs, err := c.groups(bo, keysOf(muts), func(k []byte) int { m := c.mutationOf(k); return len(m.Key) + len(m.Value) })
	if err != nil {
		return err
	}
	return c.forEach(bo, bs, c.prewriteBatch)
}

func (c *committer) prewriteBatch(bo *retry.Backoffer, b batch) error {
	for {
		req := &kvrpcpb.PrewriteRequest{PrimaryLock: c.primary, StartVersion: c.startTS, LockTtl: c.lockTTL(),
			TxnSize: uint64(b.regionKeys), MinCommitTs: c.startTS + 1}
		for _, k := range b.keys {
			m := c.mutationOf(k)
			req.Mutations = append(req.Mutations, &kvrpcpb.Mutation{Op: m.Op, Key: m.Key, Value: m.Value})
		}
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
			return nil
		}
		var locks []*txnlock.Lock
		for _, ke := range r.Errors {
			if ke.Locked == nil {
				return tikverr.ExtractKeyErr(ke) // write conflict, key exists, ...
			}
			l := txnlock.NewLock(ke.Locked)
			if l.TxnID > c.startTS {
				// A transaction that started after us holds the key: it
				// conflicts with our commit whatever its fate, so fail now
				// instead of waiting out or rolling back its lock
				// (client-go prewrite.go, optimistic transactions).
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

// commitPrimary commits the primary key. Its result decides the
// transaction's fate (client-go commit.go and 2pc.go execute):
//   - TiKV answered with a key error: the transaction did not commit; it is
//     rolled back and the error returned as is;
//   - a send may have reached TiKV without its answer coming back (a
//     transport error, a timeout, ctx done in flight), and no later attempt
//     got a definite answer: the error satisfies tikverr.IsErrUndetermined;
//   - every attempt was refused before it ran (region errors until the
//     budget ran out, the region not found): the transaction did not
//     commit; it is rolled back (client-go TestFailCommitPrimaryRegionError).
func (c *committer) commitPrimary(ctx context.Context) error {
	bo := c.backoffer(ctx, commitMaxBackoff)
	err := c.commitKeys(bo, [][]byte{c.primary})
	var def *definiteErr
	var budget *retry.BudgetExceededError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &def):
		c.cleanupAsync()
		return def.err
	case tikverr.IsErrUndetermined(err),
		bo.GetBackoffTimes()[retry.BoTiKVRPC.String()] > 0,
		errors.As(err, &budget) && budget.Config == retry.BoTiKVRPC.String():
		return tikverr.Undetermined("commit primary", err)
	default:
		c.cleanupAsync()
		return fmt.Errorf("transaction %d: commit primary: %w", c.startTS, err)
	}
}

// definiteErr is a commit failure TiKV answered: the transaction is known not
// to have committed.
type definiteErr struct{ err error }

func (e *definiteErr) Error() string { return e.err.Error() }

func (c *committer) commitKeys(bo *retry.Backoffer, keys [][]byte) error {
	bs, err := c.groups(bo, keys, func(k []byte) int { return len(k) })
	if err != nil {
		return err
	}
	return c.forEach(bo, bs, c.commitBatch)
}

func (c *committer) commitBatch(bo *retry.Backoffer, b batch) error {
	for {
		req := &kvrpcpb.CommitRequest{StartVersion: c.startTS, Keys: b.keys, CommitVersion: c.commitTS}
		resp, _, err := c.store.Sender.Send(bo.GetCtx(), bo, tikvrpc.NewRequest(tikvrpc.CmdCommit, req), b.region, writeTimeout)
		if err != nil {
			return err
		}
		if re, _ := resp.GetRegionError(); re != nil {
			if err := bo.Backoff(retry.BoRegionMiss, errors.New(re.String())); err != nil {
				return err
			}
			return c.commitKeys(bo, b.keys)
		}
		r := resp.Resp.(*kvrpcpb.CommitResponse)
		if ke := r.GetError(); ke != nil {
			if ke.GetCommitTsExpired() != nil {
				// The lock's min_commit_ts was pushed past our commit ts:
				// commit with a newer ts (client-go commit.go).
				ts, err := c.store.Oracle.GetTimestamp(bo.GetCtx())
				if err != nil {
					return err
				}
				c.commitTS = ts
				continue
			}
			return &definiteErr{fmt.Errorf("transaction %d: commit: %w", c.startTS, tikverr.ExtractKeyErr(ke))}
		}
		return nil
	}
}

// cleanupAsync rolls back whatever was prewritten, in the background
// (client-go cleanup.go): a failed transaction must not leave locks that
// others would have to wait out.
func (c *committer) cleanupAsync() {
	keys := keysOf(c.muts)
	c.store.RT.Go("2pc-cleanup", func() {
		bo := c.backoffer(context.Background(), commitMaxBackoff)
		bs, err := c.groups(bo, keys, func(k []byte) int { return len(k) })
		if err != nil {
			return
		}
		_ = c.forEach(bo, bs, func(bo *retry.Backoffer, b batch) error {
			req := &kvrpcpb.BatchRollbackRequest{StartVersion: c.startTS, Keys: b.keys}
			_, _, err := c.store.Sender.Send(bo.GetCtx(), bo, tikvrpc.NewRequest(tikvrpc.CmdBatchRollback, req), b.region, writeTimeout)
			return err
		})
	})
}
