package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvsim/tikvsim/client/pd"
)

func (e *env) pdCall(msg any) (any, error) {
	ctx, cancel := e.w.WithDeadline(context.Background(), e.w.Now().Add(3*time.Second))
	defer cancel()
	return e.net.Call(ctx, "client", PDNode, msg)
}

// TestScatterManyRegions: a ScatterRegion RPC to PD makes PD issue scatter
// operators, and the cluster moves each region's peers and leader to PD's
// targets (conf_ver grows when the peer set changes).
func TestScatterManyRegions(t *testing.T) {
	cfg := Config{Stores: 5, Replicas: 3, SplitKeys: [][]byte{[]byte("b"), []byte("d"), []byte("f"), []byte("h")}}
	run(t, 41, cfg, func(e *env) {
		before := map[uint64]uint64{}
		var ids []uint64
		for _, r := range e.c.Regions() {
			ids = append(ids, r.Id)
			before[r.Id] = r.RegionEpoch.ConfVer
		}
		resp, err := e.pdCall(&pdpb.ScatterRegionRequest{Header: e.c.pdHeader(), RegionsId: ids, Group: "g"})
		if err != nil {
			t.Fatal(err)
		}
		if h := resp.(*pdpb.ScatterRegionResponse).GetHeader().GetError(); h != nil {
			t.Fatalf("scatter: %v", h)
		}
		e.sleep(100 * time.Millisecond) // the pd-ops task runs the operators
		scattered := 0
		for _, line := range e.c.Log() {
			i := strings.Index(line, "scatter region ")
			if i < 0 {
				continue
			}
			scattered++
			var id uint64
			var peers string
			if _, err := fmt.Sscanf(line[i:], "scatter region %d to %s", &id, &peers); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			found := false
			for _, reg := range e.c.Regions() {
				if reg.Id != id {
					continue
				}
				found = true
				var got []string
				for _, p := range reg.Peers {
					got = append(got, fmt.Sprintf("%d@s%d", p.Id, p.StoreId))
				}
				if strings.Join(got, ",") != peers {
					t.Errorf("region %d peers %v, scatter logged %s", id, got, peers)
				}
				if reg.RegionEpoch.ConfVer < before[id] {
					t.Errorf("region %d conf_ver went back", id)
				}
				if l := e.c.Leader(id); l == 0 || func() bool {
					for _, p := range reg.Peers {
						if p.StoreId == l {
							return false
						}
					}
					return true
				}() {
					t.Errorf("region %d leader %d not among peers %v", id, l, got)
				}
			}
			if !found {
				t.Errorf("scattered region %d is gone", id)
			}
		}
		if scattered == 0 {
			t.Fatalf("no region scattered over 5 stores; log %v", e.c.Log())
		}
		// Leaders now sit on more than one store.
		leaders := map[uint64]bool{}
		for _, id := range ids {
			leaders[e.c.Leader(id)] = true
		}
		if len(leaders) < 2 {
			t.Fatalf("leaders on %v after scatter", leaders)
		}
	})
}

// TestPDNodeRefusals: the PD node answers a message it has no RPC for, and
// requests with a wrong cluster id, with errors.
func TestPDNodeRefusals(t *testing.T) {
	run(t, 42, Config{}, func(e *env) {
		if _, err := e.pdCall("hello"); err == nil || !strings.Contains(err.Error(), "PD cannot serve") {
			t.Fatalf("unknown message: %v", err)
		}
		bad := &pdpb.RequestHeader{ClusterId: e.c.pdHeader().ClusterId + 1}
		if _, err := e.pdCall(PrevRegionRequest{&pdpb.GetRegionRequest{Header: bad, RegionKey: []byte("z")}}); err == nil {
			t.Fatal("GetPrevRegion with a wrong cluster id answered")
		}
		if _, err := e.pdCall(&pdpb.GetRegionRequest{Header: bad, RegionKey: []byte("z")}); err == nil {
			t.Fatal("GetRegion with a wrong cluster id answered")
		}
		if e.c.PD() == nil || e.c.Network() != e.net {
			t.Fatal("accessors")
		}
	})
}

