package txnkv_test

// Ports of client-go's pessimistic-transaction tests (batch B9, pessimistic
// part): integration_tests/2pc_test.go (TestPessimistic*, TestAggressive*,
// TestCommitDeadLock, TestResolvePessimisticLock), lock_test.go
// (TestLockWaitTimeLimit, TestDeadlockReportWaitChain,
// TestStartHeartBeatAfterLockingPrimary, TestPessimisticRollbackWithRead)
// and txnkv/transaction/txn_test.go (TestLockKeys), run against the fake
// cluster (regions split at "g" and "p"). Lock waits happen in the fake
// TiKV's wait queue, as in TiKV.

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/kv"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/txnkv/transaction"
)

// beginPessimistic begins a pessimistic transaction.
func (e *env) beginPessimistic(t *testing.T) *transaction.KVTxn {
	t.Helper()
	txn, err := e.cli.Begin(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	txn.SetPessimistic(true)
	return txn
}

// lockCtx returns a LockCtx at a fresh for_update_ts waiting wait ms.
func (e *env) lockCtx(t *testing.T, wait int64) *kv.LockCtx {
	t.Helper()
	return kv.NewLockCtx(e.ts(t), wait, e.r.Now())
}

// lock locks keys at a fresh for_update_ts, waiting forever, and fails
// the test on an error.
func (e *env) lock(t *testing.T, txn *transaction.KVTxn, keys ...string) {
	t.Helper()
	if err := txn.LockKeys(e.ctx, e.lockCtx(t, kv.LockAlwaysWait), bs(keys...)...); err != nil {
		t.Fatalf("lock %v: %v", keys, err)
	}
}

func bs(keys ...string) [][]byte {
	out := make([][]byte, len(keys))
	for i, s := range keys {
		out[i] = k(s)
	}
	return out
}

// flagsOf returns key's flags in txn's buffer (zero when absent).
func flagsOf(txn *transaction.KVTxn, key string) kv.KeyFlags {
	f, _ := txn.GetMemBuffer().GetFlags(k(key))
	return f
}

// TestPessimisticPrewriteRequest ports TestPessimisticPrewriteRequest: the
// prewrite of a pessimistic transaction carries its for_update_ts and a
// pessimistic action per mutation: DO_PESSIMISTIC_CHECK for locked keys,
// SKIP_PESSIMISTIC_CHECK for written but unlocked ones; a locked key that
// is not written is prewritten as a Lock.
func TestPessimisticPrewriteRequest(t *testing.T) {
	runHooked(t, 901, []string{"g", "p"}, func(e *env, h *hookTransport) {
		txn := e.beginPessimistic(t)
		lc := e.lockCtx(t, kv.LockAlwaysWait)
		if err := txn.LockKeys(e.ctx, lc, k("a"), k("b")); err != nil {
			t.Fatal(err)
		}
		_ = txn.Set(k("a"), k("va"))
		_ = txn.Set(k("c"), k("vc"))
		if err := txn.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		pw := h.requests(tikvrpc.CmdPrewrite)
		if len(pw) != 1 {
			t.Fatalf("%d prewrite requests, want 1 (one region)", len(pw))
		}
		req := pw[0].Req.(*kvrpcpb.PrewriteRequest)
		if req.ForUpdateTs != lc.ForUpdateTS {
			t.Fatalf("for_update_ts %d, want %d", req.ForUpdateTs, lc.ForUpdateTS)
		}
		want := map[string]struct {
			op  kvrpcpb.Op
			act kvrpcpb.PrewriteRequest_PessimisticAction
		}{
			"a": {kvrpcpb.Op_Put, kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK},
			"b": {kvrpcpb.Op_Lock, kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK},
			"c": {kvrpcpb.Op_Put, kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK},
		}
		if len(req.Mutations) != 3 || len(req.PessimisticActions) != 3 {
			t.Fatalf("mutations %v actions %v", req.Mutations, req.PessimisticActions)
		}
		for i, m := range req.Mutations {
			w := want[string(m.Key)]
			if m.Op != w.op || req.PessimisticActions[i] != w.act {
				t.Fatalf("key %s: op %v action %v, want %v %v", m.Key, m.Op, req.PessimisticActions[i], w.op, w.act)
			}
		}
		if !bytes.Equal(req.PrimaryLock, k("a")) {
			t.Fatalf("primary %q, want a (the first locked key)", req.PrimaryLock)
		}
		e.settle()
		e.noLocks(t, "a", "b", "c")
		if e.get(t, "a") != "va" || e.get(t, "b") != "" || e.get(t, "c") != "vc" {
			t.Fatal("wrong values after commit")
		}
	})
}

// TestPessimisticLockedKeysDedup ports TestPessimisticLockedKeysDedup:
// duplicate keys in one LockKeys are locked once.
func TestPessimisticLockedKeysDedup(t *testing.T) {
	runHooked(t, 902, []string{"g", "p"}, func(e *env, h *hookTransport) {
		txn := e.beginPessimistic(t)
		e.lock(t, txn, "abc", "abc", "def", "abc")
		reqs := h.requests(tikvrpc.CmdPessimisticLock)
		if len(reqs) != 1 || len(reqs[0].Req.(*kvrpcpb.PessimisticLockRequest).Mutations) != 2 {
			t.Fatalf("lock requests %v, want one with 2 keys", reqs)
		}
		// Locking again sends nothing: the keys are locked in the buffer.
		e.lock(t, txn, "abc", "def")
		if n := len(h.requests(tikvrpc.CmdPessimisticLock)); n != 1 {
			t.Fatalf("%d lock requests after relocking, want 1", n)
		}
		if !flagsOf(txn, "abc").HasLocked() || !flagsOf(txn, "def").HasLocked() {
			t.Fatal("keys not marked locked")
		}
		_ = txn.Rollback()
	})
}

// TestPessimisticTTL ports TestPessimisticTTL and lock_test.go
// TestStartHeartBeatAfterLockingPrimary: a pessimistic lock's TTL is the
// time since the transaction began plus ManagedLockTTL (20s), and the TTL
// manager, started once the primary is locked, keeps extending it.
func TestPessimisticTTL(t *testing.T) {
	run(t, 903, func(e *env) {
		txn := e.beginPessimistic(t)
		_ = e.r.Sleep(e.ctx, 100*time.Millisecond)
		e.lock(t, txn, "key", "key2")
		l := e.lockOf(t, "key")
		if l == nil || l.LockType != kvrpcpb.Op_PessimisticLock || l.LockTtl < 20100 || l.LockTtl > 20200 {
			t.Fatalf("primary lock %v, want a pessimistic lock with ttl ~20.1s", l)
		}
		if !bytes.Equal(l.PrimaryLock, k("key")) || !bytes.Equal(e.lockOf(t, "key2").PrimaryLock, k("key")) {
			t.Fatal("the first key is not the primary")
		}
		_ = e.r.Sleep(e.ctx, 15*time.Second)
		if l2 := e.lockOf(t, "key"); l2 == nil || l2.LockTtl <= l.LockTtl {
			t.Fatalf("ttl not extended by the heartbeat: %v then %v", l, l2)
		}
		// Still held after 25s, past the first TTL.
		_ = e.r.Sleep(e.ctx, 10*time.Second)
		if l3 := e.lockOf(t, "key"); l3 == nil || l3.LockVersion != txn.StartTS() {
			t.Fatalf("primary lock gone after 25s: %v", l3)
		}
		_ = txn.Set(k("key"), k("v"))
		if err := txn.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		if e.get(t, "key") != "v" {
			t.Fatal("commit lost")
		}
	})
}

// TestPessimisticLockReturnValues ports TestPessimisticLockReturnValues:
// ReturnValues yields the latest committed values; already locked keys
// report AlreadyLocked.
func TestPessimisticLockReturnValues(t *testing.T) {
	run(t, 904, func(e *env) {
		e.commit(t, map[string]string{"key1": "v1", "key2": "v2"})
		txn := e.beginPessimistic(t)
		e.commit(t, map[string]string{"key1": "v1b"}) // after start ts, before for_update_ts
		lc := e.lockCtx(t, kv.LockAlwaysWait)
		lc.InitReturnValues(3)
		if err := txn.LockKeys(e.ctx, lc, k("key1"), k("key2"), k("key3")); err != nil {
			t.Fatal(err)
		}
		if v := lc.Values["key1"]; string(v.Value) != "v1b" || !v.Exists {
			t.Fatalf("key1 %+v", v)
		}
		if v := lc.Values["key2"]; string(v.Value) != "v2" || !v.Exists {
			t.Fatalf("key2 %+v", v)
		}
		if v := lc.Values["key3"]; v.Exists || len(v.Value) != 0 {
			t.Fatalf("key3 %+v", v)
		}
		lc2 := e.lockCtx(t, kv.LockAlwaysWait)
		lc2.InitReturnValues(1)
		if err := txn.LockKeys(e.ctx, lc2, k("key1")); err != nil {
			t.Fatal(err)
		}
		if v := lc2.Values["key1"]; !v.AlreadyLocked {
			t.Fatalf("relocked key1 %+v, want AlreadyLocked", v)
		}
		if _, ok := lc2.GetValueNotLocked(k("key1")); ok {
			t.Fatal("GetValueNotLocked returned an already locked key")
		}
		_ = txn.Rollback()
		e.settle()
		e.noLocks(t, "key1", "key2", "key3")
	})
}

// TestPessimisticLockIfExists ports TestPessimisticLockIfExists:
// LockOnlyIfExists needs ReturnValues and, for several keys, a primary
// already chosen; a missing key is not locked and a missing first key does
// not become the primary.
func TestPessimisticLockIfExists(t *testing.T) {
	run(t, 905, func(e *env) {
		e.commit(t, map[string]string{"exists": "v"})
		txn := e.beginPessimistic(t)
		lc := e.lockCtx(t, kv.LockAlwaysWait)
		lc.LockOnlyIfExists = true
		var noRet *tikverr.ErrLockOnlyIfExistsNoReturnValue
		if err := txn.LockKeys(e.ctx, lc, k("exists")); !errors.As(err, &noRet) {
			t.Fatalf("without ReturnValues: %v", err)
		}
		lc.InitReturnValues(2)
		var noPrimary *tikverr.ErrLockOnlyIfExistsNoPrimaryKey
		if err := txn.LockKeys(e.ctx, lc, k("exists"), k("missing")); !errors.As(err, &noPrimary) {
			t.Fatalf("two keys without a primary: %v", err)
		}
		// A missing single key: nothing locked, no primary.
		if err := txn.LockKeys(e.ctx, lc, k("missing")); err != nil {
			t.Fatal(err)
		}
		if e.lockOf(t, "missing") != nil || flagsOf(txn, "missing").HasLocked() || txn.PrimaryKey() != nil {
			t.Fatal("a missing key was locked or kept as primary")
		}
		e.lock(t, txn, "b") // the primary
		lc2 := e.lockCtx(t, kv.LockAlwaysWait)
		lc2.LockOnlyIfExists = true
		lc2.InitReturnValues(2)
		if err := txn.LockKeys(e.ctx, lc2, k("exists"), k("missing")); err != nil {
			t.Fatal(err)
		}
		if l := e.lockOf(t, "exists"); l == nil || l.LockVersion != txn.StartTS() {
			t.Fatalf("existing key not locked: %v", l)
		}
		if e.lockOf(t, "missing") != nil || flagsOf(txn, "missing").HasLocked() {
			t.Fatal("missing key locked")
		}
		if err := txn.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		e.settle()
		e.noLocks(t, "b", "exists", "missing")
	})
}

// TestPessimisticLockCheckExistence ports TestPessimisticLockCheckExistence:
// CheckExistence reports existence without values.
func TestPessimisticLockCheckExistence(t *testing.T) {
	run(t, 906, func(e *env) {
		e.commit(t, map[string]string{"k1": "v1"})
		txn := e.beginPessimistic(t)
		lc := e.lockCtx(t, kv.LockAlwaysWait)
		lc.InitCheckExistence(2)
		if err := txn.LockKeys(e.ctx, lc, k("k1"), k("k2")); err != nil {
			t.Fatal(err)
		}
		if v := lc.Values["k1"]; !v.Exists || v.Value != nil {
			t.Fatalf("k1 %+v", v)
		}
		if v := lc.Values["k2"]; v.Exists {
			t.Fatalf("k2 %+v", v)
		}
		if !flagsOf(txn, "k1").HasLockedValueExists() || flagsOf(txn, "k2").HasLockedValueExists() {
			t.Fatal("value-exists flags wrong")
		}
		_ = txn.Rollback()
	})
}

// TestPessimisticLockConflictAndRetry: a key written after for_update_ts
// fails the lock with a write conflict (nothing stays locked); retrying at
// a newer for_update_ts locks it (TiDB's statement retry).
func TestPessimisticLockConflictAndRetry(t *testing.T) {
	run(t, 907, func(e *env) {
		txn := e.beginPessimistic(t)
		lc := e.lockCtx(t, kv.LockAlwaysWait)
		e.commit(t, map[string]string{"x": "1"})
		if err := txn.LockKeys(e.ctx, lc, k("x")); !tikverr.IsErrWriteConflict(err) {
			t.Fatalf("lock over a newer write: %v", err)
		}
		if txn.PrimaryKey() != nil || e.lockOf(t, "x") != nil {
			t.Fatal("failed first lock left a primary or a lock")
		}
		e.lock(t, txn, "x")
		_ = txn.Set(k("x"), k("2"))
		if err := txn.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		if e.get(t, "x") != "2" {
			t.Fatal("commit lost")
		}
	})
}

// TestLockWaitTimeLimit ports lock_test.go TestLockWaitTimeLimit and the
// no-wait case: a key locked by a live transaction fails at once with
// LockNoWait and after the wait time with a limit; the waiting request is
// parked in TiKV, not spinning in the client.
func TestLockWaitTimeLimit(t *testing.T) {
	runHooked(t, 908, []string{"g", "p"}, func(e *env, h *hookTransport) {
		t1 := e.beginPessimistic(t)
		e.lock(t, t1, "k1", "k2")
		t2 := e.beginPessimistic(t)
		start := e.r.Now()
		if err := t2.LockKeys(e.ctx, e.lockCtx(t, kv.LockNoWait), k("k1")); !errors.Is(err, tikverr.ErrLockAcquireFailAndNoWaitSet) {
			t.Fatalf("no-wait: %v", err)
		}
		if d := e.r.Now().Sub(start); d > 100*time.Millisecond {
			t.Fatalf("no-wait took %v", d)
		}
		before := len(h.requests(tikvrpc.CmdPessimisticLock))
		start = e.r.Now()
		if err := t2.LockKeys(e.ctx, e.lockCtx(t, 2500), k("k2")); !errors.Is(err, tikverr.ErrLockWaitTimeout) {
			t.Fatalf("wait 2.5s: %v", err)
		}
		if d := e.r.Now().Sub(start); d < 2500*time.Millisecond || d > 4*time.Second {
			t.Fatalf("waited %v, want ~2.5s", d)
		}
		// TiKV caps one wait at wait-for-lock-timeout (1s): a few requests,
		// no busy loop.
		if n := len(h.requests(tikvrpc.CmdPessimisticLock)) - before; n < 2 || n > 5 {
			t.Fatalf("%d lock requests for a 2.5s wait", n)
		}
		_ = t2.Rollback()
		_ = t1.Rollback()
		e.settle()
		e.noLocks(t, "k1", "k2")
	})
}

// TestLockWaitWakeUp: a request waiting in TiKV is woken when the holder
// commits; a legacy waiter gets a write conflict (the key changed) and the
// statement retried at a newer for_update_ts locks it and reads the new
// value.
func TestLockWaitWakeUp(t *testing.T) {
	run(t, 909, func(e *env) {
		t1 := e.beginPessimistic(t)
		e.lock(t, t1, "a")
		_ = t1.Set(k("a"), k("1"))
		t2 := e.beginPessimistic(t)
		lc := e.lockCtx(t, kv.LockAlwaysWait)
		res := make(chan error, 1)
		done := e.r.NewEvent()
		e.r.Go("waiter", func() {
			res <- t2.LockKeys(e.ctx, lc, k("a"))
			done.Fire()
		})
		_ = e.r.Sleep(e.ctx, 300*time.Millisecond)
		if done.Fired() {
			t.Fatal("lock did not wait")
		}
		if err := t1.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		_ = done.Wait(e.ctx)
		if err := <-res; !tikverr.IsErrWriteConflict(err) {
			t.Fatalf("woken waiter: %v, want a write conflict", err)
		}
		lc2 := e.lockCtx(t, kv.LockAlwaysWait)
		lc2.InitReturnValues(1)
		if err := t2.LockKeys(e.ctx, lc2, k("a")); err != nil {
			t.Fatal(err)
		}
		if string(lc2.Values["a"].Value) != "1" {
			t.Fatalf("value %+v, want t1's", lc2.Values["a"])
		}
		_ = t2.Set(k("a"), k("2"))
		if err := t2.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		if e.get(t, "a") != "2" {
			t.Fatal("t2 lost")
		}
	})
}

// TestCommitDeadLock ports TestCommitDeadLock and lock_test.go
// TestDeadlockReportWaitChain: two transactions lock two keys in opposite
// orders; TiKV's detector aborts one with a Deadlock error (typed
// *tikverr.ErrDeadlock with the wait chain, OnDeadlock called); the victim
// rolls back and the other locks both keys and commits.
func TestCommitDeadLock(t *testing.T) {
	run(t, 910, func(e *env) {
		t1, t2 := e.beginPessimistic(t), e.beginPessimistic(t)
		e.lock(t, t1, "a")
		e.lock(t, t2, "q")
		var e1, e2 error
		var seen []*tikverr.ErrDeadlock
		d1, d2 := e.r.NewEvent(), e.r.NewEvent()
		lockIt := func(txn *transaction.KVTxn, key string, ev interface{ Fire() bool }, out *error) {
			lc := e.lockCtx(t, kv.LockAlwaysWait)
			lc.OnDeadlock = func(d *tikverr.ErrDeadlock) { seen = append(seen, d) }
			err := txn.LockKeys(e.ctx, lc, k(key))
			*out = err
			if errors.As(err, new(*tikverr.ErrDeadlock)) {
				_ = txn.Rollback() // the victim gives up
			}
			ev.Fire()
		}
		e.r.Go("t1", func() { lockIt(t1, "q", d1, &e1) })
		_ = e.r.Sleep(e.ctx, 50*time.Millisecond)
		e.r.Go("t2", func() { lockIt(t2, "a", d2, &e2) })
		_ = d1.Wait(e.ctx)
		_ = d2.Wait(e.ctx)
		// Exactly one deadlock; the other waiter is woken by the
		// rollback of the victim's locks with a write conflict
		// (PessimisticRetry: a legacy waiter retries its statement).
		var dl *tikverr.ErrDeadlock
		winner, failed, woken := t2, e1, e2
		if !errors.As(e1, &dl) {
			winner, failed, woken = t1, e2, e1
		}
		if !errors.As(failed, &dl) || len(dl.WaitChain) != 2 || errors.As(woken, new(*tikverr.ErrDeadlock)) {
			t.Fatalf("errors %v, %v: want one deadlock with a 2-entry wait chain", e1, e2)
		}
		// The cycle closes on a key locked by an earlier statement: not
		// retryable (client-go hashInKeys).
		if dl.IsRetryable || len(seen) != 1 || seen[0] != dl {
			t.Fatalf("retryable %v, OnDeadlock calls %d", dl.IsRetryable, len(seen))
		}
		if woken != nil && !tikverr.IsErrWriteConflict(woken) {
			t.Fatalf("woken waiter: %v", woken)
		}
		e.lock(t, winner, "a", "q")
		_ = winner.Set(k("a"), k("w"))
		_ = winner.Set(k("q"), k("w"))
		if err := winner.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		e.settle()
		e.noLocks(t, "a", "q")
	})
}

// TestResolvePessimisticLock ports TestResolvePessimisticLock: pessimistic
// locks of a transaction that died (their TTL expired) are rolled back by a
// later locker instead of blocking it for good.
func TestResolvePessimisticLock(t *testing.T) {
	run(t, 911, func(e *env) {
		// A client that died holding pessimistic locks with a short TTL
		// and no heartbeat: raw requests.
		start := e.ts(t)
		for _, key := range []string{"x", "y"} {
			resp := e.raw(t, k(key), tikvrpc.CmdPessimisticLock, &kvrpcpb.PessimisticLockRequest{
				Mutations:   []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_PessimisticLock, Key: k(key)}},
				PrimaryLock: k("x"), StartVersion: start, ForUpdateTs: start, LockTtl: 100, IsFirstLock: true, WaitTimeout: -1})
			if r := resp.Resp.(*kvrpcpb.PessimisticLockResponse); len(r.Errors) > 0 || r.RegionError != nil {
				t.Fatalf("raw lock: %v", r)
			}
		}
		_ = e.r.Sleep(e.ctx, 200*time.Millisecond)
		txn := e.beginPessimistic(t)
		e.lock(t, txn, "y", "x")
		_ = txn.Set(k("x"), k("1"))
		if err := txn.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		if e.get(t, "x") != "1" {
			t.Fatal("commit lost")
		}
		e.settle()
		e.noLocks(t, "x", "y")
	})
}

