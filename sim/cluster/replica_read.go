package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvsim/tikvsim/internal/invariants"
	"github.com/tikvsim/tikvsim/sim/cluster/pd"
)

// Replica reads and stale reads.
//
// A follower serves a read whose context asks for it, as TiKV does:
//
//   - replica read (Context.ReplicaRead): the follower first asks the leader
//     for a read index (components/raftstore/src/store/peer.rs
//     read_index / ReadIndexContext), here a ReadIndexRequest travelling to
//     the leader's store over the simulated network. The leader answers only
//     while it is the leader and raises max_ts to the read's timestamp, as
//     TiKV's leader does for a read index carrying a start_ts (so an
//     async-commit transaction cannot commit below a read a follower has
//     served). The follower then reads: the engine is shared and always
//     current, so the read sees at least every write acknowledged before the
//     read index was granted. A leader that cannot be reached yields
//     ReadIndexNotReady, an unknown leader NotLeader without a leader.
//   - stale read (Context.StaleRead): any peer serves a read at ts locally
//     when ts <= its safe ts for the region, else answers DataIsNotReady
//     carrying the safe ts (src/storage/mod.rs check of the stale read's ts
//     against the region's safe_ts; raftstore LocalReader). A stale read
//     does not raise max_ts (src/storage/mod.rs prepare_snap_ctx), which is
//     why it is only repeatable at or below the safe ts. The leader never
//     answers DataIsNotReady (TiKV >= 7.5, tikv#15726): above its safe ts
//     it serves a stale read as a plain snapshot read, raising max_ts.
//
// Safe ts: every SafeTSInterval (from the first stale read or
// GetStoreSafeTS on, or from the start when Config.SafeTSInterval is set)
// each store advances the resolved ts of the
// regions it leads (components/resolved_ts/src/advance.rs): it takes a fresh
// PD timestamp, raises max_ts to it, and takes the minimum of it and the
// start ts of every lock that may still commit (prewrite locks; pessimistic
// locks are skipped as TiKV's resolver does). The engine is shared, so the
// locks of every region bound it: conservative, never too high. The leader
// keeps it as its own safe ts and sends it to the followers in a
// CheckLeaderRequest (TiKV's CheckLeader RPC carrying ReadState.safe_ts), so
// followers lag the leader by the interval and the network. Safe ts is
// volatile: a store's crash loses it. GetStoreSafeTS answers the minimum safe
// ts of the store's regions overlapping the request's range.

// safeTSState is a store's safe ts per region id, valid for one incarnation.
type safeTSState struct {
	incarnation uint64
	ts          map[uint64]uint64
}

// safeTSOf returns the store's safe ts of region id (0: unknown).
func (s *Store) safeTSOf(id uint64) uint64 {
	return s.safeMap()[id]
}

// safeMap returns the store's safe ts map for its current incarnation.
func (s *Store) safeMap() map[uint64]uint64 {
	st := s.c.safe[s.id]
	if st == nil || st.incarnation != s.incarnation {
		st = &safeTSState{incarnation: s.incarnation, ts: make(map[uint64]uint64)}
		s.c.safe[s.id] = st
	}
	return st.ts
}

// advanceSafeTS raises the store's safe ts of region id to ts.
func (s *Store) advanceSafeTS(id, ts uint64) {
	m := s.safeMap()
	if ts > m[id] {
		m[id] = ts
	}
}

// SafeTS returns store's safe ts of region id (0: unknown), for tests.
func (c *Cluster) SafeTS(store, region uint64) uint64 {
	s := c.store(store)
	if s == nil {
		return 0
	}
	return s.safeTSOf(region)
}

// replicaReadable reports whether req may be served by a peer that is not the
// leader: a read that asks for replica read or stale read.
func replicaReadable(req contexted, spec *cmdSpec) bool {
	if spec.write || spec.admin {
		return false
	}
	rctx := req.GetContext()
	if !rctx.GetReplicaRead() && !rctx.GetStaleRead() {
		return false
	}
	_, ok := readTS(req)
	return ok
}

