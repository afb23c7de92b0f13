package tikvrpc

import (
	"errors"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
)

// ErrNotBatchable is returned by FromBatchCommandsRequest and
// FromBatchCommandsResponse for stream entries this client does not handle
// (Import, Coprocessor, RawCoprocessor).
var ErrNotBatchable = errors.New("tikvrpc: command not supported by BatchCommands")

type batchReq = tikvpb.BatchCommandsRequest_Request

// ToBatchCommandsRequest wraps the typed request as one entry of a
// BatchCommands stream message, or returns nil if the command (or the type
// of Req) cannot travel that way: RawGetKeyTTL, RawCompareAndSwap,
// RawChecksum, UnsafeDestroyRange, StoreSafeTS, LockWaitInfo, the Mvcc
// commands and SplitRegion go as unary RPCs.
func (req *Request) ToBatchCommandsRequest() *tikvpb.BatchCommandsRequest_Request {
	switch r := req.Req.(type) {
	case *kvrpcpb.GetRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_Get{Get: r}}
	case *kvrpcpb.ScanRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_Scan{Scan: r}}
	case *kvrpcpb.PrewriteRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_Prewrite{Prewrite: r}}
	case *kvrpcpb.CommitRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_Commit{Commit: r}}
	case *kvrpcpb.CleanupRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_Cleanup{Cleanup: r}}
	case *kvrpcpb.BatchGetRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_BatchGet{BatchGet: r}}
	case *kvrpcpb.BatchRollbackRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_BatchRollback{BatchRollback: r}}
	case *kvrpcpb.ScanLockRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_ScanLock{ScanLock: r}}
	case *kvrpcpb.ResolveLockRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_ResolveLock{ResolveLock: r}}
	case *kvrpcpb.GCRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_GC{GC: r}}
	case *kvrpcpb.DeleteRangeRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_DeleteRange{DeleteRange: r}}
	case *kvrpcpb.PessimisticLockRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_PessimisticLock{PessimisticLock: r}}
	case *kvrpcpb.PessimisticRollbackRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_PessimisticRollback{PessimisticRollback: r}}
	case *kvrpcpb.TxnHeartBeatRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_TxnHeartBeat{TxnHeartBeat: r}}
	case *kvrpcpb.CheckTxnStatusRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_CheckTxnStatus{CheckTxnStatus: r}}
	case *kvrpcpb.CheckSecondaryLocksRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_CheckSecondaryLocks{CheckSecondaryLocks: r}}
	case *kvrpcpb.FlashbackToVersionRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_FlashbackToVersion{FlashbackToVersion: r}}
	case *kvrpcpb.PrepareFlashbackToVersionRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_PrepareFlashbackToVersion{PrepareFlashbackToVersion: r}}
	case *kvrpcpb.FlushRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_Flush{Flush: r}}
	case *kvrpcpb.BufferBatchGetRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_BufferBatchGet{BufferBatchGet: r}}
	case *kvrpcpb.RawGetRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_RawGet{RawGet: r}}
	case *kvrpcpb.RawBatchGetRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_RawBatchGet{RawBatchGet: r}}
	case *kvrpcpb.RawPutRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_RawPut{RawPut: r}}
	case *kvrpcpb.RawBatchPutRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_RawBatchPut{RawBatchPut: r}}
	case *kvrpcpb.RawDeleteRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_RawDelete{RawDelete: r}}
	case *kvrpcpb.RawBatchDeleteRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_RawBatchDelete{RawBatchDelete: r}}
	case *kvrpcpb.RawDeleteRangeRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_RawDeleteRange{RawDeleteRange: r}}
	case *kvrpcpb.RawScanRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_RawScan{RawScan: r}}
	case *kvrpcpb.RawBatchScanRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_RawBatchScan{RawBatchScan: r}}
	case *kvrpcpb.GetHealthFeedbackRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_GetHealthFeedback{GetHealthFeedback: r}}
	case *kvrpcpb.BroadcastTxnStatusRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_BroadcastTxnStatus{BroadcastTxnStatus: r}}
	case *tikvpb.BatchCommandsEmptyRequest:
		return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_Empty{Empty: r}}
	}
	return nil
}

