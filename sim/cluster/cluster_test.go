package cluster

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/network"
)

type env struct {
	t   *testing.T
	w   *sim.World
	net *network.Network
	c   *Cluster
}

// run boots a 3-store cluster split at "m" and runs body as the main task.
func run(t *testing.T, seed uint64, cfg Config, body func(e *env)) uint64 {
	t.Helper()
	w := sim.New(seed, sim.Options{MaxTime: time.Hour})
	net := network.New(w, network.Config{})
	if cfg.SplitKeys == nil {
		cfg.SplitKeys = [][]byte{[]byte("m")}
	}
	c := New(w, net, cfg)
	net.AddNode("client", nil)
	e := &env{t: t, w: w, net: net, c: c}
	w.Spawn("main", func() {
		defer w.Stop() // also when body fails the test with Goexit
		body(e)
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
	return w.TraceHash()
}

// ctxFor builds the request context a well-informed client would send for
// key: the region's id, epoch and leader peer.
func (e *env) ctxFor(key string) (*kvrpcpb.Context, uint64) {
	r, leader := e.c.Region([]byte(key))
	var peer *metapb.Peer
	for _, p := range r.Peers {
		if p.StoreId == leader {
			peer = p
		}
	}
	return &kvrpcpb.Context{RegionId: r.Id, RegionEpoch: r.RegionEpoch, Peer: peer}, leader
}

func (e *env) call(store uint64, req any) (any, error) {
	ctx, cancel := e.w.WithDeadline(context.Background(), e.w.Now().Add(3*time.Second))
	defer cancel()
	return e.net.Call(ctx, "client", StoreNode(store), req)
}

func (e *env) sleep(d time.Duration) { _ = e.w.Sleep(context.Background(), d) }

func regionError(resp any) *errorpb.Error {
	type hasRegionError interface{ GetRegionError() *errorpb.Error }
	if r, ok := resp.(hasRegionError); ok {
		return r.GetRegionError()
	}
	return nil
}

func (e *env) put(key, value string) *errorpb.Error {
	e.t.Helper()
	ctx, leader := e.ctxFor(key)
	resp, err := e.call(leader, &kvrpcpb.RawPutRequest{Context: ctx, Key: []byte(key), Value: []byte(value)})
	if err != nil {
		e.t.Fatalf("put %s: %v", key, err)
	}
	return regionError(resp)
}

func (e *env) get(key string) string {
	e.t.Helper()
	ctx, leader := e.ctxFor(key)
	resp, err := e.call(leader, &kvrpcpb.RawGetRequest{Context: ctx, Key: []byte(key)})
	if err != nil {
		e.t.Fatalf("get %s: %v", key, err)
	}
	if re := regionError(resp); re != nil {
		e.t.Fatalf("get %s: %v", key, re)
	}
	return string(resp.(*kvrpcpb.RawGetResponse).Value)
}

func TestServeWithFreshRoute(t *testing.T) {
	run(t, 1, Config{}, func(e *env) {
		for _, k := range []string{"a", "m", "z"} {
			if re := e.put(k, "v"+k); re != nil {
				t.Fatalf("put %s: %v", k, re)
			}
			if got := e.get(k); got != "v"+k {
				t.Fatalf("get %s = %q", k, got)
			}
		}
		if n := len(e.c.Regions()); n != 2 {
			t.Fatalf("%d regions, want 2", n)
		}
	})
}

func TestNotLeaderAfterTransfer(t *testing.T) {
	run(t, 2, Config{}, func(e *env) {
		ctx, old := e.ctxFor("a")
		to := old%3 + 1
		if err := e.c.TransferLeader([]byte("a"), to); err != nil {
			t.Fatal(err)
		}
		resp, err := e.call(old, &kvrpcpb.RawGetRequest{Context: ctx, Key: []byte("a")})
		if err != nil {
			t.Fatal(err)
		}
		re := regionError(resp)
		if re.GetNotLeader() == nil || re.GetNotLeader().GetLeader().GetStoreId() != to || re.GetNotLeader().RegionId != ctx.RegionId {
			t.Fatalf("got %v, want NotLeader naming store %d", re, to)
		}
	})
}

func TestEpochNotMatchAfterSplit(t *testing.T) {
	run(t, 3, Config{}, func(e *env) {
		ctx, leader := e.ctxFor("c")
		if err := e.c.Split([]byte("f")); err != nil {
			t.Fatal(err)
		}
		resp, _ := e.call(leader, &kvrpcpb.RawGetRequest{Context: ctx, Key: []byte("c")})
		enm := regionError(resp).GetEpochNotMatch()
		if enm == nil {
			t.Fatalf("got %v, want EpochNotMatch", regionError(resp))
		}
		// The current regions cover both halves of the split region.
		var covered []string
		for _, r := range enm.CurrentRegions {
			covered = append(covered, fmt.Sprintf("[%s,%s)", r.StartKey, r.EndKey))
		}
		if got := strings.Join(covered, " "); !strings.Contains(got, "[,f)") || !strings.Contains(got, "[f,m)") {
			t.Fatalf("current regions %s lack the split halves", got)
		}
		for _, r := range enm.CurrentRegions {
			if r.Id == ctx.RegionId && r.RegionEpoch.Version <= ctx.RegionEpoch.Version {
				t.Fatalf("region %d epoch did not grow: %v", r.Id, r.RegionEpoch)
			}
		}
	})
}

func TestKeyNotInRegion(t *testing.T) {
	run(t, 4, Config{}, func(e *env) {
		ctx, leader := e.ctxFor("a")
		resp, _ := e.call(leader, &kvrpcpb.RawGetRequest{Context: ctx, Key: []byte("x")})
		kn := regionError(resp).GetKeyNotInRegion()
		if kn == nil || string(kn.Key) != "x" || kn.RegionId != ctx.RegionId || string(kn.EndKey) != "m" {
			t.Fatalf("got %v, want KeyNotInRegion for x", regionError(resp))
		}
		// Scans: a forward scan starting outside, a reverse scan whose
		// upper bound is inside (allowed), and one beyond (refused).
		resp, _ = e.call(leader, &kvrpcpb.RawScanRequest{Context: ctx, StartKey: []byte("n"), Limit: 10})
		if regionError(resp).GetKeyNotInRegion() == nil {
			t.Fatalf("forward scan from n: %v", regionError(resp))
		}
		resp, _ = e.call(leader, &kvrpcpb.RawScanRequest{Context: ctx, StartKey: []byte("m"), Limit: 10, Reverse: true})
		if re := regionError(resp); re != nil {
			t.Fatalf("reverse scan below m: %v", re)
		}
	})
}

func TestRegionNotFoundAfterMerge(t *testing.T) {
	run(t, 5, Config{}, func(e *env) {
		ctx, leader := e.ctxFor("a")
		if err := e.c.Merge([]byte("a")); err != nil {
			t.Fatal(err)
		}
		if n := len(e.c.Regions()); n != 1 {
			t.Fatalf("%d regions after merge", n)
		}
		resp, _ := e.call(leader, &kvrpcpb.RawGetRequest{Context: ctx, Key: []byte("a")})
		if rnf := regionError(resp).GetRegionNotFound(); rnf == nil || rnf.RegionId != ctx.RegionId {
			t.Fatalf("got %v, want RegionNotFound", regionError(resp))
		}
		// The merged region's version is above both sources'.
		r, _ := e.c.Region([]byte("a"))
		if r.RegionEpoch.Version <= ctx.RegionEpoch.Version {
			t.Fatalf("merged version %d not above %d", r.RegionEpoch.Version, ctx.RegionEpoch.Version)
		}
	})
}

func TestStoreNotMatchAndMismatchPeer(t *testing.T) {
	run(t, 6, Config{}, func(e *env) {
		ctx, leader := e.ctxFor("a")
		other := leader%3 + 1
		resp, _ := e.call(other, &kvrpcpb.RawGetRequest{Context: ctx, Key: []byte("a")})
		snm := regionError(resp).GetStoreNotMatch()
		if snm == nil || snm.RequestStoreId != leader || snm.ActualStoreId != other {
			t.Fatalf("got %v, want StoreNotMatch", regionError(resp))
		}
		bad := proto.Clone(ctx).(*kvrpcpb.Context)
		bad.Peer.Id += 1000
		resp, _ = e.call(leader, &kvrpcpb.RawGetRequest{Context: bad, Key: []byte("a")})
		if regionError(resp).GetMismatchPeerId() == nil {
			t.Fatalf("got %v, want MismatchPeerId", regionError(resp))
		}
	})
}

func TestServerIsBusy(t *testing.T) {
	run(t, 7, Config{}, func(e *env) {
		_, leader := e.ctxFor("a")
		_ = e.c.SetBusy(leader, true)
		if re := e.put("a", "1"); re.GetServerIsBusy() == nil {
			t.Fatalf("got %v, want ServerIsBusy", re)
		}
		_ = e.c.SetBusy(leader, false)
		if re := e.put("a", "1"); re != nil {
			t.Fatalf("after idle: %v", re)
		}
	})
}

func TestStaleCommandWhenLeaderMovesMidWrite(t *testing.T) {
	cfg := Config{ServiceTime: network.Latency{Min: 10 * time.Millisecond, Max: 10 * time.Millisecond}}
	run(t, 8, cfg, func(e *env) {
		ctx, leader := e.ctxFor("a")
		e.w.AfterFunc(5*time.Millisecond, func() { _ = e.c.TransferLeader([]byte("a"), leader%3+1) })
		resp, err := e.call(leader, &kvrpcpb.RawPutRequest{Context: ctx, Key: []byte("a"), Value: []byte("v")})
		if err != nil {
			t.Fatal(err)
		}
		if regionError(resp).GetStaleCommand() == nil {
			t.Fatalf("got %v, want StaleCommand", regionError(resp))
		}
	})
}

func TestMaxTimestampNotSyncedUntilPDReachable(t *testing.T) {
	run(t, 9, Config{}, func(e *env) {
		_, old := e.ctxFor("a")
		to := old%3 + 1
		// The new leader cannot reach PD, so it cannot sync max_ts.
		if err := (network.OneWay{From: StoreNode(to), To: PDNode}).Apply(e.net); err != nil {
			t.Fatal(err)
		}
		if err := e.c.TransferLeader([]byte("a"), to); err != nil {
			t.Fatal(err)
		}
		prewrite := func() *errorpb.Error {
			ctx, leader := e.ctxFor("a")
			resp, err := e.call(leader, &kvrpcpb.PrewriteRequest{Context: ctx, StartVersion: 100, PrimaryLock: []byte("a"),
				UseAsyncCommit: true, LockTtl: 3000, Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte("a"), Value: []byte("v")}}})
			if err != nil {
				t.Fatal(err)
			}
			return regionError(resp)
		}
		if re := prewrite(); re.GetMaxTimestampNotSynced() == nil {
			t.Fatalf("got %v, want MaxTimestampNotSynced", re)
		}
		// A plain read is served meanwhile.
		_ = e.get("a")
		_ = (network.Heal{}).Apply(e.net)
		e.sleep(2 * time.Second) // the leader's sync retries after its 1s PD timeout
		if re := prewrite(); re != nil {
			t.Fatalf("after heal: %v", re)
		}
	})
}

