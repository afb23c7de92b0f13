package txnkv_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvsim/tikvsim/client/config/retry"
	"github.com/tikvsim/tikvsim/client/pd"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/transport"
	"github.com/tikvsim/tikvsim/client/txnkv"
	"github.com/tikvsim/tikvsim/client/util/codec"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

// runCluster is runHooked on a cluster of cfg (TxnKeys is forced on).
func runCluster(t *testing.T, seed uint64, cfg cluster.Config, body func(e *env, h *hookTransport)) {
	t.Helper()
	w := sim.New(seed, sim.Options{MaxTime: 2 * time.Hour})
	net := network.New(w, network.Config{})
	cfg.TxnKeys = true
	c := cluster.New(w, net, cfg)
	r := clock.New(w)
	h := &hookTransport{Transport: c.NewTransport("app")}
	cli, err := txnkv.NewClient(txnkv.WithRuntime(r), txnkv.WithTransport(h), txnkv.WithPD(c.NewPDClient("app")))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{w: w, net: net, c: c, cli: cli, r: r, ctx: context.Background()}
	w.Spawn("main", func() {
		defer w.Stop()
		body(e, h)
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
}

func splitKeys(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// starts returns the start keys of the cluster's regions, decoded.
func (e *env) starts(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, r := range e.c.Regions() {
		out = append(out, decodeBoundary(t, r.StartKey))
	}
	return out
}

// regionStarting returns the id of the region whose start is key.
func (e *env) regionStarting(t *testing.T, key string) uint64 {
	t.Helper()
	r, _ := e.c.Region(k(key))
	if key != "" && decodeBoundary(t, r.StartKey) != key {
		t.Fatalf("no region starts at %q (region %d starts at %q)", key, r.Id, decodeBoundary(t, r.StartKey))
	}
	return r.Id
}

func sameIDs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSplitRegions: SplitRegions groups keys by region, splits each region
// with one SplitRegion RPC, returns the new (left) regions' ids, skips keys
// that already start a region and keeps the data readable.
func TestSplitRegions(t *testing.T) {
	runCluster(t, 31, cluster.Config{SplitKeys: splitKeys("g", "p")}, func(e *env, h *hookTransport) {
		e.commit(t, map[string]string{"a": "1", "d": "2", "h": "3", "m": "4", "z": "5"})
		ids, err := e.cli.SplitRegions(e.ctx, splitKeys("k", "c", "e", "g", "k"), false)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.starts(t); len(got) != 6 || got[1] != "c" || got[2] != "e" || got[3] != "g" || got[4] != "k" || got[5] != "p" {
			t.Fatalf("region starts after split: %q", got)
		}
		// Right derive: the original regions keep [e,g) and [k,p); the new
		// ones are on their left.
		want := []uint64{e.regionStarting(t, ""), e.regionStarting(t, "c"), e.regionStarting(t, "g")}
		if !sameIDs(ids, want) {
			t.Fatalf("new region ids %v, want %v", ids, want)
		}
		if n := len(h.requests(tikvrpc.CmdSplitRegion)); n != 2 {
			t.Fatalf("%d SplitRegion RPCs, want one per region (2)", n)
		}
		for key, want := range map[string]string{"a": "1", "d": "2", "h": "3", "m": "4", "z": "5"} {
			if got := e.get(t, key); got != want {
				t.Fatalf("%s = %q after the split, want %q", key, got, want)
			}
		}
		// Every key now starts a region: nothing to do, no RPC.
		ids, err = e.cli.SplitRegions(e.ctx, splitKeys("c", "e", "k"), false)
		if err != nil || len(ids) != 0 {
			t.Fatalf("second split: %v, %v; want nothing", ids, err)
		}
		if n := len(h.requests(tikvrpc.CmdSplitRegion)); n != 2 {
			t.Fatalf("a split of existing boundaries sent RPCs (%d)", n)
		}
	})
}

// TestSplitRegionsScatter: with scatter, every new region is scattered by
// PD; WaitScatterRegionFinish returns once PD's operator is done, and the
// region is then not in scattering.
func TestSplitRegionsScatter(t *testing.T) {
	runCluster(t, 32, cluster.Config{Stores: 5, Replicas: 3}, func(e *env, h *hookTransport) {
		ids, err := e.cli.SplitRegions(e.ctx, splitKeys("b", "d", "f", "h"), true, txnkv.WithScatterGroup("t1"))
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != 4 {
			t.Fatalf("new regions %v, want 4", ids)
		}
		pdc := e.c.NewPDClient("checker")
		scattered := 0
		for _, id := range ids {
			if err := e.cli.WaitScatterRegionFinish(e.ctx, id, 0); err != nil {
				t.Fatalf("wait scatter %d: %v", id, err)
			}
			in, err := e.cli.CheckRegionInScattering(e.ctx, id)
			if err != nil || in {
				t.Fatalf("region %d in scattering after the wait: %v, %v", id, in, err)
			}
			op, err := pdc.GetOperator(e.ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if op.GetHeader().GetError() == nil {
				if string(op.Desc) != pd.ScatterOperatorDesc || op.Status != pdpb.OperatorStatus_SUCCESS {
					t.Fatalf("region %d operator %s %v after the wait", id, op.Desc, op.Status)
				}
				scattered++
			}
		}
		// Five stores, three replicas: PD must have moved some region.
		if scattered == 0 {
			t.Fatal("no region had a scatter operator")
		}
		// No region was ever scattered: not found is "finished".
		if err := e.cli.WaitScatterRegionFinish(e.ctx, 999999, 1000); err != nil {
			t.Fatalf("wait for a region without operator: %v", err)
		}
		txn, _ := e.cli.Begin(e.ctx)
		_ = txn.Set(k("c"), k("v"))
		if err := txn.Commit(e.ctx); err != nil {
			t.Fatalf("commit after the scatter: %v", err)
		}
	})
}

// TestSplitRegionsWhileScattering: CheckRegionInScattering sees PD's running
// scatter operator until the region's heartbeat reports it done.
func TestSplitRegionsWhileScattering(t *testing.T) {
	runCluster(t, 33, cluster.Config{Stores: 5, Replicas: 3}, func(e *env, h *hookTransport) {
		// Once the split is done (its heartbeats already on the way),
		// heartbeats from the stores are lost: PD's operators keep running.
		h.setHook(func(addr string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			if req.Type != tikvrpc.CmdSplitRegion {
				return nil, nil
			}
			resp, err := h.Transport.SendRequest(e.ctx, addr, req, time.Second)
			if err != nil {
				return resp, err
			}
			// Wait for PD to hear of the new regions.
			pdc := e.c.NewPDClient("checker")
			for _, r := range resp.Resp.(*kvrpcpb.SplitRegionResponse).Regions {
				for {
					if got, _ := pdc.GetRegionByID(e.ctx, r.Id, false); got != nil && got.Region.RegionEpoch.Version == r.RegionEpoch.Version {
						break
					}
					_ = e.w.Sleep(e.ctx, 10*time.Millisecond)
				}
			}
			for _, id := range e.c.StoreIDs() {
				_ = (network.OneWay{From: cluster.StoreNode(id), To: cluster.PDNode}).Apply(e.net)
			}
			return resp, err
		})
		ids, err := e.cli.SplitRegions(e.ctx, splitKeys("e", "m", "t"), true)
		if err != nil || len(ids) != 3 {
			t.Fatalf("split: %v, %v", ids, err)
		}
		// Pick a region PD made a scatter operator for.
		pdc := e.c.NewPDClient("checker")
		var id uint64
		for _, r := range ids {
			op, err := pdc.GetOperator(e.ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			if op.GetHeader().GetError() == nil {
				id = r
			}
		}
		if id == 0 {
			t.Fatalf("PD made no scatter operator for %v", ids)
		}
		ids = []uint64{id}
		in, err := e.cli.CheckRegionInScattering(e.ctx, ids[0])
		if err != nil || !in {
			t.Fatalf("CheckRegionInScattering = %v, %v while PD has not heard back", in, err)
		}
		err = e.cli.WaitScatterRegionFinish(e.ctx, ids[0], 2000)
		var be *retry.BudgetExceededError
		if !errors.As(err, &be) {
			t.Fatalf("wait with a 2s budget while the operator runs: %v", err)
		}
		_ = (network.Heal{}).Apply(e.net)
		if err := e.cli.WaitScatterRegionFinish(e.ctx, ids[0], 0); err != nil {
			t.Fatalf("wait after heal: %v", err)
		}
	})
}

// TestSplitRegionsRegionChanged: the region is split under the request
// (EpochNotMatch): the keys are regrouped on the new regions and split.
func TestSplitRegionsRegionChanged(t *testing.T) {
	runCluster(t, 34, cluster.Config{}, func(e *env, h *hookTransport) {
		once := false
		h.setHook(func(addr string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			if req.Type == tikvrpc.CmdSplitRegion && !once {
				once = true
				if err := e.c.Split(k("f")); err != nil {
					t.Errorf("topology split: %v", err)
				}
			}
			return nil, nil
		})
		ids, err := e.cli.SplitRegions(e.ctx, splitKeys("c", "m"), false)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.starts(t); len(got) != 4 || got[1] != "c" || got[2] != "f" || got[3] != "m" {
			t.Fatalf("region starts %q", got)
		}
		want := []uint64{e.regionStarting(t, ""), e.regionStarting(t, "f")}
		if !sameIDs(ids, want) {
			t.Fatalf("new regions %v, want %v", ids, want)
		}
		if n := len(h.requests(tikvrpc.CmdSplitRegion)); n < 2 {
			t.Fatalf("%d SplitRegion RPCs: the stale one was not resent", n)
		}
	})
}

// TestSplitRegionsStoreCrash: the leader's store crashes as the split is
// sent; the sender retries on the new leader after the election.
func TestSplitRegionsStoreCrash(t *testing.T) {
	runCluster(t, 35, cluster.Config{}, func(e *env, h *hookTransport) {
		_, leader := e.c.Region(k("q"))
		once := false
		h.setHook(func(addr string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			if req.Type == tikvrpc.CmdSplitRegion && !once {
				once = true
				_ = e.c.CrashStore(leader)
			}
			return nil, nil
		})
		ids, err := e.cli.SplitRegions(e.ctx, splitKeys("q"), false)
		if err != nil || len(ids) != 1 {
			t.Fatalf("split across a crash: %v, %v", ids, err)
		}
		if _, l := e.c.Region(k("q")); l == leader {
			t.Fatalf("region still led by crashed store %d", leader)
		}
		if got := e.starts(t); len(got) != 2 || got[1] != "q" {
			t.Fatalf("region starts %q", got)
		}
	})
}

// TestSplitRegionsScatterFails: PD goes away after the split; the scatter
// fails within the budget, and the regions split are still returned.
func TestSplitRegionsScatterFails(t *testing.T) {
	runCluster(t, 36, cluster.Config{}, func(e *env, h *hookTransport) {
		h.setHook(func(addr string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			if req.Type != tikvrpc.CmdSplitRegion {
				return nil, nil
			}
			resp, err := h.Transport.SendRequest(e.ctx, addr, req, time.Second)
			e.c.CrashPD()
			return resp, err
		})
		ids, err := e.cli.SplitRegions(e.ctx, splitKeys("q"), true)
		if len(ids) != 1 || ids[0] != e.regionStarting(t, "") {
			t.Fatalf("split ids %v", ids)
		}
		var timeout *tikverr.ErrPDServerTimeout
		if !errors.As(err, &timeout) {
			t.Fatalf("scatter with PD down: %v, want a PD server timeout", err)
		}
		// Without the capability there is no scatter at all.
		cli, _ := txnkv.NewClient(txnkv.WithRuntime(e.r), txnkv.WithTransport(h), txnkv.WithPD(struct{ pd.Client }{e.c.NewPDClient("bare")}))
		if _, err := cli.SplitRegions(e.ctx, splitKeys("x"), true); !errors.Is(err, txnkv.ErrScatterUnsupported) {
			t.Fatalf("scatter without the PD capability: %v", err)
		}
		if err := cli.WaitScatterRegionFinish(e.ctx, 1, 0); !errors.Is(err, txnkv.ErrScatterUnsupported) {
			t.Fatalf("wait without the PD capability: %v", err)
		}
	})
}

// TestSplitStaleEpoch ports it/split TestStaleEpoch: after a split with PD
// gone, reads still find both halves, from the regions EpochNotMatch
// carries.
func TestSplitStaleEpoch(t *testing.T) {
	runCluster(t, 37, cluster.Config{}, func(e *env, h *hookTransport) {
		e.commit(t, map[string]string{"stale_a": "a", "stale_c": "c"})
		txn, err := e.cli.Begin(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Warm the cache with the one region, then split it and stop PD.
		if _, err := txn.Get(e.ctx, k("stale_a")); err != nil {
			t.Fatal(err)
		}
		if err := e.c.Split(k("stale_b")); err != nil {
			t.Fatal(err)
		}
		e.c.CrashPD()
		for key, want := range map[string]string{"stale_a": "a", "stale_c": "c"} {
			v, err := txn.Get(e.ctx, k(key))
			if err != nil || string(v) != want {
				t.Fatalf("Get(%s) with PD down after a split = %q, %v", key, v, err)
			}
		}
	})
}

// TestSplitBatchGetAcrossSplits ports it/split TestBatchGetUsingAsyncAPI
// (this client has one batch-get path): BatchGet over two regions, over a
// region split without the cache knowing, over a lock, and with a send
// failure injected.
func TestSplitBatchGetAcrossSplits(t *testing.T) {
	runCluster(t, 38, cluster.Config{}, func(e *env, h *hookTransport) {
		keys := splitKeys("a", "b", "c")
		e.commit(t, map[string]string{"a": "a", "c": "c"})
		check := func(what string) {
			t.Helper()
			m, err := e.cli.GetSnapshot(e.ts(t)).BatchGet(e.ctx, keys)
			if err != nil || len(m) != 2 || string(m["a"]) != "a" || string(m["c"]) != "c" {
				t.Fatalf("%s: BatchGet = %q, %v", what, m, err)
			}
		}
		if err := e.c.Split(k("b")); err != nil {
			t.Fatal(err)
		}
		check("split at b")
		// Split at c: the cached region [b, +inf) is stale.
		if err := e.c.Split(k("c")); err != nil {
			t.Fatal(err)
		}
		check("split at c, cache stale")
		// A lock on a, from a transaction whose primary is a and which will
		// be rolled back once it expires.
		e.prewriteOnly(t, 100, "a")
		check("lock on a")
		// One send fails as a timeout.
		failed := false
		h.setHook(func(addr string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			if req.Type == tikvrpc.CmdBatchGet && !failed {
				failed = true
				return nil, &transport.SendError{Addr: addr, Err: context.DeadlineExceeded}
			}
			return nil, nil
		})
		check("send timeout")
		if !failed {
			t.Fatal("the send failure was not injected")
		}
	})
}

// decodeBoundary maps a region boundary of the TxnKeys cluster back to the
// user key.
func decodeBoundary(t *testing.T, b []byte) string {
	t.Helper()
	if len(b) == 0 {
		return ""
	}
	_, key, err := codec.DecodeBytes(b, nil)
	if err != nil {
		t.Fatalf("boundary %x: %v", b, err)
	}
	return string(key)
}
