package pd

import (
	"bytes"
	"fmt"
	"sort"
	"time"

	"github.com/google/btree"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvsim/tikvsim/internal/invariants"
)

// regionInfo is PD's view of one region (pkg/core/region.go RegionInfo).
type regionInfo struct {
	meta         *metapb.Region
	leader       *metapb.Peer // nil when loaded from storage
	downPeers    []*pdpb.PeerStats
	pendingPeers []*metapb.Peer
	term         uint64
	buckets      *metapb.Buckets
}

func (r *regionInfo) id() uint64       { return r.meta.GetId() }
func (r *regionInfo) startKey() []byte { return r.meta.GetStartKey() }
func (r *regionInfo) endKey() []byte   { return r.meta.GetEndKey() }

func (r *regionInfo) contains(key []byte) bool {
	return bytes.Compare(r.startKey(), key) <= 0 &&
		(len(r.endKey()) == 0 || bytes.Compare(key, r.endKey()) < 0)
}

func (r *regionInfo) rangeEqual(o *regionInfo) bool {
	return bytes.Equal(r.startKey(), o.startKey()) && bytes.Equal(r.endKey(), o.endKey())
}

// regionTree is the region tree ordered by start key plus the id map
// (pkg/core/region_tree.go and RegionsInfo). Regions never overlap; holes are
// allowed (PD only knows what heartbeats told it).
type regionTree struct {
	tree *btree.BTreeG[*regionInfo]
	byID map[uint64]*regionInfo
}

func lessRegion(a, b *regionInfo) bool { return bytes.Compare(a.startKey(), b.startKey()) < 0 }

func newRegionTree() *regionTree {
	return &regionTree{tree: btree.NewG(8, lessRegion), byID: map[uint64]*regionInfo{}}
}

func pivot(key []byte) *regionInfo { return &regionInfo{meta: &metapb.Region{StartKey: key}} }

func (t *regionTree) len() int { return t.tree.Len() }

// search returns the region containing key (regionTree.search).
func (t *regionTree) search(key []byte) *regionInfo {
	var res *regionInfo
	t.tree.DescendLessOrEqual(pivot(key), func(r *regionInfo) bool { res = r; return false })
	if res == nil || !res.contains(key) {
		return nil
	}
	return res
}

// searchPrev returns the region right before the one containing key, only if
// they are adjacent (regionTree.searchPrev).
func (t *regionTree) searchPrev(key []byte) *regionInfo {
	cur := t.search(key)
	if cur == nil {
		return nil
	}
	var prev *regionInfo
	t.tree.DescendLessOrEqual(cur, func(r *regionInfo) bool {
		if bytes.Equal(r.startKey(), cur.startKey()) {
			return true
		}
		prev = r
		return false
	})
	if prev == nil || !bytes.Equal(prev.endKey(), cur.startKey()) {
		return nil
	}
	return prev
}

// overlaps returns the regions intersecting r's range, in key order.
func (t *regionTree) overlaps(r *regionInfo) []*regionInfo {
	start := t.search(r.startKey())
	if start == nil {
		start = pivot(r.startKey())
	}
	var out []*regionInfo
	t.tree.AscendGreaterOrEqual(start, func(i *regionInfo) bool {
		if len(r.endKey()) > 0 && bytes.Compare(r.endKey(), i.startKey()) <= 0 {
			return false
		}
		out = append(out, i)
		return true
	})
	return out
}

// scanFrom calls f on regions from the one containing (or after) key.
func (t *regionTree) scanFrom(key []byte, f func(*regionInfo) bool) {
	start := t.search(key)
	if start == nil {
		start = pivot(key)
	}
	t.tree.AscendGreaterOrEqual(start, f)
}

