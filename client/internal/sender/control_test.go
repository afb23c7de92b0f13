package sender_test

// Tests of the request settings, RPC interceptors and resource control the
// sender applies (control.go), against the fake cluster. Ports of client-go
// internal/client client_interceptor_test.go and of the leader part of
// internal/locate TestRetryRequestSource; docs/test-port.md maps them.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	rmpb "github.com/pingcap/kvproto/pkg/resource_manager"

	"github.com/tikvsim/tikvsim/client/internal/apicodec"
	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/internal/sender"
	"github.com/tikvsim/tikvsim/client/resourcecontrol"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/tikverr"
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

// wire is one request as it went onto the simulated network: the typed
// request after the transport attached the context, which the network
// marshals and the store unmarshals.
type wire struct {
	addr string
	typ  tikvrpc.CmdType
	ctx  *kvrpcpb.Context
}

// recorder is a transport wrapper that records what reaches the fake
// stores.
type recorder struct {
	tr   transport.Transport
	mu   sync.Mutex
	sent []wire
}

func (r *recorder) SendRequest(ctx context.Context, addr string, req *tikvrpc.Request, timeout time.Duration) (*tikvrpc.Response, error) {
	resp, err := r.tr.SendRequest(ctx, addr, req, timeout)
	c := req.Req.(interface{ GetContext() *kvrpcpb.Context }).GetContext()
	r.mu.Lock()
	r.sent = append(r.sent, wire{addr, req.Type, proto.Clone(c).(*kvrpcpb.Context)})
	r.mu.Unlock()
	return resp, err
}

func (r *recorder) Close() error { return r.tr.Close() }

func (r *recorder) take() []wire {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.sent
	r.sent = nil
	return out
}

