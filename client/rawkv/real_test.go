package rawkv_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvsim/tikvsim/client/rawkv"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
)

// threePD is a PD edge with regions [, g), [g, p), [p, ) on store 1.
type threePD struct{ onePD }

var threeRegions = func() []*pdpb.Region {
	bounds := [][]byte{nil, []byte("g"), []byte("p"), nil}
	var out []*pdpb.Region
	for i := range 3 {
		id := uint64(10 + i)
		out = append(out, &pdpb.Region{
			Region: &metapb.Region{Id: id, StartKey: bounds[i], EndKey: bounds[i+1],
				RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}, Peers: []*metapb.Peer{{Id: id + 100, StoreId: 1}}},
			Leader: &metapb.Peer{Id: id + 100, StoreId: 1},
		})
	}
	return out
}()

func regionOf(key []byte) *pdpb.Region {
	for _, r := range threeRegions {
		if bytes.Compare(key, r.Region.StartKey) >= 0 && (len(r.Region.EndKey) == 0 || bytes.Compare(key, r.Region.EndKey) < 0) {
			return r
		}
	}
	return nil
}

func (threePD) GetRegion(_ context.Context, key []byte, _ bool) (*pdpb.Region, error) {
	return regionOf(key), nil
}
func (threePD) GetRegionByID(_ context.Context, id uint64, _ bool) (*pdpb.Region, error) {
	return threeRegions[id-10], nil
}
func (threePD) BatchScanRegions(context.Context, []*pdpb.KeyRange, int, bool) ([]*pdpb.Region, error) {
	return threeRegions, nil
}

// echoTransport answers raw batch gets and batch scans from the request
// itself (every key exists with its own name as value), after a short real
// sleep so that the batch tasks overlap.
type echoTransport struct{}

func (echoTransport) SendRequest(_ context.Context, _ string, req *tikvrpc.Request, _ time.Duration) (*tikvrpc.Response, error) {
	time.Sleep(time.Millisecond) // a real transport's latency (real runtime only)
	switch q := req.Req.(type) {
	case *kvrpcpb.RawBatchGetRequest:
		r := &kvrpcpb.RawBatchGetResponse{}
		for _, k := range q.Keys {
			r.Pairs = append(r.Pairs, &kvrpcpb.KvPair{Key: k, Value: k})
		}
		return &tikvrpc.Response{Resp: r}, nil
	case *kvrpcpb.RawBatchScanRequest:
		r := &kvrpcpb.RawBatchScanResponse{}
		for _, kr := range q.Ranges {
			r.Kvs = append(r.Kvs, &kvrpcpb.KvPair{Key: kr.StartKey, Value: kr.StartKey})
		}
		return &tikvrpc.Response{Resp: r}, nil
	case *kvrpcpb.RawBatchPutRequest:
		return &tikvrpc.Response{Resp: &kvrpcpb.RawBatchPutResponse{}}, nil
	}
	return &tikvrpc.Response{Resp: &kvrpcpb.RawGetResponse{NotFound: true}}, nil
}
func (echoTransport) Close() error { return nil }

// TestParallelBatchesRealRuntime runs batch operations split over three
// regions on the real runtime, where the per-region tasks are goroutines:
// run it with -race.
func TestParallelBatchesRealRuntime(t *testing.T) {
	cli, err := rawkv.NewClient(rawkv.WithRuntime(rt.Real), rawkv.WithTransport(echoTransport{}), rawkv.WithPD(threePD{}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	keys := [][]byte{k("a"), k("h"), k("q"), k("b"), k("z")}
	got, err := cli.BatchGet(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	for i := range keys {
		if !bytes.Equal(got[i], keys[i]) {
			t.Fatalf("BatchGet[%d] = %q", i, got[i])
		}
	}
	if err := cli.BatchPut(ctx, keys, keys); err != nil {
		t.Fatal(err)
	}
	res, err := cli.BatchScan(ctx, []rawkv.KeyRange{{k("a"), k("b")}, {k("h"), k("i")}, {k("q"), k("r")}}, 1)
	if err != nil || len(res) != 3 || string(res[1][0].Key) != "h" || string(res[2][0].Key) != "q" {
		t.Fatalf("BatchScan = %v, %v", res, err)
	}
	if err := cli.Close(); err != nil {
		t.Fatal(err)
	}
}
