package txnkv_test

// Ports of client-go's async-commit and 1PC tests (batch B10):
// integration_tests/async_commit_test.go, async_commit_fail_test.go and
// 1pc_test.go, run against the fake cluster (regions split at "g" and "p").
// Failpoints become a hookTransport; client-go's committer probes (a
// half-prewritten transaction, SetMaxCommitTS) become raw prewrites from
// another client, which is exactly what a writer that crashed after prewrite
// leaves behind.

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/txnkv/transaction"
)

// commitWith commits kvs in one transaction configured by opt and returns
// it.
func (e *env) commitWith(t *testing.T, opt func(*transaction.KVTxn), kvs map[string]string) *transaction.KVTxn {
	t.Helper()
	txn, err := e.cli.Begin(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	opt(txn)
	for key, v := range kvs {
		if err := txn.Set(k(key), k(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := txn.Commit(e.ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	return txn
}

func asyncCommit(txn *transaction.KVTxn) { txn.SetEnableAsyncCommit(true) }
func onePC(txn *transaction.KVTxn)       { txn.SetEnable1PC(true) }

// asyncPrewrite prewrites key for txn start as an async-commit lock with
// primary and, on the primary, the secondaries list; maxCommitTS 0 means no
// bound. It returns TiKV's min_commit_ts (0: TiKV fell back to 2PC).
func (e *env) asyncPrewrite(t *testing.T, start, ttl, maxCommitTS uint64, primary string, secondaries []string, key string) uint64 {
	t.Helper()
	req := &kvrpcpb.PrewriteRequest{PrimaryLock: k(primary), StartVersion: start, LockTtl: ttl, TxnSize: 1,
		MinCommitTs: start + 1, MaxCommitTs: maxCommitTS, UseAsyncCommit: true,
		Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: k(key), Value: k("v-" + key)}}}
	if key == primary {
		for _, s := range secondaries {
			req.Secondaries = append(req.Secondaries, k(s))
		}
	}
	r := e.raw(t, k(key), tikvrpc.CmdPrewrite, req).Resp.(*kvrpcpb.PrewriteResponse)
	if len(r.Errors) > 0 || r.RegionError != nil {
		t.Fatalf("async prewrite %s: %v", key, r)
	}
	return r.MinCommitTs
}

// TestAsyncCommit ports the basic async-commit path of TestAsyncCommit,
// TestRepeatableRead and TestAsyncCommitLinearizability: a transaction over
// three regions commits with async commit (no Commit RPC before Commit
// returns), an older snapshot keeps reading the old value, and of two
// transactions the one committed later gets the larger commit ts.
func TestAsyncCommit(t *testing.T) {
	run(t, 101, func(e *env) {
		e.commit(t, map[string]string{"a": "a0", "h": "h0", "q": "q0"})
		old, _ := e.cli.Begin(e.ctx)
		before := e.ts(t)
		txn := e.commitWith(t, asyncCommit, map[string]string{"a": "a1", "h": "h1", "q": "q1"})
		if !txn.IsAsyncCommit() || txn.IsOnePC() {
			t.Fatalf("async=%v 1pc=%v, want async commit", txn.IsAsyncCommit(), txn.IsOnePC())
		}
		if txn.CommitTS() <= before {
			t.Fatalf("commit ts %d not above a ts %d taken before Commit (linearizability)", txn.CommitTS(), before)
		}
		for _, key := range []string{"a", "h", "q"} {
			if v, err := old.Get(e.ctx, k(key)); err != nil || string(v) != key+"0" {
				t.Fatalf("old snapshot reads %s = %q, %v", key, v, err)
			}
			if got := e.get(t, key); got != key+"1" {
				t.Fatalf("%s = %q after async commit", key, got)
			}
		}
		e.settle()
		e.noLocks(t, "a", "h", "q")

		t1, _ := e.cli.Begin(e.ctx)
		t2, _ := e.cli.Begin(e.ctx)
		t1.SetEnableAsyncCommit(true)
		t2.SetEnableAsyncCommit(true)
		_ = t1.Set(k("a"), k("a2"))
		_ = t2.Set(k("b"), k("b2"))
		if err := t2.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		if err := t1.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		if t2.CommitTS() >= t1.CommitTS() {
			t.Fatalf("t2 committed first at %d, t1 later at %d", t2.CommitTS(), t1.CommitTS())
		}
	})
}

// TestAsyncCommitCausalConsistency: with causal consistency the client
// fetches no timestamp before prewrite; the commit ts still exceeds the
// start ts and the data is readable.
func TestAsyncCommitCausalConsistency(t *testing.T) {
	runHooked(t, 102, []string{"g", "p"}, func(e *env, h *hookTransport) {
		txn, _ := e.cli.Begin(e.ctx)
		txn.SetEnableAsyncCommit(true)
		txn.SetCausalConsistency(true)
		_ = txn.Set(k("a"), k("a1"))
		_ = txn.Set(k("q"), k("q1"))
		if err := txn.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		if !txn.IsAsyncCommit() || txn.CommitTS() <= txn.StartTS() {
			t.Fatalf("async=%v commit ts %d start ts %d", txn.IsAsyncCommit(), txn.CommitTS(), txn.StartTS())
		}
		pw := h.requests(tikvrpc.CmdPrewrite)
		if len(pw) == 0 || pw[0].Req.(*kvrpcpb.PrewriteRequest).MinCommitTs != txn.StartTS()+1 {
			t.Fatalf("causal prewrite min_commit_ts = %v, want start ts + 1", pw[0].Req.(*kvrpcpb.PrewriteRequest).MinCommitTs)
		}
		if e.get(t, "a") != "a1" || e.get(t, "q") != "q1" {
			t.Fatal("values not committed")
		}
	})
}

// TestAsyncCommitEligibility: too many keys or too many key bytes keep a
// transaction on 2PC (client-go checkAsyncCommit with the config
// defaults).
func TestAsyncCommitEligibility(t *testing.T) {
	run(t, 103, func(e *env) {
		many := map[string]string{}
		for i := range transaction.AsyncCommitKeysLimit + 1 {
			many[fmt.Sprintf("k%04d", i)] = "v"
		}
		if txn := e.commitWith(t, asyncCommit, many); txn.IsAsyncCommit() {
			t.Fatalf("%d keys committed with async commit", len(many))
		}
		big := map[string]string{}
		for i := range 3 {
			big[fmt.Sprintf("%d%s", i, strings.Repeat("x", transaction.AsyncCommitTotalKeySizeLimit/2))] = "v"
		}
		if txn := e.commitWith(t, asyncCommit, big); txn.IsAsyncCommit() {
			t.Fatal("6 KiB of keys committed with async commit")
		}
		small := e.commitWith(t, asyncCommit, map[string]string{"a": "1", "b": "2"})
		if !small.IsAsyncCommit() {
			t.Fatal("small transaction not async")
		}
	})
}

// TestSecondaryListInPrimaryLock ports TestSecondaryListInPrimaryLock: with
// the commit RPCs failing (asyncCommitDoNothing), Commit still succeeds;
// the primary lock lists every other key and only the primary's batch
// carries the list; readers later commit everything at the commit ts.
func TestSecondaryListInPrimaryLock(t *testing.T) {
	runHooked(t, 104, []string{"g", "p"}, func(e *env, h *hookTransport) {
		h.setHook(func(_ string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			if req.Type == tikvrpc.CmdCommit {
				return nil, errTimeout
			}
			return nil, nil
		})
		keys := []string{"a", "b", "h", "i", "q", "r"}
		kvs := map[string]string{}
		for _, key := range keys {
			kvs[key] = key + "1"
		}
		txn := e.commitWith(t, asyncCommit, kvs)
		if !txn.IsAsyncCommit() {
			t.Fatal("not async")
		}
		l := e.lockOf(t, "a")
		if l == nil || !l.UseAsyncCommit || string(l.PrimaryLock) != "a" {
			t.Fatalf("primary lock %v", l)
		}
		var secs []string
		for _, s := range l.Secondaries {
			secs = append(secs, string(s))
		}
		if strings.Join(secs, ",") != "b,h,i,q,r" {
			t.Fatalf("primary's secondaries %v", secs)
		}
		withSecs := 0
		for _, r := range h.requests(tikvrpc.CmdPrewrite) {
			pw := r.Req.(*kvrpcpb.PrewriteRequest)
			if !pw.UseAsyncCommit || pw.MaxCommitTs == 0 {
				t.Fatalf("prewrite without async commit fields: %v", pw)
			}
			if len(pw.Secondaries) > 0 {
				withSecs++
			}
		}
		if withSecs != 1 {
			t.Fatalf("%d prewrite batches carry secondaries, want 1", withSecs)
		}
		h.setHook(nil)
		for _, key := range keys {
			if got := e.get(t, key); got != key+"1" {
				t.Fatalf("%s = %q", key, got)
			}
		}
		st, err := e.cli.LockResolver().GetTxnStatus(e.ctx, e.bo(5000), txn.StartTS(), 0, k("a"))
		if err != nil || st.CommitTS() != txn.CommitTS() {
			t.Fatalf("status %v, %v; want committed at %d", st, err, txn.CommitTS())
		}
	})
}

// TestCheckSecondaries ports TestCheckSecondaries and extends it to every
// outcome a resolver can meet after a writer crashed between prewrite and
// commit: the fate is decided from all the locks once the primary's TTL has
// expired.
func TestCheckSecondaries(t *testing.T) {
	cases := []struct {
		name string
		// setup leaves txn start's locks; it returns the commit ts the
		// transaction must end with (0: rolled back).
		setup func(t *testing.T, e *env, start uint64) uint64
	}{
		{"OnlyPrimary", func(t *testing.T, e *env, start uint64) uint64 {
			return e.asyncPrewrite(t, start, 100, 0, "z", nil, "z")
		}},
		{"AllLocked", func(t *testing.T, e *env, start uint64) uint64 {
			m1 := e.asyncPrewrite(t, start, 100, 0, "z", []string{"a", "h"}, "z")
			m2 := e.asyncPrewrite(t, start, 100, 0, "z", nil, "a")
			m3 := e.asyncPrewrite(t, start, 100, 0, "z", nil, "h")
			return max(m1, m2, m3)
		}},
		{"SecondaryNeverWritten", func(t *testing.T, e *env, start uint64) uint64 {
			e.asyncPrewrite(t, start, 100, 0, "z", []string{"a", "h"}, "z")
			e.asyncPrewrite(t, start, 100, 0, "z", nil, "a")
			return 0
		}},
		{"SecondaryCommitted", func(t *testing.T, e *env, start uint64) uint64 {
			m1 := e.asyncPrewrite(t, start, 100, 0, "z", []string{"a", "h"}, "z")
			m2 := e.asyncPrewrite(t, start, 100, 0, "z", nil, "a")
			m3 := e.asyncPrewrite(t, start, 100, 0, "z", nil, "h")
			cts := max(m1, m2, m3)
			e.commitRaw(t, start, cts, "h")
			return cts
		}},
		{"SecondaryRolledBack", func(t *testing.T, e *env, start uint64) uint64 {
			e.asyncPrewrite(t, start, 100, 0, "z", []string{"a", "h"}, "z")
			e.asyncPrewrite(t, start, 100, 0, "z", nil, "a")
			e.asyncPrewrite(t, start, 100, 0, "z", nil, "h")
			e.raw(t, k("h"), tikvrpc.CmdBatchRollback, &kvrpcpb.BatchRollbackRequest{StartVersion: start, Keys: [][]byte{k("h")}})
			return 0
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run(t, uint64(110+i), func(e *env) {
				start := e.ts(t)
				want := tc.setup(t, e, start)
				_ = e.r.Sleep(e.ctx, 200*time.Millisecond) // the TTL expires
				for _, key := range []string{"a", "h", "z"} {
					got := e.get(t, key)
					switch {
					case want == 0 && got != "":
						t.Fatalf("rolled-back write of %s visible: %q", key, got)
					case want != 0 && got != "v-"+key && !(tc.name == "OnlyPrimary" && key != "z"):
						t.Fatalf("committed write of %s not visible: %q", key, got)
					}
				}
				st, err := e.cli.LockResolver().GetTxnStatus(e.ctx, e.bo(5000), start, 0, k("z"))
				if err != nil || st.CommitTS() != want || !st.IsStatusDetermined() {
					t.Fatalf("status %v, %v; want commit ts %d", st, err, want)
				}
				e.noLocks(t, "a", "h", "z")
				if want == 0 {
					// The rollback is protected: the crashed writer's late
					// prewrite of the missing key cannot revive it.
					r := e.raw(t, k("h"), tikvrpc.CmdPrewrite, &kvrpcpb.PrewriteRequest{PrimaryLock: k("z"), StartVersion: start, LockTtl: 100,
						MinCommitTs: start + 1, UseAsyncCommit: true, Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: k("h"), Value: k("late")}}})
					if len(r.Resp.(*kvrpcpb.PrewriteResponse).Errors) == 0 {
						t.Fatal("late prewrite after the rollback succeeded")
					}
				}
			})
		})
	}
}

// TestAsyncCommitLiveLockWaits ports TestPointGetWithAsyncCommit's wait: a
// reader meeting a live async-commit lock (not yet expired) does not decide
// the transaction; it waits, and reads the value once the writer commits.
func TestAsyncCommitLiveLockWaits(t *testing.T) {
	run(t, 120, func(e *env) {
		start := e.ts(t)
		m := e.asyncPrewrite(t, start, 3000, 0, "a", nil, "a")
		e.r.Go("writer", func() {
			_ = e.r.Sleep(e.ctx, time.Second)
			e.commitRaw(t, start, m, "a")
		})
		if got := e.get(t, "a"); got != "v-a" {
			t.Fatalf("reader got %q, want the value committed while it waited", got)
		}
	})
}

// TestResolveTxnFallbackFromAsyncCommit ports
// TestResolveTxnFallbackFromAsyncCommit: a crashed async-commit writer one
// of whose prewrites fell back to 2PC (max_commit_ts too small: TiKV wrote
// a normal lock and answered min_commit_ts 0). Readers must treat the
// transaction as 2PC and roll it back, whichever key they read first.
func TestResolveTxnFallbackFromAsyncCommit(t *testing.T) {
	for i, tc := range []struct {
		fallback   [2]bool // per key: prewrite with a too small max_commit_ts
		readSecond bool
	}{
		{[2]bool{true, false}, false}, {[2]bool{true, false}, true},
		{[2]bool{false, true}, false}, {[2]bool{false, true}, true},
		{[2]bool{true, true}, false}, {[2]bool{true, true}, true},
	} {
		t.Run(fmt.Sprint(i+1), func(t *testing.T) {
			run(t, uint64(130+i), func(e *env) {
				e.commit(t, map[string]string{"a": "a0", "q": "q0"})
				start := e.ts(t)
				for j, key := range []string{"a", "q"} {
					maxTS := uint64(0)
					if tc.fallback[j] {
						maxTS = 1
					}
					got := e.asyncPrewrite(t, start, 1, maxTS, "a", []string{"q"}, key)
					if tc.fallback[j] != (got == 0) {
						t.Fatalf("prewrite %s: min_commit_ts %d, fallback %v", key, got, tc.fallback[j])
					}
				}
				order := []string{"a", "q"}
				if tc.readSecond {
					order = []string{"q", "a"}
				}
				for _, key := range order {
					if got := e.get(t, key); got != key+"0" {
						t.Fatalf("%s = %q, want the old value (rolled back)", key, got)
					}
				}
			})
		})
	}
}

// TestAsyncCommitFallbackCommitTsTooLarge: TiKV answers one prewrite batch
// with a fallback (the computed commit ts exceeds max_commit_ts); the
// client finishes the transaction as 2PC (a commit ts from PD, the primary
// committed first) and Commit succeeds.
func TestAsyncCommitFallbackCommitTsTooLarge(t *testing.T) {
	runHooked(t, 140, []string{"g", "p"}, func(e *env, h *hookTransport) {
		h.setHook(func(_ string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			if pw, ok := req.Req.(*kvrpcpb.PrewriteRequest); ok && string(pw.Mutations[0].Key) == "q" && pw.UseAsyncCommit {
				pw.MaxCommitTs = 1 // as if the transaction had outlived its safe window
			}
			return nil, nil
		})
		txn := e.commitWith(t, asyncCommit, map[string]string{"a": "a1", "h": "h1", "q": "q1"})
		if txn.IsAsyncCommit() {
			t.Fatal("still async after a fallback")
		}
		commits := h.requests(tikvrpc.CmdCommit)
		if len(commits) == 0 || string(commits[0].Req.(*kvrpcpb.CommitRequest).Keys[0]) != "a" {
			t.Fatal("2PC fallback did not commit the primary first")
		}
		for _, key := range []string{"a", "h", "q"} {
			if got := e.get(t, key); got != key+"1" {
				t.Fatalf("%s = %q", key, got)
			}
		}
	})
}

// TestFailAsyncCommitPrewriteRpcErrors ports
// TestFailAsyncCommitPrewriteRpcErrors, TestAsyncCommitContextCancelCausingUndetermined
// and TestPrewriteFailWithUndeterminedResult: a prewrite whose answer is
// lost (a timeout, the context cancelled in flight, TiKV's
// UndeterminedResult) leaves an async commit undetermined, and nothing is
// rolled back; a prewrite refused for sure (a key error) is a definite
// failure.
func TestFailAsyncCommitPrewriteRpcErrors(t *testing.T) {
	cases := []struct {
		name         string
		hook         func(e *env, h *hookTransport, addr string, req *tikvrpc.Request) (*tikvrpc.Response, error)
		undetermined bool
		committed    bool // the lost prewrite ran: readers commit the transaction
	}{
		{"LostResponse", func(e *env, h *hookTransport, addr string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			_, _ = h.Transport.SendRequest(e.ctx, addr, req, time.Second)
			return nil, errTimeout
		}, true, true},
		{"LostRequest", func(*env, *hookTransport, string, *tikvrpc.Request) (*tikvrpc.Response, error) {
			return nil, errTimeout
		}, true, false},
		{"UndeterminedResult", func(_ *env, _ *hookTransport, _ string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			return tikvrpc.GenRegionErrorResp(req, &errorpb.Error{UndeterminedResult: &errorpb.UndeterminedResult{}})
		}, true, false},
		{"KeyError", func(*env, *hookTransport, string, *tikvrpc.Request) (*tikvrpc.Response, error) {
			return &tikvrpc.Response{Resp: &kvrpcpb.PrewriteResponse{Errors: []*kvrpcpb.KeyError{{Abort: "injected"}}}}, nil
		}, false, false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runHooked(t, uint64(150+i), []string{"g", "p"}, func(e *env, h *hookTransport) {
				h.setHook(func(addr string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
					if pw, ok := req.Req.(*kvrpcpb.PrewriteRequest); ok && string(pw.Mutations[0].Key) == "q" {
						return tc.hook(e, h, addr, req)
					}
					return nil, nil
				})
				txn, _ := e.cli.Begin(e.ctx)
				txn.SetEnableAsyncCommit(true)
				_ = txn.Set(k("a"), k("a1"))
				_ = txn.Set(k("q"), k("q1"))
				err := txn.Commit(e.ctx)
				if err == nil || tikverr.IsErrUndetermined(err) != tc.undetermined {
					t.Fatalf("commit = %v, want undetermined %v", err, tc.undetermined)
				}
				h.setHook(nil)
				_ = e.r.Sleep(e.ctx, 5*time.Second) // the locks expire
				want := map[bool]string{true: "1", false: ""}[tc.committed]
				for _, key := range []string{"a", "q"} {
					if got := e.get(t, key); got != map[string]string{"": "", "1": key + "1"}[want] {
						t.Fatalf("%s = %q, committed %v", key, got, tc.committed)
					}
				}
				e.noLocks(t, "a", "q")
			})
		})
	}
}

