package locate

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/tikvsim/tikvsim/internal/invariants"
)

// newRegion builds a Region from PD's answer (client-go newRegion): it
// resolves each peer's store (asking PD for unknown ones), drops peers on
// removed stores, down peers and non-leader witnesses, and starts at the
// leader (the first peer when PD knows no leader). A region with down peers
// expires after its TTL even if used.
func (c *Cache) newRegion(ctx context.Context, bo Backoffer, pr *pdpb.Region) (*Region, error) {
	meta := pr.GetRegion()
	var down []*metapb.Peer
	for _, d := range pr.GetDownPeers() {
		down = append(down, d.GetPeer())
	}
	leader := pr.GetLeader()
	r := &Region{downPeers: down, pendingPeers: pr.GetPendingPeers()}
	st := &regionState{buckets: pr.GetBuckets()}
	var peers []*metapb.Peer
	for _, p := range meta.GetPeers() {
		s := c.stores.getOrInsert(p.GetStoreId())
		addr, err := c.stores.Resolve(ctx, bo, s)
		if err != nil {
			return nil, err
		}
		if addr == "" || slices.ContainsFunc(down, func(d *metapb.Peer) bool { return isSamePeer(d, p) }) {
			continue
		}
		if p.GetIsWitness() && !isSamePeer(p, leader) {
			continue
		}
		if s.Type() == TiKV {
			if isSamePeer(p, leader) {
				st.work = len(r.kvIdx)
			}
			r.kvIdx = append(r.kvIdx, len(peers))
		}
		peers = append(peers, p)
		r.stores = append(r.stores, s)
		st.storeEpochs = append(st.storeEpochs, s.epoch.Load())
	}
	if len(peers) == 0 {
		return nil, fmt.Errorf("%w: region %d", ErrNoAvailablePeer, meta.GetId())
	}
	invariants.Assert(len(r.kvIdx) == 0 || st.work < len(r.kvIdx), "region %d: work peer %d of %d", meta.GetId(), st.work, len(r.kvIdx))
	invariants.Assert(len(st.storeEpochs) == len(peers) && len(r.stores) == len(peers), "region %d: peers, stores and epochs differ in length", meta.GetId())
	m := *meta
	m.Peers = peers
	r.meta = &m
	r.state.Store(st)
	if len(down) > 0 {
		r.flags.Store(needExpireAfterTTL)
	}
	r.ttl.Store(c.nextTTL(c.now()))
	return r, nil
}

// loadRegion asks PD for the region containing key, or with isEndKey the one
// containing the greatest key below key (client-go loadRegion). It retries
// PD errors and unknown keys with bo.
func (c *Cache) loadRegion(ctx context.Context, bo Backoffer, key []byte, isEndKey bool) (*Region, error) {
	if isEndKey && len(key) == 0 {
		return c.loadLastRegion(ctx, bo)
	}
	searchPrev := false
	for {
		var pr *pdpb.Region
		var err error
		if searchPrev {
			pr, err = c.src.GetPrevRegion(ctx, key, true)
		} else {
			pr, err = c.src.GetRegion(ctx, key, true)
		}
		if err == nil && pr.GetRegion() == nil {
			err = fmt.Errorf("%w: key %q", ErrRegionNotFound, key)
		}
		if err != nil {
			if berr := bo.Backoff(ctx, fmt.Errorf("locate: load region of key %q: %w", key, err)); berr != nil {
				return nil, berr
			}
			continue
		}
		if len(pr.GetRegion().GetPeers()) == 0 {
			return nil, fmt.Errorf("%w: region %d has no peer", ErrNoAvailablePeer, pr.GetRegion().GetId())
		}
		m := pr.GetRegion()
		if isEndKey && !searchPrev && bytes.Equal(m.GetStartKey(), key) {
			searchPrev = true
			continue
		}
		if (!isEndKey && !contains(m.GetStartKey(), m.GetEndKey(), key)) || (isEndKey && !containsByEnd(m.GetStartKey(), m.GetEndKey(), key)) {
			// PD answered for another range (it raced with a split or
			// merge); ask again rather than cache a wrong answer.
			if berr := bo.Backoff(ctx, fmt.Errorf("%w: region %d does not hold key %q", ErrRegionNotFound, m.GetId(), key)); berr != nil {
				return nil, berr
			}
			searchPrev = false
			continue
		}
		return c.newRegion(ctx, bo, pr)
	}
}

