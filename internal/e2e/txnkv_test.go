package e2e

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/require"

	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/txnkv"
	"github.com/tikvsim/tikvsim/client/txnkv/transaction"
)

// txnSplits are the initial region boundaries of the transaction suite.
var txnSplits = []string{"b", "d"}

func commitKVs(t *testing.T, ctx context.Context, c *txnkv.Client, kvs ...string) *transaction.KVTxn {
	t.Helper()
	txn, err := c.Begin(ctx)
	require.NoError(t, err)
	for i := 0; i+1 < len(kvs); i += 2 {
		require.NoError(t, txn.Set([]byte(kvs[i]), []byte(kvs[i+1])))
	}
	require.NoError(t, txn.Commit(ctx))
	return txn
}

// readLatest reads key at a fresh timestamp; "" for a missing key.
func readLatest(t *testing.T, ctx context.Context, c *txnkv.Client, key string) string {
	t.Helper()
	ts, err := c.GetTimestamp(ctx)
	require.NoError(t, err)
	v, err := c.GetSnapshot(ts).Get(ctx, []byte(key))
	if tikverr.IsErrNotFound(err) {
		return ""
	}
	require.NoError(t, err)
	return string(v)
}

// iterator is what KVTxn.Iter and KVSnapshot.Iter return.
type iterator interface {
	Valid() bool
	Key() []byte
	Value() []byte
	Next() error
	Close()
}

// drain reads an iterator to its end as "k=v" strings.
func drain(t *testing.T, it iterator) []string {
	t.Helper()
	defer it.Close()
	var out []string
	for it.Valid() {
		out = append(out, string(it.Key())+"="+string(it.Value()))
		require.NoError(t, it.Next())
	}
	return out
}

// TestTxn runs transactions through the production transport and PD
// adapter against the served cluster (three regions, encoded boundaries).
func TestTxn(t *testing.T) {
	srv := txnServe(t, txnSplits...)
	c := newTxn(t, srv)
	ctx := testContext(t)

	t.Run("commit across regions", func(t *testing.T) {
		txn := commitKVs(t, ctx, c, "a1", "x", "c1", "y", "e1", "z")
		require.Greater(t, txn.CommitTS(), txn.StartTS())
		snap := c.GetSnapshot(txn.CommitTS())
		got, err := snap.BatchGet(ctx, [][]byte{[]byte("a1"), []byte("c1"), []byte("e1"), []byte("f1")})
		require.NoError(t, err)
		require.Equal(t, map[string][]byte{"a1": []byte("x"), "c1": []byte("y"), "e1": []byte("z")}, got)
		_, err = c.GetSnapshot(txn.StartTS()).Get(ctx, []byte("c1"))
		require.True(t, tikverr.IsErrNotFound(err), "invisible below the commit ts: %v", err)
	})

	t.Run("write conflict", func(t *testing.T) {
		t1, err := c.Begin(ctx)
		require.NoError(t, err)
		t2, err := c.Begin(ctx)
		require.NoError(t, err)
		require.NoError(t, t1.Set([]byte("wc"), []byte("t1")))
		require.NoError(t, t2.Set([]byte("wc"), []byte("t2")))
		require.NoError(t, t2.Set([]byte("e-wc"), []byte("t2"))) // in another region
		require.NoError(t, t1.Commit(ctx))
		err = t2.Commit(ctx)
		require.True(t, tikverr.IsErrWriteConflict(err), "the second committer loses: %v", err)
		require.Equal(t, "t1", readLatest(t, ctx, c, "wc"))
		require.Equal(t, "", readLatest(t, ctx, c, "e-wc"), "nothing of the loser is visible")
	})

	t.Run("snapshot isolation", func(t *testing.T) {
		commitKVs(t, ctx, c, "si", "v1")
		reader, err := c.Begin(ctx)
		require.NoError(t, err)
		commitKVs(t, ctx, c, "si", "v2", "c-si", "new")
		v, err := reader.Get(ctx, []byte("si"))
		require.NoError(t, err)
		require.Equal(t, "v1", string(v), "a transaction reads its start-ts snapshot")
		_, err = reader.Get(ctx, []byte("c-si"))
		require.True(t, tikverr.IsErrNotFound(err))
		require.Equal(t, "v2", readLatest(t, ctx, c, "si"))
		// It may not overwrite what committed after it started.
		require.NoError(t, reader.Set([]byte("si"), []byte("v3")))
		require.True(t, tikverr.IsErrWriteConflict(reader.Commit(ctx)))
		require.Equal(t, "v2", readLatest(t, ctx, c, "si"))
	})

	t.Run("iterators", func(t *testing.T) {
		commitKVs(t, ctx, c, "it/a", "1", "it/b", "2", "it/c", "3", "it/d", "4", "it/e", "5")
		do(t, srv, `split("it/c")`)
		txn, err := c.Begin(ctx)
		require.NoError(t, err)
		require.NoError(t, txn.Delete([]byte("it/c")))
		require.NoError(t, txn.Set([]byte("it/bb"), []byte("buffered")))
		require.NoError(t, txn.Set([]byte("it/d"), []byte("44")))
		it, err := txn.Iter(ctx, []byte("it/"), []byte("it0"))
		require.NoError(t, err)
		require.Equal(t, []string{"it/a=1", "it/b=2", "it/bb=buffered", "it/d=44", "it/e=5"}, drain(t, it),
			"buffered writes over the snapshot, across regions")
		it, err = txn.IterReverse(ctx, []byte("it/e"), []byte("it/"))
		require.NoError(t, err)
		require.Equal(t, []string{"it/d=44", "it/bb=buffered", "it/b=2", "it/a=1"}, drain(t, it))
		require.NoError(t, txn.Rollback())

		snapIt, err := c.GetSnapshot(txn.StartTS()).Iter(ctx, []byte("it/b"), []byte("it/e"))
		require.NoError(t, err)
		require.Equal(t, []string{"it/b=2", "it/c=3", "it/d=4"}, drain(t, snapIt))
	})

	t.Run("rollback", func(t *testing.T) {
		txn, err := c.Begin(ctx)
		require.NoError(t, err)
		require.NoError(t, txn.Set([]byte("rb"), []byte("never")))
		require.NoError(t, txn.Rollback())
		require.ErrorIs(t, txn.Commit(ctx), transaction.ErrInvalidTxn)
		require.Equal(t, "", readLatest(t, ctx, c, "rb"))
	})
}

