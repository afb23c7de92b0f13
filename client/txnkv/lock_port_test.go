package txnkv_test

// Ports of client-go's lock resolution tests (batch B11, non-async-commit
// part): integration_tests/lock_test.go and txnkv/txnlock
// lock_resolver_test.go, run against the fake cluster. Locks are left the
// way a crashed writer leaves them: raw prewrites without commits, or a
// committed primary with its secondaries still locked.

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/config/retry"
	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/txnkv/txnlock"
)

func (e *env) bo(ms int) *retry.Backoffer {
	return retry.NewBackoffer(e.ctx, ms, retry.Env{Clock: e.r, Rand: e.r.NewRand()})
}

// lockAt returns the lock on key as the resolver gets it.
func (e *env) lockAt(t *testing.T, key string) *txnlock.Lock {
	t.Helper()
	l := e.lockOf(t, key)
	if l == nil {
		t.Fatalf("no lock on %s", key)
	}
	return txnlock.NewLock(l)
}

// prepareAlphabetLocks is client-go's putAlphabets + prepareAlphabetLocks
// without the async-commit lock: a..z committed with value = key, then c
// locked by a transaction whose primary committed, d by one whose primary
// rolled back, e by a crashed one with a short TTL.
func (e *env) prepareAlphabetLocks(t *testing.T) {
	kvs := map[string]string{}
	for c := 'a'; c <= 'z'; c++ {
		kvs[string(c)] = string(c)
	}
	e.commit(t, kvs)
	s1 := e.ts(t)
	e.raw(t, k("c"), tikvrpc.CmdPrewrite, &kvrpcpb.PrewriteRequest{PrimaryLock: k("z1"), StartVersion: s1, LockTtl: 60000, TxnSize: 2,
		Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: k("c"), Value: k("c")}}})
	e.raw(t, k("z1"), tikvrpc.CmdPrewrite, &kvrpcpb.PrewriteRequest{PrimaryLock: k("z1"), StartVersion: s1, LockTtl: 60000, TxnSize: 2,
		Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: k("z1"), Value: k("z1")}}})
	e.commitRaw(t, s1, e.ts(t), "z1")
	s2 := e.ts(t)
	e.raw(t, k("d"), tikvrpc.CmdPrewrite, &kvrpcpb.PrewriteRequest{PrimaryLock: k("z2"), StartVersion: s2, LockTtl: 60000, TxnSize: 2,
		Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: k("d"), Value: k("dd")}}})
	e.raw(t, k("z2"), tikvrpc.CmdBatchRollback, &kvrpcpb.BatchRollbackRequest{StartVersion: s2, Keys: [][]byte{k("z2")}})
	s3 := e.ts(t)
	e.raw(t, k("e"), tikvrpc.CmdPrewrite, &kvrpcpb.PrewriteRequest{PrimaryLock: k("e"), StartVersion: s3, LockTtl: 300, TxnSize: 1,
		Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: k("e"), Value: k("ee")}}})
}

