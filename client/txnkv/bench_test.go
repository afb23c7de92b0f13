package txnkv_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tikvsim/tikvsim/client/txnkv"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

// BenchmarkSmallTxnCommit measures a 3-key optimistic transaction (begin,
// three sets, commit) against the fake cluster in the simulator: wall time
// and allocations per transaction, client and simulated cluster together.
func BenchmarkSmallTxnCommit(b *testing.B) {
	b.ReportAllocs()
	w := sim.New(1, sim.Options{})
	net := network.New(w, network.Config{NoCopy: true})
	c := cluster.New(w, net, cluster.Config{TxnKeys: true, SplitKeys: [][]byte{[]byte("k5")}})
	cli, err := txnkv.NewClient(txnkv.WithRuntime(clock.New(w)), txnkv.WithTransport(c.NewTransport("app")), txnkv.WithPD(c.NewPDClient("app")))
	if err != nil {
		b.Fatal(err)
	}
	n := b.N
	start := time.Duration(0)
	w.Spawn("bench", func() {
		defer w.Stop()
		ctx := context.Background()
		for i := range n {
			txn, err := cli.Begin(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			for j := range 3 {
				_ = txn.Set([]byte(fmt.Sprintf("k%d", (i+j*3)%10)), []byte("v"))
			}
			if err := txn.Commit(ctx); err != nil {
				b.Error(err)
				return
			}
		}
		start = w.Elapsed()
	})
	b.ResetTimer()
	if err := w.Run(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(start.Microseconds())/float64(n), "sim-µs/txn")
}
