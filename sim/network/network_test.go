package network

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"pgregory.net/rapid"

	"github.com/tikvsim/tikvsim/sim"
)

// world runs body as the main task of a fresh world with a network of nodes
// a, b, c and pd, each answering "echo:<req>" and counting what it served.
func world(t *testing.T, seed uint64, body func(w *sim.World, n *Network, served map[string]int)) uint64 {
	t.Helper()
	w := sim.New(seed, sim.Options{MaxTime: time.Hour})
	n := New(w, Config{Latency: Latency{time.Millisecond, time.Millisecond}})
	served := map[string]int{}
	for _, name := range []string{"a", "b", "c", "pd"} {
		n.AddNode(name, func(_ context.Context, from string, req any) (any, error) {
			served[name]++
			return fmt.Sprintf("echo:%v", req), nil
		})
	}
	w.Spawn("main", func() { body(w, n, served) })
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
	return w.TraceHash()
}

func callT(w *sim.World, n *Network, from, to string, req any) (any, error) {
	ctx, cancel := w.WithDeadline(context.Background(), w.Now().Add(100*time.Millisecond))
	defer cancel()
	return n.Call(ctx, from, to, req)
}

func mustApply(t *testing.T, n *Network, s string) {
	t.Helper()
	f, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Apply(n); err != nil {
		t.Fatal(err)
	}
}

func TestCallRoundTrip(t *testing.T) {
	world(t, 1, func(w *sim.World, n *Network, served map[string]int) {
		start := w.Elapsed()
		resp, err := callT(w, n, "a", "b", "hi")
		if err != nil || resp != "echo:hi" {
			t.Errorf("Call = %v, %v", resp, err)
		}
		if rtt := w.Elapsed() - start; rtt != 2*time.Millisecond {
			t.Errorf("round trip %v, want 2ms", rtt)
		}
	})
}

func TestPartitionBlocksExactlyNamedLinks(t *testing.T) {
	world(t, 2, func(w *sim.World, n *Network, served map[string]int) {
		mustApply(t, n, "partition(a,b|c)")
		reach := func(from, to string) bool {
			_, err := callT(w, n, from, to, "x")
			return err == nil
		}
		cases := []struct {
			from, to string
			want     bool
		}{
			{"a", "b", true}, {"b", "a", true}, {"a", "c", false}, {"c", "a", false},
			{"b", "c", false}, {"c", "b", false}, {"a", "pd", true}, {"c", "pd", true}, {"pd", "c", true},
		}
		for _, c := range cases {
			if got := reach(c.from, c.to); got != c.want {
				t.Errorf("partition(a,b|c): %s->%s reachable=%v, want %v", c.from, c.to, got, c.want)
			}
		}
		mustApply(t, n, "heal")
		for _, c := range cases {
			if !reach(c.from, c.to) {
				t.Errorf("after heal: %s->%s unreachable", c.from, c.to)
			}
		}
	})
}

func TestOneWayAndIsolate(t *testing.T) {
	world(t, 3, func(w *sim.World, n *Network, served map[string]int) {
		mustApply(t, n, "oneway(a->b)")
		if _, err := callT(w, n, "a", "b", 1); !IsUndetermined(err) || served["b"] != 0 {
			t.Errorf("a->b blocked: got %v (b served %d), want undetermined, not served", err, served["b"])
		}
		// b->a requests arrive, but their responses travel a->b and are lost.
		if _, err := callT(w, n, "b", "a", 1); !IsUndetermined(err) || served["a"] != 1 {
			t.Errorf("b->a: got %v (a served %d), want undetermined after a served it", err, served["a"])
		}
		if _, err := callT(w, n, "c", "b", 1); err != nil {
			t.Errorf("c->b: %v", err)
		}
		mustApply(t, n, "heal")
		mustApply(t, n, "isolate(pd)")
		for _, o := range []string{"a", "b", "c"} {
			if _, err := callT(w, n, o, "pd", 1); err == nil {
				t.Errorf("%s reached isolated pd", o)
			}
		}
		if _, err := callT(w, n, "a", "c", 1); err != nil {
			t.Errorf("a->c with pd isolated: %v", err)
		}
	})
}

func TestDuplicatesDeliveredTwice(t *testing.T) {
	world(t, 4, func(w *sim.World, n *Network, served map[string]int) {
		mustApply(t, n, "dup(1)")
		if _, err := callT(w, n, "a", "b", "x"); err != nil {
			t.Fatal(err)
		}
		_ = w.Sleep(context.Background(), 10*time.Millisecond)
		if served["b"] != 2 {
			t.Errorf("served %d times, want 2", served["b"])
		}
	})
}

