// Package transaction is the transaction (optimistic, or pessimistic with
// SetPessimistic and LockKeys: pessimistic.go, aggressive.go): reads through the
// write buffer (client/internal/unionstore) and a snapshot at the start ts,
// writes into the buffer, and a two-phase commit (prewrite every mutation,
// then commit the primary key, then the secondaries) as client-go's
// txnkv/transaction (txn.go, 2pc.go, prewrite.go, commit.go, cleanup.go).
//
// Async commit (SetEnableAsyncCommit) and one-phase commit (SetEnable1PC)
// are per-transaction options, as in client-go; see committer.execute for
// the protocol steps and their fallbacks to 2PC.
//
// Outcome classification: a commit that fails before the primary key's
// commit was sent returns a definite error (the transaction is rolled back).
// When the primary commit's response is lost, or its retries run out after a
// send that may have reached TiKV, Commit returns an error satisfying
// tikverr.IsErrUndetermined: the transaction may have committed. With async
// commit or 1PC the same holds for a prewrite whose answer was lost: the
// transaction is committed as soon as all its locks exist (async commit),
// or by the prewrite itself (1PC).
//
// Pessimistic transactions (SetPessimistic, client-go's pessimistic mode):
// LockKeys takes pessimistic locks on TiKV at a for_update_ts, waiting in
// TiKV's lock wait queue for other transactions' locks; the first locked
// key becomes the primary and the TTL manager keeps it alive from then on.
// Commit prewrites the locked keys with the pessimistic check (TiKV skips
// the write-conflict check for them: the locks already excluded writers
// since for_update_ts) and Rollback releases the locks. Aggressive (fair)
// locking (StartAggressiveLocking and friends) keeps locks across
// statement retries. Shared locks (LockCtx.InShareMode) are taken once an
// exclusive lock chose the primary; they are prewritten as SharedLock and
// disable async commit and 1PC.
package transaction

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tikvsim/tikvsim/client/internal/latch"
	"github.com/tikvsim/tikvsim/client/internal/sender"
	"github.com/tikvsim/tikvsim/client/internal/unionstore"
	"github.com/tikvsim/tikvsim/client/oracle"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/txnkv/txnlock"
	"github.com/tikvsim/tikvsim/client/txnkv/txnsnapshot"
)

// Store is what a transaction needs from its client: the runtime, the
// request sender, the oracle and the lock resolver.
type Store struct {
	RT       rt.Runtime
	Sender   *sender.Sender
	Oracle   oracle.Oracle
	Resolver *txnlock.LockResolver
	// Visibility, when set, vets every snapshot read of the store's
	// transactions (txnsnapshot.KVSnapshot.SetVisibilityCheck).
	Visibility func(ctx context.Context, ts uint64) error
	// Latches, when set, are the client's local latches: optimistic
	// commits of one client on the same keys queue up locally instead of
	// conflicting on TiKV (client-go EnableTxnLocalLatches).
	Latches *latch.Latches
}

// ErrInvalidTxn is returned by a transaction used after Commit or Rollback.
var ErrInvalidTxn = errors.New("transaction: invalid (already committed or rolled back)")

// KVTxn is a transaction, optimistic unless SetPessimistic(true). Reads
// and writes may come from several tasks; Commit and Rollback end it.
// LockKeys with LockCtx.InShareMode takes shared locks (see
// ErrSharedLockNeedsPrimary for their rules).
type KVTxn struct {
	store    *Store
	startTS  uint64
	snapshot *txnsnapshot.KVSnapshot
	mu       sync.Mutex // guards buf and valid
	buf      *unionstore.MemDB
	valid    bool
	commitTS uint64
	// startTime is when the transaction began, on the runtime's clock: lock
	// TTLs count from it (client-go KVTxn.startTime and txnLockTTL).
	startTime time.Time
	opts      commitOptions // guarded by mu
	// committedWith is how the last Commit committed (or tried to).
	committedWith protocol
	// pess is the pessimistic state (pessimistic.go), guarded by its
	// lockMu.
	pess pessimisticState
}

// protocol is the commit protocol a Commit ended with.
type protocol int

const (
	protocol2PC protocol = iota
	protocolAsyncCommit
	protocol1PC
)

// SetEnableAsyncCommit makes Commit use async commit when the transaction
// is small enough (AsyncCommitKeysLimit, AsyncCommitTotalKeySizeLimit):
// the transaction is committed once every key is prewritten, so Commit
// returns after one round trip and the keys are committed in the
// background; readers finish it from the locks if the client dies
// (client-go KVTxn.SetEnableAsyncCommit, default off).
func (t *KVTxn) SetEnableAsyncCommit(b bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.opts.asyncCommit = b
}

