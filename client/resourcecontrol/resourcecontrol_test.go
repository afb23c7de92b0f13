package resourcecontrol_test

import (
	"context"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	rmpb "github.com/pingcap/kvproto/pkg/resource_manager"

	"github.com/tikvsim/tikvsim/client/resourcecontrol"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
)

// Port of client-go internal/resourcecontrol TestMakeRequestInfo.
func TestMakeRequestInfo(t *testing.T) {
	// A read.
	req := &tikvrpc.Request{Type: tikvrpc.CmdBatchGet, Req: &kvrpcpb.BatchGetRequest{}, Context: kvrpcpb.Context{Peer: &metapb.Peer{StoreId: 1}}}
	info := resourcecontrol.MakeRequestInfo(req)
	if info.IsWrite() || info.WriteBytes() != 0 || info.Bypass() || info.StoreID() != 1 || info.ReplicaNumber() != 0 {
		t.Fatalf("read: write %v bytes %d bypass %v store %d replicas %d", info.IsWrite(), info.WriteBytes(), info.Bypass(), info.StoreID(), info.ReplicaNumber())
	}

	// A prewrite, internal "others": bypassed.
	prewrite := &kvrpcpb.PrewriteRequest{Mutations: []*kvrpcpb.Mutation{{Key: []byte("foo"), Value: []byte("bar")}}, PrimaryLock: []byte("baz")}
	req = &tikvrpc.Request{Type: tikvrpc.CmdPrewrite, Req: prewrite, ReplicaNumber: 1, Context: kvrpcpb.Context{Peer: &metapb.Peer{StoreId: 2}}}
	req.RequestSource = "xxx_internal_others"
	info = resourcecontrol.MakeRequestInfo(req)
	if !info.IsWrite() || info.WriteBytes() != 9 || !info.Bypass() || info.StoreID() != 2 || info.ReplicaNumber() != 1 {
		t.Fatalf("prewrite: write %v bytes %d bypass %v store %d", info.IsWrite(), info.WriteBytes(), info.Bypass(), info.StoreID())
	}
	if info.RequestSource() != "xxx_internal_others" || info.RequestSize() != uint64(prewrite.Size()) {
		t.Fatalf("prewrite: source %q size %d", info.RequestSource(), info.RequestSize())
	}

	// A commit.
	commit := &kvrpcpb.CommitRequest{Keys: [][]byte{[]byte("qux")}}
	req = &tikvrpc.Request{Type: tikvrpc.CmdCommit, Req: commit, ReplicaNumber: 2, Context: kvrpcpb.Context{Peer: &metapb.Peer{StoreId: 3}}}
	info = resourcecontrol.MakeRequestInfo(req)
	if !info.IsWrite() || info.WriteBytes() != 3 || info.Bypass() || info.StoreID() != 3 || info.ReplicaNumber() != 2 {
		t.Fatalf("commit: write %v bytes %d bypass %v store %d", info.IsWrite(), info.WriteBytes(), info.Bypass(), info.StoreID())
	}

	// No peer in the context.
	req = &tikvrpc.Request{Type: tikvrpc.CmdCommit, Req: commit, ReplicaNumber: 2}
	info = resourcecontrol.MakeRequestInfo(req)
	if !info.IsWrite() || info.WriteBytes() != 3 || info.Bypass() || info.StoreID() != 0 {
		t.Fatalf("commit without peer: write %v bytes %d bypass %v store %d", info.IsWrite(), info.WriteBytes(), info.Bypass(), info.StoreID())
	}
}

// Beyond client-go: raw writes are charged what they write, and the other
// transactional writes count as writes of 0 bytes.
func TestMakeRequestInfoRawWrites(t *testing.T) {
	for _, c := range []struct {
		typ  tikvrpc.CmdType
		body any
		want uint64
	}{
		{tikvrpc.CmdRawPut, &kvrpcpb.RawPutRequest{Key: []byte("ab"), Value: []byte("cde")}, 5},
		{tikvrpc.CmdRawBatchPut, &kvrpcpb.RawBatchPutRequest{Pairs: []*kvrpcpb.KvPair{{Key: []byte("a"), Value: []byte("b")}, {Key: []byte("cc"), Value: []byte("dd")}}}, 6},
		{tikvrpc.CmdRawCompareAndSwap, &kvrpcpb.RawCASRequest{Key: []byte("k"), Value: []byte("new"), PreviousValue: []byte("old")}, 4},
		{tikvrpc.CmdRawDelete, &kvrpcpb.RawDeleteRequest{Key: []byte("key")}, 3},
		{tikvrpc.CmdRawBatchDelete, &kvrpcpb.RawBatchDeleteRequest{Keys: [][]byte{[]byte("a"), []byte("bc")}}, 3},
		{tikvrpc.CmdRawDeleteRange, &kvrpcpb.RawDeleteRangeRequest{StartKey: []byte("a"), EndKey: []byte("z")}, 0},
		{tikvrpc.CmdPessimisticLock, &kvrpcpb.PessimisticLockRequest{Mutations: []*kvrpcpb.Mutation{{Key: []byte("k")}}}, 0},
	} {
		info := resourcecontrol.MakeRequestInfo(tikvrpc.NewRequest(c.typ, c.body))
		if !info.IsWrite() || info.WriteBytes() != c.want {
			t.Errorf("%v: write %v bytes %d, want a write of %d", c.typ, info.IsWrite(), info.WriteBytes(), c.want)
		}
	}
	if info := resourcecontrol.MakeRequestInfo(tikvrpc.NewRequest(tikvrpc.CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte("k")})); info.IsWrite() {
		t.Error("RawGet counted as a write")
	}
}

