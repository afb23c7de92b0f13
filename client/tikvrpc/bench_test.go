package tikvrpc

import (
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
)

// BenchmarkAttachContext is the per-send cost of the envelope on the hot
// path: fill region and peer, attach, read the region error back.
func BenchmarkAttachContext(b *testing.B) {
	region := &metapb.Region{Id: 1, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}}
	peer := &metapb.Peer{Id: 2, StoreId: 3}
	resp := &Response{Resp: &kvrpcpb.RawGetResponse{Value: []byte("v")}}
	b.ReportAllocs()
	for b.Loop() {
		req := NewRequest(CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte("k")})
		if err := SetContext(req, region, peer); err != nil {
			b.Fatal(err)
		}
		if e, err := resp.GetRegionError(); e != nil || err != nil {
			b.Fatal(e, err)
		}
	}
}

// BenchmarkToBatchCommandsRequest measures wrapping for the batch stream.
func BenchmarkToBatchCommandsRequest(b *testing.B) {
	req := NewRequest(CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte("k")})
	b.ReportAllocs()
	for b.Loop() {
		if req.ToBatchCommandsRequest() == nil {
			b.Fatal("nil")
		}
	}
}