// put inserts r, replacing its older self and removing overlapped regions,
// which it returns (setRegionLocked).
func (t *regionTree) put(r *regionInfo) []*regionInfo {
	if origin := t.byID[r.id()]; origin != nil {
		oe, ne := origin.meta.GetRegionEpoch(), r.meta.GetRegionEpoch()
		invariants.Assert(ne.GetVersion() >= oe.GetVersion() && ne.GetConfVer() >= oe.GetConfVer(),
			"region %d epoch goes back: %v -> %v", r.id(), oe, ne)
		t.tree.Delete(origin)
	}
	overlaps := t.overlaps(r)
	for _, o := range overlaps {
		invariants.Assert(o.id() != r.id(), "region %d overlaps itself", r.id())
		t.tree.Delete(o)
		delete(t.byID, o.id())
	}
	t.tree.ReplaceOrInsert(r)
	t.byID[r.id()] = r
	if invariants.Enabled {
		t.checkInvariants()
	}
	return overlaps
}

// checkInvariants asserts the tree and the id map agree and regions do not
// overlap.
func (t *regionTree) checkInvariants() {
	invariants.Assert(t.tree.Len() == len(t.byID), "tree has %d regions, id map %d", t.tree.Len(), len(t.byID))
	var prev *regionInfo
	t.tree.Ascend(func(r *regionInfo) bool {
		invariants.Assert(t.byID[r.id()] == r, "region %d not in id map", r.id())
		invariants.Assert(len(r.endKey()) == 0 || bytes.Compare(r.startKey(), r.endKey()) < 0,
			"region %d has empty range", r.id())
		if prev != nil {
			invariants.Assert(len(prev.endKey()) > 0 && bytes.Compare(prev.endKey(), r.startKey()) <= 0,
				"regions %d and %d overlap", prev.id(), r.id())
		}
		prev = r
		return true
	})
}

// forgetLeaders models a new PD leader loading regions from storage.
func (t *regionTree) forgetLeaders() {
	t.tree.Ascend(func(r *regionInfo) bool {
		r.leader, r.downPeers, r.pendingPeers, r.term = nil, nil, nil, 0
		return true
	})
}

func errRegionIsStale(region, origin *metapb.Region) string {
	return fmt.Sprintf("region is stale: region %v origin %v", region, origin)
}

// checkStale is pkg/core/region.go check: a heartbeat is stale when its
// version is below an overlapped region's, or its term, version or conf_ver
// is below its own last known state.
func checkStale(r, origin *regionInfo, overlaps []*regionInfo) string {
	for _, o := range overlaps {
		if r.meta.GetRegionEpoch().GetVersion() < o.meta.GetRegionEpoch().GetVersion() {
			return errRegionIsStale(r.meta, o.meta)
		}
	}
	if origin == nil {
		return ""
	}
	re, oe := r.meta.GetRegionEpoch(), origin.meta.GetRegionEpoch()
	termBehind := r.term > 0 && r.term < origin.term
	if termBehind || re.GetVersion() < oe.GetVersion() || re.GetConfVer() < oe.GetConfVer() {
		return errRegionIsStale(r.meta, origin.meta)
	}
	return ""
}

