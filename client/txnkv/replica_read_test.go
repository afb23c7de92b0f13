package txnkv_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsim/tikvsim/client/internal/sender"
	"github.com/tikvsim/tikvsim/client/kv"
	"github.com/tikvsim/tikvsim/client/oracle"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/txnkv"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
	"github.com/tikvsim/tikvsim/sim/simtest"
)

// TestFollowerReadSeesLatestWrite: a follower read right after a commit
// sees it (the follower asked the leader for a read index), for every
// replica read kind.
func TestFollowerReadSeesLatestWrite(t *testing.T) {
	run(t, 11, func(e *env) {
		for i, typ := range []kv.ReplicaReadType{kv.ReplicaReadFollower, kv.ReplicaReadMixed, kv.ReplicaReadLearner, kv.ReplicaReadPreferLeader} {
			want := fmt.Sprintf("v%d", i)
			e.commit(t, map[string]string{"a": want, "h": want})
			before := e.c.ReadIndexes()
			ts, _ := e.cli.GetTimestamp(e.ctx)
			snap := e.cli.GetSnapshot(ts)
			snap.SetReplicaRead(typ)
			for _, key := range []string{"a", "h"} {
				if v, err := snap.Get(e.ctx, k(key)); err != nil || string(v) != want {
					t.Fatalf("%v read of %s = %q, %v; want %q", typ, key, v, err, want)
				}
			}
			m, err := snap.BatchGet(e.ctx, [][]byte{k("a"), k("h")})
			if err != nil || string(m["a"]) != want || string(m["h"]) != want {
				t.Fatalf("%v BatchGet = %v, %v", typ, m, err)
			}
			if typ == kv.ReplicaReadFollower && e.c.ReadIndexes() == before {
				t.Fatalf("follower reads took no read index")
			}
		}
	})
}

// TestReplicaReadAdjuster ports client-go it/snapshot TestReplicaReadAdjuster:
// the adjuster picks the read kind per request by its key count, here
// follower reads for point gets and leader reads for batches.
func TestReplicaReadAdjuster(t *testing.T) {
	run(t, 14, func(e *env) {
		e.commit(t, map[string]string{"a": "1", "b": "2"})
		ts, _ := e.cli.GetTimestamp(e.ctx)
		snap := e.cli.GetSnapshot(ts)
		var asked []int
		snap.SetReplicaReadAdjuster(func(keys int) (sender.ReadOption, kv.ReplicaReadType) {
			asked = append(asked, keys)
			if keys == 1 {
				return nil, kv.ReplicaReadFollower
			}
			return nil, kv.ReplicaReadLeader
		})
		before := e.c.ReadIndexes()
		if v, err := snap.Get(e.ctx, k("a")); err != nil || string(v) != "1" {
			t.Fatalf("Get = %q, %v", v, err)
		}
		if e.c.ReadIndexes() != before+1 {
			t.Fatalf("a point get took %d read indexes, want 1 (a follower read)", e.c.ReadIndexes()-before)
		}
		before = e.c.ReadIndexes()
		if m, err := snap.BatchGet(e.ctx, [][]byte{k("a"), k("b")}); err != nil || len(m) != 2 {
			t.Fatalf("BatchGet = %v, %v", m, err)
		}
		if e.c.ReadIndexes() != before {
			t.Fatal("a batch the adjuster sent to the leader took a read index")
		}
		if !slices.Contains(asked, 1) || !slices.Contains(asked, 2) {
			t.Fatalf("adjuster asked for %v, want 1 and 2 keys", asked)
		}
	})
}

// TestFollowerReadFallsBackToLeader: with every follower of the region cut
// off from the client, a follower read is served by the leader.
func TestFollowerReadFallsBackToLeader(t *testing.T) {
	run(t, 12, func(e *env) {
		e.commit(t, map[string]string{"a": "1"})
		r, leader := e.c.Region(k("a"))
		for _, p := range r.Peers {
			if p.StoreId != leader {
				if err := (network.OneWay{From: "app", To: cluster.StoreNode(p.StoreId)}).Apply(e.net); err != nil {
					t.Fatal(err)
				}
			}
		}
		ts, _ := e.cli.GetTimestamp(e.ctx)
		snap := e.cli.GetSnapshot(ts)
		snap.SetReplicaRead(kv.ReplicaReadFollower)
		if v, err := snap.Get(e.ctx, k("a")); err != nil || string(v) != "1" {
			t.Fatalf("follower read with followers unreachable = %q, %v", v, err)
		}
	})
}

