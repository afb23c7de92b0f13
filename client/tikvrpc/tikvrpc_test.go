package tikvrpc

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"github.com/stretchr/testify/require"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"google.golang.org/grpc"
)

// batchable lists the commands the BatchCommands stream carries.
var batchable = map[CmdType]bool{
	CmdGet: true, CmdScan: true, CmdPrewrite: true, CmdCommit: true, CmdCleanup: true, CmdBatchGet: true,
	CmdBatchRollback: true, CmdScanLock: true, CmdResolveLock: true, CmdGC: true, CmdDeleteRange: true,
	CmdPessimisticLock: true, CmdPessimisticRollback: true, CmdTxnHeartBeat: true, CmdCheckTxnStatus: true,
	CmdCheckSecondaryLocks: true, CmdFlashbackToVersion: true, CmdPrepareFlashbackToVersion: true,
	CmdFlush: true, CmdBufferBatchGet: true, CmdRawGet: true, CmdRawBatchGet: true, CmdRawPut: true,
	CmdRawBatchPut: true, CmdRawDelete: true, CmdRawBatchDelete: true, CmdRawDeleteRange: true,
	CmdRawScan: true, CmdRawBatchScan: true, CmdGetHealthFeedback: true, CmdBroadcastTxnStatus: true,
	CmdEmpty: true,
}

// noContext lists the commands whose request has no Context.
var noContext = map[CmdType]bool{CmdStoreSafeTS: true, CmdEmpty: true}

// noRegionError lists the commands whose response has no region error.
var noRegionError = map[CmdType]bool{CmdStoreSafeTS: true, CmdBroadcastTxnStatus: true, CmdEmpty: true}

func TestCmdTable(t *testing.T) {
	names := map[string]bool{}
	for _, c := range Cmds() {
		require.True(t, c.Valid())
		require.NotContains(t, names, c.String())
		names[c.String()] = true
		require.NotNil(t, c.NewReq(), c.String())
		require.NotNil(t, c.NewResp(), c.String())
		// The typed accessor is named after the command.
		req := NewRequest(c, c.NewReq())
		m := reflect.ValueOf(req).MethodByName(c.String())
		require.True(t, m.IsValid(), "accessor %s", c)
		got := m.Call(nil)[0]
		require.Equal(t, req.Req, got.Interface(), c.String())
		other := NewRequest(c, &struct{}{})
		require.True(t, reflect.ValueOf(other).MethodByName(c.String()).Call(nil)[0].IsNil())
	}
	require.Len(t, names, int(cmdEnd)-1)
	require.Equal(t, "RawGetKeyTTL", CmdGetKeyTTL.String())
	require.Equal(t, "Unknown(0)", CmdType(0).String())
	require.False(t, cmdEnd.Valid())
	require.Nil(t, CmdType(0).NewReq())
	require.Nil(t, CmdType(0).NewResp())
}

// Port of client-go TestBatchResponse: an entry without a command fails.
func TestBatchResponse(t *testing.T) {
	resp, err := FromBatchCommandsResponse(&tikvpb.BatchCommandsResponse_Response{})
	require.Nil(t, resp)
	require.Error(t, err)
	_, err = FromBatchCommandsResponse(&tikvpb.BatchCommandsResponse_Response{
		Cmd: &tikvpb.BatchCommandsResponse_Response_Import{}})
	require.ErrorIs(t, err, ErrNotBatchable)
	_, err = FromBatchCommandsRequest(&tikvpb.BatchCommandsRequest_Request{})
	require.ErrorIs(t, err, ErrNotBatchable)
}

func TestBatchRoundTrip(t *testing.T) {
	for _, c := range Cmds() {
		t.Run(c.String(), func(t *testing.T) {
			req := NewRequest(c, c.NewReq())
			require.True(t, AttachContext(req, kvrpcpb.Context{RegionId: 7}))
			b := req.ToBatchCommandsRequest()
			if !batchable[c] {
				require.Nil(t, b)
				require.Nil(t, (&Response{Resp: c.NewResp()}).ToBatchCommandsResponse())
				return
			}
			require.NotNil(t, b)
			back, err := FromBatchCommandsRequest(b)
			require.NoError(t, err)
			require.Equal(t, c, back.Type)
			require.Same(t, req.Req, back.Req)
			if !noContext[c] {
				require.Equal(t, uint64(7), back.RegionId)
			}
			resp := &Response{Resp: c.NewResp()}
			bresp := resp.ToBatchCommandsResponse()
			require.NotNil(t, bresp)
			got, err := FromBatchCommandsResponse(bresp)
			require.NoError(t, err)
			require.Same(t, resp.Resp, got.Resp)
		})
	}
}

