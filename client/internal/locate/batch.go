package locate

import (
	"bytes"
	"context"
	"fmt"
	"sort"

	"github.com/pingcap/kvproto/pkg/pdpb"
)

// KeyRange is the key range [StartKey, EndKey); an empty EndKey is +inf.
type KeyRange struct {
	StartKey []byte
	EndKey   []byte
}

// BatchOptions tune the batch loads (client-go BatchLocateKeyRangesOpt).
type BatchOptions struct {
	// NeedBuckets asks PD for bucket information (more traffic).
	NeedBuckets bool
	// NeedLeader drops regions PD knows no leader for.
	NeedLeader bool
}

// LocateKeyRange returns the regions covering [startKey, endKey) in order,
// from the cache as far as it is contiguous and then from PD in batches
// (client-go LocateKeyRange). Regions without a leader are not loaded.
func (c *Cache) LocateKeyRange(ctx context.Context, bo Backoffer, startKey, endKey []byte) ([]*KeyLocation, error) {
	bo = c.backoffer(bo)
	var out []*KeyLocation
	for {
		for {
			r := c.tryFindRegionByKey(startKey, false)
			if r == nil {
				break
			}
			out = append(out, locationOf(r))
			if r.ContainsByEnd(endKey) || len(r.EndKey()) == 0 {
				return out, nil
			}
			startKey = r.EndKey()
		}
		rs, err := c.BatchLoadRegionsWithKeyRanges(ctx, bo, []KeyRange{{startKey, endKey}}, c.opts.RegionsPerBatch, BatchOptions{NeedLeader: true})
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			out = append(out, locationOf(r))
		}
		last := rs[len(rs)-1]
		if last.ContainsByEnd(endKey) || len(last.EndKey()) == 0 {
			return out, nil
		}
		startKey = last.EndKey()
	}
}

// BatchLocateKeyRanges returns the regions covering sorted, disjoint ranges,
// in key order and without duplicates: what the cache holds contiguously from
// each range's start, and the rest from PD through BatchScanRegions in
// batches of at most 16*RegionsPerBatch ranges (client-go
// BatchLocateKeyRanges).
func (c *Cache) BatchLocateKeyRanges(ctx context.Context, bo Backoffer, ranges []KeyRange, opts BatchOptions) ([]*KeyLocation, error) {
	bo = c.backoffer(bo)
	for attempt := 0; ; attempt++ {
		locs, err := c.batchLocateOnce(ctx, bo, ranges, opts)
		if err != nil {
			return nil, err
		}
		// A loaded region may have replaced a cached one it overlaps (the
		// cached one was stale). client-go returns both; we go round once
		// more, when everything is cached, so the result never overlaps.
		if !overlapping(locs) || attempt == 2 {
			return locs, nil
		}
	}
}

func overlapping(locs []*KeyLocation) bool {
	for i := 1; i < len(locs); i++ {
		p := locs[i-1]
		if len(p.EndKey) == 0 || bytes.Compare(p.EndKey, locs[i].StartKey) > 0 {
			return true
		}
	}
	return false
}

func (c *Cache) batchLocateOnce(ctx context.Context, bo Backoffer, ranges []KeyRange, opts BatchOptions) ([]*KeyLocation, error) {
	cached, uncached := c.splitCached(ranges)
	m := &rangeMerger{cached: cached, out: make([]*KeyLocation, 0, len(cached)+len(uncached))}
	uncached = append([]KeyRange(nil), uncached...) // rangesAfterKey modifies it
	maxRanges := 16 * c.opts.RegionsPerBatch
	for len(uncached) > 0 {
		batch := uncached[:min(len(uncached), maxRanges)]
		rs, err := c.BatchLoadRegionsWithKeyRanges(ctx, bo, batch, c.opts.RegionsPerBatch, opts)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			m.appendLoaded(r)
		}
		uncached = rangesAfterKey(uncached, rs[len(rs)-1].EndKey())
	}
	return m.build(), nil
}