// TestPessimisticRollbackReleasesLocks ports txn_test.go TestLockKeys and
// lock_test.go TestPessimisticRollbackWithRead: Rollback releases every
// pessimistic lock (over several regions); a reader never blocks on them.
func TestPessimisticRollbackReleasesLocks(t *testing.T) {
	run(t, 912, func(e *env) {
		e.commit(t, map[string]string{"a": "0", "h": "0", "z": "0"})
		txn := e.beginPessimistic(t)
		e.lock(t, txn, "a", "h", "z")
		for _, key := range []string{"a", "h", "z"} {
			if e.lockOf(t, key) == nil {
				t.Fatalf("%s not locked", key)
			}
			if e.get(t, key) != "0" { // reads ignore pessimistic locks
				t.Fatalf("read of %s", key)
			}
		}
		if err := txn.Rollback(); err != nil {
			t.Fatal(err)
		}
		e.settle() // released in the background
		e.noLocks(t, "a", "h", "z")
		if err := txn.LockKeys(e.ctx, e.lockCtx(t, kv.LockAlwaysWait), k("a")); !errors.Is(err, transaction.ErrInvalidTxn) {
			t.Fatalf("lock after rollback: %v", err)
		}
	})
}

// TestPessimisticLockPrimary ports TestPessimisticLockPrimary: the primary
// is locked first, alone, then the other regions; a lock failure on a
// secondary region rolls the whole call back and unsets the primary.
func TestPessimisticLockPrimary(t *testing.T) {
	runHooked(t, 913, []string{"g", "p"}, func(e *env, h *hookTransport) {
		blocker := e.beginPessimistic(t)
		e.lock(t, blocker, "z")
		txn := e.beginPessimistic(t)
		err := txn.LockKeys(e.ctx, e.lockCtx(t, kv.LockNoWait), k("z"), k("a"), k("h"))
		if !errors.Is(err, tikverr.ErrLockAcquireFailAndNoWaitSet) {
			t.Fatalf("lock: %v", err)
		}
		reqs := h.requests(tikvrpc.CmdPessimisticLock)
		first := reqs[1].Req.(*kvrpcpb.PessimisticLockRequest)
		if len(first.Mutations) != 1 || !bytes.Equal(first.Mutations[0].Key, k("a")) || !bytes.Equal(first.PrimaryLock, k("a")) {
			t.Fatalf("first request %v, want the primary a alone", first)
		}
		if txn.PrimaryKey() != nil {
			t.Fatal("primary kept after the failed first lock")
		}
		e.settle()
		e.noLocks(t, "a", "h")
		_ = blocker.Rollback()
		_ = txn.Rollback()
	})
}

