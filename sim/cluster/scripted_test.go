package cluster

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvsim/tikvsim/client/util/codec"
)

// pdAgrees reports whether PD's view of every region (id, range, epoch,
// leader) matches the cluster's authoritative state.
func (e *env) pdAgrees() error {
	for _, r := range e.c.Regions() {
		got, leader := e.pdRegion(string(r.StartKey))
		if got == nil {
			return fmt.Errorf("PD knows no region at %q", r.StartKey)
		}
		if got.Id != r.Id || !bytes.Equal(got.StartKey, r.StartKey) || !bytes.Equal(got.EndKey, r.EndKey) ||
			got.RegionEpoch.Version != r.RegionEpoch.Version || got.RegionEpoch.ConfVer != r.RegionEpoch.ConfVer {
			return fmt.Errorf("PD has %v, cluster has %v", got, r)
		}
		want := e.c.Leader(r.Id)
		if want == 0 {
			return fmt.Errorf("region %d has no leader yet", r.Id)
		}
		if leader.GetStoreId() != want {
			return fmt.Errorf("PD thinks region %d is led by store %d, cluster says %d", r.Id, leader.GetStoreId(), want)
		}
	}
	return nil
}

// TestEachActionPDLearnsTopology applies each action, checks the cluster
// invariants (asserted inside every action under -tags invariants), serves a
// request, and waits for PD to learn the new topology through heartbeats.
func TestEachActionPDLearnsTopology(t *testing.T) {
	cases := []struct {
		name    string
		actions []string
	}{
		{"split", []string{`split("f")`}},
		{"merge", []string{`merge("a")`}},
		{"transfer", []string{`transfer("a",3)`, `transfer("z",1)`}},
		{"crash-restart", []string{"crash(1)", "restart(1)"}},
		{"busy-idle", []string{"busy(2)", "idle(2)"}},
		{"pd-crash-restart", []string{"pd-crash", "pd-restart"}},
		{"pd-leader", []string{"pd-leader"}},
		{"tso-jump", []string{"tso-jump(30s)"}},
		{"mixed", []string{`split("c")`, `split("t")`, `transfer("c",2)`, `merge("t")`, "crash(2)"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run(t, uint64(100+i), Config{}, func(e *env) {
				before, _, _ := e.c.NewPDClient("probe").GetTS(t.Context(), 1)
				for _, s := range tc.actions {
					a, err := ParseAction(s)
					if err != nil {
						t.Fatal(err)
					}
					if err := a.Apply(e.c); err != nil {
						t.Fatalf("%s: %v", s, err)
					}
					e.sleep(100 * time.Millisecond)
				}
				// Within the heartbeat interval plus an election, PD agrees.
				deadline := e.w.Elapsed() + 15*time.Second
				for {
					err := e.pdAgrees()
					if err == nil {
						break
					}
					if e.w.Elapsed() > deadline {
						t.Fatalf("PD never learned the topology: %v", err)
					}
					e.sleep(500 * time.Millisecond)
				}
				// Every region still serves.
				for _, r := range e.c.Regions() {
					k := string(r.StartKey) + "x"
					if re := e.put(k, "v"); re != nil {
						t.Fatalf("put %q after %v: %v", k, tc.actions, re)
					}
				}
				after, _, err := e.c.NewPDClient("probe").GetTS(t.Context(), 1)
				if err != nil || after < before {
					t.Fatalf("TSO went from %d to %d (%v)", before, after, err)
				}
				if tc.name == "tso-jump" && after-before < 30_000 {
					t.Fatalf("TSO physical moved %dms after a 30s jump", after-before)
				}
			})
		})
	}
}

