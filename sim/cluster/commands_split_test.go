package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/pdpb"
)

// TestStoreSplitRegion: a batch split keeps the original region on the
// right with its id, gives every part the same new version, answers every
// region in key order, refuses bad keys with region errors, and PD learns
// the new regions.
func TestStoreSplitRegion(t *testing.T) {
	run(t, 61, Config{}, func(e *env) {
		ctx := context.Background()
		rctx, leader := e.ctxFor("a")
		orig := rctx.RegionId
		version := rctx.RegionEpoch.Version
		s := e.c.Store(leader)
		resp, err := s.SplitRegion(ctx, &kvrpcpb.SplitRegionRequest{Context: rctx, SplitKeys: [][]byte{[]byte("g"), []byte("c")}})
		if err != nil || resp.RegionError != nil {
			t.Fatalf("split: %v, %v", resp, err)
		}
		if len(resp.Regions) != 3 || resp.Left != nil {
			t.Fatalf("regions %v", resp.Regions)
		}
		wantStarts := []string{"", "c", "g"}
		for i, r := range resp.Regions {
			if string(r.StartKey) != wantStarts[i] || r.RegionEpoch.Version != version+2 {
				t.Fatalf("region %d: %v", i, r)
			}
		}
		if last := resp.Regions[2]; last.Id != orig || string(last.EndKey) != "m" {
			t.Fatalf("the original region %d is not the right part: %v", orig, last)
		}
		// Stale epoch, key outside, key at the start, no key: refused.
		if r, _ := s.SplitRegion(ctx, &kvrpcpb.SplitRegionRequest{Context: rctx, SplitKeys: [][]byte{[]byte("h")}}); r.GetRegionError().GetEpochNotMatch() == nil {
			t.Fatalf("stale epoch: %v", r)
		}
		rctx, _ = e.ctxFor("h")
		for name, keys := range map[string][][]byte{
			"outside": {[]byte("x")}, "start": {[]byte("g")}, "none": nil, "empty": {{}},
		} {
			r, err := s.SplitRegion(ctx, &kvrpcpb.SplitRegionRequest{Context: rctx, SplitKeys: keys})
			if err != nil || r.GetRegionError() == nil || len(r.Regions) != 0 {
				t.Fatalf("%s: %v, %v", name, r, err)
			}
		}
		// One split key in split_key, the answer's left and right set.
		r, err := s.SplitRegion(ctx, &kvrpcpb.SplitRegionRequest{Context: rctx, SplitKey: []byte("k")})
		if err != nil || r.RegionError != nil || r.Left == nil || string(r.Right.StartKey) != "k" {
			t.Fatalf("split_key: %v, %v", r, err)
		}
		// PD down: TiKV cannot get ids for the new regions.
		e.c.CrashPD()
		rctx, _ = e.ctxFor("i")
		if r, _ := s.SplitRegion(ctx, &kvrpcpb.SplitRegionRequest{Context: rctx, SplitKeys: [][]byte{[]byte("i")}}); !strings.Contains(r.GetRegionError().GetMessage(), "pd is down") {
			t.Fatalf("split with PD down: %v", r)
		}
		e.c.RestartPD()
		deadline := e.w.Elapsed() + 15*time.Second
		for e.pdAgrees() != nil {
			if e.w.Elapsed() > deadline {
				t.Fatalf("PD never learned the split: %v", e.pdAgrees())
			}
			e.sleep(100 * time.Millisecond)
		}
	})
}

// TestStoreUnsafeDestroyRange: the range's data is removed without any
// region in the request; empty keys are refused.
func TestStoreUnsafeDestroyRange(t *testing.T) {
	run(t, 62, Config{}, func(e *env) {
		// Transactional data (locks) written straight into the engine.
		eng := e.c.Engine()
		for _, k := range []string{"b", "c", "x"} {
			eng.Prewrite(&kvrpcpb.PrewriteRequest{PrimaryLock: []byte(k), StartVersion: 10, LockTtl: 1000,
				Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte(k), Value: []byte("t" + k)}}})
		}
		if r := e.c.Store(1).UnsafeDestroyRange(&kvrpcpb.UnsafeDestroyRangeRequest{StartKey: []byte("b"), EndKey: []byte("d")}); r.Error != "" {
			t.Fatal(r.Error)
		}
		for k, want := range map[string]bool{"b": false, "c": false, "x": true} {
			got := eng.ScanLock(&kvrpcpb.ScanLockRequest{MaxVersion: 100, StartKey: []byte(k), EndKey: []byte(k + "\x00")})
			if (len(got.Locks) == 1) != want {
				t.Fatalf("lock on %s after destroying [b, d): %v", k, got.Locks)
			}
		}
		if r := e.c.Store(2).UnsafeDestroyRange(&kvrpcpb.UnsafeDestroyRangeRequest{EndKey: []byte("d")}); r.Error == "" {
			t.Fatal("an empty start key was accepted")
		}
	})
}

