package pd

import (
	"context"
	"math"
	"time"
)

// NullKeyspaceID is the keyspace of API V1 clusters (and of API V2 keyspaces
// without keyspace-level GC): PD's constants.NullKeyspaceID.
const NullKeyspaceID uint32 = 0xFFFFFFFF

// Forever is the TTL of a GC barrier that never expires (pd client's
// convention: the largest Duration).
const Forever = time.Duration(math.MaxInt64)

// GCStates is PD's GC-states API for one keyspace (pd client's
// gc.GCStatesClient and gc.InternalController, PD 9.0+). The deprecated
// service-safe-point and UpdateGCSafePoint calls have no place here.
//
// It is an optional capability of a Client: the transactional client's GC
// and CheckVisibility discover it by type assertion.
type GCStates interface {
	// AdvanceTxnSafePoint moves the keyspace's txn safe point towards
	// target; GC barriers may hold it lower (Result.NewTxnSafePoint and
	// BlockerDescription say so). A target below the current value is an
	// error.
	AdvanceTxnSafePoint(ctx context.Context, keyspaceID uint32, target uint64) (AdvanceTxnSafePointResult, error)
	// AdvanceGCSafePoint moves the keyspace's GC safe point to target, which
	// may not pass the txn safe point. Stores then drop versions below it.
	AdvanceGCSafePoint(ctx context.Context, keyspaceID uint32, target uint64) (AdvanceGCSafePointResult, error)
	// GetGCState returns the keyspace's safe points and barriers.
	GetGCState(ctx context.Context, keyspaceID uint32) (GCState, error)
	// SetGCBarrier keeps the txn safe point at or below ts for ttl
	// (rounded up to whole seconds; Forever never expires) under the name
	// barrierID.
	SetGCBarrier(ctx context.Context, keyspaceID uint32, barrierID string, ts uint64, ttl time.Duration) (GCBarrierInfo, error)
	// DeleteGCBarrier removes a barrier; it returns the removed barrier,
	// or nil when there was none.
	DeleteGCBarrier(ctx context.Context, keyspaceID uint32, barrierID string) (*GCBarrierInfo, error)
}

// AdvanceTxnSafePointResult is the answer to AdvanceTxnSafePoint.
type AdvanceTxnSafePointResult struct {
	OldTxnSafePoint uint64
	Target          uint64
	NewTxnSafePoint uint64
	// BlockerDescription names the barrier that held the safe point below
	// the target, if one did.
	BlockerDescription string
}

// AdvanceGCSafePointResult is the answer to AdvanceGCSafePoint.
type AdvanceGCSafePointResult struct {
	OldGCSafePoint uint64
	Target         uint64
	NewGCSafePoint uint64
}

// GCBarrierInfo is one GC barrier.
type GCBarrierInfo struct {
	BarrierID string
	BarrierTS uint64
	// TTL is the time the barrier had left when PD answered; Forever means
	// it never expires.
	TTL time.Duration
}

// GCState is one keyspace's GC state.
type GCState struct {
	KeyspaceID      uint32
	IsKeyspaceLevel bool
	TxnSafePoint    uint64
	GCSafePoint     uint64
	GCBarriers      []GCBarrierInfo
}
