package pd

import (
	"fmt"
	"math"
	"math/bits"
	"sort"
	"time"

	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvsim/tikvsim/internal/invariants"
)

// The GC states follow tikv/pd pkg/gc/gc_state_manager.go and
// server/gc_service.go. Invariants (gc_state_manager.go:76-105): the txn
// safe point and the GC safe point never decrease, gc <= txn, and the txn
// safe point is never advanced past a live barrier.

// NullKeyspaceID is the keyspace id of API V1 / keyspace-agnostic callers.
const NullKeyspaceID = uint32(0xFFFFFFFF)

const (
	validKeyspaceIDMask = uint32(0xFFFFFF)
	gcWorkerBarrierID   = "gc_worker"
)

type gcBarrier struct {
	id     string
	ts     uint64
	expire *time.Time // nil: never
}

func (b *gcBarrier) expired(now time.Time) bool { return b.expire != nil && now.After(*b.expire) }

func (b *gcBarrier) describe(kind string) string {
	exp := "<nil>"
	if b.expire != nil {
		exp = b.expire.String()
	}
	return fmt.Sprintf("%s { BarrierID: %+q, BarrierTS: %d, ExpirationTime: %+q }", kind, b.id, b.ts, exp)
}

func (b *gcBarrier) ttlAt(now time.Time) int64 {
	if b.expire == nil {
		return math.MaxInt64
	}
	return int64(max(math.Floor(b.expire.Sub(now).Seconds()), 0))
}

func newBarrier(id string, ts uint64, ttl time.Duration, now time.Time) *gcBarrier {
	b := &gcBarrier{id: id, ts: ts}
	if ttl < time.Duration(math.MaxInt64) {
		// Rounded up to the next whole second (endpoint.NewGCBarrier).
		t := now.Add(ttl).Add(time.Second - time.Nanosecond).Truncate(time.Second)
		b.expire = &t
	}
	return b
}

type gcState struct {
	txnSafePoint uint64
	gcSafePoint  uint64
	barriers     map[string]*gcBarrier
}

type gcStates struct {
	states map[uint32]*gcState
	global map[string]*gcBarrier
}

func newGCStates() *gcStates {
	return &gcStates{states: map[uint32]*gcState{}, global: map[string]*gcBarrier{}}
}

func (g *gcStates) get(ks uint32) *gcState {
	s := g.states[ks]
	if s == nil {
		s = &gcState{barriers: map[string]*gcBarrier{}}
		g.states[ks] = s
	}
	return s
}

