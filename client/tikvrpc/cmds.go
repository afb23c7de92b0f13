package tikvrpc

import (
	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
)

// cmds is the command table: name, gRPC method, where the request keeps its
// Context, and where the response keeps its region error.
var cmds = [cmdEnd]cmd{
	CmdGet: def("Get", tikvpb.TikvClient.KvGet,
		func(r *kvrpcpb.GetRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.GetResponse) **errorpb.Error { return &r.RegionError }),
	CmdScan: def("Scan", tikvpb.TikvClient.KvScan,
		func(r *kvrpcpb.ScanRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.ScanResponse) **errorpb.Error { return &r.RegionError }),
	CmdPrewrite: def("Prewrite", tikvpb.TikvClient.KvPrewrite,
		func(r *kvrpcpb.PrewriteRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.PrewriteResponse) **errorpb.Error { return &r.RegionError }),
	CmdCommit: def("Commit", tikvpb.TikvClient.KvCommit,
		func(r *kvrpcpb.CommitRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.CommitResponse) **errorpb.Error { return &r.RegionError }),
	CmdCleanup: def("Cleanup", tikvpb.TikvClient.KvCleanup,
		func(r *kvrpcpb.CleanupRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.CleanupResponse) **errorpb.Error { return &r.RegionError }),
	CmdBatchGet: def("BatchGet", tikvpb.TikvClient.KvBatchGet,
		func(r *kvrpcpb.BatchGetRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.BatchGetResponse) **errorpb.Error { return &r.RegionError }),
	CmdBatchRollback: def("BatchRollback", tikvpb.TikvClient.KvBatchRollback,
		func(r *kvrpcpb.BatchRollbackRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.BatchRollbackResponse) **errorpb.Error { return &r.RegionError }),
	CmdScanLock: def("ScanLock", tikvpb.TikvClient.KvScanLock,
		func(r *kvrpcpb.ScanLockRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.ScanLockResponse) **errorpb.Error { return &r.RegionError }),
	CmdResolveLock: def("ResolveLock", tikvpb.TikvClient.KvResolveLock,
		func(r *kvrpcpb.ResolveLockRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.ResolveLockResponse) **errorpb.Error { return &r.RegionError }),
	CmdGC: def("GC", tikvpb.TikvClient.KvGC,
		func(r *kvrpcpb.GCRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.GCResponse) **errorpb.Error { return &r.RegionError }),
	CmdDeleteRange: def("DeleteRange", tikvpb.TikvClient.KvDeleteRange,
		func(r *kvrpcpb.DeleteRangeRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.DeleteRangeResponse) **errorpb.Error { return &r.RegionError }),
	CmdPessimisticLock: def("PessimisticLock", tikvpb.TikvClient.KvPessimisticLock,
		func(r *kvrpcpb.PessimisticLockRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.PessimisticLockResponse) **errorpb.Error { return &r.RegionError }),
	CmdPessimisticRollback: def("PessimisticRollback", tikvpb.TikvClient.KVPessimisticRollback,
		func(r *kvrpcpb.PessimisticRollbackRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.PessimisticRollbackResponse) **errorpb.Error { return &r.RegionError }),
	CmdTxnHeartBeat: def("TxnHeartBeat", tikvpb.TikvClient.KvTxnHeartBeat,
		func(r *kvrpcpb.TxnHeartBeatRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.TxnHeartBeatResponse) **errorpb.Error { return &r.RegionError }),
	CmdCheckTxnStatus: def("CheckTxnStatus", tikvpb.TikvClient.KvCheckTxnStatus,
		func(r *kvrpcpb.CheckTxnStatusRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.CheckTxnStatusResponse) **errorpb.Error { return &r.RegionError }),
	CmdCheckSecondaryLocks: def("CheckSecondaryLocks", tikvpb.TikvClient.KvCheckSecondaryLocks,
		func(r *kvrpcpb.CheckSecondaryLocksRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.CheckSecondaryLocksResponse) **errorpb.Error { return &r.RegionError }),
	CmdFlashbackToVersion: def("FlashbackToVersion", tikvpb.TikvClient.KvFlashbackToVersion,
		func(r *kvrpcpb.FlashbackToVersionRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.FlashbackToVersionResponse) **errorpb.Error { return &r.RegionError }),
	CmdPrepareFlashbackToVersion: def("PrepareFlashbackToVersion", tikvpb.TikvClient.KvPrepareFlashbackToVersion,
		func(r *kvrpcpb.PrepareFlashbackToVersionRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.PrepareFlashbackToVersionResponse) **errorpb.Error { return &r.RegionError }),
	CmdFlush: def("Flush", tikvpb.TikvClient.KvFlush,
		func(r *kvrpcpb.FlushRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.FlushResponse) **errorpb.Error { return &r.RegionError }),
	CmdBufferBatchGet: def("BufferBatchGet", tikvpb.TikvClient.KvBufferBatchGet,
		func(r *kvrpcpb.BufferBatchGetRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.BufferBatchGetResponse) **errorpb.Error { return &r.RegionError }),
	CmdRawGet: def("RawGet", tikvpb.TikvClient.RawGet,
		func(r *kvrpcpb.RawGetRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.RawGetResponse) **errorpb.Error { return &r.RegionError }),
	CmdRawBatchGet: def("RawBatchGet", tikvpb.TikvClient.RawBatchGet,
		func(r *kvrpcpb.RawBatchGetRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.RawBatchGetResponse) **errorpb.Error { return &r.RegionError }),
	CmdRawPut: def("RawPut", tikvpb.TikvClient.RawPut,
		func(r *kvrpcpb.RawPutRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.RawPutResponse) **errorpb.Error { return &r.RegionError }),
	CmdRawBatchPut: def("RawBatchPut", tikvpb.TikvClient.RawBatchPut,
		func(r *kvrpcpb.RawBatchPutRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.RawBatchPutResponse) **errorpb.Error { return &r.RegionError }),
	CmdRawDelete: def("RawDelete", tikvpb.TikvClient.RawDelete,
		func(r *kvrpcpb.RawDeleteRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.RawDeleteResponse) **errorpb.Error { return &r.RegionError }),
	CmdRawBatchDelete: def("RawBatchDelete", tikvpb.TikvClient.RawBatchDelete,
		func(r *kvrpcpb.RawBatchDeleteRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.RawBatchDeleteResponse) **errorpb.Error { return &r.RegionError }),
	CmdRawDeleteRange: def("RawDeleteRange", tikvpb.TikvClient.RawDeleteRange,
		func(r *kvrpcpb.RawDeleteRangeRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.RawDeleteRangeResponse) **errorpb.Error { return &r.RegionError }),
	CmdRawScan: def("RawScan", tikvpb.TikvClient.RawScan,
		func(r *kvrpcpb.RawScanRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.RawScanResponse) **errorpb.Error { return &r.RegionError }),
	CmdRawBatchScan: def("RawBatchScan", tikvpb.TikvClient.RawBatchScan,
		func(r *kvrpcpb.RawBatchScanRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.RawBatchScanResponse) **errorpb.Error { return &r.RegionError }),
	CmdRawGetKeyTTL: def("RawGetKeyTTL", tikvpb.TikvClient.RawGetKeyTTL,
		func(r *kvrpcpb.RawGetKeyTTLRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.RawGetKeyTTLResponse) **errorpb.Error { return &r.RegionError }),
	CmdRawCompareAndSwap: def("RawCompareAndSwap", tikvpb.TikvClient.RawCompareAndSwap,
		func(r *kvrpcpb.RawCASRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.RawCASResponse) **errorpb.Error { return &r.RegionError }),
	CmdRawChecksum: def("RawChecksum", tikvpb.TikvClient.RawChecksum,
		func(r *kvrpcpb.RawChecksumRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.RawChecksumResponse) **errorpb.Error { return &r.RegionError }),
	CmdUnsafeDestroyRange: def("UnsafeDestroyRange", tikvpb.TikvClient.UnsafeDestroyRange,
		func(r *kvrpcpb.UnsafeDestroyRangeRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.UnsafeDestroyRangeResponse) **errorpb.Error { return &r.RegionError }),
	CmdStoreSafeTS: def("StoreSafeTS", tikvpb.TikvClient.GetStoreSafeTS,
		nil,
		nil),
	CmdLockWaitInfo: def("LockWaitInfo", tikvpb.TikvClient.GetLockWaitInfo,
		func(r *kvrpcpb.GetLockWaitInfoRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.GetLockWaitInfoResponse) **errorpb.Error { return &r.RegionError }),
	CmdGetHealthFeedback: def("GetHealthFeedback", tikvpb.TikvClient.GetHealthFeedback,
		func(r *kvrpcpb.GetHealthFeedbackRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.GetHealthFeedbackResponse) **errorpb.Error { return &r.RegionError }),
	CmdBroadcastTxnStatus: def("BroadcastTxnStatus", tikvpb.TikvClient.BroadcastTxnStatus,
		func(r *kvrpcpb.BroadcastTxnStatusRequest) **kvrpcpb.Context { return &r.Context },
		nil),
	CmdMvccGetByKey: def("MvccGetByKey", tikvpb.TikvClient.MvccGetByKey,
		func(r *kvrpcpb.MvccGetByKeyRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.MvccGetByKeyResponse) **errorpb.Error { return &r.RegionError }),
	CmdMvccGetByStartTs: def("MvccGetByStartTs", tikvpb.TikvClient.MvccGetByStartTs,
		func(r *kvrpcpb.MvccGetByStartTsRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.MvccGetByStartTsResponse) **errorpb.Error { return &r.RegionError }),
	CmdSplitRegion: def("SplitRegion", tikvpb.TikvClient.SplitRegion,
		func(r *kvrpcpb.SplitRegionRequest) **kvrpcpb.Context { return &r.Context },
		func(r *kvrpcpb.SplitRegionResponse) **errorpb.Error { return &r.RegionError }),
	CmdEmpty: {name: "Empty",
		newReq:  func() any { return &tikvpb.BatchCommandsEmptyRequest{} },
		newResp: func() any { return &tikvpb.BatchCommandsEmptyResponse{} }},
}

