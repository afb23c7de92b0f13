package cluster

import (
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsim/tikvsim/sim/network"
)

// followerCtx returns the context of key's region addressed to a follower.
func (e *env) followerCtx(key string) (*kvrpcpb.Context, uint64) {
	ctx, leader := e.ctxFor(key)
	r, _ := e.c.Region([]byte(key))
	for _, p := range r.Peers {
		if p.StoreId != leader {
			ctx.Peer = p
			return ctx, p.StoreId
		}
	}
	e.t.Fatal("no follower")
	return nil, 0
}

// TestFollowerReplicaRead: a follower refuses a plain read (NotLeader naming
// the leader), serves a replica read after a read index from the leader,
// which raises max_ts to the read ts, and answers ReadIndexNotReady when the
// leader is unreachable.
func TestFollowerReplicaRead(t *testing.T) {
	run(t, 1, Config{}, func(e *env) {
		if re := e.put("a", "1"); re != nil {
			t.Fatal(re)
		}
		ctx, f := e.followerCtx("a")
		resp, err := e.call(f, &kvrpcpb.RawGetRequest{Context: ctx, Key: []byte("a")})
		if nl := regionError(resp).GetNotLeader(); err != nil || nl == nil || nl.Leader == nil {
			t.Fatalf("plain read on a follower: %v %v, want NotLeader with a leader", resp, err)
		}
		ctx.ReplicaRead = true
		before := e.c.ReadIndexes()
		resp, err = e.call(f, &kvrpcpb.RawGetRequest{Context: ctx, Key: []byte("a")})
		if err != nil || regionError(resp) != nil || string(resp.(*kvrpcpb.RawGetResponse).Value) != "1" {
			t.Fatalf("replica read: %v %v", resp, err)
		}
		if e.c.ReadIndexes() != before+1 {
			t.Fatalf("read indexes %d -> %d, want one more", before, e.c.ReadIndexes())
		}
		// A transactional replica read raises the leader's max_ts.
		resp, err = e.call(f, &kvrpcpb.GetRequest{Context: ctx, Key: []byte("a"), Version: 1 << 40})
		if err != nil || regionError(resp) != nil || e.c.Engine().MaxTS() < 1<<40 {
			t.Fatalf("txn replica read: %v %v, max_ts %d", resp, err, e.c.Engine().MaxTS())
		}
		// A write with ReplicaRead is still refused by a follower.
		resp, _ = e.call(f, &kvrpcpb.RawPutRequest{Context: ctx, Key: []byte("a"), Value: []byte("2")})
		if regionError(resp).GetNotLeader() == nil {
			t.Fatalf("write on a follower: %v", resp)
		}
		_, leader := e.ctxFor("a")
		if err := (network.Partition{Groups: [][]string{{StoreNode(f)}, {StoreNode(leader)}}}).Apply(e.net); err != nil {
			t.Fatal(err)
		}
		resp, err = e.call(f, &kvrpcpb.RawGetRequest{Context: ctx, Key: []byte("a")})
		if err != nil || regionError(resp).GetReadIndexNotReady() == nil {
			t.Fatalf("replica read cut off from the leader: %v %v, want ReadIndexNotReady", resp, err)
		}
	})
}