// splitCached walks ranges through the cache and returns the valid cached
// regions covering their starts contiguously, and the parts left uncached.
func (c *Cache) splitCached(ranges []KeyRange) (cached []*Region, uncached []KeyRange) {
	var last *Region
	for _, kr := range ranges {
		if last != nil {
			if last.ContainsByEnd(kr.EndKey) || (len(last.EndKey()) == 0) {
				continue
			}
			if last.Contains(kr.StartKey) {
				kr.StartKey = last.EndKey()
			}
		}
		r := c.tryFindRegionByKey(kr.StartKey, false)
		last = r
		if r == nil {
			uncached = append(uncached, kr)
			continue
		}
		cached = append(cached, r)
		covered := r.ContainsByEnd(kr.EndKey) || len(r.EndKey()) == 0
		if !covered {
			kr.StartKey = r.EndKey()
			for _, n := range c.scanCached(kr.StartKey, kr.EndKey) {
				cached = append(cached, n)
				last = n
				if n.ContainsByEnd(kr.EndKey) || len(n.EndKey()) == 0 {
					covered = true
					break
				}
				kr.StartKey = n.EndKey()
			}
		}
		if !covered {
			uncached = append(uncached, kr)
		}
	}
	return cached, uncached
}

// scanCached returns the valid cached regions that cover [start, end)
// contiguously from start, stopping at the first hole (client-go
// scanRegionsFromCache).
func (c *Cache) scanCached(start, end []byte) []*Region {
	now := c.now()
	var out []*Region
	c.mu.RLock()
	defer c.mu.RUnlock()
	next := start
	c.idx.ascend(start, func(r *Region) bool {
		if len(end) > 0 && bytes.Compare(r.StartKey(), end) >= 0 {
			return false
		}
		if !r.Contains(next) || !c.checkTTL(r, now) || r.checkFlags(needReloadOnAccess|needDelayedReloadReady) {
			return false
		}
		out = append(out, r)
		next = r.EndKey()
		return len(next) > 0
	})
	return out
}

// rangeMerger merges the cached regions with the ones loaded from PD into
// one sorted list without overlaps (client-go batchLocateRangesMerger).
type rangeMerger struct {
	cached  []*Region
	next    int     // first cached region not yet emitted
	lastEnd *[]byte // end of the last loaded region, nil before the first
	out     []*KeyLocation
}

func (m *rangeMerger) appendLoaded(r *Region) {
	if len(r.StartKey()) > 0 && (m.lastEnd == nil || bytes.Compare(*m.lastEnd, r.StartKey()) < 0) {
		for ; m.next < len(m.cached); m.next++ {
			cr := m.cached[m.next]
			if m.coveredByLoaded(cr) {
				continue
			}
			if bytes.Compare(cr.StartKey(), r.StartKey()) >= 0 {
				break
			}
			m.out = append(m.out, locationOf(cr))
		}
	}
	m.out = append(m.out, locationOf(r))
	if len(r.EndKey()) == 0 {
		m.next = len(m.cached) // +inf: nothing can follow
		return
	}
	end := r.EndKey()
	m.lastEnd = &end
}

func (m *rangeMerger) coveredByLoaded(cr *Region) bool {
	return m.lastEnd != nil && len(cr.EndKey()) > 0 && bytes.Compare(*m.lastEnd, cr.EndKey()) >= 0
}

func (m *rangeMerger) build() []*KeyLocation {
	for ; m.next < len(m.cached); m.next++ {
		if cr := m.cached[m.next]; !m.coveredByLoaded(cr) {
			m.out = append(m.out, locationOf(cr))
		}
	}
	return m.out
}

// rangesAfterKey returns the part of sorted ranges at or after key, reusing
// (and modifying) ranges; nil when key is +inf or past the last range
// (client-go rangesAfterKey).
func rangesAfterKey(ranges []KeyRange, key []byte) []KeyRange {
	if len(ranges) == 0 {
		return nil
	}
	lastEnd := ranges[len(ranges)-1].EndKey
	if len(key) == 0 || (len(lastEnd) > 0 && bytes.Compare(key, lastEnd) >= 0) {
		return nil
	}
	n := sort.Search(len(ranges), func(i int) bool {
		return len(ranges[i].EndKey) == 0 || bytes.Compare(ranges[i].EndKey, key) > 0
	})
	ranges = ranges[n:]
	if bytes.Compare(key, ranges[0].StartKey) > 0 {
		ranges[0].StartKey = key
	}
	return ranges
}