// RegionHeartbeat implements one message of the RegionHeartbeat stream
// (server/grpc_service.go RegionHeartbeat, cluster HandleRegionHeartbeat).
// It returns the response PD sends back at once (an error header for an
// invalid or stale heartbeat), nil when PD sends nothing, or an error when PD
// would end the stream. Operators are not sent on this stream: they go to
// the Ready queue (see the package documentation).
func (p *PD) RegionHeartbeat(now time.Time, req *pdpb.RegionHeartbeatRequest) (*pdpb.RegionHeartbeatResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leader >= 0 && !p.st.bootstrapped {
		return &pdpb.RegionHeartbeatResponse{Header: p.notBootstrappedHeader()}, nil
	}
	if err := p.validateLocked(req.GetHeader()); err != nil {
		return nil, err
	}
	storeID := req.GetLeader().GetStoreId()
	store := p.st.stores[storeID]
	if store == nil {
		return nil, errUnknown(fmt.Sprintf("invalid store ID %d, not found", storeID))
	}
	if store.removed() {
		return nil, nil // skip region heartbeat from tombstone store
	}
	errResp := func(msg string) *pdpb.RegionHeartbeatResponse {
		return &pdpb.RegionHeartbeatResponse{Header: p.unknownHeader(msg), RegionId: req.GetRegion().GetId(),
			RegionEpoch: cloneEpoch(req.GetRegion().GetRegionEpoch()), TargetPeer: clonePeer(req.GetLeader())}
	}
	switch {
	case req.GetLeader() == nil:
		return errResp(fmt.Sprintf("invalid request leader, %v", req)), nil
	case req.GetRegion().GetId() == 0:
		return errResp(fmt.Sprintf("invalid request region, %v", req)), nil
	case len(req.GetRegion().GetPeers()) == 0:
		return errResp(fmt.Sprintf("invalid region, zero region peer count: %v", req.GetRegion())), nil
	case len(req.GetRegion().GetEndKey()) > 0 && bytes.Compare(req.GetRegion().GetStartKey(), req.GetRegion().GetEndKey()) >= 0:
		// PD does not check this (TiKV never sends it); the fake refuses
		// rather than corrupt its tree.
		return errResp(fmt.Sprintf("invalid region, start key >= end key: %v", req.GetRegion())), nil
	}
	r := &regionInfo{
		meta:         cloneRegion(req.GetRegion()),
		leader:       clonePeer(req.GetLeader()),
		downPeers:    clonePeerStats(req.GetDownPeers()),
		pendingPeers: clonePeers(req.GetPendingPeers()),
		term:         req.GetTerm(),
	}
	origin := p.st.regions.byID[r.id()]
	var overlaps []*regionInfo
	if origin == nil || !origin.rangeEqual(r) {
		overlaps = p.st.regions.overlaps(r)
		// The region itself is not its own overlap.
		kept := overlaps[:0]
		for _, o := range overlaps {
			if o.id() != r.id() {
				kept = append(kept, o)
			}
		}
		overlaps = kept
	}
	if msg := checkStale(r, origin, overlaps); msg != "" {
		return errResp(msg), nil
	}
	for _, o := range overlaps {
		invariants.Assert(o.meta.GetRegionEpoch().GetVersion() <= r.meta.GetRegionEpoch().GetVersion(),
			"heartbeat of region %d replaces newer region %d", r.id(), o.id())
	}
	if origin != nil && origin.meta.GetRegionEpoch().GetVersion() == r.meta.GetRegionEpoch().GetVersion() && origin.rangeEqual(r) {
		r.buckets = origin.buckets // Inherit
	}
	p.st.regions.put(r)
	p.ops.onRegionChange(now, p, r)
	return nil, nil
}

// ReportBuckets implements one message of the ReportBuckets stream: the
// buckets replace the region's when their version is newer.
func (p *PD) ReportBuckets(_ time.Time, req *pdpb.ReportBucketsRequest) (*pdpb.ReportBucketsResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.validateLocked(req.GetHeader()); err != nil {
		return nil, err
	}
	if !p.st.bootstrapped {
		return &pdpb.ReportBucketsResponse{Header: p.notBootstrappedHeader()}, nil
	}
	b := req.GetBuckets()
	r := p.st.regions.byID[b.GetRegionId()]
	if r != nil && (r.buckets == nil || b.GetVersion() > r.buckets.GetVersion()) {
		r.buckets = cloneBuckets(b)
	}
	return nil, nil
}

// regionLookupLocked runs the checks shared by the region queries.
func (p *PD) regionLookupLocked(h *pdpb.RequestHeader) (*pdpb.ResponseHeader, error) {
	if err := p.validateLocked(h); err != nil {
		return nil, err
	}
	if !p.st.bootstrapped {
		return p.notBootstrappedHeader(), nil
	}
	return nil, nil
}