// TestScanLockResolve ports TestScanLockResolveWithGet, ...WithSeek,
// ...WithSeekKeyOnly and ...WithBatchGet: a reader meeting committed,
// rolled-back and expired locks reads the right values by every path.
func TestScanLockResolve(t *testing.T) {
	for _, mode := range []string{"get", "seek", "seek-key-only", "batch-get", "reverse-seek"} {
		t.Run(mode, func(t *testing.T) {
			run(t, 51, func(e *env) {
				e.prepareAlphabetLocks(t)
				txn, _ := e.cli.Begin(e.ctx)
				var want, got []string
				for c := 'a'; c <= 'z'; c++ {
					want = append(want, string(c))
				}
				switch mode {
				case "get":
					for c := 'a'; c <= 'z'; c++ {
						v, err := txn.Get(e.ctx, k(string(c)))
						if err != nil {
							t.Fatal(err)
						}
						got = append(got, string(v))
					}
				case "seek", "seek-key-only":
					snap := txn.GetSnapshot()
					snap.KeyOnly = mode == "seek-key-only"
					snap.ScanBatchSize = 3
					it, err := snap.Iter(e.ctx, k("a"), k("z"))
					if err != nil {
						t.Fatal(err)
					}
					for it.Valid() {
						if snap.KeyOnly {
							if len(it.Value()) != 0 {
								t.Fatalf("key-only scan returned %q", it.Value())
							}
							got = append(got, string(it.Key()))
						} else {
							got = append(got, string(it.Value()))
						}
						if err := it.Next(); err != nil {
							t.Fatal(err)
						}
					}
					want = want[:len(want)-1] // z is past the bound
				case "reverse-seek":
					snap := txn.GetSnapshot()
					snap.ScanBatchSize = 3
					it, err := snap.IterReverse(e.ctx, k("z"), k("a"))
					if err != nil {
						t.Fatal(err)
					}
					for it.Valid() {
						got = append(got, string(it.Value()))
						if err := it.Next(); err != nil {
							t.Fatal(err)
						}
					}
					want = want[:len(want)-1]
					slices.Reverse(want)
				case "batch-get":
					var keys [][]byte
					for c := 'a'; c <= 'z'; c++ {
						keys = append(keys, k(string(c)))
					}
					m, err := txn.BatchGet(e.ctx, keys)
					if err != nil {
						t.Fatal(err)
					}
					for c := 'a'; c <= 'z'; c++ {
						got = append(got, string(m[string(c)]))
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("%s read %v", mode, got)
				}
			})
		})
	}
}

// TestCleanLock ports TestCleanLock: a writer meeting the expired locks of
// crashed transactions on every key resolves them and commits.
func TestCleanLock(t *testing.T) {
	run(t, 52, func(e *env) {
		for c := 'a'; c <= 'z'; c++ {
			e.prewriteTxn(t, e.ts(t), 3000, string(c))
		}
		kvs := map[string]string{}
		for c := 'a'; c <= 'z'; c++ {
			kvs[string(c)] = string(c + 1)
		}
		e.commit(t, kvs)
		e.settle()
		for c := 'a'; c <= 'z'; c++ {
			if got := e.get(t, string(c)); got != string(c+1) {
				t.Fatalf("%c = %q", c, got)
			}
		}
	})
}

// TestGetTxnStatus ports TestGetTxnStatus and TestCheckTxnStatusTTL:
// committed, primary-committed and alive transactions, then one rolled
// back by resolving its lock with TTL 0 (client-go ForceResolveLock).
func TestGetTxnStatus(t *testing.T) {
	run(t, 53, func(e *env) {
		lr := e.cli.LockResolver()
		txn, _ := e.cli.Begin(e.ctx)
		_ = txn.Set(k("a"), k("a"))
		if err := txn.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		st, err := lr.GetTxnStatus(e.ctx, e.bo(5000), txn.StartTS(), txn.StartTS(), k("a"))
		if err != nil || !st.IsCommitted() || st.CommitTS() != txn.CommitTS() {
			t.Fatalf("committed txn: %v, %v", st, err)
		}
		s2 := e.ts(t)
		e.prewriteTxn(t, s2, 3000, "a", "b")
		c2 := e.ts(t)
		e.commitRaw(t, s2, c2, "a")
		st, err = lr.GetTxnStatus(e.ctx, e.bo(5000), s2, s2, k("a"))
		if err != nil || !st.IsCommitted() || st.CommitTS() != c2 {
			t.Fatalf("primary-committed txn: %v, %v", st, err)
		}
		s3 := e.ts(t)
		e.prewriteTxn(t, s3, 3000, "x")
		st, err = lr.GetTxnStatus(e.ctx, e.bo(5000), s3, s3, k("x"))
		if err != nil || st.IsCommitted() || st.TTL() == 0 || st.IsStatusDetermined() {
			t.Fatalf("alive txn: %v, %v", st, err)
		}
		l := e.lockAt(t, "x")
		l.TTL = 0 // force
		if ms, err := lr.ResolveLocks(e.bo(5000), e.ts(t), []*txnlock.Lock{l}); err != nil || ms != 0 {
			t.Fatalf("force resolve: %d, %v", ms, err)
		}
		st, err = lr.GetTxnStatus(e.ctx, e.bo(5000), s3, s3, k("x"))
		if err != nil || !st.IsRolledBack() || st.CommitTS() != 0 {
			t.Fatalf("force-resolved txn: %v, %v", st, err)
		}
		if e.lockOf(t, "x") != nil {
			t.Fatal("lock left after force resolve")
		}
	})
}

// TestCheckTxnStatus ports TestCheckTxnStatus: a reader's status check
// pushes the live primary's min_commit_ts; resolving its secondary reports
// the time left; with TTL 0 the transaction is rolled back.
func TestCheckTxnStatus(t *testing.T) {
	run(t, 54, func(e *env) {
		lr := e.cli.LockResolver()
		start := e.ts(t)
		e.prewriteTxn(t, start, 5000, "key", "second")
		current := e.ts(t)
		st, err := lr.GetTxnStatus(e.ctx, e.bo(5000), start, current, k("key"))
		if err != nil || st.IsCommitted() || st.TTL() == 0 || st.Action() != kvrpcpb.Action_MinCommitTSPushed {
			t.Fatalf("status = %v, %v", st, err)
		}
		l := e.lockAt(t, "second")
		ms, err := lr.ResolveLocks(e.bo(5000), current, []*txnlock.Lock{l})
		if err != nil || ms <= 0 {
			t.Fatalf("live lock: %d ms, %v", ms, err)
		}
		res, err := lr.ResolveLocksForRead(e.bo(5000), current, []*txnlock.Lock{l})
		if err != nil || !slices.Contains(res.IgnoreLocks, start) {
			t.Fatalf("read over the pushed lock: %+v, %v", res, err)
		}
		l.TTL = 0
		if ms, err := lr.ResolveLocks(e.bo(5000), current, []*txnlock.Lock{l}); err != nil || ms != 0 {
			t.Fatalf("TTL-0 lock: %d ms, %v", ms, err)
		}
		st, err = lr.GetTxnStatus(e.ctx, e.bo(5000), start, 0, k("key"))
		if err != nil || !st.IsRolledBack() {
			t.Fatalf("after rollback: %v, %v", st, err)
		}
		e.noLocks(t, "key", "second")
	})
}

// TestCheckTxnStatusNoWait ports TestCheckTxnStatusNoWait: a secondary
// whose primary is not prewritten yet is waited for while its TTL lasts
// (the primary's prewrite may be in flight) and rolled back
// (LockNotExistRollback) once it expires.
func TestCheckTxnStatusNoWait(t *testing.T) {
	run(t, 55, func(e *env) {
		lr := e.cli.LockResolver()
		start := e.ts(t)
		e.raw(t, k("second"), tikvrpc.CmdPrewrite, &kvrpcpb.PrewriteRequest{PrimaryLock: k("key"), StartVersion: start, LockTtl: 100000, TxnSize: 2,
			Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: k("second"), Value: k("xxx")}}})
		e.r.Go("late-primary", func() {
			_ = e.r.Sleep(e.ctx, 100*time.Millisecond)
			e.raw(t, k("key"), tikvrpc.CmdPrewrite, &kvrpcpb.PrewriteRequest{PrimaryLock: k("key"), StartVersion: start, LockTtl: 100000, TxnSize: 2,
				Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: k("key"), Value: k("value")}}})
		})
		ms, err := lr.ResolveLocks(e.bo(20000), e.ts(t), []*txnlock.Lock{e.lockAt(t, "second")})
		if err != nil || ms <= 0 {
			t.Fatalf("lock whose primary arrives late: %d ms, %v", ms, err)
		}
		if e.lockOf(t, "key") == nil {
			t.Fatal("the late primary was rolled back")
		}
		// A lock pointing at a primary that never comes: rolled back after
		// its TTL.
		s2 := e.ts(t)
		e.raw(t, k("third"), tikvrpc.CmdPrewrite, &kvrpcpb.PrewriteRequest{PrimaryLock: k("key_not_exist"), StartVersion: s2, LockTtl: 1000, TxnSize: 2,
			Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: k("third"), Value: k("x")}}})
		before := e.w.Elapsed()
		ms, err = lr.ResolveLocks(e.bo(20000), e.ts(t), []*txnlock.Lock{e.lockAt(t, "third")})
		if err != nil || ms != 0 {
			t.Fatalf("orphan lock: %d ms, %v", ms, err)
		}
		if d := e.w.Elapsed() - before; d < 500*time.Millisecond {
			t.Fatalf("orphan lock rolled back after %v, within its TTL", d)
		}
		st, err := lr.GetTxnStatus(e.ctx, e.bo(5000), s2, 0, k("key_not_exist"))
		if err != nil || !st.IsRolledBack() {
			t.Fatalf("orphan txn: %v, %v", st, err)
		}
		e.noLocks(t, "third")
	})
}

