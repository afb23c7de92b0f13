package transaction_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/config/retry"
	"github.com/tikvsim/tikvsim/client/internal/apicodec"
	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/internal/sender"
	"github.com/tikvsim/tikvsim/client/internal/unionstore"
	"github.com/tikvsim/tikvsim/client/oracle"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/txnkv/transaction"
	"github.com/tikvsim/tikvsim/client/txnkv/txnlock"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

// These tests run KVTxn alone against the fake cluster (3 stores, regions
// split at "g" and "p"), through the store the txnkv client would build.

type env struct {
	t     *testing.T
	ctx   context.Context
	w     *sim.World
	net   *network.Network
	c     *cluster.Cluster
	store *transaction.Store
	o     *oracle.PDOracle
}

func run(t *testing.T, body func(e *env)) {
	t.Helper()
	w := sim.New(1, sim.Options{MaxTime: time.Hour})
	net := network.New(w, network.Config{})
	c := cluster.New(w, net, cluster.Config{TxnKeys: true, SplitKeys: [][]byte{[]byte("g"), []byte("p")}})
	r := clock.New(w)
	pdc := c.NewPDClient("app")
	codec, err := apicodec.NewCodec(kvrpcpb.APIVersion_V1, apicodec.ModeTxn, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := sender.NewWithCodec(locate.New(r, sender.CodecRegionSource(pdc, codec), locate.Options{}), c.NewTransport("app"), codec)
	o := oracle.NewPDOracle(r, pdc, 0)
	e := &env{t: t, ctx: context.Background(), w: w, net: net, c: c, o: o,
		store: &transaction.Store{RT: r, Sender: s, Oracle: o, Resolver: txnlock.NewLockResolver(s, o)}}
	w.Spawn("main", func() {
		defer w.Stop()
		body(e)
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
}

func (e *env) begin() *transaction.KVTxn {
	e.t.Helper()
	ts, err := e.o.GetTimestamp(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return transaction.New(e.store, ts)
}

func (e *env) commitKVs(kvs ...string) *transaction.KVTxn {
	e.t.Helper()
	txn := e.begin()
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		var err error
		if v == "" {
			err = txn.Delete([]byte(k))
		} else {
			err = txn.Set([]byte(k), []byte(v))
		}
		if err != nil {
			e.t.Fatal(err)
		}
	}
	if err := txn.Commit(e.ctx); err != nil {
		e.t.Fatalf("commit %v: %v", kvs, err)
	}
	return txn
}

func (e *env) iter(it unionstore.Iterator, err error) string {
	t := e.t
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out []string
	for it.Valid() {
		out = append(out, fmt.Sprintf("%s=%s", it.Key(), it.Value()))
		if err := it.Next(); err != nil {
			t.Fatal(err)
		}
	}
	return strings.Join(out, " ")
}

// TestTxnReadsItsWritesOverTheSnapshot: a transaction's reads see its own
// buffered writes over its snapshot (Get, BatchGet, forward and reverse
// iteration); Commit makes them visible to later transactions only; a
// finished transaction refuses every call.
func TestTxnReadsItsWritesOverTheSnapshot(t *testing.T) {
	run(t, func(e *env) {
		e.commitKVs("a=1", "h=1", "q=1", "z=1")
		txn := e.begin()
		if txn.StartTS() == 0 || !txn.Valid() || txn.GetSnapshot().Version() != txn.StartTS() {
			t.Fatal("new transaction")
		}
		for _, err := range []error{txn.Set([]byte("b"), []byte("2")), txn.Set([]byte("q"), []byte("2")), txn.Delete([]byte("h"))} {
			if err != nil {
				t.Fatal(err)
			}
		}
		if txn.Len() != 3 {
			t.Fatalf("Len %d", txn.Len())
		}
		other := e.begin() // concurrent, does not see the buffer
		for key, want := range map[string]string{"a": "1", "b": "2", "q": "2", "h": ""} {
			v, err := txn.Get(e.ctx, []byte(key))
			if want == "" {
				if !errors.Is(err, tikverr.ErrNotExist) {
					t.Errorf("Get %s = %q, %v; want ErrNotExist", key, v, err)
				}
				continue
			}
			if err != nil || string(v) != want {
				t.Errorf("Get %s = %q, %v; want %s", key, v, err, want)
			}
		}
		got, err := txn.BatchGet(e.ctx, [][]byte{[]byte("a"), []byte("b"), []byte("h"), []byte("q"), []byte("x")})
		if err != nil || len(got) != 3 || string(got["a"]) != "1" || string(got["b"]) != "2" || string(got["q"]) != "2" {
			t.Fatalf("BatchGet = %v, %v", got, err)
		}
		if s := e.iter(txn.Iter(e.ctx, nil, nil)); s != "a=1 b=2 q=2 z=1" {
			t.Fatalf("Iter: %s", s)
		}
		if s := e.iter(txn.IterReverse(e.ctx, []byte("z"), []byte("b"))); s != "q=2 b=2" {
			t.Fatalf("IterReverse: %s", s)
		}
		if err := txn.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		if txn.CommitTS() <= txn.StartTS() || txn.Valid() {
			t.Fatalf("after commit: start %d commit %d valid %v", txn.StartTS(), txn.CommitTS(), txn.Valid())
		}
		if v, err := other.Get(e.ctx, []byte("q")); err != nil || string(v) != "1" {
			t.Fatalf("concurrent txn reads q = %q, %v; want its snapshot's 1", v, err)
		}
		later := e.begin()
		if s := e.iter(later.Iter(e.ctx, nil, nil)); s != "a=1 b=2 q=2 z=1" {
			t.Fatalf("later txn: %s", s)
		}
		_ = later.Rollback()
		if later.Valid() {
			t.Fatal("valid after Rollback")
		}
		for name, err := range map[string]error{
			"Set": txn.Set([]byte("x"), []byte("1")), "Delete": txn.Delete([]byte("x")), "Commit": txn.Commit(e.ctx),
			"Rollback": later.Rollback(),
		} {
			if !errors.Is(err, transaction.ErrInvalidTxn) {
				t.Errorf("%s on a finished txn: %v", name, err)
			}
		}
		if _, err := txn.Get(e.ctx, []byte("a")); !errors.Is(err, transaction.ErrInvalidTxn) {
			t.Errorf("Get on a finished txn: %v", err)
		}
		if _, err := txn.BatchGet(e.ctx, [][]byte{[]byte("a")}); !errors.Is(err, transaction.ErrInvalidTxn) {
			t.Errorf("BatchGet on a finished txn: %v", err)
		}
		if _, err := txn.Iter(e.ctx, nil, nil); !errors.Is(err, transaction.ErrInvalidTxn) {
			t.Errorf("Iter on a finished txn: %v", err)
		}
		if _, err := txn.IterReverse(e.ctx, nil, nil); !errors.Is(err, transaction.ErrInvalidTxn) {
			t.Errorf("IterReverse on a finished txn: %v", err)
		}
	})
}

// TestWriteConflict: of two transactions writing one key, the one that
// commits second fails with a write conflict and leaves nothing behind.
func TestWriteConflict(t *testing.T) {
	run(t, func(e *env) {
		t1, t2 := e.begin(), e.begin()
		_ = t1.Set([]byte("k"), []byte("t1"))
		_ = t2.Set([]byte("k"), []byte("t2"))
		_ = t2.Set([]byte("r"), []byte("t2"))
		if err := t1.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		err := t2.Commit(e.ctx)
		var wc *tikverr.ErrWriteConflict
		if !errors.As(err, &wc) {
			t.Fatalf("second commit: %v, want a write conflict", err)
		}
		// The failed txn's prewritten secondary (r) is rolled back by the
		// committer's asynchronous cleanup.
		_ = e.store.RT.Sleep(e.ctx, time.Second)
		if locks := e.c.Engine().Snapshot().Locks(); len(locks) != 0 {
			t.Fatalf("locks left behind: %v", locks)
		}
		if v, err := e.begin().Get(e.ctx, []byte("r")); !errors.Is(err, tikverr.ErrNotExist) {
			t.Fatalf("r = %q, %v; the failed txn wrote it", v, err)
		}
	})
}

// TestCommitProtocols: a transaction over many keys in three regions
// commits with 2PC; one allowed async commit commits that way; a one-region
// transaction allowed 1PC commits in one phase. Every one is readable.
func TestCommitProtocols(t *testing.T) {
	run(t, func(e *env) {
		var kvs []string
		for i := range 300 {
			kvs = append(kvs, fmt.Sprintf("%c%03d=v%d", 'a'+i%26, i, i))
		}
		big := e.commitKVs(kvs...)
		if big.IsAsyncCommit() || big.IsOnePC() {
			t.Fatal("a plain txn used async commit or 1PC")
		}

		async := e.begin()
		async.SetEnableAsyncCommit(true)
		async.SetCausalConsistency(true)
		for _, k := range []string{"b", "k", "s"} {
			_ = async.Set([]byte(k), []byte("async"))
		}
		if err := async.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		if !async.IsAsyncCommit() || !async.IsCausalConsistency() {
			t.Fatalf("async %v causal %v", async.IsAsyncCommit(), async.IsCausalConsistency())
		}

		one := e.begin()
		one.SetEnable1PC(true)
		_ = one.Set([]byte("h1"), []byte("1pc"))
		_ = one.Set([]byte("h2"), []byte("1pc"))
		if err := one.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		if !one.IsOnePC() {
			t.Fatal("a one-region txn allowed 1PC did not use it")
		}

		r := e.begin()
		keys := [][]byte{[]byte("b"), []byte("k"), []byte("s"), []byte("h1"), []byte("h2"), []byte("a000"), []byte("z025")}
		got, err := r.BatchGet(e.ctx, keys)
		if err != nil || len(got) != len(keys) || string(got["s"]) != "async" || string(got["h2"]) != "1pc" || string(got["z025"]) != "v25" {
			t.Fatalf("read back: %v, %v", got, err)
		}
		if locks := e.c.Engine().Snapshot().Locks(); len(locks) != 0 {
			t.Fatalf("locks left: %v", locks)
		}
	})
}

// TestEntrySizeLimit: Set over the entry limit fails with ErrEntryTooLarge
// and buffers nothing; Set that takes the buffer over its limit fails with
// ErrTxnTooLarge after buffering, as client-go's memdb does (the size check
// follows the write; the transaction is to be abandoned).
func TestEntrySizeLimit(t *testing.T) {
	run(t, func(e *env) {
		txn := e.begin()
		txn.SetEntrySizeLimit(16, 40)
		if err := txn.Set([]byte("k"), []byte(strings.Repeat("v", 32))); err == nil {
			t.Fatal("entry over the limit accepted")
		} else {
			var et *tikverr.ErrEntryTooLarge
			if !errors.As(err, &et) || txn.Len() != 0 {
				t.Fatalf("entry over the limit: %v, Len %d", err, txn.Len())
			}
		}
		for i := range 3 {
			if err := txn.Set([]byte(fmt.Sprintf("k%d", i)), []byte("0123456789")); err != nil {
				t.Fatalf("set %d: %v", i, err)
			}
		}
		err := txn.Set([]byte("k9"), []byte("0123456789"))
		var tl *tikverr.ErrTxnTooLarge
		if !errors.As(err, &tl) || txn.Len() != 4 {
			t.Fatalf("buffer over the limit: %v, Len %d", err, txn.Len())
		}
	})
}

// TestCommitOutlivesAPartition: a commit whose secondary region is
// unreachable for longer than the primary lock's initial TTL still
// succeeds once the partition heals, and no other reader rolls it back
// meanwhile: the TTL manager keeps the primary lock alive.
func TestCommitOutlivesAPartition(t *testing.T) {
	run(t, func(e *env) {
		_, leader := e.c.Region([]byte("z"))
		txn := e.begin()
		_ = txn.Set([]byte("a"), []byte("1")) // primary, region 1
		_ = txn.Set([]byte("z"), []byte("1")) // secondary, region 3
		cut := network.OneWay{From: "app", To: cluster.StoreNode(leader)}
		if leader == 0 {
			t.Fatal("no leader for z")
		}
		// Cut after the primary's prewrite has gone out.
		e.w.AfterFunc(time.Millisecond, func() { _ = cut.Apply(e.net) })
		e.w.AfterFunc(25*time.Second, func() { _ = (network.Heal{}).Apply(e.net) })
		errc := make(chan error, 1)
		done := e.w.NewEvent()
		began := e.w.Elapsed()
		e.w.Spawn("committer", func() {
			errc <- txn.Commit(e.ctx)
			done.Fire()
		})
		// Midway, a reader meets the primary lock: it must find it alive.
		_ = e.store.RT.Sleep(e.ctx, 22*time.Second)
		if locks := e.c.Engine().Snapshot().Locks(); len(locks) > 0 {
			r := e.begin()
			st, err := e.store.Resolver.GetTxnStatus(e.ctx, retryBo(e), txn.StartTS(), r.StartTS(), []byte("a"))
			if err != nil || st.IsRolledBack() {
				t.Fatalf("primary judged %v, %v while its txn is still committing", st, err)
			}
		}
		_ = done.Wait(e.ctx)
		if err := <-errc; err != nil {
			t.Fatalf("commit across the partition: %v", err)
		}
		if took := e.w.Elapsed() - began; took < 24*time.Second {
			t.Fatalf("commit took %v: the partition did not hold it up, the test proves nothing", took)
		}
		if v, err := e.begin().Get(e.ctx, []byte("z")); err != nil || string(v) != "1" {
			t.Fatalf("z = %q, %v", v, err)
		}
	})
}

func retryBo(e *env) *retry.Backoffer {
	return retry.NewBackoffer(e.ctx, 20000, e.store.Sender.BackoffEnv(e.store.RT))
}