// TestTxnLeftoverLocks leaves the locks of a transaction whose client died
// (prewritten by the unary baseline, never finished) and checks that a
// later reader resolves them: rolled back when the primary expired
// uncommitted, committed when the primary committed.
func TestTxnLeftoverLocks(t *testing.T) {
	srv := txnServe(t, txnSplits...)
	c := newTxn(t, srv)
	ctx := testContext(t)
	u := newUnary(t, newPD(t, srv), true)

	t.Run("expired primary rolls back", func(t *testing.T) {
		commitKVs(t, ctx, c, "lk", "old")
		tg, err := u.locate(ctx, []byte("lk"))
		require.NoError(t, err)
		start, err := u.ts(ctx)
		require.NoError(t, err)
		require.NoError(t, u.prewrite(ctx, tg, []byte("lk"), start, 1, []byte("lk"), []byte("dead")))
		time.Sleep(100 * time.Millisecond) // the 1 ms TTL passes on PD's clock, which moves in 50 ms steps
		require.Equal(t, "old", readLatest(t, ctx, c, "lk"), "the reader rolled the dead transaction back")
		requireNoLocks(t, ctx, u, "lk")
		// The rolled-back transaction can no longer commit.
		commitTS, err := u.ts(ctx)
		require.NoError(t, err)
		require.Error(t, u.commit(ctx, tg, start, commitTS, []byte("lk")))
	})

	t.Run("committed primary commits the secondary", func(t *testing.T) {
		primary, secondary := []byte("a-lk"), []byte("e-lk") // two regions
		pt, err := u.locate(ctx, primary)
		require.NoError(t, err)
		st, err := u.locate(ctx, secondary)
		require.NoError(t, err)
		require.NotEqual(t, pt.ctx.RegionId, st.ctx.RegionId)
		start, err := u.ts(ctx)
		require.NoError(t, err)
		const longTTL = 20000 // alive: only the primary's commit decides
		require.NoError(t, u.prewrite(ctx, pt, primary, start, longTTL, primary, []byte("p")))
		require.NoError(t, u.prewrite(ctx, st, primary, start, longTTL, secondary, []byte("s")))
		commitTS, err := u.ts(ctx)
		require.NoError(t, err)
		require.NoError(t, u.commit(ctx, pt, start, commitTS, primary))
		// The client died before committing the secondary.
		begin := time.Now()
		require.Equal(t, "s", readLatest(t, ctx, c, string(secondary)))
		require.Less(t, time.Since(begin), 5*time.Second, "resolved at once, not after the TTL")
		requireNoLocks(t, ctx, u, string(secondary))
	})

	t.Run("alive lock is waited for", func(t *testing.T) {
		tg, err := u.locate(ctx, []byte("alive"))
		require.NoError(t, err)
		start, err := u.ts(ctx)
		require.NoError(t, err)
		require.NoError(t, u.prewrite(ctx, tg, []byte("alive"), start, 300, []byte("alive"), []byte("v")))
		// A reader meets a live lock and backs off until its 300 ms TTL
		// expires, then rolls it back.
		begin := time.Now()
		require.Equal(t, "", readLatest(t, ctx, c, "alive"))
		require.GreaterOrEqual(t, time.Since(begin), 100*time.Millisecond, "the reader waited for the lock")
		requireNoLocks(t, ctx, u, "alive")
	})
}