// regionsHaveGap reports whether regions (in key order) fail to cover
// ranges; a result cut short by limit only has to be contiguous (client-go
// regionsHaveGapInRanges).
func regionsHaveGap(ranges []KeyRange, regions []*pdpb.Region, limit int) bool {
	if len(ranges) == 0 {
		return false
	}
	if len(regions) == 0 {
		return true
	}
	ri, check := 0, ranges[0].StartKey
	for _, pr := range regions {
		m := pr.GetRegion()
		if m == nil || bytes.Compare(m.GetStartKey(), check) > 0 {
			return true
		}
		if len(m.GetEndKey()) == 0 {
			return false
		}
		check = m.GetEndKey()
		for len(ranges[ri].EndKey) > 0 && bytes.Compare(check, ranges[ri].EndKey) >= 0 {
			ri++
			if ri == len(ranges) {
				return false
			}
		}
		if bytes.Compare(check, ranges[ri].StartKey) < 0 {
			check = ranges[ri].StartKey
		}
	}
	if limit > 0 && len(regions) == limit {
		return false
	}
	if ri < len(ranges)-1 {
		return true
	}
	if len(ranges[ri].EndKey) == 0 {
		return true
	}
	return bytes.Compare(check, ranges[ri].EndKey) < 0
}

// BatchLoadRegionsWithKeyRanges loads at most limit regions covering sorted,
// disjoint ranges from PD, inserts them without invalidating what they
// replace, and returns them in key order (client-go
// BatchLoadRegionsWithKeyRanges). Empty or gapped answers, answers with no
// leader at all (with NeedLeader) and answers older than the cache are
// retried with bo.
func (c *Cache) BatchLoadRegionsWithKeyRanges(ctx context.Context, bo Backoffer, ranges []KeyRange, limit int, opts BatchOptions) ([]*Region, error) {
	if len(ranges) == 0 || limit <= 0 {
		return nil, nil
	}
	bo = c.backoffer(bo)
	req := make([]*pdpb.KeyRange, len(ranges))
	for i, r := range ranges {
		req[i] = &pdpb.KeyRange{StartKey: r.StartKey, EndKey: r.EndKey}
	}
	for {
		rs, err := c.batchScanOnce(ctx, bo, ranges, req, limit, opts)
		if err == nil {
			return rs, nil
		}
		if berr := bo.Backoff(ctx, err); berr != nil {
			return nil, berr
		}
	}
}

func (c *Cache) batchScanOnce(ctx context.Context, bo Backoffer, ranges []KeyRange, req []*pdpb.KeyRange, limit int, opts BatchOptions) ([]*Region, error) {
	prs, err := c.src.BatchScanRegions(ctx, req, limit, opts.NeedBuckets)
	if err != nil {
		return nil, fmt.Errorf("locate: batch scan %d ranges: %w", len(ranges), err)
	}
	if regionsHaveGap(ranges, prs, limit) {
		return nil, fmt.Errorf("%w: %d ranges, %d regions", ErrNoRegion, len(ranges), len(prs))
	}
	var out []*Region
	for _, pr := range prs {
		if opts.NeedLeader && pr.GetLeader().GetId() == 0 {
			continue
		}
		r, err := c.newRegion(ctx, bo, pr)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: all %d regions have no leader", ErrNoRegion, len(prs))
	}
	for _, r := range out {
		if !c.insert(r, false) {
			return nil, fmt.Errorf("%w: %v", ErrStaleRegion, r)
		}
	}
	return out, nil
}

// BatchLoadRegionsFromKey loads at most count regions from startKey on and
// returns the end key of the last one (client-go BatchLoadRegionsFromKey).
func (c *Cache) BatchLoadRegionsFromKey(ctx context.Context, bo Backoffer, startKey []byte, count int) ([]byte, error) {
	rs, err := c.BatchLoadRegionsWithKeyRanges(ctx, bo, []KeyRange{{StartKey: startKey}}, count, BatchOptions{NeedLeader: true})
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("%w: count %d", ErrNoRegion, count)
	}
	return rs[len(rs)-1].EndKey(), nil
}