// Port of client-go TestAttachContextSetsRequestContext, for every command.
func TestAttachContextSetsRequestContext(t *testing.T) {
	first := kvrpcpb.Context{
		RegionId:      123,
		ApiVersion:    kvrpcpb.APIVersion_V2,
		Keyspace:      &kvrpcpb.Context_KeyspaceId{KeyspaceId: 456},
		KeyspaceName:  "test-keyspace",
		RequestOrigin: kvrpcpb.RequestOrigin_RequestOriginTiDB,
	}
	next := kvrpcpb.Context{
		RegionId:     789,
		ApiVersion:   kvrpcpb.APIVersion_V2,
		Keyspace:     &kvrpcpb.Context_KeyspaceId{KeyspaceId: 101112},
		KeyspaceName: "next-test-keyspace",
	}
	for _, c := range Cmds() {
		t.Run(c.String(), func(t *testing.T) {
			req := NewRequest(c, c.NewReq())
			require.True(t, AttachContext(req, first))
			require.Equal(t, uint64(123), req.RegionId, "envelope")
			if noContext[c] {
				return
			}
			ctxOf := func() *kvrpcpb.Context {
				return req.Req.(interface{ GetContext() *kvrpcpb.Context }).GetContext()
			}
			require.Equal(t, first.RegionId, ctxOf().GetRegionId())
			require.Equal(t, first.ApiVersion, ctxOf().GetApiVersion())
			require.Equal(t, first.GetKeyspaceId(), ctxOf().GetKeyspaceId())
			require.Equal(t, first.KeyspaceName, ctxOf().GetKeyspaceName())
			require.Equal(t, first.RequestOrigin, ctxOf().GetRequestOrigin())
			require.NotSame(t, &req.Context, ctxOf(), "typed request owns its copy")

			old := req.Req
			oldCtx := ctxOf()
			require.True(t, AttachContext(req, next))
			require.NotSame(t, old, req.Req, "second attach patches a copy")
			require.Equal(t, next.RegionId, ctxOf().GetRegionId())
			require.Equal(t, next.GetKeyspaceId(), ctxOf().GetKeyspaceId())
			require.Equal(t, first.RegionId, oldCtx.GetRegionId(), "the old version is untouched")
		})
	}
	require.False(t, AttachContext(NewRequest(CmdGet, &kvrpcpb.RawGetRequest{}), first), "wrong body type")
	require.False(t, AttachContext(NewRequest(CmdGet, (*kvrpcpb.GetRequest)(nil)), first), "nil body")
	require.False(t, AttachContext(NewRequest(0, nil), first), "invalid type")
}

// Port of client-go TestTiDB51921: re-attaching a context (a retry) while a
// send loop marshals the previous version must not race. Run with -race.
func TestTiDB51921(t *testing.T) {
	for _, c := range Cmds() {
		req := NewRequest(c, c.NewReq())
		if req.ToBatchCommandsRequest() == nil {
			continue
		}
		t.Run(c.String(), func(t *testing.T) {
			cmdCh := make(chan *tikvpb.BatchCommandsRequest_Request, 8)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // the batch send loop
				defer wg.Done()
				for cmd := range cmdCh {
					_, err := cmd.Marshal()
					require.NoError(t, err)
				}
			}()
			for i := range 200 { // relocate and retry
				AttachContext(req, kvrpcpb.Context{RegionId: uint64(i)})
				cmdCh <- req.ToBatchCommandsRequest()
			}
			close(cmdCh)
			wg.Wait()
		})
	}
}