// TestAsyncCommitPrewriteCancelled ports TestAsyncCommitPrewriteCancelled:
// one batch's write conflict fails the commit definitely even though
// another batch is slow; its locks are rolled back.
func TestAsyncCommitPrewriteCancelled(t *testing.T) {
	runHooked(t, 160, []string{"g", "p"}, func(e *env, h *hookTransport) {
		txn, _ := e.cli.Begin(e.ctx)
		txn.SetEnableAsyncCommit(true)
		_ = txn.Set(k("a"), k("a1"))
		_ = txn.Set(k("q"), k("q1"))
		e.commit(t, map[string]string{"q": "q2"})
		h.setHook(func(_ string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			if pw, ok := req.Req.(*kvrpcpb.PrewriteRequest); ok && string(pw.Mutations[0].Key) == "a" {
				_ = e.r.Sleep(e.ctx, 500*time.Millisecond)
			}
			return nil, nil
		})
		err := txn.Commit(e.ctx)
		if !tikverr.IsErrWriteConflict(err) || tikverr.IsErrUndetermined(err) {
			t.Fatalf("commit = %v, want a definite write conflict", err)
		}
		e.settle()
		e.noLocks(t, "a", "q")
		if e.get(t, "a") != "" || e.get(t, "q") != "q2" {
			t.Fatal("failed transaction visible")
		}
	})
}