// loadLastRegion loads the region ending at +inf, the one LocateEndKey of
// an empty key asks for. PD has no key lookup for it: GetRegion needs a key
// inside the region, and GetPrevRegion of "" is the region before the first
// one, none (client-go's loadRegion has the same gap). So it scans PD's
// regions towards +inf, a page of Options.RegionsPerBatch at a time, from
// the start of the last region the cache holds (valid or not: only a
// starting point; "" for an empty cache), until a page ends at +inf.
func (c *Cache) loadLastRegion(ctx context.Context, bo Backoffer) (*Region, error) {
	var from []byte
	c.mu.RLock()
	if it, ok := c.idx.tree.Max(); ok {
		from = it.r.StartKey()
	}
	c.mu.RUnlock()
	start := from
	for {
		prs, err := c.src.BatchScanRegions(ctx, []*pdpb.KeyRange{{StartKey: start}}, c.opts.RegionsPerBatch, true)
		if err == nil && len(prs) == 0 {
			err = fmt.Errorf("%w: from %q to +inf", ErrNoRegion, start)
		}
		if err == nil {
			last := prs[len(prs)-1].GetRegion()
			switch end := last.GetEndKey(); {
			case len(end) == 0:
				if len(last.GetPeers()) == 0 {
					return nil, fmt.Errorf("%w: region %d has no peer", ErrNoAvailablePeer, last.GetId())
				}
				return c.newRegion(ctx, bo, prs[len(prs)-1])
			case bytes.Compare(end, start) > 0:
				start = end // the next page
				continue
			default:
				err = fmt.Errorf("%w: region %d ends at %q, before %q", ErrNoRegion, last.GetId(), end, start)
			}
		}
		if berr := bo.Backoff(ctx, fmt.Errorf("locate: load the region ending at +inf: %w", err)); berr != nil {
			return nil, berr
		}
		start = from
	}
}

// loadRegionByID asks PD for region id (client-go loadRegionByID). An
// unknown id is ErrRegionNotFound, not retried.
func (c *Cache) loadRegionByID(ctx context.Context, bo Backoffer, id uint64) (*Region, error) {
	for {
		pr, err := c.src.GetRegionByID(ctx, id, true)
		if err != nil {
			if berr := bo.Backoff(ctx, fmt.Errorf("locate: load region %d: %w", id, err)); berr != nil {
				return nil, berr
			}
			continue
		}
		if pr.GetRegion() == nil {
			return nil, fmt.Errorf("%w: id %d", ErrRegionNotFound, id)
		}
		if len(pr.GetRegion().GetPeers()) == 0 {
			return nil, fmt.Errorf("%w: region %d has no peer", ErrNoAvailablePeer, id)
		}
		return c.newRegion(ctx, bo, pr)
	}
}

// loadAndInsert loads a region with load and inserts it. When the cache
// holds something newer (PD lagged behind what we learnt), it backs off and
// loads again rather than return the stale region. Concurrent calls with
// the same flight key share one load.
func (c *Cache) loadAndInsert(ctx context.Context, bo Backoffer, key string, load func() (*Region, error)) (*Region, error) {
	return c.flights.do(ctx, key, func() (*Region, error) {
		for {
			r, err := load()
			if err != nil {
				return nil, err
			}
			if c.insert(r, true) {
				return r, nil
			}
			if err := bo.Backoff(ctx, fmt.Errorf("%w: %v", ErrStaleRegion, r)); err != nil {
				return nil, err
			}
		}
	})
}

func flightKey(key []byte, isEndKey bool) string {
	if isEndKey {
		return "e" + string(key)
	}
	return "k" + string(key)
}