func TestRaftEntryTooLarge(t *testing.T) {
	run(t, 10, Config{MaxEntrySize: 1024}, func(e *env) {
		if re := e.put("a", strings.Repeat("x", 2048)); re.GetRaftEntryTooLarge() == nil {
			t.Fatalf("got %v, want RaftEntryTooLarge", re)
		}
		if re := e.put("a", "small"); re != nil {
			t.Fatal(re)
		}
	})
}

func (e *env) pdRegion(key string) (*metapb.Region, *metapb.Peer) {
	e.t.Helper()
	ctx, cancel := e.w.WithDeadline(context.Background(), e.w.Now().Add(time.Second))
	defer cancel()
	resp, err := e.net.Call(ctx, "client", PDNode, &pdpb.GetRegionRequest{Header: e.c.pdHeader(), RegionKey: []byte(key)})
	if err != nil {
		e.t.Fatal(err)
	}
	r := resp.(*pdpb.GetRegionResponse)
	return r.Region, r.Leader
}

func TestCrashElectsNewLeaderAndPDLearns(t *testing.T) {
	run(t, 11, Config{}, func(e *env) {
		_, leader := e.ctxFor("a")
		if err := (CrashAction{leader}).Apply(e.c); err != nil {
			t.Fatal(err)
		}
		// Requests to the crashed store fail as not sent.
		ctx, _ := e.ctxFor("a")
		if _, err := e.call(leader, &kvrpcpb.RawGetRequest{Context: ctx, Key: []byte("a")}); !network.IsNotSent(err) {
			t.Fatalf("crashed store: %v", err)
		}
		if _, l := e.c.Region([]byte("a")); l != 0 {
			t.Fatalf("leader %d right after crash, want none", l)
		}
		e.sleep(3 * time.Second)
		_, nl := e.c.Region([]byte("a"))
		if nl == 0 || nl == leader {
			t.Fatalf("no new leader after the election timeout (%d)", nl)
		}
		if _, pl := e.pdRegion("a"); pl.GetStoreId() != nl {
			t.Fatalf("PD thinks the leader is on store %d, want %d", pl.GetStoreId(), nl)
		}
		if err := (RestartAction{leader}).Apply(e.c); err != nil {
			t.Fatal(err)
		}
		if re := e.put("a", "after"); re != nil {
			t.Fatal(re)
		}
	})
}

