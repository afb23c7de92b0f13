package transaction

import (
	"context"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/internal/sender"
	"github.com/tikvsim/tikvsim/client/oracle"
	"github.com/tikvsim/tikvsim/client/txnkv/txnlock"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

// TestTTLManagerExtendsPrimaryLock prewrites, runs the TTL manager for 5s
// and checks that the primary lock's TTL grew past its 3s start, so other
// transactions do not roll back a commit that is still running.
func TestTTLManagerExtendsPrimaryLock(t *testing.T) {
	w := sim.New(1, sim.Options{MaxTime: time.Hour})
	net := network.New(w, network.Config{})
	c := cluster.New(w, net, cluster.Config{})
	r := clock.New(w)
	pdc := c.NewPDClient("app")
	cache := locate.New(r, sender.RegionSource(pdc), locate.Options{})
	s := sender.New(cache, c.NewTransport("app"))
	o := oracle.NewPDOracle(r, pdc, 0)
	store := &Store{RT: r, Sender: s, Oracle: o, Resolver: txnlock.NewLockResolver(s, o)}
	w.Spawn("main", func() {
		defer w.Stop()
		ctx := context.Background()
		start, _ := o.GetTimestamp(ctx)
		cm := &committer{store: store, startTS: start, primary: []byte("p"), startTime: r.Now(),
			muts: []*mutation{{Mutation: kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: []byte("p"), Value: []byte("v")}}}}
		if err := cm.prewrite(cm.backoffer(ctx, prewriteMaxBackoff), cm.muts); err != nil {
			t.Fatal(err)
		}
		m := cm.startTTLManager()
		_ = r.Sleep(ctx, 5*time.Second)
		st, err := store.Resolver.GetTxnStatus(ctx, cm.backoffer(ctx, 5000), start, 0, []byte("p"))
		m.close()
		if err != nil {
			t.Fatal(err)
		}
		if st.TTL() <= defaultLockTTL || st.IsStatusDetermined() {
			t.Fatalf("after 5s the lock is %v: the TTL manager did not extend it", st)
		}
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
}