// TestScatterThroughPD runs PD's ScatterRegion operator end to end.
func TestScatterThroughPD(t *testing.T) {
	run(t, 31, Config{Stores: 5}, func(e *env) {
		r, _ := e.c.Region([]byte("a"))
		ctx := t.Context()
		resp, err := e.net.Call(ctx, "client", PDNode, &pdpb.ScatterRegionRequest{Header: e.c.pdHeader(), RegionsId: []uint64{r.Id}, RetryLimit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if h := resp.(*pdpb.ScatterRegionResponse).GetHeader(); h.GetError() != nil {
			t.Fatalf("scatter: %v", h.GetError())
		}
		e.sleep(200 * time.Millisecond)
		if err := e.pdAgrees(); err != nil {
			e.sleep(11 * time.Second)
			if err := e.pdAgrees(); err != nil {
				t.Fatal(err)
			}
		}
		if re := e.put("a", "v"); re != nil {
			t.Fatalf("put after scatter: %v", re)
		}
	})
}

// TestGCFollowsPDSafePoint advances PD's txn and GC safe points over the
// network and checks the stores garbage-collect the old versions.
func TestGCFollowsPDSafePoint(t *testing.T) {
	run(t, 32, Config{}, func(e *env) {
		eng := e.c.Engine()
		write := func(start, commit uint64, v string) {
			eng.Prewrite(&kvrpcpb.PrewriteRequest{StartVersion: start, PrimaryLock: []byte("g"), LockTtl: 1000,
				Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte("g"), Value: []byte(v)}}})
			eng.Commit(&kvrpcpb.CommitRequest{StartVersion: start, CommitVersion: commit, Keys: [][]byte{[]byte("g")}})
		}
		write(10, 11, "v1")
		write(20, 21, "v2")
		versions := func() int {
			return len(eng.MvccGetByKey(&kvrpcpb.MvccGetByKeyRequest{Key: []byte("g")}).GetInfo().GetWrites())
		}
		if n := versions(); n != 2 {
			t.Fatalf("%d versions before GC", n)
		}
		for _, req := range []any{
			&pdpb.AdvanceTxnSafePointRequest{Header: e.c.pdHeader(), Target: 30},
			&pdpb.AdvanceGCSafePointRequest{Header: e.c.pdHeader(), Target: 30},
		} {
			if _, err := e.net.Call(t.Context(), "client", PDNode, req); err != nil {
				t.Fatal(err)
			}
		}
		e.sleep(2 * time.Second)
		if n := versions(); n != 1 {
			t.Fatalf("%d versions after the GC safe point passed both commits, want 1", n)
		}
	})
}

// TestTxnKeysEncodeBoundaries checks that a TxnKeys cluster keeps region
// boundaries memcomparable-encoded, as TiKV does for transactional data, and
// checks transactional keys in that space.
func TestTxnKeysEncodeBoundaries(t *testing.T) {
	run(t, 33, Config{TxnKeys: true}, func(e *env) {
		rs := e.c.Regions()
		if len(rs) != 2 || string(rs[1].StartKey) == "m" || string(rs[0].EndKey) != string(codec.EncodeBytes(nil, []byte("m"))) {
			t.Fatalf("boundaries %q / %q, want the encoding of m", rs[0].EndKey, rs[1].StartKey)
		}
		rctx, leader := e.ctxFor("n")
		resp, err := e.call(leader, &kvrpcpb.GetRequest{Context: rctx, Key: []byte("n"), Version: 10})
		if err != nil || regionError(resp) != nil {
			t.Fatalf("get n in [enc(m), +inf): %v %v", err, regionError(resp))
		}
		// "l" sorts below "m" as a user key, and so does its encoding.
		resp, _ = e.call(leader, &kvrpcpb.GetRequest{Context: rctx, Key: []byte("l"), Version: 10})
		if regionError(resp).GetKeyNotInRegion() == nil {
			t.Fatalf("get l: %v, want KeyNotInRegion", regionError(resp))
		}
		// Splitting by user key splits at its encoding.
		if err := e.c.Split([]byte("t")); err != nil {
			t.Fatal(err)
		}
		if r, _ := e.c.Region([]byte("u")); string(r.StartKey) != string(codec.EncodeBytes(nil, []byte("t"))) {
			t.Fatalf("region of u starts at %q", r.StartKey)
		}
	})
}
