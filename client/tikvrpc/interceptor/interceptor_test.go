package interceptor_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/tikvrpc/interceptor"
	"github.com/tikvsim/tikvsim/client/tikvrpc/interceptor/interceptortest"
)

// sink is a terminal RPCInterceptorFunc that answers with a canned response
// and records the target and request it received.
type sink struct {
	targets []string
	reqs    []*tikvrpc.Request
	resp    *tikvrpc.Response
}

func (s *sink) send(target string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
	s.targets = append(s.targets, target)
	s.reqs = append(s.reqs, req)
	return s.resp, nil
}

// tracer returns an interceptor named name that appends "name>" before and
// "<name" after the call to log.
func tracer(name string, log *[]string) interceptor.RPCInterceptor {
	return interceptor.NewRPCInterceptor(name, func(next interceptor.RPCInterceptorFunc) interceptor.RPCInterceptorFunc {
		return func(target string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			*log = append(*log, name+">")
			defer func() { *log = append(*log, "<"+name) }()
			return next(target, req)
		}
	})
}

// Port of client-go tikvrpc/interceptor TestInterceptor: a two-link chain
// runs both interceptors once, in link order.
func TestInterceptor(t *testing.T) {
	m := interceptortest.NewMockInterceptorManager()
	it := interceptor.NewRPCInterceptorChain().
		Link(m.CreateMockInterceptor("INTERCEPTOR-1")).
		Link(m.CreateMockInterceptor("INTERCEPTOR-2"))
	s := &sink{}
	if _, err := it.Wrap(s.send)("", nil); err != nil {
		t.Fatal(err)
	}
	if m.BeginCount() != 2 || m.EndCount() != 2 {
		t.Fatalf("begin %d end %d, want 2 2", m.BeginCount(), m.EndCount())
	}
	if got, want := m.ExecLog(), []string{"INTERCEPTOR-1", "INTERCEPTOR-2"}; !slices.Equal(got, want) {
		t.Fatalf("exec log %v, want %v", got, want)
	}
	if len(s.reqs) != 1 {
		t.Fatalf("the wrapped func ran %d times, want 1", len(s.reqs))
	}
}

// The chain is an onion: the first linked sees the request first and the
// response last, and what it passes on is what the next one sees.
func TestChainOnionOrderAndRewrites(t *testing.T) {
	var log []string
	rewrite := interceptor.NewRPCInterceptor("rewrite", func(next interceptor.RPCInterceptorFunc) interceptor.RPCInterceptorFunc {
		return func(target string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			cp := *req
			cp.RequestSource = "rewritten"
			return next(target+"-via-proxy", &cp)
		}
	})
	it := interceptor.ChainRPCInterceptors(tracer("a", &log), rewrite, tracer("b", &log))
	want := &tikvrpc.Response{}
	s := &sink{resp: want}
	orig := &tikvrpc.Request{Type: tikvrpc.CmdRawGet}
	got, err := it.Wrap(s.send)("store1", orig)
	if err != nil || got != want {
		t.Fatalf("got %v, %v; want the sink's response", got, err)
	}
	if w := []string{"a>", "b>", "<b", "<a"}; !slices.Equal(log, w) {
		t.Fatalf("log %v, want %v", log, w)
	}
	if s.targets[0] != "store1-via-proxy" || s.reqs[0].RequestSource != "rewritten" || orig.RequestSource != "" {
		t.Fatalf("sink got target %q source %q; caller's request source %q", s.targets[0], s.reqs[0].RequestSource, orig.RequestSource)
	}
}

// An interceptor may answer without calling next (a fault or a cache).
func TestInterceptorShortCircuits(t *testing.T) {
	canned := &tikvrpc.Response{}
	deny := interceptor.NewRPCInterceptor("deny", func(interceptor.RPCInterceptorFunc) interceptor.RPCInterceptorFunc {
		return func(string, *tikvrpc.Request) (*tikvrpc.Response, error) { return canned, nil }
	})
	s := &sink{}
	got, err := interceptor.ChainRPCInterceptors(deny).Wrap(s.send)("x", &tikvrpc.Request{})
	if err != nil || got != canned || len(s.reqs) != 0 {
		t.Fatalf("got %v %v, sink saw %d requests; want the canned response and no send", got, err, len(s.reqs))
	}
}

