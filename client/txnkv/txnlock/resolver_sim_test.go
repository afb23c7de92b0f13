package txnlock_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/config/retry"
	"github.com/tikvsim/tikvsim/client/internal/apicodec"
	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/internal/sender"
	"github.com/tikvsim/tikvsim/client/oracle"
	"github.com/tikvsim/tikvsim/client/txnkv/txnlock"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

// These tests drive the lock resolver alone against the fake cluster
// (3 stores, regions split at "g" and "p"): locks are written straight into
// the cluster's engine, so each test sets up exactly the transaction state
// it resolves.

type env struct {
	t   *testing.T
	ctx context.Context
	w   *sim.World
	r   *clock.Runtime
	c   *cluster.Cluster
	s   *sender.Sender
	o   *oracle.PDOracle
	lr  *txnlock.LockResolver
}

func run(t *testing.T, body func(e *env)) {
	t.Helper()
	w := sim.New(1, sim.Options{MaxTime: time.Hour})
	net := network.New(w, network.Config{})
	c := cluster.New(w, net, cluster.Config{TxnKeys: true, SplitKeys: [][]byte{[]byte("g"), []byte("p")}})
	r := clock.New(w)
	pdc := c.NewPDClient("app")
	codec, err := apicodec.NewCodec(kvrpcpb.APIVersion_V1, apicodec.ModeTxn, nil)
	if err != nil {
		t.Fatal(err)
	}
	cache := locate.New(r, sender.CodecRegionSource(pdc, codec), locate.Options{})
	s := sender.NewWithCodec(cache, c.NewTransport("app"), codec)
	o := oracle.NewPDOracle(r, pdc, 0)
	e := &env{t: t, ctx: context.Background(), w: w, r: r, c: c, s: s, o: o, lr: txnlock.NewLockResolver(s, o)}
	w.Spawn("main", func() {
		defer w.Stop()
		body(e)
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
}

func (e *env) ts() uint64 {
	e.t.Helper()
	ts, err := e.o.GetTimestamp(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return ts
}

func (e *env) bo() *retry.Backoffer { return retry.NewBackoffer(e.ctx, 20000, e.s.BackoffEnv(e.r)) }

func (e *env) sleep(d time.Duration) { _ = e.r.Sleep(e.ctx, d) }

// prewrite writes locks of txn start on keys (the first is the primary).
func (e *env) prewrite(start, ttl, minCommit uint64, keys ...string) {
	e.t.Helper()
	var ms []*kvrpcpb.Mutation
	for _, k := range keys {
		ms = append(ms, &kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: []byte(k), Value: []byte(k + "-new")})
	}
	resp := e.c.Engine().Prewrite(&kvrpcpb.PrewriteRequest{Mutations: ms, PrimaryLock: []byte(keys[0]), StartVersion: start,
		LockTtl: ttl, MinCommitTs: minCommit, TxnSize: uint64(len(keys))})
	if len(resp.Errors) > 0 {
		e.t.Fatalf("prewrite %v: %v", keys, resp.Errors)
	}
}

func (e *env) commit(start, commitTS uint64, keys ...string) {
	e.t.Helper()
	var ks [][]byte
	for _, k := range keys {
		ks = append(ks, []byte(k))
	}
	if resp := e.c.Engine().Commit(&kvrpcpb.CommitRequest{StartVersion: start, CommitVersion: commitTS, Keys: ks}); resp.Error != nil {
		e.t.Fatalf("commit %v: %v", keys, resp.Error)
	}
}

// locks returns the locks in the engine, in key order, as the resolver
// gets them.
func (e *env) locks() []*txnlock.Lock {
	var out []*txnlock.Lock
	for _, l := range e.c.Engine().Snapshot().Locks() {
		out = append(out, txnlock.NewLock(l))
	}
	return out
}

func lockKeys(ls []*txnlock.Lock) string {
	var ks []string
	for _, l := range ls {
		ks = append(ks, string(l.Key))
	}
	return strings.Join(ks, ",")
}

func (e *env) value(key string, ts uint64) string {
	v, ok := e.c.Engine().Snapshot().Get([]byte(key), ts)
	if !ok {
		return "<none>"
	}
	return string(v)
}

// TestResolveExpiredAndCommitted: one call resolves the locks of an expired
// transaction (rolled back, in every region its keys span) and the
// secondary of a committed one (committed at the primary's commit ts).
func TestResolveExpiredAndCommitted(t *testing.T) {
	run(t, func(e *env) {
		dead := e.ts()
		e.prewrite(dead, 10, 0, "a", "h", "q")
		done := e.ts()
		e.prewrite(done, 10, 0, "b", "i")
		doneCommit := e.ts()
		e.commit(done, doneCommit, "b")
		e.sleep(100 * time.Millisecond) // past both TTLs
		caller := e.ts()
		ls := e.locks()
		if got := lockKeys(ls); got != "a,h,i,q" {
			t.Fatalf("locks %s", got)
		}
		wait, err := e.lr.ResolveLocks(e.bo(), caller, ls)
		if err != nil || wait != 0 {
			t.Fatalf("ResolveLocks = %d, %v; want 0, nil", wait, err)
		}
		if left := e.locks(); len(left) != 0 {
			t.Fatalf("locks left: %s", lockKeys(left))
		}
		for k, want := range map[string]string{"a": "<none>", "h": "<none>", "q": "<none>", "b": "b-new", "i": "i-new"} {
			if got := e.value(k, caller); got != want {
				t.Errorf("%s = %s, want %s", k, got, want)
			}
		}
		st, err := e.lr.GetTxnStatus(e.ctx, e.bo(), dead, caller, []byte("a"))
		if err != nil || !st.IsRolledBack() || st.IsCommitted() || !st.IsStatusDetermined() {
			t.Fatalf("status of the dead txn: %v %v", st, err)
		}
		st, err = e.lr.GetTxnStatus(e.ctx, e.bo(), done, caller, []byte("b"))
		if err != nil || !st.IsCommitted() || st.CommitTS() != doneCommit {
			t.Fatalf("status of the committed txn: %v %v, want commit ts %d", st, err, doneCommit)
		}
	})
}

// TestLiveLockReportsWait: a live lock is left alone and the caller is told
// how long to wait, at most its TTL; once the TTL has passed it is rolled
// back.
func TestLiveLockReportsWait(t *testing.T) {
	run(t, func(e *env) {
		start := e.ts()
		e.prewrite(start, 3000, 0, "c")
		wait, err := e.lr.ResolveLocks(e.bo(), e.ts(), e.locks())
		if err != nil || wait <= 0 || wait > 3000 {
			t.Fatalf("ResolveLocks = %d, %v; want a wait in (0, 3000]", wait, err)
		}
		st, err := e.lr.GetTxnStatus(e.ctx, e.bo(), start, e.ts(), []byte("c"))
		if err != nil || st.IsStatusDetermined() || st.TTL() != 3000 {
			t.Fatalf("live status %v %v", st, err)
		}
		if len(e.locks()) != 1 {
			t.Fatal("the live lock was removed")
		}
		// PD's TSO physical time moves in 50ms steps: wait past that.
		e.sleep(time.Duration(wait+100) * time.Millisecond)
		if wait, err := e.lr.ResolveLocks(e.bo(), e.ts(), e.locks()); err != nil || wait != 0 || len(e.locks()) != 0 {
			t.Fatalf("after the TTL: %d, %v, %d locks", wait, err, len(e.locks()))
		}
	})
}

// TestResolveLocksForRead: a reader is told which transactions' locks it may
// skip (a live large txn whose min_commit_ts it pushed, and a rolled-back
// one) and which it may read through (committed before its start ts).
func TestResolveLocksForRead(t *testing.T) {
	run(t, func(e *env) {
		live := e.ts()
		e.prewrite(live, 60000, live+1, "d") // large txn: min_commit_ts set
		committed := e.ts()
		e.prewrite(committed, 60000, 0, "e", "j")
		committedAt := e.ts()
		e.commit(committed, committedAt, "e")
		reader := e.ts()
		res, err := e.lr.ResolveLocksForRead(e.bo(), reader, e.locks())
		if err != nil {
			t.Fatal(err)
		}
		if res.TTL != 0 || len(res.IgnoreLocks) != 1 || res.IgnoreLocks[0] != live || len(res.AccessLocks) != 1 || res.AccessLocks[0] != committed {
			t.Fatalf("result %+v; want ignore [%d], access [%d], no wait", res, live, committed)
		}
		// The pushed lock now has min_commit_ts above the reader.
		for _, l := range e.c.Engine().Snapshot().Locks() {
			if string(l.Key) == "d" && l.MinCommitTs <= reader {
				t.Fatalf("min_commit_ts %d not pushed past reader %d", l.MinCommitTs, reader)
			}
		}
		// A lock without min_commit_ts cannot be pushed: the reader waits.
		small := e.ts()
		e.prewrite(small, 60000, 0, "f")
		var fl []*txnlock.Lock
		for _, l := range e.locks() {
			if string(l.Key) == "f" {
				fl = append(fl, l)
			}
		}
		res, err = e.lr.ResolveLocksForRead(e.bo(), e.ts(), fl)
		if err != nil || res.TTL <= 0 || len(res.IgnoreLocks) != 0 {
			t.Fatalf("small txn lock: %+v %v; want a wait", res, err)
		}
	})
}

// TestBatchResolveLocks: locks of finished transactions in one region are
// resolved with one call per transaction status; a live transaction is
// rolled back (GC kills it, client-go BatchResolveLocks).
func TestBatchResolveLocks(t *testing.T) {
	run(t, func(e *env) {
		var region locate.RegionVerID
		a := e.ts()
		e.prewrite(a, 10, 0, "k1", "k2")
		b := e.ts()
		e.prewrite(b, 10, 0, "k3")
		bc := e.ts()
		e.commit(b, bc, "k3")
		c := e.ts()
		e.prewrite(c, 10, 0, "k4", "k5")
		e.sleep(100 * time.Millisecond)
		// The resolver judges expiry on the low-resolution timestamp, which
		// the client's Run refreshes; take a fresh one instead.
		e.ts()
		loc, err := e.s.Cache().LocateKey(e.ctx, sender.PDBackoffer{Bo: e.bo()}, []byte("k1"))
		if err != nil {
			t.Fatal(err)
		}
		region = loc.Region
		ok, err := e.lr.BatchResolveLocks(e.bo(), e.locks(), region)
		if err != nil || !ok {
			t.Fatalf("BatchResolveLocks = %v, %v", ok, err)
		}
		if left := e.locks(); len(left) != 0 {
			t.Fatalf("locks left: %s", lockKeys(left))
		}
		now := e.ts()
		for k, want := range map[string]string{"k1": "<none>", "k3": "k3-new", "k4": "<none>"} {
			if got := e.value(k, now); got != want {
				t.Errorf("%s = %s, want %s", k, got, want)
			}
		}
		live := e.ts()
		e.prewrite(live, 60000, 0, "k6")
		if ok, err := e.lr.BatchResolveLocks(e.bo(), e.locks(), region); err != nil || !ok {
			t.Fatalf("with a live lock: %v, %v; want it rolled back", ok, err)
		}
		if left := e.locks(); len(left) != 0 {
			t.Fatalf("live lock left: %s", lockKeys(left))
		}
		if got := e.value("k6", e.ts()); got != "<none>" {
			t.Fatalf("k6 = %s after GC rolled its txn back", got)
		}
	})
}

// TestAsyncCommitLockRecovered: an async-commit transaction whose primary
// lock expired with every key prewritten is committed at the largest
// min_commit_ts of its locks (CheckSecondaryLocks); one with a secondary
// missing is rolled back.
func TestAsyncCommitLockRecovered(t *testing.T) {
	run(t, func(e *env) {
		prewriteAsync := func(start uint64, primary string, secondaries []string, keys ...string) {
			var ms []*kvrpcpb.Mutation
			for _, k := range keys {
				ms = append(ms, &kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: []byte(k), Value: []byte(k + "-async")})
			}
			var sec [][]byte
			for _, k := range secondaries {
				sec = append(sec, []byte(k))
			}
			resp := e.c.Engine().Prewrite(&kvrpcpb.PrewriteRequest{Mutations: ms, PrimaryLock: []byte(primary), StartVersion: start,
				LockTtl: 10, MinCommitTs: start + 1, UseAsyncCommit: true, Secondaries: sec, TxnSize: uint64(len(keys))})
			if len(resp.Errors) > 0 {
				t.Fatalf("async prewrite %v: %v", keys, resp.Errors)
			}
		}
		full := e.ts()
		prewriteAsync(full, "a1", []string{"h1", "q1"}, "a1")
		prewriteAsync(full, "a1", nil, "h1")
		prewriteAsync(full, "a1", nil, "q1")
		partial := e.ts()
		prewriteAsync(partial, "a2", []string{"h2"}, "a2") // h2 never prewritten
		e.sleep(100 * time.Millisecond)
		caller := e.ts()
		var mine []*txnlock.Lock
		for _, l := range e.locks() {
			if string(l.Key) == "q1" || string(l.Key) == "a2" {
				mine = append(mine, l)
			}
		}
		if len(mine) != 2 || !mine[0].UseAsyncCommit {
			t.Fatalf("locks %s", lockKeys(mine))
		}
		if wait, err := e.lr.ResolveLocks(e.bo(), caller, mine); err != nil || wait != 0 {
			t.Fatalf("ResolveLocks = %d, %v", wait, err)
		}
		if left := e.locks(); len(left) != 0 {
			t.Fatalf("locks left: %s", lockKeys(left))
		}
		for k, want := range map[string]string{"a1": "a1-async", "h1": "h1-async", "q1": "q1-async", "a2": "<none>"} {
			if got := e.value(k, caller); got != want {
				t.Errorf("%s = %s, want %s", k, got, want)
			}
		}
		st, err := e.lr.GetTxnStatus(e.ctx, e.bo(), full, caller, []byte("a1"))
		if err != nil || !st.IsCommitted() || st.CommitTS() <= full {
			t.Fatalf("async txn status %v %v", st, err)
		}
	})
}

func TestLockAndStatusStrings(t *testing.T) {
	l := txnlock.NewLock(&kvrpcpb.LockInfo{Key: []byte("k"), PrimaryLock: []byte("p"), LockVersion: 5, LockTtl: 7,
		LockType: kvrpcpb.Op_PessimisticLock, LockForUpdateTs: 6, MinCommitTs: 8, TxnSize: 2})
	if !l.IsPessimistic() || l.TxnID != 5 || l.TTL != 7 || l.LockForUpdateTS != 6 {
		t.Fatalf("NewLock: %+v", l)
	}
	s := l.String()
	for _, want := range []string{`key: "k"`, `primary: "p"`, "txnStartTS: 5", "lockForUpdateTS: 6", "minCommitTs: 8", "ttl: 7", "PessimisticLock"} {
		if !strings.Contains(s, want) {
			t.Errorf("Lock.String() = %s lacks %q", s, want)
		}
	}
	if txnlock.NewLock(&kvrpcpb.LockInfo{LockType: kvrpcpb.Op_Put}).IsPessimistic() {
		t.Error("a prewrite lock is not pessimistic")
	}
	var st txnlock.TxnStatus
	if st.IsCommitted() || st.CommitTS() != 0 || st.String() == "" {
		t.Errorf("zero status: %v", st)
	}
}

// TestMissingPrimaryAndZeroTTL: a secondary whose primary was never
// prewritten is waited for until its own TTL passes, then rolled back
// (the primary may still have been on its way); a lock with TTL 0 is
// resolved at once.
func TestMissingPrimaryAndZeroTTL(t *testing.T) {
	run(t, func(e *env) {
		orphan := e.ts()
		resp := e.c.Engine().Prewrite(&kvrpcpb.PrewriteRequest{PrimaryLock: []byte("a"), StartVersion: orphan, LockTtl: 200,
			Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte("h"), Value: []byte("x")}}})
		if len(resp.Errors) > 0 {
			t.Fatal(resp.Errors)
		}
		start := e.w.Elapsed()
		if wait, err := e.lr.ResolveLocks(e.bo(), e.ts(), e.locks()); err != nil || wait != 0 {
			t.Fatalf("ResolveLocks = %d, %v", wait, err)
		}
		if waited := e.w.Elapsed() - start; waited < 150*time.Millisecond {
			t.Fatalf("rolled back after %v, before the orphan's TTL", waited)
		}
		if len(e.locks()) != 0 {
			t.Fatal("orphan lock left")
		}
		st, err := e.lr.GetTxnStatus(e.ctx, e.bo(), orphan, e.ts(), []byte("a"))
		if err != nil || !st.IsRolledBack() {
			t.Fatalf("orphan status %v %v", st, err)
		}

		zero := e.ts()
		e.prewrite(zero, 0, 0, "b")
		start = e.w.Elapsed()
		if wait, err := e.lr.ResolveLocks(e.bo(), e.ts(), e.locks()); err != nil || wait != 0 || len(e.locks()) != 0 {
			t.Fatalf("TTL 0 lock: %d, %v, %d locks", wait, err, len(e.locks()))
		}
		if waited := e.w.Elapsed() - start; waited > 100*time.Millisecond {
			t.Fatalf("TTL 0 lock took %v", waited)
		}
		// A status found once is served from the resolver's cache.
		if st, err := e.lr.GetTxnStatus(e.ctx, e.bo(), zero, e.ts(), []byte("b")); err != nil || !st.IsRolledBack() || st.Action() == kvrpcpb.Action_MinCommitTSPushed {
			t.Fatalf("zero-TTL txn status %v %v", st, err)
		}
	})
}