// readTS returns the timestamp a read served by replicas reads at (0 for raw
// reads) and whether the command can be served by a follower at all.
func readTS(req contexted) (uint64, bool) {
	switch r := req.(type) {
	case *kvrpcpb.GetRequest:
		return r.Version, true
	case *kvrpcpb.BatchGetRequest:
		return r.Version, true
	case *kvrpcpb.ScanRequest:
		return r.Version, true
	case *kvrpcpb.RawGetRequest, *kvrpcpb.RawBatchGetRequest, *kvrpcpb.RawScanRequest:
		return 0, true
	}
	return 0, false
}

// followerRead runs the follower's part of a replica or stale read of region
// r, right before the command executes: nil when the read may go on, else the
// region error to answer.
func (s *Store) followerRead(ctx context.Context, req contexted, r *region) *errorpb.Error {
	rctx := req.GetContext()
	ts, _ := readTS(req)
	if rctx.GetStaleRead() && ts > 0 {
		s.c.startSafeTS()
		safe := s.safeTSOf(r.meta.Id)
		if ts <= safe {
			s.c.staleServed++
			s.c.staleServedBy[s.id]++
			return nil
		}
		return &errorpb.Error{Message: fmt.Sprintf("data is not ready: region %d safe ts %d < read ts %d", r.meta.Id, safe, ts),
			DataIsNotReady: &errorpb.DataIsNotReady{RegionId: r.meta.Id, PeerId: r.peerOn(s.id).Id, SafeTs: safe}}
	}
	return s.readIndex(ctx, r, ts)
}

// leaderStaleRead turns a stale read above the leader's safe ts into a
// plain snapshot read, which raises max_ts: the leader never answers
// DataIsNotReady (tikv#15726), and a read that does not raise max_ts is only
// repeatable at or below the safe ts.
func (s *Store) leaderStaleRead(req contexted, r *region) {
	rctx := req.GetContext()
	if rctx.GetStaleRead() {
		s.c.startSafeTS()
	}
	if ts, _ := readTS(req); rctx.GetStaleRead() && ts > s.safeTSOf(r.meta.Id) {
		rctx.StaleRead = false
	}
}

// readIndexTimeout bounds a follower's wait for the leader's read index.
const readIndexTimeout = time.Second

// readIndex asks r's leader for a read index over the network.
func (s *Store) readIndex(ctx context.Context, r *region, ts uint64) *errorpb.Error {
	c := s.c
	leader := r.peerOn(r.leader)
	if r.leader == 0 || leader == nil {
		return &errorpb.Error{Message: fmt.Sprintf("no leader for region %d", r.meta.Id), NotLeader: &errorpb.NotLeader{RegionId: r.meta.Id}}
	}
	req := &kvrpcpb.ReadIndexRequest{Context: &kvrpcpb.Context{RegionId: r.meta.Id, RegionEpoch: proto.Clone(r.meta.RegionEpoch).(*metapb.RegionEpoch),
		Peer: proto.Clone(leader).(*metapb.Peer)}, StartTs: ts}
	cctx, cancel := c.w.WithDeadline(ctx, c.w.Now().Add(readIndexTimeout))
	out, err := c.net.Call(cctx, s.addr, StoreNode(leader.StoreId), req)
	cancel()
	resp, ok := out.(*kvrpcpb.ReadIndexResponse)
	if err != nil || !ok {
		return &errorpb.Error{Message: fmt.Sprintf("read index not ready: %v", err),
			ReadIndexNotReady: &errorpb.ReadIndexNotReady{Reason: "leader unreachable", RegionId: r.meta.Id}}
	}
	if e := resp.GetRegionError(); e != nil {
		if e.GetNotLeader() != nil {
			// The answer names the leader the old leader knows of; the
			// follower knows the current one.
			nl := &errorpb.NotLeader{RegionId: r.meta.Id}
			if p := r.peerOn(r.leader); p != nil && r.leader != s.id {
				nl.Leader = proto.Clone(p).(*metapb.Peer)
			}
			return &errorpb.Error{Message: e.GetMessage(), NotLeader: nl}
		}
		return e
	}
	if !s.up {
		return &errorpb.Error{Message: "store is down", ReadIndexNotReady: &errorpb.ReadIndexNotReady{Reason: "store down", RegionId: r.meta.Id}}
	}
	return nil
}

