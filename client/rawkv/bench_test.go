package rawkv_test

import (
	"context"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvsim/tikvsim/client/pd"
	"github.com/tikvsim/tikvsim/client/rawkv"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

// noopTransport answers every request with a canned RawGetResponse, in
// process: what is left is the client's own hot path (locate from the
// cache, backoffer, request envelope, codec, context, response decoding).
type noopTransport struct{ resp *tikvrpc.Response }

func (n noopTransport) SendRequest(context.Context, string, *tikvrpc.Request, time.Duration) (*tikvrpc.Response, error) {
	return n.resp, nil
}
func (noopTransport) Close() error { return nil }

// onePD is a PD edge with one region covering the key space on store 1.
type onePD struct{}

var (
	oneRegion = &pdpb.Region{
		Region: &metapb.Region{Id: 2, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1},
			Peers: []*metapb.Peer{{Id: 3, StoreId: 1}}},
		Leader: &metapb.Peer{Id: 3, StoreId: 1},
	}
	oneStore = &metapb.Store{Id: 1, Address: "store1", State: metapb.StoreState_Up}
)

func (onePD) GetTS(context.Context, uint32) (int64, int64, error) { return 1, 0, nil }
func (onePD) GetRegion(context.Context, []byte, bool) (*pdpb.Region, error) {
	return oneRegion, nil
}
func (onePD) GetPrevRegion(context.Context, []byte, bool) (*pdpb.Region, error) {
	return oneRegion, nil
}
func (onePD) GetRegionByID(context.Context, uint64, bool) (*pdpb.Region, error) {
	return oneRegion, nil
}
func (onePD) BatchScanRegions(context.Context, []*pdpb.KeyRange, int, bool) ([]*pdpb.Region, error) {
	return []*pdpb.Region{oneRegion}, nil
}
func (onePD) GetStore(context.Context, uint64) (*metapb.Store, error) { return oneStore, nil }
func (onePD) GetAllStores(context.Context) ([]*metapb.Store, error) {
	return []*metapb.Store{oneStore}, nil
}
func (onePD) Close() {}

var _ pd.Client = onePD{}

// BenchmarkGetNoopTransport is rawkv.Get over an in-process transport that
// answers at once: the client-side cost of locate + send + decode.
func BenchmarkGetNoopTransport(b *testing.B) {
	tr := noopTransport{&tikvrpc.Response{Resp: &kvrpcpb.RawGetResponse{Value: []byte("value")}}}
	cli, err := rawkv.NewClient(rawkv.WithRuntime(rt.Real), rawkv.WithTransport(tr), rawkv.WithPD(onePD{}))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	key := []byte("key")
	if _, err := cli.Get(ctx, key); err != nil { // warm the region cache
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cli.Get(ctx, key); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetSimulator is rawkv.Get against the fake cluster on the
// simulated network and clock: the above plus the simulator's scheduling,
// network delivery and the fake store's work, per operation.
func BenchmarkGetSimulator(b *testing.B) {
	w := sim.New(1, sim.Options{MaxTime: 1000 * time.Hour})
	net := network.New(w, network.Config{})
	c := cluster.New(w, net, cluster.Config{SplitKeys: [][]byte{[]byte("g"), []byte("p")}})
	cli, err := rawkv.NewClient(rawkv.WithRuntime(clock.New(w)), rawkv.WithTransport(c.NewTransport("app")), rawkv.WithPD(c.NewPDClient("app")))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	key := []byte("key")
	w.Spawn("bench", func() {
		defer w.Stop()
		if err := cli.Put(ctx, key, []byte("value")); err != nil {
			b.Error(err)
			return
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if _, err := cli.Get(ctx, key); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if err := w.Run(); err != nil {
		b.Fatal(err)
	}
}