// TestExpiredPessimisticLocks: the expired pessimistic locks of a
// transaction that never prewrote are rolled back pessimistically (no
// rollback record); live ones are waited for.
func TestExpiredPessimisticLocks(t *testing.T) {
	run(t, func(e *env) {
		lock := func(start uint64, ttl uint64, keys ...string) {
			for _, k := range keys {
				resp, w := e.c.Engine().PessimisticLock(&kvrpcpb.PessimisticLockRequest{PrimaryLock: []byte(keys[0]), StartVersion: start,
					ForUpdateTs: start, LockTtl: ttl, Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_PessimisticLock, Key: []byte(k)}}})
				if w != nil || len(resp.Errors) > 0 {
					t.Fatalf("lock %s: %v", k, resp.Errors)
				}
			}
		}
		dead := e.ts()
		lock(dead, 10, "c", "i")
		live := e.ts()
		lock(live, 60000, "d")
		e.sleep(100 * time.Millisecond)
		ls := e.locks()
		if len(ls) != 3 || !ls[0].IsPessimistic() {
			t.Fatalf("locks %s", lockKeys(ls))
		}
		wait, err := e.lr.ResolveLocks(e.bo(), e.ts(), ls)
		if err != nil || wait <= 0 {
			t.Fatalf("ResolveLocks = %d, %v; want a wait for the live lock", wait, err)
		}
		if got := lockKeys(e.locks()); got != "d" {
			t.Fatalf("locks left %s, want d", got)
		}
		// No rollback record: the dead txn's keys have no write at all.
		for _, k := range []string{"c", "i"} {
			info := e.c.Engine().MvccGetByKey(&kvrpcpb.MvccGetByKeyRequest{Key: []byte(k)}).GetInfo()
			if len(info.GetWrites()) != 0 || info.GetLock() != nil {
				t.Errorf("%s after a pessimistic rollback: %v", k, info)
			}
		}
	})
}