func TestPDLagsUntilHeartbeatArrives(t *testing.T) {
	run(t, 12, Config{}, func(e *env) {
		// Cut every store off PD, split, and PD still shows the old region.
		for _, id := range e.c.StoreIDs() {
			_ = (network.OneWay{From: StoreNode(id), To: PDNode}).Apply(e.net)
		}
		before, _ := e.pdRegion("c")
		if err := e.c.Split([]byte("f")); err != nil {
			t.Fatal(err)
		}
		e.sleep(time.Second)
		if r, _ := e.pdRegion("c"); r.Id != before.Id || r.RegionEpoch.Version != before.RegionEpoch.Version {
			t.Fatalf("PD learned the split through a partition: %v", r)
		}
		_ = (network.Heal{}).Apply(e.net)
		e.sleep(11 * time.Second) // the periodic heartbeat
		left, _ := e.pdRegion("c")
		right, _ := e.pdRegion("g")
		if string(left.EndKey) != "f" || string(right.StartKey) != "f" {
			t.Fatalf("PD after heal: %v / %v", left, right)
		}
	})
}

func TestSplitRegionsThroughPD(t *testing.T) {
	run(t, 13, Config{}, func(e *env) {
		ctx, cancel := e.w.WithDeadline(context.Background(), e.w.Now().Add(30*time.Second))
		defer cancel()
		resp, err := e.net.Call(ctx, "client", PDNode, &pdpb.SplitRegionsRequest{Header: e.c.pdHeader(),
			SplitKeys: [][]byte{[]byte("d"), []byte("q")}, RetryLimit: 3})
		if err != nil {
			t.Fatal(err)
		}
		sr := resp.(*pdpb.SplitRegionsResponse)
		if sr.GetHeader().GetError() != nil || sr.FinishedPercentage != 100 {
			t.Fatalf("SplitRegions: %v", sr)
		}
		if n := len(e.c.Regions()); n != 4 {
			t.Fatalf("%d regions, want 4", n)
		}
	})
}