func TestDropRate(t *testing.T) {
	world(t, 5, func(w *sim.World, n *Network, served map[string]int) {
		mustApply(t, n, "drop(0.3)")
		fails := 0
		const calls = 400
		for range calls {
			if _, err := callT(w, n, "a", "b", "x"); err != nil {
				if !IsUndetermined(err) {
					t.Fatalf("dropped call error %v is not undetermined", err)
				}
				fails++
			}
		}
		// P(request and response both survive) = 0.49.
		if fails < calls*40/100 || fails > calls*62/100 {
			t.Errorf("%d/%d calls failed at drop(0.3), want about 51%%", fails, calls)
		}
		mustApply(t, n, "drop(0)")
		if _, err := callT(w, n, "a", "b", "x"); err != nil {
			t.Errorf("after drop(0): %v", err)
		}
	})
}

func TestDownNodeFailsNotSentAfterTimeout(t *testing.T) {
	world(t, 6, func(w *sim.World, n *Network, served map[string]int) {
		mustApply(t, n, "down(b)")
		start := w.Elapsed()
		ctx := context.Background()
		_, err := n.Call(ctx, "a", "b", "x")
		if !IsNotSent(err) || !errors.Is(err, ErrUnreachable) {
			t.Errorf("got %v, want not-sent unreachable", err)
		}
		if d := w.Elapsed() - start; d != time.Second {
			t.Errorf("failed after %v, want the 1s connect timeout", d)
		}
		if served["b"] != 0 {
			t.Error("down node served a request")
		}
		mustApply(t, n, "up(b)")
		if _, err := callT(w, n, "a", "b", "x"); err != nil {
			t.Errorf("after up: %v", err)
		}
		if _, err := callT(w, n, "a", "nope", "x"); !IsNotSent(err) || !errors.Is(err, ErrUnknownNode) {
			t.Errorf("unknown node: %v", err)
		}
	})
}