// TestAsyncCommitFallback: an expired async-commit primary whose secondary
// was prewritten without async commit (the transaction fell back to 2PC)
// is resolved as a 2PC transaction: rolled back, since its primary was
// never committed.
func TestAsyncCommitFallback(t *testing.T) {
	run(t, func(e *env) {
		start := e.ts()
		primary := e.c.Engine().Prewrite(&kvrpcpb.PrewriteRequest{PrimaryLock: []byte("a"), StartVersion: start, LockTtl: 10,
			MinCommitTs: start + 1, UseAsyncCommit: true, Secondaries: [][]byte{[]byte("q")},
			Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte("a"), Value: []byte("x")}}})
		second := e.c.Engine().Prewrite(&kvrpcpb.PrewriteRequest{PrimaryLock: []byte("a"), StartVersion: start, LockTtl: 10,
			Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte("q"), Value: []byte("y")}}})
		if len(primary.Errors)+len(second.Errors) > 0 {
			t.Fatal(primary.Errors, second.Errors)
		}
		e.sleep(100 * time.Millisecond)
		if wait, err := e.lr.ResolveLocks(e.bo(), e.ts(), e.locks()); err != nil || wait != 0 {
			t.Fatalf("ResolveLocks = %d, %v", wait, err)
		}
		if left := e.locks(); len(left) != 0 {
			t.Fatalf("locks left %s", lockKeys(left))
		}
		now := e.ts()
		if e.value("a", now) != "<none>" || e.value("q", now) != "<none>" {
			t.Fatalf("fallback txn not rolled back: a=%s q=%s", e.value("a", now), e.value("q", now))
		}
	})
}

