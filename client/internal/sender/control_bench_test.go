package sender_test

import (
	"context"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	rmpb "github.com/pingcap/kvproto/pkg/resource_manager"

	"github.com/tikvsim/tikvsim/client/config/retry"
	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/internal/sender"
	"github.com/tikvsim/tikvsim/client/resourcecontrol"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/tikvrpc/interceptor"
	"github.com/tikvsim/tikvsim/client/util"
)

// answering is an in-process transport that answers at once.
type answering struct{ resp *tikvrpc.Response }

func (a answering) SendRequest(context.Context, string, *tikvrpc.Request, time.Duration) (*tikvrpc.Response, error) {
	return a.resp, nil
}
func (answering) Close() error { return nil }

// oneRegion is a PD edge with one region covering the key space on store 1.
type oneRegion struct{}

var (
	benchRegion = &pdpb.Region{
		Region: &metapb.Region{Id: 2, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1},
			Peers: []*metapb.Peer{{Id: 3, StoreId: 1}}},
		Leader: &metapb.Peer{Id: 3, StoreId: 1},
	}
	benchStore = &metapb.Store{Id: 1, Address: "store1", State: metapb.StoreState_Up}
)

func (oneRegion) GetRegion(context.Context, []byte, bool) (*pdpb.Region, error) {
	return benchRegion, nil
}
func (oneRegion) GetPrevRegion(context.Context, []byte, bool) (*pdpb.Region, error) {
	return benchRegion, nil
}
func (oneRegion) GetRegionByID(context.Context, uint64, bool) (*pdpb.Region, error) {
	return benchRegion, nil
}
func (oneRegion) BatchScanRegions(context.Context, []*pdpb.KeyRange, int, bool) ([]*pdpb.Region, error) {
	return []*pdpb.Region{benchRegion}, nil
}
func (oneRegion) GetStore(context.Context, uint64) (*metapb.Store, error) { return benchStore, nil }
func (oneRegion) GetAllStores(context.Context) ([]*metapb.Store, error) {
	return []*metapb.Store{benchStore}, nil
}

// freeRC admits everything at no cost.
type freeRC struct{}

func (freeRC) OnRequestWait(context.Context, string, *resourcecontrol.RequestInfo) (resourcecontrol.Admission, error) {
	return resourcecontrol.Admission{}, nil
}
func (freeRC) OnResponse(context.Context, string, *resourcecontrol.RequestInfo, *resourcecontrol.ResponseInfo) (*rmpb.Consumption, time.Duration) {
	return nil, 0
}

// BenchmarkSendControl is one Send over an in-process transport, side by
// side: nothing bound to the context (the hot path, which must not pay for
// the features), request settings only, an RPC interceptor, and an
// interceptor plus resource control.
func BenchmarkSendControl(b *testing.B) {
	cache := locate.New(rt.Real, sender.RegionSource(oneRegion{}), locate.Options{})
	s := sender.New(cache, answering{&tikvrpc.Response{Resp: &kvrpcpb.RawGetResponse{Value: []byte("value")}}})
	bg := context.Background()
	loc, err := cache.LocateKey(bg, nil, []byte("key"))
	if err != nil {
		b.Fatal(err)
	}
	pass := interceptor.NewRPCInterceptor("pass", func(next interceptor.RPCInterceptorFunc) interceptor.RPCInterceptorFunc {
		return func(target string, req *tikvrpc.Request) (*tikvrpc.Response, error) { return next(target, req) }
	})
	settings := util.WithResourceGroupTag(util.WithResourceGroupName(util.WithInternalSourceType(bg, "bench"), "rg"), []byte("tag"))
	withIt := interceptor.WithRPCInterceptor(bg, pass)
	withRC := resourcecontrol.WithKVInterceptor(interceptor.WithRPCInterceptor(util.WithResourceGroupName(bg, "rg"), pass), freeRC{})
	for _, c := range []struct {
		name string
		ctx  context.Context
	}{{"none", bg}, {"settings", settings}, {"interceptor", withIt}, {"interceptor+rc", withRC}} {
		b.Run(c.name, func(b *testing.B) {
			env := retry.Env{Clock: rt.Real, Rand: rt.Real.NewRand()}
			b.ReportAllocs()
			for b.Loop() {
				req := tikvrpc.NewRequest(tikvrpc.CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte("key")})
				if _, _, err := s.Send(c.ctx, retry.NewBackoffer(c.ctx, 1000, env), req, loc.Region, time.Second); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
