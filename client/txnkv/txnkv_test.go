package txnkv_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/txnkv"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

type env struct {
	w   *sim.World
	net *network.Network
	c   *cluster.Cluster
	cli *txnkv.Client
	r   rt.Runtime
	ctx context.Context
}

func run(t *testing.T, seed uint64, body func(e *env)) {
	t.Helper()
	w := sim.New(seed, sim.Options{MaxTime: 2 * time.Hour})
	net := network.New(w, network.Config{})
	c := cluster.New(w, net, cluster.Config{TxnKeys: true, SplitKeys: [][]byte{[]byte("g"), []byte("p")}})
	r := clock.New(w)
	cli, err := txnkv.NewClient(txnkv.WithRuntime(r), txnkv.WithTransport(c.NewTransport("app")), txnkv.WithPD(c.NewPDClient("app")))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{w: w, net: net, c: c, cli: cli, r: r, ctx: context.Background()}
	w.Spawn("main", func() {
		defer w.Stop()
		body(e)
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
}

func k(s string) []byte { return []byte(s) }

func (e *env) commit(t *testing.T, kvs map[string]string) uint64 {
	t.Helper()
	txn, err := e.cli.Begin(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for key, v := range kvs {
		if v == "" {
			_ = txn.Delete(k(key))
		} else if err := txn.Set(k(key), k(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := txn.Commit(e.ctx); err != nil {
		t.Fatal(err)
	}
	return txn.CommitTS()
}

func TestCommitAndReadBack(t *testing.T) {
	run(t, 1, func(e *env) {
		e.commit(t, map[string]string{"a": "1", "h": "2", "z": "3"})
		txn, _ := e.cli.Begin(e.ctx)
		for key, want := range map[string]string{"a": "1", "h": "2", "z": "3"} {
			v, err := txn.Get(e.ctx, k(key))
			if err != nil || string(v) != want {
				t.Fatalf("Get(%s) = %q, %v", key, v, err)
			}
		}
		if _, err := txn.Get(e.ctx, k("nope")); !errors.Is(err, tikverr.ErrNotExist) {
			t.Fatalf("missing key: %v", err)
		}
		// Own writes are visible, deletes hide.
		_ = txn.Set(k("a"), k("own"))
		_ = txn.Delete(k("h"))
		if v, _ := txn.Get(e.ctx, k("a")); string(v) != "own" {
			t.Fatalf("own write: %q", v)
		}
		if _, err := txn.Get(e.ctx, k("h")); !errors.Is(err, tikverr.ErrNotExist) {
			t.Fatalf("own delete: %v", err)
		}
		m, err := txn.BatchGet(e.ctx, [][]byte{k("a"), k("h"), k("z"), k("nope")})
		if err != nil || len(m) != 2 || string(m["a"]) != "own" || string(m["z"]) != "3" {
			t.Fatalf("BatchGet = %v, %v", m, err)
		}
		if err := txn.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		if err := txn.Commit(e.ctx); err == nil {
			t.Fatal("second commit succeeded")
		}
		// Snapshot isolation: an old snapshot still sees the old values.
		snap := e.cli.GetSnapshot(txn.StartTS())
		if v, _ := snap.Get(e.ctx, k("h")); string(v) != "2" {
			t.Fatalf("old snapshot sees %q", v)
		}
		now, _ := e.cli.GetTimestamp(e.ctx)
		if _, err := e.cli.GetSnapshot(now).Get(e.ctx, k("h")); !errors.Is(err, tikverr.ErrNotExist) {
			t.Fatalf("new snapshot: %v", err)
		}
	})
}

func TestWriteConflict(t *testing.T) {
	run(t, 2, func(e *env) {
		t1, _ := e.cli.Begin(e.ctx)
		t2, _ := e.cli.Begin(e.ctx)
		_ = t1.Set(k("x"), k("1"))
		_ = t2.Set(k("x"), k("2"))
		if err := t1.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		err := t2.Commit(e.ctx)
		var wc *tikverr.ErrWriteConflict
		if !errors.As(err, &wc) {
			t.Fatalf("second writer: %v, want a write conflict", err)
		}
		if v, _ := e.cli.GetSnapshot(^uint64(0)>>1).Get(e.ctx, k("x")); string(v) != "1" {
			// MaxInt64 is not a real ts, use a fresh one.
		}
		ts, _ := e.cli.GetTimestamp(e.ctx)
		if v, _ := e.cli.GetSnapshot(ts).Get(e.ctx, k("x")); string(v) != "1" {
			t.Fatalf("value %q after the conflict", v)
		}
	})
}

// prewriteOnly leaves a transaction's locks behind, as a client crash after
// prewrite would: primary "a", secondaries given.
func (e *env) prewriteOnly(t *testing.T, ttl uint64, keys ...string) uint64 {
	t.Helper()
	start, _ := e.cli.GetTimestamp(e.ctx)
	tr := e.c.NewTransport("crasher")
	for _, key := range keys {
		ctx, leader := e.c.Region(k(key))
		var peer = ctx.Peers[0]
		for _, p := range ctx.Peers {
			if p.StoreId == leader {
				peer = p
			}
		}
		req := tikvrpc.NewRequest(tikvrpc.CmdPrewrite, &kvrpcpb.PrewriteRequest{PrimaryLock: k(keys[0]), StartVersion: start, LockTtl: ttl,
			TxnSize: uint64(len(keys)), Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: k(key), Value: k("dead")}}},
			kvrpcpb.Context{RegionId: ctx.Id, RegionEpoch: ctx.RegionEpoch, Peer: peer})
		resp, err := tr.SendRequest(e.ctx, cluster.StoreNode(leader), req, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if r := resp.Resp.(*kvrpcpb.PrewriteResponse); len(r.Errors) > 0 || r.RegionError != nil {
			t.Fatalf("prewrite: %v", r)
		}
	}
	return start
}

func TestReaderResolvesExpiredLocks(t *testing.T) {
	run(t, 3, func(e *env) {
		e.commit(t, map[string]string{"a": "old", "q": "old"})
		e.prewriteOnly(t, 500, "a", "q") // crashed writer, 0.5s TTL
		start := e.w.Elapsed()
		ts, _ := e.cli.GetTimestamp(e.ctx)
		v, err := e.cli.GetSnapshot(ts).Get(e.ctx, k("q"))
		if err != nil || string(v) != "old" {
			t.Fatalf("read through a dead lock: %q, %v", v, err)
		}
		if d := e.w.Elapsed() - start; d < 400*time.Millisecond {
			t.Fatalf("read returned after %v, before the lock's TTL", d)
		}
		// The lock is gone: writers are not blocked any more.
		e.commit(t, map[string]string{"q": "new"})
	})
}

func TestReaderCommitsSecondaryOfCommittedTxn(t *testing.T) {
	run(t, 4, func(e *env) {
		start := e.prewriteOnly(t, 60000, "a", "q")
		// Commit only the primary, as a client crashing right after would.
		commitTS, _ := e.cli.GetTimestamp(e.ctx)
		ctx, leader := e.c.Region(k("a"))
		var peer = ctx.Peers[0]
		for _, p := range ctx.Peers {
			if p.StoreId == leader {
				peer = p
			}
		}
		req := tikvrpc.NewRequest(tikvrpc.CmdCommit, &kvrpcpb.CommitRequest{StartVersion: start, Keys: [][]byte{k("a")}, CommitVersion: commitTS},
			kvrpcpb.Context{RegionId: ctx.Id, RegionEpoch: ctx.RegionEpoch, Peer: peer})
		if _, err := e.c.NewTransport("crasher").SendRequest(e.ctx, cluster.StoreNode(leader), req, time.Second); err != nil {
			t.Fatal(err)
		}
		ts, _ := e.cli.GetTimestamp(e.ctx)
		m, err := e.cli.GetSnapshot(ts).BatchGet(e.ctx, [][]byte{k("a"), k("q")})
		if err != nil || string(m["q"]) != "dead" || string(m["a"]) != "dead" {
			t.Fatalf("BatchGet over a committed txn's secondary lock = %v, %v", m, err)
		}
		// An older snapshot does not see it.
		if _, err := e.cli.GetSnapshot(start).Get(e.ctx, k("q")); !errors.Is(err, tikverr.ErrNotExist) {
			t.Fatalf("snapshot below the commit: %v", err)
		}
	})
}

func TestScans(t *testing.T) {
	run(t, 5, func(e *env) {
		kvs := map[string]string{}
		for c := 'a'; c <= 'z'; c++ {
			kvs[string(c)] = "v" + string(c)
		}
		e.commit(t, kvs)
		ts, _ := e.cli.GetTimestamp(e.ctx)
		snap := e.cli.GetSnapshot(ts)
		snap.ScanBatchSize = 4
		it, err := snap.Iter(e.ctx, k("c"), k("t"))
		if err != nil {
			t.Fatal(err)
		}
		var got string
		for it.Valid() {
			got += string(it.Key())
			if err := it.Next(); err != nil {
				t.Fatal(err)
			}
		}
		if got != "cdefghijklmnopqrs" {
			t.Fatalf("Iter(c,t) = %q", got)
		}
		it, _ = snap.IterReverse(e.ctx, k("t"), k("c"))
		got = ""
		for it.Valid() {
			got += string(it.Key())
			_ = it.Next()
		}
		if got != "srqponmlkjihgfedc" {
			t.Fatalf("IterReverse(t,c) = %q", got)
		}
	})
}

// TestConcurrentTransfersUnderChurn moves money between accounts from
// several tasks while regions split and leaders move; the total is
// preserved and every committed transfer is visible.
func TestConcurrentTransfersUnderChurn(t *testing.T) {
	run(t, 6, func(e *env) {
		const n = 5
		init := map[string]string{}
		for i := range n {
			init[fmt.Sprintf("acct%d", i)] = "100"
		}
		e.commit(t, init)
		g := rt.NewGroup(e.r)
		for w := range 3 {
			g.Go("transfer", func() error {
				for i := range 15 {
					from, to := fmt.Sprintf("acct%d", (w+i)%n), fmt.Sprintf("acct%d", (w+2*i+1)%n)
					if from == to {
						continue
					}
					txn, err := e.cli.Begin(e.ctx)
					if err != nil {
						return err
					}
					m, err := txn.BatchGet(e.ctx, [][]byte{k(from), k(to)})
					if err != nil {
						return err
					}
					var a, b int
					fmt.Sscan(string(m[from]), &a)
					fmt.Sscan(string(m[to]), &b)
					_ = txn.Set(k(from), k(fmt.Sprint(a-1)))
					_ = txn.Set(k(to), k(fmt.Sprint(b+1)))
					if err := txn.Commit(e.ctx); err != nil && !errors.As(err, new(*tikverr.ErrWriteConflict)) {
						return err
					}
				}
				return nil
			})
		}
		g.Go("churn", func() error {
			for i := range 6 {
				_ = e.r.Sleep(e.ctx, 20*time.Millisecond)
				_ = e.c.Split(k(fmt.Sprintf("acct%d", i%n)))
				_ = e.c.TransferLeader(k("acct2"), uint64(1+i%3))
			}
			return nil
		})
		if err := g.Wait(e.ctx); err != nil {
			t.Fatal(err)
		}
		ts, _ := e.cli.GetTimestamp(e.ctx)
		total := 0
		for i := range n {
			v, err := e.cli.GetSnapshot(ts).Get(e.ctx, k(fmt.Sprintf("acct%d", i)))
			if err != nil {
				t.Fatal(err)
			}
			var x int
			fmt.Sscan(string(v), &x)
			total += x
		}
		if total != 100*n {
			t.Fatalf("total %d, want %d", total, 100*n)
		}
	})
}