// TestLargeTxnResolvedRegionWide: a large transaction's locks (TxnSize at
// or above the lite threshold) are resolved with one region-wide
// ResolveLock per region, which also removes the locks the caller did not
// pass.
func TestLargeTxnResolvedRegionWide(t *testing.T) {
	run(t, func(e *env) {
		start := e.ts()
		var ms []*kvrpcpb.Mutation
		for i := range 20 {
			ms = append(ms, &kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: []byte(fmt.Sprintf("h%02d", i)), Value: []byte("v")})
		}
		if resp := e.c.Engine().Prewrite(&kvrpcpb.PrewriteRequest{Mutations: ms, PrimaryLock: []byte("h00"), StartVersion: start,
			LockTtl: 10, TxnSize: 20}); len(resp.Errors) > 0 {
			t.Fatal(resp.Errors)
		}
		commitTS := e.ts()
		e.commit(start, commitTS, "h00")
		all := e.locks()
		if len(all) != 19 {
			t.Fatalf("%d locks", len(all))
		}
		// Pass two of them: the region-wide resolve takes all 19.
		if wait, err := e.lr.ResolveLocks(e.bo(), e.ts(), all[:2]); err != nil || wait != 0 {
			t.Fatalf("ResolveLocks = %d, %v", wait, err)
		}
		if left := e.locks(); len(left) != 0 {
			t.Fatalf("locks left %s", lockKeys(left))
		}
		if got := e.value("h19", e.ts()); got != "v" {
			t.Fatalf("h19 = %s, want committed", got)
		}
	})
}