// TestStaleReadSafeTS: safe ts advances on the leader and, later, on the
// followers; it stops below a prewrite lock; a stale read above a replica's
// safe ts gets DataIsNotReady with the safe ts, one at or below is served;
// GetStoreSafeTS is the minimum over the store's regions; a crash loses it.
func TestStaleReadSafeTS(t *testing.T) {
	run(t, 2, Config{TxnKeys: true, SafeTSInterval: 500 * time.Millisecond}, func(e *env) {
		ctx, f := e.followerCtx("a")
		_, leader := e.ctxFor("a")
		ctx.StaleRead = true
		resp, err := e.call(f, &kvrpcpb.GetRequest{Context: ctx, Key: []byte("a"), Version: 10})
		dnr := regionError(resp).GetDataIsNotReady()
		if err != nil || dnr == nil || dnr.SafeTs != 0 {
			t.Fatalf("stale read before any safe ts: %v %v, want DataIsNotReady with safe ts 0", resp, err)
		}
		e.sleep(3 * time.Second)
		lsafe, fsafe := e.c.SafeTS(leader, ctx.RegionId), e.c.SafeTS(f, ctx.RegionId)
		if lsafe == 0 || fsafe == 0 || fsafe > lsafe {
			t.Fatalf("safe ts leader %d follower %d: want both set, follower <= leader", lsafe, fsafe)
		}
		resp, err = e.call(f, &kvrpcpb.GetRequest{Context: ctx, Key: []byte("a"), Version: fsafe})
		if err != nil || regionError(resp) != nil {
			t.Fatalf("stale read at the safe ts: %v %v", resp, err)
		}
		resp, _ = e.call(f, &kvrpcpb.GetRequest{Context: ctx, Key: []byte("a"), Version: lsafe + 1<<30})
		if d := regionError(resp).GetDataIsNotReady(); d == nil || d.SafeTs < fsafe {
			t.Fatalf("stale read above the safe ts: %v", resp)
		}
		// The leader serves a stale read above its safe ts as a plain read.
		lctx, _ := e.ctxFor("a")
		lctx.StaleRead = true
		resp, _ = e.call(leader, &kvrpcpb.GetRequest{Context: lctx, Key: []byte("a"), Version: lsafe + 1<<20})
		if regionError(resp) != nil {
			t.Fatalf("stale read on the leader: %v", resp)
		}
		// A prewrite lock holds the safe ts at its start ts.
		lockTS := e.c.Engine().MaxTS() + 1
		pctx, _ := e.ctxFor("a")
		resp, err = e.call(leader, &kvrpcpb.PrewriteRequest{Context: pctx, Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte("a"), Value: []byte("v")}},
			PrimaryLock: []byte("a"), StartVersion: lockTS, LockTtl: 100000})
		if err != nil || regionError(resp) != nil {
			t.Fatalf("prewrite: %v %v", resp, err)
		}
		e.sleep(3 * time.Second)
		if s := e.c.SafeTS(leader, ctx.RegionId); s != lockTS {
			t.Fatalf("safe ts %d with a lock at %d", s, lockTS)
		}
		// GetStoreSafeTS: the minimum over the store's regions in range.
		resp, _ = e.call(f, &kvrpcpb.StoreSafeTSRequest{KeyRange: &kvrpcpb.KeyRange{}})
		if got := resp.(*kvrpcpb.StoreSafeTSResponse).SafeTs; got == 0 || got > lockTS {
			t.Fatalf("GetStoreSafeTS = %d, want in (0, %d]", got, lockTS)
		}
		if err := e.c.CrashStore(f); err != nil {
			t.Fatal(err)
		}
		if err := e.c.RestartStore(f); err != nil {
			t.Fatal(err)
		}
		if s := e.c.SafeTS(f, ctx.RegionId); s != 0 {
			t.Fatalf("safe ts %d survived a crash", s)
		}
	})
}

// TestStaleReadNeedsPeer: a store without a peer of the region refuses a
// stale read with RegionNotFound.
func TestStaleReadNeedsPeer(t *testing.T) {
	run(t, 3, Config{Stores: 4}, func(e *env) {
		ctx, _ := e.ctxFor("a")
		r, _ := e.c.Region([]byte("a"))
		var other uint64
		for _, id := range e.c.StoreIDs() {
			found := false
			for _, p := range r.Peers {
				found = found || p.StoreId == id
			}
			if !found {
				other = id
			}
		}
		ctx.StaleRead = true
		ctx.Peer = &metapb.Peer{StoreId: other}
		resp, _ := e.call(other, &kvrpcpb.RawGetRequest{Context: ctx, Key: []byte("a")})
		if regionError(resp).GetRegionNotFound() == nil {
			t.Fatalf("stale read on a store without a peer: %v", resp)
		}
	})
}
