package serve

import (
	"context"
	"errors"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"

	"github.com/tikvsim/tikvsim/client/tikvrpc"
)

// tikvServer is tikvpb.TikvServer over one fake store node: BatchCommands
// (bridge.go) and the unary method of every command the store serves
// (sim/cluster commands.go). Other RPCs answer Unimplemented.
type tikvServer struct {
	tikvpb.UnimplementedTikvServer
	s    *Server
	id   uint64
	node string
}

// batchOne serves one entry of a BatchCommands message and returns its
// answer, or nil when there is none to give (logged).
func (t *tikvServer) batchOne(ctx context.Context, r *tikvpb.BatchCommandsRequest_Request) *tikvpb.BatchCommandsResponse_Response {
	req, err := tikvrpc.FromBatchCommandsRequest(r)
	if err != nil {
		t.s.cfg.Logf("serve: store %d: %v", t.id, err)
		return nil
	}
	var resp any
	switch req.Type {
	case tikvrpc.CmdEmpty:
		resp = &tikvpb.BatchCommandsEmptyResponse{TestId: r.GetEmpty().GetTestId()}
	case tikvrpc.CmdGetHealthFeedback:
		resp = t.healthFeedback()
	default:
		resp, err = t.s.call(ctx, t.node, req.Req)
		if err != nil {
			if !errors.Is(err, ErrClosed) && ctx.Err() == nil {
				t.s.cfg.Logf("serve: store %d: batched %s: %v", t.id, req.Type, err)
			}
			return nil
		}
	}
	out := (&tikvrpc.Response{Resp: resp}).ToBatchCommandsResponse()
	if out == nil {
		t.s.cfg.Logf("serve: store %d: cannot batch a %T", t.id, resp)
	}
	return out
}

func (t *tikvServer) healthFeedback() *kvrpcpb.GetHealthFeedbackResponse {
	return &kvrpcpb.GetHealthFeedbackResponse{HealthFeedback: &kvrpcpb.HealthFeedback{StoreId: t.id, SlowScore: 1}}
}

// GetHealthFeedback implements tikvpb.TikvServer: a store that is never
// slow (slow score 1, TiKV's minimum).
func (t *tikvServer) GetHealthFeedback(context.Context, *kvrpcpb.GetHealthFeedbackRequest) (*kvrpcpb.GetHealthFeedbackResponse, error) {
	return t.healthFeedback(), nil
}

// GetStoreSafeTS implements tikvpb.TikvServer as TiKV's resolved-ts
// advance does (components/resolved_ts/src/advance.rs): take a fresh PD
// timestamp, raise max_ts to it, and answer the timestamp below the oldest
// lock that may still commit at or below it. The fake stores share one
// engine, so the answer covers every key (the request's range is not
// consulted): conservative, never too high.
func (t *tikvServer) GetStoreSafeTS(ctx context.Context, _ *kvrpcpb.StoreSafeTSRequest) (*kvrpcpb.StoreSafeTSResponse, error) {
	ts, err := t.s.safeTS(ctx, t.id)
	if err != nil {
		return nil, grpcError(err)
	}
	return &kvrpcpb.StoreSafeTSResponse{SafeTs: ts}, nil
}

// KvGet implements tikvpb.TikvServer.
func (t *tikvServer) KvGet(ctx context.Context, req *kvrpcpb.GetRequest) (*kvrpcpb.GetResponse, error) {
	return callAs[*kvrpcpb.GetResponse](t.s, ctx, t.node, req)
}

// KvScan implements tikvpb.TikvServer.
func (t *tikvServer) KvScan(ctx context.Context, req *kvrpcpb.ScanRequest) (*kvrpcpb.ScanResponse, error) {
	return callAs[*kvrpcpb.ScanResponse](t.s, ctx, t.node, req)
}

// KvPrewrite implements tikvpb.TikvServer.
func (t *tikvServer) KvPrewrite(ctx context.Context, req *kvrpcpb.PrewriteRequest) (*kvrpcpb.PrewriteResponse, error) {
	return callAs[*kvrpcpb.PrewriteResponse](t.s, ctx, t.node, req)
}

// KvPessimisticLock implements tikvpb.TikvServer.
func (t *tikvServer) KvPessimisticLock(ctx context.Context, req *kvrpcpb.PessimisticLockRequest) (*kvrpcpb.PessimisticLockResponse, error) {
	return callAs[*kvrpcpb.PessimisticLockResponse](t.s, ctx, t.node, req)
}

// KVPessimisticRollback implements tikvpb.TikvServer.
func (t *tikvServer) KVPessimisticRollback(ctx context.Context, req *kvrpcpb.PessimisticRollbackRequest) (*kvrpcpb.PessimisticRollbackResponse, error) {
	return callAs[*kvrpcpb.PessimisticRollbackResponse](t.s, ctx, t.node, req)
}

