package txnkv_test

// Ports of client-go integration_tests/interceptor_test.go,
// resource_group_test.go and resource_tag_test.go (B6), run against the
// fake cluster. client-go sets interceptors, resource group names and tags
// on the transaction (KVTxn.SetRPCInterceptor, SetResourceGroupName,
// SetResourceGroupTag(ger)); here they are bound to the context
// (interceptor.WithRPCInterceptor, util.WithResourceGroupName,
// util.WithResourceGroupTag(ger)), which the request sender reads. The
// assertions are on what the stores received: the typed requests after the
// transport attached their context, as the simulated network carries them.

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	rmpb "github.com/pingcap/kvproto/pkg/resource_manager"

	"github.com/tikvsim/tikvsim/client/resourcecontrol"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/tikvrpc/interceptor"
	"github.com/tikvsim/tikvsim/client/tikvrpc/interceptor/interceptortest"
	"github.com/tikvsim/tikvsim/client/transport"
	"github.com/tikvsim/tikvsim/client/txnkv"
	"github.com/tikvsim/tikvsim/client/util"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

// onWire is one request as the stores received it.
type onWire struct {
	typ tikvrpc.CmdType
	ctx *kvrpcpb.Context
}

// wireTap records every request the client's transport put on the network.
type wireTap struct {
	transport.Transport
	mu   sync.Mutex
	sent []onWire
}

func (w *wireTap) SendRequest(ctx context.Context, addr string, req *tikvrpc.Request, timeout time.Duration) (*tikvrpc.Response, error) {
	resp, err := w.Transport.SendRequest(ctx, addr, req, timeout)
	c := req.Req.(interface{ GetContext() *kvrpcpb.Context }).GetContext()
	w.mu.Lock()
	w.sent = append(w.sent, onWire{req.Type, proto.Clone(c).(*kvrpcpb.Context)})
	w.mu.Unlock()
	return resp, err
}

// take returns and forgets what was sent so far.
func (w *wireTap) take() []onWire {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.sent
	w.sent = nil
	return out
}