func (p *PD) regionResponse(r *regionInfo, needBuckets bool) *pdpb.GetRegionResponse {
	resp := &pdpb.GetRegionResponse{Header: p.okHeader()}
	if r == nil {
		return resp // the leader answers "no region" with an OK header
	}
	resp.Region = cloneRegion(r.meta)
	resp.Leader = clonePeer(r.leader)
	resp.DownPeers = clonePeerStats(r.downPeers)
	resp.PendingPeers = clonePeers(r.pendingPeers)
	if needBuckets && p.cfg.EnableRegionBucket {
		resp.Buckets = cloneBuckets(r.buckets)
	}
	return resp
}

// GetRegion implements the RPC: the region containing region_key.
func (p *PD) GetRegion(_ time.Time, req *pdpb.GetRegionRequest) (*pdpb.GetRegionResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h, err := p.regionLookupLocked(req.GetHeader()); h != nil || err != nil {
		return respOrNil(&pdpb.GetRegionResponse{Header: h}, err)
	}
	return p.regionResponse(p.st.regions.search(req.GetRegionKey()), req.GetNeedBuckets()), nil
}

// GetPrevRegion implements the RPC: the region adjacent before the one
// containing region_key.
func (p *PD) GetPrevRegion(_ time.Time, req *pdpb.GetRegionRequest) (*pdpb.GetRegionResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h, err := p.regionLookupLocked(req.GetHeader()); h != nil || err != nil {
		return respOrNil(&pdpb.GetRegionResponse{Header: h}, err)
	}
	return p.regionResponse(p.st.regions.searchPrev(req.GetRegionKey()), req.GetNeedBuckets()), nil
}

// GetRegionByID implements the RPC.
func (p *PD) GetRegionByID(_ time.Time, req *pdpb.GetRegionByIDRequest) (*pdpb.GetRegionResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h, err := p.regionLookupLocked(req.GetHeader()); h != nil || err != nil {
		return respOrNil(&pdpb.GetRegionResponse{Header: h}, err)
	}
	return p.regionResponse(p.st.regions.byID[req.GetRegionId()], req.GetNeedBuckets()), nil
}