// Port of client-go internal/client TestAppendChainedInterceptor (the chain
// half; the sender half is in client/internal/sender): chains of chains
// flatten, and re-linking a name moves it to the end.
func TestAppendChainedInterceptor(t *testing.T) {
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
		chain, ok := it.(*interceptor.RPCInterceptorChain)
		if !ok {
			t.Fatalf("%T is not a chain", it)
		}
		if chain.Len() != n {
			t.Fatalf("chain length %d, want %d", chain.Len(), n)
		}
		executed = executed[:0]
		s := &sink{}
		if _, err := it.Wrap(s.send)("", &tikvrpc.Request{}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(executed, want) {
			t.Fatalf("executed %v, want %v", executed, want)
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
	chain = interceptor.ChainRPCInterceptors(chain, mk(1)) // a duplicate name
	check(chain, 5, []int{0, 2, 3, 4, 1})
	// The arguments were not modified.
	check(it, 3, []int{0, 1, 2})
	check(it2, 2, []int{3, 4})
	if got := chain.Name(); got != "interceptor-chain" {
		t.Fatalf("chain name %q", got)
	}
}

// Contexts nest: an inner WithRPCInterceptor chains after the outer one,
// and a sibling context does not see it.
func TestWithRPCInterceptor(t *testing.T) {
	bg := context.Background()
	if interceptor.GetRPCInterceptorFromCtx(bg) != nil {
		t.Fatal("empty context carries an interceptor")
	}
	var log []string
	outer := interceptor.WithRPCInterceptor(bg, tracer("outer", &log))
	if it := interceptor.GetRPCInterceptorFromCtx(outer); it == nil || it.Name() != "outer" {
		t.Fatalf("outer context carries %v", it)
	}
	inner := interceptor.WithRPCInterceptor(outer, tracer("inner", &log))
	s := &sink{}
	if _, err := interceptor.GetRPCInterceptorFromCtx(inner).Wrap(s.send)("", &tikvrpc.Request{}); err != nil {
		t.Fatal(err)
	}
	if w := []string{"outer>", "inner>", "<inner", "<outer"}; !slices.Equal(log, w) {
		t.Fatalf("log %v, want %v", log, w)
	}
	log = nil
	if _, err := interceptor.GetRPCInterceptorFromCtx(outer).Wrap(s.send)("", &tikvrpc.Request{}); err != nil {
		t.Fatal(err)
	}
	if w := []string{"outer>", "<outer"}; !slices.Equal(log, w) {
		t.Fatalf("outer context ran %v, want %v", log, w)
	}
	// Rebinding a name replaces the earlier interceptor of that name.
	log = nil
	again := interceptor.WithRPCInterceptor(inner, tracer("outer", &log))
	if _, err := interceptor.GetRPCInterceptorFromCtx(again).Wrap(s.send)("", &tikvrpc.Request{}); err != nil {
		t.Fatal(err)
	}
	if w := []string{"inner>", "outer>", "<outer", "<inner"}; !slices.Equal(log, w) {
		t.Fatalf("rebound context ran %v, want %v", log, w)
	}
}

func TestMockInterceptorManagerReset(t *testing.T) {
	var m interceptortest.MockInterceptorManager // the zero value works
	s := &sink{}
	if _, err := m.CreateMockInterceptor("x").Wrap(s.send)("", nil); err != nil {
		t.Fatal(err)
	}
	log := m.ExecLog()
	log[0] = "mutated"
	if m.ExecLog()[0] != "x" {
		t.Fatal("ExecLog returned the manager's own slice")
	}
	m.Reset()
	if m.BeginCount() != 0 || m.EndCount() != 0 || len(m.ExecLog()) != 0 {
		t.Fatalf("after Reset: %d %d %v", m.BeginCount(), m.EndCount(), m.ExecLog())
	}
}