// TestPessimisticKilled: a waiting LockKeys notices Killed between waits
// and fails with ErrQueryInterrupted.
func TestPessimisticKilled(t *testing.T) {
	run(t, 914, func(e *env) {
		t1 := e.beginPessimistic(t)
		e.lock(t, t1, "a")
		t2 := e.beginPessimistic(t)
		lc := e.lockCtx(t, kv.LockAlwaysWait)
		var killed uint32 = 1
		lc.Killed = &killed
		if err := t2.LockKeys(e.ctx, lc, k("a")); !errors.Is(err, tikverr.ErrQueryInterrupted) {
			t.Fatalf("killed: %v", err)
		}
		_ = t1.Rollback()
		_ = t2.Rollback()
	})
}

// TestPessimisticAsyncCommitAnd1PC: a pessimistic transaction commits with
// async commit and with 1PC (TiKV's pessimistic prewrite supports both).
func TestPessimisticAsyncCommitAnd1PC(t *testing.T) {
	run(t, 915, func(e *env) {
		for i, opt := range []func(*transaction.KVTxn){
			func(x *transaction.KVTxn) { x.SetEnableAsyncCommit(true) },
			func(x *transaction.KVTxn) { x.SetEnable1PC(true) },
		} {
			txn := e.beginPessimistic(t)
			opt(txn)
			e.lock(t, txn, "a", "b")
			_ = txn.Set(k("a"), []byte{byte('0' + i)})
			if err := txn.Commit(e.ctx); err != nil {
				t.Fatal(err)
			}
			if i == 0 && !txn.IsAsyncCommit() || i == 1 && !txn.IsOnePC() {
				t.Fatalf("case %d: protocol not used", i)
			}
			e.settle()
			e.noLocks(t, "a", "b")
			if e.get(t, "a") != string([]byte{byte('0' + i)}) {
				t.Fatalf("case %d: value", i)
			}
		}
	})
}