// TestAsyncCommitLostCommitResponses: once every prewrite succeeded the
// transaction is committed, whatever happens to the commit RPCs; a crash
// of the client right after Commit returned is the same case.
func TestAsyncCommitLostCommitResponses(t *testing.T) {
	runHooked(t, 161, []string{"g", "p"}, func(e *env, h *hookTransport) {
		h.setHook(func(addr string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			if req.Type == tikvrpc.CmdCommit {
				_, _ = h.Transport.SendRequest(e.ctx, addr, req, time.Second)
				return nil, errTimeout
			}
			return nil, nil
		})
		txn := e.commitWith(t, asyncCommit, map[string]string{"a": "a1", "q": "q1"})
		if !txn.IsAsyncCommit() {
			t.Fatal("not async")
		}
		for _, key := range []string{"a", "q"} {
			if got := e.get(t, key); got != key+"1" {
				t.Fatalf("%s = %q", key, got)
			}
		}
	})
}

// TestTTLManagerStartsAfterPrimaryBatch: the TTL manager starts as soon as
// the primary's batch is prewritten, not after all batches, so a slow
// secondary region cannot let the primary lock expire under a live commit
// (client-go handleSingleBatchSucceed; cf. TestStartHeartBeatAfterLockingPrimary).
func TestTTLManagerStartsAfterPrimaryBatch(t *testing.T) {
	runHooked(t, 162, []string{"g", "p"}, func(e *env, h *hookTransport) {
		var ttl uint64
		h.setHook(func(_ string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			if pw, ok := req.Req.(*kvrpcpb.PrewriteRequest); ok && string(pw.Mutations[0].Key) == "q" {
				_ = e.r.Sleep(e.ctx, 8*time.Second)
				if l := e.lockOf(t, "a"); l != nil {
					ttl = l.LockTtl
				}
			}
			return nil, nil
		})
		e.commitWith(t, func(*transaction.KVTxn) {}, map[string]string{"a": "a1", "q": "q1"})
		if ttl <= 8000 {
			t.Fatalf("primary lock TTL %d after 8s of a slow secondary prewrite: not kept alive", ttl)
		}
	})
}