func TestTransactionalPathAndLockWait(t *testing.T) {
	run(t, 14, Config{}, func(e *env) {
		ctx, leader := e.ctxFor("k")
		lock := func(start uint64, wait int64) *kvrpcpb.PessimisticLockResponse {
			resp, err := e.call(leader, &kvrpcpb.PessimisticLockRequest{Context: ctx, StartVersion: start, ForUpdateTs: start,
				PrimaryLock: []byte("k"), LockTtl: 20000, WaitTimeout: wait,
				Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_PessimisticLock, Key: []byte("k")}}})
			if err != nil {
				t.Fatal(err)
			}
			return resp.(*kvrpcpb.PessimisticLockResponse)
		}
		if r := lock(10, 0); len(r.Errors) > 0 || r.RegionError != nil {
			t.Fatalf("first lock: %v", r)
		}
		// A second txn waits, then times out with KeyIsLocked.
		start := e.w.Elapsed()
		r := lock(20, 200)
		if len(r.Errors) == 0 || r.Errors[0].Locked == nil {
			t.Fatalf("second lock: %v, want a lock wait timeout", r)
		}
		if d := e.w.Elapsed() - start; d < 200*time.Millisecond {
			t.Fatalf("waited %v, want the 200ms wait timeout", d)
		}
		// A waiter is woken when the holder rolls back.
		done := e.w.NewEvent()
		var got *kvrpcpb.PessimisticLockResponse
		var waited time.Duration
		e.w.Spawn("waiter", func() {
			s := e.w.Elapsed()
			got = lock(30, 5000)
			waited = e.w.Elapsed() - s
			done.Fire()
		})
		e.sleep(50 * time.Millisecond)
		resp, err := e.call(leader, &kvrpcpb.PessimisticRollbackRequest{Context: ctx, StartVersion: 10, ForUpdateTs: 10, Keys: [][]byte{[]byte("k")}})
		if err != nil || regionError(resp) != nil {
			t.Fatalf("rollback: %v %v", err, regionError(resp))
		}
		_ = done.Wait(context.Background())
		// Woken well before its 5s timeout; in the legacy wake-up mode TiKV
		// answers a WriteConflict(PessimisticRetry) so the client retries
		// with a newer for_update_ts (lock_manager wake_up).
		if waited >= time.Second {
			t.Fatalf("waiter woke after %v", waited)
		}
		if len(got.Errors) > 0 && got.Errors[0].GetConflict().GetReason() != kvrpcpb.WriteConflict_PessimisticRetry {
			t.Fatalf("woken waiter: %v", got)
		}
	})
}

