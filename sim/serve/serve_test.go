package serve_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	pdc "github.com/tikv/pd/client"
	"github.com/tikv/pd/client/clients/router"
	"github.com/tikv/pd/client/opt"
	"github.com/tikv/pd/client/pkg/caller"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/tikvsim/tikvsim/client/metrics"
	"github.com/tikvsim/tikvsim/client/pd"
	"github.com/tikvsim/tikvsim/client/rawkv"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	tgrpc "github.com/tikvsim/tikvsim/client/transport/grpc"
	"github.com/tikvsim/tikvsim/client/txnkv"
	"github.com/tikvsim/tikvsim/client/txnkv/transaction"
	"github.com/tikvsim/tikvsim/client/util/codec"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/serve"
)

func start(t *testing.T, cfg serve.Config) *serve.Server {
	t.Helper()
	cfg.Logf = t.Logf
	s, err := serve.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func newPD(t *testing.T, s *serve.Server, opts ...opt.ClientOption) pdc.Client {
	t.Helper()
	// The client lives in ctx: it is cancelled only at cleanup.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c, err := pdc.NewClientWithContext(ctx, caller.Component("tikvsim-serve-test"), []string{s.PDAddr()}, pdc.SecurityOption{}, opts...)
	if err != nil {
		t.Fatalf("pd client: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func enc(k string) []byte { return codec.EncodeBytes(nil, []byte(k)) }

// TestPDClient drives the real github.com/tikv/pd/client against the served
// PD: discovery (GetMembers, GetClusterInfo, health), the TSO stream, region
// lookups unary and through the router's QueryRegion stream, stores with
// their real addresses, GC states, the keyspace, and a PD leader change.
func TestPDClient(t *testing.T) {
	s := start(t, serve.Config{Cluster: cluster.Config{SplitKeys: [][]byte{[]byte("m")}}})
	ctx := ctxT(t)
	for name, c := range map[string]pdc.Client{"unary": newPD(t, s), "router": newPD(t, s, opt.WithEnableRouterClient(true))} {
		t.Run(name, func(t *testing.T) {
			if got, want := c.GetLeaderURL(), "http://"+s.PDAddr(); got != want {
				t.Errorf("leader URL %q, want %q", got, want)
			}
			p1, l1, err := c.GetTS(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if skew := time.Since(time.UnixMilli(p1)); skew < -5*time.Second || skew > 5*time.Second {
				t.Errorf("TSO physical time is %v away from the wall clock", skew)
			}
			p2, l2, err := c.GetTS(ctx)
			if err != nil || pdTS(p2, l2) <= pdTS(p1, l1) {
				t.Errorf("second timestamp %d/%d after %d/%d (%v)", p2, l2, p1, l1, err)
			}
			if pm, lm, err := c.GetMinTS(ctx); err != nil || pdTS(pm, lm) <= pdTS(p2, l2) {
				t.Errorf("GetMinTS %d/%d after %d/%d (%v)", pm, lm, p2, l2, err)
			}

			first, err := c.GetRegion(ctx, enc("a"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first.Meta.EndKey, enc("m")) || len(first.Meta.StartKey) != 0 || first.Leader == nil {
				t.Errorf("GetRegion(a) = %v leader %v, want [-inf, enc(m)) with a leader", first.Meta, first.Leader)
			}
			second, err := c.GetRegion(ctx, enc("x"))
			if err != nil || !bytes.Equal(second.Meta.StartKey, enc("m")) {
				t.Fatalf("GetRegion(x) = %v, %v", second, err)
			}
			if prev, err := c.GetPrevRegion(ctx, enc("x")); err != nil || prev.Meta.Id != first.Meta.Id {
				t.Errorf("GetPrevRegion(x) = %v, %v; want region %d", prev, err, first.Meta.Id)
			}
			if byID, err := c.GetRegionByID(ctx, second.Meta.Id); err != nil || !bytes.Equal(byID.Meta.StartKey, enc("m")) {
				t.Errorf("GetRegionByID(%d) = %v, %v", second.Meta.Id, byID, err)
			}
			rs, err := c.BatchScanRegions(ctx, []router.KeyRange{{StartKey: []byte{}, EndKey: []byte{}}}, 10)
			if err != nil || len(rs) != 2 {
				t.Errorf("BatchScanRegions = %d regions, %v; want 2", len(rs), err)
			}

			stores, err := c.GetAllStores(ctx)
			if err != nil || len(stores) != 3 {
				t.Fatalf("GetAllStores = %v, %v", stores, err)
			}
			for _, st := range stores {
				if want := s.StoreAddrs()[st.Id-1]; st.Address != want {
					t.Errorf("store %d address %q, want %q", st.Id, st.Address, want)
				}
			}
			st, err := c.GetStore(ctx, first.Leader.StoreId)
			if err != nil || st.Address != s.StoreAddrs()[first.Leader.StoreId-1] {
				t.Errorf("GetStore(%d) = %v, %v", first.Leader.StoreId, st, err)
			}

			gcs, err := c.GetGCStatesClient(0).GetGCState(ctx)
			if err != nil {
				t.Errorf("GetGCState: %v", err)
			} else if gcs.TxnSafePoint != 0 || gcs.GCSafePoint != 0 {
				t.Errorf("fresh GC state %+v", gcs)
			}
			ks, err := c.LoadKeyspace(ctx, "DEFAULT")
			if err != nil || ks.GetId() != 0 || ks.GetName() != "DEFAULT" {
				t.Errorf("LoadKeyspace(DEFAULT) = %v, %v", ks, err)
			}
		})
	}

	// Splits and scatters through PD: SplitRegions returns once the split
	// shows in PD's region tree.
	c := newPD(t, s)
	if resp, err := c.SplitRegions(ctx, [][]byte{enc("q")}); err != nil || resp.GetFinishedPercentage() != 100 {
		t.Fatalf("SplitRegions(q) = %v, %v", resp, err)
	}
	q, err := c.GetRegion(ctx, enc("r"))
	if err != nil || !bytes.Equal(q.Meta.StartKey, enc("q")) {
		t.Fatalf("GetRegion(r) after the split = %v, %v", q, err)
	}
	if rs, err := c.ScanRegions(ctx, nil, nil, 10); err != nil || len(rs) != 3 {
		t.Errorf("ScanRegions = %d regions, %v; want 3", len(rs), err)
	}
	if err := c.ScatterRegion(ctx, q.Meta.Id); err != nil {
		t.Errorf("ScatterRegion(%d): %v", q.Meta.Id, err)
	}
	if op, err := c.GetOperator(ctx, q.Meta.Id); err != nil || op.GetRegionId() != q.Meta.Id {
		t.Errorf("GetOperator(%d) = %v, %v", q.Meta.Id, op, err)
	}

	// A PD leader change: the TSO continues above everything handed out.
	p1, l1, err := c.GetTS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Do("pd-leader"); err != nil {
		t.Fatal(err)
	}
	p2, l2, err := c.GetTS(ctx)
	if err != nil || pdTS(p2, l2) <= pdTS(p1, l1) {
		t.Errorf("timestamp after a PD leader change %d/%d, before %d/%d (%v)", p2, l2, p1, l1, err)
	}
	members, err := c.GetAllMembers(ctx)
	if err != nil || len(members.GetMembers()) < 2 || len(members.GetLeader().GetClientUrls()) != 1 {
		t.Errorf("GetAllMembers = %v, %v", members, err)
	}

	// A PD crash: calls fail (the server refuses connections) until the
	// restart, after which the client reconnects and the TSO goes on.
	if _, err := s.Do("pd-crash"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, _, err := c.GetTS(short); err == nil {
		t.Error("GetTS succeeded while PD was down")
	}
	if _, err := s.Do("pd-restart"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(8 * time.Second)
	for {
		p3, l3, err := c.GetTS(ctx)
		if err == nil {
			if pdTS(p3, l3) <= pdTS(p2, l2) {
				t.Errorf("timestamp after a PD restart %d/%d, before %d/%d", p3, l3, p2, l2)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GetTS still fails after the PD restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func pdTS(physical, logical int64) uint64 { return uint64(physical)<<18 | uint64(logical) }

// TestHealthAndMetaStorage: both services PD clients probe answer.
func TestHealthAndMetaStorage(t *testing.T) {
	s := start(t, serve.Config{Stores: 1})
	ctx := ctxT(t)
	for _, addr := range append([]string{s.PDAddr()}, s.StoreAddrs()...) {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health of %s: %v, %v", addr, resp, err)
		}
	}
	cc, err := grpc.NewClient(s.PDAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	mresp, err := pdpb.NewPDClient(cc).GetMembers(ctx, &pdpb.GetMembersRequest{})
	if err != nil || mresp.GetHeader().GetClusterId() == 0 {
		t.Fatalf("GetMembers: %v, %v", mresp, err)
	}
	// A request with a wrong cluster id fails as PD fails it.
	if _, err := pdpb.NewPDClient(cc).GetRegion(ctx, &pdpb.GetRegionRequest{Header: &pdpb.RequestHeader{ClusterId: 42}, RegionKey: []byte("a")}); err == nil {
		t.Error("GetRegion with a wrong cluster id succeeded")
	}
}

// route finds the leader of the region of key (a boundary-space key) and
// its store's address through the real PD client.
func route(ctx context.Context, c pdc.Client, key []byte) (*kvrpcpb.Context, string, error) {
	r, err := c.GetRegion(ctx, key)
	if err != nil {
		return nil, "", err
	}
	if r.Leader == nil {
		return nil, "", fmt.Errorf("region %d has no leader", r.Meta.Id)
	}
	st, err := c.GetStore(ctx, r.Leader.StoreId)
	if err != nil {
		return nil, "", err
	}
	return &kvrpcpb.Context{RegionId: r.Meta.Id, RegionEpoch: r.Meta.RegionEpoch, Peer: r.Leader}, st.Address, nil
}

// TestTransportTxn: this module's gRPC transport, batched (BatchCommands)
// and unary, runs a transaction (prewrite, commit, read) against the
// served stores, routed by the real PD client, across two regions.
func TestTransportTxn(t *testing.T) {
	s := start(t, serve.Config{Cluster: cluster.Config{SplitKeys: [][]byte{[]byte("m")}}})
	ctx := ctxT(t)
	c := newPD(t, s)
	for _, batch := range []bool{true, false} {
		tr, err := tgrpc.New(tgrpc.Options{DisableBatch: !batch})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		send := func(key string, typ tikvrpc.CmdType, req any) *tikvrpc.Response {
			t.Helper()
			kctx, addr, err := route(ctx, c, enc(key))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := tr.SendRequest(ctx, addr, tikvrpc.NewRequest(typ, req, *kctx), 5*time.Second)
			if err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
			if re, _ := resp.GetRegionError(); re != nil {
				t.Fatalf("%s: region error %v", typ, re)
			}
			return resp
		}
		ts := func() uint64 {
			p, l, err := c.GetTS(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return pdTS(p, l)
		}
		suffix := fmt.Sprint(batch)
		keys := []string{"a-" + suffix, "z-" + suffix} // one per region
		start := ts()
		for _, k := range keys {
			resp := send(k, tikvrpc.CmdPrewrite, &kvrpcpb.PrewriteRequest{
				Mutations:    []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte(k), Value: []byte("v" + k)}},
				PrimaryLock:  []byte(keys[0]),
				StartVersion: start, LockTtl: 3000, TxnSize: 2,
			})
			if errs := resp.Resp.(*kvrpcpb.PrewriteResponse).Errors; len(errs) > 0 {
				t.Fatalf("prewrite %s: %v", k, errs)
			}
		}
		commit := ts()
		for _, k := range keys {
			resp := send(k, tikvrpc.CmdCommit, &kvrpcpb.CommitRequest{Keys: [][]byte{[]byte(k)}, StartVersion: start, CommitVersion: commit})
			if e := resp.Resp.(*kvrpcpb.CommitResponse).Error; e != nil {
				t.Fatalf("commit %s: %v", k, e)
			}
		}
		read := ts()
		for _, k := range keys {
			resp := send(k, tikvrpc.CmdGet, &kvrpcpb.GetRequest{Key: []byte(k), Version: read})
			if g := resp.Resp.(*kvrpcpb.GetResponse); g.Error != nil || string(g.Value) != "v"+k {
				t.Errorf("get %s (batch %v) = %q, %v", k, batch, g.Value, g.Error)
			}
		}
		// The old snapshot does not see the writes.
		if g := send(keys[1], tikvrpc.CmdGet, &kvrpcpb.GetRequest{Key: []byte(keys[1]), Version: start}).Resp.(*kvrpcpb.GetResponse); !g.NotFound {
			t.Errorf("snapshot before the commit sees %q", g.Value)
		}
	}

	// A key outside the addressed region is refused as TiKV refuses it.
	kctx, addr, err := route(ctx, c, enc("a"))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	resp, err := tikvpb.NewTikvClient(cc).KvGet(ctx, &kvrpcpb.GetRequest{Context: kctx, Key: []byte("z"), Version: 1})
	if err != nil || resp.GetRegionError().GetKeyNotInRegion() == nil {
		t.Errorf("KvGet of a key outside the region = %v, %v; want KeyNotInRegion", resp, err)
	}
	// The safe ts follows the TSO, and stays below a lock that may commit.
	before, after := uint64(0), uint64(0)
	if p, l, err := c.GetTS(ctx); err == nil {
		before = pdTS(p, l)
	}
	sts, err := tikvpb.NewTikvClient(cc).GetStoreSafeTS(ctx, &kvrpcpb.StoreSafeTSRequest{})
	if p, l, err := c.GetTS(ctx); err == nil {
		after = pdTS(p, l)
	}
	if err != nil || sts.GetSafeTs() <= before || sts.GetSafeTs() >= after {
		t.Errorf("GetStoreSafeTS = %v, %v; want in (%d, %d)", sts, err, before, after)
	}
	// A store-wide range removal, as GC sends it to every store.
	if ud, err := tikvpb.NewTikvClient(cc).UnsafeDestroyRange(ctx, &kvrpcpb.UnsafeDestroyRangeRequest{StartKey: []byte("a-true"), EndKey: []byte("a-true\x00")}); err != nil || ud.GetError() != "" {
		t.Errorf("UnsafeDestroyRange: %v, %v", ud, err)
	}
	if g, err := tikvpb.NewTikvClient(cc).KvGet(ctx, &kvrpcpb.GetRequest{Context: kctx, Key: []byte("a-true"), Version: after}); err != nil || !g.GetNotFound() {
		t.Errorf("KvGet after UnsafeDestroyRange = %v, %v", g, err)
	}
	// A SplitRegion through the store, as client-go's SplitRegion sends it.
	kctxM, addrM, err := route(ctx, c, enc("m"))
	if err != nil {
		t.Fatal(err)
	}
	ccM, err := grpc.NewClient(addrM, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer ccM.Close()
	if sr, err := tikvpb.NewTikvClient(ccM).SplitRegion(ctx, &kvrpcpb.SplitRegionRequest{Context: kctxM, SplitKeys: [][]byte{[]byte("s")}}); err != nil || sr.GetRegionError() != nil || len(sr.GetRegions()) != 2 {
		t.Errorf("SplitRegion(s) = %v, %v", sr, err)
	}
	lockTS := after
	if pw, err := tikvpb.NewTikvClient(cc).KvPrewrite(ctx, &kvrpcpb.PrewriteRequest{Context: kctx, StartVersion: lockTS, LockTtl: 20000, PrimaryLock: []byte("lk"),
		Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte("lk"), Value: []byte("v")}}}); err != nil || pw.GetRegionError() != nil || len(pw.GetErrors()) > 0 {
		t.Fatalf("prewrite: %v, %v", pw, err)
	}
	if sts, err := tikvpb.NewTikvClient(cc).GetStoreSafeTS(ctx, &kvrpcpb.StoreSafeTSRequest{}); err != nil || sts.GetSafeTs() != lockTS-1 {
		t.Errorf("GetStoreSafeTS with a lock at %d = %v, %v; want %d", lockTS, sts, err, lockTS-1)
	}
}

// pdAdapter is a test-only client/pd.Client over the real PD client, so
// this module's rawkv client (region cache, region-error retries) can run
// against the served cluster.
type pdAdapter struct{ c pdc.Client }

func (a pdAdapter) GetTS(ctx context.Context, count uint32) (int64, int64, error) {
	var p, l int64
	var err error
	for range max(count, 1) {
		if p, l, err = a.c.GetTS(ctx); err != nil {
			return 0, 0, err
		}
	}
	return p, l, nil
}

func toPB(r *router.Region) *pdpb.Region {
	if r == nil {
		return nil
	}
	return &pdpb.Region{Region: r.Meta, Leader: r.Leader, PendingPeers: r.PendingPeers, Buckets: r.Buckets}
}

func (a pdAdapter) GetRegion(ctx context.Context, key []byte, _ bool) (*pdpb.Region, error) {
	r, err := a.c.GetRegion(ctx, key)
	return toPB(r), err
}

func (a pdAdapter) GetPrevRegion(ctx context.Context, key []byte, _ bool) (*pdpb.Region, error) {
	r, err := a.c.GetPrevRegion(ctx, key)
	return toPB(r), err
}

func (a pdAdapter) GetRegionByID(ctx context.Context, id uint64, _ bool) (*pdpb.Region, error) {
	r, err := a.c.GetRegionByID(ctx, id)
	return toPB(r), err
}

func (a pdAdapter) BatchScanRegions(ctx context.Context, ranges []*pdpb.KeyRange, limit int, _ bool) ([]*pdpb.Region, error) {
	krs := make([]router.KeyRange, len(ranges))
	for i, r := range ranges {
		krs[i] = router.KeyRange{StartKey: r.StartKey, EndKey: r.EndKey}
	}
	rs, err := a.c.BatchScanRegions(ctx, krs, limit, opt.WithOutputMustContainAllKeyRange())
	out := make([]*pdpb.Region, len(rs))
	for i, r := range rs {
		out[i] = toPB(r)
	}
	return out, err
}

func (a pdAdapter) GetStore(ctx context.Context, id uint64) (*metapb.Store, error) {
	return a.c.GetStore(ctx, id)
}

func (a pdAdapter) GetAllStores(ctx context.Context) ([]*metapb.Store, error) {
	return a.c.GetAllStores(ctx)
}

func (a pdAdapter) Close() {}

var _ pd.Client = pdAdapter{}

// TestRawKVSurvivesActions: this module's rawkv client over the gRPC
// transport and the real PD client keeps writing and reading while Do
// splits and merges regions, transfers leaders, changes the PD leader and
// crashes and restarts a store; every operation succeeds (region errors
// and refused connections retried by the client) and every value reads
// back, except operations in flight to the crashing store, which may end
// undetermined as over a real network.
func TestRawKVSurvivesActions(t *testing.T) {
	s := start(t, serve.Config{RawKeys: true, Cluster: cluster.Config{ElectionTimeout: 200 * time.Millisecond}})
	ctx := ctxT(t)
	tr, err := tgrpc.New(tgrpc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	m, err := metrics.New(prometheus.NewRegistry(), "test")
	if err != nil {
		t.Fatal(err)
	}
	kv, err := rawkv.NewClient(rawkv.WithPD(pdAdapter{newPD(t, s)}), rawkv.WithTransport(tr), rawkv.WithMetrics(m), rawkv.WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()

	var ops, undetermined atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := []byte(fmt.Sprintf("k%02d-%d", (i*7+w*13)%100, w))
				v := []byte(fmt.Sprint(i))
				if err := kv.Put(ctx, k, v); tikverr.IsErrUndetermined(err) {
					undetermined.Add(1) // in flight to the crashing store (the per-attempt timeout of 1s bounds each wait for it)
					continue
				} else if err != nil {
					errs <- fmt.Errorf("put %s: %w", k, err)
					return
				}
				got, err := kv.Get(ctx, k)
				if tikverr.IsErrUndetermined(err) {
					undetermined.Add(1) // a read in flight to the crashing store
					continue
				}
				if err != nil || !bytes.Equal(got, v) {
					errs <- fmt.Errorf("get %s = %q, %v; want %q", k, got, err, v)
					return
				}
				ops.Add(1)
			}
		}()
	}
	waitOps := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for base := ops.Load(); ops.Load() < base+n; {
			if time.Now().After(deadline) {
				t.Fatalf("no progress: %d operations", ops.Load()-base)
			}
			select {
			case err := <-errs:
				t.Fatal(err)
			default:
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitOps(50)
	for _, a := range []string{`split("k30")`, `split("k60")`, `transfer("k10",2)`, `transfer("k70",3)`, `pd-leader`, `merge("k30")`, `crash(2)`, `restart(2)`, `transfer("k40",1)`} {
		out, err := s.Do(a)
		if err != nil {
			t.Fatalf("Do(%s): %v", a, err)
		}
		t.Logf("%s", out)
		waitOps(50)
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	regions, err := s.Regions()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(regions, "\n") + 1; n != 2 {
		t.Errorf("%d regions after two splits and a merge:\n%s", n, regions)
	}
	if !strings.Contains(regions, `["k30", +inf) epoch 3/4 peers 3@s1,5@s2,6@s3 leader s1`) {
		t.Errorf("regions after the actions:\n%s", regions)
	}
	// The client met the topology changes and retried through them.
	notLeader := testutil.ToFloat64(m.RegionErrorCounter("not_leader"))
	epoch := testutil.ToFloat64(m.RegionErrorCounter("epoch_not_match"))
	if notLeader+epoch == 0 {
		t.Error("no NotLeader or EpochNotMatch met: the actions did not reach the client")
	}
	t.Logf("%d operations, %v NotLeader, %v EpochNotMatch retried, %d operations undetermined by the crash", ops.Load(), notLeader, epoch, undetermined.Load())
}

// TestDoErrors: bad actions fail with an ActionError, Close is idempotent
// and Do after Close fails.
func TestDoErrors(t *testing.T) {
	s, err := serve.Start(context.Background(), serve.Config{Stores: 1})
	if err != nil {
		t.Fatal(err)
	}
	var ae *serve.ActionError
	for _, a := range []string{"nonsense", `split("")`, `transfer("a",9)`, "crash(7)"} {
		if _, err := s.Do(a); !errors.As(err, &ae) {
			t.Errorf("Do(%s) = %v, want an ActionError", a, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Do("pd-leader"); err == nil {
		t.Error("Do after Close succeeded")
	}
	if _, err := serve.Start(context.Background(), serve.Config{PDPort: -1}); err == nil {
		t.Error("Start with a bad port succeeded")
	}
}

// TestAPIV2Keyspace: on an API V2 cluster a keyspace created with
// CreateKeyspace is loaded by the real PD client (an API V2 client context
// loads it at startup through keyspacepb LoadKeyspace), and this module's
// rawkv client in that keyspace writes and reads through the served stores.
func TestAPIV2Keyspace(t *testing.T) {
	s := start(t, serve.Config{Cluster: cluster.Config{APIVersion: kvrpcpb.APIVersion_V2}})
	meta, err := s.CreateKeyspace("ks1", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateKeyspace("ks1", true); err == nil {
		t.Error("a second keyspace ks1 was created")
	}
	ctx := ctxT(t)
	pctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c, err := pdc.NewClientWithAPIContext(pctx, pdc.NewAPIContextV2("ks1"), caller.Component("tikvsim-serve-test"), []string{s.PDAddr()}, pdc.SecurityOption{})
	if err != nil {
		t.Fatalf("API V2 pd client in ks1: %v", err)
	}
	t.Cleanup(c.Close)
	got, err := c.LoadKeyspace(ctx, "ks1")
	if err != nil || got.GetId() != meta.GetId() || got.GetId() == 0 {
		t.Fatalf("LoadKeyspace(ks1) = %v, %v; created %v", got, err, meta)
	}
	if _, err := c.LoadKeyspace(ctx, "nope"); err == nil {
		t.Error("LoadKeyspace of a missing keyspace succeeded")
	}

	tr, err := tgrpc.New(tgrpc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	kv, err := rawkv.NewClient(rawkv.WithPD(pdAdapter{c}), rawkv.WithTransport(tr),
		rawkv.WithAPIVersion(kvrpcpb.APIVersion_V2), rawkv.WithKeyspaceMeta(got))
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	for i := range 20 {
		k, v := []byte(fmt.Sprintf("k%02d", i)), []byte(fmt.Sprint(i))
		if err := kv.Put(ctx, k, v); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
		if g, err := kv.Get(ctx, k); err != nil || !bytes.Equal(g, v) {
			t.Fatalf("get %s = %q, %v", k, g, err)
		}
	}
	keys, _, err := kv.Scan(ctx, []byte("k"), []byte("l"), 100)
	if err != nil || len(keys) != 20 {
		t.Errorf("scan in ks1 = %d keys, %v; want 20", len(keys), err)
	}
}

// TestNetworkFaults: Do applies sim/network faults to the links between
// the gRPC clients and the nodes: a delay slows requests by its latency, a
// partition makes them time out, heal restores them.
func TestNetworkFaults(t *testing.T) {
	s := start(t, serve.Config{RawKeys: true, Stores: 1})
	ctx := ctxT(t)
	cc, err := grpc.NewClient(s.StoreAddrs()[0], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	kv := tikvpb.NewTikvClient(cc)
	kctx := &kvrpcpb.Context{RegionId: 2, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}, Peer: &metapb.Peer{Id: 3, StoreId: 1}}
	get := func(ctx context.Context) (time.Duration, error) {
		start := time.Now()
		resp, err := kv.RawGet(ctx, &kvrpcpb.RawGetRequest{Context: kctx, Key: []byte("k")})
		if err == nil && resp.GetRegionError() != nil {
			err = fmt.Errorf("region error %v", resp.GetRegionError())
		}
		return time.Since(start), err
	}
	if _, err := get(ctx); err != nil {
		t.Fatal(err)
	}
	if out, err := s.Do("delay(grpc->store1,100ms-100ms)"); err != nil || out != "delay(grpc->store1,100ms-100ms)" {
		t.Fatalf("Do(delay) = %q, %v", out, err)
	}
	if d, err := get(ctx); err != nil || d < 100*time.Millisecond {
		t.Errorf("RawGet over a 100ms link took %v (%v)", d, err)
	}
	if _, err := s.Do("partition(grpc|store1)"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := get(short); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("RawGet across a partition: %v, want DeadlineExceeded", err)
	}
	for _, f := range []string{"heal", "delay(grpc->store1,0s)"} {
		if _, err := s.Do(f); err != nil {
			t.Fatal(err)
		}
	}
	if d, err := get(ctx); err != nil || d > 90*time.Millisecond {
		t.Errorf("RawGet after heal took %v (%v)", d, err)
	}
	if _, err := s.Do("isolate(nosuchnode)"); err == nil {
		t.Error("a fault on an unknown node was applied")
	}
}

// TestTxnKVBankSurvivesActions: this module's txnkv client (2PC, lock
// resolution, region-error retries) over the gRPC transport and the real PD
// client moves money between accounts while Do splits and merges regions,
// transfers leaders and changes the PD leader; transactions commit (or fail
// cleanly on conflicts) and the total never changes.
func TestTxnKVBankSurvivesActions(t *testing.T) {
	s := start(t, serve.Config{})
	ctx := ctxT(t)
	tr, err := tgrpc.New(tgrpc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	db, err := txnkv.NewClient(txnkv.WithPD(pdAdapter{newPD(t, s)}), txnkv.WithTransport(tr))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const accounts, initial = 10, 100
	acct := func(i int) []byte { return []byte(fmt.Sprintf("acct%d", i)) }
	txn, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range accounts {
		if err := txn.Set(acct(i), []byte(fmt.Sprint(initial))); err != nil {
			t.Fatal(err)
		}
	}
	if err := txn.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	balance := func(txn *transaction.KVTxn, i int) (int, error) {
		v, err := txn.Get(ctx, acct(i))
		if err != nil {
			return 0, err
		}
		var n int
		_, err = fmt.Sscan(string(v), &n)
		return n, err
	}
	var committed, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				from, to := (i+w)%accounts, (i*3+w+1)%accounts
				if from == to {
					continue
				}
				err := func() error {
					txn, err := db.Begin(ctx)
					if err != nil {
						return err
					}
					a, err := balance(txn, from)
					if err == nil {
						var b int
						if b, err = balance(txn, to); err == nil {
							err = txn.Set(acct(from), []byte(fmt.Sprint(a-1)))
							if err == nil {
								err = txn.Set(acct(to), []byte(fmt.Sprint(b+1)))
							}
						}
					}
					if err != nil {
						_ = txn.Rollback()
						return err
					}
					return txn.Commit(ctx)
				}()
				if err != nil {
					failed.Add(1) // write conflicts, mostly
					continue
				}
				committed.Add(1)
			}
		}()
	}
	waitCommits := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for base := committed.Load(); committed.Load() < base+n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no progress: %d commits, %d failures", committed.Load()-base, failed.Load())
			}
		}
	}
	waitCommits(10)
	for _, a := range []string{`split("acct3")`, `split("acct7")`, `transfer("acct1",2)`, `transfer("acct8",3)`, `pd-leader`, `merge("acct3")`} {
		if _, err := s.Do(a); err != nil {
			t.Fatalf("Do(%s): %v", a, err)
		}
		waitCommits(10)
	}
	close(stop)
	wg.Wait()
	txn, err = db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for i := range accounts {
		n, err := balance(txn, i)
		if err != nil {
			t.Fatalf("final read of %s: %v", acct(i), err)
		}
		total += n
	}
	if total != accounts*initial {
		t.Errorf("total %d, want %d", total, accounts*initial)
	}
	t.Logf("%d transfers committed, %d failed", committed.Load(), failed.Load())
}

// TestStartContext: when Start's context is done the world and the
// servers stop: Do fails with ErrClosed, the ports refuse connections, and
// Close still returns cleanly.
func TestStartContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s, err := serve.Start(ctx, serve.Config{Stores: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Do("pd-leader"); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := s.Do("pd-leader"); !errors.Is(err, serve.ErrClosed) {
		t.Errorf("Do after the context ended = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", s.PDAddr(), time.Second); err == nil {
		c.Close()
		t.Error("the PD port still accepts connections after Close")
	}
}
