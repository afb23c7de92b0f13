package rawkv_test

// Interceptors, resource group settings and resource control on raw KV,
// which client-go's raw client does not have (its RawKVClient bypasses the
// interceptedClient): the same context-bound settings as for transactions,
// asserted on what the stores received.

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	rmpb "github.com/pingcap/kvproto/pkg/resource_manager"

	"github.com/tikvsim/tikvsim/client/rawkv"
	"github.com/tikvsim/tikvsim/client/resourcecontrol"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/tikvrpc/interceptor"
	"github.com/tikvsim/tikvsim/client/tikvrpc/interceptor/interceptortest"
	"github.com/tikvsim/tikvsim/client/transport"
	"github.com/tikvsim/tikvsim/client/util"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

// rawWire is one request as the stores received it.
type rawWire struct {
	typ tikvrpc.CmdType
	ctx *kvrpcpb.Context
}

// rawTap records every request the client's transport put on the network,
// after the transport attached its context.
type rawTap struct {
	transport.Transport
	mu   sync.Mutex
	sent []rawWire
}

func (w *rawTap) SendRequest(ctx context.Context, addr string, req *tikvrpc.Request, timeout time.Duration) (*tikvrpc.Response, error) {
	resp, err := w.Transport.SendRequest(ctx, addr, req, timeout)
	c := req.Req.(interface{ GetContext() *kvrpcpb.Context }).GetContext()
	w.mu.Lock()
	w.sent = append(w.sent, rawWire{req.Type, proto.Clone(c).(*kvrpcpb.Context)})
	w.mu.Unlock()
	return resp, err
}

func (w *rawTap) take() []rawWire {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.sent
	w.sent = nil
	return out
}

func runRawTapped(t *testing.T, seed uint64, body func(e *env, tap *rawTap)) {
	t.Helper()
	w := sim.New(seed, sim.Options{MaxTime: 2 * time.Hour})
	net := network.New(w, network.Config{})
	c := cluster.New(w, net, cluster.Config{SplitKeys: [][]byte{[]byte("g"), []byte("p")}})
	tap := &rawTap{Transport: c.NewTransport("app")}
	cli, err := rawkv.NewClient(rawkv.WithRuntime(clock.New(w)), rawkv.WithTransport(tap),
		rawkv.WithPD(c.NewPDClient("app")), rawkv.WithTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	w.Spawn("main", func() {
		defer w.Stop()
		body(&env{w: w, net: net, c: c, cli: cli, ctx: context.Background()}, tap)
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
}

// An interceptor bound to the context sees every raw request, once per
// region it is sent to; requests without one are not intercepted.
func TestRawInterceptor(t *testing.T) {
	runRawTapped(t, 1, func(e *env, tap *rawTap) {
		m := interceptortest.NewMockInterceptorManager()
		ctx := interceptor.WithRPCInterceptor(e.ctx, m.CreateMockInterceptor("raw"))
		keys := [][]byte{[]byte("a"), []byte("h"), []byte("q")} // three regions
		if err := e.cli.BatchPut(ctx, keys, [][]byte{[]byte("1"), []byte("2"), []byte("3")}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.cli.Scan(ctx, []byte("a"), nil, 10); err != nil {
			t.Fatal(err)
		}
		sent := tap.take()
		if m.BeginCount() != len(sent) || m.EndCount() != len(sent) || len(sent) < 4 {
			t.Fatalf("%d requests sent, interceptor ran %d/%d times", len(sent), m.BeginCount(), m.EndCount())
		}
		if _, err := e.cli.Get(e.ctx, []byte("a")); err != nil {
			t.Fatal(err)
		}
		if m.BeginCount() != len(sent) || len(tap.take()) != 1 {
			t.Fatal("a request without an interceptor was intercepted")
		}
	})
}

// rawRC charges raw writes their bytes.
type rawRC struct {
	mu     sync.Mutex
	groups []string
	bytes  uint64
	reads  uint64
}

func (r *rawRC) OnRequestWait(_ context.Context, group string, info *resourcecontrol.RequestInfo) (resourcecontrol.Admission, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.groups = append(r.groups, group)
	r.bytes += info.WriteBytes()
	return resourcecontrol.Admission{Consumption: &rmpb.Consumption{WRU: float64(info.WriteBytes())}}, nil
}

func (r *rawRC) OnResponse(_ context.Context, _ string, _ *resourcecontrol.RequestInfo, resp *resourcecontrol.ResponseInfo) (*rmpb.Consumption, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads += resp.ReadBytes()
	return &rmpb.Consumption{RRU: float64(resp.ReadBytes())}, 0
}

// Resource group name, tag and request source bound to the context reach
// the stores with every raw request, and raw writes and reads are charged
// what they write and read.
func TestRawResourceGroupSettings(t *testing.T) {
	runRawTapped(t, 2, func(e *env, tap *rawTap) {
		rc := &rawRC{}
		ru := util.NewRUDetails()
		ctx := util.WithResourceGroupTag(util.WithResourceGroupName(e.ctx, "raw-rg"), []byte("raw-tag"))
		ctx = util.WithRequestSource(ctx, util.RequestSource{RequestSourceType: "import", ExplicitRequestSourceType: util.ExplicitTypeLightning})
		ctx = util.WithRUDetails(resourcecontrol.WithKVInterceptor(ctx, rc), ru)
		if err := e.cli.Put(ctx, []byte("key"), []byte("value")); err != nil {
			t.Fatal(err)
		}
		if err := e.cli.BatchPut(ctx, [][]byte{[]byte("b"), []byte("x")}, [][]byte{[]byte("12"), []byte("345")}); err != nil {
			t.Fatal(err)
		}
		v, err := e.cli.Get(ctx, []byte("key"))
		if err != nil || string(v) != "value" {
			t.Fatalf("get %q, %v", v, err)
		}
		if err := e.cli.Delete(ctx, []byte("key")); err != nil {
			t.Fatal(err)
		}
		sent := tap.take()
		if len(sent) != 5 {
			t.Fatalf("%d requests, want 5 (put, 2 batch puts, get, delete)", len(sent))
		}
		for _, w := range sent {
			if w.ctx.GetResourceControlContext().GetResourceGroupName() != "raw-rg" || string(w.ctx.ResourceGroupTag) != "raw-tag" ||
				w.ctx.RequestSource != "external_import_lightning" {
				t.Fatalf("%v received %v", w.typ, w.ctx)
			}
		}
		// put 3+5, batch puts 1+2 and 1+3, delete 3
		if rc.bytes != 18 || ru.WRU() != 18 || !slices.Equal(rc.groups, []string{"raw-rg", "raw-rg", "raw-rg", "raw-rg", "raw-rg"}) {
			t.Fatalf("charged %d write bytes (RU details %v), groups %v", rc.bytes, ru, rc.groups)
		}
		if rc.reads == 0 || ru.RRU() != float64(rc.reads) {
			t.Fatalf("charged %d read bytes, RU details %v", rc.reads, ru)
		}
	})
}