// Port of client-go internal/client TestBypassRUV2FollowsRequestInfoBypass:
// only "internal_others" sources bypass; a background source does not by
// itself (the controller decides that, BackgroundChecker).
func TestBypassRUV2FollowsRequestInfoBypass(t *testing.T) {
	req := tikvrpc.NewRequest(tikvrpc.CmdGet, &kvrpcpb.GetRequest{})
	req.RequestSource = "xxx_internal_others"
	if !resourcecontrol.MakeRequestInfo(req).Bypass() {
		t.Fatal("internal_others not bypassed")
	}
	if resourcecontrol.MakeRequestInfo(tikvrpc.NewRequest(tikvrpc.CmdGet, &kvrpcpb.GetRequest{})).Bypass() {
		t.Fatal("a plain get bypassed")
	}
	bg := tikvrpc.NewRequest(tikvrpc.CmdGet, &kvrpcpb.GetRequest{})
	bg.ResourceControlContext = &kvrpcpb.ResourceControlContext{ResourceGroupName: "rg"}
	bg.RequestSource = "background-task"
	if resourcecontrol.MakeRequestInfo(bg).Bypass() {
		t.Fatal("a background source bypassed by RequestInfo")
	}
}

// Port of client-go TestResponseInfoReadBytes, on a Get (client-go uses a
// coprocessor response, which this client does not send; the scan-detail
// rule is the same): classic TiKV charges the processed versions' size.
func TestResponseInfoReadBytes(t *testing.T) {
	resp := &tikvrpc.Response{Resp: &kvrpcpb.GetResponse{ExecDetailsV2: &kvrpcpb.ExecDetailsV2{
		ScanDetailV2: &kvrpcpb.ScanDetailV2{TotalVersionsSize: 100, ProcessedVersionsSize: 80},
		TimeDetailV2: &kvrpcpb.TimeDetailV2{ProcessWallTimeNs: 1000},
	}}}
	info := resourcecontrol.MakeResponseInfo(resp)
	if info.ReadBytes() != 80 || info.KVCPU() != 1000 || !info.Succeed() || info.ResponseSize() != uint64(resp.GetSize()) {
		t.Fatalf("read %d cpu %v succeed %v size %d", info.ReadBytes(), info.KVCPU(), info.Succeed(), info.ResponseSize())
	}
	// KV CPU from the millisecond time detail when there is no V2 detail.
	resp = &tikvrpc.Response{Resp: &kvrpcpb.BatchGetResponse{ExecDetailsV2: &kvrpcpb.ExecDetailsV2{
		TimeDetail: &kvrpcpb.TimeDetail{ProcessWallTimeMs: 3},
	}}}
	if info := resourcecontrol.MakeResponseInfo(resp); info.KVCPU() != 3*time.Millisecond || info.ReadBytes() != 0 {
		t.Fatalf("batch get: cpu %v read %d", info.KVCPU(), info.ReadBytes())
	}
	// A scan is charged its whole size; raw reads too (beyond client-go).
	scan := &kvrpcpb.ScanResponse{Pairs: []*kvrpcpb.KvPair{{Key: []byte("k"), Value: []byte("value")}}}
	if info := resourcecontrol.MakeResponseInfo(&tikvrpc.Response{Resp: scan}); info.ReadBytes() != uint64(scan.Size()) || info.ReadBytes() == 0 {
		t.Fatalf("scan read %d, want %d", info.ReadBytes(), scan.Size())
	}
	raw := &kvrpcpb.RawGetResponse{Value: []byte("0123456789")}
	if info := resourcecontrol.MakeResponseInfo(&tikvrpc.Response{Resp: raw}); info.ReadBytes() != uint64(raw.Size()) {
		t.Fatalf("raw get read %d, want %d", info.ReadBytes(), raw.Size())
	}
	// Writes and empty responses cost nothing.
	for _, r := range []*tikvrpc.Response{nil, {}, {Resp: &kvrpcpb.PrewriteResponse{}}} {
		if info := resourcecontrol.MakeResponseInfo(r); info.ReadBytes() != 0 || info.KVCPU() != 0 || info.ResponseSize() != 0 {
			t.Fatalf("%v: read %d cpu %v size %d", r, info.ReadBytes(), info.KVCPU(), info.ResponseSize())
		}
	}
}

type nopRC struct{}

func (nopRC) OnRequestWait(context.Context, string, *resourcecontrol.RequestInfo) (resourcecontrol.Admission, error) {
	return resourcecontrol.Admission{}, nil
}

func (nopRC) OnResponse(context.Context, string, *resourcecontrol.RequestInfo, *resourcecontrol.ResponseInfo) (*rmpb.Consumption, time.Duration) {
	return nil, 0
}

func TestKVInterceptorContext(t *testing.T) {
	ctx := context.Background()
	if rc, ok := resourcecontrol.KVInterceptorFromCtx(ctx); rc != nil || ok {
		t.Fatal("empty context binds a KVInterceptor")
	}
	on := resourcecontrol.WithKVInterceptor(ctx, nopRC{})
	if rc, ok := resourcecontrol.KVInterceptorFromCtx(on); rc == nil || !ok {
		t.Fatal("bound KVInterceptor lost")
	}
	off := resourcecontrol.WithKVInterceptor(on, nil)
	if rc, ok := resourcecontrol.KVInterceptorFromCtx(off); rc != nil || !ok {
		t.Fatal("a bound nil must read as bound and nil")
	}
}
