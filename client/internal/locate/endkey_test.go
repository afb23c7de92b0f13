package locate

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tikvsim/tikvsim/sim/clock"
)

// TestLocateEndKeyInfColdCache: the region ending at +inf (what a reverse
// scan from the end of the key space asks for) is found with a cold cache,
// across several pages of PD's region scan, and with a cache that holds
// only earlier regions, starting from the last of them; the answer is
// cached.
func TestLocateEndKeyInfColdCache(t *testing.T) {
	runSim(t, 40, func(r *clock.Runtime) {
		ctx := context.Background()
		var keys []string
		for i := range 10 {
			keys = append(keys, fmt.Sprintf("k%02d", i))
		}
		pd := pdWithSplits(t, keys...) // regions 1..11, 11 = [k09, +inf)
		c := New(r, pd, Options{RegionsPerBatch: 3})
		loc, err := c.LocateEndKey(ctx, nil, nil)
		require.NoError(t, err)
		require.EqualValues(t, 11, loc.Region.ID())
		require.Equal(t, "k09", string(loc.StartKey))
		require.Empty(t, loc.EndKey)
		require.Contains(t, pd.takeCalls(), "BatchScanRegions=4", "11 regions in pages of 3")
		// Cached now: no PD call.
		loc, err = c.LocateEndKey(ctx, nil, nil)
		require.NoError(t, err)
		require.EqualValues(t, 11, loc.Region.ID())
		require.Equal(t, "none", pd.takeCalls())

		// A cache holding region 9 only: one page from its start.
		c.Clear()
		_, err = c.LocateKey(ctx, nil, []byte("k07"))
		require.NoError(t, err)
		pd.takeCalls()
		loc, err = c.LocateEndKey(ctx, nil, nil)
		require.NoError(t, err)
		require.EqualValues(t, 11, loc.Region.ID())
		require.True(t, strings.Contains(pd.takeCalls(), "BatchScanRegions=1"))

		// The last region split under the cache: the stale cached one is
		// invalidated, and the next lookup finds the new last region.
		require.NoError(t, pd.split(11, 12, []byte("z")))
		c.InvalidateCachedRegion(loc.Region)
		loc, err = c.LocateEndKey(ctx, nil, nil)
		require.NoError(t, err)
		require.EqualValues(t, 12, loc.Region.ID())
		require.Equal(t, "z", string(loc.StartKey))

		// PD failures are retried with the backoffer.
		c.Clear()
		pd.failNext(2)
		loc, err = c.LocateEndKey(ctx, nil, nil)
		require.NoError(t, err)
		require.EqualValues(t, 12, loc.Region.ID())
	})
}