// TestPessimisticOrphans: a pessimistic lock whose primary has no lock is
// waited for while its TTL lasts; one naming as primary a key that is not
// its transaction's primary (PrimaryMismatch) is rolled back.
func TestPessimisticOrphans(t *testing.T) {
	run(t, func(e *env) {
		plock := func(start uint64, primary, key string, ttl uint64) {
			resp, w := e.c.Engine().PessimisticLock(&kvrpcpb.PessimisticLockRequest{PrimaryLock: []byte(primary), StartVersion: start,
				ForUpdateTs: start, LockTtl: ttl, Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_PessimisticLock, Key: []byte(key)}}})
			if w != nil || len(resp.Errors) > 0 {
				t.Fatalf("lock %s: %v", key, resp.Errors)
			}
		}
		orphan := e.ts()
		plock(orphan, "a", "h", 60000) // primary a never locked
		wait, err := e.lr.ResolveLocks(e.bo(), e.ts(), e.locks())
		if err != nil || wait <= 0 || len(e.locks()) != 1 {
			t.Fatalf("orphan pessimistic lock: %d, %v, %d locks; want a wait and the lock kept", wait, err, len(e.locks()))
		}
		if resp := e.c.Engine().PessimisticRollback(&kvrpcpb.PessimisticRollbackRequest{StartVersion: orphan, ForUpdateTs: orphan, Keys: [][]byte{[]byte("h")}}); len(resp.Errors) > 0 {
			t.Fatal(resp.Errors)
		}

		stale := e.ts()
		plock(stale, "x", "x", 10)
		plock(stale, "x", "c", 10)
		plock(stale, "c", "i", 10) // claims c, which is a secondary
		e.sleep(100 * time.Millisecond)
		var il []*txnlock.Lock
		for _, l := range e.locks() {
			if string(l.Key) == "i" {
				il = append(il, l)
			}
		}
		if wait, err := e.lr.ResolveLocks(e.bo(), e.ts(), il); err != nil || wait != 0 {
			t.Fatalf("mismatched primary: %d, %v", wait, err)
		}
		if got := lockKeys(e.locks()); got != "c,x" {
			t.Fatalf("locks %s, want c,x (i rolled back)", got)
		}
	})
}

