package e2e

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/stretchr/testify/require"

	"github.com/tikvsim/tikvsim/client/oracle"
	"github.com/tikvsim/tikvsim/client/pd"
	"github.com/tikvsim/tikvsim/client/pd/pdclient"
	"github.com/tikvsim/tikvsim/client/rawkv"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/serve"
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

// Concurrent multi-timestamp requests (the oracle's batches) get disjoint
// ranges, also across a PD leader change.
func TestPDAdapterTSOBatches(t *testing.T) {
	srv := txnServe(t)
	c := newPD(t, srv)
	ctx := testContext(t)
	type span struct{ first, last uint64 }
	const workers, rounds = 8, 40
	spans := make([][]span, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				n := uint32(1 + (w*rounds+i)%17)
				ph, lo, err := c.GetTS(ctx, n)
				if err != nil {
					errs[w] = fmt.Errorf("GetTS(%d): %w", n, err)
					return
				}
				last := oracle.ComposeTS(ph, lo)
				spans[w] = append(spans[w], span{last - uint64(n) + 1, last})
			}
		}()
	}
	time.Sleep(5 * time.Millisecond)
	do(t, srv, "pd-leader")
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	var all []span
	for _, s := range spans {
		for i := 1; i < len(s); i++ {
			require.Greater(t, s[i].first, s[i-1].last, "one caller's timestamps only go up")
		}
		all = append(all, s...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].first < all[j].first })
	for i := 1; i < len(all); i++ {
		require.Greater(t, all[i].first, all[i-1].last, "no timestamp is handed out twice")
	}
}

// A PD outage fails calls with an error; they succeed again once PD is
// back.
func TestPDAdapterOutage(t *testing.T) {
	srv := txnServe(t)
	c := newPD(t, srv, pdclient.WithTimeout(300*time.Millisecond))
	ctx := testContext(t)
	do(t, srv, "pd-crash")
	_, err := c.GetRegion(ctx, []byte("a"), false)
	require.Error(t, err)
	var pe *pdclient.Error
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "GetRegion", pe.Op)
	_, _, err = c.GetTS(ctx, 4)
	require.Error(t, err)
	do(t, srv, "pd-restart")
	require.Eventually(t, func() bool {
		_, _, err := c.GetTS(ctx, 4)
		return err == nil
	}, 10*time.Second, 50*time.Millisecond)
	r, err := c.GetRegion(ctx, []byte("a"), false)
	require.NoError(t, err)
	require.NotNil(t, r)
}

// API V2: the adapter loads keyspaces (New with WithKeyspace, and the
// rawkv.KeyspaceLoader capability), and a V2 raw client works through it.
func TestPDAdapterKeyspace(t *testing.T) {
	srv := startServe(t, serve.Config{Cluster: cluster.Config{APIVersion: kvrpcpb.APIVersion_V2}})
	ctx := testContext(t)
	// PD answers "not found" for a keyspace until its region boundaries
	// are split, which the served PD does just after it starts.
	plain := newPD(t, srv)
	require.Eventually(t, func() bool {
		_, err := plain.LoadKeyspace(ctx, "DEFAULT")
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)
	c := newPD(t, srv, pdclient.WithKeyspace(""))
	require.Equal(t, "DEFAULT", c.KeyspaceMeta().GetName())
	m, err := c.LoadKeyspace(ctx, "DEFAULT")
	require.NoError(t, err)
	require.Equal(t, c.KeyspaceMeta().GetId(), m.GetId())
	_, err = c.LoadKeyspace(ctx, "no-such-keyspace")
	require.ErrorIs(t, err, pdclient.ErrKeyspaceNotFound)
	begin := time.Now()
	_, err = pdclient.New(ctx, []string{srv.PDAddr()}, pdclient.WithKeyspace("no-such-keyspace"))
	require.ErrorIs(t, err, pdclient.ErrKeyspaceNotFound)
	require.Less(t, time.Since(begin), 2*time.Second, "an unknown keyspace fails at once")

	raw, err := rawkv.NewClientWithOpts(ctx, rawkv.WithPD(plain), rawkv.WithTransport(newTransport(t)),
		rawkv.WithAPIVersion(kvrpcpb.APIVersion_V2), rawkv.WithKeyspace(""))
	require.NoError(t, err)
	defer raw.Close()
	require.Equal(t, "DEFAULT", raw.KeyspaceMeta().GetName(), "loaded through the adapter's LoadKeyspace")
	require.NoError(t, raw.Put(ctx, []byte("k"), []byte("v")))
	v, err := raw.Get(ctx, []byte("k"))
	require.NoError(t, err)
	require.Equal(t, []byte("v"), v)
	ks, _, err := raw.Scan(ctx, nil, nil, 10)
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte("k")}, ks, "keys come back without the keyspace prefix")
}

