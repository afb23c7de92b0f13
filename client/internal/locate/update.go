package locate

import (
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/metapb"
)

// RPCContext is everything needed to send one request to a region's current
// peer (client-go RPCContext, leader-only part). The request sender passes it
// back to the feedback methods.
type RPCContext struct {
	Region        RegionVerID
	Meta          *metapb.Region // shared: do not modify
	Peer          *metapb.Peer
	AccessIdx     int // index of Peer among the region's TiKV peers
	Store         *Store
	Addr          string
	TiKVNum       int // number of TiKV peers of the region
	BucketVersion uint64
}

// String formats the context for logs.
func (c *RPCContext) String() string {
	if c == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%v peer %d store %d addr %s idx %d", c.Region, c.Peer.GetId(), c.Peer.GetStoreId(), c.Addr, c.AccessIdx)
}

// GetRPCContext returns where to send a request for region id: its current
// work peer (the leader as far as the cache knows) with the store's address
// (client-go GetTiKVRPCContext with leader reads). It returns nil, nil when
// id is no longer the cached version or is invalid, when the store is gone
// (the region is invalidated with StoreNotFound), or when a request to the
// store failed since the region was loaded (invalidated with Other): the
// caller relocates the key and retries.
func (c *Cache) GetRPCContext(ctx context.Context, bo Backoffer, id RegionVerID) (*RPCContext, error) {
	r := c.cached(id)
	if !c.isValid(r) {
		return nil, nil
	}
	st := r.state.Load()
	peer, store, ai := r.Leader()
	if store == nil {
		r.invalidate(StoreNotFound)
		return nil, nil
	}
	addr, err := c.stores.Resolve(ctx, c.backoffer(bo), store)
	if err != nil {
		return nil, err
	}
	if addr == "" {
		r.invalidate(StoreNotFound)
		return nil, nil
	}
	if store.epoch.Load() != st.storeEpochs[r.kvIdx[ai]] {
		r.invalidate(Other)
		return nil, nil
	}
	return &RPCContext{
		Region: id, Meta: r.meta, Peer: peer, AccessIdx: ai, Store: store, Addr: addr,
		TiKVNum: len(r.kvIdx), BucketVersion: st.buckets.GetVersion(),
	}, nil
}

// CachedRegion returns the cached region with exactly id's epoch, or nil.
func (c *Cache) CachedRegion(id RegionVerID) *Region { return c.cached(id) }

// InvalidateCachedRegion invalidates region id with reason Other.
func (c *Cache) InvalidateCachedRegion(id RegionVerID) {
	c.InvalidateCachedRegionWithReason(id, Other)
}

// InvalidateCachedRegionWithReason expires region id, if it is the cached
// version, with reason; the next lookup reloads it.
func (c *Cache) InvalidateCachedRegionWithReason(id RegionVerID, reason InvalidReason) {
	if r := c.cached(id); r != nil {
		r.invalidate(reason)
	}
}

// ScheduleReload marks region id to be reloaded from PD: at its next lookup,
// or with delayed after the next GC scan has passed it (client-go
// needReloadOnAccess and needDelayedReloadPending). Lookups keep routing to
// it until then.
func (c *Cache) ScheduleReload(id RegionVerID, delayed bool) {
	r := c.cached(id)
	if r == nil {
		return
	}
	if delayed {
		r.setFlags(needDelayedReloadPending)
	} else {
		r.setFlags(needReloadOnAccess)
	}
}

// UpdateLeader applies a NotLeader error for region id that was sent to the
// peer at access index cur (client-go UpdateLeader). With leader nil (the
// store knows no leader) the work peer moves to the next peer; with a leader
// the work peer becomes it, and when it is not among the cached peers the
// region is invalidated with StoreNotFound so the next lookup reloads it.
func (c *Cache) UpdateLeader(id RegionVerID, leader *metapb.Peer, cur int) {
	r := c.cached(id)
	if r == nil {
		return
	}
	if leader == nil {
		r.switchNextPeer(cur)
		return
	}
	if !r.switchToPeer(leader) {
		r.invalidate(StoreNotFound)
	}
}