func sortedBarriers(m map[string]*gcBarrier) []*gcBarrier {
	out := make([]*gcBarrier, 0, len(m))
	for _, b := range m {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// saturatingSeconds is typeutil.SaturatingStdDurationFromSeconds.
func saturatingSeconds(s int64) time.Duration {
	if s < 0 {
		return 0
	}
	h, l := bits.Mul64(uint64(s), uint64(time.Second))
	if h != 0 || l > uint64(math.MaxInt64) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(l)
}

func keyspaceScopeID(s *pdpb.KeyspaceScope) uint32 {
	if s == nil {
		return NullKeyspaceID
	}
	return s.GetKeyspaceId()
}

func errInvalidArgument(what string, v any) string {
	return fmt.Sprintf("[PD:common:ErrInvalidArgument]invalid argument for %s: %v", what, v)
}

// redirectLocked is GCStateManager.redirectKeyspace: ids outside the valid
// range are the null keyspace; a keyspace without keyspace-level GC is the
// null keyspace for user APIs and an error for the internal ones.
func (p *PD) redirectLocked(ks uint32, userAPI bool) (uint32, string) {
	if ks&^validKeyspaceIDMask != 0 {
		return NullKeyspaceID, ""
	}
	meta := p.st.keyspaces.byID[ks]
	if meta == nil {
		return 0, errKeyspaceNotFound
	}
	if meta.GetConfig()[gcManagementTypeKey] != keyspaceLevelGC {
		if userAPI {
			return NullKeyspaceID, ""
		}
		return 0, fmt.Sprintf("[PD:gc:ErrGCOnInvalidKeyspace]trying to manage GC in keyspace %v (id: %v) where keyspace level GC is not enabled", meta.GetName(), ks)
	}
	return ks, ""
}

// gcPreludeLocked runs the checks every GC RPC shares.
func (p *PD) gcPreludeLocked(h *pdpb.RequestHeader) (*pdpb.ResponseHeader, error) {
	if err := p.validateLocked(h); err != nil {
		return nil, err
	}
	if !p.st.bootstrapped {
		return p.notBootstrappedHeader(), nil
	}
	return nil, nil
}

func (p *PD) checkGCInvariantsLocked() {
	if !invariants.Enabled {
		return
	}
	for _, ks := range sortedKeys32(p.st.gc.states) {
		s := p.st.gc.states[ks]
		invariants.Assert(s.gcSafePoint <= s.txnSafePoint, "keyspace %d: gc safe point %d > txn safe point %d", ks, s.gcSafePoint, s.txnSafePoint)
	}
}

// AdvanceTxnSafePoint implements the RPC. The new txn safe point is
// max(old, min(target, live barriers, live global barriers)); expired
// barriers are deleted on the way; a target below the old value is an error.
func (p *PD) AdvanceTxnSafePoint(now time.Time, req *pdpb.AdvanceTxnSafePointRequest) (*pdpb.AdvanceTxnSafePointResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h, err := p.gcPreludeLocked(req.GetHeader()); h != nil || err != nil {
		return respOrNil(&pdpb.AdvanceTxnSafePointResponse{Header: h}, err)
	}
	ks, msg := p.redirectLocked(keyspaceScopeID(req.GetKeyspaceScope()), false)
	if msg != "" {
		return &pdpb.AdvanceTxnSafePointResponse{Header: p.unknownHeader(msg)}, nil
	}
	s := p.st.gc.get(ks)
	target, old := req.GetTarget(), s.txnSafePoint
	if target < old {
		return &pdpb.AdvanceTxnSafePointResponse{Header: p.unknownHeader(fmt.Sprintf(
			"[PD:gc:ErrDecreasingTxnSafePoint]trying to update txn safe point to a smaller value, current value: %v, given: %v", old, target))}, nil
	}
	minBlocker := target
	var blocker, globalBlocker *gcBarrier
	for _, b := range sortedBarriers(s.barriers) {
		if b.expired(now) {
			delete(s.barriers, b.id) // lazy delete; never block with it again
			continue
		}
		if b.ts < minBlocker {
			minBlocker, blocker = b.ts, b
		}
	}
	for _, b := range sortedBarriers(p.st.gc.global) {
		if b.expired(now) {
			delete(p.st.gc.global, b.id)
			continue
		}
		if b.ts < minBlocker {
			minBlocker, globalBlocker = b.ts, b
		}
	}
	s.txnSafePoint = max(old, minBlocker)
	desc := ""
	switch {
	case globalBlocker != nil:
		desc = globalBlocker.describe("GlobalGCBarrier")
	case blocker != nil:
		desc = blocker.describe("GCBarrier")
	}
	invariants.Assert(s.txnSafePoint == target || desc != "", "txn safe point %d short of target %d without a blocker", s.txnSafePoint, target)
	invariants.Assert(s.txnSafePoint >= old, "txn safe point decreased %d -> %d", old, s.txnSafePoint)
	p.checkGCInvariantsLocked()
	return &pdpb.AdvanceTxnSafePointResponse{Header: p.okHeader(), OldTxnSafePoint: old,
		NewTxnSafePoint: s.txnSafePoint, BlockerDescription: desc}, nil
}

// AdvanceGCSafePoint implements the RPC: the target may neither go below
// the current GC safe point nor above the txn safe point.
func (p *PD) AdvanceGCSafePoint(_ time.Time, req *pdpb.AdvanceGCSafePointRequest) (*pdpb.AdvanceGCSafePointResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h, err := p.gcPreludeLocked(req.GetHeader()); h != nil || err != nil {
		return respOrNil(&pdpb.AdvanceGCSafePointResponse{Header: h}, err)
	}
	ks, msg := p.redirectLocked(keyspaceScopeID(req.GetKeyspaceScope()), false)
	if msg != "" {
		return &pdpb.AdvanceGCSafePointResponse{Header: p.unknownHeader(msg)}, nil
	}
	s := p.st.gc.get(ks)
	target, old := req.GetTarget(), s.gcSafePoint
	switch {
	case target < old:
		msg = fmt.Sprintf("[PD:gc:ErrDecreasingGCSafePoint]trying to update GC safe point to a smaller value, current value: %v, given: %v", old, target)
	case target > s.txnSafePoint:
		msg = fmt.Sprintf("[PD:gc:ErrGCSafePointExceedsTxnSafePoint]trying to update GC safe point to a too large value that exceeds the txn safe point, current value: %v, given: %v, current txn safe point: %v", old, target, s.txnSafePoint)
	}
	if msg != "" {
		return &pdpb.AdvanceGCSafePointResponse{Header: p.unknownHeader(msg)}, nil
	}
	invariants.Assert(target >= old && target <= s.txnSafePoint, "gc safe point %d outside [%d, %d]", target, old, s.txnSafePoint)
	s.gcSafePoint = target
	p.checkGCInvariantsLocked()
	return &pdpb.AdvanceGCSafePointResponse{Header: p.okHeader(), OldGcSafePoint: old, NewGcSafePoint: target}, nil
}

// SetGCBarrier implements the RPC: ttl_seconds > 0 (MaxInt64, or anything
// that saturates, means never expiring), a non-empty id other than
// "gc_worker", barrier_ts >= the txn safe point. Setting an existing id
// replaces it.
func (p *PD) SetGCBarrier(now time.Time, req *pdpb.SetGCBarrierRequest) (*pdpb.SetGCBarrierResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h, err := p.gcPreludeLocked(req.GetHeader()); h != nil || err != nil {
		return respOrNil(&pdpb.SetGCBarrierResponse{Header: h}, err)
	}
	fail := func(msg string) (*pdpb.SetGCBarrierResponse, error) {
		return &pdpb.SetGCBarrierResponse{Header: p.unknownHeader(msg)}, nil
	}
	ttl := saturatingSeconds(req.GetTtlSeconds())
	if ttl <= 0 {
		return fail(errInvalidArgument("ttl", ttl))
	}
	ks, msg := p.redirectLocked(keyspaceScopeID(req.GetKeyspaceScope()), true)
	if msg != "" {
		return fail(msg)
	}
	id := req.GetBarrierId()
	if id == gcWorkerBarrierID {
		return fail(fmt.Sprintf("[PD:gc:ErrReservedGCBarrierID]trying to set a GC barrier with a barrier ID that is reserved: %v", id))
	}
	if id == "" {
		return fail(errInvalidArgument("barrierID", id))
	}
	s := p.st.gc.get(ks)
	if req.GetBarrierTs() < s.txnSafePoint {
		return fail(fmt.Sprintf("[PD:gc:ErrGCBarrierTSBehindTxnSafePoint]trying to set a GC barrier on ts %d which is already behind the txn safe point %d",
			req.GetBarrierTs(), s.txnSafePoint))
	}
	b := newBarrier(id, req.GetBarrierTs(), ttl, now)
	invariants.Assert(b.ts >= s.txnSafePoint, "barrier %q at %d behind txn safe point %d", id, b.ts, s.txnSafePoint)
	invariants.Assert(b.expire == nil || !b.expire.Before(now.Add(ttl)), "barrier %q expires before its ttl", id)
	s.barriers[id] = b
	return &pdpb.SetGCBarrierResponse{Header: p.okHeader(),
		NewBarrierInfo: &pdpb.GCBarrierInfo{BarrierId: b.id, BarrierTs: b.ts, TtlSeconds: b.ttlAt(now)}}, nil
}

// DeleteGCBarrier implements the RPC: it returns the deleted barrier, or no
// info when it did not exist.
func (p *PD) DeleteGCBarrier(now time.Time, req *pdpb.DeleteGCBarrierRequest) (*pdpb.DeleteGCBarrierResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h, err := p.gcPreludeLocked(req.GetHeader()); h != nil || err != nil {
		return respOrNil(&pdpb.DeleteGCBarrierResponse{Header: h}, err)
	}
	fail := func(msg string) (*pdpb.DeleteGCBarrierResponse, error) {
		return &pdpb.DeleteGCBarrierResponse{Header: p.unknownHeader(msg)}, nil
	}
	ks, msg := p.redirectLocked(keyspaceScopeID(req.GetKeyspaceScope()), true)
	if msg != "" {
		return fail(msg)
	}
	id := req.GetBarrierId()
	if id == gcWorkerBarrierID {
		return fail(fmt.Sprintf("[PD:gc:ErrReservedGCBarrierID]trying to set a GC barrier with a barrier ID that is reserved: %v", id))
	}
	if id == "" {
		return fail(errInvalidArgument("barrierID", id))
	}
	s := p.st.gc.get(ks)
	resp := &pdpb.DeleteGCBarrierResponse{Header: p.okHeader()}
	if b := s.barriers[id]; b != nil {
		delete(s.barriers, id)
		resp.DeletedBarrierInfo = &pdpb.GCBarrierInfo{BarrierId: b.id, BarrierTs: b.ts, TtlSeconds: b.ttlAt(now)}
	}
	return resp, nil
}

// maxTxnSafePointLocked is getMaxTxnSafePointAmongAllKeyspaces: over the
// enabled keyspaces and the null keyspace.
func (p *PD) maxTxnSafePointLocked() (uint64, string) {
	var best uint64
	who := "<null_keyspace>"
	for _, id := range p.st.keyspaces.sortedIDs() {
		meta := p.st.keyspaces.byID[id]
		if !keyspaceEnabled(meta) {
			continue
		}
		if s := p.st.gc.states[id]; s != nil && s.txnSafePoint > best {
			best, who = s.txnSafePoint, fmt.Sprintf("{ name: %q, id: %d }", meta.GetName(), id)
		}
	}
	if s := p.st.gc.states[NullKeyspaceID]; s != nil && s.txnSafePoint > best {
		best, who = s.txnSafePoint, "<null_keyspace>"
	}
	return best, who
}

// SetGlobalGCBarrier implements the RPC: a barrier blocking every
// keyspace; barrier_ts must not be behind any keyspace's txn safe point.
func (p *PD) SetGlobalGCBarrier(now time.Time, req *pdpb.SetGlobalGCBarrierRequest) (*pdpb.SetGlobalGCBarrierResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h, err := p.gcPreludeLocked(req.GetHeader()); h != nil || err != nil {
		return respOrNil(&pdpb.SetGlobalGCBarrierResponse{Header: h}, err)
	}
	fail := func(msg string) (*pdpb.SetGlobalGCBarrierResponse, error) {
		return &pdpb.SetGlobalGCBarrierResponse{Header: p.unknownHeader(msg)}, nil
	}
	ttl := saturatingSeconds(req.GetTtlSeconds())
	if ttl <= 0 {
		return fail(errInvalidArgument("ttl", ttl))
	}
	if req.GetBarrierId() == "" {
		return fail(errInvalidArgument("barrierID", req.GetBarrierId()))
	}
	if maxTxn, who := p.maxTxnSafePointLocked(); req.GetBarrierTs() < maxTxn {
		return fail(fmt.Sprintf("[PD:gc:ErrGlobalGCBarrierTSBehindTxnSafePoint]trying to set a global GC barrier on ts %d which is already behind the txn safe point %d of keyspace %s",
			req.GetBarrierTs(), maxTxn, who))
	}
	b := newBarrier(req.GetBarrierId(), req.GetBarrierTs(), ttl, now)
	p.st.gc.global[b.id] = b
	return &pdpb.SetGlobalGCBarrierResponse{Header: p.okHeader(),
		NewBarrierInfo: &pdpb.GlobalGCBarrierInfo{BarrierId: b.id, BarrierTs: b.ts, TtlSeconds: b.ttlAt(now)}}, nil
}

// DeleteGlobalGCBarrier implements the RPC.
func (p *PD) DeleteGlobalGCBarrier(now time.Time, req *pdpb.DeleteGlobalGCBarrierRequest) (*pdpb.DeleteGlobalGCBarrierResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h, err := p.gcPreludeLocked(req.GetHeader()); h != nil || err != nil {
		return respOrNil(&pdpb.DeleteGlobalGCBarrierResponse{Header: h}, err)
	}
	if req.GetBarrierId() == "" {
		return &pdpb.DeleteGlobalGCBarrierResponse{Header: p.unknownHeader(errInvalidArgument("barrierID", ""))}, nil
	}
	resp := &pdpb.DeleteGlobalGCBarrierResponse{Header: p.okHeader()}
	if b := p.st.gc.global[req.GetBarrierId()]; b != nil {
		delete(p.st.gc.global, b.id)
		resp.DeletedBarrierInfo = &pdpb.GlobalGCBarrierInfo{BarrierId: b.id, BarrierTs: b.ts, TtlSeconds: b.ttlAt(now)}
	}
	return resp, nil
}

func (p *PD) gcStateProto(ks uint32, keyspaceLevel bool, excludeBarriers bool, now time.Time) *pdpb.GCState {
	out := &pdpb.GCState{
		KeyspaceScope:     &pdpb.KeyspaceScope{Keyspace: &pdpb.KeyspaceScope_KeyspaceId{KeyspaceId: ks}},
		IsKeyspaceLevelGc: keyspaceLevel,
	}
	if !keyspaceLevel && ks != NullKeyspaceID {
		return out // a unified-GC keyspace reports zeros
	}
	s := p.st.gc.states[ks]
	if s == nil {
		return out
	}
	out.TxnSafePoint, out.GcSafePoint = s.txnSafePoint, s.gcSafePoint
	if !excludeBarriers {
		out.GcBarriers = []*pdpb.GCBarrierInfo{}
		for _, b := range sortedBarriers(s.barriers) {
			out.GcBarriers = append(out.GcBarriers, &pdpb.GCBarrierInfo{BarrierId: b.id, BarrierTs: b.ts, TtlSeconds: b.ttlAt(now)})
		}
	}
	return out
}

// GetGCState implements the RPC. Expired barriers are still listed (with
// ttl 0) until an AdvanceTxnSafePoint deletes them, as in PD.
func (p *PD) GetGCState(now time.Time, req *pdpb.GetGCStateRequest) (*pdpb.GetGCStateResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h, err := p.gcPreludeLocked(req.GetHeader()); h != nil || err != nil {
		return respOrNil(&pdpb.GetGCStateResponse{Header: h}, err)
	}
	ks, msg := p.redirectLocked(keyspaceScopeID(req.GetKeyspaceScope()), true)
	if msg != "" {
		return &pdpb.GetGCStateResponse{Header: p.unknownHeader(msg)}, nil
	}
	return &pdpb.GetGCStateResponse{Header: p.okHeader(),
		GcState: p.gcStateProto(ks, ks != NullKeyspaceID, req.GetExcludeGcBarriers(), now)}, nil
}

// GetAllKeyspacesGCStates implements the RPC: the null keyspace and every
// enabled keyspace (unified ones with zero safe points), sorted by keyspace
// id, plus the global barriers unless excluded.
func (p *PD) GetAllKeyspacesGCStates(now time.Time, req *pdpb.GetAllKeyspacesGCStatesRequest) (*pdpb.GetAllKeyspacesGCStatesResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h, err := p.gcPreludeLocked(req.GetHeader()); h != nil || err != nil {
		return respOrNil(&pdpb.GetAllKeyspacesGCStatesResponse{Header: h}, err)
	}
	resp := &pdpb.GetAllKeyspacesGCStatesResponse{Header: p.okHeader()}
	for _, id := range p.st.keyspaces.sortedIDs() {
		meta := p.st.keyspaces.byID[id]
		if !keyspaceEnabled(meta) {
			continue
		}
		level := meta.GetConfig()[gcManagementTypeKey] == keyspaceLevelGC
		resp.GcStates = append(resp.GcStates, p.gcStateProto(id, level, req.GetExcludeGcBarriers(), now))
	}
	resp.GcStates = append(resp.GcStates, p.gcStateProto(NullKeyspaceID, false, req.GetExcludeGcBarriers(), now))
	if !req.GetExcludeGlobalGcBarriers() {
		resp.GlobalGcBarriers = []*pdpb.GlobalGCBarrierInfo{}
		for _, b := range sortedBarriers(p.st.gc.global) {
			resp.GlobalGcBarriers = append(resp.GlobalGcBarriers,
				&pdpb.GlobalGCBarrierInfo{BarrierId: b.id, BarrierTs: b.ts, TtlSeconds: b.ttlAt(now)})
		}
	}
	return resp, nil
}

// GetGCSafePoint implements the deprecated read-only RPC that TiKV's GC
// worker still polls: the null keyspace's GC safe point.
func (p *PD) GetGCSafePoint(_ time.Time, req *pdpb.GetGCSafePointRequest) (*pdpb.GetGCSafePointResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h, err := p.gcPreludeLocked(req.GetHeader()); h != nil || err != nil {
		return respOrNil(&pdpb.GetGCSafePointResponse{Header: h}, err)
	}
	var sp uint64
	if s := p.st.gc.states[NullKeyspaceID]; s != nil {
		sp = s.gcSafePoint
	}
	return &pdpb.GetGCSafePointResponse{Header: p.okHeader(), SafePoint: sp}, nil
}

// UpdateGCSafePoint is LEGACY: it always fails (codes.Unimplemented).
func (p *PD) UpdateGCSafePoint(_ time.Time, _ *pdpb.UpdateGCSafePointRequest) (*pdpb.UpdateGCSafePointResponse, error) {
	return nil, errLegacy("UpdateGCSafePoint", "AdvanceTxnSafePoint and AdvanceGCSafePoint")
}

// UpdateServiceGCSafePoint is LEGACY: it always fails (codes.Unimplemented).
func (p *PD) UpdateServiceGCSafePoint(_ time.Time, _ *pdpb.UpdateServiceGCSafePointRequest) (*pdpb.UpdateServiceGCSafePointResponse, error) {
	return nil, errLegacy("UpdateServiceGCSafePoint", "SetGCBarrier and DeleteGCBarrier")
}