// The typed accessors return the request as its kvproto type, or nil when
// the Request holds another type.

// Get returns the *kvrpcpb.GetRequest, or nil.
func (req *Request) Get() *kvrpcpb.GetRequest { return as[*kvrpcpb.GetRequest](req.Req) }

// Scan returns the *kvrpcpb.ScanRequest, or nil.
func (req *Request) Scan() *kvrpcpb.ScanRequest { return as[*kvrpcpb.ScanRequest](req.Req) }

// Prewrite returns the *kvrpcpb.PrewriteRequest, or nil.
func (req *Request) Prewrite() *kvrpcpb.PrewriteRequest { return as[*kvrpcpb.PrewriteRequest](req.Req) }

// Commit returns the *kvrpcpb.CommitRequest, or nil.
func (req *Request) Commit() *kvrpcpb.CommitRequest { return as[*kvrpcpb.CommitRequest](req.Req) }

// Cleanup returns the *kvrpcpb.CleanupRequest, or nil.
func (req *Request) Cleanup() *kvrpcpb.CleanupRequest { return as[*kvrpcpb.CleanupRequest](req.Req) }

// BatchGet returns the *kvrpcpb.BatchGetRequest, or nil.
func (req *Request) BatchGet() *kvrpcpb.BatchGetRequest { return as[*kvrpcpb.BatchGetRequest](req.Req) }

