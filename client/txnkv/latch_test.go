package txnkv_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/tikvrpc/interceptor"
	"github.com/tikvsim/tikvsim/client/txnkv"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

// runOpts is run with extra client options and a hooked transport.
func runOpts(t *testing.T, seed uint64, opts []txnkv.Option, body func(e *env, h *hookTransport)) {
	t.Helper()
	w := sim.New(seed, sim.Options{MaxTime: time.Hour})
	net := network.New(w, network.Config{})
	c := cluster.New(w, net, cluster.Config{TxnKeys: true, SplitKeys: [][]byte{[]byte("g")}})
	r := clock.New(w)
	h := &hookTransport{Transport: c.NewTransport("app")}
	cli, err := txnkv.NewClient(append([]txnkv.Option{txnkv.WithRuntime(r), txnkv.WithTransport(h), txnkv.WithPD(c.NewPDClient("app"))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{w: w, net: net, c: c, cli: cli, r: r, ctx: context.Background()}
	w.Spawn("main", func() {
		defer w.Stop()
		body(e, h)
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
}

// TestLocalLatchesStaleTxnFailsWithoutRPC: with local latches, a
// transaction that a commit of the same client already conflicts with
// fails with ErrWriteConflictInLatch before prewriting anything (client-go
// KVTxn.Commit with txnLatches); one that started after that commit
// commits.
func TestLocalLatchesStaleTxnFailsWithoutRPC(t *testing.T) {
	runOpts(t, 1, []txnkv.Option{txnkv.WithLocalLatches(1024)}, func(e *env, h *hookTransport) {
		t1, _ := e.cli.Begin(e.ctx)
		t2, _ := e.cli.Begin(e.ctx)
		_ = t1.Set(k("k"), k("1"))
		_ = t2.Set(k("k"), k("2"))
		if err := t1.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		before := len(h.requests(tikvrpc.CmdPrewrite))
		var latchErr *tikverr.ErrWriteConflictInLatch
		if err := t2.Commit(e.ctx); !errors.As(err, &latchErr) || latchErr.StartTS != t2.StartTS() {
			t.Fatalf("stale txn commit = %v, want ErrWriteConflictInLatch", err)
		}
		if n := len(h.requests(tikvrpc.CmdPrewrite)) - before; n != 0 {
			t.Fatalf("the stale txn sent %d prewrites", n)
		}
		t3, _ := e.cli.Begin(e.ctx)
		_ = t3.Set(k("k"), k("3"))
		if err := t3.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		if v := e.get(t, "k"); v != "3" {
			t.Fatalf("k = %q, want 3", v)
		}
	})
}

// TestLocalLatchesSerializeConcurrentCommits: two transactions of one
// client committing the same key at once never both prewrite: the second
// waits for the first and then fails in the latch (it started before the
// first's commit ts), so TiKV sees no write conflict at all.
func TestLocalLatchesSerializeConcurrentCommits(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		runOpts(t, seed, []txnkv.Option{txnkv.WithLocalLatches(64)}, func(e *env, h *hookTransport) {
			a, _ := e.cli.Begin(e.ctx)
			b, _ := e.cli.Begin(e.ctx)
			_ = a.Set(k("x"), k("a"))
			_ = a.Set(k("y"), k("a"))
			_ = b.Set(k("y"), k("b"))
			g := rt.NewGroup(e.r)
			var errA, errB error
			g.Go("a", func() error { errA = a.Commit(e.ctx); return nil })
			g.Go("b", func() error { errB = b.Commit(e.ctx); return nil })
			_ = g.Wait(e.ctx)
			var latchErr *tikverr.ErrWriteConflictInLatch
			var wc *tikverr.ErrWriteConflict
			switch {
			case errA == nil && errB == nil:
				t.Fatalf("seed %d: both committed a write to y", seed)
			case errors.As(errA, &wc) || errors.As(errB, &wc):
				t.Fatalf("seed %d: a conflict reached TiKV: %v / %v", seed, errA, errB)
			case errA != nil && !errors.As(errA, &latchErr), errB != nil && !errors.As(errB, &latchErr):
				t.Fatalf("seed %d: unexpected errors %v / %v", seed, errA, errB)
			}
		})
	}
}

// TestBackgroundCommitsKeepCallerContext: the secondary commits that run
// after Commit returns carry the caller's context values, so an RPC
// interceptor bound to the commit's context sees them too (client-go
// charges and intercepts its background commits the same way).
func TestBackgroundCommitsKeepCallerContext(t *testing.T) {
	runOpts(t, 1, nil, func(e *env, h *hookTransport) {
		var seen []tikvrpc.CmdType
		it := interceptor.NewRPCInterceptor("record", func(next interceptor.RPCInterceptorFunc) interceptor.RPCInterceptorFunc {
			return func(target string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
				seen = append(seen, req.Type)
				return next(target, req)
			}
		})
		ctx, cancel := context.WithCancel(interceptor.WithRPCInterceptor(e.ctx, it))
		txn, _ := e.cli.Begin(ctx)
		_ = txn.Set(k("a"), k("1")) // region 1
		_ = txn.Set(k("z"), k("2")) // region 2: its commit is a secondary
		if err := txn.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		cancel() // the caller is gone; the background commit must go on
		_ = e.r.Sleep(e.ctx, time.Second)
		if n := len(h.requests(tikvrpc.CmdCommit)); n != 2 {
			t.Fatalf("%d commit RPCs, want primary and secondary", n)
		}
		commits := 0
		for _, c := range seen {
			if c == tikvrpc.CmdCommit {
				commits++
			}
		}
		if commits != 2 {
			t.Fatalf("interceptor saw %d of 2 commits (%v)", commits, seen)
		}
		if l := e.lockOf(t, "z"); l != nil {
			t.Fatalf("secondary still locked: %v", l)
		}
	})
}
