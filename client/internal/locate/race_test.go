package locate

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/stretchr/testify/require"
	"github.com/tikvsim/tikvsim/client/rt"
)

// TestConcurrentReal hammers one Cache from real goroutines (rt.Real) while
// the layout changes, for the race detector: lookups, batch lookups,
// feedback and GC run at once.
func TestConcurrentReal(t *testing.T) {
	pd := newFakePD()
	threeStores(pd)
	pd.putRegion(1, nil, nil, 1, 1, []uint64{1, 2, 3}, 1)
	c := New(rt.Real, pd, Options{})
	ctx := context.Background()
	g := rt.NewGroup(rt.Real)
	var layout sync.Mutex
	for w := 0; w < 8; w++ {
		g.Go("worker", func() error {
			for i := 0; i < 200; i++ {
				k := modelKeys[(w*31+i*7)%len(modelKeys)]
				switch i % 5 {
				case 0:
					layout.Lock()
					r := regionFor(pd.regions, k)
					_ = pd.split(r.Region.Id, uint64(1000+w*1000+i), k)
					layout.Unlock()
				case 1:
					if loc := c.TryLocateKey(k); loc != nil {
						c.InvalidateCachedRegion(loc.Region)
					}
				case 2:
					if _, err := c.BatchLocateKeyRanges(ctx, &noSleep{max: 50}, []KeyRange{{StartKey: k}}, BatchOptions{}); err != nil {
						return err
					}
				case 3:
					c.GCRound(10)
				}
				r, err := c.LocateRegion(ctx, &noSleep{max: 50}, k)
				if err != nil {
					return err
				}
				if !r.Contains(k) {
					return fmt.Errorf("%v does not contain %q", r, k)
				}
				if rc, err := c.GetRPCContext(ctx, nil, r.VerID()); err == nil && rc != nil {
					c.UpdateLeader(rc.Region, &metapb.Peer{Id: peerID(r.ID(), 2), StoreId: 2}, rc.AccessIdx)
					c.OnSendFail(rc, false, nil)
				}
			}
			return nil
		})
	}
	require.NoError(t, g.Wait(ctx))
}