// requireNoLocks checks that no lock is left on key.
func requireNoLocks(t *testing.T, ctx context.Context, u *unary, key string) {
	t.Helper()
	tg, err := u.locate(ctx, []byte(key))
	require.NoError(t, err)
	resp, err := tg.kv.KvScanLock(ctx, &kvrpcpb.ScanLockRequest{Context: tg.ctx, MaxVersion: math.MaxUint64,
		StartKey: []byte(key), EndKey: append([]byte(key), 0), Limit: 10})
	require.NoError(t, err)
	require.Nil(t, resp.GetRegionError())
	require.Empty(t, resp.GetLocks(), "locks left on %q", key)
}

// TestTxnSplitAndTransferWhileServing runs bank transfers between accounts
// in different regions while the cluster splits and moves leaders: every
// transaction commits or loses a write conflict (retried), the clients
// meet both kinds of region error, and the total is kept.
func TestTxnSplitAndTransferWhileServing(t *testing.T) {
	srv := txnServe(t)
	ctx := testContext(t)
	const accounts, initial, workers, minTxns = 12, 100, 4, 5
	acct := func(i int) []byte { return []byte(fmt.Sprintf("acct/%d", i)) }
	setup := newTxn(t, srv)
	var kvs []string
	for i := range accounts {
		kvs = append(kvs, string(acct(i)), strconv.Itoa(initial))
	}
	commitKVs(t, ctx, setup, kvs...)

	m := newMetrics(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	committed := make([]int, workers)
	for w := range workers {
		tr := newTransport(t)
		c, err := txnkv.NewClient(txnkv.WithPD(newPD(t, srv)), txnkv.WithTransport(tr), txnkv.WithMetrics(m))
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		rng := rand.New(rand.NewPCG(uint64(w), 7))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					if committed[w] >= minTxns {
						return
					}
				default:
				}
				from, to := rng.IntN(accounts), rng.IntN(accounts-1)
				if to >= from {
					to++
				}
				err := transfer(ctx, c, acct(from), acct(to), 1+rng.IntN(10))
				switch {
				case err == nil:
					committed[w]++
				case tikverr.IsErrWriteConflict(err):
				default:
					errs <- err
					return
				}
			}
		}()
	}
	for _, a := range []string{`split("acct/2")`, `transfer("acct/0",2)`, `split("acct/5")`, `transfer("acct/3",3)`,
		`split("acct/7")`, `transfer("acct/6",1)`, `transfer("acct/2",3)`} {
		time.Sleep(15 * time.Millisecond)
		do(t, srv, a)
	}
	close(stop)
	stopped := time.Now()
	wg.Wait()
	t.Logf("committed %v; %v after the last action", committed, time.Since(stopped))
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Positive(t, counter(m.RegionErrorCounter("epoch_not_match")), "the clients met the splits")
	require.Positive(t, counter(m.RegionErrorCounter("not_leader")), "the clients met the leader transfers")

	ts, err := setup.GetTimestamp(ctx)
	require.NoError(t, err)
	it, err := setup.GetSnapshot(ts).Iter(ctx, []byte("acct/"), []byte("acct0"))
	require.NoError(t, err)
	sum, n := 0, 0
	for _, kv := range drain(t, it) {
		v, err := strconv.Atoi(kv[strings.IndexByte(kv, '=')+1:])
		require.NoError(t, err)
		sum, n = sum+v, n+1
	}
	require.Equal(t, accounts, n)
	require.Equal(t, accounts*initial, sum, "transfers keep the total")
}

// transfer moves amount from one account to another in one transaction.
func transfer(ctx context.Context, c *txnkv.Client, from, to []byte, amount int) error {
	txn, err := c.Begin(ctx)
	if err != nil {
		return err
	}
	got, err := txn.BatchGet(ctx, [][]byte{from, to})
	if err != nil {
		return err
	}
	a, errA := strconv.Atoi(string(got[string(from)]))
	b, errB := strconv.Atoi(string(got[string(to)]))
	if err := errors.Join(errA, errB); err != nil {
		return err
	}
	_ = txn.Set(from, []byte(strconv.Itoa(a-amount)))
	_ = txn.Set(to, []byte(strconv.Itoa(b+amount)))
	return txn.Commit(ctx)
}
