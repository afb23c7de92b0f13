package locate

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/stretchr/testify/require"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
)

// runSim runs body as the main task of a fresh simulated world.
func runSim(t *testing.T, seed uint64, body func(r *clock.Runtime)) {
	t.Helper()
	w := sim.New(seed, sim.Options{})
	r := clock.New(w)
	w.Spawn("main", func() { body(r) })
	require.NoError(t, w.Run())
}

func threeStores(pd *fakePD) {
	for s := uint64(1); s <= 3; s++ {
		pd.putStore(&metapb.Store{Id: s, Address: "s" + string(rune('0'+s))})
	}
}

// Concurrent lookups of one key while PD is slow make one GetRegion call,
// and concurrent resolutions of a store one GetStore call each.
func TestConcurrentLoadsCollapse(t *testing.T) {
	runSim(t, 1, func(r *clock.Runtime) {
		pd := newFakePD()
		pd.clk, pd.delay = r, 10*time.Millisecond
		threeStores(pd)
		pd.putRegion(1, nil, []byte("m"), 1, 1, []uint64{1, 2, 3}, 1)
		pd.putRegion(2, []byte("m"), nil, 1, 1, []uint64{1, 2, 3}, 2)
		c := New(r, pd, Options{})
		g := rt.NewGroup(r)
		var got atomic.Int32
		for i := 0; i < 8; i++ {
			key := []byte("a")
			if i%2 == 1 {
				key = []byte("x")
			}
			g.Go("locate", func() error {
				loc, err := c.LocateKey(context.Background(), nil, key)
				if err == nil && loc.Contains(key) {
					got.Add(1)
				}
				return err
			})
		}
		require.NoError(t, g.Wait(context.Background()))
		require.EqualValues(t, 8, got.Load())
		require.Equal(t, "GetRegion=2 GetStore=3", pd.takeCalls())
		// Concurrent bucket updates of one region: one reload.
		pd.get(1).Buckets = &metapb.Buckets{Version: 5}
		loc, _ := c.LocateKey(context.Background(), nil, []byte("a"))
		for i := 0; i < 4; i++ {
			c.UpdateBucketsIfNeeded(loc.Region, 0, 5, nil)
		}
		require.NoError(t, r.Sleep(context.Background(), time.Second))
		require.Equal(t, "GetRegionByID=1", pd.takeCalls())
		require.EqualValues(t, 5, c.TryLocateKey([]byte("a")).BucketVersion())
	})
}

// A waiter whose flight leader gives up because of its own context runs the
// load itself.
func TestFlightLeaderCanceled(t *testing.T) {
	runSim(t, 2, func(r *clock.Runtime) {
		pd := newFakePD()
		pd.clk, pd.delay = r, 10*time.Millisecond
		threeStores(pd)
		pd.putRegion(1, nil, nil, 1, 1, []uint64{1}, 1)
		c := New(r, pd, Options{})
		leaderCtx, cancel := context.WithCancel(context.Background())
		var leaderErr error
		done := r.NewEvent()
		r.Go("leader", func() {
			_, leaderErr = c.LocateKey(leaderCtx, nil, []byte("a"))
			done.Fire()
		})
		r.Go("canceler", func() {
			_ = r.Sleep(context.Background(), 5*time.Millisecond)
			cancel()
		})
		_ = r.Sleep(context.Background(), time.Millisecond)
		loc, err := c.LocateKey(context.Background(), nil, []byte("a"))
		require.NoError(t, err)
		require.EqualValues(t, 1, loc.Region.ID())
		require.NoError(t, done.Wait(context.Background()))
		require.ErrorIs(t, leaderErr, context.Canceled)
		// A waiter whose own context ends returns at once.
		ctx, cancel2 := context.WithCancel(context.Background())
		cancel2()
		c.InvalidateCachedRegion(loc.Region)
		r.Go("slow", func() { _, _ = c.LocateKey(context.Background(), nil, []byte("a")) })
		_ = r.Sleep(context.Background(), time.Millisecond)
		_, err = c.LocateKey(ctx, nil, []byte("a"))
		require.ErrorIs(t, err, context.Canceled)
	})
}

