package rawkv_test

import (
	"context"
	"testing"
	"time"

	"github.com/tikvsim/tikvsim/client/rawkv"
	"github.com/tikvsim/tikvsim/client/resourcecontrol"
	"github.com/tikvsim/tikvsim/client/util"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

// WithResourceControl charges every request of a resource group through
// the client's controller, with nothing bound to the context; a context's
// own controller replaces it, a bound nil turns charging off, and a request
// of no group is not charged.
func TestRawWithResourceControl(t *testing.T) {
	w := sim.New(5, sim.Options{MaxTime: time.Hour})
	net := network.New(w, network.Config{})
	c := cluster.New(w, net, cluster.Config{SplitKeys: [][]byte{[]byte("g")}})
	client := &rawRC{}
	cli, err := rawkv.NewClient(rawkv.WithRuntime(clock.New(w)), rawkv.WithTransport(c.NewTransport("app")),
		rawkv.WithPD(c.NewPDClient("app")), rawkv.WithResourceControl(client))
	if err != nil {
		t.Fatal(err)
	}
	w.Spawn("main", func() {
		defer w.Stop()
		ctx := util.WithResourceGroupName(context.Background(), "rg")
		keys := [][]byte{[]byte("a"), []byte("h")} // two regions
		if err := cli.BatchPut(ctx, keys, [][]byte{[]byte("1"), []byte("2")}); err != nil {
			t.Fatal(err)
		}
		if len(client.groups) != 2 || client.groups[0] != "rg" || client.bytes == 0 {
			t.Fatalf("client-wide controller charged %v, %d bytes; want two requests of rg", client.groups, client.bytes)
		}
		own := &rawRC{}
		if err := cli.Put(resourcecontrol.WithKVInterceptor(ctx, own), []byte("b"), []byte("3")); err != nil {
			t.Fatal(err)
		}
		if err := cli.Put(resourcecontrol.WithKVInterceptor(ctx, nil), []byte("c"), []byte("4")); err != nil {
			t.Fatal(err)
		}
		if err := cli.Put(context.Background(), []byte("d"), []byte("5")); err != nil {
			t.Fatal(err)
		}
		if len(own.groups) != 1 || len(client.groups) != 2 {
			t.Fatalf("context's controller charged %d, client's %d; want 1 and 2", len(own.groups), len(client.groups))
		}
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
}
