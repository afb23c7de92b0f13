package locate

import (
	"bytes"
	"fmt"
	"sync/atomic"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/tikvsim/tikvsim/internal/invariants"
)

// RegionVerID identifies a region at one epoch. Requests carry it, and the
// error-feedback methods use it to find the exact cached region the request
// was routed with: feedback about an older version is ignored.
type RegionVerID struct {
	id      uint64
	confVer uint64
	ver     uint64
}

// NewRegionVerID returns the RegionVerID of region id at epoch (confVer, ver).
func NewRegionVerID(id, confVer, ver uint64) RegionVerID { return RegionVerID{id, confVer, ver} }

// ID returns the region id.
func (v RegionVerID) ID() uint64 { return v.id }

// Ver returns the epoch version (bumped by split and merge).
func (v RegionVerID) Ver() uint64 { return v.ver }

// ConfVer returns the epoch conf version (bumped by peer changes).
func (v RegionVerID) ConfVer() uint64 { return v.confVer }

// String formats the id as "{id ver confVer}".
func (v RegionVerID) String() string {
	return fmt.Sprintf("{region %d ver %d conf %d}", v.id, v.ver, v.confVer)
}

// InvalidReason is why a cached region was invalidated (client-go
// InvalidReason). The cache uses it when the region is replaced: a region
// invalidated for NoLeader makes its replacement start at the next peer.
type InvalidReason int32

// The invalidation reasons.
const (
	// Ok means the region is valid.
	Ok InvalidReason = iota
	// NoLeader means the region was invalidated because it had no leader.
	NoLeader
	// RegionNotFound means the store did not have the region.
	RegionNotFound
	// EpochNotMatch means the region's epoch was stale.
	EpochNotMatch
	// StoreNotFound means the store of the peer to use is unknown to PD or
	// removed.
	StoreNotFound
	// Other covers everything else, e.g. a send failure on the store.
	Other
)

// String returns the reason's name.
func (r InvalidReason) String() string {
	switch r {
	case Ok:
		return "Ok"
	case NoLeader:
		return "NoLeader"
	case RegionNotFound:
		return "RegionNotFound"
	case EpochNotMatch:
		return "EpochNotMatch"
	case StoreNotFound:
		return "StoreNotFound"
	case Other:
		return "Other"
	}
	return fmt.Sprintf("InvalidReason(%d)", int32(r))
}

// Sync flags of a region (client-go needReloadOnAccess and friends).
const (
	// needReloadOnAccess: reload from PD on the next lookup.
	needReloadOnAccess int32 = 1 << iota
	// needExpireAfterTTL: expire after the TTL even if accessed.
	needExpireAfterTTL
	// needDelayedReloadPending: mark ready for reload at the next GC scan.
	needDelayedReloadPending
	// needDelayedReloadReady: reload on the next lookup (set by GC).
	needDelayedReloadReady
)

// expiredTTL is the TTL of an invalidated region: every time is past it.
const expiredTTL = -1 << 63

// Region is one cached region: its meta as PD returned it (with unusable
// peers filtered out), the store of each peer, and the mutable routing state.
// A Region is shared by every task that looked it up; its exported methods
// are safe for concurrent use and never block. The meta is immutable: the
// cache replaces the whole Region when the region changes.
type Region struct {
	meta         *metapb.Region // immutable; Peers are the usable ones
	stores       []*Store       // stores[i] holds meta.Peers[i]
	kvIdx        []int          // access index -> peer index, for TiKV peers (TiFlash peers are not routed to)
	downPeers    []*metapb.Peer
	pendingPeers []*metapb.Peer

	state  atomic.Pointer[regionState]
	ttl    atomic.Int64 // expiry, unix nanoseconds on the cache's clock
	flags  atomic.Int32
	reason atomic.Int32 // InvalidReason
}