// FromBatchCommandsRequest unwraps one entry of a BatchCommands stream
// message into a Request (the server side of ToBatchCommandsRequest). The
// envelope context is taken from the typed request.
func FromBatchCommandsRequest(r *tikvpb.BatchCommandsRequest_Request) (*Request, error) {
	var typ CmdType
	var body any
	switch c := r.GetCmd().(type) {
	case *tikvpb.BatchCommandsRequest_Request_Get:
		typ, body = CmdGet, c.Get
	case *tikvpb.BatchCommandsRequest_Request_Scan:
		typ, body = CmdScan, c.Scan
	case *tikvpb.BatchCommandsRequest_Request_Prewrite:
		typ, body = CmdPrewrite, c.Prewrite
	case *tikvpb.BatchCommandsRequest_Request_Commit:
		typ, body = CmdCommit, c.Commit
	case *tikvpb.BatchCommandsRequest_Request_Cleanup:
		typ, body = CmdCleanup, c.Cleanup
	case *tikvpb.BatchCommandsRequest_Request_BatchGet:
		typ, body = CmdBatchGet, c.BatchGet
	case *tikvpb.BatchCommandsRequest_Request_BatchRollback:
		typ, body = CmdBatchRollback, c.BatchRollback
	case *tikvpb.BatchCommandsRequest_Request_ScanLock:
		typ, body = CmdScanLock, c.ScanLock
	case *tikvpb.BatchCommandsRequest_Request_ResolveLock:
		typ, body = CmdResolveLock, c.ResolveLock
	case *tikvpb.BatchCommandsRequest_Request_GC:
		typ, body = CmdGC, c.GC
	case *tikvpb.BatchCommandsRequest_Request_DeleteRange:
		typ, body = CmdDeleteRange, c.DeleteRange
	case *tikvpb.BatchCommandsRequest_Request_PessimisticLock:
		typ, body = CmdPessimisticLock, c.PessimisticLock
	case *tikvpb.BatchCommandsRequest_Request_PessimisticRollback:
		typ, body = CmdPessimisticRollback, c.PessimisticRollback
	case *tikvpb.BatchCommandsRequest_Request_TxnHeartBeat:
		typ, body = CmdTxnHeartBeat, c.TxnHeartBeat
	case *tikvpb.BatchCommandsRequest_Request_CheckTxnStatus:
		typ, body = CmdCheckTxnStatus, c.CheckTxnStatus
	case *tikvpb.BatchCommandsRequest_Request_CheckSecondaryLocks:
		typ, body = CmdCheckSecondaryLocks, c.CheckSecondaryLocks
	case *tikvpb.BatchCommandsRequest_Request_FlashbackToVersion:
		typ, body = CmdFlashbackToVersion, c.FlashbackToVersion
	case *tikvpb.BatchCommandsRequest_Request_PrepareFlashbackToVersion:
		typ, body = CmdPrepareFlashbackToVersion, c.PrepareFlashbackToVersion
	case *tikvpb.BatchCommandsRequest_Request_Flush:
		typ, body = CmdFlush, c.Flush
	case *tikvpb.BatchCommandsRequest_Request_BufferBatchGet:
		typ, body = CmdBufferBatchGet, c.BufferBatchGet
	case *tikvpb.BatchCommandsRequest_Request_RawGet:
		typ, body = CmdRawGet, c.RawGet
	case *tikvpb.BatchCommandsRequest_Request_RawBatchGet:
		typ, body = CmdRawBatchGet, c.RawBatchGet
	case *tikvpb.BatchCommandsRequest_Request_RawPut:
		typ, body = CmdRawPut, c.RawPut
	case *tikvpb.BatchCommandsRequest_Request_RawBatchPut:
		typ, body = CmdRawBatchPut, c.RawBatchPut
	case *tikvpb.BatchCommandsRequest_Request_RawDelete:
		typ, body = CmdRawDelete, c.RawDelete
	case *tikvpb.BatchCommandsRequest_Request_RawBatchDelete:
		typ, body = CmdRawBatchDelete, c.RawBatchDelete
	case *tikvpb.BatchCommandsRequest_Request_RawDeleteRange:
		typ, body = CmdRawDeleteRange, c.RawDeleteRange
	case *tikvpb.BatchCommandsRequest_Request_RawScan:
		typ, body = CmdRawScan, c.RawScan
	case *tikvpb.BatchCommandsRequest_Request_RawBatchScan:
		typ, body = CmdRawBatchScan, c.RawBatchScan
	case *tikvpb.BatchCommandsRequest_Request_GetHealthFeedback:
		typ, body = CmdGetHealthFeedback, c.GetHealthFeedback
	case *tikvpb.BatchCommandsRequest_Request_BroadcastTxnStatus:
		typ, body = CmdBroadcastTxnStatus, c.BroadcastTxnStatus
	case *tikvpb.BatchCommandsRequest_Request_Empty:
		return &Request{Type: CmdEmpty, Req: c.Empty}, nil
	default:
		return nil, fmt.Errorf("%w: request %T", ErrNotBatchable, r.GetCmd())
	}
	req := &Request{Type: typ, Req: body}
	if c, ok := body.(interface{ GetContext() *kvrpcpb.Context }); ok && c.GetContext() != nil {
		req.Context = *c.GetContext()
	}
	return req, nil
}

