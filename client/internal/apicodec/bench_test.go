package apicodec

import (
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
)

// BenchmarkEncodeDecodeRawGet is the codec's share of one raw Get.
func BenchmarkEncodeDecodeRawGet(b *testing.B) {
	for _, name := range []string{"v1", "v2"} {
		b.Run(name, func(b *testing.B) {
			c, _ := NewCodecV1(ModeRaw)
			if name == "v2" {
				c, _ = NewCodecV2(ModeRaw, idMeta(7))
			}
			req := tikvrpc.NewRequest(tikvrpc.CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte("key")})
			b.ReportAllocs()
			for b.Loop() {
				enc, err := c.EncodeRequest(req)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.DecodeResponse(enc, &tikvrpc.Response{Resp: &kvrpcpb.RawGetResponse{}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRegionKey measures the region cache's key conversions.
func BenchmarkRegionKey(b *testing.B) {
	c, _ := NewCodecV2(ModeTxn, idMeta(7))
	key := []byte("some-user-key-0001")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.DecodeRegionKey(c.EncodeRegionKey(key)); err != nil {
			b.Fatal(err)
		}
	}
}
