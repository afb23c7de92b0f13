package interceptortest_test

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/tikvrpc/interceptor"
	"github.com/tikvsim/tikvsim/client/tikvrpc/interceptor/interceptortest"
)

// TestMockInterceptorManager: chained mock interceptors record their
// begins in chain order and their ends, also when the call fails; the log
// is a copy; Reset clears everything; concurrent calls are all counted.
func TestMockInterceptorManager(t *testing.T) {
	var m interceptortest.MockInterceptorManager // the zero value is ready
	boom := errors.New("boom")
	var fail bool
	call := interceptor.ChainRPCInterceptors(m.CreateMockInterceptor("outer"), m.CreateMockInterceptor("inner")).
		Wrap(func(target string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			if got := m.BeginCount(); got%2 != 0 || m.EndCount() != got-2 {
				t.Errorf("inside the chain: %d begins, %d ends", got, m.EndCount())
			}
			if fail {
				return nil, boom
			}
			return &tikvrpc.Response{}, nil
		})
	if _, err := call("store1", &tikvrpc.Request{}); err != nil {
		t.Fatal(err)
	}
	fail = true
	if _, err := call("store1", &tikvrpc.Request{}); !errors.Is(err, boom) {
		t.Fatalf("failing call: %v", err)
	}
	if m.BeginCount() != 4 || m.EndCount() != 4 {
		t.Fatalf("%d begins, %d ends; want 4, 4", m.BeginCount(), m.EndCount())
	}
	log := m.ExecLog()
	if !slices.Equal(log, []string{"outer", "inner", "outer", "inner"}) {
		t.Fatalf("log %v", log)
	}
	log[0] = "changed"
	if m.ExecLog()[0] != "outer" {
		t.Fatal("ExecLog returned the manager's own slice")
	}
	m.Reset()
	if m.BeginCount() != 0 || m.EndCount() != 0 || len(m.ExecLog()) != 0 {
		t.Fatal("Reset left records")
	}

	n := interceptortest.NewMockInterceptorManager()
	one := n.CreateMockInterceptor("x").Wrap(func(string, *tikvrpc.Request) (*tikvrpc.Response, error) { return nil, nil })
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				_, _ = one("s", &tikvrpc.Request{})
			}
		}()
	}
	wg.Wait()
	if n.BeginCount() != 400 || n.EndCount() != 400 || len(n.ExecLog()) != 400 {
		t.Fatalf("concurrent: %d begins, %d ends, %d logged", n.BeginCount(), n.EndCount(), len(n.ExecLog()))
	}
}
