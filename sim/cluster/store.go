package cluster

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvsim/tikvsim/internal/invariants"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/cluster/mvcc"
)

// Store is one fake TiKV store: a network node that checks each request the
// way TiKV's raftstore does and serves it from the engine.
type Store struct {
	c           *Cluster
	id          uint64
	addr        string
	up          bool
	busy        bool
	incarnation uint64
}

// ID returns the store id.
func (s *Store) ID() uint64 { return s.id }

// Addr returns the store's network address.
func (s *Store) Addr() string { return s.addr }

// Store returns store id, or nil.
func (c *Cluster) Store(id uint64) *Store { return c.store(id) }

// ErrUnknownRequest is answered to a message that is not a kvrpcpb request
// the store serves.
type ErrUnknownRequest struct{ Type string }

func (e *ErrUnknownRequest) Error() string { return "cluster: store cannot serve " + e.Type }

// contexted is every kvrpcpb request.
type contexted interface {
	proto.Message
	GetContext() *kvrpcpb.Context
}

// serve is the store's network handler.
func (s *Store) serve(ctx context.Context, _ string, msg any) (any, error) {
	if resp, ok := s.serveReplicaRPC(msg); ok {
		return resp, nil
	}
	req, ok := msg.(contexted)
	if !ok {
		return nil, &ErrUnknownRequest{Type: fmt.Sprintf("%T", msg)}
	}
	// UnsafeDestroyRange is store-wide: no region, no region checks
	// (kv.rs unsafe_destroy_range hands it to the GC worker).
	if q, ok := msg.(*kvrpcpb.UnsafeDestroyRangeRequest); ok {
		return s.UnsafeDestroyRange(q), nil
	}
	spec, ok := specs[reflect.TypeOf(msg)]
	if !ok {
		return nil, &ErrUnknownRequest{Type: fmt.Sprintf("%T", msg)}
	}
	// SplitRegion goes to the raftstore without the storage's API version
	// check (kv.rs split_region); Store.SplitRegion makes the rest of the
	// checks below.
	if q, ok := msg.(*kvrpcpb.SplitRegionRequest); ok {
		resp, err := s.SplitRegion(ctx, q)
		if err != nil {
			return nil, err
		}
		return resp, nil
	}
	if s.busy {
		return regionErr(spec, &errorpb.Error{Message: "server is busy",
			ServerIsBusy: &errorpb.ServerIsBusy{Reason: "scheduler is busy", BackoffMs: 100}}), nil
	}
	// TiKV's storage checks the API version and the key mode of a request
	// before the read or write reaches raftstore's region checks
	// (src/storage/mod.rs check_api_version, check_api_version_ranges).
	if msg := s.c.checkAPI(req, spec); msg != "" {
		return apiErr(spec, msg), nil
	}
	r, rerr := s.check(req, spec)
	if rerr != nil {
		return regionErr(spec, rerr), nil
	}
	term := r.term
	if spec.write && proto.Size(req) > s.c.cfg.MaxEntrySize {
		return regionErr(spec, &errorpb.Error{Message: "raft entry is too large",
			RaftEntryTooLarge: &errorpb.RaftEntryTooLarge{RegionId: r.meta.Id, EntrySize: uint64(proto.Size(req))}}), nil
	}
	// Service time: the request waits in the store. Leadership and epoch may
	// change meanwhile, so check again before applying atomically.
	if err := s.c.w.Sleep(ctx, s.c.cfg.ServiceTime.Sample(s.c.rng)); err != nil {
		return nil, err
	}
	if !s.up {
		return nil, context.Canceled // crashed while serving: the response is lost anyway
	}
	if r2, rerr := s.check(req, spec); rerr != nil {
		if spec.write && rerr.NotLeader != nil && r2 == nil {
			s.c.maybeApplyStale(req, spec, r)
			rerr = &errorpb.Error{Message: "stale command", StaleCommand: &errorpb.StaleCommand{}}
		}
		return regionErr(spec, rerr), nil
	} else if spec.write && r2.term != term {
		s.c.maybeApplyStale(req, spec, r)
		return regionErr(spec, &errorpb.Error{Message: "stale command", StaleCommand: &errorpb.StaleCommand{}}), nil
	}
	if r2 := s.c.regionByID(r.meta.Id); r2 != nil && r2.leader != s.id {
		// A replica or stale read on a follower (replica_read.go).
		if rerr := s.followerRead(ctx, req, r); rerr != nil {
			return regionErr(spec, rerr), nil
		}
	} else {
		s.leaderStaleRead(req, r)
	}
	if spec.needsMaxTS != nil && spec.needsMaxTS(req) && !r.maxTSSynced {
		return regionErr(spec, &errorpb.Error{Message: "max timestamp not synced",
			MaxTimestampNotSynced: &errorpb.MaxTimestampNotSynced{}}), nil
	}
	if plr, ok := req.(*kvrpcpb.PessimisticLockRequest); ok {
		return s.pessimisticLock(ctx, plr), nil
	}
	resp := spec.exec(s.c, r, req)
	s.c.drainReady()
	return resp, nil
}