// TestOptimisticLockKeys: LockKeys in an optimistic transaction only marks
// the keys; Commit prewrites them as Lock mutations, so a concurrent write
// to a locked key fails the commit.
func TestOptimisticLockKeys(t *testing.T) {
	run(t, 916, func(e *env) {
		txn, _ := e.cli.Begin(e.ctx)
		if err := txn.LockKeys(e.ctx, kv.NewLockCtx(txn.StartTS(), kv.LockAlwaysWait, e.r.Now()), k("a")); err != nil {
			t.Fatal(err)
		}
		if e.lockOf(t, "a") != nil {
			t.Fatal("optimistic LockKeys locked on TiKV")
		}
		_ = txn.Set(k("b"), k("1"))
		e.commit(t, map[string]string{"a": "x"})
		if err := txn.Commit(e.ctx); !tikverr.IsErrWriteConflict(err) {
			t.Fatalf("commit: %v, want a write conflict on the locked key", err)
		}
	})
}

// TestPessimisticLockAllowLockWithConflict ports
// TestPessimisticLockAllowLockWithConflict and TestAggressiveLocking: in
// aggressive locking a single key is locked even over a newer write
// (LockedWithConflictTS, the newer value returned); Retry reuses it, Done
// keeps it and prewrite checks the lock's actual for_update_ts.
func TestPessimisticLockAllowLockWithConflict(t *testing.T) {
	runHooked(t, 917, []string{"g", "p"}, func(e *env, h *hookTransport) {
		txn := e.beginPessimistic(t)
		txn.StartAggressiveLocking()
		lc := e.lockCtx(t, kv.LockAlwaysWait)
		lc.InitReturnValues(1)
		commitTS := e.commit(t, map[string]string{"k": "new"})
		if err := txn.LockKeys(e.ctx, lc, k("k")); err != nil {
			t.Fatal(err)
		}
		v := lc.Values["k"]
		if v.LockedWithConflictTS != commitTS || string(v.Value) != "new" || lc.MaxLockedWithConflictTS != commitTS {
			t.Fatalf("value %+v max %d, want locked with conflict at %d", v, lc.MaxLockedWithConflictTS, commitTS)
		}
		if r := h.requests(tikvrpc.CmdPessimisticLock); r[len(r)-1].Req.(*kvrpcpb.PessimisticLockRequest).WakeUpMode != kvrpcpb.PessimisticLockWakeUpMode_WakeUpModeForceLock {
			t.Fatal("single-key aggressive lock not in ForceLock mode")
		}
		if !txn.IsInAggressiveLockingStage(k("k")) {
			t.Fatal("key not in the aggressive-locking stage")
		}
		// The statement is retried at a newer for_update_ts: the lock is
		// reused, no request sent.
		txn.RetryAggressiveLocking(e.ctx)
		n := len(h.requests(tikvrpc.CmdPessimisticLock))
		lc2 := e.lockCtx(t, kv.LockAlwaysWait)
		if err := txn.LockKeys(e.ctx, lc2, k("k")); err != nil {
			t.Fatal(err)
		}
		if len(h.requests(tikvrpc.CmdPessimisticLock)) != n {
			t.Fatal("a lock of the previous attempt was requested again")
		}
		txn.DoneAggressiveLocking(e.ctx)
		if !flagsOf(txn, "k").HasLocked() || txn.IsInAggressiveLockingMode() {
			t.Fatal("Done did not move the lock into the buffer")
		}
		_ = txn.Set(k("k"), k("mine"))
		if err := txn.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		pw := h.requests(tikvrpc.CmdPrewrite)
		req := pw[len(pw)-1].Req.(*kvrpcpb.PrewriteRequest)
		if len(req.ForUpdateTsConstraints) != 1 || req.ForUpdateTsConstraints[0].ExpectedForUpdateTs != commitTS {
			t.Fatalf("for_update_ts constraints %v, want the conflict ts %d", req.ForUpdateTsConstraints, commitTS)
		}
		if e.get(t, "k") != "mine" {
			t.Fatal("commit lost")
		}
	})
}