// delayedSource answers at call time but returns the answer only after the
// delay: a slow network or a PD follower.
type delayedSource struct {
	RegionSource
	clk   rt.Clock
	delay atomic.Bool
}

func (d *delayedSource) GetRegion(ctx context.Context, key []byte, nb bool) (*pdpb.Region, error) {
	r, err := d.RegionSource.GetRegion(ctx, key, nb)
	if d.delay.Load() {
		_ = d.clk.Sleep(ctx, 100*time.Millisecond)
	}
	return r, err
}

// Port of client-go TestStaleGetRegion and TestFollowerGetStaleRegion: an
// answer computed before a split arrives after the cache learnt the split.
// The insert is refused and the lookup asks again, so the late caller gets
// the post-split region (client-go retries once and may return the stale
// one).
func TestStaleGetRegion(t *testing.T) {
	runSim(t, 3, func(r *clock.Runtime) {
		ctx := context.Background()
		pd := newFakePD()
		threeStores(pd)
		pd.putRegion(1, nil, nil, 1, 1, []uint64{1, 2}, 1)
		ds := &delayedSource{RegionSource: pd, clk: r}
		fast, slow := New(r, pd, Options{}), New(r, ds, Options{})
		r1, err := fast.LocateRegion(ctx, nil, []byte("a"))
		require.NoError(t, err)
		r2, err := slow.LocateRegion(ctx, nil, []byte("a"))
		require.NoError(t, err)
		require.Equal(t, r1.VerID(), r2.VerID())

		ds.delay.Store(true)
		r2.invalidate(Other)
		var late *Region
		done := r.NewEvent()
		r.Go("delayed", func() {
			late, err = slow.LocateRegion(ctx, nil, []byte("b"))
			done.Fire()
		})
		_ = r.Sleep(ctx, 30*time.Millisecond)
		require.NoError(t, pd.split(1, 2, []byte("b")))
		r1.invalidate(Other)
		for _, k := range []string{"b", "c"} {
			got, err := fast.LocateRegion(ctx, nil, []byte(k))
			require.NoError(t, err)
			require.Equal(t, "b", string(got.StartKey()))
		}
		ds.delay.Store(false)
		got, err := slow.LocateRegion(ctx, nil, []byte("c"))
		require.NoError(t, err)
		require.Equal(t, "b", string(got.StartKey()))
		require.NoError(t, done.Wait(ctx))
		require.NoError(t, err)
		require.Equal(t, "b", string(late.StartKey()), "the stale answer must not be returned")
		got, err = slow.LocateRegion(ctx, nil, []byte("a"))
		require.NoError(t, err)
		require.Equal(t, "b", string(got.EndKey()))
	})
}