// staleApplyChance is how often a write whose leader changed while it was
// in flight was nevertheless applied (see maybeApplyStale).
const staleApplyChance = 0.25

// maybeApplyStale models a proposal that outlived its proposer's
// leadership: the write was appended to the old leader's log and replicated,
// the new leader committed it (a Raft entry keeps its term), and it was
// applied; but the proposer answers StaleCommand all the same, because its
// apply delegate dropped the pending callback when it re-registered or was
// destroyed (TiKV components/raftstore/src/store/fsm/apply.rs
// clear_all_commands_as_stale, notify_stale_command). So StaleCommand does
// not prove that a write did not happen. It happens to a share of the writes
// caught by a leader change, when the region's epoch is unchanged (an entry
// proposed before a split or merge fails its epoch check at apply), and
// never to async-commit or 1PC prewrites (they need the max_ts of a leader
// that still had it) nor to pessimistic locks (served with lock waits).
func (c *Cluster) maybeApplyStale(req contexted, spec *cmdSpec, r *region) {
	if indexOf(c.regs, r) < 0 || r.meta.RegionEpoch.Version != req.GetContext().GetRegionEpoch().GetVersion() {
		return
	}
	if spec.needsMaxTS != nil && spec.needsMaxTS(req) {
		return
	}
	if _, ok := req.(*kvrpcpb.PessimisticLockRequest); ok {
		return
	}
	if c.rng.Float64() >= staleApplyChance {
		return
	}
	c.staleApplied++
	c.w.Record(sim.KindFault, "cluster", fmt.Sprintf("stale command applied: %T to region %d", req, r.meta.Id), 0)
	spec.exec(c, r, req)
	c.drainReady()
}

// StaleApplied returns how many writes were applied although their
// proposer answered StaleCommand.
func (c *Cluster) StaleApplied() int { return c.staleApplied }