// BatchRollback returns the *kvrpcpb.BatchRollbackRequest, or nil.
func (req *Request) BatchRollback() *kvrpcpb.BatchRollbackRequest {
	return as[*kvrpcpb.BatchRollbackRequest](req.Req)
}

// ScanLock returns the *kvrpcpb.ScanLockRequest, or nil.
func (req *Request) ScanLock() *kvrpcpb.ScanLockRequest { return as[*kvrpcpb.ScanLockRequest](req.Req) }

// ResolveLock returns the *kvrpcpb.ResolveLockRequest, or nil.
func (req *Request) ResolveLock() *kvrpcpb.ResolveLockRequest {
	return as[*kvrpcpb.ResolveLockRequest](req.Req)
}

// GC returns the *kvrpcpb.GCRequest, or nil.
func (req *Request) GC() *kvrpcpb.GCRequest { return as[*kvrpcpb.GCRequest](req.Req) }

// DeleteRange returns the *kvrpcpb.DeleteRangeRequest, or nil.
func (req *Request) DeleteRange() *kvrpcpb.DeleteRangeRequest {
	return as[*kvrpcpb.DeleteRangeRequest](req.Req)
}

// PessimisticLock returns the *kvrpcpb.PessimisticLockRequest, or nil.
func (req *Request) PessimisticLock() *kvrpcpb.PessimisticLockRequest {
	return as[*kvrpcpb.PessimisticLockRequest](req.Req)
}