// TestAggressiveLockingCancelAndRedundant ports TestAggressiveLocking's
// release paths and TestAggressiveLockingExitIfInapplicable: a lock of the
// previous attempt not needed again is released when the attempt ends;
// Cancel releases all; a multi-key LockKeys leaves aggressive locking as
// Done would.
func TestAggressiveLockingCancelAndRedundant(t *testing.T) {
	run(t, 918, func(e *env) {
		txn := e.beginPessimistic(t)
		txn.StartAggressiveLocking()
		e.lock(t, txn, "a")
		e.lock(t, txn, "b")
		txn.RetryAggressiveLocking(e.ctx)
		e.lock(t, txn, "a")
		txn.DoneAggressiveLocking(e.ctx)
		e.settle()
		if e.lockOf(t, "a") == nil || e.lockOf(t, "b") != nil {
			t.Fatal("want a kept and b released")
		}
		txn.StartAggressiveLocking()
		e.lock(t, txn, "c")
		txn.CancelAggressiveLocking(e.ctx)
		e.settle()
		if e.lockOf(t, "c") != nil || flagsOf(txn, "c").HasLocked() {
			t.Fatal("cancel kept c")
		}
		txn.StartAggressiveLocking()
		e.lock(t, txn, "c2")
		if err := txn.Commit(e.ctx); !errors.Is(err, transaction.ErrAggressiveLockingPending) {
			t.Fatalf("commit with pending aggressive locks: %v", err)
		}
		txn.DoneAggressiveLocking(e.ctx)
		txn.StartAggressiveLocking()
		e.lock(t, txn, "d", "e")
		if txn.IsInAggressiveLockingMode() {
			t.Fatal("multi-key LockKeys stayed in aggressive locking")
		}
		if !flagsOf(txn, "d").HasLocked() || !flagsOf(txn, "e").HasLocked() {
			t.Fatal("multi-key locks not in the buffer")
		}
		if err := txn.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		e.settle()
		e.noLocks(t, "a", "b", "c", "c2", "d", "e")
	})
}