// check makes raftstore's checks for a request to region ctx.RegionId on this
// store, in TiKV's order (components/raftstore/src/store/util.rs
// check_store_id, check_peer_id, check_region_epoch; fsm/peer.rs
// pre_propose_raft_command): store id, region present, leadership, peer id,
// epoch, then keys in range (util.rs check_key_in_region).
func (s *Store) check(req contexted, spec *cmdSpec) (*region, *errorpb.Error) {
	c := s.c
	rctx := req.GetContext()
	if rctx == nil {
		rctx = &kvrpcpb.Context{}
	}
	if peer := rctx.GetPeer(); peer != nil && peer.StoreId != 0 && peer.StoreId != s.id {
		return nil, &errorpb.Error{Message: fmt.Sprintf("store not match, requested %d, actual %d", peer.StoreId, s.id),
			StoreNotMatch: &errorpb.StoreNotMatch{RequestStoreId: peer.StoreId, ActualStoreId: s.id}}
	}
	r := c.regionByID(rctx.GetRegionId())
	if r == nil || r.peerOn(s.id) == nil {
		return nil, &errorpb.Error{Message: fmt.Sprintf("region %d is not found", rctx.GetRegionId()),
			RegionNotFound: &errorpb.RegionNotFound{RegionId: rctx.GetRegionId()}}
	}
	if r.leader != s.id && !replicaReadable(req, spec) {
		nl := &errorpb.NotLeader{RegionId: r.meta.Id}
		if p := r.peerOn(r.leader); p != nil {
			nl.Leader = proto.Clone(p).(*metapb.Peer)
		}
		return nil, &errorpb.Error{Message: fmt.Sprintf("peer is not leader for region %d", r.meta.Id), NotLeader: nl}
	}
	if peer := rctx.GetPeer(); peer != nil && peer.Id != 0 && peer.Id != r.peerOn(s.id).Id {
		return nil, &errorpb.Error{Message: "mismatch peer id",
			MismatchPeerId: &errorpb.MismatchPeerId{RequestPeerId: peer.Id, StorePeerId: r.peerOn(s.id).Id}}
	}
	if ep := rctx.GetRegionEpoch(); ep == nil || ep.Version != r.meta.RegionEpoch.Version || (spec.admin && ep.ConfVer != r.meta.RegionEpoch.ConfVer) {
		return nil, c.epochNotMatch(r, ep)
	}
	// TiKV checks a transactional key as its data key (keys::data_key of
	// Key::from_raw): memcomparable-encoded on a TxnKeys cluster; in API
	// V2 raw keys are stored encoded too (ApiV2::encode_raw_key).
	bound := func(k []byte) []byte { return c.keyToBoundary(k, spec.raw) }
	if spec.keys != nil {
		for _, k := range spec.keys(req) {
			if !r.contains(bound(k)) {
				return nil, keyNotInRegion(r, k)
			}
		}
	}
	if spec.span != nil {
		if start, reverse := spec.span(req); !spanStartsIn(r, bound(start), reverse) {
			return nil, keyNotInRegion(r, start)
		}
	}
	return r, nil
}

func keyNotInRegion(r *region, k []byte) *errorpb.Error {
	return &errorpb.Error{Message: fmt.Sprintf("key %q is not in region %d", k, r.meta.Id),
		KeyNotInRegion: &errorpb.KeyNotInRegion{Key: k, RegionId: r.meta.Id, StartKey: r.meta.StartKey, EndKey: r.meta.EndKey}}
}

// epochNotMatch builds TiKV's EpochNotMatch: the current region and, as
// raftstore's find_sibling_regions does after a split, its neighbours, so a
// client can refresh its cache without asking PD.
func (c *Cluster) epochNotMatch(r *region, ep *metapb.RegionEpoch) *errorpb.Error {
	var cur []*metapb.Region
	i := indexOf(c.regs, r)
	for j := max(0, i-1); j <= min(len(c.regs)-1, i+1); j++ {
		cur = append(cur, proto.Clone(c.regs[j].meta).(*metapb.Region))
	}
	return &errorpb.Error{Message: fmt.Sprintf("epoch not match for region %d: requested %v, current %v", r.meta.Id, ep, r.meta.RegionEpoch),
		EpochNotMatch: &errorpb.EpochNotMatch{CurrentRegions: cur}}
}

func indexOf(rs []*region, r *region) int {
	for i, x := range rs {
		if x == r {
			return i
		}
	}
	return -1
}

// pessimisticLock runs KvPessimisticLock, waiting in this task when the
// engine says the request must wait for a lock, as TiKV's lock manager does.
func (s *Store) pessimisticLock(ctx context.Context, req *kvrpcpb.PessimisticLockRequest) *kvrpcpb.PessimisticLockResponse {
	c := s.c
	for {
		resp, wait := c.engine.PessimisticLock(req)
		c.drainReady()
		if wait == nil {
			return resp
		}
		lw := &lockWaiter{ev: c.w.NewEvent()}
		c.waiters[wait.Token] = lw
		start := c.w.Elapsed()
		wctx, cancel := c.w.WithDeadline(ctx, c.w.Now().Add(wait.Timeout))
		err := lw.ev.Wait(wctx)
		cancel()
		if err != nil {
			delete(c.waiters, wait.Token)
			if r := c.engine.CancelLockWait(wait.Token, c.w.Elapsed()-start); r != nil {
				return r
			}
			// Woken at the same instant: fall through to the wake-up.
			if !lw.ev.Fired() {
				return &kvrpcpb.PessimisticLockResponse{Errors: []*kvrpcpb.KeyError{{Abort: "lock wait cancelled"}}}
			}
		}
		switch {
		case lw.dropped:
			return &kvrpcpb.PessimisticLockResponse{Errors: []*kvrpcpb.KeyError{{Abort: "lock wait dropped by restart"}}}
		case lw.wake.Resp != nil:
			return lw.wake.Resp
		case lw.wake.Retry:
			continue
		default:
			invariants.Fail("wake-up of token %d with neither response nor retry", wait.Token)
		}
	}
}