// Run: GC of expired regions and re-resolution of failed stores.
func TestRunBackground(t *testing.T) {
	runSim(t, 4, func(r *clock.Runtime) {
		ctx, cancel := context.WithCancel(context.Background())
		pd := newFakePD()
		threeStores(pd)
		pd.putRegion(1, nil, []byte("m"), 1, 1, []uint64{1, 2}, 1)
		pd.putRegion(2, []byte("m"), nil, 1, 1, []uint64{2, 3}, 2)
		c := New(r, pd, Options{TTL: time.Minute, TTLJitter: -1, StoreCheckInterval: 5 * time.Second})
		stopped := r.NewEvent()
		var runErr error
		r.Go("locate-bg", func() { runErr = c.Run(ctx); stopped.Fire() })
		rpc := func(key string) *RPCContext {
			loc, err := c.LocateKey(ctx, nil, []byte(key))
			require.NoError(t, err)
			rc, err := c.GetRPCContext(ctx, nil, loc.Region)
			require.NoError(t, err)
			return rc
		}
		rc := rpc("a")
		_ = rpc("x")
		require.Equal(t, 2, c.Len())
		c.OnSendFail(rc, false, errors.New("connection refused"))
		s1, _ := c.Stores().Get(1)
		require.Equal(t, NeedCheck, s1.ResolveState())
		_ = r.Sleep(ctx, 1500*time.Millisecond)
		require.Equal(t, Resolved, s1.ResolveState(), "re-resolved at the next tick")
		// Store 3 changes address: picked up by the periodic full check.
		pd.putStore(&metapb.Store{Id: 3, Address: "s3b"})
		_ = r.Sleep(ctx, 6*time.Second)
		s3, _ := c.Stores().Get(3)
		require.Equal(t, "s3b", s3.Addr())
		// Nothing used: both regions expire and GC drops them.
		_ = r.Sleep(ctx, 2*time.Minute)
		require.Equal(t, 0, c.Len())
		cancel()
		require.NoError(t, stopped.Wait(context.Background()))
		require.ErrorIs(t, runErr, context.Canceled)
	})
}

// GC visits at most limit regions per round and wraps around.
func TestGCRoundCursor(t *testing.T) {
	runSim(t, 5, func(r *clock.Runtime) {
		ctx := context.Background()
		pd := newFakePD()
		threeStores(pd)
		pd.putRegion(1, nil, []byte("c"), 1, 1, []uint64{1}, 1)
		pd.putRegion(2, []byte("c"), []byte("f"), 1, 1, []uint64{1}, 1)
		pd.putRegion(3, []byte("f"), nil, 1, 1, []uint64{1}, 1)
		c := New(r, pd, Options{TTL: time.Minute, TTLJitter: -1})
		_, err := c.BatchLocateKeyRanges(ctx, nil, []KeyRange{{StartKey: []byte("a")}}, BatchOptions{NeedBuckets: true})
		require.NoError(t, err)
		for _, rg := range c.Regions() {
			c.InvalidateCachedRegion(rg.VerID())
		}
		require.Equal(t, 2, c.GCRound(2))
		require.Equal(t, 1, c.GCRound(0))
		require.Equal(t, 0, c.GCRound(5))
	})
}