// KvTxnHeartBeat implements tikvpb.TikvServer.
func (t *tikvServer) KvTxnHeartBeat(ctx context.Context, req *kvrpcpb.TxnHeartBeatRequest) (*kvrpcpb.TxnHeartBeatResponse, error) {
	return callAs[*kvrpcpb.TxnHeartBeatResponse](t.s, ctx, t.node, req)
}

// KvCheckTxnStatus implements tikvpb.TikvServer.
func (t *tikvServer) KvCheckTxnStatus(ctx context.Context, req *kvrpcpb.CheckTxnStatusRequest) (*kvrpcpb.CheckTxnStatusResponse, error) {
	return callAs[*kvrpcpb.CheckTxnStatusResponse](t.s, ctx, t.node, req)
}

// KvCheckSecondaryLocks implements tikvpb.TikvServer.
func (t *tikvServer) KvCheckSecondaryLocks(ctx context.Context, req *kvrpcpb.CheckSecondaryLocksRequest) (*kvrpcpb.CheckSecondaryLocksResponse, error) {
	return callAs[*kvrpcpb.CheckSecondaryLocksResponse](t.s, ctx, t.node, req)
}

// KvCommit implements tikvpb.TikvServer.
func (t *tikvServer) KvCommit(ctx context.Context, req *kvrpcpb.CommitRequest) (*kvrpcpb.CommitResponse, error) {
	return callAs[*kvrpcpb.CommitResponse](t.s, ctx, t.node, req)
}

// KvCleanup implements tikvpb.TikvServer.
func (t *tikvServer) KvCleanup(ctx context.Context, req *kvrpcpb.CleanupRequest) (*kvrpcpb.CleanupResponse, error) {
	return callAs[*kvrpcpb.CleanupResponse](t.s, ctx, t.node, req)
}

// KvBatchGet implements tikvpb.TikvServer.
func (t *tikvServer) KvBatchGet(ctx context.Context, req *kvrpcpb.BatchGetRequest) (*kvrpcpb.BatchGetResponse, error) {
	return callAs[*kvrpcpb.BatchGetResponse](t.s, ctx, t.node, req)
}

// KvBatchRollback implements tikvpb.TikvServer.
func (t *tikvServer) KvBatchRollback(ctx context.Context, req *kvrpcpb.BatchRollbackRequest) (*kvrpcpb.BatchRollbackResponse, error) {
	return callAs[*kvrpcpb.BatchRollbackResponse](t.s, ctx, t.node, req)
}

// KvScanLock implements tikvpb.TikvServer.
func (t *tikvServer) KvScanLock(ctx context.Context, req *kvrpcpb.ScanLockRequest) (*kvrpcpb.ScanLockResponse, error) {
	return callAs[*kvrpcpb.ScanLockResponse](t.s, ctx, t.node, req)
}

// KvResolveLock implements tikvpb.TikvServer.
func (t *tikvServer) KvResolveLock(ctx context.Context, req *kvrpcpb.ResolveLockRequest) (*kvrpcpb.ResolveLockResponse, error) {
	return callAs[*kvrpcpb.ResolveLockResponse](t.s, ctx, t.node, req)
}

// KvDeleteRange implements tikvpb.TikvServer.
func (t *tikvServer) KvDeleteRange(ctx context.Context, req *kvrpcpb.DeleteRangeRequest) (*kvrpcpb.DeleteRangeResponse, error) {
	return callAs[*kvrpcpb.DeleteRangeResponse](t.s, ctx, t.node, req)
}

// KvFlush implements tikvpb.TikvServer.
func (t *tikvServer) KvFlush(ctx context.Context, req *kvrpcpb.FlushRequest) (*kvrpcpb.FlushResponse, error) {
	return callAs[*kvrpcpb.FlushResponse](t.s, ctx, t.node, req)
}

// KvBufferBatchGet implements tikvpb.TikvServer.
func (t *tikvServer) KvBufferBatchGet(ctx context.Context, req *kvrpcpb.BufferBatchGetRequest) (*kvrpcpb.BufferBatchGetResponse, error) {
	return callAs[*kvrpcpb.BufferBatchGetResponse](t.s, ctx, t.node, req)
}

// RawGet implements tikvpb.TikvServer.
func (t *tikvServer) RawGet(ctx context.Context, req *kvrpcpb.RawGetRequest) (*kvrpcpb.RawGetResponse, error) {
	return callAs[*kvrpcpb.RawGetResponse](t.s, ctx, t.node, req)
}

// RawBatchGet implements tikvpb.TikvServer.
func (t *tikvServer) RawBatchGet(ctx context.Context, req *kvrpcpb.RawBatchGetRequest) (*kvrpcpb.RawBatchGetResponse, error) {
	return callAs[*kvrpcpb.RawBatchGetResponse](t.s, ctx, t.node, req)
}

