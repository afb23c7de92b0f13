package txnkv_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tikvsim/tikvsim/client/pd"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/txnkv"
)

// TestGCResolvesLocksAndAdvancesSafePoints: GC below a committed
// transaction's leftover secondaries and an abandoned transaction's locks
// commits the first, rolls back the second, leaves no lock at or below the
// safe point in any region, and moves both PD safe points.
func TestGCResolvesLocksAndAdvancesSafePoints(t *testing.T) {
	runHooked(t, 1, []string{"b", "d"}, func(e *env, _ *hookTransport) {
		// Committed primary "a"; secondaries "c", "e" left locked.
		committed := e.ts(t)
		e.prewriteTxn(t, committed, 3000, "a", "c", "e")
		e.commitRaw(t, committed, e.ts(t), "a")
		// Still running as far as TiKV knows (a minute of TTL): GC below it
		// rolls it back at once instead of waiting it out.
		abandoned := e.ts(t)
		e.prewriteTxn(t, abandoned, 60000, "b1", "d1")
		safePoint := e.ts(t)
		// A lock above the safe point is not GC's to touch.
		later := e.ts(t)
		e.prewriteTxn(t, later, 3000, "z")

		begin := e.w.Elapsed()
		got, err := e.cli.GC(e.ctx, safePoint)
		if err != nil {
			t.Fatal(err)
		}
		if took := e.w.Elapsed() - begin; took > time.Second {
			t.Fatalf("GC took %v of virtual time: it waited for a live lock instead of rolling it back", took)
		}
		if got != safePoint {
			t.Fatalf("GC reached %d, want %d", got, safePoint)
		}
		for _, key := range []string{"a", "c", "e", "b1", "d1"} {
			if l := e.lockOf(t, key); l != nil {
				t.Fatalf("lock on %s survived GC: %v", key, l)
			}
		}
		if l := e.lockOf(t, "z"); l == nil || l.LockVersion != later {
			t.Fatalf("lock above the safe point = %v, want txn %d's", l, later)
		}
		e.commitRaw(t, later, e.ts(t), "z")
		for key, want := range map[string]string{"a": "v-a", "c": "v-c", "e": "v-e", "b1": "", "d1": "", "z": "v-z"} {
			if v := e.get(t, key); v != want {
				t.Fatalf("%s = %q after GC, want %q", key, v, want)
			}
		}
		st, err := e.cli.GCState(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.TxnSafePoint != safePoint || st.GCSafePoint != safePoint {
			t.Fatalf("PD gc state %+v, want both safe points %d", st, safePoint)
		}
		// A second GC below the first is an error: safe points never go back.
		if _, err := e.cli.GC(e.ctx, committed); err == nil {
			t.Fatal("GC to a lower safe point succeeded")
		}
	})
}

// TestGCBarrierHoldsSafePoint: a GC barrier keeps GC at its ts until it is
// deleted (PD's GC-states API, client-go gc_test's barrier cases).
func TestGCBarrierHoldsSafePoint(t *testing.T) {
	runHooked(t, 2, nil, func(e *env, _ *hookTransport) {
		barrier := e.ts(t)
		if _, err := e.cli.SetGCBarrier(e.ctx, "backup", barrier, pd.Forever); err != nil {
			t.Fatal(err)
		}
		target := e.ts(t)
		got, err := e.cli.GC(e.ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		if got != barrier {
			t.Fatalf("GC with a barrier at %d reached %d", barrier, got)
		}
		st, err := e.cli.GCState(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.GCBarriers) != 1 || st.GCBarriers[0].BarrierID != "backup" || st.GCBarriers[0].TTL != pd.Forever {
			t.Fatalf("barriers %+v, want backup forever", st.GCBarriers)
		}
		del, err := e.cli.DeleteGCBarrier(e.ctx, "backup")
		if err != nil || del == nil || del.BarrierTS != barrier {
			t.Fatalf("DeleteGCBarrier = %+v, %v", del, err)
		}
		if del, err := e.cli.DeleteGCBarrier(e.ctx, "backup"); err != nil || del != nil {
			t.Fatalf("second DeleteGCBarrier = %+v, %v; want nil, nil", del, err)
		}
		if got, err = e.cli.GC(e.ctx, target); err != nil || got != target {
			t.Fatalf("GC after deleting the barrier = %d, %v; want %d", got, err, target)
		}
	})
}

// TestCheckVisibility: a start ts below the txn safe point is rejected with
// ErrTxnAbortedByGC (client-go KVStore.CheckVisibility), one at or above
// it is fine.
func TestCheckVisibility(t *testing.T) {
	runHooked(t, 3, nil, func(e *env, _ *hookTransport) {
		old := e.ts(t)
		if err := e.cli.CheckVisibility(e.ctx, old); err != nil {
			t.Fatalf("before any GC: %v", err)
		}
		sp := e.ts(t)
		if _, err := e.cli.GC(e.ctx, sp); err != nil {
			t.Fatal(err)
		}
		var gcErr *tikverr.ErrTxnAbortedByGC
		if err := e.cli.CheckVisibility(e.ctx, old); !errors.As(err, &gcErr) || gcErr.TxnSafePoint != sp || gcErr.TxnStartTS != old {
			t.Fatalf("CheckVisibility below the safe point = %v", err)
		}
		if err := e.cli.CheckVisibility(e.ctx, sp); err != nil {
			t.Fatalf("at the safe point: %v", err)
		}
		// Another client's GC shows once the cached safe point ages out.
		other, err := txnkv.NewClient(txnkv.WithRuntime(e.r), txnkv.WithTransport(e.c.NewTransport("other")), txnkv.WithPD(e.c.NewPDClient("other")))
		if err != nil {
			t.Fatal(err)
		}
		sp2 := e.ts(t)
		if _, err := other.GC(e.ctx, sp2); err != nil {
			t.Fatal(err)
		}
		if err := e.cli.CheckVisibility(e.ctx, sp); err != nil {
			t.Fatalf("within the cache TTL the old safe point holds: %v", err)
		}
		_ = e.r.Sleep(e.ctx, txnkv.DefaultSafePointCacheTTL)
		if err := e.cli.CheckVisibility(e.ctx, sp); !errors.As(err, &gcErr) || gcErr.TxnSafePoint != sp2 {
			t.Fatalf("after the cache TTL: %v, want aborted by GC at %d", err, sp2)
		}
	})
}

// TestResolveLocksForRangeWalksRegions: the scan covers each region once
// and stops at the range's end, and it pages through a region holding more
// locks than one scan returns.
func TestResolveLocksForRangeWalksRegions(t *testing.T) {
	runHooked(t, 4, []string{"b", "d"}, func(e *env, _ *hookTransport) {
		start := e.ts(t)
		e.prewriteTxn(t, start, 0, "a", "b5", "c", "d5", "e")
		sp := e.ts(t)
		stat, err := e.cli.ResolveLocksForRange(e.ctx, sp, nil, []byte("d"))
		if err != nil {
			t.Fatal(err)
		}
		if stat.CompletedRegions != 2 || stat.ResolvedLocks != 3 {
			t.Fatalf("stat %+v, want 2 regions and 3 locks", stat)
		}
		if e.lockOf(t, "d5") == nil || e.lockOf(t, "e") == nil {
			t.Fatal("locks past the range's end were resolved")
		}
		stat, err = e.cli.ResolveLocksForRange(e.ctx, sp, nil, nil)
		if err != nil || stat.CompletedRegions != 3 || stat.ResolvedLocks != 2 {
			t.Fatalf("whole range: %+v, %v; want 3 regions, 2 locks", stat, err)
		}
	})
}

// TestSnapshotReadsBelowSafePointRefused ports the read half of client-go's
// TestSafePoint: once GC's txn safe point passes a snapshot's version, its
// Get, BatchGet and Iter fail with ErrTxnAbortedByGC instead of returning
// data GC may have dropped; a transaction's reads too.
func TestSnapshotReadsBelowSafePointRefused(t *testing.T) {
	runHooked(t, 5, []string{"m"}, func(e *env, _ *hookTransport) {
		txn, _ := e.cli.Begin(e.ctx)
		_ = txn.Set(k("a"), k("1"))
		_ = txn.Set(k("z"), k("2"))
		if err := txn.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		old := e.ts(t)
		snap := e.cli.GetSnapshot(old)
		reader, _ := e.cli.Begin(e.ctx)
		if v, err := snap.Get(e.ctx, k("a")); err != nil || string(v) != "1" {
			t.Fatalf("before GC: %q, %v", v, err)
		}
		if _, err := e.cli.GC(e.ctx, e.ts(t)); err != nil {
			t.Fatal(err)
		}
		var gcErr *tikverr.ErrTxnAbortedByGC
		if _, err := snap.Get(e.ctx, k("a")); !errors.As(err, &gcErr) {
			t.Fatalf("Get below the safe point = %v", err)
		}
		if _, err := snap.BatchGet(e.ctx, [][]byte{k("a"), k("z")}); !errors.As(err, &gcErr) {
			t.Fatalf("BatchGet below the safe point = %v", err)
		}
		if it, err := snap.Iter(e.ctx, k("a"), nil); err == nil {
			it.Close()
			t.Fatal("Iter below the safe point succeeded")
		} else if !errors.As(err, &gcErr) {
			t.Fatalf("Iter below the safe point = %v", err)
		}
		if _, err := reader.Get(e.ctx, k("z")); !errors.As(err, &gcErr) {
			t.Fatalf("a transaction's read below the safe point = %v", err)
		}
		if v, err := e.cli.GetSnapshot(e.ts(t)).Get(e.ctx, k("z")); err != nil || string(v) != "2" {
			t.Fatalf("a fresh snapshot: %q, %v", v, err)
		}
	})
}