// TestLockTTL ports TestLockTTL: a small transaction's lock TTL is the 3s
// default plus the time since it began; a 4 MiB one gets ttlFactor*sqrt(4).
func TestLockTTL(t *testing.T) {
	runHooked(t, 56, nil, func(e *env, h *hookTransport) {
		txn, _ := e.cli.Begin(e.ctx)
		_ = e.r.Sleep(e.ctx, 50*time.Millisecond)
		_ = txn.Set(k("ttl_key_3"), k("value"))
		if err := txn.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		pw := h.requests(tikvrpc.CmdPrewrite)[0].Req.(*kvrpcpb.PrewriteRequest)
		if pw.LockTtl < 3050 || pw.LockTtl > 3200 {
			t.Fatalf("small txn lock TTL %d, want 3000+elapsed", pw.LockTtl)
		}
		txn, _ = e.cli.Begin(e.ctx)
		for i := range 2048 {
			key := keyN(i) + "-padding"
			_ = txn.Set(k(key), make([]byte, 2048-len(key))) // 4 MiB in all
		}
		_ = txn.Set(k("ttl_key_2"), k("value"))
		n := len(h.requests(tikvrpc.CmdPrewrite))
		if err := txn.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		pw = h.requests(tikvrpc.CmdPrewrite)[n].Req.(*kvrpcpb.PrewriteRequest)
		if pw.LockTtl < 12000 || pw.LockTtl > 12500 {
			t.Fatalf("4 MiB txn lock TTL %d, want about 6000*sqrt(size in MiB)", pw.LockTtl)
		}
		// 12 MiB: 6000*sqrt(12) is over 20s, capped at the managed lock TTL
		// (20s), not 20 minutes.
		txn, _ = e.cli.Begin(e.ctx)
		for i := range 6144 {
			key := keyN(i) + "-padding"
			_ = txn.Set(k(key), make([]byte, 2048-len(key)))
		}
		n = len(h.requests(tikvrpc.CmdPrewrite))
		if err := txn.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		pw = h.requests(tikvrpc.CmdPrewrite)[n].Req.(*kvrpcpb.PrewriteRequest)
		if pw.LockTtl < 20000 || pw.LockTtl > 20500 {
			t.Fatalf("12 MiB txn lock TTL %d, want 20000 (capped) plus elapsed", pw.LockTtl)
		}
	})
}