// SetEnable1PC makes Commit try one-phase commit when every key fits in one
// prewrite request (one region, one batch): TiKV then commits directly and
// no Commit request is sent. TiKV may decline (a fallback to 2PC, or to
// async commit when that is enabled too) (client-go KVTxn.SetEnable1PC,
// default off).
func (t *KVTxn) SetEnable1PC(b bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.opts.onePC = b
}

// SetCausalConsistency, when true, lets async commit and 1PC skip the
// timestamp they otherwise fetch before prewrite: commit ts then only
// exceed the start ts and the snapshots of the TiKVs involved, so
// transactions are causally but not necessarily externally consistent
// (client-go KVTxn.SetCausalConsistency, default false: linearizable).
func (t *KVTxn) SetCausalConsistency(b bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.opts.causalConsistency = b
}

// IsAsyncCommit reports whether Commit committed with async commit: it
// was enabled, the transaction qualified and TiKV did not fall back
// (client-go's committer probe of the same name).
func (t *KVTxn) IsAsyncCommit() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.committedWith == protocolAsyncCommit
}

// IsOnePC reports whether Commit committed in one phase.
func (t *KVTxn) IsOnePC() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.committedWith == protocol1PC
}

// IsCausalConsistency reports whether SetCausalConsistency(true) was called.
func (t *KVTxn) IsCausalConsistency() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.opts.causalConsistency
}

// New begins a transaction at startTS.
func New(store *Store, startTS uint64) *KVTxn {
	snap := txnsnapshot.New(store.RT, store.Sender, store.Resolver, startTS)
	snap.SetVisibilityCheck(store.Visibility)
	return &KVTxn{
		store: store, startTS: startTS, valid: true, buf: unionstore.NewMemDB(), startTime: store.RT.Now(),
		snapshot: snap,
		pess:     pessimisticState{lockMu: store.RT.NewMutex()},
	}
}

// StartTS returns the transaction's start ts.
func (t *KVTxn) StartTS() uint64 { return t.startTS }

// CommitTS returns the commit ts after a successful Commit.
func (t *KVTxn) CommitTS() uint64 { return t.commitTS }

// Valid reports whether the transaction can still be used.
func (t *KVTxn) Valid() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.valid
}

// GetSnapshot returns the transaction's snapshot at its start ts.
func (t *KVTxn) GetSnapshot() *txnsnapshot.KVSnapshot { return t.snapshot }

// Get returns key's value as the transaction sees it: its own writes first,
// then the snapshot. A missing key returns tikverr.ErrNotExist.
func (t *KVTxn) Get(ctx context.Context, key []byte) ([]byte, error) {
	t.mu.Lock()
	if !t.valid {
		t.mu.Unlock()
		return nil, ErrInvalidTxn
	}
	v, err := t.buf.Get(ctx, key)
	t.mu.Unlock()
	if err == nil {
		if unionstore.IsTombstone(v) {
			return nil, tikverr.ErrNotExist
		}
		return v, nil
	}
	if !errors.Is(err, tikverr.ErrNotExist) {
		return nil, err
	}
	return t.snapshot.Get(ctx, key)
}

// BatchGet returns the values of the keys that exist, keyed by string(key).
func (t *KVTxn) BatchGet(ctx context.Context, keys [][]byte) (map[string][]byte, error) {
	t.mu.Lock()
	if !t.valid {
		t.mu.Unlock()
		return nil, ErrInvalidTxn
	}
	buffered, err := t.buf.BatchGet(ctx, keys)
	t.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var rest [][]byte
	for _, k := range keys {
		if _, ok := buffered[string(k)]; !ok {
			rest = append(rest, k)
		}
	}
	out, err := t.snapshot.BatchGet(ctx, rest)
	if err != nil {
		return nil, err
	}
	for k, v := range buffered {
		if !unionstore.IsTombstone(v) {
			out[k] = v
		}
	}
	return out, nil
}

// Set buffers key = value.
func (t *KVTxn) Set(key, value []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.valid {
		return ErrInvalidTxn
	}
	return t.buf.Set(key, value)
}

// Delete buffers the deletion of key.
func (t *KVTxn) Delete(key []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.valid {
		return ErrInvalidTxn
	}
	return t.buf.Delete(key)
}

// Len returns the number of buffered keys.
func (t *KVTxn) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.Len()
}

// GetMemBuffer returns the transaction's write buffer, for writes with key
// flags (client-go KVTxn.GetMemBuffer), e.g. SetWithFlags(key, value,
// kv.SetPresumeKeyNotExists) for an insert whose existence check is left to
// prewrite. The caller must not use it concurrently with the transaction's
// other methods.
func (t *KVTxn) GetMemBuffer() *unionstore.MemDB { return t.buf }