// TestStaleRead: a stale read at a fresh ts falls back to the leader and
// is right; once the safe ts has passed it, followers serve it locally;
// GetMinSafeTS follows the stores; a read ts in the future is refused.
func TestStaleRead(t *testing.T) {
	run(t, 13, func(e *env) {
		e.commit(t, map[string]string{"a": "old"})
		ts, _ := e.cli.GetTimestamp(e.ctx)
		e.commit(t, map[string]string{"a": "new"})
		snap := e.cli.GetSnapshot(ts)
		snap.SetIsStalenessReadOnly(true)
		if v, err := snap.Get(e.ctx, k("a")); err != nil || string(v) != "old" {
			t.Fatalf("stale read at a fresh ts = %q, %v", v, err)
		}
		if e.cli.GetMinSafeTS(txnkv.GlobalTxnScope) != 0 {
			t.Fatal("min safe ts before any update")
		}
		_ = e.r.Sleep(e.ctx, 3*time.Second)
		e.cli.UpdateSafeTS(e.ctx)
		minTS := e.cli.GetMinSafeTS(txnkv.GlobalTxnScope)
		now, _ := e.cli.GetTimestamp(e.ctx)
		if minTS <= ts || minTS >= now {
			t.Fatalf("min safe ts %d, want in (%d, %d)", minTS, ts, now)
		}
		served := e.c.StaleReadsServed()
		for _, key := range []string{"a", "h", "z"} {
			snap = e.cli.GetSnapshot(ts)
			snap.SetIsStalenessReadOnly(true)
			v, err := snap.Get(e.ctx, k(key))
			if key == "a" && (err != nil || string(v) != "old") || key != "a" && !errors.Is(err, tikverr.ErrNotExist) {
				t.Fatalf("stale read of %s below the safe ts = %q, %v", key, v, err)
			}
		}
		if e.c.StaleReadsServed() == served {
			t.Fatal("no stale read was served by a follower")
		}
		future := oracle.ComposeTS(oracle.ExtractPhysical(now)+int64(time.Hour/time.Millisecond), 0)
		snap = e.cli.GetSnapshot(future)
		snap.SetIsStalenessReadOnly(true)
		var fe oracle.ErrFutureTSRead
		if _, err := snap.Get(e.ctx, k("a")); !errors.As(err, &fe) {
			t.Fatalf("stale read in the future: %v, want ErrFutureTSRead", err)
		}
	})
}

// readRecord is one read of the fault test.
type readRecord struct {
	kind     string // "follower" or "stale"
	key      string
	ts       uint64
	value    string // "" when not found
	ackedMin uint64 // commit ts of the last write of key acknowledged before the read began
}

// TestReplicaReadsUnderFaults: writers commit unique values (2PC, async
// commit, 1PC) while follower
// readers (every replica read kind) and stale readers (a few seconds back,
// or at GetMinSafeTS) read, under leader transfers, store isolation,
// one-way cuts and store crashes. After healing, every read is compared
// with a leader read at its ts: follower reads must be linearizable (they
// see every write acknowledged before they began) and stale reads must
// return exactly the snapshot at their ts.
func TestReplicaReadsUnderFaults(t *testing.T) {
	seeds := 24
	if testing.Short() {
		seeds = 6
	}
	var st faultStats
	for seed := uint64(100); seed < 100+uint64(seeds); seed++ {
		replicaFaultRun(t, seed, &st)
	}
	t.Logf("%d seeds: %d follower reads (%d read indexes), %d stale reads (%d served by followers)", seeds, st.followerReads, st.readIndexes, st.staleReads, st.staleServed)
	if st.followerReads == 0 || st.staleReads == 0 || st.readIndexes == 0 || st.staleServed == 0 {
		t.Fatal("the run exercised too little: want follower reads with read indexes and stale reads served by followers")
	}
}

// TestReplicaReadsDeterministic: a seed of the fault run gives the same
// trace hash twice, and two seeds differ.
func TestReplicaReadsDeterministic(t *testing.T) {
	simtest.CheckDeterminism(t, simtest.Seeds(100, 101), func(seed uint64) uint64 {
		return replicaFaultRun(t, seed, &faultStats{})
	})
}

// faultStats counts what the fault runs exercised.
type faultStats struct{ followerReads, staleReads, readIndexes, staleServed uint64 }