// FromBatchCommandsResponse unwraps one entry of a BatchCommands response
// stream message. It fails for an entry without a command.
func FromBatchCommandsResponse(res *tikvpb.BatchCommandsResponse_Response) (*Response, error) {
	switch c := res.GetCmd().(type) {
	case *tikvpb.BatchCommandsResponse_Response_Get:
		return &Response{Resp: c.Get}, nil
	case *tikvpb.BatchCommandsResponse_Response_Scan:
		return &Response{Resp: c.Scan}, nil
	case *tikvpb.BatchCommandsResponse_Response_Prewrite:
		return &Response{Resp: c.Prewrite}, nil
	case *tikvpb.BatchCommandsResponse_Response_Commit:
		return &Response{Resp: c.Commit}, nil
	case *tikvpb.BatchCommandsResponse_Response_Cleanup:
		return &Response{Resp: c.Cleanup}, nil
	case *tikvpb.BatchCommandsResponse_Response_BatchGet:
		return &Response{Resp: c.BatchGet}, nil
	case *tikvpb.BatchCommandsResponse_Response_BatchRollback:
		return &Response{Resp: c.BatchRollback}, nil
	case *tikvpb.BatchCommandsResponse_Response_ScanLock:
		return &Response{Resp: c.ScanLock}, nil
	case *tikvpb.BatchCommandsResponse_Response_ResolveLock:
		return &Response{Resp: c.ResolveLock}, nil
	case *tikvpb.BatchCommandsResponse_Response_GC:
		return &Response{Resp: c.GC}, nil
	case *tikvpb.BatchCommandsResponse_Response_DeleteRange:
		return &Response{Resp: c.DeleteRange}, nil
	case *tikvpb.BatchCommandsResponse_Response_PessimisticLock:
		return &Response{Resp: c.PessimisticLock}, nil
	case *tikvpb.BatchCommandsResponse_Response_PessimisticRollback:
		return &Response{Resp: c.PessimisticRollback}, nil
	case *tikvpb.BatchCommandsResponse_Response_TxnHeartBeat:
		return &Response{Resp: c.TxnHeartBeat}, nil
	case *tikvpb.BatchCommandsResponse_Response_CheckTxnStatus:
		return &Response{Resp: c.CheckTxnStatus}, nil
	case *tikvpb.BatchCommandsResponse_Response_CheckSecondaryLocks:
		return &Response{Resp: c.CheckSecondaryLocks}, nil
	case *tikvpb.BatchCommandsResponse_Response_FlashbackToVersion:
		return &Response{Resp: c.FlashbackToVersion}, nil
	case *tikvpb.BatchCommandsResponse_Response_PrepareFlashbackToVersion:
		return &Response{Resp: c.PrepareFlashbackToVersion}, nil
	case *tikvpb.BatchCommandsResponse_Response_Flush:
		return &Response{Resp: c.Flush}, nil
	case *tikvpb.BatchCommandsResponse_Response_BufferBatchGet:
		return &Response{Resp: c.BufferBatchGet}, nil
	case *tikvpb.BatchCommandsResponse_Response_RawGet:
		return &Response{Resp: c.RawGet}, nil
	case *tikvpb.BatchCommandsResponse_Response_RawBatchGet:
		return &Response{Resp: c.RawBatchGet}, nil
	case *tikvpb.BatchCommandsResponse_Response_RawPut:
		return &Response{Resp: c.RawPut}, nil
	case *tikvpb.BatchCommandsResponse_Response_RawBatchPut:
		return &Response{Resp: c.RawBatchPut}, nil
	case *tikvpb.BatchCommandsResponse_Response_RawDelete:
		return &Response{Resp: c.RawDelete}, nil
	case *tikvpb.BatchCommandsResponse_Response_RawBatchDelete:
		return &Response{Resp: c.RawBatchDelete}, nil
	case *tikvpb.BatchCommandsResponse_Response_RawDeleteRange:
		return &Response{Resp: c.RawDeleteRange}, nil
	case *tikvpb.BatchCommandsResponse_Response_RawScan:
		return &Response{Resp: c.RawScan}, nil
	case *tikvpb.BatchCommandsResponse_Response_RawBatchScan:
		return &Response{Resp: c.RawBatchScan}, nil
	case *tikvpb.BatchCommandsResponse_Response_GetHealthFeedback:
		return &Response{Resp: c.GetHealthFeedback}, nil
	case *tikvpb.BatchCommandsResponse_Response_BroadcastTxnStatus:
		return &Response{Resp: c.BroadcastTxnStatus}, nil
	case *tikvpb.BatchCommandsResponse_Response_Empty:
		return &Response{Resp: c.Empty}, nil
	case nil:
		return nil, errors.New("tikvrpc: batch response entry has no command")
	default:
		return nil, fmt.Errorf("%w: response %T", ErrNotBatchable, c)
	}
}

