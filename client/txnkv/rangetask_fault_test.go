package txnkv_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tikvsim/tikvsim/client/txnkv/rangetask"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

// TestRangeTasksUnderFaults runs SplitRegions and DeleteRange over many seeds
// with messages dropped and the topology changing under them (a split, a
// merge, a leader transfer and a store crash, at seed-chosen times). Each
// call either succeeds, and then did all its work, or fails with a typed
// error; after the faults heal, the same calls succeed.
func TestRangeTasksUnderFaults(t *testing.T) {
	seeds := 20
	if testing.Short() {
		seeds = 5
	}
	for seed := 1; seed <= seeds; seed++ {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			runCluster(t, uint64(1000+seed), cluster.Config{SplitKeys: splitKeys("b", "c", "d")}, func(e *env, h *hookTransport) {
				data := e.deleteRangeData(t)
				rng := e.w.Rand("faults")
				_ = (network.Drop{P: 0.05}).Apply(e.net)
				// The nemesis: topology changes while the calls run.
				e.w.Spawn("nemesis", func() {
					actions := []func() error{
						func() error { return e.c.Split(k("c3")) },
						func() error { return e.c.Merge(k("a")) },
						func() error { _, l := e.c.Region(k("d")); return e.c.TransferLeader(k("d"), 1+l%3) },
						func() error { return e.c.CrashStore(uint64(1 + rng.IntN(3))) },
					}
					for _, a := range actions {
						_ = e.w.Sleep(e.ctx, time.Duration(rng.IntN(300))*time.Millisecond)
						_ = a()
					}
				})
				ids, serr := e.cli.SplitRegions(e.ctx, splitKeys("a5", "b5", "d5"), false)
				if serr != nil && len(ids) > 3 {
					t.Fatalf("split: %v, %v", ids, serr)
				}
				n, derr := e.cli.DeleteRange(e.ctx, k("a3"), k("d7"), 2)
				var rerr *rangetask.Error
				if derr != nil && !errors.As(derr, &rerr) {
					t.Fatalf("DeleteRange failed without a *rangetask.Error: %v", derr)
				}
				if derr == nil && n < 4 {
					t.Fatalf("DeleteRange completed %d regions of at least 4", n)
				}
				t.Logf("split %v, %v; delete %d regions, %v", ids, serr, n, derr)
				// Heal: no drops, every store up; then the calls succeed.
				_ = (network.Drop{}).Apply(e.net)
				for _, id := range e.c.StoreIDs() {
					_ = e.c.RestartStore(id)
				}
				// DeleteRange first: it meets every region of the range, so
				// the client's cache learns of a merge that undid one of the
				// splits (SplitRegions, as client-go's, skips a key its
				// cache says already starts a region).
				if _, err := e.cli.DeleteRange(e.ctx, k("a3"), k("d7"), 2); err != nil {
					t.Fatalf("DeleteRange after heal: %v", err)
				}
				if _, err := e.cli.SplitRegions(e.ctx, splitKeys("a5", "b5", "d5"), false); err != nil {
					t.Fatalf("split after heal: %v", err)
				}
				for _, key := range []string{"a5", "b5", "d5"} {
					if e.regionStarting(t, key) == 0 {
						t.Fatalf("no region starts at %s", key)
					}
				}
				deleteFromMap(data, "a3", "d7")
				e.checkData(t, data)
			})
		})
	}
}
