package txnkv_test

// Ports of client-go's lock resolution tests, async-commit part (batch
// B11): integration_tests/lock_test.go and txnkv/txnlock
// lock_resolver_test.go. The half-committed transactions client-go builds
// with committer probes are raw async-commit prewrites here.

import (
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/txnkv/txnlock"
)

// regionOf is the region holding key, as the cluster has it now.
func (e *env) regionOf(key string) locate.RegionVerID {
	reg, _ := e.c.Region(k(key))
	return locate.NewRegionVerID(reg.Id, reg.RegionEpoch.ConfVer, reg.RegionEpoch.Version)
}

// prepareTxnFallenBackFromAsyncCommit is client-go's helper: fb1 (the
// primary, listing fb2) is an async-commit lock with TTL 1; fb2's prewrite
// had a max_commit_ts below the start ts, so TiKV fell back and wrote a 2PC
// lock. The writer is gone.
func (e *env) prepareTxnFallenBackFromAsyncCommit(t *testing.T) uint64 {
	t.Helper()
	start := e.ts(t)
	if m := e.asyncPrewrite(t, start, 1, 0, "fb1", []string{"fb2"}, "fb1"); m == 0 {
		t.Fatal("fb1 fell back")
	}
	if m := e.asyncPrewrite(t, start, 1, start-1, "fb1", nil, "fb2"); m != 0 {
		t.Fatalf("fb2 did not fall back: min_commit_ts %d", m)
	}
	if l := e.lockOf(t, "fb2"); l == nil || l.UseAsyncCommit {
		t.Fatalf("fb2's lock %v, want a 2PC lock", l)
	}
	_ = e.r.Sleep(e.ctx, 100*time.Millisecond) // TTL 1 expires
	e.ts(t)                                    // the resolver judges expiry by the latest ts seen
	return start
}

// TestResolveTxnFallenBackFromAsyncCommit ports
// TestCheckLocksFallenBackFromAsyncCommit and
// TestResolveTxnFallenBackFromAsyncCommit: the primary is async but a
// secondary is not; CheckSecondaryLocks meets the 2PC lock, so the resolver
// asks the primary again with force_sync_commit, which rolls the expired
// transaction back. Both keys end up absent.
func TestResolveTxnFallenBackFromAsyncCommit(t *testing.T) {
	runHooked(t, 201, []string{"g", "p"}, func(e *env, h *hookTransport) {
		start := e.prepareTxnFallenBackFromAsyncCommit(t)
		l := e.lockAt(t, "fb1")
		if !l.UseAsyncCommit {
			t.Fatal("fb1 not async")
		}
		ms, err := e.cli.LockResolver().ResolveLocks(e.bo(20000), 0, []*txnlock.Lock{l})
		if err != nil || ms != 0 {
			t.Fatalf("ResolveLocks = %d, %v", ms, err)
		}
		var forced bool
		for _, r := range h.requests(tikvrpc.CmdCheckTxnStatus) {
			forced = forced || r.Req.(*kvrpcpb.CheckTxnStatusRequest).ForceSyncCommit
		}
		if !forced || len(h.requests(tikvrpc.CmdCheckSecondaryLocks)) == 0 {
			t.Fatalf("force_sync_commit sent %v, CheckSecondaryLocks %d", forced, len(h.requests(tikvrpc.CmdCheckSecondaryLocks)))
		}
		st, err := e.cli.LockResolver().GetTxnStatus(e.ctx, e.bo(5000), start, 0, k("fb1"))
		if err != nil || !st.IsRolledBack() {
			t.Fatalf("status %v, %v; want rolled back", st, err)
		}
		if e.get(t, "fb1") != "" || e.get(t, "fb2") != "" {
			t.Fatal("fallen-back transaction visible")
		}
		e.noLocks(t, "fb1", "fb2")
	})
}

// TestBatchResolveTxnFallenBackFromAsyncCommit ports
// TestBatchResolveTxnFallenBackFromAsyncCommit: GC's batch resolution
// handles the same transaction.
func TestBatchResolveTxnFallenBackFromAsyncCommit(t *testing.T) {
	run(t, 202, func(e *env) {
		e.prepareTxnFallenBackFromAsyncCommit(t)
		l := e.lockAt(t, "fb1")
		ok, err := e.cli.LockResolver().BatchResolveLocks(e.bo(20000), []*txnlock.Lock{l, e.lockAt(t, "fb2")}, e.regionOf("fb1"))
		if err != nil || !ok {
			t.Fatalf("BatchResolveLocks = %v, %v", ok, err)
		}
		if e.get(t, "fb1") != "" || e.get(t, "fb2") != "" {
			t.Fatal("fallen-back transaction visible")
		}
		e.noLocks(t, "fb1", "fb2")
	})
}