// regionState is the copy-on-write routing state of a Region (client-go
// regionStore).
type regionState struct {
	work        int      // access index of the peer requests go to: the leader as far as we know
	storeEpochs []uint32 // store failure epochs seen when the state was made, per peer
	buckets     *metapb.Buckets
}

func (s *regionState) clone() *regionState {
	c := *s
	c.storeEpochs = append([]uint32(nil), s.storeEpochs...)
	return &c
}

// VerID returns the region's id and epoch.
func (r *Region) VerID() RegionVerID {
	e := r.meta.GetRegionEpoch()
	return RegionVerID{r.meta.GetId(), e.GetConfVer(), e.GetVersion()}
}

// ID returns the region id.
func (r *Region) ID() uint64 { return r.meta.GetId() }

// StartKey returns the region's start key (inclusive; empty is -inf). The
// slice is shared: do not modify it.
func (r *Region) StartKey() []byte { return r.meta.GetStartKey() }

// EndKey returns the region's end key (exclusive; empty is +inf). The slice
// is shared: do not modify it.
func (r *Region) EndKey() []byte { return r.meta.GetEndKey() }

// Meta returns a copy of the region's meta, with the peers the cache routes
// to.
func (r *Region) Meta() *metapb.Region { return proto.Clone(r.meta).(*metapb.Region) }

// Peers returns the region's usable peers, in PD's order. The slice is
// shared: do not modify it.
func (r *Region) Peers() []*metapb.Peer { return r.meta.GetPeers() }

// Stores returns the store of each peer, aligned with Peers. The slice is
// shared: do not modify it.
func (r *Region) Stores() []*Store { return r.stores }

// DownPeers returns the peers PD reported down (they are not in Peers).
func (r *Region) DownPeers() []*metapb.Peer { return r.downPeers }

// PendingPeers returns the peers PD reported pending.
func (r *Region) PendingPeers() []*metapb.Peer { return r.pendingPeers }

// Buckets returns the region's buckets, nil when unknown. They may be stale
// and extend past the region's range (see KeyLocation.LocateBucket).
func (r *Region) Buckets() *metapb.Buckets { return r.state.Load().buckets }

// Leader returns the peer requests are sent to (the leader as far as the
// cache knows), its store and its access index. It returns nils and -1 when
// the region has no TiKV peer.
func (r *Region) Leader() (*metapb.Peer, *Store, int) {
	s := r.state.Load()
	if s.work >= len(r.kvIdx) {
		return nil, nil, -1
	}
	i := r.kvIdx[s.work]
	return r.meta.Peers[i], r.stores[i], s.work
}

// LeaderStoreID returns the store id of Leader, 0 when there is none.
func (r *Region) LeaderStoreID() uint64 {
	p, _, _ := r.Leader()
	return p.GetStoreId()
}

// InvalidReason returns why the region was invalidated, Ok if it was not.
func (r *Region) InvalidReason() InvalidReason { return InvalidReason(r.reason.Load()) }

// Contains reports whether key is in [StartKey, EndKey).
func (r *Region) Contains(key []byte) bool { return contains(r.StartKey(), r.EndKey(), key) }

// ContainsByEnd reports whether the region holds the greatest key below key:
// StartKey < key <= EndKey, where an empty key is +inf and only the last
// region contains it (client-go ContainsByEnd).
func (r *Region) ContainsByEnd(key []byte) bool { return containsByEnd(r.StartKey(), r.EndKey(), key) }

func contains(start, end, key []byte) bool {
	return bytes.Compare(start, key) <= 0 && (len(end) == 0 || bytes.Compare(key, end) < 0)
}

func containsByEnd(start, end, key []byte) bool {
	if len(key) == 0 {
		return len(end) == 0
	}
	return bytes.Compare(start, key) < 0 && (len(end) == 0 || bytes.Compare(key, end) <= 0)
}