// lockWaiter is a PessimisticLock request parked on an engine lock wait.
type lockWaiter struct {
	ev      *sim.Event
	wake    mvcc.Wakeup
	dropped bool
}

// drainReady delivers the engine's queued wake-ups and schedules its delayed
// notifications.
func (c *Cluster) drainReady() {
	rd := c.engine.Ready()
	for _, wk := range rd.Wakeups {
		if lw, ok := c.waiters[wk.Token]; ok {
			delete(c.waiters, wk.Token)
			lw.wake = wk
			lw.ev.Fire()
		}
	}
	for _, t := range rd.Timers {
		c.w.AfterFunc(t.Delay, func() {
			c.engine.NotifyDelayed(t.Key, t.ID)
			c.drainReady()
		})
	}
}

func (s *Store) failWaiter(tok uint64) {
	if lw, ok := s.c.waiters[tok]; ok {
		delete(s.c.waiters, tok)
		lw.dropped = true
		lw.ev.Fire()
	}
}

// syncMaxTS is what a new leader does before serving async-commit and 1PC
// prewrites: fetch a timestamp from PD and raise max_ts to it.
func (s *Store) syncMaxTS(r *region, term uint64) {
	c := s.c
	for {
		if !s.up || r.term != term || r.leader != s.id || indexOf(c.regs, r) < 0 {
			return
		}
		if r.maxTSSynced {
			return
		}
		ctx, cancel := c.w.WithDeadline(context.Background(), c.w.Now().Add(time.Second))
		resp, err := c.net.Call(ctx, s.addr, PDNode, &pdpb.TsoRequest{Header: c.pdHeader(), Count: 1})
		cancel()
		if tr, ok := resp.(*pdpb.TsoResponse); err == nil && ok && tr.GetHeader().GetError() == nil && tr.GetTimestamp() != nil {
			ts := tr.GetTimestamp()
			if r.term == term && r.leader == s.id && s.up {
				c.engine.SetMaxTS(uint64(ts.Physical)<<18 | uint64(ts.Logical))
				r.maxTSSynced = true
			}
			return
		}
		_ = c.w.Sleep(context.Background(), 100*time.Millisecond)
	}
}

// heartbeatLoop sends the periodic region and store heartbeats.
func (s *Store) heartbeatLoop() {
	c := s.c
	for {
		_ = c.w.Sleep(context.Background(), c.cfg.HeartbeatInterval)
		if !s.up {
			continue
		}
		for _, r := range c.regs {
			if r.leader == s.id {
				c.net.Send(s.addr, PDNode, c.heartbeatReq(r))
			}
		}
		c.net.Send(s.addr, PDNode, &pdpb.StoreHeartbeatRequest{Header: c.pdHeader(), Stats: &pdpb.StoreStats{StoreId: s.id}})
	}
}

// spanStartsIn reports whether a range command starting at start may run
// on r: a forward scan's start key lies in r; a reverse scan's start key is
// its exclusive upper bound, so it lies in (r.start, r.end] (empty: +inf,
// only on the last region).
func spanStartsIn(r *region, start []byte, reverse bool) bool {
	if !reverse {
		return r.contains(start)
	}
	if len(start) == 0 {
		return len(r.meta.EndKey) == 0
	}
	return bytes.Compare(start, r.meta.StartKey) > 0 && (len(r.meta.EndKey) == 0 || bytes.Compare(start, r.meta.EndKey) <= 0)
}