// SetEntrySizeLimit bounds the write buffer: one entry (key plus value) to
// entryLimit bytes and the whole buffer to bufferLimit bytes; 0 means no
// limit. A Set over a limit fails with *tikverr.ErrEntryTooLarge or
// *tikverr.ErrTxnTooLarge (client-go KVTxn.SetEntrySizeLimit /
// TxnTotalSizeLimit).
func (t *KVTxn) SetEntrySizeLimit(entryLimit, bufferLimit uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.SetEntrySizeLimit(entryLimit, bufferLimit)
}

// Iter iterates the transaction's view (its writes over its snapshot) over
// [k, upperBound) in ascending order; a nil upperBound is open. Buffered
// deletes hide the snapshot's keys (client-go KVTxn.Iter over the union
// store). The transaction must not be written while the iterator is open.
func (t *KVTxn) Iter(ctx context.Context, k, upperBound []byte) (unionstore.Iterator, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.valid {
		return nil, ErrInvalidTxn
	}
	return unionstore.NewUnionStore(t.buf, snapshotAt{ctx, t.snapshot}).Iter(k, upperBound)
}

// IterReverse iterates the transaction's view over [lowerBound, k) in
// descending order; a nil k starts from the end of the key space.
func (t *KVTxn) IterReverse(ctx context.Context, k, lowerBound []byte) (unionstore.Iterator, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.valid {
		return nil, ErrInvalidTxn
	}
	return unionstore.NewUnionStore(t.buf, snapshotAt{ctx, t.snapshot}).IterReverse(k, lowerBound)
}

// snapshotAt adapts the snapshot to unionstore.Snapshot, whose iterators
// take no context: they use the one the transaction's Iter was given.
type snapshotAt struct {
	ctx context.Context
	*txnsnapshot.KVSnapshot
}

func (s snapshotAt) Iter(start, end []byte) (unionstore.Iterator, error) {
	it, err := s.KVSnapshot.Iter(s.ctx, start, end)
	if err != nil {
		return nil, err
	}
	return it, nil
}

func (s snapshotAt) IterReverse(end, lower []byte) (unionstore.Iterator, error) {
	it, err := s.KVSnapshot.IterReverse(s.ctx, end, lower)
	if err != nil {
		return nil, err
	}
	return it, nil
}

// Rollback discards the transaction. An optimistic transaction wrote
// nothing to TiKV before Commit; a pessimistic one stops its TTL manager
// and releases its pessimistic locks (PessimisticRollback) in the
// background (client-go KVTxn.Rollback waits for the release; see
// rollbackPessimisticLocks). A failed release leaves locks that expire
// with their TTL and are then rolled back by whoever meets them.
func (t *KVTxn) Rollback() error {
	t.pess.lockMu.Lock()
	defer t.pess.lockMu.Unlock()
	t.mu.Lock()
	if !t.valid {
		t.mu.Unlock()
		return ErrInvalidTxn
	}
	t.valid = false
	t.mu.Unlock()
	_ = t.rollbackPessimisticLocks()
	return nil
}

// Commit runs the two-phase commit. See the package doc for how to read its
// error.
func (t *KVTxn) Commit(ctx context.Context) error {
	t.pess.lockMu.Lock()
	defer t.pess.lockMu.Unlock()
	if a := t.pess.aggressive; a != nil {
		if len(a.currentLockedKeys) != 0 {
			return ErrAggressiveLockingPending
		}
		t.cancelAggressiveLocking()
	}
	t.mu.Lock()
	if !t.valid {
		t.mu.Unlock()
		return ErrInvalidTxn
	}
	t.valid = false
	muts := collectMutations(t.buf, t.pess.pessimistic, t.pess.forUpdateTSChecks)
	opts := t.opts
	t.mu.Unlock()
	c := t.pess.committer
	if len(muts) == 0 {
		if c != nil {
			c.stopTTLManager()
		}
		return nil
	}
	if c == nil {
		c = &committer{store: t.store, startTS: t.startTS, startTime: t.startTime}
	}
	// A pessimistic transaction keeps the primary its first lock chose
	// (every locked key has a mutation, so the primary has one).
	c.muts, c.opts, c.bg = muts, opts, context.WithoutCancel(ctx)
	c.pessimistic = t.pess.pessimistic && c.forUpdateTS > 0
	if c.primary == nil {
		c.primary = primaryOf(muts)
	}
	err := t.executeLatched(ctx, c)
	t.mu.Lock()
	switch {
	case c.onePC.Load():
		t.committedWith = protocol1PC
	case c.asyncCommit.Load():
		t.committedWith = protocolAsyncCommit
	}
	if err == nil {
		t.commitTS = c.commitTS
	}
	t.mu.Unlock()
	return err
}