// TestBatchResolveAsyncCommitLocks: GC's batch resolution decides an
// expired async-commit transaction from its secondaries too (committed
// here: every lock is present), in every region.
func TestBatchResolveAsyncCommitLocks(t *testing.T) {
	run(t, 203, func(e *env) {
		start := e.ts(t)
		m := max(e.asyncPrewrite(t, start, 1, 0, "a", []string{"q"}, "a"), e.asyncPrewrite(t, start, 1, 0, "a", nil, "q"))
		_ = e.r.Sleep(e.ctx, 100*time.Millisecond)
		e.ts(t)
		ok, err := e.cli.LockResolver().BatchResolveLocks(e.bo(20000), []*txnlock.Lock{e.lockAt(t, "a")}, e.regionOf("a"))
		if err != nil || !ok {
			t.Fatalf("BatchResolveLocks = %v, %v", ok, err)
		}
		e.noLocks(t, "a", "q")
		st, err := e.cli.LockResolver().GetTxnStatus(e.ctx, e.bo(5000), start, 0, k("a"))
		if err != nil || st.CommitTS() != m {
			t.Fatalf("status %v, %v; want committed at %d", st, err, m)
		}
		if e.get(t, "q") != "v-q" {
			t.Fatal("secondary in another region not committed")
		}
	})
}

// TestResolveLocksForReadAsyncCommit ports the async-commit cases of
// TestResolveLocksForRead: a live async-commit lock cannot be pushed and
// makes the reader wait; an expired one is decided committed (every lock
// present) before the read ts, so the reader reads through it.
func TestResolveLocksForReadAsyncCommit(t *testing.T) {
	run(t, 204, func(e *env) {
		live := e.ts(t)
		e.asyncPrewrite(t, live, 3000, 0, "k44", []string{"k4"}, "k44")
		e.asyncPrewrite(t, live, 3000, 0, "k44", nil, "k4")
		expired := e.ts(t)
		e.asyncPrewrite(t, expired, 1, 0, "k55", []string{"k5"}, "k55")
		e.asyncPrewrite(t, expired, 1, 0, "k55", nil, "k5")
		_ = e.r.Sleep(e.ctx, 500*time.Millisecond)
		readTS := e.ts(t)
		res, err := e.cli.LockResolver().ResolveLocksForRead(e.bo(20000), readTS, []*txnlock.Lock{e.lockAt(t, "k4"), e.lockAt(t, "k5")})
		if err != nil {
			t.Fatal(err)
		}
		if res.TTL <= 0 || len(res.IgnoreLocks) != 0 || len(res.AccessLocks) != 1 || res.AccessLocks[0] != expired {
			t.Fatalf("result %+v; want a wait for %d and read-through of %d", res, live, expired)
		}
		if e.lockOf(t, "k4") == nil {
			t.Fatal("the live async-commit lock was resolved")
		}
		e.noLocks(t, "k5", "k55")
	})
}

// TestLockResolverCacheAsyncCommit ports TestLockResolverCache: once an
// async-commit transaction is decided, its status is cached, and resolving
// another of its locks asks no CheckTxnStatus nor CheckSecondaryLocks.
func TestLockResolverCacheAsyncCommit(t *testing.T) {
	runHooked(t, 205, []string{"g", "p"}, func(e *env, h *hookTransport) {
		start := e.ts(t)
		e.asyncPrewrite(t, start, 1, 0, "k1", []string{"k2", "q"}, "k1")
		e.asyncPrewrite(t, start, 1, 0, "k1", nil, "k2")
		e.asyncPrewrite(t, start, 1, 0, "k1", nil, "q")
		_ = e.r.Sleep(e.ctx, 100*time.Millisecond)
		e.ts(t)
		q := e.lockAt(t, "q")
		// Resolve one lock, then put a copy of another back in the way
		// and resolve it: the cached status decides it.
		if _, err := e.cli.LockResolver().ResolveLocks(e.bo(20000), 0, []*txnlock.Lock{e.lockAt(t, "k2")}); err != nil {
			t.Fatal(err)
		}
		cts, css := len(h.requests(tikvrpc.CmdCheckTxnStatus)), len(h.requests(tikvrpc.CmdCheckSecondaryLocks))
		if ms, err := e.cli.LockResolver().ResolveLocks(e.bo(20000), 0, []*txnlock.Lock{q}); err != nil || ms != 0 {
			t.Fatalf("ResolveLocks = %d, %v", ms, err)
		}
		if len(h.requests(tikvrpc.CmdCheckTxnStatus)) != cts || len(h.requests(tikvrpc.CmdCheckSecondaryLocks)) != css {
			t.Fatal("a decided async-commit transaction was checked again")
		}
		e.noLocks(t, "k1", "k2", "q")
		if e.get(t, "q") != "v-q" {
			t.Fatal("q not committed")
		}
	})
}