// findRegionByKey is the lookup behind LocateKey and LocateEndKey (client-go
// findRegionByKey): the cached region when valid; a PD load when missing or
// expired; a reload when marked for one, falling back to the cached region
// if the reload fails.
func (c *Cache) findRegionByKey(ctx context.Context, bo Backoffer, key []byte, isEndKey bool) (*Region, error) {
	bo = c.backoffer(bo)
	r, expired := c.searchByKey(key, isEndKey)
	if r == nil || expired {
		return c.loadAndInsert(ctx, bo, flightKey(key, isEndKey), func() (*Region, error) {
			return c.loadRegion(ctx, bo, key, isEndKey)
		})
	}
	flags := r.resetFlags(needReloadOnAccess | needDelayedReloadReady)
	if flags == 0 {
		return r, nil
	}
	// Reload by key, not by id: the region with r's id may no longer
	// contain key (client-go #1299).
	lr, err := c.loadRegion(ctx, bo, key, isEndKey)
	if err != nil {
		r.setFlags(needReloadOnAccess)
		return r, nil
	}
	if !c.insert(lr, flags&needReloadOnAccess != 0) {
		return r, nil
	}
	return lr, nil
}

// LocateKey returns the region containing key, loading it from PD when the
// cache has no valid one. bo paces PD retries (nil: Options.PDRetry).
func (c *Cache) LocateKey(ctx context.Context, bo Backoffer, key []byte) (*KeyLocation, error) {
	r, err := c.findRegionByKey(ctx, bo, key, false)
	if err != nil {
		return nil, err
	}
	return locationOf(r), nil
}

// LocateRegion is LocateKey returning the cached Region itself, with its
// peers and stores.
func (c *Cache) LocateRegion(ctx context.Context, bo Backoffer, key []byte) (*Region, error) {
	return c.findRegionByKey(ctx, bo, key, false)
}

// LocateEndKey returns the region containing the greatest key below key:
// its start key is exclusive and its end key inclusive, for reverse scans.
// An empty key means +inf: the last region, found by a scan of PD's regions
// when not cached.
func (c *Cache) LocateEndKey(ctx context.Context, bo Backoffer, key []byte) (*KeyLocation, error) {
	r, err := c.findRegionByKey(ctx, bo, key, true)
	if err != nil {
		return nil, err
	}
	return locationOf(r), nil
}

// TryLocateKey returns the valid cached region containing key, or nil; it
// never calls PD.
func (c *Cache) TryLocateKey(key []byte) *KeyLocation {
	if r := c.tryFindRegionByKey(key, false); r != nil {
		return locationOf(r)
	}
	return nil
}

func (c *Cache) tryFindRegionByKey(key []byte, isEndKey bool) *Region {
	r, expired := c.searchByKey(key, isEndKey)
	if r == nil || expired || r.checkFlags(needReloadOnAccess|needDelayedReloadReady) {
		return nil
	}
	return r
}

// LocateRegionByID returns the region with id, from the cache when valid,
// else from PD (client-go LocateRegionByID).
func (c *Cache) LocateRegionByID(ctx context.Context, bo Backoffer, id uint64) (*KeyLocation, error) {
	bo = c.backoffer(bo)
	r, expired := c.searchByID(id)
	if r != nil && !expired {
		if flags := r.resetFlags(needReloadOnAccess | needDelayedReloadReady); flags != 0 {
			lr, err := c.loadRegionByID(ctx, bo, id)
			if err != nil {
				r.setFlags(needReloadOnAccess)
			} else if c.insert(lr, flags&needReloadOnAccess != 0) {
				r = lr
			}
		}
		return locationOf(r), nil
	}
	r, err := c.loadAndInsert(ctx, bo, "i"+strconv.FormatUint(id, 10), func() (*Region, error) {
		return c.loadRegionByID(ctx, bo, id)
	})
	if err != nil {
		return nil, err
	}
	return locationOf(r), nil
}

// LocateRegionByIDFromPD loads region id from PD without touching the
// cache, for diagnostics (client-go LocateRegionByIDFromPD).
func (c *Cache) LocateRegionByIDFromPD(ctx context.Context, bo Backoffer, id uint64) (*KeyLocation, error) {
	r, err := c.loadRegionByID(ctx, c.backoffer(bo), id)
	if err != nil {
		return nil, err
	}
	return locationOf(r), nil
}