func respOrNil[T any](resp *T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func (p *PD) pdRegion(r *regionInfo, needBuckets bool) *pdpb.Region {
	leader := clonePeer(r.leader)
	if leader == nil {
		leader = &metapb.Peer{}
	}
	out := &pdpb.Region{Region: cloneRegion(r.meta), Leader: leader,
		DownPeers: clonePeerStats(r.downPeers), PendingPeers: clonePeers(r.pendingPeers)}
	if needBuckets && p.cfg.EnableRegionBucket {
		out.Buckets = cloneBuckets(r.buckets)
	}
	return out
}

// ScanRegions implements the deprecated RPC (kept because it is trivial):
// regions intersecting [start_key, end_key), at most limit (<=0: all).
func (p *PD) ScanRegions(_ time.Time, req *pdpb.ScanRegionsRequest) (*pdpb.ScanRegionsResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h, err := p.regionLookupLocked(req.GetHeader()); h != nil || err != nil {
		return respOrNil(&pdpb.ScanRegionsResponse{Header: h}, err)
	}
	resp := &pdpb.ScanRegionsResponse{Header: p.okHeader()}
	limit := int(req.GetLimit())
	p.st.regions.scanFrom(req.GetStartKey(), func(r *regionInfo) bool {
		if len(req.GetEndKey()) > 0 && bytes.Compare(r.startKey(), req.GetEndKey()) >= 0 {
			return false
		}
		if limit > 0 && len(resp.Regions) >= limit {
			return false
		}
		pr := p.pdRegion(r, false)
		resp.RegionMetas = append(resp.RegionMetas, cloneRegion(pr.Region))
		resp.Leaders = append(resp.Leaders, clonePeer(pr.Leader))
		resp.Regions = append(resp.Regions, pr)
		return true
	})
	return resp, nil
}

const errRegionNotAdjacent = "[PD:region:ErrRegionNotAdjacent]"

// scanRange is pkg/core/region.go scanRegion: regions over one key range,
// with hole detection.
func (t *regionTree) scanRange(start, end []byte, limit int, mustContainAll bool) ([]*regionInfo, string) {
	var res []*regionInfo
	lastEnd, lastStart := start, []byte(nil)
	exceeded := func() bool { return limit > 0 && len(res) >= limit }
	var hole string
	t.scanFrom(start, func(r *regionInfo) bool {
		if len(end) > 0 && len(r.startKey()) > 0 && bytes.Compare(r.startKey(), end) >= 0 {
			return false
		}
		if exceeded() {
			return false
		}
		if len(lastEnd) > 0 && len(r.startKey()) > 0 && bytes.Compare(r.startKey(), lastEnd) > 0 {
			hole = fmt.Sprintf("%skey range[%x, %x) found a hole region between region[%x, %x) and region[%x, %x)",
				errRegionNotAdjacent, start, end, lastStart, lastEnd, r.startKey(), r.endKey())
			if mustContainAll {
				return false
			}
		}
		lastStart, lastEnd = r.startKey(), r.endKey()
		res = append(res, r)
		return true
	})
	if mustContainAll && hole != "" {
		return nil, hole
	}
	if !exceeded() && len(end) > 0 && len(lastEnd) > 0 && bytes.Compare(lastEnd, end) < 0 {
		hole = fmt.Sprintf("%skey range[%x, %x) found a hole region in the last, the last scanned region is [%x, %x), [%x, %x) is missing",
			errRegionNotAdjacent, start, end, lastStart, lastEnd, lastEnd, end)
		if mustContainAll {
			return nil, hole
		}
	}
	return res, ""
}

// BatchScanRegions implements the RPC (pkg/utils/grpcutil/cluster.go,
// RegionsInfo.BatchScanRegions): ranges must be ordered and not overlap;
// adjacent ranges merge; with contain_all_key_range a hole is the
// REGIONS_NOT_CONTAIN_ALL_KEY_RANGE error.
func (p *PD) BatchScanRegions(_ time.Time, req *pdpb.BatchScanRegionsRequest) (*pdpb.BatchScanRegionsResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h, err := p.regionLookupLocked(req.GetHeader()); h != nil || err != nil {
		return respOrNil(&pdpb.BatchScanRegionsResponse{Header: h}, err)
	}
	ranges := req.GetRanges()
	type kr struct{ start, end []byte }
	var merged []kr
	for i, r := range ranges {
		if i > 0 && bytes.Compare(r.GetStartKey(), ranges[i-1].GetEndKey()) < 0 {
			return &pdpb.BatchScanRegionsResponse{Header: p.unknownHeader("invalid key range, ranges overlapped")}, nil
		}
		if len(r.GetEndKey()) > 0 && bytes.Compare(r.GetStartKey(), r.GetEndKey()) > 0 {
			return &pdpb.BatchScanRegionsResponse{Header: p.unknownHeader("invalid key range, start key > end key")}, nil
		}
		if n := len(merged); n > 0 && bytes.Equal(merged[n-1].end, r.GetStartKey()) {
			merged[n-1].end = r.GetEndKey()
			continue
		}
		merged = append(merged, kr{r.GetStartKey(), r.GetEndKey()})
	}
	limit := int(req.GetLimit())
	var res []*regionInfo
	for _, r := range merged {
		regions, hole := p.st.regions.scanRange(r.start, r.end, limit, req.GetContainAllKeyRange())
		if hole != "" {
			return &pdpb.BatchScanRegionsResponse{
				Header: p.errHeader(pdpb.ErrorType_REGIONS_NOT_CONTAIN_ALL_KEY_RANGE, hole)}, nil
		}
		if len(res) > 0 && len(regions) > 0 && res[len(res)-1].id() == regions[0].id() {
			regions = regions[1:]
		}
		res = append(res, regions...)
		if limit > 0 && len(res) >= limit {
			res = res[:limit]
			break
		}
	}
	resp := &pdpb.BatchScanRegionsResponse{Header: p.okHeader(), Regions: make([]*pdpb.Region, 0, len(res))}
	invariants.Assert(limit <= 0 || len(res) <= limit, "batch scan returned %d regions over limit %d", len(res), limit)
	for i, r := range res {
		invariants.Assert(i == 0 || bytes.Compare(res[i-1].startKey(), r.startKey()) < 0, "batch scan out of key order at %d", i)
		resp.Regions = append(resp.Regions, p.pdRegion(r, req.GetNeedBuckets()))
	}
	return resp, nil
}

// QueryRegion implements one message of the QueryRegion stream
// (RegionsInfo.QueryRegions): key_id_map and prev_key_id_map hold the region
// id per key (0 when none), regions_by_id the regions found, and a nil entry
// for each requested id that is unknown.
func (p *PD) QueryRegion(_ time.Time, req *pdpb.QueryRegionRequest) (*pdpb.QueryRegionResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if req.GetHeader().GetClusterId() != p.clusterID {
		return nil, errMismatchClusterID(p.clusterID, req.GetHeader().GetClusterId())
	}
	if p.leader < 0 {
		return nil, ErrNotLeader
	}
	if !p.st.bootstrapped {
		return &pdpb.QueryRegionResponse{Header: p.notBootstrappedHeader()}, nil
	}
	need := req.GetNeedBuckets() && p.cfg.EnableRegionBucket
	byID := map[uint64]*pdpb.RegionResponse{}
	toResp := func(r *regionInfo) *pdpb.RegionResponse {
		out := &pdpb.RegionResponse{Region: cloneRegion(r.meta), Leader: clonePeer(r.leader),
			DownPeers: clonePeerStats(r.downPeers), PendingPeers: clonePeers(r.pendingPeers)}
		if need {
			out.Buckets = cloneBuckets(r.buckets)
		}
		return out
	}
	idMap := func(keys [][]byte, find func([]byte) *regionInfo) []uint64 {
		out := make([]uint64, len(keys))
		for i, k := range keys {
			r := find(k)
			if r == nil {
				continue
			}
			out[i] = r.id()
			if byID[r.id()] == nil {
				byID[r.id()] = toResp(r)
			}
		}
		return out
	}
	resp := &pdpb.QueryRegionResponse{Header: p.okHeader()}
	resp.KeyIdMap = idMap(req.GetKeys(), p.st.regions.search)
	resp.PrevKeyIdMap = idMap(req.GetPrevKeys(), p.st.regions.searchPrev)
	for _, id := range req.GetIds() {
		if id == 0 || byID[id] != nil {
			continue
		}
		if r := p.st.regions.byID[id]; r != nil {
			byID[id] = toResp(r)
		} else {
			byID[id] = nil
		}
	}
	resp.RegionsById = byID
	invariants.Assert(len(resp.KeyIdMap) == len(req.GetKeys()) && len(resp.PrevKeyIdMap) == len(req.GetPrevKeys()),
		"query region maps %d/%d ids for %d/%d keys", len(resp.KeyIdMap), len(resp.PrevKeyIdMap), len(req.GetKeys()), len(req.GetPrevKeys()))
	return resp, nil
}

// RegionIDs returns the ids of the regions PD knows, in key order (for
// tests and checkers).
func (p *PD) RegionIDs() []uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []uint64
	p.st.regions.tree.Ascend(func(r *regionInfo) bool { out = append(out, r.id()); return true })
	return out
}

func sortedKeys[V any](m map[uint64]V) []uint64 {
	out := make([]uint64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