// replicaFaultRun is one seed of TestReplicaReadsUnderFaults; it returns the
// run's trace hash.
func replicaFaultRun(t *testing.T, seed uint64, st *faultStats) uint64 {
	var hash uint64
	run(t, seed, func(e *env) {
		defer func() { hash = e.w.TraceHash() }()
		rng := e.w.Rand("replica-read-test")
		keys := []string{"a", "c", "h", "m", "q", "x"}
		ctx, cancel := e.w.WithDeadline(e.ctx, e.w.Now().Add(4*time.Second))
		defer cancel()
		runCtx, stopRun := context.WithCancel(e.ctx)
		e.r.Go("client-run", func() { _ = e.cli.Run(runCtx) })
		defer stopRun()

		acked := map[string]uint64{}     // value -> commit ts
		lastAcked := map[string]uint64{} // key -> commit ts of its last acknowledged write
		attempted := map[string]bool{}
		var reads []readRecord
		g := rt.NewGroup(e.r)
		for w := range 3 {
			g.Go("writer", func() error {
				for seq := 0; ctx.Err() == nil; seq++ {
					txn, err := e.cli.Begin(ctx)
					if err != nil {
						continue
					}
					key := keys[(w*7+seq*3)%len(keys)]
					val := fmt.Sprintf("w%d-%d", w, seq)
					attempted[val] = true
					// Async commit and 1PC take their commit ts from
					// max_ts, which stale reads do not raise.
					txn.SetEnableAsyncCommit(w == 1)
					txn.SetEnable1PC(w == 2)
					txn.SetCausalConsistency(w > 0) // no ts fetched before prewrite: commit ts from max_ts
					_ = txn.Set(k(key), k(val))
					if txn.Commit(ctx) == nil {
						acked[val] = txn.CommitTS()
						lastAcked[key] = max(lastAcked[key], txn.CommitTS())
					}
				}
				return nil
			})
		}
		types := []kv.ReplicaReadType{kv.ReplicaReadFollower, kv.ReplicaReadMixed, kv.ReplicaReadLearner, kv.ReplicaReadPreferLeader}
		for rd := range 4 {
			// Odd seeds: stale readers only, so that nothing but the
			// resolved-ts advance raises max_ts at fresh timestamps.
			stale := rd >= 2 || seed%2 == 1
			g.Go("reader", func() error {
				for i := 0; ctx.Err() == nil; i++ {
					key := keys[(rd*5+i)%len(keys)]
					floor := lastAcked[key]
					ts, err := e.cli.GetTimestamp(ctx)
					if err != nil {
						continue
					}
					kind := "follower"
					if stale {
						kind = "stale"
						if m := e.cli.GetMinSafeTS(txnkv.GlobalTxnScope); m != 0 && i%2 == 0 {
							ts = m
						} else {
							ts = oracle.ComposeTS(oracle.ExtractPhysical(ts)-int64(i%4)*1000, 0)
						}
						floor = 0
					}
					snap := e.cli.GetSnapshot(ts)
					if stale {
						snap.SetIsStalenessReadOnly(true)
					} else {
						snap.SetReplicaRead(types[i%len(types)])
					}
					v, err := snap.Get(ctx, k(key))
					if err != nil && !errors.Is(err, tikverr.ErrNotExist) {
						continue
					}
					reads = append(reads, readRecord{kind: kind, key: key, ts: ts, value: string(v), ackedMin: floor})
				}
				return nil
			})
		}
		g.Go("nemesis", func() error {
			var crashed uint64
			for ctx.Err() == nil {
				if e.r.Sleep(ctx, time.Duration(100+rng.IntN(300))*time.Millisecond) != nil {
					break
				}
				store := uint64(1 + rng.IntN(3))
				switch rng.IntN(6) {
				case 0, 1:
					_ = e.c.TransferLeader(k(keys[rng.IntN(len(keys))]), store)
				case 2:
					_ = (network.Isolate{Node: cluster.StoreNode(store)}).Apply(e.net)
				case 3:
					_ = (network.OneWay{From: cluster.StoreNode(store), To: cluster.StoreNode(1 + store%3)}).Apply(e.net)
				case 4:
					if crashed == 0 {
						crashed = store
						_ = e.c.CrashStore(store)
					} else {
						_ = e.c.RestartStore(crashed)
						crashed = 0
					}
				default:
					_ = (network.Heal{}).Apply(e.net)
				}
			}
			if crashed != 0 {
				_ = e.c.RestartStore(crashed)
			}
			return (network.Heal{}).Apply(e.net)
		})
		_ = g.Wait(e.ctx)
		// Heal: restart every store, then read the truth from leaders.
		for _, id := range e.c.StoreIDs() {
			_ = e.c.RestartStore(id)
		}
		_ = (network.Heal{}).Apply(e.net)
		_ = e.r.Sleep(e.ctx, 5*time.Second)
		for _, r := range reads {
			if r.value != "" && !attempted[r.value] {
				t.Fatalf("seed %d: %s read of %s at %d returned %q, never written", seed, r.kind, r.key, r.ts, r.value)
			}
			if ts, ok := acked[r.value]; r.value != "" && ok && ts < r.ackedMin {
				t.Fatalf("seed %d: follower read of %s at %d returned %q (commit ts %d), older than a write acknowledged before it began (commit ts %d)",
					seed, r.key, r.ts, r.value, ts, r.ackedMin)
			}
			if r.value == "" && r.ackedMin > 0 {
				t.Fatalf("seed %d: follower read of %s at %d found nothing after a write acknowledged at %d", seed, r.key, r.ts, r.ackedMin)
			}
			v, err := e.cli.GetSnapshot(r.ts).Get(e.ctx, k(r.key))
			if err != nil && !errors.Is(err, tikverr.ErrNotExist) {
				t.Fatalf("seed %d: leader read of %s at %d: %v", seed, r.key, r.ts, err)
			}
			if string(v) != r.value {
				t.Fatalf("seed %d: %s read of %s at %d = %q, the snapshot at that ts holds %q", seed, r.kind, r.key, r.ts, r.value, v)
			}
			if r.kind == "stale" {
				st.staleReads++
			} else {
				st.followerReads++
			}
		}
		st.readIndexes += e.c.ReadIndexes()
		st.staleServed += e.c.StaleReadsServed()
	})
	return hash
}