// TestNewLockZeroTTL ports TestNewLockZeroTTL.
func TestNewLockZeroTTL(t *testing.T) {
	if l := txnlock.NewLock(&kvrpcpb.LockInfo{}); l.TTL != 0 {
		t.Fatalf("TTL %d", l.TTL)
	}
}

// TestZeroMinCommitTS ports TestZeroMinCommitTS: a lock without
// min_commit_ts is not pushed past a caller at ts 0 (wait), is pushed for
// one at MaxUint64 (ignore), and a TTL-0 copy resolves at once.
func TestZeroMinCommitTS(t *testing.T) {
	run(t, 57, func(e *env) {
		lr := e.cli.LockResolver()
		start := e.ts(t)
		e.raw(t, k("key"), tikvrpc.CmdPrewrite, &kvrpcpb.PrewriteRequest{PrimaryLock: k("key"), StartVersion: start, LockTtl: 1000, TxnSize: 1,
			Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: k("key"), Value: k("value")}}})
		l := e.lockAt(t, "key")
		res, err := lr.ResolveLocksForRead(e.bo(5000), 0, []*txnlock.Lock{l})
		if err != nil || len(res.IgnoreLocks) != 0 || res.TTL <= 0 {
			t.Fatalf("caller ts 0: %+v, %v", res, err)
		}
		res, err = lr.ResolveLocksForRead(e.bo(5000), math.MaxUint64, []*txnlock.Lock{l})
		if err != nil || len(res.IgnoreLocks) != 1 || res.TTL != 0 {
			t.Fatalf("caller ts MaxUint64: %+v, %v", res, err)
		}
		l.TTL = 0
		if ms, err := lr.ResolveLocks(e.bo(5000), 0, []*txnlock.Lock{l}); err != nil || ms != 0 {
			t.Fatalf("TTL 0: %d, %v", ms, err)
		}
	})
}