// Test1PC ports Test1PC, Test1PCIsolation and Test1PCLinearizability: a
// transaction within one region commits in its prewrite (no Commit RPC),
// also with async commit on; an older snapshot reads the old values; the
// commit ts follows a timestamp taken before Commit.
func Test1PC(t *testing.T) {
	runHooked(t, 170, []string{"g", "p"}, func(e *env, h *hookTransport) {
		e.commit(t, map[string]string{"a": "a0", "b": "b0"})
		old, _ := e.cli.Begin(e.ctx)
		before := e.ts(t)
		n := len(h.requests(tikvrpc.CmdCommit))
		txn := e.commitWith(t, onePC, map[string]string{"a": "a1", "b": "b1"})
		if !txn.IsOnePC() {
			t.Fatal("not committed in 1PC")
		}
		if got := len(h.requests(tikvrpc.CmdCommit)); got != n {
			t.Fatalf("1PC sent %d commit RPCs", got-n)
		}
		if txn.CommitTS() <= before {
			t.Fatalf("1PC commit ts %d not above %d", txn.CommitTS(), before)
		}
		for _, key := range []string{"a", "b"} {
			if v, err := old.Get(e.ctx, k(key)); err != nil || string(v) != key+"0" {
				t.Fatalf("old snapshot %s = %q, %v", key, v, err)
			}
			if got := e.get(t, key); got != key+"1" {
				t.Fatalf("%s = %q", key, got)
			}
		}
		e.noLocks(t, "a", "b")
		both := e.commitWith(t, func(t *transaction.KVTxn) { t.SetEnable1PC(true); t.SetEnableAsyncCommit(true) }, map[string]string{"c": "c1"})
		if !both.IsOnePC() {
			t.Fatal("1PC with async commit enabled too did not use 1PC")
		}
	})
}