// TestStaleReadMatchesStoreLabels: with zone labels on the stores, a stale
// read with SetMatchStoreLabels is served locally by the replica in the
// reader's zone (client-go's local stale read), a follower read by the
// follower there, and GetMinSafeTS has a scope per zone.
func TestStaleReadMatchesStoreLabels(t *testing.T) {
	zone := func(id uint64) []*metapb.StoreLabel {
		return []*metapb.StoreLabel{{Key: txnkv.DCLabelKey, Value: fmt.Sprintf("z%d", id)}}
	}
	w := sim.New(15, sim.Options{MaxTime: time.Hour})
	net := network.New(w, network.Config{})
	c := cluster.New(w, net, cluster.Config{TxnKeys: true, SplitKeys: [][]byte{k("g")}, StoreLabels: zone, SafeTSInterval: 500 * time.Millisecond})
	r := clock.New(w)
	cli, err := txnkv.NewClient(txnkv.WithRuntime(r), txnkv.WithTransport(c.NewTransport("app")), txnkv.WithPD(c.NewPDClient("app")))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{w: w, net: net, c: c, cli: cli, r: r, ctx: context.Background()}
	w.Spawn("main", func() {
		defer w.Stop()
		e.commit(t, map[string]string{"a": "1"})
		ts, _ := cli.GetTimestamp(e.ctx)
		_ = r.Sleep(e.ctx, 3*time.Second)
		reg, leader := c.Region(k("a"))
		for _, p := range reg.Peers {
			if p.StoreId == leader {
				continue
			}
			before := c.StaleReadsServedBy(p.StoreId)
			for range 3 {
				snap := cli.GetSnapshot(ts)
				snap.SetIsStalenessReadOnly(true)
				snap.SetMatchStoreLabels(zone(p.StoreId))
				if v, err := snap.Get(e.ctx, k("a")); err != nil || string(v) != "1" {
					t.Fatalf("stale read in zone z%d = %q, %v", p.StoreId, v, err)
				}
			}
			if got := c.StaleReadsServedBy(p.StoreId) - before; got != 3 {
				t.Fatalf("store %d served %d of 3 stale reads from its zone", p.StoreId, got)
			}
		}
		cli.UpdateSafeTS(e.ctx)
		for id := uint64(1); id <= 3; id++ {
			if m := cli.GetMinSafeTS(fmt.Sprintf("z%d", id)); m <= ts {
				t.Fatalf("min safe ts of zone z%d = %d, want above %d", id, m, ts)
			}
		}
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
}

// TestLoadBasedReplicaReadSnapshot: with a load-based threshold, a snapshot
// whose leader store is busy reads from a follower at once instead of
// backing off on the leader.
func TestLoadBasedReplicaReadSnapshot(t *testing.T) {
	run(t, 16, func(e *env) {
		e.commit(t, map[string]string{"a": "1"})
		_, leader := e.c.Region(k("a"))
		if err := e.c.SetBusy(leader, true); err != nil {
			t.Fatal(err)
		}
		ts, _ := e.cli.GetTimestamp(e.ctx)
		snap := e.cli.GetSnapshot(ts)
		snap.SetLoadBasedReplicaReadThreshold(100 * time.Millisecond)
		before, start := e.c.ReadIndexes(), e.r.Now()
		if v, err := snap.Get(e.ctx, k("a")); err != nil || string(v) != "1" {
			t.Fatalf("Get with a busy leader = %q, %v", v, err)
		}
		if e.c.ReadIndexes() == before || e.r.Now().Sub(start) > 50*time.Millisecond {
			t.Fatalf("read took %v and %d read indexes: want a follower read without backoff", e.r.Now().Sub(start), e.c.ReadIndexes()-before)
		}
	})
}
