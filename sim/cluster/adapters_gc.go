package cluster

import (
	"context"
	"math"
	"time"

	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvsim/tikvsim/client/pd"
)

var _ pd.GCStates = (*PDClient)(nil)

func scope(ks uint32) *pdpb.KeyspaceScope {
	return &pdpb.KeyspaceScope{Keyspace: &pdpb.KeyspaceScope_KeyspaceId{KeyspaceId: ks}}
}

// ttlSeconds rounds a barrier TTL up to whole seconds, pd.Forever to
// MaxInt64, as pd client's roundUpDurationToSeconds (client/gc_client.go).
func ttlSeconds(d time.Duration) int64 {
	if d == pd.Forever {
		return math.MaxInt64
	}
	s := int64(d / time.Second)
	if d%time.Second > 0 {
		s++
	}
	return s
}

// ttlDuration is the inverse of ttlSeconds, saturating at pd.Forever.
func ttlDuration(s int64) time.Duration {
	if s >= int64(pd.Forever/time.Second) {
		return pd.Forever
	}
	return time.Duration(s) * time.Second
}

func barrierOf(b *pdpb.GCBarrierInfo) pd.GCBarrierInfo {
	return pd.GCBarrierInfo{BarrierID: b.GetBarrierId(), BarrierTS: b.GetBarrierTs(), TTL: ttlDuration(b.GetTtlSeconds())}
}

// AdvanceTxnSafePoint implements pd.GCStates.
func (p *PDClient) AdvanceTxnSafePoint(ctx context.Context, ks uint32, target uint64) (pd.AdvanceTxnSafePointResult, error) {
	resp, err := call[*pdpb.AdvanceTxnSafePointResponse](p, ctx, &pdpb.AdvanceTxnSafePointRequest{Header: p.header(), KeyspaceScope: scope(ks), Target: target})
	if err != nil {
		return pd.AdvanceTxnSafePointResult{}, err
	}
	return pd.AdvanceTxnSafePointResult{OldTxnSafePoint: resp.OldTxnSafePoint, Target: target,
		NewTxnSafePoint: resp.NewTxnSafePoint, BlockerDescription: resp.BlockerDescription}, nil
}

// AdvanceGCSafePoint implements pd.GCStates.
func (p *PDClient) AdvanceGCSafePoint(ctx context.Context, ks uint32, target uint64) (pd.AdvanceGCSafePointResult, error) {
	resp, err := call[*pdpb.AdvanceGCSafePointResponse](p, ctx, &pdpb.AdvanceGCSafePointRequest{Header: p.header(), KeyspaceScope: scope(ks), Target: target})
	if err != nil {
		return pd.AdvanceGCSafePointResult{}, err
	}
	return pd.AdvanceGCSafePointResult{OldGCSafePoint: resp.OldGcSafePoint, Target: target, NewGCSafePoint: resp.NewGcSafePoint}, nil
}

// GetGCState implements pd.GCStates.
func (p *PDClient) GetGCState(ctx context.Context, ks uint32) (pd.GCState, error) {
	resp, err := call[*pdpb.GetGCStateResponse](p, ctx, &pdpb.GetGCStateRequest{Header: p.header(), KeyspaceScope: scope(ks)})
	if err != nil {
		return pd.GCState{}, err
	}
	s := resp.GetGcState()
	out := pd.GCState{KeyspaceID: s.GetKeyspaceScope().GetKeyspaceId(), IsKeyspaceLevel: s.GetIsKeyspaceLevelGc(),
		TxnSafePoint: s.GetTxnSafePoint(), GCSafePoint: s.GetGcSafePoint()}
	for _, b := range s.GetGcBarriers() {
		out.GCBarriers = append(out.GCBarriers, barrierOf(b))
	}
	return out, nil
}

// SetGCBarrier implements pd.GCStates.
func (p *PDClient) SetGCBarrier(ctx context.Context, ks uint32, id string, ts uint64, ttl time.Duration) (pd.GCBarrierInfo, error) {
	resp, err := call[*pdpb.SetGCBarrierResponse](p, ctx, &pdpb.SetGCBarrierRequest{Header: p.header(), KeyspaceScope: scope(ks),
		BarrierId: id, BarrierTs: ts, TtlSeconds: ttlSeconds(ttl)})
	if err != nil {
		return pd.GCBarrierInfo{}, err
	}
	return barrierOf(resp.GetNewBarrierInfo()), nil
}

// DeleteGCBarrier implements pd.GCStates.
func (p *PDClient) DeleteGCBarrier(ctx context.Context, ks uint32, id string) (*pd.GCBarrierInfo, error) {
	resp, err := call[*pdpb.DeleteGCBarrierResponse](p, ctx, &pdpb.DeleteGCBarrierRequest{Header: p.header(), KeyspaceScope: scope(ks), BarrierId: id})
	if err != nil {
		return nil, err
	}
	if resp.GetDeletedBarrierInfo() == nil {
		return nil, nil
	}
	b := barrierOf(resp.GetDeletedBarrierInfo())
	return &b, nil
}