// client-go TestDefaultRequestOrigin sets a process-wide default; here the
// origin is a Context field that passes through unchanged.
func TestRequestOriginPassesThrough(t *testing.T) {
	req := NewRequest(CmdGet, &kvrpcpb.GetRequest{}, kvrpcpb.Context{RequestOrigin: kvrpcpb.RequestOrigin_RequestOriginTiDB})
	require.Equal(t, kvrpcpb.RequestOrigin_RequestOriginTiDB, req.GetRequestOrigin())
	require.True(t, AttachContext(req, req.Context))
	require.Equal(t, kvrpcpb.RequestOrigin_RequestOriginTiDB, req.Get().GetContext().GetRequestOrigin())
	require.Equal(t, kvrpcpb.RequestOrigin_RequestOriginUnknown, NewRequest(CmdGet, &kvrpcpb.GetRequest{}).GetRequestOrigin())
}

func TestRegionErrors(t *testing.T) {
	e := &errorpb.Error{NotLeader: &errorpb.NotLeader{RegionId: 1}}
	for _, c := range Cmds() {
		t.Run(c.String(), func(t *testing.T) {
			req := NewRequest(c, c.NewReq())
			resp, err := GenRegionErrorResp(req, e)
			if noRegionError[c] && c != CmdEmpty {
				require.Error(t, err)
				got, err := GetRegionError(&Response{Resp: c.NewResp()})
				require.NoError(t, err)
				require.Nil(t, got)
				return
			}
			require.NoError(t, err)
			got, err := resp.GetRegionError()
			require.NoError(t, err)
			if c == CmdEmpty {
				require.Nil(t, got)
				return
			}
			require.Same(t, e, got)
			require.IsType(t, c.NewResp(), resp.Resp)
		})
	}
	_, err := GenRegionErrorResp(NewRequest(0, nil), e)
	require.Error(t, err)
	_, err = (&Response{Resp: &struct{}{}}).GetRegionError()
	require.Error(t, err)
	got, err := (*Response)(nil).GetRegionError()
	require.NoError(t, err)
	require.Nil(t, got)
}

func TestRespAs(t *testing.T) {
	r, err := RespAs[*kvrpcpb.RawGetResponse](&Response{Resp: &kvrpcpb.RawGetResponse{Value: []byte("v")}})
	require.NoError(t, err)
	require.Equal(t, []byte("v"), r.Value)
	_, err = RespAs[*kvrpcpb.RawGetResponse](&Response{})
	require.ErrorIs(t, err, tikverr.ErrBodyMissing)
	_, err = RespAs[*kvrpcpb.RawGetResponse](nil)
	require.ErrorIs(t, err, tikverr.ErrBodyMissing)
	_, err = RespAs[*kvrpcpb.RawGetResponse](&Response{Resp: &kvrpcpb.GetResponse{}})
	require.Error(t, err)
	require.NotErrorIs(t, err, tikverr.ErrBodyMissing)
}

func TestResponseDetails(t *testing.T) {
	resp := &Response{Resp: &kvrpcpb.GetResponse{Value: []byte("abc"), ExecDetailsV2: &kvrpcpb.ExecDetailsV2{}}}
	require.NotNil(t, resp.GetExecDetailsV2())
	require.Greater(t, resp.GetSize(), 3)
	require.Nil(t, (&Response{Resp: &kvrpcpb.RawPutResponse{}}).GetExecDetailsV2())
	require.Zero(t, (&Response{Resp: 1}).GetSize())
}

