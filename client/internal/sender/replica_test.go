package sender_test

import (
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/sim/cluster"
)

// replicaGet is a raw get with a replica read kind.
func replicaGet(key string, typ tikvrpc.ReplicaReadType) *tikvrpc.Request {
	req := rawGet(key)
	req.SetReplicaReadType(typ)
	return req
}

func (e *env) put(t *testing.T, key, value string) {
	t.Helper()
	if _, _, err := e.s.Send(e.ctx, e.bo(), rawPut(key, value), e.locate(t, key).Region, time.Second); err != nil {
		t.Fatal(err)
	}
}

// sendReplica sends req for key and returns the value and the addresses
// tried.
func (e *env) sendReplica(t *testing.T, key string, req *tikvrpc.Request) (string, []string, *errorpb.Error) {
	t.Helper()
	loc := e.locate(t, key)
	e.tr.mu.Lock()
	e.tr.addrs = nil
	e.tr.mu.Unlock()
	resp, _, err := e.s.Send(e.ctx, e.bo(), req, loc.Region, time.Second)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	e.tr.mu.Lock()
	addrs := append([]string(nil), e.tr.addrs...)
	e.tr.mu.Unlock()
	re, _ := resp.GetRegionError()
	if re != nil {
		return "", addrs, re
	}
	return string(resp.Resp.(*kvrpcpb.RawGetResponse).GetValue()), addrs, nil
}

// TestSendReplicaReadRouting ports the happy paths of client-go
// region_request3_test TestReplicaSelector / TestSendReqWithReplicaSelector
// and TestPreferLeader: a follower read goes to a follower (served after a
// read index), mixed and prefer-leader reads and leader reads to the leader
// when it is the best candidate; the value is the latest.
func TestSendReplicaReadRouting(t *testing.T) {
	run(t, 1, func(e *env) {
		e.put(t, "a", "1")
		_, leader := e.c.Region([]byte("a"))
		for _, c := range []struct {
			typ      tikvrpc.ReplicaReadType
			toLeader bool
		}{
			{tikvrpc.ReplicaReadFollower, false},
			{tikvrpc.ReplicaReadPreferLeader, true},
			{tikvrpc.ReplicaReadLeader, true},
		} {
			before := e.c.ReadIndexes()
			v, addrs, re := e.sendReplica(t, "a", replicaGet("a", c.typ))
			if re != nil || v != "1" || len(addrs) != 1 || (addrs[0] == cluster.StoreNode(leader)) != c.toLeader {
				t.Fatalf("%v read: %q %v via %v (leader store %d)", c.typ, v, re, addrs, leader)
			}
			if took := e.c.ReadIndexes() > before; took == c.toLeader {
				t.Fatalf("%v read: read index taken %v, want %v", c.typ, took, !c.toLeader)
			}
		}
		// Follower reads spread over the followers.
		seen := map[string]bool{}
		for range 6 {
			_, addrs, _ := e.sendReplica(t, "a", replicaGet("a", tikvrpc.ReplicaReadFollower))
			seen[addrs[0]] = true
		}
		if len(seen) != 2 || seen[cluster.StoreNode(leader)] {
			t.Fatalf("follower reads went to %v", seen)
		}
	})
}

// TestReplicaReadFallbackToLeaderRegionError ports client-go
// TestReplicaReadFallbackToLeaderRegionError: a follower answering
// RegionNotFound makes the read retry on the leader, and the region is
// dropped from the cache afterwards.
func TestReplicaReadFallbackToLeaderRegionError(t *testing.T) {
	run(t, 2, func(e *env) {
		e.put(t, "a", "1")
		_, leader := e.c.Region([]byte("a"))
		loc := e.locate(t, "a")
		e.tr.errs = []*errorpb.Error{{RegionNotFound: &errorpb.RegionNotFound{RegionId: loc.Region.ID()}}}
		v, addrs, re := e.sendReplica(t, "a", replicaGet("a", tikvrpc.ReplicaReadFollower))
		if re != nil || v != "1" || len(addrs) != 2 || addrs[0] == cluster.StoreNode(leader) || addrs[1] != cluster.StoreNode(leader) {
			t.Fatalf("got %q %v via %v, want a follower then the leader", v, re, addrs)
		}
		if e.cache.CachedRegion(loc.Region) != nil && e.cache.IsValid(e.cache.CachedRegion(loc.Region)) {
			t.Fatal("region still valid after RegionNotFound from a follower")
		}
	})
}

