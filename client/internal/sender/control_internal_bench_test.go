package sender

import (
	"context"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	rmpb "github.com/pingcap/kvproto/pkg/resource_manager"

	"github.com/tikvsim/tikvsim/client/resourcecontrol"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/tikvrpc/interceptor"
	"github.com/tikvsim/tikvsim/client/util"
)

type instant struct{ resp *tikvrpc.Response }

func (i instant) SendRequest(context.Context, string, *tikvrpc.Request, time.Duration) (*tikvrpc.Response, error) {
	return i.resp, nil
}
func (instant) Close() error { return nil }

type zeroRC struct{}

func (zeroRC) OnRequestWait(context.Context, string, *resourcecontrol.RequestInfo) (resourcecontrol.Admission, error) {
	return resourcecontrol.Admission{}, nil
}
func (zeroRC) OnResponse(context.Context, string, *resourcecontrol.RequestInfo, *resourcecontrol.ResponseInfo) (*rmpb.Consumption, time.Duration) {
	return nil, 0
}

// BenchmarkAttemptControl isolates what control.go adds to one attempt
// (prepare + call) over the bare transport call (send), side by side.
func BenchmarkAttemptControl(b *testing.B) {
	s := &Sender{tr: instant{&tikvrpc.Response{Resp: &kvrpcpb.RawGetResponse{}}}}
	req := tikvrpc.NewRequest(tikvrpc.CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte("key")})
	bg := context.Background()
	pass := interceptor.NewRPCInterceptor("pass", func(next interceptor.RPCInterceptorFunc) interceptor.RPCInterceptorFunc {
		return func(target string, req *tikvrpc.Request) (*tikvrpc.Response, error) { return next(target, req) }
	})
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = s.send(bg, "store1", req, time.Second)
		}
	})
	for _, c := range []struct {
		name string
		ctx  context.Context
	}{
		{"none", bg},
		{"interceptor", interceptor.WithRPCInterceptor(bg, pass)},
		{"interceptor+rc", resourcecontrol.WithKVInterceptor(interceptor.WithRPCInterceptor(util.WithResourceGroupName(bg, "rg"), pass), zeroRC{})},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ctl := s.prepare(c.ctx, req)
				_, _ = s.call(c.ctx, &ctl, "store1", req, time.Second)
			}
		})
	}
}