// TestPDClientFailures: every PDClient call fails while PD is down, and
// GetStore of an unknown store is pd.ErrStoreNotFound.
func TestPDClientFailures(t *testing.T) {
	run(t, 43, Config{}, func(e *env) {
		p := e.c.NewPDClient("app")
		ctx := context.Background()
		if _, err := p.GetStore(ctx, 99); !errors.Is(err, pd.ErrStoreNotFound) {
			t.Fatalf("GetStore(99): %v", err)
		}
		e.c.CrashPD()
		calls := map[string]func() error{
			"GetTS":            func() error { _, _, err := p.GetTS(ctx, 1); return err },
			"GetRegion":        func() error { _, err := p.GetRegion(ctx, []byte("a"), false); return err },
			"GetPrevRegion":    func() error { _, err := p.GetPrevRegion(ctx, []byte("z"), false); return err },
			"GetRegionByID":    func() error { _, err := p.GetRegionByID(ctx, 2, false); return err },
			"BatchScanRegions": func() error { _, err := p.BatchScanRegions(ctx, []*pdpb.KeyRange{{}}, 10, false); return err },
			"GetStore":         func() error { _, err := p.GetStore(ctx, 1); return err },
			"GetAllStores":     func() error { _, err := p.GetAllStores(ctx); return err },
		}
		for _, name := range []string{"GetTS", "GetRegion", "GetPrevRegion", "GetRegionByID", "BatchScanRegions", "GetStore", "GetAllStores"} {
			if err := calls[name](); err == nil {
				t.Errorf("%s answered while PD is down", name)
			} else if errors.Is(err, pd.ErrStoreNotFound) {
				t.Errorf("%s: PD down reported as store not found: %v", name, err)
			}
		}
		if _, err := e.c.CreateKeyspace("ks", false); err == nil {
			t.Error("CreateKeyspace while PD is down")
		}
		e.c.RestartPD()
		if _, _, err := p.GetTS(ctx, 1); err != nil {
			t.Fatalf("GetTS after restart: %v", err)
		}
		m, err := e.c.CreateKeyspace("ks", true)
		if err != nil || m.GetName() != "ks" || m.GetId() == 0 {
			t.Fatalf("CreateKeyspace: %v %v", m, err)
		}
		if _, err := e.c.CreateKeyspace("ks", true); err == nil {
			t.Error("CreateKeyspace of an existing name")
		}
	})
}

// TestCrashDropsLockWaiters: a store crash loses the shared engine's lock
// waiters, and a request parked on one is answered with an abort instead of
// waiting out its timeout.
func TestCrashDropsLockWaiters(t *testing.T) {
	run(t, 44, Config{TxnKeys: true}, func(e *env) {
		lock := func(start uint64) *kvrpcpb.PessimisticLockResponse {
			ctx, leader := e.ctxFor("k")
			resp, err := e.call(leader, &kvrpcpb.PessimisticLockRequest{Context: ctx, StartVersion: start, ForUpdateTs: start,
				PrimaryLock: []byte("k"), LockTtl: 20000, WaitTimeout: 2000,
				Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_PessimisticLock, Key: []byte("k")}}})
			if err != nil {
				t.Fatalf("lock %d: %v", start, err)
			}
			return resp.(*kvrpcpb.PessimisticLockResponse)
		}
		if r := lock(10); len(r.Errors) > 0 {
			t.Fatalf("first lock: %v", r.Errors)
		}
		_, leader := e.ctxFor("k")
		other := leader%3 + 1
		e.w.AfterFunc(20*time.Millisecond, func() { _ = e.c.CrashStore(other) })
		start := e.w.Elapsed()
		r := lock(20)
		if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Abort, "dropped by restart") {
			t.Fatalf("parked lock after a crash: %v", r)
		}
		if waited := e.w.Elapsed() - start; waited > time.Second {
			t.Fatalf("waited %v: the drop should answer at once", waited)
		}
	})
}

// TestBootAndActionEdges: an empty initial split key is skipped, duplicates
// are merged, and malformed actions are refused with a reason.
func TestBootAndActionEdges(t *testing.T) {
	run(t, 45, Config{SplitKeys: [][]byte{{}, []byte("m"), []byte("m")}}, func(e *env) {
		if n := len(e.c.Regions()); n != 2 {
			t.Fatalf("%d regions, want 2", n)
		}
		// One initial split: the empty key skipped, the duplicate merged.
		if l := e.c.Log(); len(l) != 1 || !strings.Contains(l[0], `split("m")`) {
			t.Fatalf("log at boot: %v", l)
		}
		if err := e.c.Split([]byte("f")); err != nil {
			t.Fatal(err)
		}
		if l := e.c.Log(); len(l) != 2 || !strings.Contains(l[1], `split("f")`) {
			t.Fatalf("log after split: %v", l)
		}
		if e.c.Leader(12345) != 0 {
			t.Fatal("leader of an unknown region")
		}
	})
	for _, tc := range []struct{ in, why string }{
		{`transfer(k,2)`, "quoted key"},
		{`transfer("k",x)`, "bad store id"},
		{`transfer("k",0)`, "bad store id"},
		{`busy()`, "bad store id"},
		{`merge(k)`, "quoted key"},
		{`tso-jump(soon)`, "positive duration"},
		{`split("k"`, "bad action"},
	} {
		_, err := ParseAction(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("ParseAction(%s) = %v, want an error about %q", tc.in, err, tc.why)
		}
	}
}