// OnSendFail applies a failed send to rpc's peer (client-go OnSendFail).
// When err is not nil the store's failure epoch is bumped, which
// invalidates every region routed to that store at its next use, and the
// store is marked for re-resolution. The work peer moves to the next peer.
// With scheduleReload the region is reloaded at its next lookup. Nothing
// happens when the region was replaced or its peer list changed since rpc
// was made.
func (c *Cache) OnSendFail(rpc *RPCContext, scheduleReload bool, err error) {
	r := c.cached(rpc.Region)
	if r == nil || len(r.meta.GetPeers()) != len(rpc.Meta.GetPeers()) {
		return
	}
	if err != nil && rpc.AccessIdx >= 0 && rpc.AccessIdx < len(r.kvIdx) {
		pi := r.kvIdx[rpc.AccessIdx]
		s := r.stores[pi]
		seen := r.state.Load().storeEpochs[pi]
		s.epoch.CompareAndSwap(seen, seen+1)
		c.stores.MarkNeedCheck(s)
	}
	r.switchNextPeer(rpc.AccessIdx)
	if scheduleReload {
		r.setFlags(needReloadOnAccess)
	}
}

// OnRegionEpochNotMatch applies an EpochNotMatch error whose current regions
// are current (client-go OnRegionEpochNotMatch). Without current regions the
// region is invalidated. When TiKV's epoch for the region is older than
// rpc's (TiKV is still applying), it changes nothing and returns retry true:
// the caller backs off (RegionMiss) and resends. Otherwise the current
// regions replace the cached ones, starting at the peer on the store that
// answered and keeping the old buckets, and the old region is invalidated
// unless it is among them.
func (c *Cache) OnRegionEpochNotMatch(ctx context.Context, bo Backoffer, rpc *RPCContext, current []*metapb.Region) (retry bool, err error) {
	if len(current) == 0 {
		c.InvalidateCachedRegionWithReason(rpc.Region, EpochNotMatch)
		return false, nil
	}
	for _, m := range current {
		e := m.GetRegionEpoch()
		if m.GetId() == rpc.Region.id && (e.GetConfVer() < rpc.Region.confVer || e.GetVersion() < rpc.Region.ver) {
			return true, nil
		}
	}
	old := c.cached(rpc.Region)
	var buckets *metapb.Buckets
	if old != nil {
		buckets = old.Buckets()
	}
	bo = c.backoffer(bo)
	keepOld := false
	regions := make([]*Region, 0, len(current))
	for _, m := range current {
		r, err := c.newRegion(ctx, bo, pdRegionOf(m, buckets))
		if err != nil {
			return false, err
		}
		if rpc.Store != nil {
			r.switchToPeer(r.peerOnStore(rpc.Store.ID()))
		}
		regions = append(regions, r)
		if r.VerID() == rpc.Region {
			keepOld = true
		}
	}
	if !keepOld && old != nil {
		old.invalidate(EpochNotMatch)
	}
	for _, r := range regions {
		c.insert(r, true)
	}
	return false, nil
}

// OnBucketVersionNotMatch installs the buckets a BucketVersionNotMatch error
// carried, when they are newer than the cached ones (client-go
// OnBucketVersionNotMatch).
func (c *Cache) OnBucketVersionNotMatch(rpc *RPCContext, version uint64, keys [][]byte) {
	r := c.cached(rpc.Region)
	if r == nil {
		return
	}
	for {
		old := r.state.Load()
		if old.buckets != nil && old.buckets.GetVersion() >= version {
			return
		}
		n := old.clone()
		n.buckets = &metapb.Buckets{RegionId: r.ID(), Version: version, Keys: keys}
		if r.state.CompareAndSwap(old, n) {
			return
		}
	}
}

// UpdateBucketsIfNeeded reloads region id from PD in a new task when TiKV
// reported buckets (latestVer) newer than the cached ones, unless the
// request's own buckets (reqVer, 0 if none) are already older than the
// cache's, or a reload of the region is in flight (client-go
// UpdateBucketsIfNeeded). It returns at once; done, when not nil, is called
// when the task ends (for tests).
func (c *Cache) UpdateBucketsIfNeeded(id RegionVerID, reqVer, latestVer uint64, done func()) {
	r := c.cached(id)
	if r == nil {
		return
	}
	have := r.Buckets().GetVersion()
	if (reqVer != 0 && reqVer < have) || have >= latestVer {
		return
	}
	if _, busy := c.buckets.LoadOrStore(id.id, struct{}{}); busy {
		return
	}
	c.rt.Go("locate-buckets", func() {
		defer c.buckets.Delete(id.id)
		if done != nil {
			defer done()
		}
		ctx := context.Background()
		if n, err := c.loadRegionByID(ctx, c.backoffer(nil), id.id); err == nil {
			c.insert(n, true)
		}
	})
}