// runTapped is run with a wireTap under the client.
func runTapped(t *testing.T, seed uint64, body func(e *env, tap *wireTap)) {
	t.Helper()
	w := sim.New(seed, sim.Options{MaxTime: 2 * time.Hour})
	net := network.New(w, network.Config{})
	c := cluster.New(w, net, cluster.Config{TxnKeys: true, SplitKeys: [][]byte{[]byte("g"), []byte("p")}})
	r := clock.New(w)
	tap := &wireTap{Transport: c.NewTransport("app")}
	cli, err := txnkv.NewClient(txnkv.WithRuntime(r), txnkv.WithTransport(tap), txnkv.WithPD(c.NewPDClient("app")))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{w: w, net: net, c: c, cli: cli, r: r, ctx: context.Background()}
	w.Spawn("main", func() {
		defer w.Stop()
		body(e, tap)
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
}

// Port of client-go TestInterceptor (integration_tests/interceptor_test.go):
// a one-key commit runs the interceptor for its prewrite and its commit, a
// transactional get for its one read.
func TestInterceptorPort(t *testing.T) {
	runTapped(t, 1, func(e *env, tap *wireTap) {
		m := interceptortest.NewMockInterceptorManager()
		txn, err := e.cli.Begin(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		key := k("~interceptor-KEY-1")
		if err := txn.Set(key, []byte("VALUE-1")); err != nil {
			t.Fatal(err)
		}
		if err := txn.Commit(interceptor.WithRPCInterceptor(e.ctx, m.CreateMockInterceptor("INTERCEPTOR-1"))); err != nil {
			t.Fatal(err)
		}
		if m.BeginCount() != 2 || m.EndCount() != 2 || !slices.Equal(m.ExecLog(), []string{"INTERCEPTOR-1", "INTERCEPTOR-1"}) {
			t.Fatalf("commit: begin %d end %d log %v", m.BeginCount(), m.EndCount(), m.ExecLog())
		}
		if got := types(tap.take()); !slices.Equal(got, []tikvrpc.CmdType{tikvrpc.CmdPrewrite, tikvrpc.CmdCommit}) {
			t.Fatalf("stores received %v", got)
		}
		m.Reset()

		txn, err = e.cli.Begin(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		v, err := txn.Get(interceptor.WithRPCInterceptor(e.ctx, m.CreateMockInterceptor("INTERCEPTOR-2")), key)
		if err != nil || string(v) != "VALUE-1" {
			t.Fatalf("get: %q, %v", v, err)
		}
		if m.BeginCount() != 1 || m.EndCount() != 1 || !slices.Equal(m.ExecLog(), []string{"INTERCEPTOR-2"}) {
			t.Fatalf("get: begin %d end %d log %v", m.BeginCount(), m.EndCount(), m.ExecLog())
		}
		if got := types(tap.take()); !slices.Equal(got, []tikvrpc.CmdType{tikvrpc.CmdGet}) {
			t.Fatalf("stores received %v", got)
		}
	})
}

func types(ws []onWire) []tikvrpc.CmdType {
	var out []tikvrpc.CmdType
	for _, w := range ws {
		out = append(out, w.typ)
	}
	return out
}

// readOps are the three reads client-go's resource group tests run: Get,
// BatchGet and Iter, each sending one request.
var readOps = []struct {
	name string
	do   func(e *env, ctx context.Context) error
}{
	{"Get", func(e *env, ctx context.Context) error {
		txn, err := e.cli.Begin(e.ctx)
		if err != nil {
			return err
		}
		_, err = txn.Get(ctx, k("~resource_group-k"))
		if isNotExist(err) {
			err = nil
		}
		return err
	}},
	{"BatchGet", func(e *env, ctx context.Context) error {
		txn, err := e.cli.Begin(e.ctx)
		if err != nil {
			return err
		}
		_, err = txn.BatchGet(ctx, [][]byte{k("~resource_group-k")})
		return err
	}},
	{"Iter", func(e *env, ctx context.Context) error {
		txn, err := e.cli.Begin(e.ctx)
		if err != nil {
			return err
		}
		it, err := txn.Iter(ctx, k("~resource_group-abc"), k("~resource_group-def"))
		if err == nil {
			it.Close()
		}
		return err
	}},
}

// Port of client-go TestResourceGroupName: each read sends one request
// charged to the group.
func TestResourceGroupNamePort(t *testing.T) {
	for _, op := range readOps {
		t.Run(op.name, func(t *testing.T) {
			runTapped(t, 2, func(e *env, tap *wireTap) {
				if err := op.do(e, util.WithResourceGroupName(e.ctx, "test")); err != nil {
					t.Fatal(err)
				}
				sent := tap.take()
				n := 0
				for _, w := range sent {
					if w.ctx.GetResourceControlContext().GetResourceGroupName() == "test" {
						n++
					}
				}
				if n != 1 || len(sent) != 1 {
					t.Fatalf("%d of %d requests charged to the group, want 1 of 1", n, len(sent))
				}
			})
		})
	}
}

// Port of client-go TestResourceGroupTag: a tag, a tagger, and both (the
// tag wins), for each read.
func TestResourceGroupTagPort(t *testing.T) {
	tag1, tag2 := []byte("TEST-TAG-1"), []byte("TEST-TAG-2")
	tagger := tikvrpc.ResourceGroupTagger(func(req *tikvrpc.Request) { req.ResourceGroupTag = tag2 })
	modes := []struct {
		name string
		bind func(context.Context) context.Context
		want []byte
	}{
		{"tag", func(ctx context.Context) context.Context { return util.WithResourceGroupTag(ctx, tag1) }, tag1},
		{"tagger", func(ctx context.Context) context.Context { return util.WithResourceGroupTagger(ctx, tagger) }, tag2},
		{"tag+tagger", func(ctx context.Context) context.Context {
			return util.WithResourceGroupTagger(util.WithResourceGroupTag(ctx, tag1), tagger)
		}, tag1},
	}
	for _, op := range readOps {
		for _, mode := range modes {
			t.Run(op.name+"/"+mode.name, func(t *testing.T) {
				runTapped(t, 3, func(e *env, tap *wireTap) {
					if err := op.do(e, mode.bind(e.ctx)); err != nil {
						t.Fatal(err)
					}
					sent := tap.take()
					if len(sent) != 1 || !bytes.Equal(sent[0].ctx.ResourceGroupTag, mode.want) {
						t.Fatalf("stores received %d requests, tag %q; want 1 tagged %q", len(sent), sent[0].ctx.ResourceGroupTag, mode.want)
					}
				})
			})
		}
	}
}

// chargingRC records what it charged, per command.
type chargingRC struct {
	writes map[tikvrpc.CmdType]uint64
	calls  int
	resps  int
}

func (c *chargingRC) OnRequestWait(_ context.Context, group string, info *resourcecontrol.RequestInfo) (resourcecontrol.Admission, error) {
	c.calls++
	return resourcecontrol.Admission{Consumption: &rmpb.Consumption{WRU: float64(info.WriteBytes())}, Priority: 3}, nil
}

func (c *chargingRC) OnResponse(context.Context, string, *resourcecontrol.RequestInfo, *resourcecontrol.ResponseInfo) (*rmpb.Consumption, time.Duration) {
	c.resps++
	return &rmpb.Consumption{RRU: 1}, 0
}

// Beyond the ports: a transaction's commit carries the resource group, the
// request source and the group's priority to the stores, and the RU it was
// charged (prewrite: key + value + primary; commit: key) lands in the
// RUDetails of its context.
func TestTxnResourceControl(t *testing.T) {
	runTapped(t, 4, func(e *env, tap *wireTap) {
		rc := &chargingRC{}
		ru := util.NewRUDetails()
		ctx := util.WithInternalSourceType(util.WithResourceGroupName(e.ctx, "rg"), util.InternalTxnGC)
		ctx = util.WithRUDetails(resourcecontrol.WithKVInterceptor(ctx, rc), ru)
		txn, err := e.cli.Begin(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := txn.Set(k("key"), []byte("value")); err != nil {
			t.Fatal(err)
		}
		if err := txn.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		sent := tap.take()
		if len(sent) != 2 || rc.calls != 2 || rc.resps != 2 {
			t.Fatalf("%d requests, %d admissions, %d settlements; want 2 each", len(sent), rc.calls, rc.resps)
		}
		for _, w := range sent {
			rcc := w.ctx.GetResourceControlContext()
			if rcc.GetResourceGroupName() != "rg" || rcc.GetOverridePriority() != 3 || w.ctx.RequestSource != "internal_gc" {
				t.Fatalf("%v received %v", w.typ, w.ctx)
			}
		}
		// prewrite "key"+"value"+"key" = 11, commit "key" = 3.
		if ru.WRU() != 14 || ru.RRU() != 2 {
			t.Fatalf("RU details %v, want WRU 14 RRU 2", ru)
		}
	})
}

// A read that meets a dead transaction's lock checks it with requests that
// carry the reader's resource group and request source, as client-go's
// lock resolver takes them from the backoffer's context
// (txnkv/txnlock/lock_resolver.go, util.ResourceGroupNameFromCtx).
func TestLockResolutionCarriesReadersResourceGroup(t *testing.T) {
	runTapped(t, 5, func(e *env, tap *wireTap) {
		start := e.ts(t)
		e.prewriteTxn(t, start, 1, "lk", "lk2") // TTL 1ms: expired by the time it is read
		_ = e.w.Sleep(e.ctx, 10*time.Millisecond)
		ctx := util.WithInternalSourceType(util.WithResourceGroupName(e.ctx, "readers"), util.InternalTxnStats)
		v, err := e.cli.GetSnapshot(e.ts(t)).Get(ctx, k("lk2"))
		if err == nil || !isNotExist(err) {
			t.Fatalf("read of a rolled-back key: %q, %v", v, err)
		}
		sent := tap.take()
		var kinds []tikvrpc.CmdType
		for _, w := range sent {
			kinds = append(kinds, w.typ)
			if w.ctx.GetResourceControlContext().GetResourceGroupName() != "readers" || w.ctx.RequestSource != "internal_stats" {
				t.Fatalf("%v received %v", w.typ, w.ctx)
			}
		}
		if !slices.Contains(kinds, tikvrpc.CmdCheckTxnStatus) {
			t.Fatalf("stores received %v, want the lock's primary checked (CheckTxnStatus)", kinds)
		}
	})
}