// Test1PCDisallowMultiRegion ports Test1PCDisallowMultiRegion: keys in two
// regions, or more than one batch in one region, cannot commit in one
// request; the transaction uses 2PC (or async commit when enabled).
func Test1PCDisallowMultiRegion(t *testing.T) {
	runHooked(t, 171, []string{"g", "p"}, func(e *env, h *hookTransport) {
		txn := e.commitWith(t, onePC, map[string]string{"a": "a1", "q": "q1"})
		if txn.IsOnePC() || txn.IsAsyncCommit() {
			t.Fatal("two regions committed in 1PC")
		}
		for _, r := range h.requests(tikvrpc.CmdPrewrite) {
			if r.Req.(*kvrpcpb.PrewriteRequest).TryOnePc {
				t.Fatal("try_one_pc sent for a multi-region transaction")
			}
		}
		both := e.commitWith(t, func(t *transaction.KVTxn) { t.SetEnable1PC(true); t.SetEnableAsyncCommit(true) }, map[string]string{"a": "a2", "q": "q2"})
		if both.IsOnePC() || !both.IsAsyncCommit() {
			t.Fatal("multi-region 1PC+async did not fall to async commit")
		}
		big := map[string]string{}
		for i := range 40 {
			big[fmt.Sprintf("b%02d", i)] = strings.Repeat("v", 1024)
		}
		if txn := e.commitWith(t, onePC, big); txn.IsOnePC() {
			t.Fatal("40 KiB in one region (several batches) committed in 1PC")
		}
		for _, key := range []string{"a", "q"} {
			if got := e.get(t, key); got != key+"2" {
				t.Fatalf("%s = %q", key, got)
			}
		}
	})
}