// sharedLocks returns the locks on key, one per holder (a read at
// MaxUint64 through ScanLock).
func (e *env) sharedLocks(t *testing.T, key string) []*kvrpcpb.LockInfo {
	t.Helper()
	resp := e.raw(t, k(key), tikvrpc.CmdScanLock, &kvrpcpb.ScanLockRequest{MaxVersion: ^uint64(0), StartKey: k(key), EndKey: append(k(key), 0), Limit: 16})
	var out []*kvrpcpb.LockInfo
	for _, l := range resp.Resp.(*kvrpcpb.ScanLockResponse).Locks {
		if infos := l.GetSharedLockInfos(); len(infos) > 0 {
			out = append(out, infos...)
		} else {
			out = append(out, l)
		}
	}
	return out
}

// shareLock locks key in share mode in txn.
func (e *env) shareLock(t *testing.T, txn *transaction.KVTxn, key string) error {
	t.Helper()
	lc := e.lockCtx(t, 1000)
	lc.InShareMode = true
	return txn.LockKeys(e.ctx, lc, k(key))
}

// TestSharedLockRules ports txn_test.go TestSharedLockCommitterIncompatibilities
// and the share-mode checks of lockKeys: a shared lock needs a primary
// chosen by an exclusive lock, cannot be upgraded, is refused in
// aggressive locking, and turns off async commit and 1PC.
func TestSharedLockRules(t *testing.T) {
	runHooked(t, 919, []string{"g", "p"}, func(e *env, h *hookTransport) {
		txn := e.beginPessimistic(t)
		txn.SetEnableAsyncCommit(true)
		txn.SetEnable1PC(true)
		if err := e.shareLock(t, txn, "s"); !errors.Is(err, transaction.ErrSharedLockNeedsPrimary) {
			t.Fatalf("share mode without a primary: %v", err)
		}
		e.lock(t, txn, "a")
		if err := e.shareLock(t, txn, "s"); err != nil {
			t.Fatal(err)
		}
		if f := flagsOf(txn, "s"); !f.HasLocked() || !f.HasLockedInShareMode() {
			t.Fatalf("flags %v", f)
		}
		if err := txn.LockKeys(e.ctx, e.lockCtx(t, 1000), k("s")); !errors.Is(err, transaction.ErrSharedLockUpgrade) {
			t.Fatalf("upgrade: %v", err)
		}
		txn.StartAggressiveLocking()
		if err := e.shareLock(t, txn, "s2"); !errors.Is(err, transaction.ErrSharedLockInAggressive) {
			t.Fatalf("share mode in aggressive locking: %v", err)
		}
		txn.CancelAggressiveLocking(e.ctx)
		_ = txn.Set(k("a"), k("1"))
		if err := txn.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		if txn.IsAsyncCommit() || txn.IsOnePC() {
			t.Fatal("a transaction with a shared lock used async commit or 1PC")
		}
		pw := h.requests(tikvrpc.CmdPrewrite)
		req := pw[len(pw)-1].Req.(*kvrpcpb.PrewriteRequest)
		for i, m := range req.Mutations {
			if string(m.Key) == "s" && (m.Op != kvrpcpb.Op_SharedLock || req.PessimisticActions[i] != kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK) {
				t.Fatalf("shared key prewritten as %v / %v", m.Op, req.PessimisticActions[i])
			}
		}
		e.settle()
		e.noLocks(t, "a", "s")
	})
}