// TestAccessFollowerAfter1TiKVDown ports client-go
// TestAccessFollowerAfter1TiKVDown and TestDoNotTryUnreachableLeader: with
// a follower's store down, follower reads are served by the other follower
// (the down one is tried at most once per read); with every follower down,
// by the leader.
func TestAccessFollowerAfter1TiKVDown(t *testing.T) {
	run(t, 3, func(e *env) {
		e.put(t, "a", "1")
		r, leader := e.c.Region([]byte("a"))
		var followers []uint64
		for _, p := range r.Peers {
			if p.StoreId != leader {
				followers = append(followers, p.StoreId)
			}
		}
		if err := e.c.CrashStore(followers[0]); err != nil {
			t.Fatal(err)
		}
		for range 4 {
			v, addrs, re := e.sendReplica(t, "a", replicaGet("a", tikvrpc.ReplicaReadFollower))
			if re != nil || v != "1" || addrs[len(addrs)-1] != cluster.StoreNode(followers[1]) || len(addrs) > 2 {
				t.Fatalf("follower read with store %d down: %q %v via %v", followers[0], v, re, addrs)
			}
		}
		if err := e.c.CrashStore(followers[1]); err != nil {
			t.Fatal(err)
		}
		v, addrs, re := e.sendReplica(t, "a", replicaGet("a", tikvrpc.ReplicaReadFollower))
		if re != nil || v != "1" || addrs[len(addrs)-1] != cluster.StoreNode(leader) {
			t.Fatalf("follower read with both followers down: %q %v via %v", v, re, addrs)
		}
	})
}

// TestReplicaReadServerBusyMovesOn ports the follower rows of client-go
// TestSendReqWithReplicaSelector and TestReplicaReadAccessPathByBasicCase:
// a follower answering ServerIsBusy or ReadIndexNotReady makes the read go
// to the next replica.
func TestReplicaReadServerBusyMovesOn(t *testing.T) {
	run(t, 4, func(e *env) {
		e.put(t, "a", "1")
		for _, re := range []*errorpb.Error{
			{ServerIsBusy: &errorpb.ServerIsBusy{Reason: "busy"}},
			{ReadIndexNotReady: &errorpb.ReadIndexNotReady{Reason: "not ready"}},
		} {
			e.tr.errs = []*errorpb.Error{re}
			v, addrs, got := e.sendReplica(t, "a", replicaGet("a", tikvrpc.ReplicaReadFollower))
			if got != nil || v != "1" || len(addrs) != 2 || addrs[0] == addrs[1] {
				t.Fatalf("after %v: %q %v via %v, want the next replica", re, v, got, addrs)
			}
		}
	})
}

// TestReplicaReadExhausted: when every replica failed, the region is
// dropped and the caller gets an EpochNotMatch to locate again (client-go
// replica selector exhausted, a nil RPC context).
func TestReplicaReadExhausted(t *testing.T) {
	run(t, 5, func(e *env) {
		e.put(t, "a", "1")
		busy := &errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{Reason: "busy"}}
		e.tr.errs = []*errorpb.Error{busy, busy, busy}
		loc := e.locate(t, "a")
		_, addrs, re := e.sendReplica(t, "a", replicaGet("a", tikvrpc.ReplicaReadFollower))
		if re.GetEpochNotMatch() == nil || len(addrs) != 3 {
			t.Fatalf("exhausted: %v via %v, want EpochNotMatch after 3 replicas", re, addrs)
		}
		if r := e.cache.CachedRegion(loc.Region); r != nil && e.cache.IsValid(r) {
			t.Fatal("region still valid after the selector was exhausted")
		}
	})
}

// TestLoadBasedReplicaRead ports client-go TestLoadBasedReplicaRead: a
// leader read with a busy threshold whose leader answers ServerIsBusy with
// an estimated wait above it is resent at once, without backoff, to a
// follower as a replica read; the next read skips the leader while the
// estimate lasts.
func TestLoadBasedReplicaRead(t *testing.T) {
	run(t, 6, func(e *env) {
		e.put(t, "a", "1")
		_, leader := e.c.Region([]byte("a"))
		busyGet := func() *tikvrpc.Request {
			req := rawGet("a")
			req.BusyThresholdMs = 100
			return req
		}
		e.tr.errs = []*errorpb.Error{{ServerIsBusy: &errorpb.ServerIsBusy{Reason: "busy", EstimatedWaitMs: 2000}}}
		start := e.rt.Now()
		v, addrs, re := e.sendReplica(t, "a", busyGet())
		if re != nil || v != "1" || len(addrs) != 2 || addrs[0] != cluster.StoreNode(leader) || addrs[1] == addrs[0] {
			t.Fatalf("busy leader: %q %v via %v, want the leader then a follower", v, re, addrs)
		}
		if took := e.rt.Now().Sub(start); took > 50*time.Millisecond {
			t.Fatalf("the retry on a follower took %v: backed off", took)
		}
		v, addrs, re = e.sendReplica(t, "a", busyGet())
		if re != nil || v != "1" || len(addrs) != 1 || addrs[0] == cluster.StoreNode(leader) {
			t.Fatalf("read while the leader's estimate lasts: %q %v via %v, want a follower", v, re, addrs)
		}
		_ = e.rt.Sleep(e.ctx, 3*time.Second)
		_, addrs, _ = e.sendReplica(t, "a", busyGet())
		if addrs[0] != cluster.StoreNode(leader) {
			t.Fatalf("read after the estimate expired went to %v, want the leader", addrs)
		}
	})
}