func TestCrashMidRequestLosesResponse(t *testing.T) {
	w := sim.New(7, sim.Options{})
	n := New(w, Config{})
	ran := false
	n.AddNode("a", nil)
	n.AddNode("slow", func(ctx context.Context, from string, req any) (any, error) {
		ran = true
		_ = w.Sleep(ctx, time.Second)
		return "late", nil
	})
	w.Spawn("main", func() {
		w.AfterFunc(100*time.Millisecond, func() { _ = n.SetUp("slow", false) })
		_, err := callT(w, n, "a", "slow", "x")
		if !IsUndetermined(err) || !ran {
			t.Errorf("got %v (ran=%v), want undetermined after the request ran", err, ran)
		}
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
}

func TestMessagesTravelByValue(t *testing.T) {
	w := sim.New(8, sim.Options{})
	n := New(w, Config{Latency: Latency{time.Millisecond, time.Millisecond}})
	var got *kvrpcpb.RawPutRequest
	n.AddNode("a", nil)
	n.AddNode("s", func(_ context.Context, _ string, req any) (any, error) {
		got = req.(*kvrpcpb.RawPutRequest)
		return &kvrpcpb.RawPutResponse{}, nil
	})
	w.Spawn("main", func() {
		req := &kvrpcpb.RawPutRequest{Key: []byte("k"), Value: []byte("v1")}
		ctx := context.Background()
		done := w.NewEvent()
		w.Spawn("caller", func() {
			if _, err := n.Call(ctx, "a", "s", req); err != nil {
				t.Error(err)
			}
			done.Fire()
		})
		_ = w.Sleep(ctx, 500*time.Microsecond)
		req.Value[1] = '2' // the sender mutates while the request is in flight
		_ = done.Wait(ctx)
		if string(got.Value) != "v1" {
			t.Errorf("receiver saw %q: sender's mutation leaked", got.Value)
		}
		if got == req {
			t.Error("receiver got the sender's pointer")
		}
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
}

func TestReorder(t *testing.T) {
	world(t, 9, func(w *sim.World, n *Network, served map[string]int) {
		mustApply(t, n, "delay(a->b,1ms-2ms)")
		mustApply(t, n, "reorder(0.5)")
		var order []int
		var recv []string
		_ = n.SetHandler("b", func(_ context.Context, _ string, req any) (any, error) {
			order = append(order, req.(int))
			return nil, nil
		})
		for i := range 50 {
			n.Send("a", "b", i)
		}
		_ = w.Sleep(context.Background(), time.Second)
		if len(order) != 50 {
			t.Fatalf("delivered %d of 50", len(order))
		}
		inversions := 0
		for i := 1; i < len(order); i++ {
			if order[i] < order[i-1] {
				inversions++
			}
		}
		if inversions == 0 {
			t.Errorf("no reordering with reorder(0.5): %v", order)
		}
		_ = recv
	})
}

func TestNetworkDeterminism(t *testing.T) {
	body := func(w *sim.World, n *Network, served map[string]int) {
		mustApply(t, n, "drop(0.1)")
		mustApply(t, n, "dup(0.1)")
		mustApply(t, n, "reorder(0.2)")
		for _, from := range []string{"a", "b", "c"} {
			w.Spawn("client-"+from, func() {
				for i := range 30 {
					_, _ = callT(w, n, from, "pd", i)
				}
			})
		}
	}
	seen := map[uint64]bool{}
	for seed := uint64(1); seed <= 20; seed++ {
		h1, h2 := world(t, seed, body), world(t, seed, body)
		if h1 != h2 {
			t.Fatalf("seed %d: %x != %x", seed, h1, h2)
		}
		if seen[h1] {
			t.Fatalf("seed %d repeats a hash", seed)
		}
		seen[h1] = true
	}
}

func TestParseRoundTrip(t *testing.T) {
	name := rapid.StringMatching(`[a-z][a-z0-9]{0,3}`)
	lat := rapid.Custom(func(t *rapid.T) Latency {
		a := time.Duration(rapid.IntRange(0, 1000).Draw(t, "a")) * time.Microsecond
		b := a + time.Duration(rapid.IntRange(0, 1000).Draw(t, "b"))*time.Microsecond
		return Latency{a, b}
	})
	prob := rapid.Custom(func(t *rapid.T) float64 { return float64(rapid.IntRange(0, 100).Draw(t, "p")) / 100 })
	fault := rapid.OneOf(
		rapid.Custom(func(t *rapid.T) Fault {
			groups := rapid.SliceOfN(rapid.SliceOfN(name, 1, 3), 2, 3).Draw(t, "groups")
			return Partition{groups}
		}),
		rapid.Custom(func(t *rapid.T) Fault { return OneWay{name.Draw(t, "f"), name.Draw(t, "t")} }),
		rapid.Custom(func(t *rapid.T) Fault { return Isolate{name.Draw(t, "n")} }),
		rapid.Just(Fault(Heal{})),
		rapid.Custom(func(t *rapid.T) Fault { return Drop{prob.Draw(t, "p")} }),
		rapid.Custom(func(t *rapid.T) Fault { return Dup{prob.Draw(t, "p")} }),
		rapid.Custom(func(t *rapid.T) Fault { return Reorder{prob.Draw(t, "p")} }),
		rapid.Custom(func(t *rapid.T) Fault { return Delay{Latency: lat.Draw(t, "l")} }),
		rapid.Custom(func(t *rapid.T) Fault { return Delay{name.Draw(t, "f"), name.Draw(t, "t"), lat.Draw(t, "l")} }),
		rapid.Custom(func(t *rapid.T) Fault { return Down{name.Draw(t, "n")} }),
		rapid.Custom(func(t *rapid.T) Fault { return Up{name.Draw(t, "n")} }),
	)
	rapid.Check(t, func(t *rapid.T) {
		f := fault.Draw(t, "fault")
		g, err := Parse(f.String())
		if err != nil {
			t.Fatalf("Parse(%q): %v", f, err)
		}
		if g.String() != f.String() {
			t.Fatalf("round trip %q -> %q", f, g)
		}
	})
}

func TestParseErrors(t *testing.T) {
	for _, s := range []string{
		"", "partition", "partition(a)", "partition(a,|b)", "oneway(a)", "oneway(a->)",
		"isolate(a,b)", "drop(2)", "drop(x)", "dup(-1)", "delay(5ms-1ms)", "delay(a->b)",
		"explode(a)", "down()", "isolate(a b)",
	} {
		if f, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) = %v, want error", s, f)
		}
	}
	fs, err := ParseList("partition(a|b); drop(0.1);heal")
	if err != nil || len(fs) != 3 {
		t.Fatalf("ParseList = %v, %v", fs, err)
	}
	if _, err := ParseList("heal;bogus"); err == nil {
		t.Fatal("ParseList accepted a bad fault")
	}
	world(t, 10, func(w *sim.World, n *Network, served map[string]int) {
		for _, s := range []string{"isolate(zz)", "oneway(a->zz)", "partition(a|zz)", "down(zz)", "delay(a->zz,1ms)"} {
			f, err := Parse(s)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Apply(n); err == nil || !strings.Contains(err.Error(), "zz") {
				t.Errorf("%s applied to a missing node: %v", s, err)
			}
		}
	})
}