// TestSharedLockBlockExclusiveLock ports TestSharedLockBlockExclusiveLock:
// two transactions share a key; a third one's exclusive lock waits until
// both commit (or roll back), then fails and retries.
func TestSharedLockBlockExclusiveLock(t *testing.T) {
	run(t, 923, func(e *env) {
		for _, commit := range []bool{true, false} {
			t1, t2, t3 := e.beginPessimistic(t), e.beginPessimistic(t), e.beginPessimistic(t)
			e.lock(t, t1, "pk1")
			e.lock(t, t2, "pk2")
			e.lock(t, t3, "pk3")
			for _, txn := range []*transaction.KVTxn{t1, t2} {
				if err := e.shareLock(t, txn, "s"); err != nil {
					t.Fatal(err)
				}
			}
			if n := len(e.sharedLocks(t, "s")); n != 2 {
				t.Fatalf("%d holders, want 2", n)
			}
			var err3 error
			var doneAt time.Time
			done := e.r.NewEvent()
			e.r.Go("t3", func() {
				err3 = t3.LockKeys(e.ctx, kv.NewLockCtx(e.ts(t), kv.LockAlwaysWait, e.r.Now()), k("s"))
				doneAt = e.r.Now()
				done.Fire()
			})
			_ = e.r.Sleep(e.ctx, 500*time.Millisecond)
			if done.Fired() {
				t.Fatalf("exclusive lock did not wait for the shared ones: %v", err3)
			}
			released := e.r.Now()
			for _, txn := range []*transaction.KVTxn{t1, t2} {
				var err error
				if commit {
					err = txn.Commit(e.ctx)
				} else {
					err = txn.Rollback()
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			_ = done.Wait(e.ctx)
			if doneAt.Before(released) {
				t.Fatal("exclusive lock returned before the shared locks were released")
			}
			if err3 == nil {
				t.Fatal("the woken exclusive lock succeeded, want a write conflict (TiKV wakes legacy waiters with one)")
			}
			e.lock(t, t3, "s") // the statement retry
			_ = t3.Rollback()
			e.settle()
			e.noLocks(t, "pk1", "pk2", "pk3", "s")
		}
	})
}

// TestSharedLockCommitAndRollback ports TestSharedLockCommitAndRollback:
// three holders of a shared key commit (or roll back) one by one, each
// removing only its own sub-lock.
func TestSharedLockCommitAndRollback(t *testing.T) {
	run(t, 924, func(e *env) {
		for _, commit := range []bool{true, false} {
			txns := []*transaction.KVTxn{e.beginPessimistic(t), e.beginPessimistic(t), e.beginPessimistic(t)}
			for i, txn := range txns {
				e.lock(t, txn, fmt.Sprintf("pk%d", i))
				if err := e.shareLock(t, txn, "s"); err != nil {
					t.Fatal(err)
				}
			}
			if n := len(e.sharedLocks(t, "s")); n != 3 {
				t.Fatalf("%d holders, want 3", n)
			}
			for i, txn := range txns {
				var err error
				if commit {
					err = txn.Commit(e.ctx)
				} else {
					err = txn.Rollback()
				}
				if err != nil {
					t.Fatal(err)
				}
				e.settle()
				left := e.sharedLocks(t, "s")
				if len(left) != 2-i {
					t.Fatalf("after txn %d: %d holders, want %d", i, len(left), 2-i)
				}
				for _, l := range left {
					if l.LockVersion == txn.StartTS() {
						t.Fatalf("txn %d still holds the key", i)
					}
				}
			}
		}
	})
}

// TestAggressiveLockingSwitchPrimary ports TestAggressiveLockingSwitchPrimary:
// across aggressive-locking attempts the primary is kept when the attempt
// locks it again, switched to the attempt's first key otherwise (the locks
// of older attempts are released), and never changed when it was chosen
// before aggressive locking started.
func TestAggressiveLockingSwitchPrimary(t *testing.T) {
	run(t, 920, func(e *env) {
		checkPrimary := func(key, want string) {
			t.Helper()
			l := e.lockOf(t, key)
			if l == nil || l.LockType != kvrpcpb.Op_PessimisticLock || string(l.PrimaryLock) != want {
				t.Fatalf("lock of %s: %v, want a pessimistic lock with primary %s", key, l, want)
			}
		}
		locked := func(key string, want bool) {
			t.Helper()
			e.settle() // releases run in the background
			if got := e.lockOf(t, key) != nil; got != want {
				t.Fatalf("%s locked = %v, want %v", key, got, want)
			}
		}
		txn := e.beginPessimistic(t)
		ts := txn.StartTS()
		lockAt := func(keys ...string) {
			t.Helper()
			lc := kv.NewLockCtx(ts, kv.LockAlwaysWait, e.r.Now())
			for _, key := range keys {
				if err := txn.LockKeys(e.ctx, lc, k(key)); err != nil {
					t.Fatalf("lock %s: %v", key, err)
				}
			}
		}
		txn.StartAggressiveLocking()
		lockAt("k1", "k2")
		checkPrimary("k1", "k1")
		checkPrimary("k2", "k1")
		// Primary not changed.
		ts++
		txn.RetryAggressiveLocking(e.ctx)
		lockAt("k1", "k3")
		checkPrimary("k1", "k1")
		checkPrimary("k3", "k1")
		// Primary changed, not among the previously locked keys.
		ts++
		txn.RetryAggressiveLocking(e.ctx)
		lockAt("k4", "k5")
		checkPrimary("k4", "k4")
		checkPrimary("k5", "k4")
		locked("k2", false)
		// Primary changed to a key of the previous attempt.
		ts++
		txn.RetryAggressiveLocking(e.ctx)
		lockAt("k5", "k6")
		checkPrimary("k5", "k5")
		checkPrimary("k6", "k5")
		locked("k1", false)
		locked("k3", false)
		// The primary is a key locked two attempts ago.
		ts++
		txn.RetryAggressiveLocking(e.ctx)
		lockAt("k7")
		ts++
		txn.RetryAggressiveLocking(e.ctx)
		lockAt("k6", "k5")
		checkPrimary("k5", "k6")
		checkPrimary("k6", "k6")
		txn.CancelAggressiveLocking(e.ctx)
		for i := 1; i <= 7; i++ {
			locked(fmt.Sprintf("k%d", i), false)
		}
		_ = txn.Rollback()

		// A primary chosen before aggressive locking stays.
		txn = e.beginPessimistic(t)
		ts = txn.StartTS()
		if err := txn.LockKeys(e.ctx, kv.NewLockCtx(ts, kv.LockAlwaysWait, e.r.Now()), k("k1"), k("k2")); err != nil {
			t.Fatal(err)
		}
		checkPrimary("k1", "k1")
		checkPrimary("k2", "k1")
		txn.StartAggressiveLocking()
		lockAt("k2", "k3")
		checkPrimary("k2", "k1")
		checkPrimary("k3", "k1")
		ts++
		txn.RetryAggressiveLocking(e.ctx)
		lockAt("k3", "k4")
		checkPrimary("k3", "k1")
		checkPrimary("k4", "k1")
		txn.CancelAggressiveLocking(e.ctx)
		locked("k1", true)
		locked("k2", true)
		locked("k3", false)
		locked("k4", false)
		_ = txn.Rollback()
		locked("k1", false)
		locked("k2", false)
	})
}

// TestAggressiveLockingInsert ports TestAggressiveLockingInsert: locks for
// inserts (PresumeKeyNotExists) under aggressive locking: a key already
// locked and found existing fails with ErrKeyExist without a request, a new
// lock on an existing key fails in TiKV; a key inserted by another
// transaction after for_update_ts is a write conflict, a key deleted after
// it is locked with a conflict; after the retry at a newer for_update_ts
// the insert over the existing key fails with ErrKeyExist.
func TestAggressiveLockingInsert(t *testing.T) {
	run(t, 921, func(e *env) {
		e.commit(t, map[string]string{"k1": "v1", "k3": "v3", "k6": "v6", "k8": "v8"})
		txn := e.beginPessimistic(t)
		lc := kv.NewLockCtx(txn.StartTS(), kv.LockAlwaysWait, e.r.Now())
		lc.InitReturnValues(2)
		if err := txn.LockKeys(e.ctx, lc, k("k1"), k("k2")); err != nil {
			t.Fatal(err)
		}
		_ = txn.Set(k("k5"), k("v5"))
		_ = txn.Delete(k("k6"))
		insert := func(lc *kv.LockCtx, key string) error {
			txn.GetMemBuffer().UpdateFlags(k(key), kv.SetPresumeKeyNotExists)
			if lc == nil {
				lc = kv.NewLockCtx(txn.StartTS(), kv.LockAlwaysWait, e.r.Now())
			}
			return txn.LockKeys(e.ctx, lc, k(key))
		}
		mustExist := func(err error) {
			t.Helper()
			if !tikverr.IsErrKeyExist(err) {
				t.Fatalf("got %v, want ErrKeyExist", err)
			}
		}
		txn.StartAggressiveLocking()
		mustExist(insert(nil, "k1")) // locked before, exists
		if err := insert(nil, "k2"); err != nil {
			t.Fatal(err)
		}
		mustExist(insert(nil, "k3")) // a new lock: TiKV checks
		if err := insert(nil, "k4"); err != nil {
			t.Fatal(err)
		}
		t2, _ := e.cli.Begin(e.ctx)
		_ = t2.Set(k("k7"), k("v7"))
		_ = t2.Delete(k("k8"))
		if err := t2.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		if err := insert(nil, "k7"); !tikverr.IsErrWriteConflict(err) {
			t.Fatalf("insert over a newer insert: %v, want a write conflict", err)
		}
		lc = kv.NewLockCtx(txn.StartTS(), kv.LockAlwaysWait, e.r.Now())
		if err := insert(lc, "k8"); err != nil {
			t.Fatal(err)
		}
		if lc.MaxLockedWithConflictTS != t2.CommitTS() || lc.Values["k8"].LockedWithConflictTS != t2.CommitTS() {
			t.Fatalf("k8: max %d value %+v, want locked with conflict at %d", lc.MaxLockedWithConflictTS, lc.Values["k8"], t2.CommitTS())
		}
		lc = kv.NewLockCtx(e.ts(t), kv.LockAlwaysWait, e.r.Now())
		mustExist(insert(lc, "k7"))
		if err := insert(lc, "k8"); err != nil {
			t.Fatal(err)
		}
		txn.CancelAggressiveLocking(e.ctx)
		_ = txn.Rollback()
		e.settle()
		e.noLocks(t, "k1", "k2", "k3", "k4", "k7", "k8")
	})
}

// TestAggressiveLockingLoadValueOptionChanges ports
// TestAggressiveLockingLoadValueOptionChanges: a key locked in the previous
// attempt is locked again when the retry asks for more (existence, then the
// value) than the previous lock returned, and a lock taken with a conflict
// becomes an ordinary one on the retry.
func TestAggressiveLockingLoadValueOptionChanges(t *testing.T) {
	run(t, 922, func(e *env) {
		e.commit(t, map[string]string{"k2": "v2"})
		for _, conflict := range []bool{false, true} {
			txn := e.beginPessimistic(t)
			if err := txn.LockKeys(e.ctx, kv.NewLockCtx(txn.StartTS(), kv.LockAlwaysWait, e.r.Now()), k("k0")); err != nil {
				t.Fatal(err)
			}
			ts := txn.StartTS()
			txn.StartAggressiveLocking()
			lc := kv.NewLockCtx(ts, kv.LockAlwaysWait, e.r.Now())
			var t2 *transaction.KVTxn
			if conflict {
				t2, _ = e.cli.Begin(e.ctx)
				_ = t2.Delete(k("k1"))
				_ = t2.Set(k("k2"), k("v2"))
				if err := t2.Commit(e.ctx); err != nil {
					t.Fatal(err)
				}
			}
			for _, key := range []string{"k1", "k2"} {
				if err := txn.LockKeys(e.ctx, lc, k(key)); err != nil {
					t.Fatal(err)
				}
			}
			if conflict {
				if lc.MaxLockedWithConflictTS != t2.CommitTS() || lc.Values["k1"].LockedWithConflictTS != t2.CommitTS() ||
					lc.Values["k2"].LockedWithConflictTS != t2.CommitTS() {
					t.Fatalf("conflict not reported: %d %+v", lc.MaxLockedWithConflictTS, lc.Values)
				}
				ts = t2.CommitTS() + 1
			} else {
				ts++
			}
			lc = kv.NewLockCtx(ts, kv.LockAlwaysWait, e.r.Now())
			lc.InitCheckExistence(2)
			txn.RetryAggressiveLocking(e.ctx)
			for _, key := range []string{"k1", "k2"} {
				if err := txn.LockKeys(e.ctx, lc, k(key)); err != nil {
					t.Fatal(err)
				}
			}
			if lc.MaxLockedWithConflictTS != 0 || lc.Values["k1"].Exists || !lc.Values["k2"].Exists {
				t.Fatalf("conflict %v, check existence: %d %+v", conflict, lc.MaxLockedWithConflictTS, lc.Values)
			}
			ts++
			lc = kv.NewLockCtx(ts, kv.LockAlwaysWait, e.r.Now())
			lc.InitReturnValues(2)
			txn.RetryAggressiveLocking(e.ctx)
			for _, key := range []string{"k1", "k2"} {
				if err := txn.LockKeys(e.ctx, lc, k(key)); err != nil {
					t.Fatal(err)
				}
			}
			if lc.MaxLockedWithConflictTS != 0 || lc.Values["k1"].Exists || !lc.Values["k2"].Exists || string(lc.Values["k2"].Value) != "v2" {
				t.Fatalf("conflict %v, return values: %d %+v", conflict, lc.MaxLockedWithConflictTS, lc.Values)
			}
			txn.CancelAggressiveLocking(e.ctx)
			_ = txn.Rollback()
			e.settle()
			e.noLocks(t, "k0", "k1", "k2")
		}
	})
}