// LoadRegionsInKeyRange loads every region covering [startKey, endKey] from
// PD, in batches, and returns them in order (client-go
// LoadRegionsInKeyRange).
func (c *Cache) LoadRegionsInKeyRange(ctx context.Context, bo Backoffer, startKey, endKey []byte) ([]*Region, error) {
	bo = c.backoffer(bo)
	var out []*Region
	for {
		rs, err := c.BatchLoadRegionsWithKeyRanges(ctx, bo, []KeyRange{{startKey, endKey}}, c.opts.RegionsPerBatch, BatchOptions{NeedLeader: true})
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
		last := rs[len(rs)-1]
		if last.ContainsByEnd(endKey) || len(last.EndKey()) == 0 {
			return out, nil
		}
		startKey = last.EndKey()
	}
}

// ListRegionIDsInKeyRange returns the ids of the regions covering
// [startKey, endKey], an empty endKey meaning +inf (client-go
// ListRegionIDsInKeyRange, which stops at the first region for an empty
// endKey).
func (c *Cache) ListRegionIDsInKeyRange(ctx context.Context, bo Backoffer, startKey, endKey []byte) ([]uint64, error) {
	bo = c.backoffer(bo)
	var ids []uint64
	for {
		loc, err := c.LocateKey(ctx, bo, startKey)
		if err != nil {
			return nil, err
		}
		ids = append(ids, loc.Region.id)
		if len(loc.EndKey) == 0 || (len(endKey) > 0 && loc.Contains(endKey)) {
			return ids, nil
		}
		startKey = loc.EndKey
	}
}

// GroupKeysByRegion splits keys by region, in the keys' order within each
// group, and returns the region of the first key too, which 2PC uses as the
// primary's region (client-go GroupKeysByRegion). A key for which filter
// returns true, given the key and its region's start key, is dropped; it
// is only asked for the first key of each run of keys in one region.
func (c *Cache) GroupKeysByRegion(ctx context.Context, bo Backoffer, keys [][]byte, filter func(key, regionStartKey []byte) bool) (map[RegionVerID][][]byte, RegionVerID, error) {
	bo = c.backoffer(bo)
	groups := map[RegionVerID][][]byte{}
	var first RegionVerID
	var loc *KeyLocation
	for i, k := range keys {
		if loc == nil || !loc.Contains(k) {
			var err error
			if loc, err = c.LocateKey(ctx, bo, k); err != nil {
				return nil, first, err
			}
			if filter != nil && filter(k, loc.StartKey) {
				continue
			}
		}
		if i == 0 {
			first = loc.Region
		}
		groups[loc.Region] = append(groups[loc.Region], k)
	}
	return groups, first, nil
}

// RangeGroup is the part of some ranges that falls into one region.
type RangeGroup struct {
	Location *KeyLocation
	Ranges   []KeyRange
}

// GroupRangesByRegion cuts sorted, disjoint ranges at region boundaries and
// groups the pieces by region, in key order (client-go's range splitting
// used by scans, DeleteRange and coprocessor tasks).
func (c *Cache) GroupRangesByRegion(ctx context.Context, bo Backoffer, ranges []KeyRange) ([]RangeGroup, error) {
	locs, err := c.BatchLocateKeyRanges(ctx, bo, ranges, BatchOptions{})
	if err != nil {
		return nil, err
	}
	var out []RangeGroup
	li := 0
	for _, kr := range ranges {
		start := kr.StartKey
		for {
			for li < len(locs) && !locs[li].Contains(start) {
				li++
			}
			if li == len(locs) {
				return nil, fmt.Errorf("%w: no location for key %q", ErrNoRegion, start)
			}
			loc := locs[li]
			piece := KeyRange{StartKey: start, EndKey: kr.EndKey}
			ends := len(loc.EndKey) == 0 || (len(kr.EndKey) > 0 && bytes.Compare(kr.EndKey, loc.EndKey) <= 0)
			if !ends {
				piece.EndKey = loc.EndKey
			}
			if n := len(out); n > 0 && out[n-1].Location == loc {
				out[n-1].Ranges = append(out[n-1].Ranges, piece)
			} else {
				out = append(out, RangeGroup{Location: loc, Ranges: []KeyRange{piece}})
			}
			if ends {
				break
			}
			start = loc.EndKey
		}
	}
	return out, nil
}
