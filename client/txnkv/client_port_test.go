package txnkv_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/txnkv"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

// TestClientLifecycle covers NewClient's checks, Run (region cache expiry
// and the low-resolution ts refresh), Oracle, a transaction's Valid and Len,
// and Close.
func TestClientLifecycle(t *testing.T) {
	if _, err := txnkv.NewClient(); err == nil {
		t.Fatal("NewClient without edges succeeded")
	}
	w := sim.New(1, sim.Options{MaxTime: time.Hour})
	net := network.New(w, network.Config{})
	c := cluster.New(w, net, cluster.Config{TxnKeys: true})
	r := clock.New(w)
	cli, err := txnkv.NewClient(txnkv.WithRuntime(r), txnkv.WithTransport(c.NewTransport("app")), txnkv.WithPD(c.NewPDClient("app")),
		txnkv.WithRegionCache(locate.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	w.Spawn("main", func() {
		defer w.Stop()
		ctx, stop := context.WithCancel(context.Background())
		r.Go("client-run", func() { _ = cli.Run(ctx) })
		first, _ := cli.Oracle().GetLowResolutionTimestamp(ctx)
		_ = r.Sleep(ctx, 5*time.Second)
		if now, _ := cli.Oracle().GetLowResolutionTimestamp(ctx); now <= first {
			t.Error("Run did not refresh the low-resolution timestamp")
		}
		stop()
		ctx = context.Background()
		txn, err := cli.Begin(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		_ = txn.Set([]byte("a"), []byte("1"))
		if !txn.Valid() || txn.Len() != 1 {
			t.Errorf("Valid %v Len %d", txn.Valid(), txn.Len())
		}
		_ = txn.Rollback()
		if txn.Valid() {
			t.Error("valid after rollback")
		}
		if err := cli.Close(); err != nil {
			t.Error(err)
		}
		_ = cli.Close() // idempotent
		if _, err := cli.Begin(ctx); !errors.Is(err, txnkv.ErrClosed) {
			t.Errorf("Begin after Close: %v", err)
		}
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
}

// TestResolveExpiredPessimisticLock: an optimistic writer meeting the
// expired pessimistic locks of a crashed pessimistic transaction (primary
// and a secondary) rolls them back (client-go resolvePessimisticLock) and
// commits.
func TestResolveExpiredPessimisticLock(t *testing.T) {
	run(t, 61, func(e *env) {
		start := e.ts(t)
		for _, key := range []string{"p", "s"} {
			resp := e.raw(t, k(key), tikvrpc.CmdPessimisticLock, &kvrpcpb.PessimisticLockRequest{PrimaryLock: k("p"), StartVersion: start,
				ForUpdateTs: start, LockTtl: 500, Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_PessimisticLock, Key: k(key)}}})
			if r := resp.Resp.(*kvrpcpb.PessimisticLockResponse); len(r.Errors) > 0 || r.RegionError != nil {
				t.Fatalf("pessimistic lock: %v", r)
			}
		}
		l := e.lockAt(t, "s")
		if !l.IsPessimistic() || l.String() == "" {
			t.Fatalf("lock %v", l)
		}
		e.commit(t, map[string]string{"s": "new", "p": "new"})
		if e.get(t, "s") != "new" || e.get(t, "p") != "new" {
			t.Fatal("writer's values not visible")
		}
		// The status of the rolled-back transaction prints.
		st, err := e.cli.LockResolver().GetTxnStatus(e.ctx, e.bo(5000), start, 0, k("p"))
		if err != nil || st.IsCommitted() || st.String() == "" {
			t.Fatalf("status %v, %v", st, err)
		}
	})
}