// RawPut implements tikvpb.TikvServer.
func (t *tikvServer) RawPut(ctx context.Context, req *kvrpcpb.RawPutRequest) (*kvrpcpb.RawPutResponse, error) {
	return callAs[*kvrpcpb.RawPutResponse](t.s, ctx, t.node, req)
}

// RawBatchPut implements tikvpb.TikvServer.
func (t *tikvServer) RawBatchPut(ctx context.Context, req *kvrpcpb.RawBatchPutRequest) (*kvrpcpb.RawBatchPutResponse, error) {
	return callAs[*kvrpcpb.RawBatchPutResponse](t.s, ctx, t.node, req)
}

// RawDelete implements tikvpb.TikvServer.
func (t *tikvServer) RawDelete(ctx context.Context, req *kvrpcpb.RawDeleteRequest) (*kvrpcpb.RawDeleteResponse, error) {
	return callAs[*kvrpcpb.RawDeleteResponse](t.s, ctx, t.node, req)
}

// RawBatchDelete implements tikvpb.TikvServer.
func (t *tikvServer) RawBatchDelete(ctx context.Context, req *kvrpcpb.RawBatchDeleteRequest) (*kvrpcpb.RawBatchDeleteResponse, error) {
	return callAs[*kvrpcpb.RawBatchDeleteResponse](t.s, ctx, t.node, req)
}

// RawScan implements tikvpb.TikvServer.
func (t *tikvServer) RawScan(ctx context.Context, req *kvrpcpb.RawScanRequest) (*kvrpcpb.RawScanResponse, error) {
	return callAs[*kvrpcpb.RawScanResponse](t.s, ctx, t.node, req)
}

// RawDeleteRange implements tikvpb.TikvServer.
func (t *tikvServer) RawDeleteRange(ctx context.Context, req *kvrpcpb.RawDeleteRangeRequest) (*kvrpcpb.RawDeleteRangeResponse, error) {
	return callAs[*kvrpcpb.RawDeleteRangeResponse](t.s, ctx, t.node, req)
}

// RawBatchScan implements tikvpb.TikvServer.
func (t *tikvServer) RawBatchScan(ctx context.Context, req *kvrpcpb.RawBatchScanRequest) (*kvrpcpb.RawBatchScanResponse, error) {
	return callAs[*kvrpcpb.RawBatchScanResponse](t.s, ctx, t.node, req)
}

// RawGetKeyTTL implements tikvpb.TikvServer.
func (t *tikvServer) RawGetKeyTTL(ctx context.Context, req *kvrpcpb.RawGetKeyTTLRequest) (*kvrpcpb.RawGetKeyTTLResponse, error) {
	return callAs[*kvrpcpb.RawGetKeyTTLResponse](t.s, ctx, t.node, req)
}

// RawCompareAndSwap implements tikvpb.TikvServer.
func (t *tikvServer) RawCompareAndSwap(ctx context.Context, req *kvrpcpb.RawCASRequest) (*kvrpcpb.RawCASResponse, error) {
	return callAs[*kvrpcpb.RawCASResponse](t.s, ctx, t.node, req)
}

// RawChecksum implements tikvpb.TikvServer.
func (t *tikvServer) RawChecksum(ctx context.Context, req *kvrpcpb.RawChecksumRequest) (*kvrpcpb.RawChecksumResponse, error) {
	return callAs[*kvrpcpb.RawChecksumResponse](t.s, ctx, t.node, req)
}

// MvccGetByKey implements tikvpb.TikvServer.
func (t *tikvServer) MvccGetByKey(ctx context.Context, req *kvrpcpb.MvccGetByKeyRequest) (*kvrpcpb.MvccGetByKeyResponse, error) {
	return callAs[*kvrpcpb.MvccGetByKeyResponse](t.s, ctx, t.node, req)
}

// SplitRegion implements tikvpb.TikvServer: the store splits the region
// (asking PD for ids) and answers the new regions. Not batched: client-go
// and TiKV send it as a unary RPC.
func (t *tikvServer) SplitRegion(ctx context.Context, req *kvrpcpb.SplitRegionRequest) (*kvrpcpb.SplitRegionResponse, error) {
	return callAs[*kvrpcpb.SplitRegionResponse](t.s, ctx, t.node, req)
}

// UnsafeDestroyRange implements tikvpb.TikvServer: the store-wide range
// removal GC sends to every store (no region check). Not batched either.
func (t *tikvServer) UnsafeDestroyRange(ctx context.Context, req *kvrpcpb.UnsafeDestroyRangeRequest) (*kvrpcpb.UnsafeDestroyRangeResponse, error) {
	return callAs[*kvrpcpb.UnsafeDestroyRangeResponse](t.s, ctx, t.node, req)
}