// TestPrewriteEncountersLargerTsLock ports
// TestPrewriteEncountersLargerTsLock: an optimistic prewrite meeting the
// lock of a transaction that started later fails at once with a write
// conflict instead of waiting out that lock (client-go prewrite.go: the
// later transaction would conflict with our commit anyway).
func TestPrewriteEncountersLargerTsLock(t *testing.T) {
	run(t, 58, func(e *env) {
		t1, _ := e.cli.Begin(e.ctx)
		_ = t1.Set(k("k1"), k("v1"))
		_ = t1.Set(k("k2"), k("v2"))
		e.prewriteTxn(t, e.ts(t), 20000, "k1", "k2") // t2, started after t1
		before := e.w.Elapsed()
		err := t1.Commit(e.ctx)
		if !tikverr.IsErrWriteConflict(err) {
			t.Fatalf("commit = %v, want a write conflict", err)
		}
		if d := e.w.Elapsed() - before; d > time.Second {
			t.Fatalf("write conflict after %v: waited for the later lock", d)
		}
		if e.lockOf(t, "k1") == nil {
			t.Fatal("the later transaction's lock was resolved")
		}
	})
}

// TestResolveLocksForRead ports TestResolveLocksForRead (without the
// async-commit locks): committed-before-read locks may be read through,
// rolled-back and committed-after-read ones ignored, live ones pushed.
func TestResolveLocksForRead(t *testing.T) {
	run(t, 59, func(e *env) {
		lr := e.cli.LockResolver()
		var locks []*txnlock.Lock
		// k1: primary k11 committed before the read.
		s1 := e.ts(t)
		e.prewriteTxn(t, s1, 3000, "k11", "k1")
		e.commitRaw(t, s1, e.ts(t), "k11")
		locks = append(locks, e.lockAt(t, "k1"))
		// k2: primary k22 rolled back.
		s2 := e.ts(t)
		e.prewriteTxn(t, s2, 3000, "k22", "k2")
		e.raw(t, k("k22"), tikvrpc.CmdBatchRollback, &kvrpcpb.BatchRollbackRequest{StartVersion: s2, Keys: [][]byte{k("k22")}})
		locks = append(locks, e.lockAt(t, "k2"))
		// k3: alive, its min_commit_ts gets pushed.
		s3 := e.ts(t)
		e.prewriteTxn(t, s3, 3000, "k33", "k3")
		locks = append(locks, e.lockAt(t, "k3"))
		// k6: primary k66 committed after the read ts.
		s6 := e.ts(t)
		e.prewriteTxn(t, s6, 3000, "k66", "k6")
		readTS := e.ts(t)
		e.commitRaw(t, s6, e.ts(t), "k66")
		locks = append(locks, e.lockAt(t, "k6"))

		res, err := lr.ResolveLocksForRead(e.bo(5000), readTS, locks)
		if err != nil {
			t.Fatal(err)
		}
		ign, acc := slices.Clone(res.IgnoreLocks), slices.Clone(res.AccessLocks)
		slices.Sort(ign)
		if !slices.Equal(ign, []uint64{s2, s3, s6}) || !slices.Equal(acc, []uint64{s1}) || res.TTL != 0 {
			t.Fatalf("ignore %v (want %v), access %v (want %v), ttl %d", ign, []uint64{s2, s3, s6}, acc, []uint64{s1}, res.TTL)
		}
	})
}

// TestLockResolverCache ports TestLockResolverCache (non-async part): a
// finished transaction's status is served from the resolved cache without
// another CheckTxnStatus.
func TestLockResolverCache(t *testing.T) {
	runHooked(t, 60, nil, func(e *env, h *hookTransport) {
		lr := e.cli.LockResolver()
		txn, _ := e.cli.Begin(e.ctx)
		_ = txn.Set(k("a"), k("a"))
		if err := txn.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			st, err := lr.GetTxnStatus(e.ctx, e.bo(5000), txn.StartTS(), 0, k("a"))
			if err != nil || !st.IsCommitted() {
				t.Fatal(st, err)
			}
		}
		if n := len(h.requests(tikvrpc.CmdCheckTxnStatus)); n != 1 {
			t.Fatalf("%d CheckTxnStatus for a cached status", n)
		}
	})
}