// TestStoreRoutesAdminCommands: both admin commands reach the store over
// the network: SplitRegion with its region checks (a follower answers
// NotLeader), UnsafeDestroyRange without any region in the request.
func TestStoreRoutesAdminCommands(t *testing.T) {
	run(t, 64, Config{}, func(e *env) {
		rctx, leader := e.ctxFor("a")
		out, err := e.call(leader, &kvrpcpb.SplitRegionRequest{Context: rctx, SplitKey: []byte("f")})
		if sr, ok := out.(*kvrpcpb.SplitRegionResponse); err != nil || !ok || sr.RegionError != nil || string(sr.Right.GetStartKey()) != "f" {
			t.Fatalf("split over the network: %v, %v", out, err)
		}
		rctx, leader = e.ctxFor("a")
		follower := leader%3 + 1
		rctx.Peer = nil
		out, err = e.call(follower, &kvrpcpb.SplitRegionRequest{Context: rctx, SplitKey: []byte("c")})
		if err != nil || regionError(out).GetNotLeader() == nil {
			t.Fatalf("split at a follower: %v, %v", out, err)
		}
		eng := e.c.Engine()
		eng.Prewrite(&kvrpcpb.PrewriteRequest{PrimaryLock: []byte("b"), StartVersion: 10, LockTtl: 1000,
			Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte("b"), Value: []byte("v")}}})
		out, err = e.call(follower, &kvrpcpb.UnsafeDestroyRangeRequest{StartKey: []byte("a"), EndKey: []byte("c")})
		if ud, ok := out.(*kvrpcpb.UnsafeDestroyRangeResponse); err != nil || !ok || ud.Error != "" {
			t.Fatalf("unsafe destroy range over the network: %v, %v", out, err)
		}
		if got := eng.ScanLock(&kvrpcpb.ScanLockRequest{MaxVersion: 100}); len(got.Locks) != 0 {
			t.Fatalf("locks left: %v", got.Locks)
		}
	})
}

// TestPDClientScatterAndGetOperator: the PD adapter's ScatterRegions makes
// PD create an operator that GetOperator reports; an unknown region is a
// header error in GetOperator's answer, an error for ScatterRegions.
func TestPDClientScatterAndGetOperator(t *testing.T) {
	run(t, 63, Config{Stores: 5}, func(e *env) {
		ctx := context.Background()
		p := e.c.NewPDClient("client")
		var scattered uint64
		for _, key := range []string{"a", "z"} {
			rctx, _ := e.ctxFor(key)
			resp, err := p.ScatterRegions(ctx, []uint64{rctx.RegionId}, "g")
			if err != nil || resp.FinishedPercentage != 100 {
				t.Fatalf("scatter %d: %v, %v", rctx.RegionId, resp, err)
			}
			op, err := p.GetOperator(ctx, rctx.RegionId)
			if err != nil {
				t.Fatal(err)
			}
			if op.GetHeader().GetError() == nil {
				if string(op.Desc) != "scatter-region" {
					t.Fatalf("operator %v", op)
				}
				scattered = rctx.RegionId
			}
		}
		if scattered == 0 {
			t.Fatal("no scatter operator on five stores")
		}
		op, err := p.GetOperator(ctx, 999)
		if err != nil || op.GetHeader().GetError().GetType() != pdpb.ErrorType_REGION_NOT_FOUND {
			t.Fatalf("operator of an unknown region: %v, %v", op, err)
		}
		if _, err := p.ScatterRegions(ctx, []uint64{999}, ""); err == nil {
			t.Fatal("scatter of an unknown region succeeded")
		}
	})
}