// PessimisticRollback returns the *kvrpcpb.PessimisticRollbackRequest, or nil.
func (req *Request) PessimisticRollback() *kvrpcpb.PessimisticRollbackRequest {
	return as[*kvrpcpb.PessimisticRollbackRequest](req.Req)
}

// TxnHeartBeat returns the *kvrpcpb.TxnHeartBeatRequest, or nil.
func (req *Request) TxnHeartBeat() *kvrpcpb.TxnHeartBeatRequest {
	return as[*kvrpcpb.TxnHeartBeatRequest](req.Req)
}

// CheckTxnStatus returns the *kvrpcpb.CheckTxnStatusRequest, or nil.
func (req *Request) CheckTxnStatus() *kvrpcpb.CheckTxnStatusRequest {
	return as[*kvrpcpb.CheckTxnStatusRequest](req.Req)
}

// CheckSecondaryLocks returns the *kvrpcpb.CheckSecondaryLocksRequest, or nil.
func (req *Request) CheckSecondaryLocks() *kvrpcpb.CheckSecondaryLocksRequest {
	return as[*kvrpcpb.CheckSecondaryLocksRequest](req.Req)
}

// FlashbackToVersion returns the *kvrpcpb.FlashbackToVersionRequest, or nil.
func (req *Request) FlashbackToVersion() *kvrpcpb.FlashbackToVersionRequest {
	return as[*kvrpcpb.FlashbackToVersionRequest](req.Req)
}

// PrepareFlashbackToVersion returns the *kvrpcpb.PrepareFlashbackToVersionRequest, or nil.
func (req *Request) PrepareFlashbackToVersion() *kvrpcpb.PrepareFlashbackToVersionRequest {
	return as[*kvrpcpb.PrepareFlashbackToVersionRequest](req.Req)
}

// Flush returns the *kvrpcpb.FlushRequest, or nil.
func (req *Request) Flush() *kvrpcpb.FlushRequest { return as[*kvrpcpb.FlushRequest](req.Req) }

// BufferBatchGet returns the *kvrpcpb.BufferBatchGetRequest, or nil.
func (req *Request) BufferBatchGet() *kvrpcpb.BufferBatchGetRequest {
	return as[*kvrpcpb.BufferBatchGetRequest](req.Req)
}

// RawGet returns the *kvrpcpb.RawGetRequest, or nil.
func (req *Request) RawGet() *kvrpcpb.RawGetRequest { return as[*kvrpcpb.RawGetRequest](req.Req) }

// RawBatchGet returns the *kvrpcpb.RawBatchGetRequest, or nil.
func (req *Request) RawBatchGet() *kvrpcpb.RawBatchGetRequest {
	return as[*kvrpcpb.RawBatchGetRequest](req.Req)
}

// RawPut returns the *kvrpcpb.RawPutRequest, or nil.
func (req *Request) RawPut() *kvrpcpb.RawPutRequest { return as[*kvrpcpb.RawPutRequest](req.Req) }

// RawBatchPut returns the *kvrpcpb.RawBatchPutRequest, or nil.
func (req *Request) RawBatchPut() *kvrpcpb.RawBatchPutRequest {
	return as[*kvrpcpb.RawBatchPutRequest](req.Req)
}

// RawDelete returns the *kvrpcpb.RawDeleteRequest, or nil.
func (req *Request) RawDelete() *kvrpcpb.RawDeleteRequest {
	return as[*kvrpcpb.RawDeleteRequest](req.Req)
}

// RawBatchDelete returns the *kvrpcpb.RawBatchDeleteRequest, or nil.
func (req *Request) RawBatchDelete() *kvrpcpb.RawBatchDeleteRequest {
	return as[*kvrpcpb.RawBatchDeleteRequest](req.Req)
}