// Test1PCNotApplicable: TiKV declines 1PC (one_pc_commit_ts 0, the commit
// ts would exceed max_commit_ts); the client finishes with 2PC.
func Test1PCNotApplicable(t *testing.T) {
	runHooked(t, 172, []string{"g", "p"}, func(e *env, h *hookTransport) {
		h.setHook(func(_ string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			if pw, ok := req.Req.(*kvrpcpb.PrewriteRequest); ok && pw.TryOnePc {
				pw.MaxCommitTs = 1
			}
			return nil, nil
		})
		txn := e.commitWith(t, onePC, map[string]string{"a": "a1", "b": "b1"})
		if txn.IsOnePC() {
			t.Fatal("1PC despite TiKV declining")
		}
		if len(h.requests(tikvrpc.CmdCommit)) == 0 {
			t.Fatal("no commit RPC after the 1PC fallback")
		}
		if e.get(t, "a") != "a1" || e.get(t, "b") != "b1" {
			t.Fatal("fallback commit lost writes")
		}
	})
}

// TestFailWithUndeterminedResult ports 1PC's TestFailWithUndeterminedResult:
// a 1PC prewrite whose answer is lost is undetermined (here it ran: the
// data is committed); a prewrite lost before reaching TiKV is undetermined
// too (the client cannot tell) and nothing is written.
func TestFailWithUndeterminedResult(t *testing.T) {
	for i, ran := range []bool{true, false} {
		t.Run(fmt.Sprint(ran), func(t *testing.T) {
			runHooked(t, uint64(173+i), []string{"g", "p"}, func(e *env, h *hookTransport) {
				h.setHook(func(addr string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
					if req.Type == tikvrpc.CmdPrewrite {
						if ran {
							_, _ = h.Transport.SendRequest(e.ctx, addr, req, time.Second)
						}
						return nil, errTimeout
					}
					return nil, nil
				})
				txn, _ := e.cli.Begin(e.ctx)
				txn.SetEnable1PC(true)
				_ = txn.Set(k("a"), k("a1"))
				err := txn.Commit(e.ctx)
				if !tikverr.IsErrUndetermined(err) {
					t.Fatalf("lost 1PC prewrite: %v, want undetermined", err)
				}
				h.setHook(nil)
				want := map[bool]string{true: "a1", false: ""}[ran]
				if got := e.get(t, "a"); got != want {
					t.Fatalf("a = %q, want %q", got, want)
				}
				e.noLocks(t, "a")
			})
		})
	}
}