// overlaps reports whether [s1,e1) and [s2,e2) intersect (empty end: +inf).
func overlaps(s1, e1, s2, e2 []byte) bool {
	return (len(e2) == 0 || bytes.Compare(s1, e2) < 0) && (len(e1) == 0 || bytes.Compare(s2, e1) < 0)
}

// invalidate expires the region with reason unless it is already invalid
// (client-go Region.invalidate). It reports whether this call did it.
func (r *Region) invalidate(reason InvalidReason) bool {
	if r.reason.CompareAndSwap(int32(Ok), int32(reason)) {
		r.ttl.Store(expiredTTL)
		return true
	}
	return false
}

func (r *Region) checkFlags(f int32) bool { return r.flags.Load()&f != 0 }

func (r *Region) setFlags(f int32) {
	for {
		old := r.flags.Load()
		if old&f == f || r.flags.CompareAndSwap(old, old|f) {
			return
		}
	}
}

// resetFlags clears f and returns the bits of f that were set.
func (r *Region) resetFlags(f int32) int32 {
	for {
		old := r.flags.Load()
		if old&f == 0 {
			return 0
		}
		if r.flags.CompareAndSwap(old, old&^f) {
			return old & f
		}
	}
}

// isExpired reports whether the TTL has passed at now (unix nanoseconds).
func (r *Region) isExpired(now int64) bool { return now > r.ttl.Load() }

// peerIndex returns the index in Peers of the peer equal to p (same id and
// store), or -1.
func (r *Region) peerIndex(p *metapb.Peer) int {
	if p == nil {
		return -1
	}
	for i, q := range r.meta.Peers {
		if isSamePeer(p, q) {
			return i
		}
	}
	return -1
}

// peerOnStore returns the region's peer on store id, or nil.
func (r *Region) peerOnStore(id uint64) *metapb.Peer {
	for _, p := range r.meta.Peers {
		if p.GetStoreId() == id {
			return p
		}
	}
	return nil
}

// switchToPeer makes p the peer requests go to (client-go
// switchWorkLeaderToPeer). It reports false when p is not a TiKV peer of
// the region.
func (r *Region) switchToPeer(p *metapb.Peer) bool {
	pi := r.peerIndex(p)
	if pi < 0 {
		return false
	}
	ai := -1
	for a, i := range r.kvIdx {
		if i == pi {
			ai = a
		}
	}
	if ai < 0 {
		return false
	}
	for {
		old := r.state.Load()
		if old.work == ai {
			return true
		}
		n := old.clone()
		n.work = ai
		n.storeEpochs[pi] = r.stores[pi].epoch.Load()
		if r.state.CompareAndSwap(old, n) {
			return true
		}
	}
}

// switchNextPeer moves the work peer on from access index cur, unless
// another task already moved it (client-go switchNextTiKVPeer).
func (r *Region) switchNextPeer(cur int) {
	old := r.state.Load()
	if old.work != cur || len(r.kvIdx) == 0 {
		return
	}
	n := old.clone()
	n.work = (cur + 1) % len(r.kvIdx)
	invariants.Assert(n.work >= 0 && n.work < len(r.kvIdx), "region %d: next peer %d of %d", r.ID(), n.work, len(r.kvIdx))
	r.state.CompareAndSwap(old, n)
}

func isSamePeer(a, b *metapb.Peer) bool {
	return a == b || (a.GetId() == b.GetId() && a.GetStoreId() == b.GetStoreId())
}

// String formats the region for logs and tests.
func (r *Region) String() string {
	v := r.VerID()
	return fmt.Sprintf("region %d [%q,%q) ver %d conf %d", v.id, r.StartKey(), r.EndKey(), v.ver, v.confVer)
}

// pdRegionOf wraps a bare meta the way PD would return it, for callers that
// have region metas without PD (EpochNotMatch current regions).
func pdRegionOf(meta *metapb.Region, buckets *metapb.Buckets) *pdpb.Region {
	return &pdpb.Region{Region: meta, Buckets: buckets}
}