func (e *env) region(key string) locate.RegionVerID {
	e.t.Helper()
	loc, err := e.s.Cache().LocateKey(e.ctx, sender.PDBackoffer{Bo: e.bo()}, []byte(key))
	if err != nil {
		e.t.Fatal(err)
	}
	return loc.Region
}

func (e *env) asyncPrewrite(start uint64, primary string, secondaries []string, key string) {
	e.t.Helper()
	var sec [][]byte
	for _, k := range secondaries {
		sec = append(sec, []byte(k))
	}
	resp := e.c.Engine().Prewrite(&kvrpcpb.PrewriteRequest{PrimaryLock: []byte(primary), StartVersion: start, LockTtl: 10,
		MinCommitTs: start + 1, UseAsyncCommit: true, Secondaries: sec,
		Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte(key), Value: []byte(key + "-async")}}})
	if len(resp.Errors) > 0 {
		e.t.Fatalf("async prewrite %s: %v", key, resp.Errors)
	}
}

// TestResolveAcrossSplits: the resolver's cached regions go stale when the
// cluster splits; batch resolution with a stale region reports false (the
// caller scans again), and async-commit recovery regroups its keys by the
// new regions. Batch resolution also decides expired async-commit
// transactions, a single-key one included.
func TestResolveAcrossSplits(t *testing.T) {
	run(t, func(e *env) {
		if ok, err := e.lr.BatchResolveLocks(e.bo(), nil, locate.RegionVerID{}); !ok || err != nil {
			t.Fatalf("no locks: %v, %v", ok, err)
		}
		single := e.ts()
		e.asyncPrewrite(single, "h1", nil, "h1")
		plain := e.ts()
		e.prewrite(plain, 10, 0, "a", "h2") // primary in another region
		e.sleep(100 * time.Millisecond)
		e.ts()
		stale := e.region("h1")
		if err := e.c.Split([]byte("k")); err != nil {
			t.Fatal(err)
		}
		var inRegion []*txnlock.Lock
		for _, l := range e.locks() {
			if string(l.Key) != "a" {
				inRegion = append(inRegion, l)
			}
		}
		if ok, err := e.lr.BatchResolveLocks(e.bo(), inRegion, stale); ok || err != nil {
			t.Fatalf("stale region: %v, %v; want false, nil", ok, err)
		}
		// Finding the statuses already settled the primaries (CheckTxnStatus
		// rolls back an expired primary; the single-key async txn commits),
		// but the batch ResolveLock itself was refused: h2 keeps its lock.
		if got := lockKeys(e.locks()); got != "h2" {
			t.Fatalf("locks after the refused batch: %s, want h2", got)
		}
		if ok, err := e.lr.BatchResolveLocks(e.bo(), e.locks(), e.region("h1")); !ok || err != nil {
			t.Fatalf("fresh region: %v, %v", ok, err)
		}
		now := e.ts()
		if len(e.locks()) != 0 || e.value("h1", now) != "h1-async" || e.value("h2", now) != "<none>" {
			t.Fatalf("after batch resolve: locks %s, h1=%s h2=%s", lockKeys(e.locks()), e.value("h1", now), e.value("h2", now))
		}

		// An async-commit txn over [g, p), cached before the region splits.
		start := e.ts()
		e.asyncPrewrite(start, "i1", []string{"j1", "m1", "o1"}, "i1")
		for _, k := range []string{"j1", "m1", "o1"} {
			e.asyncPrewrite(start, "i1", nil, k)
		}
		e.region("m1")
		if err := e.c.Split([]byte("l")); err != nil {
			t.Fatal(err)
		}
		e.sleep(100 * time.Millisecond)
		if wait, err := e.lr.ResolveLocks(e.bo(), e.ts(), e.locks()[:1]); err != nil || wait != 0 {
			t.Fatalf("ResolveLocks = %d, %v", wait, err)
		}
		now = e.ts()
		for _, k := range []string{"i1", "j1", "m1", "o1"} {
			if got := e.value(k, now); got != k+"-async" {
				t.Errorf("%s = %s, want committed", k, got)
			}
		}
	})
}