// TestBatchResolveLocks ports TestBatchResolveLocks (non-async part): GC's
// batch resolution commits the locks of a committed transaction and rolls
// back those of an expired one in one request, and rolls back a live
// transaction too ("resolve the lock even the ttl is not expired").
func TestBatchResolveLocks(t *testing.T) {
	run(t, 62, func(e *env) {
		lr := e.cli.LockResolver()
		s1 := e.ts(t)
		e.prewriteTxn(t, s1, 3000, "k1", "k2")
		c1 := e.ts(t)
		e.commitRaw(t, s1, c1, "k1")
		s3 := e.ts(t)
		e.prewriteTxn(t, s3, 10, "k3", "k4") // expires at once
		s5 := e.ts(t)
		e.prewriteTxn(t, s5, 60000, "k5", "k6") // alive
		_ = e.r.Sleep(e.ctx, 100*time.Millisecond)
		e.ts(t) // the resolver judges expiry by the latest ts seen
		reg, _ := e.c.Region(k("k2"))
		loc := locate.NewRegionVerID(reg.Id, reg.RegionEpoch.ConfVer, reg.RegionEpoch.Version)
		if ok, err := lr.BatchResolveLocks(e.bo(20000), nil, loc); !ok || err != nil {
			t.Fatalf("no locks: %v, %v", ok, err)
		}
		locks := []*txnlock.Lock{e.lockAt(t, "k2"), e.lockAt(t, "k3"), e.lockAt(t, "k4")}
		if ok, err := lr.BatchResolveLocks(e.bo(20000), locks, loc); !ok || err != nil {
			t.Fatalf("batch resolve: %v, %v", ok, err)
		}
		e.noLocks(t, "k2", "k3", "k4")
		if e.get(t, "k2") != "v-k2" || e.get(t, "k4") != "" {
			t.Fatal("wrong outcome")
		}
		reg6, _ := e.c.Region(k("k6"))
		loc6 := locate.NewRegionVerID(reg6.Id, reg6.RegionEpoch.ConfVer, reg6.RegionEpoch.Version)
		if ok, err := lr.BatchResolveLocks(e.bo(20000), []*txnlock.Lock{e.lockAt(t, "k6"), e.lockAt(t, "k5")}, loc6); !ok || err != nil {
			t.Fatalf("with a live txn: %v, %v", ok, err)
		}
		e.noLocks(t, "k5", "k6")
		if e.get(t, "k5") != "" || e.get(t, "k6") != "" {
			t.Fatal("the live txn was not rolled back")
		}
	})
}

// TestResolveAfterSplits: the reader's and the resolver's cached regions
// are stale (regions split after they were cached) while they meet the
// locks of a big transaction (TxnSize over the lite threshold: resolved
// region by region) whose primary committed; every path relocates on
// EpochNotMatch and reads the committed values.
func TestResolveAfterSplits(t *testing.T) {
	run(t, 63, func(e *env) {
		kvs := map[string]string{}
		for c := 'a'; c <= 'z'; c++ {
			kvs[string(c)] = "old"
		}
		e.commit(t, kvs)
		// Warm the client's region cache.
		if _, err := e.cli.GetSnapshot(e.ts(t)).BatchGet(e.ctx, [][]byte{k("a"), k("h"), k("q")}); err != nil {
			t.Fatal(err)
		}
		start := e.ts(t)
		locked := []string{"c", "d", "e", "h", "i", "q", "r"}
		for _, key := range locked {
			e.raw(t, k(key), tikvrpc.CmdPrewrite, &kvrpcpb.PrewriteRequest{PrimaryLock: k("c"), StartVersion: start, LockTtl: 60000, TxnSize: 20,
				Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: k(key), Value: k("new")}}})
		}
		e.commitRaw(t, start, e.ts(t), "c")
		for _, s := range []string{"d", "e", "i", "r"} {
			if err := e.c.Split(k(s)); err != nil {
				t.Fatal(err)
			}
		}
		snap := e.cli.GetSnapshot(e.ts(t))
		snap.ScanBatchSize = 3
		it, err := snap.Iter(e.ctx, k("a"), nil)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for ; it.Valid(); n++ {
			want := "old"
			if slices.Contains(locked, string(it.Key())) {
				want = "new"
			}
			if string(it.Value()) != want {
				t.Fatalf("%s = %q, want %q", it.Key(), it.Value(), want)
			}
			if err := it.Next(); err != nil {
				t.Fatal(err)
			}
		}
		if n != 26 {
			t.Fatalf("scanned %d keys", n)
		}
		// Readers read through a committed transaction's locks without
		// resolving each one (the request context lists the transaction);
		// a writer resolves the rest.
		w := map[string]string{}
		for _, key := range locked {
			w[key] = "newer"
		}
		e.commit(t, w)
		e.settle()
		e.noLocks(t, locked...)
		// Reverse over fresh splits too.
		_ = e.c.Split(k("m"))
		got := drainer(t)(e.cli.GetSnapshot(e.ts(t)).IterReverse(e.ctx, nil, k("a")))
		if len(got) != 26 || got[0] != "z" {
			t.Fatalf("reverse scan = %v", got)
		}
	})
}
