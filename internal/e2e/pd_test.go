package e2e

import (
	"testing"

	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/stretchr/testify/require"

	"github.com/tikvsim/tikvsim/client/oracle"
	"github.com/tikvsim/tikvsim/client/pd"
	"github.com/tikvsim/tikvsim/client/pd/pdclient"
)

// The PD adapter against the served PD: timestamps, regions, stores.
func TestPDAdapter(t *testing.T) {
	srv := rawServe(t, "m")
	c := newPD(t, srv)
	ctx := testContext(t)

	t.Run("tso", func(t *testing.T) {
		ph1, lo1, err := c.GetTS(ctx, 1)
		require.NoError(t, err)
		ph2, lo2, err := c.GetTS(ctx, 10)
		require.NoError(t, err)
		first := oracle.ComposeTS(ph2, lo2) - 9
		require.Greater(t, first, oracle.ComposeTS(ph1, lo1), "a batch starts after every earlier timestamp")
		ph3, lo3, err := c.GetTS(ctx, 1)
		require.NoError(t, err)
		require.Greater(t, oracle.ComposeTS(ph3, lo3), oracle.ComposeTS(ph2, lo2), "and ends before every later one")
		_, _, err = c.GetTS(ctx, 0)
		require.Error(t, err)
	})

	t.Run("regions", func(t *testing.T) {
		r, err := c.GetRegion(ctx, []byte("a"), false)
		require.NoError(t, err)
		require.Empty(t, r.GetRegion().GetStartKey())
		require.Equal(t, []byte("m"), r.GetRegion().GetEndKey())
		require.NotZero(t, r.GetLeader().GetStoreId())
		r2, err := c.GetRegion(ctx, []byte("x"), true)
		require.NoError(t, err)
		require.Equal(t, []byte("m"), r2.GetRegion().GetStartKey())
		prev, err := c.GetPrevRegion(ctx, []byte("x"), false)
		require.NoError(t, err)
		require.Equal(t, r.GetRegion().GetId(), prev.GetRegion().GetId())
		byID, err := c.GetRegionByID(ctx, r2.GetRegion().GetId(), false)
		require.NoError(t, err)
		require.Equal(t, r2.GetRegion().GetEndKey(), byID.GetRegion().GetEndKey())
		unknown, err := c.GetRegionByID(ctx, 1<<40, false)
		require.NoError(t, err)
		require.Nil(t, unknown, "a region PD does not know is (nil, nil)")
		all, err := c.BatchScanRegions(ctx, []*pdpb.KeyRange{{StartKey: []byte("a"), EndKey: []byte("z")}}, 10, false)
		require.NoError(t, err)
		require.Len(t, all, 2)
		require.Equal(t, r.GetRegion().GetId(), all[0].GetRegion().GetId())
		require.Equal(t, r2.GetRegion().GetId(), all[1].GetRegion().GetId())
		one, err := c.BatchScanRegions(ctx, []*pdpb.KeyRange{{StartKey: []byte("a"), EndKey: []byte("z")}}, 1, false)
		require.NoError(t, err)
		require.Len(t, one, 1, "limit")
	})

	t.Run("stores", func(t *testing.T) {
		stores, err := c.GetAllStores(ctx)
		require.NoError(t, err)
		require.Len(t, stores, 3)
		addrs := srv.StoreAddrs()
		for _, s := range stores {
			require.Equal(t, addrs[s.GetId()-1], s.GetAddress(), "the served address of store %d", s.GetId())
			got, err := c.GetStore(ctx, s.GetId())
			require.NoError(t, err)
			require.Equal(t, s.GetAddress(), got.GetAddress())
		}
		_, err = c.GetStore(ctx, 99)
		require.ErrorIs(t, err, pd.ErrStoreNotFound)
	})

	t.Run("closed", func(t *testing.T) {
		c2 := newPD(t, srv)
		c2.Close()
		c2.Close()
		_, _, err := c2.GetTS(ctx, 1)
		require.ErrorIs(t, err, pdclient.ErrClosed)
	})
}