// Store cache details: labels, types, liveness, errors.
func TestStoreCache(t *testing.T) {
	runSim(t, 6, func(r *clock.Runtime) {
		ctx := context.Background()
		pd := newFakePD()
		pd.putStore(&metapb.Store{Id: 1, Address: "s1", PeerAddress: "p1", StatusAddress: "h1",
			Labels: []*metapb.StoreLabel{{Key: "zone", Value: "z1"}, {Key: "engine", Value: "tiflash"}}})
		pd.putStore(&metapb.Store{Id: 2})
		sc := NewStoreCache(r, pd)
		s1 := sc.getOrInsert(1)
		require.Equal(t, Unresolved, s1.ResolveState())
		addr, err := sc.Resolve(ctx, &noSleep{max: 1}, s1)
		require.NoError(t, err)
		require.Equal(t, "s1", addr)
		require.Equal(t, "p1", s1.PeerAddr())
		require.Equal(t, "h1", s1.StatusAddr())
		require.Equal(t, TiFlash, s1.Type())
		v, ok := s1.LabelValue("zone")
		require.True(t, ok)
		require.Equal(t, "z1", v)
		_, ok = s1.LabelValue("rack")
		require.False(t, ok)
		require.True(t, s1.IsLabelsMatch([]*metapb.StoreLabel{{Key: "zone", Value: "z1"}}))
		require.False(t, s1.IsLabelsMatch([]*metapb.StoreLabel{{Key: "zone", Value: "z2"}}))
		require.False(t, s1.IsSameLabels([]*metapb.StoreLabel{{Key: "zone", Value: "z1"}}))
		require.True(t, s1.UnreachableSince().IsZero())
		s1.SetLiveness(Unreachable, r.Now())
		require.True(t, r.Now().Equal(s1.UnreachableSince()))
		require.Contains(t, s1.String(), "unreachable")
		// Empty address: an error, and the store stays unresolved.
		_, err = sc.Resolve(ctx, &noSleep{max: 1}, sc.getOrInsert(2))
		require.ErrorIs(t, err, ErrEmptyStoreAddr)
		s2, _ := sc.Get(2)
		s2.state.Store(uint32(NeedCheck))
		_, err = sc.ReResolve(ctx, s2)
		require.ErrorIs(t, err, ErrEmptyStoreAddr)
		// PD errors: Resolve gives up with the backoffer; ReResolve reports.
		pd.failNext(5)
		_, err = sc.Resolve(ctx, &noSleep{max: 2}, sc.getOrInsert(4))
		require.ErrorIs(t, err, errPDUnavailable)
		_, err = sc.ReResolve(ctx, s1)
		require.ErrorIs(t, err, errPDUnavailable)
		pd.failNext(0)
		require.Error(t, sc.CheckAndResolve(ctx, func(ResolveState) bool { return true }))
		// Put and List.
		sc.Put(&metapb.Store{Id: 9, Address: "s9", State: metapb.StoreState_Tombstone})
		s9, _ := sc.Get(9)
		require.Equal(t, Tombstone, s9.ResolveState())
		addr, err = sc.Resolve(ctx, nil, s9)
		require.NoError(t, err)
		require.Empty(t, addr)
		ids := []uint64{}
		for _, s := range sc.List() {
			ids = append(ids, s.ID())
		}
		require.Equal(t, []uint64{1, 2, 4, 9}, ids)
		for _, s := range []string{Unresolved.String(), Resolved.String(), NeedCheck.String(), Tombstone.String(), ResolveState(9).String(),
			Reachable.String(), Unreachable.String(), LivenessUnknown.String(), Liveness(9).String(), TiKV.String(), TiFlash.String()} {
			require.NotEmpty(t, s)
		}
	})
}

