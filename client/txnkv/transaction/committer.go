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
	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/internal/sender"
	"github.com/tikvsim/tikvsim/client/internal/unionstore"
	"github.com/tikvsim/tikvsim/client/oracle"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
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
	// maxCommitTSRetryGap: a primary whose min_commit_ts is this far
	// (one hour) above the attempted commit ts is not retried (client-go
	// commit.go, 3600000 << 18).
	maxCommitTSRetryGap = 3600000 << 18
)

// Async commit limits, client-go's config defaults (config/client.go
// AsyncCommit): a transaction uses async commit only with at most
// AsyncCommitKeysLimit keys of at most AsyncCommitTotalKeySizeLimit bytes in
// total, since the primary lock lists them all; its max_commit_ts is
// AsyncCommitSafeWindow past the time it has run.
const (
	AsyncCommitKeysLimit         = 256
	AsyncCommitTotalKeySizeLimit = 4 * 1024
	AsyncCommitSafeWindow        = 2 * time.Second
)

// mutation is one key's write.
type mutation struct {
	kvrpcpb.Mutation
	// pessimisticLock: the key holds this pessimistic transaction's lock,
	// which prewrite must find (DO_PESSIMISTIC_CHECK).
	pessimisticLock bool
	// constraintCheck: the key's existence check was postponed to
	// prewrite (DO_CONSTRAINT_CHECK).
	constraintCheck bool
	// expectedForUpdateTS is the for_update_ts the key's lock must still
	// have (a key locked by aggressive locking), or 0.
	expectedForUpdateTS uint64
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
// key is presumed absent; tombstones become Del, or (optimistic only)
// CheckNotExists when the key is presumed absent; keys locked without a
// write become Lock; other flag-only keys are skipped. In a pessimistic
// transaction the locked keys are marked for the pessimistic check, with
// the for_update_ts of checks (aggressive locking) when set.
func collectMutations(buf *unionstore.MemDB, pessimistic bool, checks map[string]uint64) []*mutation {
	var out []*mutation
	it := buf.IterWithFlags(nil, nil)
	defer it.Close()
	for ; it.Valid(); _ = it.Next() {
		f := it.Flags()
		m := &mutation{Mutation: kvrpcpb.Mutation{Key: slices.Clone(it.Key())}}
		v := it.Value()
		switch {
		case !it.HasValue() && !f.HasLocked():
			continue
		case !it.HasValue() && f.HasLockedInShareMode():
			m.Op = kvrpcpb.Op_SharedLock // client-go getLockTypeFromFlags
		case !it.HasValue():
			m.Op = kvrpcpb.Op_Lock
		case unionstore.IsTombstone(v) && f.HasPresumeKeyNotExists() && !pessimistic:
			// An insert deleted again in the same transaction (delete your
			// writes): nothing is written, but the key must still be checked
			// absent, in prewrite only (client-go initKeysAndMutations:
			// Op_CheckNotExists, flagged prewrite-only).
			m.Op = kvrpcpb.Op_CheckNotExists
		case unionstore.IsTombstone(v) && f.HasNewlyInserted():
			// A pessimistic delete-your-write: only a locked key needs
			// its lock prewritten (client-go).
			if !f.HasLocked() {
				continue
			}
			m.Op = kvrpcpb.Op_Lock
		case unionstore.IsTombstone(v):
			m.Op = kvrpcpb.Op_Del
		case f.HasPresumeKeyNotExists():
			m.Op, m.Value = kvrpcpb.Op_Insert, slices.Clone(v)
		default:
			m.Op, m.Value = kvrpcpb.Op_Put, slices.Clone(v)
		}
		m.pessimisticLock = pessimistic && f.HasLocked()
		m.constraintCheck = f.HasNeedConstraintCheckInPrewrite()
		if m.pessimisticLock {
			m.expectedForUpdateTS = checks[string(m.Key)]
		}
		out = append(out, m)
	}
	return out
}

// committer runs one transaction's commit: two-phase, async commit or
// 1PC (client-go twoPhaseCommitter, 2pc.go).
type committer struct {
	store     *Store
	startTS   uint64
	commitTS  uint64
	muts      []*mutation
	primary   []byte
	startTime time.Time
	size      int
	opts      commitOptions

	// Pessimistic transactions (pessimistic.go): the committer exists
	// from the first lock. forUpdateTS is the latest LockKeys'
	// for_update_ts (0 for optimistic transactions: prewrite sends it);
	// maxLockedWithConflictTS the largest for_update_ts a lock was taken
	// at in aggressive locking (pessimistic rollbacks must reach it);
	// presumeNotExists reads the buffer's flag for lock requests.
	pessimistic             bool
	forUpdateTS             uint64
	maxLockedWithConflictTS uint64
	presumeNotExists        func([]byte) bool
	// bg is the caller's context without its cancellation: the work that
	// outlives Commit (secondary commits, cleanup, heartbeats) still
	// carries the caller's request source, resource group and
	// interceptors, as client-go's background commits do.
	bg context.Context

	// asyncCommit and onePC are the protocol in force: set before prewrite
	// when the transaction qualifies, cleared by any batch whose answer
	// says TiKV fell back (client-go useAsyncCommit / useOnePC). They are
	// read when each request is built, so requests sent after a fallback
	// are plain 2PC.
	asyncCommit atomic.Bool
	onePC       atomic.Bool
	// triedAsyncOr1PC: prewrite started with async commit or 1PC on.
	triedAsyncOr1PC bool
	// maxCommitTS bounds the commit ts TiKV may compute for async commit
	// and 1PC (0 for plain 2PC).
	maxCommitTS uint64

	mu sync.Mutex // guards the fields below
	// minCommitTS is the smallest commit ts the locks allow: the
	// linearizability ts before prewrite, then raised to every async
	// prewrite's answer (client-go minCommitTSMgr).
	minCommitTS uint64
	// onePCCommitTS is the commit ts TiKV chose for a 1PC prewrite.
	onePCCommitTS uint64
	// undetermined is the send failure of a prewrite batch of an async or
	// 1PC commit that never got an answer afterwards: its locks may exist,
	// so the transaction may be committed (client-go undeterminedErr).
	undetermined error
	// ttl is the TTL manager, started once the primary is prewritten.
	ttl *ttlManager
}

// commitOptions are the per-transaction protocol choices.
type commitOptions struct {
	asyncCommit, onePC, causalConsistency bool
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

// checkAsyncCommit is client-go checkAsyncCommit: async commit when it is
// enabled and the transaction is small (at most AsyncCommitKeysLimit
// mutations, AsyncCommitTotalKeySizeLimit bytes of keys): every key must be
// listed in the primary lock.
func (c *committer) checkAsyncCommit() bool {
	if !c.opts.asyncCommit || len(c.muts) > AsyncCommitKeysLimit || c.hasSharedLock() {
		return false
	}
	total := 0
	for _, m := range c.muts {
		total += len(m.Key)
		if total > AsyncCommitTotalKeySizeLimit {
			return false
		}
	}
	return true
}

// asyncSecondaries are the keys a resolver checks besides the primary: all
// but the primary and the prewrite-only existence checks (client-go
// asyncSecondaries).
func (c *committer) asyncSecondaries() [][]byte {
	var out [][]byte
	for _, m := range c.muts {
		if m.committable() && !bytes.Equal(m.Key, c.primary) {
			out = append(out, m.Key)
		}
	}
	return out
}

// execute commits the transaction (client-go twoPhaseCommitter.execute):
//  1. async commit and 1PC are chosen when enabled and eligible; they need a
//     fresh timestamp as the floor of the commit ts (linearizability,
//     skipped with causal consistency) and a max_commit_ts of start ts plus
//     the time spent plus AsyncCommitSafeWindow;
//  2. every mutation is prewritten; a 1PC prewrite that TiKV commits
//     directly ends the commit there, at TiKV's one_pc_commit_ts;
//  3. an async commit is committed once every prewrite succeeded, at the
//     largest min_commit_ts TiKV returned: the keys are committed in the
//     background and Commit returns;
//  4. otherwise (2PC, or a fallback from either) the commit ts comes from
//     PD, the primary is committed, then the secondaries in the background.
//
// Outcomes: for async commit and 1PC, a prewrite that may have reached TiKV
// without an answer makes the outcome undetermined (its locks may all
// exist, which commits the transaction) and nothing is rolled back.
func (c *committer) execute(ctx context.Context) error {
	for _, m := range c.muts {
		c.size += len(m.Key) + len(m.Value)
	}
	defer c.stopTTLManager()
	if c.checkAsyncCommit() {
		c.asyncCommit.Store(true)
	}
	if c.opts.onePC && !c.hasSharedLock() {
		c.onePC.Store(true)
	}
	c.triedAsyncOr1PC = c.asyncCommit.Load() || c.onePC.Load()
	if c.triedAsyncOr1PC {
		if !c.opts.causalConsistency {
			// The commit ts must exceed every snapshot already taken
			// anywhere: take one now (client-go 2pc.go: a TSO error is
			// returned as is, nothing is written yet).
			latest, err := c.store.Oracle.GetTimestamp(ctx)
			if err != nil {
				return fmt.Errorf("transaction: get min commit ts: %w", err)
			}
			c.minCommitTS = latest + 1
		}
		// client-go calculateMaxCommitTS.
		elapsed := rt.Since(c.store.RT, c.startTime).Milliseconds()
		c.maxCommitTS = c.startTS + oracle.ComposeTS(elapsed, 0) + oracle.ComposeTS(AsyncCommitSafeWindow.Milliseconds(), 0)
	}
	bo := c.backoffer(ctx, prewriteMaxBackoff)
	if err := c.prewrite(bo, c.muts); err != nil {
		if u := c.undeterminedErr(); u != nil {
			return tikverr.Undetermined("prewrite", fmt.Errorf("%w (after %v)", u, err))
		}
		if tikverr.IsErrUndetermined(err) && (c.asyncCommit.Load() || c.onePC.Load()) {
			return err
		}
		c.cleanupAsync()
		return err
	}
	if c.onePC.Load() {
		c.mu.Lock()
		ts := c.onePCCommitTS
		c.mu.Unlock()
		if ts == 0 {
			return fmt.Errorf("transaction %d: 1PC prewrite succeeded without a commit ts", c.startTS)
		}
		c.commitTS = ts
		return nil
	}
	if !slices.ContainsFunc(c.muts, (*mutation).committable) {
		return nil // only existence checks: they passed and nothing is locked
	}
	if c.asyncCommit.Load() {
		c.mu.Lock()
		ts := c.minCommitTS
		c.mu.Unlock()
		if ts == 0 {
			return fmt.Errorf("transaction %d: async commit prewrite left no min commit ts", c.startTS)
		}
		// The transaction is committed: every lock exists. Commit the keys
		// in the background; a failure leaves locks that readers resolve
		// with CheckSecondaryLocks (client-go: errors only logged).
		c.commitTS = ts
		keys := c.committableKeys()
		c.store.RT.Go("async-commit", func() {
			sbo := c.backoffer(c.background(), commitMaxBackoff)
			_ = c.commitKeys(sbo, keys)
		})
		return nil
	}
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
	for _, k := range c.committableKeys() {
		if !bytes.Equal(k, c.primary) {
			secondaries = append(secondaries, k)
		}
	}
	if len(secondaries) > 0 {
		// Secondaries commit in the background: the transaction is already
		// committed; a failure leaves locks that readers resolve.
		c.store.RT.Go("commit-secondaries", func() {
			sbo := c.backoffer(c.background(), commitMaxBackoff)
			_ = c.commitKeys(sbo, secondaries)
		})
	}
	return nil
}

// committableKeys are the keys that hold locks after prewrite, in order.
func (c *committer) committableKeys() [][]byte {
	var out [][]byte
	for _, m := range c.muts {
		if m.committable() {
			out = append(out, m.Key)
		}
	}
	return out
}

func (c *committer) undeterminedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.undetermined
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
	keys   [][]byte // sorted
	// regionKeys is how many of the keys of this round fall in the region
	// (all its batches together): the prewrite's TxnSize, which decides
	// whether resolvers clean the region key by key (client-go
	// regionTxnSize).
	regionKeys int
}

// forEach runs f on every batch in parallel tasks (one batch runs inline)
// and waits for all of them, even when the context is done: each batch sees
// the context itself and classifies its own outcome, and a batch still in
// flight could otherwise write locks after the caller gave up on it.
func (c *committer) forEach(bo *retry.Backoffer, bs []batch, f func(*retry.Backoffer, batch) error) error {
	if len(bs) == 1 {
		return f(bo, bs[0])
	}
	g := rt.NewGroup(c.store.RT)
	for _, b := range bs {
		cbo := bo.Clone()
		g.Go("2pc-batch", func() error { return f(cbo, b) })
	}
	return g.Wait(context.Background())
}

func (b batch) hasPrimary(primary []byte) bool {
	_, ok := slices.BinarySearchFunc(b.keys, primary, bytes.Compare)
	return ok
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

// commitPrimary commits the primary key. Its result decides the
// transaction's fate (client-go commit.go and 2pc.go execute):
//   - TiKV answered with a key error: the transaction did not commit; it is
//     rolled back and the error returned as is;
//   - a send may have reached TiKV without its answer coming back (a
//     transport error, a timeout, ctx done in flight), or was answered
//     StaleCommand (which does not prove it was not applied), and no later
//     attempt got a definite answer: the error satisfies
//     tikverr.IsErrUndetermined;
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
		rpcFailures(bo) > 0,
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
	async := c.asyncCommit.Load()
	for {
		role := kvrpcpb.CommitRole_Secondary
		if b.hasPrimary(c.primary) {
			role = kvrpcpb.CommitRole_Primary
		}
		req := &kvrpcpb.CommitRequest{StartVersion: c.startTS, Keys: b.keys, CommitVersion: c.commitTS,
			PrimaryKey: c.primary, CommitRole: role, UseAsyncCommit: async}
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
			if exp := ke.GetCommitTsExpired(); exp != nil && !async && role == kvrpcpb.CommitRole_Primary && bytes.Equal(exp.Key, c.primary) {
				// A reader pushed the primary's min_commit_ts past our
				// commit ts: commit with a newer ts (client-go commit.go).
				// Only the primary may move the commit ts: a secondary, or
				// any key of an async commit, is committed at the ts
				// already decided (cg #1316), so there it is an error.
				if exp.MinCommitTs-exp.AttemptedCommitTs > maxCommitTSRetryGap {
					return &definiteErr{fmt.Errorf("transaction %d: min commit ts %d is too far above commit ts %d", c.startTS, exp.MinCommitTs, exp.AttemptedCommitTs)}
				}
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
		bo := c.backoffer(c.background(), commitMaxBackoff)
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

// hasSharedLock reports whether a mutation is a shared lock: TiKV refuses
// shared locks in async-commit and 1PC prewrites, so they disable both
// (client-go 2pc.go checkAsyncCommit / checkOnePC).
func (c *committer) hasSharedLock() bool {
	return slices.ContainsFunc(c.muts, func(m *mutation) bool { return m.Op == kvrpcpb.Op_SharedLock })
}