func TestRequestOptions(t *testing.T) {
	seed := uint32(5)
	req := NewReplicaReadRequest(CmdGet, &kvrpcpb.GetRequest{Version: 9}, ReplicaReadFollower, &seed, kvrpcpb.Context{RegionId: 1})
	require.True(t, req.ReplicaRead)
	require.Equal(t, &seed, req.GetReplicaReadSeed())
	require.Nil(t, (*Request)(nil).GetReplicaReadSeed())
	req.SetReplicaReadType(ReplicaReadLeader)
	require.False(t, req.ReplicaRead)

	req.EnableStaleWithMixedReplicaRead()
	require.True(t, req.StaleRead)
	require.Equal(t, ReplicaReadMixed, req.ReplicaReadType)
	require.False(t, req.ReplicaRead, "stale reads do not set the replica-read flag")
	req.DisableStaleReadMeetLock()
	require.False(t, req.StaleRead)
	require.Equal(t, ReplicaReadLeader, req.ReplicaReadType)

	require.Equal(t, "", req.GetResourceGroupName())
	req.SetResourceGroupName("rg1")
	shared := req.ResourceControlContext
	req.SetResourceGroupName("rg2")
	require.Equal(t, "rg2", req.GetResourceGroupName())
	require.Equal(t, "rg1", shared.ResourceGroupName, "copy on write")

	req.SetRequestSource("external_rawkv")
	require.Equal(t, "external_rawkv", req.RequestSource)
	require.Equal(t, "external_rawkv", req.InputRequestSource)

	require.Equal(t, uint64(9), req.GetStartTS())
	require.Greater(t, req.GetSize(), 0)
	require.Zero(t, NewRequest(CmdEmpty, 1).GetSize())

	for r, s := range map[ReplicaReadType]string{ReplicaReadLeader: "leader", ReplicaReadFollower: "follower",
		ReplicaReadMixed: "mixed", ReplicaReadLearner: "learner", ReplicaReadPreferLeader: "prefer-leader", 9: "unknown-9"} {
		require.Equal(t, s, r.String())
	}
}

func TestRequestClassification(t *testing.T) {
	txnWrites := map[CmdType]bool{CmdPessimisticLock: true, CmdPrewrite: true, CmdCommit: true, CmdBatchRollback: true,
		CmdPessimisticRollback: true, CmdCheckTxnStatus: true, CmdCheckSecondaryLocks: true, CmdCleanup: true,
		CmdTxnHeartBeat: true, CmdResolveLock: true, CmdFlashbackToVersion: true, CmdPrepareFlashbackToVersion: true, CmdFlush: true}
	rawWrites := map[CmdType]bool{CmdRawPut: true, CmdRawBatchPut: true, CmdRawDelete: true, CmdRawBatchDelete: true,
		CmdRawDeleteRange: true, CmdRawCompareAndSwap: true}
	notInterruptible := map[CmdType]bool{CmdPessimisticRollback: true, CmdBatchRollback: true, CmdCommit: true}
	for _, c := range Cmds() {
		req := NewRequest(c, c.NewReq())
		require.Equal(t, txnWrites[c], req.IsTxnWriteRequest(), c.String())
		require.Equal(t, rawWrites[c], req.IsRawWriteRequest(), c.String())
		require.Equal(t, !notInterruptible[c], req.IsInterruptible(), c.String())
	}
}

func TestGetStartTS(t *testing.T) {
	for _, tc := range []struct {
		req  any
		want uint64
	}{
		{&kvrpcpb.GetRequest{Version: 1}, 1},
		{&kvrpcpb.ScanRequest{Version: 2}, 2},
		{&kvrpcpb.PrewriteRequest{StartVersion: 3}, 3},
		{&kvrpcpb.CommitRequest{StartVersion: 4}, 4},
		{&kvrpcpb.CleanupRequest{StartVersion: 5}, 5},
		{&kvrpcpb.BatchGetRequest{Version: 6}, 6},
		{&kvrpcpb.BatchRollbackRequest{StartVersion: 7}, 7},
		{&kvrpcpb.ScanLockRequest{MaxVersion: 8}, 8},
		{&kvrpcpb.ResolveLockRequest{StartVersion: 9}, 9},
		{&kvrpcpb.PessimisticLockRequest{StartVersion: 10}, 10},
		{&kvrpcpb.PessimisticRollbackRequest{StartVersion: 11}, 11},
		{&kvrpcpb.TxnHeartBeatRequest{StartVersion: 12}, 12},
		{&kvrpcpb.CheckTxnStatusRequest{LockTs: 13}, 13},
		{&kvrpcpb.CheckSecondaryLocksRequest{StartVersion: 14}, 14},
		{&kvrpcpb.FlashbackToVersionRequest{StartTs: 15}, 15},
		{&kvrpcpb.PrepareFlashbackToVersionRequest{StartTs: 16}, 16},
		{&kvrpcpb.FlushRequest{StartTs: 17}, 17},
		{&kvrpcpb.BufferBatchGetRequest{Version: 18}, 18},
		{&kvrpcpb.MvccGetByStartTsRequest{StartTs: 19}, 19},
		{&kvrpcpb.RawGetRequest{}, 0},
	} {
		require.Equal(t, tc.want, (&Request{Req: tc.req}).GetStartTS(), "%T", tc.req)
	}
}