// Odds and ends of the public surface.
func TestMisc(t *testing.T) {
	runSim(t, 7, func(r *clock.Runtime) {
		ctx := context.Background()
		pd := newFakePD()
		threeStores(pd)
		pd.putRegion(1, nil, nil, 3, 2, []uint64{1, 2}, 2)
		c := New(r, pd, Options{})
		rg, err := c.LocateRegion(ctx, nil, []byte("k"))
		require.NoError(t, err)
		require.Equal(t, uint64(1), rg.ID())
		require.Equal(t, "{region 1 ver 3 conf 2}", rg.VerID().String())
		require.Equal(t, NewRegionVerID(1, 2, 3), rg.VerID())
		require.EqualValues(t, 3, rg.VerID().Ver())
		require.EqualValues(t, 2, rg.VerID().ConfVer())
		require.Len(t, rg.Meta().Peers, 2)
		require.Len(t, rg.Stores(), 2)
		require.Empty(t, rg.PendingPeers())
		require.True(t, c.IsValid(rg))
		require.Same(t, rg, c.CachedRegion(rg.VerID()))
		require.Contains(t, rg.String(), "ver 3")
		for x := Ok; x <= Other+1; x++ {
			require.NotEmpty(t, x.String())
		}
		require.Equal(t, "<nil>", (*RPCContext)(nil).String())
		rc, err := c.GetRPCContext(ctx, nil, rg.VerID())
		require.NoError(t, err)
		require.True(t, strings.Contains(rc.String(), "store 2"))
		// Feedback about versions the cache does not hold is ignored.
		other := NewRegionVerID(1, 2, 1)
		c.UpdateLeader(other, nil, 0)
		c.OnSendFail(&RPCContext{Region: other}, true, nil)
		c.OnBucketVersionNotMatch(&RPCContext{Region: other}, 1, nil)
		c.UpdateBucketsIfNeeded(other, 0, 1, nil)
		c.ScheduleReload(other, false)
		c.InvalidateCachedRegion(other)
		require.True(t, c.IsValid(rg))
		// ScheduleReload without delay: reloaded at the next lookup; if PD
		// fails, the old region is used and stays marked.
		c.ScheduleReload(rg.VerID(), false)
		require.Nil(t, c.TryLocateKey([]byte("k")))
		pd.failNext(100)
		got, err := c.LocateRegion(ctx, &noSleep{max: 1}, []byte("k"))
		require.NoError(t, err)
		require.Same(t, rg, got)
		require.True(t, rg.checkFlags(needReloadOnAccess))
		// By id: same fallback.
		loc, err := c.LocateRegionByID(ctx, &noSleep{max: 1}, 1)
		require.NoError(t, err)
		require.Equal(t, rg.VerID(), loc.Region)
		_, err = c.LocateRegionByIDFromPD(ctx, &noSleep{max: 1}, 1)
		require.Error(t, err)
		_, err = c.BatchLoadRegionsFromKey(ctx, &noSleep{max: 1}, nil, 1)
		require.Error(t, err)
		_, err = c.LocateKeyRange(ctx, &noSleep{max: 1}, []byte("z"), nil)
		require.Error(t, err, "the region is marked for reload, so the range goes to PD")
		pd.failNext(0)
		loc, err = c.LocateRegionByID(ctx, nil, 1)
		require.NoError(t, err)
		require.Equal(t, rg.VerID(), loc.Region)
		c.ScheduleReload(loc.Region, false)
		loc, err = c.LocateRegionByID(ctx, nil, 1)
		require.NoError(t, err)
		end, err := c.BatchLoadRegionsFromKey(ctx, nil, nil, 1)
		require.NoError(t, err)
		require.Empty(t, end)
		_, err = c.LocateEndKey(ctx, nil, nil)
		require.NoError(t, err)
		c.Clear()
		loc, err = c.LocateEndKey(ctx, nil, nil)
		require.NoError(t, err, "+inf by end is loaded by a region scan")
		require.Empty(t, loc.EndKey)
		c.Clear()
		// The default backoffer sleeps on the clock and gives up.
		pd.failNext(100)
		start := r.Now()
		_, err = c.LocateKey(ctx, nil, []byte("k"))
		require.Error(t, err)
		require.Greater(t, r.Now().Sub(start), time.Second)
		pd.failNext(0)
		rs, err := c.BatchLoadRegionsWithKeyRanges(ctx, nil, nil, 1, BatchOptions{})
		require.NoError(t, err)
		require.Nil(t, rs)
	})
}

// wrongOnce answers the first GetRegion with the region of another key, as
// a PD racing with a split might.
type wrongOnce struct {
	RegionSource
	done bool
}

func (w *wrongOnce) GetRegion(ctx context.Context, key []byte, nb bool) (*pdpb.Region, error) {
	if !w.done {
		w.done = true
		return w.RegionSource.GetRegion(ctx, []byte("zzz"), nb)
	}
	return w.RegionSource.GetRegion(ctx, key, nb)
}

// A PD answer that does not hold the key is retried, not cached.
func TestWrongRegionFromPD(t *testing.T) {
	runSim(t, 8, func(r *clock.Runtime) {
		pd := pdWithSplits(t, "m")
		c := New(r, &wrongOnce{RegionSource: pd}, Options{})
		loc, err := c.LocateKey(context.Background(), nil, []byte("a"))
		require.NoError(t, err)
		require.EqualValues(t, 1, loc.Region.ID())
		require.Equal(t, 1, c.Len())
		ids, err := c.ListRegionIDsInKeyRange(context.Background(), nil, nil, nil)
		require.NoError(t, err)
		require.Equal(t, []uint64{1, 2}, ids, "an empty end key is +inf")
	})
}
