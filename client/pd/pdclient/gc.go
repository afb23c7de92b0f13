package pdclient

import (
	"context"
	"fmt"
	"time"

	"github.com/tikv/pd/client/clients/gc"

	"github.com/tikvsim/tikvsim/client/pd"
	"github.com/tikvsim/tikvsim/client/tikverr"
)

// The GC-states capability (pd.GCStates), which txnkv's GC, GC barriers
// and CheckVisibility find by type assertion, over the pd client's
// gc.InternalController and gc.GCStatesClient (client/gc_client.go).
var _ pd.GCStates = (*Client)(nil)

// AdvanceTxnSafePoint implements pd.GCStates.
func (c *Client) AdvanceTxnSafePoint(ctx context.Context, keyspaceID uint32, target uint64) (pd.AdvanceTxnSafePointResult, error) {
	op := fmt.Sprintf("AdvanceTxnSafePoint(%d, %d)", keyspaceID, target)
	if err := c.checkClosed(op); err != nil {
		return pd.AdvanceTxnSafePointResult{}, err
	}
	r, err := c.pd.GetGCInternalController(keyspaceID).AdvanceTxnSafePoint(ctx, target)
	if err != nil {
		return pd.AdvanceTxnSafePointResult{}, fail(ctx, op, err)
	}
	return pd.AdvanceTxnSafePointResult{OldTxnSafePoint: r.OldTxnSafePoint, Target: r.Target,
		NewTxnSafePoint: r.NewTxnSafePoint, BlockerDescription: r.BlockerDescription}, nil
}

// AdvanceGCSafePoint implements pd.GCStates.
func (c *Client) AdvanceGCSafePoint(ctx context.Context, keyspaceID uint32, target uint64) (pd.AdvanceGCSafePointResult, error) {
	op := fmt.Sprintf("AdvanceGCSafePoint(%d, %d)", keyspaceID, target)
	if err := c.checkClosed(op); err != nil {
		return pd.AdvanceGCSafePointResult{}, err
	}
	r, err := c.pd.GetGCInternalController(keyspaceID).AdvanceGCSafePoint(ctx, target)
	if err != nil {
		return pd.AdvanceGCSafePointResult{}, fail(ctx, op, err)
	}
	return pd.AdvanceGCSafePointResult{OldGCSafePoint: r.OldGCSafePoint, Target: r.Target, NewGCSafePoint: r.NewGCSafePoint}, nil
}

// GetGCState implements pd.GCStates, barriers included. The pd client does
// not carry PD's is_keyspace_level_gc flag; it is read from the answer's
// keyspace instead: PD answers for a keyspace without keyspace-level GC
// with the null keyspace's state.
func (c *Client) GetGCState(ctx context.Context, keyspaceID uint32) (pd.GCState, error) {
	op := fmt.Sprintf("GetGCState(%d)", keyspaceID)
	if err := c.checkClosed(op); err != nil {
		return pd.GCState{}, err
	}
	s, err := c.pd.GetGCStatesClient(keyspaceID).GetGCState(ctx, gc.ExcludeGCBarriers(false))
	if err != nil {
		return pd.GCState{}, fail(ctx, op, err)
	}
	out := pd.GCState{KeyspaceID: s.KeyspaceID, IsKeyspaceLevel: s.KeyspaceID != pd.NullKeyspaceID,
		TxnSafePoint: s.TxnSafePoint, GCSafePoint: s.GCSafePoint}
	bs, err := s.GetGCBarriers()
	if err != nil {
		return pd.GCState{}, fail(ctx, op, err)
	}
	for _, b := range bs {
		if b != nil {
			out.GCBarriers = append(out.GCBarriers, barrier(b))
		}
	}
	return out, nil
}

// SetGCBarrier implements pd.GCStates. ttl must be positive (pd.Forever:
// never expires).
func (c *Client) SetGCBarrier(ctx context.Context, keyspaceID uint32, barrierID string, ts uint64, ttl time.Duration) (pd.GCBarrierInfo, error) {
	op := fmt.Sprintf("SetGCBarrier(%d, %q)", keyspaceID, barrierID)
	if err := c.checkClosed(op); err != nil {
		return pd.GCBarrierInfo{}, err
	}
	if ttl <= 0 {
		return pd.GCBarrierInfo{}, tikverr.InvalidArgument("pdclient.SetGCBarrier", "ttl", fmt.Sprintf("%v is not positive", ttl))
	}
	if barrierID == "" {
		return pd.GCBarrierInfo{}, tikverr.InvalidArgument("pdclient.SetGCBarrier", "barrierID", "empty")
	}
	b, err := c.pd.GetGCStatesClient(keyspaceID).SetGCBarrier(ctx, barrierID, ts, ttl)
	if err != nil {
		return pd.GCBarrierInfo{}, fail(ctx, op, err)
	}
	if b == nil {
		return pd.GCBarrierInfo{}, &Error{Op: op, Err: fmt.Errorf("PD answered without the barrier")}
	}
	return barrier(b), nil
}

// DeleteGCBarrier implements pd.GCStates.
func (c *Client) DeleteGCBarrier(ctx context.Context, keyspaceID uint32, barrierID string) (*pd.GCBarrierInfo, error) {
	op := fmt.Sprintf("DeleteGCBarrier(%d, %q)", keyspaceID, barrierID)
	if err := c.checkClosed(op); err != nil {
		return nil, err
	}
	b, err := c.pd.GetGCStatesClient(keyspaceID).DeleteGCBarrier(ctx, barrierID)
	if err != nil {
		return nil, fail(ctx, op, err)
	}
	if b == nil {
		return nil, nil
	}
	out := barrier(b)
	return &out, nil
}

// barrier converts the pd client's barrier; its TTL saturates at
// gc.TTLNeverExpire, which is pd.Forever.
func barrier(b *gc.GCBarrierInfo) pd.GCBarrierInfo {
	return pd.GCBarrierInfo{BarrierID: b.BarrierID, BarrierTS: b.BarrierTS, TTL: b.TTL}
}
