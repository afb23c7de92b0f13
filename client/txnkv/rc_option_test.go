package txnkv_test

import (
	"context"
	"testing"
	"time"

	"github.com/tikvsim/tikvsim/client/resourcecontrol"
	"github.com/tikvsim/tikvsim/client/txnkv"
	"github.com/tikvsim/tikvsim/client/util"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

// WithResourceControl charges a transaction's requests of a resource group
// through the client's controller with nothing bound to the context (a
// one-key commit: prewrite and commit), and the store-wide requests of
// UnsafeDestroyRange too; a context's own controller replaces it.
func TestTxnWithResourceControl(t *testing.T) {
	w := sim.New(6, sim.Options{MaxTime: time.Hour})
	net := network.New(w, network.Config{})
	c := cluster.New(w, net, cluster.Config{TxnKeys: true})
	r := clock.New(w)
	client := &chargingRC{}
	cli, err := txnkv.NewClient(txnkv.WithRuntime(r), txnkv.WithTransport(c.NewTransport("app")),
		txnkv.WithPD(c.NewPDClient("app")), txnkv.WithResourceControl(client))
	if err != nil {
		t.Fatal(err)
	}
	w.Spawn("main", func() {
		defer w.Stop()
		ctx := util.WithResourceGroupName(context.Background(), "rg")
		txn, err := cli.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_ = txn.Set(k("key"), []byte("value"))
		if err := txn.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if client.calls != 2 || client.resps != 2 {
			t.Fatalf("client-wide controller: %d admissions, %d settlements; want 2 each", client.calls, client.resps)
		}
		if err := cli.UnsafeDestroyRange(ctx, k("a"), k("b")); err != nil {
			t.Fatal(err)
		}
		if want := 2 + len(c.StoreIDs()); client.calls != want {
			t.Fatalf("after UnsafeDestroyRange: %d admissions, want %d", client.calls, want)
		}
		own := &chargingRC{}
		txn, _ = cli.Begin(ctx)
		_ = txn.Set(k("key2"), []byte("value"))
		if err := txn.Commit(resourcecontrol.WithKVInterceptor(ctx, own)); err != nil {
			t.Fatal(err)
		}
		if own.calls != 2 || client.calls != 2+len(c.StoreIDs()) {
			t.Fatalf("context's controller: %d admissions, client's %d", own.calls, client.calls)
		}
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
}