func TestActionsRoundTrip(t *testing.T) {
	for _, s := range []string{`split("k5")`, `merge("a\x00b")`, `transfer("k",2)`, "crash(3)", "restart(1)",
		"busy(2)", "idle(2)", "pd-crash", "pd-restart", "pd-leader", "tso-jump(10s)"} {
		a, err := ParseAction(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		b, err := ParseAction(a.String())
		if err != nil || b.String() != a.String() {
			t.Fatalf("%s -> %s -> %v %v", s, a, b, err)
		}
	}
	for _, s := range []string{"", "split(k5)", "crash(0)", "crash(x)", "transfer(\"k\")", "tso-jump(-1s)", "boom(1)", "pd-nope"} {
		if a, err := ParseAction(s); err == nil {
			t.Errorf("ParseAction(%q) = %v", s, a)
		}
	}
}

func TestBadActionsRefused(t *testing.T) {
	run(t, 15, Config{Stores: 1}, func(e *env) {
		for _, a := range []Action{SplitAction{[]byte("m")}, SplitAction{nil}, CrashAction{9}, RestartAction{9},
			TransferAction{[]byte("a"), 9}, BusyAction{9, true}, PDAction{"nope"}, TSOJumpAction{0}} {
			if err := a.Apply(e.c); err == nil {
				t.Errorf("%s applied", a)
			}
		}
		_ = e.c.Merge([]byte("a"))
		if err := e.c.Merge([]byte("a")); err == nil {
			t.Error("merge of the only region applied")
		}
	})
}

// TestRandomNemesisIsDeterministic runs a random schedule of every action
// under traffic and requires identical trace hashes per seed.
func TestRandomNemesisIsDeterministic(t *testing.T) {
	body := func(e *env) {
		rng := e.w.Rand("test-nemesis")
		for i := range 3 {
			e.w.Spawn("traffic", func() {
				for j := 0; ; j++ {
					k := fmt.Sprintf("k%d", (i*7+j)%20)
					ctx, leader := e.ctxFor(k)
					if leader != 0 {
						_, _ = e.call(leader, &kvrpcpb.RawPutRequest{Context: ctx, Key: []byte(k), Value: []byte("v")})
					}
					e.sleep(time.Duration(5+rng.IntN(40)) * time.Millisecond)
				}
			})
		}
		for range 25 {
			e.sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
			k := []byte(fmt.Sprintf("k%d", rng.IntN(20)))
			var a Action
			switch rng.IntN(8) {
			case 0:
				a = SplitAction{k}
			case 1:
				a = MergeAction{k}
			case 2:
				a = TransferAction{k, uint64(1 + rng.IntN(3))}
			case 3:
				a = CrashAction{uint64(1 + rng.IntN(3))}
			case 4:
				a = RestartAction{uint64(1 + rng.IntN(3))}
			case 5:
				a = BusyAction{uint64(1 + rng.IntN(3)), rng.IntN(2) == 0}
			case 6:
				a = PDAction{[]string{"crash", "restart", "leader"}[rng.IntN(3)]}
			default:
				a = TSOJumpAction{time.Duration(1+rng.IntN(5)) * time.Second}
			}
			_ = a.Apply(e.c) // refusals (bad split point, ...) are fine
		}
	}
	seeds := 200
	if testing.Short() {
		seeds = 20
	}
	seen := map[uint64]bool{}
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		a, b := run(t, seed, Config{}, body), run(t, seed, Config{}, body)
		if a != b {
			t.Fatalf("seed %d: trace hashes %016x and %016x", seed, a, b)
		}
		if seen[a] {
			t.Fatalf("seed %d repeats a hash", seed)
		}
		seen[a] = true
	}
}