// serveReadIndex is the leader's side of a read index: granted while this
// store leads the region at the requested epoch; max_ts is raised to the
// read's ts.
func (s *Store) serveReadIndex(req *kvrpcpb.ReadIndexRequest) *kvrpcpb.ReadIndexResponse {
	c := s.c
	rctx := req.GetContext()
	r := c.regionByID(rctx.GetRegionId())
	if r == nil || r.peerOn(s.id) == nil {
		return &kvrpcpb.ReadIndexResponse{RegionError: &errorpb.Error{Message: "region not found",
			RegionNotFound: &errorpb.RegionNotFound{RegionId: rctx.GetRegionId()}}}
	}
	if r.leader != s.id {
		return &kvrpcpb.ReadIndexResponse{RegionError: &errorpb.Error{Message: "not leader",
			NotLeader: &errorpb.NotLeader{RegionId: r.meta.Id}}}
	}
	if ep := rctx.GetRegionEpoch(); ep == nil || ep.Version != r.meta.RegionEpoch.Version {
		return &kvrpcpb.ReadIndexResponse{RegionError: c.epochNotMatch(r, ep)}
	}
	if req.StartTs > 0 {
		c.engine.SetMaxTS(req.StartTs)
	}
	c.readIndexes++
	return &kvrpcpb.ReadIndexResponse{ReadIndex: c.readIndexes}
}

// ReadIndexes returns how many read indexes leaders granted.
func (c *Cluster) ReadIndexes() uint64 { return c.readIndexes }

// StaleReadsServed returns how many stale reads followers served locally.
func (c *Cluster) StaleReadsServed() uint64 { return c.staleServed }

// StaleReadsServedBy returns how many stale reads store served locally as a
// follower.
func (c *Cluster) StaleReadsServedBy(store uint64) uint64 { return c.staleServedBy[store] }

// serveCheckLeader is a follower receiving the leader's safe ts of its
// regions (TiKV's CheckLeader carrying ReadState.safe_ts): taken for each
// region this store has a peer of, whose term is still the sender's.
func (s *Store) serveCheckLeader(req *kvrpcpb.CheckLeaderRequest) *kvrpcpb.CheckLeaderResponse {
	resp := &kvrpcpb.CheckLeaderResponse{Ts: req.Ts}
	if !s.up {
		return resp
	}
	for _, li := range req.Regions {
		r := s.c.regionByID(li.RegionId)
		if r == nil || r.peerOn(s.id) == nil || r.term != li.Term {
			continue
		}
		s.advanceSafeTS(r.meta.Id, li.GetReadState().GetSafeTs())
		resp.Regions = append(resp.Regions, r.meta.Id)
	}
	return resp
}

// serveStoreSafeTS answers GetStoreSafeTS: the minimum safe ts of the store's
// regions overlapping the range (TiKV src/server/service/kv.rs
// get_store_safe_ts over the region read progress registry).
func (s *Store) serveStoreSafeTS(req *kvrpcpb.StoreSafeTSRequest) *kvrpcpb.StoreSafeTSResponse {
	c := s.c
	if !s.up {
		return &kvrpcpb.StoreSafeTSResponse{}
	}
	kr := req.GetKeyRange()
	var min uint64
	found := false
	for _, r := range c.regs {
		if r.peerOn(s.id) == nil {
			continue
		}
		if kr != nil && (len(kr.EndKey) > 0 && len(r.meta.StartKey) > 0 && string(r.meta.StartKey) >= string(c.toBoundary(kr.EndKey)) ||
			len(r.meta.EndKey) > 0 && string(r.meta.EndKey) <= string(c.toBoundary(kr.StartKey))) {
			continue
		}
		ts := s.safeTSOf(r.meta.Id)
		if !found || ts < min {
			min, found = ts, true
		}
	}
	return &kvrpcpb.StoreSafeTSResponse{SafeTs: min}
}