// RawDeleteRange returns the *kvrpcpb.RawDeleteRangeRequest, or nil.
func (req *Request) RawDeleteRange() *kvrpcpb.RawDeleteRangeRequest {
	return as[*kvrpcpb.RawDeleteRangeRequest](req.Req)
}

// RawScan returns the *kvrpcpb.RawScanRequest, or nil.
func (req *Request) RawScan() *kvrpcpb.RawScanRequest { return as[*kvrpcpb.RawScanRequest](req.Req) }

// RawBatchScan returns the *kvrpcpb.RawBatchScanRequest, or nil.
func (req *Request) RawBatchScan() *kvrpcpb.RawBatchScanRequest {
	return as[*kvrpcpb.RawBatchScanRequest](req.Req)
}

// RawGetKeyTTL returns the *kvrpcpb.RawGetKeyTTLRequest, or nil.
func (req *Request) RawGetKeyTTL() *kvrpcpb.RawGetKeyTTLRequest {
	return as[*kvrpcpb.RawGetKeyTTLRequest](req.Req)
}

// RawCompareAndSwap returns the *kvrpcpb.RawCASRequest, or nil.
func (req *Request) RawCompareAndSwap() *kvrpcpb.RawCASRequest {
	return as[*kvrpcpb.RawCASRequest](req.Req)
}

// RawChecksum returns the *kvrpcpb.RawChecksumRequest, or nil.
func (req *Request) RawChecksum() *kvrpcpb.RawChecksumRequest {
	return as[*kvrpcpb.RawChecksumRequest](req.Req)
}

// UnsafeDestroyRange returns the *kvrpcpb.UnsafeDestroyRangeRequest, or nil.
func (req *Request) UnsafeDestroyRange() *kvrpcpb.UnsafeDestroyRangeRequest {
	return as[*kvrpcpb.UnsafeDestroyRangeRequest](req.Req)
}

// StoreSafeTS returns the *kvrpcpb.StoreSafeTSRequest, or nil.
func (req *Request) StoreSafeTS() *kvrpcpb.StoreSafeTSRequest {
	return as[*kvrpcpb.StoreSafeTSRequest](req.Req)
}

// LockWaitInfo returns the *kvrpcpb.GetLockWaitInfoRequest, or nil.
func (req *Request) LockWaitInfo() *kvrpcpb.GetLockWaitInfoRequest {
	return as[*kvrpcpb.GetLockWaitInfoRequest](req.Req)
}

// GetHealthFeedback returns the *kvrpcpb.GetHealthFeedbackRequest, or nil.
func (req *Request) GetHealthFeedback() *kvrpcpb.GetHealthFeedbackRequest {
	return as[*kvrpcpb.GetHealthFeedbackRequest](req.Req)
}

// BroadcastTxnStatus returns the *kvrpcpb.BroadcastTxnStatusRequest, or nil.
func (req *Request) BroadcastTxnStatus() *kvrpcpb.BroadcastTxnStatusRequest {
	return as[*kvrpcpb.BroadcastTxnStatusRequest](req.Req)
}

// MvccGetByKey returns the *kvrpcpb.MvccGetByKeyRequest, or nil.
func (req *Request) MvccGetByKey() *kvrpcpb.MvccGetByKeyRequest {
	return as[*kvrpcpb.MvccGetByKeyRequest](req.Req)
}

// MvccGetByStartTs returns the *kvrpcpb.MvccGetByStartTsRequest, or nil.
func (req *Request) MvccGetByStartTs() *kvrpcpb.MvccGetByStartTsRequest {
	return as[*kvrpcpb.MvccGetByStartTsRequest](req.Req)
}

// SplitRegion returns the *kvrpcpb.SplitRegionRequest, or nil.
func (req *Request) SplitRegion() *kvrpcpb.SplitRegionRequest {
	return as[*kvrpcpb.SplitRegionRequest](req.Req)
}

// Empty returns the *tikvpb.BatchCommandsEmptyRequest, or nil.
func (req *Request) Empty() *tikvpb.BatchCommandsEmptyRequest {
	return as[*tikvpb.BatchCommandsEmptyRequest](req.Req)
}