// runRec is run with a recorder between the rewriter and the cluster.
func runRec(t *testing.T, seed uint64, body func(e *env, rec *recorder)) {
	t.Helper()
	w := sim.New(seed, sim.Options{MaxTime: time.Hour})
	net := network.New(w, network.Config{})
	c := cluster.New(w, net, cluster.Config{SplitKeys: [][]byte{[]byte("g"), []byte("p")}})
	r := clock.New(w)
	cache := locate.New(r, sender.RegionSource(c.NewPDClient("app")), locate.Options{})
	rec := &recorder{tr: c.NewTransport("app")}
	tr := &rewriter{tr: rec}
	e := &env{w: w, net: net, c: c, rt: r, cache: cache, tr: tr, s: sender.New(cache, tr), ctx: context.Background()}
	w.Spawn("main", func() {
		defer w.Stop()
		body(e, rec)
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
}

// send sends req to the region of key with ctx and fails the test on an
// error.
func (e *env) send(t *testing.T, ctx context.Context, key string, req *tikvrpc.Request) *tikvrpc.Response {
	t.Helper()
	resp, _, err := e.s.Send(ctx, e.bo(), req, e.locate(t, key).Region, time.Second)
	if err != nil {
		t.Fatalf("send %v: %v", req.Type, err)
	}
	return resp
}

// notLeader returns a NotLeader naming the current leader of key's region:
// the sender resends at once, to the same store.
func notLeader(e *env, key string) *errorpb.Error {
	r, leader := e.c.Region([]byte(key))
	for _, p := range r.Peers {
		if p.StoreId == leader {
			return &errorpb.Error{NotLeader: &errorpb.NotLeader{RegionId: r.Id, Leader: p}}
		}
	}
	panic("no leader")
}

// Port of client-go TestInterceptedClient: an interceptor bound to the
// context runs for the request, which still reaches the store.
func TestInterceptedClient(t *testing.T) {
	runRec(t, 1, func(e *env, rec *recorder) {
		executed := false
		ctx := interceptor.WithRPCInterceptor(e.ctx, interceptor.NewRPCInterceptor("test", func(next interceptor.RPCInterceptorFunc) interceptor.RPCInterceptorFunc {
			return func(target string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
				executed = true
				return next(target, req)
			}
		}))
		e.send(t, ctx, "a", rawPut("a", "1"))
		if !executed {
			t.Fatal("interceptor did not run")
		}
		if sent := rec.take(); len(sent) != 1 || sent[0].typ != tikvrpc.CmdRawPut {
			t.Fatalf("stores received %v", sent)
		}
		resp := e.send(t, e.ctx, "a", rawGet("a"))
		if v := resp.Resp.(*kvrpcpb.RawGetResponse).Value; string(v) != "1" {
			t.Fatalf("read %q after an intercepted put", v)
		}
	})
}

// Port of client-go TestAppendChainedInterceptor, through the sender:
// chains run in order, once per request, and a re-linked name moves last.
func TestAppendChainedInterceptor(t *testing.T) {
	runRec(t, 2, func(e *env, rec *recorder) {
		var executed []int
		mk := func(i int) interceptor.RPCInterceptor {
			return interceptor.NewRPCInterceptor(fmt.Sprint(i), func(next interceptor.RPCInterceptorFunc) interceptor.RPCInterceptorFunc {
				return func(target string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
					executed = append(executed, i)
					return next(target, req)
				}
			})
		}
		check := func(it interceptor.RPCInterceptor, n int, want []int) {
			t.Helper()
			if chain, ok := it.(*interceptor.RPCInterceptorChain); !ok || chain.Len() != n {
				t.Fatalf("%T is not a chain of %d", it, n)
			}
			executed = executed[:0]
			e.send(t, interceptor.WithRPCInterceptor(e.ctx, it), "a", rawGet("a"))
			if !slices.Equal(executed, want) {
				t.Fatalf("executed %v, want %v", executed, want)
			}
			if sent := rec.take(); len(sent) != 1 {
				t.Fatalf("%d sends for one request", len(sent))
			}
		}
		it := mk(0)
		want := []int{0}
		for i := 1; i < 3; i++ {
			it = interceptor.ChainRPCInterceptors(it, mk(i))
			want = append(want, i)
			check(it, i+1, want)
		}
		it2 := interceptor.ChainRPCInterceptors(mk(3), mk(4))
		check(it2, 2, []int{3, 4})
		chain := interceptor.ChainRPCInterceptors(it, it2)
		check(chain, 5, []int{0, 1, 2, 3, 4})
		chain = interceptor.ChainRPCInterceptors(chain, mk(1))
		check(chain, 5, []int{0, 2, 3, 4, 1})
	})
}

// The chain runs exactly once per attempt, around each transport call,
// with the address the attempt goes to; requests without an interceptor in
// their context are not intercepted.
func TestInterceptorOncePerAttempt(t *testing.T) {
	runRec(t, 3, func(e *env, rec *recorder) {
		m := interceptortest.NewMockInterceptorManager()
		var targets []string
		it := interceptor.ChainRPCInterceptors(m.CreateMockInterceptor("count"),
			interceptor.NewRPCInterceptor("target", func(next interceptor.RPCInterceptorFunc) interceptor.RPCInterceptorFunc {
				return func(target string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
					targets = append(targets, target)
					return next(target, req)
				}
			}))
		ctx := interceptor.WithRPCInterceptor(e.ctx, it)
		e.tr.errs = []*errorpb.Error{notLeader(e, "a"), notLeader(e, "a")}
		e.send(t, ctx, "a", rawGet("a"))
		sent := rec.take()
		if len(sent) != 3 || m.BeginCount() != 3 || m.EndCount() != 3 {
			t.Fatalf("%d sends, %d/%d interceptor runs; want 3 of each", len(sent), m.BeginCount(), m.EndCount())
		}
		for i, w := range sent {
			if targets[i] != w.addr {
				t.Fatalf("attempt %d: interceptor saw %q, store %q", i, targets[i], w.addr)
			}
		}
		e.send(t, e.ctx, "a", rawGet("a"))
		if m.BeginCount() != 3 || len(rec.take()) != 1 {
			t.Fatal("a request without an interceptor was intercepted")
		}
	})
}

// What an interceptor returns is what the sender sees from the transport:
// an error is undetermined (a raw write is not retried), a not-sent
// SendError is retried, and an answer without calling next is used as the
// store's.
func TestInterceptorErrorsAndAnswers(t *testing.T) {
	runRec(t, 4, func(e *env, rec *recorder) {
		fail := func(errs ...error) interceptor.RPCInterceptor {
			return interceptor.NewRPCInterceptor("fail", func(next interceptor.RPCInterceptorFunc) interceptor.RPCInterceptorFunc {
				return func(target string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
					if len(errs) > 0 {
						err := errs[0]
						errs = errs[1:]
						return nil, err
					}
					return next(target, req)
				}
			})
		}
		boom := errors.New("boom")
		ctx := interceptor.WithRPCInterceptor(e.ctx, fail(boom))
		_, _, err := e.s.Send(ctx, e.bo(), rawPut("a", "1"), e.locate(t, "a").Region, time.Second)
		if !tikverr.IsErrUndetermined(err) || !errors.Is(err, boom) {
			t.Fatalf("raw put after an interceptor error: %v, want undetermined wrapping boom", err)
		}
		if sent := rec.take(); len(sent) != 0 {
			t.Fatalf("stores received %v", sent)
		}
		// A not-sent refusal is retried (after the store is suspected and
		// the region located again).
		notSent := &transport.SendError{Addr: "x", NotSent: true, Err: boom}
		ctx = interceptor.WithRPCInterceptor(e.ctx, fail(notSent))
		if _, _, err := e.s.SendLocated(ctx, e.bo(), e.s.KeyLocator([]byte("a"), false), time.Second,
			func(*locate.KeyLocation) *tikvrpc.Request { return rawPut("a", "2") }); err != nil {
			t.Fatal(err)
		}
		if sent := rec.take(); len(sent) != 1 {
			t.Fatalf("a not-sent refusal was resent %d times, want 1", len(sent))
		}
		canned := &tikvrpc.Response{Resp: &kvrpcpb.RawGetResponse{Value: []byte("from-interceptor")}}
		ctx = interceptor.WithRPCInterceptor(e.ctx, interceptor.NewRPCInterceptor("answer", func(interceptor.RPCInterceptorFunc) interceptor.RPCInterceptorFunc {
			return func(string, *tikvrpc.Request) (*tikvrpc.Response, error) { return canned, nil }
		}))
		if resp := e.send(t, ctx, "a", rawGet("a")); resp != canned || len(rec.take()) != 0 {
			t.Fatal("the interceptor's answer was not used, or the store was asked too")
		}
		ctx = interceptor.WithRPCInterceptor(e.ctx, interceptor.NewRPCInterceptor("nothing", func(interceptor.RPCInterceptorFunc) interceptor.RPCInterceptorFunc {
			return func(string, *tikvrpc.Request) (*tikvrpc.Response, error) { return nil, nil }
		}))
		if _, _, err := e.s.Send(ctx, e.bo(), rawPut("a", "3"), e.locate(t, "a").Region, time.Second); !tikverr.IsErrUndetermined(err) {
			t.Fatalf("an interceptor answering nothing: %v, want undetermined", err)
		}
	})
}

// Settings bound to the context reach the store in kvrpcpb.Context: the
// request source, the resource group name, the tag, or the tagger's tag; a
// request's own value wins, and a tag wins over a tagger.
func TestContextSettingsReachTheStore(t *testing.T) {
	runRec(t, 5, func(e *env, rec *recorder) {
		taggerRuns := 0
		tagger := func(req *tikvrpc.Request) {
			taggerRuns++
			req.ResourceGroupTag = []byte("tagger-" + req.Type.String())
		}
		ctx := util.WithInternalSourceType(e.ctx, util.InternalTxnGC)
		ctx = util.WithResourceGroupName(ctx, "rg1")
		ctx = util.WithResourceGroupTagger(ctx, tagger)
		e.tr.errs = []*errorpb.Error{notLeader(e, "a")}
		e.send(t, ctx, "a", rawGet("a"))
		sent := rec.take()
		if len(sent) != 2 || taggerRuns != 1 {
			t.Fatalf("%d sends, tagger ran %d times; want 2 and 1", len(sent), taggerRuns)
		}
		for _, w := range sent {
			if w.ctx.RequestSource != "internal_gc" || w.ctx.GetResourceControlContext().GetResourceGroupName() != "rg1" ||
				string(w.ctx.ResourceGroupTag) != "tagger-RawGet" {
				t.Fatalf("store received %v", w.ctx)
			}
		}

		// A tag beats the tagger; the request's own settings beat the context's.
		ctx = util.WithResourceGroupTag(ctx, []byte("ctx-tag"))
		e.send(t, ctx, "a", rawGet("a"))
		if w := rec.take()[0]; string(w.ctx.ResourceGroupTag) != "ctx-tag" || taggerRuns != 1 {
			t.Fatalf("tag+tagger: store received tag %q, tagger ran %d times", w.ctx.ResourceGroupTag, taggerRuns)
		}
		own := &kvrpcpb.ResourceControlContext{ResourceGroupName: "own"}
		req := rawGet("a")
		req.ResourceControlContext = own
		req.RequestSource = "external_mine"
		req.ResourceGroupTag = []byte("own-tag")
		e.send(t, ctx, "a", req)
		w := rec.take()[0]
		if w.ctx.GetResourceControlContext().GetResourceGroupName() != "own" || w.ctx.RequestSource != "external_mine" || string(w.ctx.ResourceGroupTag) != "own-tag" {
			t.Fatalf("own settings: store received %v", w.ctx)
		}

		// Nothing bound, nothing sent.
		e.send(t, e.ctx, "a", rawGet("a"))
		if w := rec.take()[0]; w.ctx.RequestSource != "" || w.ctx.ResourceControlContext != nil || w.ctx.ResourceGroupTag != nil {
			t.Fatalf("no settings: store received %v", w.ctx)
		}
	})
}

// Port of the leader part of client-go TestRetryRequestSource
// (internal/locate/region_request3_test.go): an input request source goes
// out as "leader_<src>", and as "retry_leader_leader_<src>" on a resend;
// a stale read's first send is "stale_leader_<src>".
func TestRetryRequestSource(t *testing.T) {
	runRec(t, 6, func(e *env, rec *recorder) {
		for _, stale := range []bool{false, true} {
			req := rawGet("a")
			req.InputRequestSource = "test"
			first := "leader"
			if stale {
				req.StaleRead = true
				first = "stale_leader"
			}
			e.tr.errs = []*errorpb.Error{notLeader(e, "a"), notLeader(e, "a")}
			e.send(t, e.ctx, "a", req)
			var got []string
			for _, w := range rec.take() {
				got = append(got, w.ctx.RequestSource)
			}
			want := []string{first + "_test", "retry_" + first + "_leader_test", "retry_" + first + "_leader_test"}
			if !slices.Equal(got, want) {
				t.Fatalf("stale=%v: sources %q, want %q", stale, got, want)
			}
		}
	})
}

// recordingRC is a resource controller that records its calls and answers
// with fixed values (client-go's recordingInterceptor).
type recordingRC struct {
	log        []string
	waitCalls  int
	respCalls  int
	reqInfos   []*resourcecontrol.RequestInfo
	respInfos  []*resourcecontrol.ResponseInfo
	admission  resourcecontrol.Admission
	refuse     error
	background bool
}

var recordingRequestConsumption = &rmpb.Consumption{RRU: 11, WRU: 3}

func newRecordingRC() *recordingRC {
	return &recordingRC{admission: resourcecontrol.Admission{
		Consumption: recordingRequestConsumption,
		Penalty:     &rmpb.Consumption{RRU: 0.5},
		Wait:        2 * time.Millisecond,
		Priority:    8,
	}}
}

func (r *recordingRC) OnRequestWait(ctx context.Context, group string, info *resourcecontrol.RequestInfo) (resourcecontrol.Admission, error) {
	r.waitCalls++
	r.log = append(r.log, "wait:"+group)
	r.reqInfos = append(r.reqInfos, info)
	return r.admission, r.refuse
}

func (r *recordingRC) OnResponse(ctx context.Context, group string, info *resourcecontrol.RequestInfo, resp *resourcecontrol.ResponseInfo) (*rmpb.Consumption, time.Duration) {
	r.respCalls++
	r.log = append(r.log, "response:"+group)
	r.respInfos = append(r.respInfos, resp)
	return &rmpb.Consumption{RRU: 1}, time.Millisecond
}

// backgroundRC is a recordingRC with the BackgroundChecker capability.
type backgroundRC struct{ *recordingRC }

func (b backgroundRC) IsBackgroundRequest(ctx context.Context, group, source string) bool {
	b.log = append(b.log, "background?:"+source)
	return b.background
}

// Port of client-go TestSendRequestDoesNotSettleAndKeepsRUDetailsOnTransportFailure:
// a failed send is admitted once, never settled, and its admission charge
// stays in the RU details.
func TestSendRequestDoesNotSettleAndKeepsRUDetailsOnTransportFailure(t *testing.T) {
	runRec(t, 7, func(e *env, rec *recorder) {
		rc := newRecordingRC()
		ru := util.NewRUDetails()
		ctx := util.WithRUDetails(resourcecontrol.WithKVInterceptor(util.WithResourceGroupName(e.ctx, "test-rg"), rc), ru)
		e.tr.sendErrs = []error{&transport.SendError{Addr: "x", Err: errors.New("simulated transport failure")}}
		_, _, err := e.s.Send(ctx, e.bo(), rawPut("a", "1"), e.locate(t, "a").Region, time.Second)
		if !tikverr.IsErrUndetermined(err) {
			t.Fatalf("err %v, want undetermined", err)
		}
		if rc.waitCalls != 1 || rc.respCalls != 0 {
			t.Fatalf("OnRequestWait %d, OnResponse %d; want 1, 0", rc.waitCalls, rc.respCalls)
		}
		if ru.RRU() != recordingRequestConsumption.RRU || ru.WRU() != recordingRequestConsumption.WRU || ru.RUWaitDuration() != 2*time.Millisecond {
			t.Fatalf("RU details %v", ru)
		}
	})
}

// Port of client-go TestSendRequestSettlesOnSuccess, plus what reaches the
// store: the penalty and the group's priority, one admission and one
// settlement per attempt (a region error is a response, and is settled),
// RequestInfo and ResponseInfo from the request and response, and the order
// admission, interceptors, transport, settlement.
func TestSendRequestSettlesOnSuccess(t *testing.T) {
	runRec(t, 8, func(e *env, rec *recorder) {
		rc := newRecordingRC()
		ru := util.NewRUDetails()
		ctx := util.WithResourceGroupName(e.ctx, "test-rg")
		ctx = resourcecontrol.WithKVInterceptor(ctx, rc)
		ctx = util.WithRUDetails(ctx, ru)
		ctx = interceptor.WithRPCInterceptor(ctx, interceptor.NewRPCInterceptor("log", func(next interceptor.RPCInterceptorFunc) interceptor.RPCInterceptorFunc {
			return func(target string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
				rc.log = append(rc.log, "interceptor")
				return next(target, req)
			}
		}))
		e.send(t, ctx, "a", rawPut("a", "value"))
		if rc.waitCalls != 1 || rc.respCalls != 1 {
			t.Fatalf("OnRequestWait %d, OnResponse %d; want 1, 1", rc.waitCalls, rc.respCalls)
		}
		if want := []string{"wait:test-rg", "interceptor", "response:test-rg"}; !slices.Equal(rc.log, want) {
			t.Fatalf("order %v, want %v", rc.log, want)
		}
		w := rec.take()[0]
		rcc := w.ctx.GetResourceControlContext()
		if rcc.GetResourceGroupName() != "test-rg" || rcc.GetOverridePriority() != 8 || rcc.GetPenalty().GetRRU() != 0.5 {
			t.Fatalf("store received resource control context %v", rcc)
		}
		info := rc.reqInfos[0]
		_, leader := e.c.Region([]byte("a"))
		if !info.IsWrite() || info.WriteBytes() != 6 || info.StoreID() != leader || info.RequestSize() == 0 {
			t.Fatalf("request info: write %v bytes %d store %d (leader %d) size %d", info.IsWrite(), info.WriteBytes(), info.StoreID(), leader, info.RequestSize())
		}
		if ru.RRU() != recordingRequestConsumption.RRU+1 || ru.RUWaitDuration() != 3*time.Millisecond {
			t.Fatalf("RU details %v", ru)
		}

		rc.log = nil
		e.tr.errs = []*errorpb.Error{notLeader(e, "a")}
		e.send(t, ctx, "a", rawGet("a"))
		if rc.waitCalls != 3 || rc.respCalls != 3 {
			t.Fatalf("after a retried get: OnRequestWait %d, OnResponse %d; want 3, 3", rc.waitCalls, rc.respCalls)
		}
		if ri := rc.respInfos[2]; ri.ReadBytes() == 0 || rc.reqInfos[2].IsWrite() {
			t.Fatalf("raw get charged %d read bytes, write %v", ri.ReadBytes(), rc.reqInfos[2].IsWrite())
		}
		if len(rec.take()) != 2 {
			t.Fatal("the get was not sent twice")
		}
	})
}

// A request's own priority is kept, and the caller's shared
// ResourceControlContext is not modified by an attempt.
func TestResourceControlKeepsCallersContext(t *testing.T) {
	runRec(t, 9, func(e *env, rec *recorder) {
		rc := newRecordingRC()
		shared := &kvrpcpb.ResourceControlContext{ResourceGroupName: "rg", OverridePriority: 1}
		req := rawGet("a")
		req.ResourceControlContext = shared
		e.send(t, resourcecontrol.WithKVInterceptor(e.ctx, rc), "a", req)
		w := rec.take()[0]
		if w.ctx.GetResourceControlContext().GetOverridePriority() != 1 || w.ctx.GetResourceControlContext().GetPenalty() == nil {
			t.Fatalf("store received %v", w.ctx.GetResourceControlContext())
		}
		if shared.Penalty != nil || shared.OverridePriority != 1 {
			t.Fatalf("the caller's context was modified: %v", shared)
		}
	})
}

// Nothing is charged without a group, for internal_others sources, for
// background requests, or with a nil controller bound; the client-wide
// controller applies unless the context binds one.
func TestResourceControlBypass(t *testing.T) {
	runRec(t, 10, func(e *env, rec *recorder) {
		rc := newRecordingRC()
		ctx := resourcecontrol.WithKVInterceptor(e.ctx, rc)
		e.send(t, ctx, "a", rawGet("a")) // no group
		grouped := util.WithResourceGroupName(ctx, "rg")
		e.send(t, util.WithInternalSourceType(grouped, util.InternalTxnOthers), "a", rawGet("a"))
		if rc.waitCalls != 0 || rc.respCalls != 0 {
			t.Fatalf("charged %d/%d times without a group or for internal_others", rc.waitCalls, rc.respCalls)
		}
		bg := backgroundRC{rc}
		bg.background = true
		e.send(t, util.WithRequestSource(resourcecontrol.WithKVInterceptor(grouped, bg), util.RequestSource{ExplicitRequestSourceType: util.ExplicitTypeBackground}), "a", rawGet("a"))
		if rc.waitCalls != 0 || !slices.Equal(rc.log, []string{"background?:external_unknown_background"}) {
			t.Fatalf("background request: %d admissions, log %v", rc.waitCalls, rc.log)
		}
		wide := newRecordingRC()
		e.s.SetResourceControl(wide)
		defer e.s.SetResourceControl(nil)
		e.send(t, util.WithResourceGroupName(e.ctx, "rg"), "a", rawGet("a"))
		e.send(t, resourcecontrol.WithKVInterceptor(util.WithResourceGroupName(e.ctx, "rg"), nil), "a", rawGet("a"))
		e.send(t, grouped, "a", rawGet("a"))
		if wide.waitCalls != 1 || rc.waitCalls != 1 {
			t.Fatalf("client-wide controller charged %d times, context's %d; want 1, 1", wide.waitCalls, rc.waitCalls)
		}
		rec.take()
	})
}

// A refusal by the controller fails the request without sending or
// retrying it.
func TestResourceControlRefusal(t *testing.T) {
	runRec(t, 11, func(e *env, rec *recorder) {
		rc := newRecordingRC()
		throttled := errors.New("resource group throttled")
		rc.refuse = throttled
		ctx := resourcecontrol.WithKVInterceptor(util.WithResourceGroupName(e.ctx, "rg"), rc)
		loc := e.locate(t, "a")
		_, _, err := e.s.Send(ctx, e.bo(), rawPut("a", "1"), loc.Region, time.Second)
		if !errors.Is(err, throttled) || !transport.IsNotSent(err) || tikverr.IsErrUndetermined(err) {
			t.Fatalf("err %v, want the controller's error, not sent", err)
		}
		if rc.waitCalls != 1 || rc.respCalls != 0 || len(rec.take()) != 0 {
			t.Fatalf("%d admissions, %d settlements; want 1, 0 and no send", rc.waitCalls, rc.respCalls)
		}
		// The store is not suspected and the region stays cached (client-go
		// TestOnSendFailByResourceGroupThrottled).
		if !e.cache.IsValid(e.cache.CachedRegion(loc.Region)) {
			t.Fatal("a refusal invalidated the region")
		}
		rc.refuse = nil
		e.send(t, ctx, "a", rawPut("a", "1"))
		if e.tr.sent != 1 || rc.waitCalls != 2 {
			t.Fatalf("after the refusal: %d sends, %d admissions; want 1, 2", e.tr.sent, rc.waitCalls)
		}
	})
}

// Interceptors and resource control run on the sending task: a run with
// them is as deterministic as one without.
func TestInterceptedRunsAreDeterministic(t *testing.T) {
	run := func(seed uint64) uint64 {
		w := sim.New(seed, sim.Options{MaxTime: time.Hour})
		net := network.New(w, network.Config{})
		c := cluster.New(w, net, cluster.Config{SplitKeys: [][]byte{[]byte("g"), []byte("p")}})
		r := clock.New(w)
		cache := locate.New(r, sender.RegionSource(c.NewPDClient("app")), locate.Options{})
		s := sender.New(cache, c.NewTransport("app"))
		rc := &sleepyRC{clock: r}
		var log []string
		ctx := interceptor.WithRPCInterceptor(util.WithResourceGroupName(context.Background(), "rg"),
			interceptor.NewRPCInterceptor("log", func(next interceptor.RPCInterceptorFunc) interceptor.RPCInterceptorFunc {
				return func(target string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
					log = append(log, target)
					return next(target, req)
				}
			}))
		ctx = resourcecontrol.WithKVInterceptor(ctx, rc)
		e := &env{w: w, rt: r, cache: cache, s: s, ctx: ctx}
		w.Spawn("main", func() {
			defer w.Stop()
			g := rt.NewGroup(r)
			for i := range 4 {
				g.Go(fmt.Sprint("client", i), func() error {
					for j := range 5 {
						key := fmt.Sprintf("%c%d", 'a'+8*i, j)
						loc, err := cache.LocateKey(ctx, nil, []byte(key))
						if err == nil {
							_, _, _ = s.Send(ctx, e.bo(), rawPut(key, "v"), loc.Region, time.Second)
						}
					}
					return nil
				})
			}
			_ = g.Wait(context.Background())
		})
		if err := w.Run(); err != nil {
			panic(err)
		}
		if len(log) != 20 || rc.calls != 20 {
			panic(fmt.Sprintf("%d intercepted sends, %d admissions", len(log), rc.calls))
		}
		return w.TraceHash()
	}
	for seed := uint64(1); seed <= 3; seed++ {
		if a, b := run(seed), run(seed); a != b {
			t.Fatalf("seed %d: trace hashes %x and %x", seed, a, b)
		}
	}
	if run(1) == run(2) {
		t.Fatal("two seeds gave one trace hash")
	}
}

// sleepyRC makes every request wait 1ms of (simulated) time for tokens.
type sleepyRC struct {
	clock interface {
		Sleep(context.Context, time.Duration) error
	}
	calls int
}

func (s *sleepyRC) OnRequestWait(ctx context.Context, _ string, _ *resourcecontrol.RequestInfo) (resourcecontrol.Admission, error) {
	s.calls++
	return resourcecontrol.Admission{Wait: time.Millisecond}, s.clock.Sleep(ctx, time.Millisecond)
}

func (s *sleepyRC) OnResponse(context.Context, string, *resourcecontrol.RequestInfo, *resourcecontrol.ResponseInfo) (*rmpb.Consumption, time.Duration) {
	return nil, 0
}

// SendStore applies the context's settings and interceptors to a
// store-level request, once.
func TestSendStore(t *testing.T) {
	var seen []*tikvrpc.Request
	tr := answering{&tikvrpc.Response{Resp: &kvrpcpb.UnsafeDestroyRangeResponse{}}}
	cache := locate.New(rt.Real, sender.RegionSource(oneRegion{}), locate.Options{})
	s := sender.New(cache, tr)
	ctx := util.WithResourceGroupName(context.Background(), "rg")
	ctx = interceptor.WithRPCInterceptor(ctx, interceptor.NewRPCInterceptor("seen", func(next interceptor.RPCInterceptorFunc) interceptor.RPCInterceptorFunc {
		return func(target string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			seen = append(seen, req)
			return next(target, req)
		}
	}))
	req := tikvrpc.NewRequest(tikvrpc.CmdUnsafeDestroyRange, &kvrpcpb.UnsafeDestroyRangeRequest{StartKey: []byte("a"), EndKey: []byte("b")})
	resp, err := s.SendStore(ctx, "store1", req, time.Second)
	if err != nil || resp.Resp == nil {
		t.Fatalf("SendStore: %v, %v", resp, err)
	}
	if len(seen) != 1 || seen[0].GetResourceGroupName() != "rg" {
		t.Fatalf("interceptor saw %d requests (group %q)", len(seen), seen[0].GetResourceGroupName())
	}
}

// keyTap records the keys of the raw puts that reach the stores.
type keyTap struct {
	tr   transport.Transport
	keys [][]byte
}

func (k *keyTap) SendRequest(ctx context.Context, addr string, req *tikvrpc.Request, timeout time.Duration) (*tikvrpc.Response, error) {
	if p, ok := req.Req.(*kvrpcpb.RawPutRequest); ok {
		k.keys = append(k.keys, p.Key)
	}
	return k.tr.SendRequest(ctx, addr, req, timeout)
}

func (k *keyTap) Close() error { return k.tr.Close() }

// Interceptors run above the API codec, as client-go's interceptedClient
// runs above the RPC client that encodes: they see user keys and decoded
// responses, the stores get keyspace-prefixed keys.
func TestInterceptorSeesUserKeysV2(t *testing.T) {
	runV2(t, 12, func(e *env, codec *apicodec.Codec) {
		tap := &keyTap{tr: e.tr.tr}
		e.tr.tr = tap
		var seenKeys []string
		var seenValue string
		ctx := interceptor.WithRPCInterceptor(e.ctx, interceptor.NewRPCInterceptor("keys", func(next interceptor.RPCInterceptorFunc) interceptor.RPCInterceptorFunc {
			return func(target string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
				switch r := req.Req.(type) {
				case *kvrpcpb.RawPutRequest:
					seenKeys = append(seenKeys, string(r.Key))
				case *kvrpcpb.RawGetRequest:
					seenKeys = append(seenKeys, string(r.Key))
				}
				resp, err := next(target, req)
				if g, ok := resp.Resp.(*kvrpcpb.RawGetResponse); ok && err == nil {
					seenValue = string(g.Value)
				}
				return resp, err
			}
		}))
		loc := e.locate(t, "h")
		if _, _, err := e.s.Send(ctx, e.bo(), tikvrpc.NewRequest(tikvrpc.CmdRawPut, &kvrpcpb.RawPutRequest{Key: []byte("h"), Value: []byte("v")}), loc.Region, time.Second); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.s.Send(ctx, e.bo(), rawGet("h"), loc.Region, time.Second); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(seenKeys, []string{"h", "h"}) || seenValue != "v" {
			t.Fatalf("interceptor saw keys %q, value %q", seenKeys, seenValue)
		}
		if len(tap.keys) != 1 || string(tap.keys[0]) != string(codec.EncodeKey([]byte("h"))) {
			t.Fatalf("store received put keys %q", tap.keys)
		}
	})
}

// countingRC counts admissions and settlements (safe for the sim's tasks:
// they run one at a time).
type countingRC struct{ admitted, settled int }

func (c *countingRC) OnRequestWait(context.Context, string, *resourcecontrol.RequestInfo) (resourcecontrol.Admission, error) {
	c.admitted++
	return resourcecontrol.Admission{Consumption: &rmpb.Consumption{RRU: 1}}, nil
}

func (c *countingRC) OnResponse(context.Context, string, *resourcecontrol.RequestInfo, *resourcecontrol.ResponseInfo) (*rmpb.Consumption, time.Duration) {
	c.settled++
	return &rmpb.Consumption{WRU: 1}, 0
}

// Under message loss, every attempt is admitted and intercepted exactly
// once, only attempts that got a response are settled, and the RU details
// add up to exactly that.
func TestResourceControlUnderLoss(t *testing.T) {
	for seed := uint64(20); seed < 25; seed++ {
		runRec(t, seed, func(e *env, rec *recorder) {
			if err := (network.Drop{P: 0.3}).Apply(e.net); err != nil {
				t.Fatal(err)
			}
			rc := &countingRC{}
			ru := util.NewRUDetails()
			m := interceptortest.NewMockInterceptorManager()
			responses := 0
			count := interceptor.NewRPCInterceptor("responses", func(next interceptor.RPCInterceptorFunc) interceptor.RPCInterceptorFunc {
				return func(target string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
					resp, err := next(target, req)
					if resp != nil {
						responses++
					}
					return resp, err
				}
			})
			ctx := util.WithRUDetails(resourcecontrol.WithKVInterceptor(util.WithResourceGroupName(e.ctx, "rg"), rc), ru)
			ctx = interceptor.WithRPCInterceptor(interceptor.WithRPCInterceptor(ctx, m.CreateMockInterceptor("all")), count)
			for i := range 10 {
				key := fmt.Sprintf("%c", 'a'+2*i)
				_, _, _ = e.s.SendLocated(ctx, e.bo(), e.s.KeyLocator([]byte(key), false), 200*time.Millisecond,
					func(*locate.KeyLocation) *tikvrpc.Request { return rawGet(key) })
			}
			attempts := len(rec.take())
			if attempts <= 10 || responses >= attempts {
				t.Fatalf("seed %d: %d attempts, %d responses: the loss did not bite", seed, attempts, responses)
			}
			if m.BeginCount() != attempts || m.EndCount() != attempts || rc.admitted != attempts || rc.settled != responses {
				t.Fatalf("seed %d: %d attempts, %d responses; interceptor %d/%d, admitted %d, settled %d",
					seed, attempts, responses, m.BeginCount(), m.EndCount(), rc.admitted, rc.settled)
			}
			if ru.RRU() != float64(attempts) || ru.WRU() != float64(responses) {
				t.Fatalf("seed %d: RU details %v", seed, ru)
			}
		})
	}
}