type batchResp = tikvpb.BatchCommandsResponse_Response

// ToBatchCommandsResponse wraps a typed response as one entry of a
// BatchCommands response stream message (the server side of
// FromBatchCommandsResponse), or returns nil for a non-batchable type.
func (resp *Response) ToBatchCommandsResponse() *tikvpb.BatchCommandsResponse_Response {
	switch r := resp.Resp.(type) {
	case *kvrpcpb.GetResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_Get{Get: r}}
	case *kvrpcpb.ScanResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_Scan{Scan: r}}
	case *kvrpcpb.PrewriteResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_Prewrite{Prewrite: r}}
	case *kvrpcpb.CommitResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_Commit{Commit: r}}
	case *kvrpcpb.CleanupResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_Cleanup{Cleanup: r}}
	case *kvrpcpb.BatchGetResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_BatchGet{BatchGet: r}}
	case *kvrpcpb.BatchRollbackResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_BatchRollback{BatchRollback: r}}
	case *kvrpcpb.ScanLockResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_ScanLock{ScanLock: r}}
	case *kvrpcpb.ResolveLockResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_ResolveLock{ResolveLock: r}}
	case *kvrpcpb.GCResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_GC{GC: r}}
	case *kvrpcpb.DeleteRangeResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_DeleteRange{DeleteRange: r}}
	case *kvrpcpb.PessimisticLockResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_PessimisticLock{PessimisticLock: r}}
	case *kvrpcpb.PessimisticRollbackResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_PessimisticRollback{PessimisticRollback: r}}
	case *kvrpcpb.TxnHeartBeatResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_TxnHeartBeat{TxnHeartBeat: r}}
	case *kvrpcpb.CheckTxnStatusResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_CheckTxnStatus{CheckTxnStatus: r}}
	case *kvrpcpb.CheckSecondaryLocksResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_CheckSecondaryLocks{CheckSecondaryLocks: r}}
	case *kvrpcpb.FlashbackToVersionResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_FlashbackToVersion{FlashbackToVersion: r}}
	case *kvrpcpb.PrepareFlashbackToVersionResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_PrepareFlashbackToVersion{PrepareFlashbackToVersion: r}}
	case *kvrpcpb.FlushResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_Flush{Flush: r}}
	case *kvrpcpb.BufferBatchGetResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_BufferBatchGet{BufferBatchGet: r}}
	case *kvrpcpb.RawGetResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_RawGet{RawGet: r}}
	case *kvrpcpb.RawBatchGetResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_RawBatchGet{RawBatchGet: r}}
	case *kvrpcpb.RawPutResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_RawPut{RawPut: r}}
	case *kvrpcpb.RawBatchPutResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_RawBatchPut{RawBatchPut: r}}
	case *kvrpcpb.RawDeleteResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_RawDelete{RawDelete: r}}
	case *kvrpcpb.RawBatchDeleteResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_RawBatchDelete{RawBatchDelete: r}}
	case *kvrpcpb.RawDeleteRangeResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_RawDeleteRange{RawDeleteRange: r}}
	case *kvrpcpb.RawScanResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_RawScan{RawScan: r}}
	case *kvrpcpb.RawBatchScanResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_RawBatchScan{RawBatchScan: r}}
	case *kvrpcpb.GetHealthFeedbackResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_GetHealthFeedback{GetHealthFeedback: r}}
	case *kvrpcpb.BroadcastTxnStatusResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_BroadcastTxnStatus{BroadcastTxnStatus: r}}
	case *tikvpb.BatchCommandsEmptyResponse:
		return &batchResp{Cmd: &tikvpb.BatchCommandsResponse_Response_Empty{Empty: r}}
	}
	return nil
}