// The GC-states capability through the adapter: barriers hold the txn
// safe point, and txnkv's GC resolves a leftover lock below it.
func TestPDAdapterGC(t *testing.T) {
	srv := txnServe(t, txnSplits...)
	ctx := testContext(t)
	c := newPD(t, srv)
	st, err := c.GetGCState(ctx, pd.NullKeyspaceID)
	require.NoError(t, err)
	require.False(t, st.IsKeyspaceLevel)

	ph, lo, err := c.GetTS(ctx, 1)
	require.NoError(t, err)
	now := oracle.ComposeTS(ph, lo)
	b, err := c.SetGCBarrier(ctx, pd.NullKeyspaceID, "e2e", now-100, time.Minute)
	require.NoError(t, err)
	require.Equal(t, "e2e", b.BarrierID)
	require.Equal(t, now-100, b.BarrierTS)
	require.Greater(t, b.TTL, 50*time.Second)
	st, err = c.GetGCState(ctx, pd.NullKeyspaceID)
	require.NoError(t, err)
	require.Len(t, st.GCBarriers, 1)
	res, err := c.AdvanceTxnSafePoint(ctx, pd.NullKeyspaceID, now)
	require.NoError(t, err)
	require.Equal(t, now-100, res.NewTxnSafePoint, "the barrier holds the safe point")
	require.NotEmpty(t, res.BlockerDescription)
	_, err = c.SetGCBarrier(ctx, pd.NullKeyspaceID, "e2e", now, 0)
	require.ErrorIs(t, err, tikverr.ErrInvalidArgument)
	del, err := c.DeleteGCBarrier(ctx, pd.NullKeyspaceID, "e2e")
	require.NoError(t, err)
	require.Equal(t, "e2e", del.BarrierID)
	del, err = c.DeleteGCBarrier(ctx, pd.NullKeyspaceID, "e2e")
	require.NoError(t, err)
	require.Nil(t, del)

	// A transaction that died after prewriting leaves a lock; GC up to now
	// rolls it back and advances both safe points. (The lock has expired:
	// txnlock.BatchResolveLocks waits for a live lock below the safe point
	// to expire, where client-go rolls it back at once.)
	txn := newTxn(t, srv)
	u := newUnary(t, newPD(t, srv), true)
	tg, err := u.locate(ctx, []byte("gc-lock"))
	require.NoError(t, err)
	start, err := u.ts(ctx)
	require.NoError(t, err)
	require.NoError(t, u.prewrite(ctx, tg, []byte("gc-lock"), start, 50, []byte("gc-lock"), []byte("v")))
	time.Sleep(150 * time.Millisecond) // past the TTL on PD's clock
	safe, err := txn.GetTimestamp(ctx)
	require.NoError(t, err)
	got, err := txn.GC(ctx, safe)
	require.NoError(t, err)
	require.Equal(t, safe, got)
	requireNoLocks(t, ctx, u, "gc-lock")
	st, err = c.GetGCState(ctx, pd.NullKeyspaceID)
	require.NoError(t, err)
	require.Equal(t, safe, st.TxnSafePoint)
	require.Equal(t, safe, st.GCSafePoint)
	require.Error(t, txn.CheckVisibility(ctx, start), "a read below the safe point is refused")
}