// startSafeTS starts every store's resolved-ts loop, once.
func (c *Cluster) startSafeTS() {
	if c.safeTSStarted {
		return
	}
	c.safeTSStarted = true
	for _, s := range c.stores {
		c.w.Spawn(s.addr+"-resolved-ts", s.resolvedTSLoop)
	}
}

// resolvedTSLoop advances the safe ts of the regions the store leads every
// SafeTSInterval and tells the followers.
func (s *Store) resolvedTSLoop() {
	c := s.c
	for {
		_ = c.w.Sleep(context.Background(), c.cfg.SafeTSInterval)
		if !s.up || !s.leadsAny() {
			continue
		}
		ctx, cancel := c.w.WithDeadline(context.Background(), c.w.Now().Add(time.Second))
		out, err := c.net.Call(ctx, s.addr, PDNode, &pdpb.TsoRequest{Header: c.pdHeader(), Count: 1})
		cancel()
		tr, ok := out.(*pdpb.TsoResponse)
		if err != nil || !ok || tr.GetHeader().GetError() != nil || tr.GetTimestamp() == nil || !s.up {
			continue
		}
		s.advance(pd.ComposeTS(tr.Timestamp.Physical, tr.Timestamp.Logical))
	}
}

func (s *Store) leadsAny() bool {
	for _, r := range s.c.regs {
		if r.leader == s.id {
			return true
		}
	}
	return false
}

// advance is one resolved-ts round at PD timestamp tso, atomically: raise
// max_ts, bound by the locks, record and broadcast.
func (s *Store) advance(tso uint64) {
	c := s.c
	c.engine.SetMaxTS(tso)
	resolved := tso
	for _, l := range c.engine.ScanLock(&kvrpcpb.ScanLockRequest{MaxVersion: tso}).GetLocks() {
		if l.LockType != kvrpcpb.Op_PessimisticLock && l.LockVersion < resolved {
			resolved = l.LockVersion
		}
	}
	invariants.Assert(resolved <= tso, "resolved ts %d above the tso %d", resolved, tso)
	byStore := map[uint64]*kvrpcpb.CheckLeaderRequest{}
	var order []uint64
	for _, r := range c.regs {
		if r.leader != s.id {
			continue
		}
		s.advanceSafeTS(r.meta.Id, resolved)
		for _, p := range r.meta.Peers {
			if p.StoreId == s.id {
				continue
			}
			req := byStore[p.StoreId]
			if req == nil {
				req = &kvrpcpb.CheckLeaderRequest{Ts: tso}
				byStore[p.StoreId] = req
				order = append(order, p.StoreId)
			}
			req.Regions = append(req.Regions, &kvrpcpb.LeaderInfo{RegionId: r.meta.Id, PeerId: r.peerOn(s.id).Id, Term: r.term,
				RegionEpoch: proto.Clone(r.meta.RegionEpoch).(*metapb.RegionEpoch), ReadState: &kvrpcpb.ReadState{SafeTs: resolved}})
		}
	}
	for _, id := range order {
		c.net.Send(s.addr, StoreNode(id), byStore[id])
	}
}

// serveReplicaRPC serves the store-to-store and store-level messages of
// replica reads: ReadIndexRequest (leader side), CheckLeaderRequest
// (follower side) and StoreSafeTSRequest. It reports false for any other
// message.
func (s *Store) serveReplicaRPC(msg any) (any, bool) {
	switch m := msg.(type) {
	case *kvrpcpb.ReadIndexRequest:
		return s.serveReadIndex(m), true
	case *kvrpcpb.CheckLeaderRequest:
		return s.serveCheckLeader(m), true
	case *kvrpcpb.StoreSafeTSRequest:
		s.c.startSafeTS()
		return s.serveStoreSafeTS(m), true
	}
	return nil, false
}