func TestSetContext(t *testing.T) {
	region := &metapb.Region{Id: 3, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 2}}
	peer := &metapb.Peer{Id: 4, StoreId: 5}
	req := NewRequest(CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte("k")})
	require.NoError(t, SetContextNoAttach(req, region, peer))
	require.Equal(t, uint64(3), req.RegionId)
	require.Nil(t, req.RawGet().GetContext(), "not attached yet")
	require.NoError(t, SetContext(req, region, peer))
	require.Equal(t, uint64(5), req.RawGet().GetContext().GetPeer().GetStoreId())
	require.Equal(t, uint64(2), req.RawGet().GetContext().GetRegionEpoch().GetVersion())

	require.Error(t, SetContextNoAttach(NewRequest(0, nil), region, peer))
	require.Error(t, SetContext(NewRequest(0, nil), region, peer))
	require.Error(t, SetContext(NewRequest(CmdRawGet, &kvrpcpb.GetRequest{}), region, peer))
	require.NoError(t, SetContextNoAttach(NewRequest(CmdRawGet, &kvrpcpb.RawGetRequest{}), nil, peer))
}

func TestEndpoint(t *testing.T) {
	for ty, name := range map[EndpointType]string{TiKV: "tikv", TiFlash: "tiflash", TiDB: "tidb", TiFlashCompute: "tiflash_compute", 9: "unspecified"} {
		require.Equal(t, name, ty.Name())
	}
	require.True(t, TiFlash.IsTiFlashRelatedType())
	require.True(t, TiFlashCompute.IsTiFlashRelatedType())
	require.False(t, TiKV.IsTiFlashRelatedType())
	label := func(k, v string) *metapb.Store {
		return &metapb.Store{Labels: []*metapb.StoreLabel{{Key: "zone", Value: "z1"}, {Key: k, Value: v}}}
	}
	require.Equal(t, TiFlash, GetStoreTypeByMeta(label(EngineLabelKey, EngineLabelTiFlash)))
	require.Equal(t, TiFlashCompute, GetStoreTypeByMeta(label(EngineLabelKey, EngineLabelTiFlashCompute)))
	require.Equal(t, TiKV, GetStoreTypeByMeta(label(EngineLabelKey, "other")))
	require.Equal(t, TiKV, GetStoreTypeByMeta(&metapb.Store{}))
}

// fakeTikv answers RawGet and fails RawPut; other methods are not called.
type fakeTikv struct {
	tikvpb.TikvClient
	got *kvrpcpb.RawGetRequest
}

func (f *fakeTikv) RawGet(_ context.Context, in *kvrpcpb.RawGetRequest, _ ...grpc.CallOption) (*kvrpcpb.RawGetResponse, error) {
	f.got = in
	return &kvrpcpb.RawGetResponse{Value: []byte("v")}, nil
}

func (f *fakeTikv) RawPut(context.Context, *kvrpcpb.RawPutRequest, ...grpc.CallOption) (*kvrpcpb.RawPutResponse, error) {
	return nil, errors.New("unavailable")
}

func TestCallRPC(t *testing.T) {
	f := &fakeTikv{}
	req := NewRequest(CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte("k")})
	resp, err := CallRPC(context.Background(), f, req)
	require.NoError(t, err)
	require.Equal(t, []byte("v"), resp.Resp.(*kvrpcpb.RawGetResponse).Value)
	require.Same(t, req.Req, f.got)

	_, err = CallRPC(context.Background(), f, NewRequest(CmdRawPut, &kvrpcpb.RawPutRequest{}))
	require.EqualError(t, err, "unavailable")
	_, err = CallRPC(context.Background(), f, NewRequest(CmdRawGet, &kvrpcpb.GetRequest{}))
	require.Error(t, err)
	_, err = CallRPC(context.Background(), f, NewRequest(CmdEmpty, &tikvpb.BatchCommandsEmptyRequest{}))
	require.ErrorIs(t, err, ErrUnsupportedCmd)
}