// TestOnePCRetriedPrewrite: a 1PC prewrite that ran but whose first answer
// was lost is sent again; TiKV finds the transaction committed and answers
// its commit ts, so Commit succeeds at that ts.
func TestOnePCRetriedPrewrite(t *testing.T) {
	runHooked(t, 175, []string{"g", "p"}, func(e *env, h *hookTransport) {
		n := 0
		h.setHook(func(addr string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			if req.Type == tikvrpc.CmdPrewrite {
				n++
				if n == 1 {
					_, _ = h.Transport.SendRequest(e.ctx, addr, req, time.Second)
					return nil, errTimeout
				}
			}
			return nil, nil
		})
		txn := e.commitWith(t, onePC, map[string]string{"a": "a1"})
		if !txn.IsOnePC() || e.get(t, "a") != "a1" {
			t.Fatalf("1pc=%v a=%q", txn.IsOnePC(), e.get(t, "a"))
		}
		st, err := e.cli.LockResolver().GetTxnStatus(e.ctx, e.bo(5000), txn.StartTS(), 0, k("a"))
		if err != nil || st.CommitTS() != txn.CommitTS() {
			t.Fatalf("status %v, %v; Commit reported %d", st, err, txn.CommitTS())
		}
	})
}

// TestRetryMaxTsPointGetSkipLock ports snapshot_fail's
// TestRetryMaxTsPointGetSkipLock: a point get at the max ts resolves the
// expired async-commit transaction it met first (committed), and on its
// retry skips the lock of a transaction prewritten meanwhile, reading the
// first one's value.
func TestRetryMaxTsPointGetSkipLock(t *testing.T) {
	runHooked(t, 180, []string{"g", "p"}, func(e *env, h *hookTransport) {
		dropCommits := func(_ string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			if req.Type == tikvrpc.CmdCommit {
				return nil, errTimeout
			}
			return nil, nil
		}
		h.setHook(dropCommits)
		e.commitWith(t, asyncCommit, map[string]string{"k1": "v1", "k2": "v2"})
		_ = e.r.Sleep(e.ctx, 4*time.Second) // its locks expire
		e.ts(t)
		gets := 0
		h.setHook(func(addr string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			if req.Type == tikvrpc.CmdGet {
				gets++
				if gets == 2 { // the retry after resolving: another writer came in between
					e.commitWith(t, asyncCommit, map[string]string{"k1": "v3", "k2": "v4"})
				}
				return nil, nil
			}
			return dropCommits(addr, req)
		})
		v, err := e.cli.GetSnapshot(math.MaxUint64).Get(e.ctx, k("k2"))
		if err != nil || string(v) != "v2" {
			t.Fatalf("max-ts get = %q, %v; want v2", v, err)
		}
		if gets != 3 || e.lockOf(t, "k2") == nil {
			t.Fatalf("%d gets, lock %v: the second writer's lock was not skipped", gets, e.lockOf(t, "k2"))
		}
	})
}

// TestRetryPointGetResolveTS ports snapshot_fail's
// TestRetryPointGetResolveTS: a max-ts point get meeting a prewritten 2PC
// secondary reads past it without pushing the primary's min_commit_ts, so
// the writer commits at the commit ts it already had.
func TestRetryPointGetResolveTS(t *testing.T) {
	runHooked(t, 181, []string{"g", "p"}, func(e *env, h *hookTransport) {
		var got error
		h.setHook(func(_ string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			if req.Type == tikvrpc.CmdCommit && got == nil {
				_, got = e.cli.GetSnapshot(math.MaxUint64).Get(e.ctx, k("k2"))
			}
			return nil, nil
		})
		txn := e.commitWith(t, func(t *transaction.KVTxn) { t.SetCausalConsistency(true) }, map[string]string{"k1": "v1", "k2": "v2"})
		if !isNotExist(got) {
			t.Fatalf("max-ts get during the commit = %v, want not found", got)
		}
		commits := h.requests(tikvrpc.CmdCommit)
		if first := commits[0].Req.(*kvrpcpb.CommitRequest); first.CommitVersion != txn.CommitTS() {
			t.Fatalf("commit ts moved from %d to %d: the reader pushed min_commit_ts", first.CommitVersion, txn.CommitTS())
		}
		if v, err := e.cli.GetSnapshot(txn.CommitTS()).Get(e.ctx, k("k2")); err != nil || string(v) != "v2" {
			t.Fatalf("get at the commit ts = %q, %v", v, err)
		}
	})
}

// TestPrewriteSecondaryKeys ports 2pc_test's TestPrewriteSecondaryKeys: a
// 70-key async-commit transaction over two regions and several batches
// (1 KiB values, duplicates overwritten): only the primary's batch lists
// the secondaries, which are every other key.
func TestPrewriteSecondaryKeys(t *testing.T) {
	runHooked(t, 182, []string{"g", "p"}, func(e *env, h *hookTransport) {
		txn, _ := e.cli.Begin(e.ctx)
		txn.SetEnableAsyncCommit(true)
		var keys []string
		for i := byte(50); i < 120; i++ {
			key := "f" + string([]byte{i}) // f2..fw: split at "g"
			keys = append(keys, key)
			_ = txn.Set(k(key), make([]byte, 1024))
		}
		for i := byte(50); i < 120; i += 10 {
			_ = txn.Set(k("f"+string([]byte{i})), make([]byte, 188))
		}
		if err := txn.Commit(e.ctx); err != nil || !txn.IsAsyncCommit() {
			t.Fatalf("commit = %v, async %v", err, txn.IsAsyncCommit())
		}
		primary, secondary := 0, 0
		for _, r := range h.requests(tikvrpc.CmdPrewrite) {
			pw := r.Req.(*kvrpcpb.PrewriteRequest)
			if len(pw.Secondaries) == 0 {
				secondary++
				continue
			}
			primary++
			var got []string
			for _, s := range pw.Secondaries {
				got = append(got, string(s))
			}
			if strings.Join(got, ",") != strings.Join(keys[1:], ",") {
				t.Fatalf("secondaries %v, want %v", got, keys[1:])
			}
		}
		if primary != 1 || secondary == 0 {
			t.Fatalf("%d primary and %d secondary prewrite batches", primary, secondary)
		}
	})
}
