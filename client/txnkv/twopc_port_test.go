package txnkv_test

// Ports of client-go's optimistic 2PC tests (batch B9, optimistic part):
// integration_tests/2pc_test.go and ticlient_test.go, run against the fake
// cluster. Failpoints become a hookTransport (rpcCommitResult,
// rpcCommitTimeout) or raw requests from another client.

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/kv"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/txnkv/transaction"
)

// settle lets background secondaries and cleanups finish.
func (e *env) settle() { _ = e.r.Sleep(e.ctx, 2*time.Second) }

// noLocks fails the test when any of keys is locked.
func (e *env) noLocks(t *testing.T, keys ...string) {
	t.Helper()
	for _, key := range keys {
		if l := e.lockOf(t, key); l != nil {
			t.Fatalf("lock left on %s: %v", key, l)
		}
	}
}

// TestCommitRollback ports TestCommitRollback: a transaction losing a write
// conflict on one key rolls back its other keys; the winner's values stay.
func TestCommitRollback(t *testing.T) {
	run(t, 31, func(e *env) {
		t1, _ := e.cli.Begin(e.ctx)
		for _, key := range []string{"a", "b", "h"} {
			_ = t1.Set(k(key), k(key+"1"))
		}
		e.commit(t, map[string]string{"h": "h2"})
		err := t1.Commit(e.ctx)
		if !tikverr.IsErrWriteConflict(err) {
			t.Fatalf("commit = %v, want a write conflict", err)
		}
		e.settle()
		e.noLocks(t, "a", "b", "h")
		if e.get(t, "a") != "" || e.get(t, "h") != "h2" {
			t.Fatal("loser's writes visible or winner's lost")
		}
		if err := t1.Rollback(); !errors.Is(err, transaction.ErrInvalidTxn) {
			t.Fatalf("rollback after commit: %v", err)
		}
	})
}

// TestPrewritePrimaryKeyFailed ports TestPrewritePrimaryKeyFailed and
// TestPrewriteRollback: the primary's prewrite fails; the secondaries that
// were prewritten are cleaned up, and a later transaction writes them.
func TestPrewritePrimaryKeyFailed(t *testing.T) {
	run(t, 32, func(e *env) {
		t1, _ := e.cli.Begin(e.ctx)
		_ = t1.Set(k("a"), k("a1"))
		_ = t1.Set(k("q"), k("q1"))
		e.commit(t, map[string]string{"a": "a2"})
		if err := t1.Commit(e.ctx); !tikverr.IsErrWriteConflict(err) {
			t.Fatalf("commit = %v, want a write conflict", err)
		}
		e.settle()
		e.noLocks(t, "a", "q")
		e.commit(t, map[string]string{"q": "q3"})
		if e.get(t, "q") != "q3" || e.get(t, "a") != "a2" {
			t.Fatal("wrong values after the failed transaction")
		}
	})
}

// TestCommitBeforePrewrite ports TestCommitBeforePrewrite: the transaction
// was rolled back (cleanup) before its prewrite arrived; the prewrite fails
// and the commit reports it.
func TestCommitBeforePrewrite(t *testing.T) {
	run(t, 33, func(e *env) {
		txn, _ := e.cli.Begin(e.ctx)
		_ = txn.Set(k("a"), k("a1"))
		e.raw(t, k("a"), tikvrpc.CmdBatchRollback, &kvrpcpb.BatchRollbackRequest{StartVersion: txn.StartTS(), Keys: [][]byte{k("a")}})
		err := txn.Commit(e.ctx)
		if err == nil || tikverr.IsErrUndetermined(err) {
			t.Fatalf("commit after a rollback = %v, want a definite error", err)
		}
		if e.get(t, "a") != "" {
			t.Fatal("rolled-back write visible")
		}
	})
}

// TestContextCancel ports TestContextCancel / TestPrewriteCancel: a commit
// with a cancelled context fails definitely and leaves no locks.
func TestContextCancel(t *testing.T) {
	run(t, 34, func(e *env) {
		txn, _ := e.cli.Begin(e.ctx)
		_ = txn.Set(k("a"), k("a1"))
		_ = txn.Set(k("q"), k("q1"))
		ctx, cancel := context.WithCancel(e.ctx)
		cancel()
		err := txn.Commit(ctx)
		if err == nil || tikverr.IsErrUndetermined(err) {
			t.Fatalf("cancelled commit = %v", err)
		}
		e.settle()
		e.noLocks(t, "a", "q")
	})
}

// TestIllegalTso ports TestIllegalTso: a transaction starting at
// MaxUint64 cannot commit (no commit ts is above it).
func TestIllegalTso(t *testing.T) {
	run(t, 35, func(e *env) {
		txn := e.cli.BeginWithStartTS(math.MaxUint64)
		_ = txn.Set(k("a"), k("a1"))
		if err := txn.Commit(e.ctx); err == nil {
			t.Fatal("commit at start ts MaxUint64 succeeded")
		}
	})
}

// TestPrewriteTxnSize ports TestPrewriteTxnSize: each prewrite carries the
// number of the transaction's keys in its region (50 and 20 here), which
// resolvers use to choose lite or region-wide resolution.
func TestPrewriteTxnSize(t *testing.T) {
	runHooked(t, 36, []string{"key00050"}, func(e *env, h *hookTransport) {
		kvs := map[string]string{}
		val := string(make([]byte, 1024))
		for i := range 70 {
			kvs[keyN(i)] = val
		}
		e.commit(t, kvs)
		reqs := h.requests(tikvrpc.CmdPrewrite)
		if len(reqs) < 2 {
			t.Fatalf("%d prewrites", len(reqs))
		}
		for _, r := range reqs {
			pw := r.Req.(*kvrpcpb.PrewriteRequest)
			want := uint64(20)
			if string(pw.Mutations[0].Key) < keyN(50) {
				want = 50
			}
			if pw.TxnSize != want {
				t.Fatalf("prewrite from %s: TxnSize %d, want %d", pw.Mutations[0].Key, pw.TxnSize, want)
			}
		}
	})
}

// TestRejectCommitTS ports TestRejectCommitTS: the primary lock's
// min_commit_ts is pushed above the commit ts before the commit arrives
// (here by a reader's CheckTxnStatus); the commit gets CommitTsExpired and
// retries with a newer ts.
func TestRejectCommitTS(t *testing.T) {
	runHooked(t, 37, nil, func(e *env, h *hookTransport) {
		var first uint64
		h.setHook(func(_ string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			if req.Type == tikvrpc.CmdCommit && first == 0 {
				cr := req.Req.(*kvrpcpb.CommitRequest)
				first = cr.CommitVersion
				e.raw(t, k("x"), tikvrpc.CmdCheckTxnStatus, &kvrpcpb.CheckTxnStatusRequest{PrimaryKey: k("x"), LockTs: cr.StartVersion,
					CallerStartTs: first + 10, CurrentTs: first + 10})
			}
			return nil, nil
		})
		commitTS := e.commit(t, map[string]string{"x": "v"})
		if commitTS <= first+10 {
			t.Fatalf("commit ts %d not above the pushed min_commit_ts %d", commitTS, first+10)
		}
		if _, err := e.cli.GetSnapshot(first+5).Get(e.ctx, k("x")); !errors.Is(err, tikverr.ErrNotExist) {
			t.Fatalf("read below the final commit ts: %v", err)
		}
		if e.get(t, "x") != "v" {
			t.Fatal("not committed")
		}
	})
}

// commitFailure runs a one-key commit with the commit RPC answered by f and
// returns Commit's error.
func commitFailure(t *testing.T, seed uint64, f func(n int, e *env, h *hookTransport, req *tikvrpc.Request) (*tikvrpc.Response, error)) error {
	var out error
	runHooked(t, seed, nil, func(e *env, h *hookTransport) {
		n := 0
		h.setHook(func(_ string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			if req.Type != tikvrpc.CmdCommit {
				return nil, nil
			}
			n++
			return f(n, e, h, req)
		})
		txn, _ := e.cli.Begin(e.ctx)
		_ = txn.Set(k("a"), k("a1"))
		out = txn.Commit(e.ctx)
		if out == nil {
			t.Fatal("commit succeeded")
		}
		if err := txn.Rollback(); !errors.Is(err, transaction.ErrInvalidTxn) {
			t.Fatalf("rollback after a failed commit: %v", err)
		}
	})
	return out
}

var errTimeout = errors.New("rpc timeout (test)")

func notLeader(req *tikvrpc.Request) (*tikvrpc.Response, error) {
	return tikvrpc.GenRegionErrorResp(req, &errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{}})
}

func keyError(*tikvrpc.Request) (*tikvrpc.Response, error) {
	return &tikvrpc.Response{Resp: &kvrpcpb.CommitResponse{Error: &kvrpcpb.KeyError{Retryable: "injected key error"}}}, nil
}

// TestFailCommitPrimary ports the TestFailCommitPrimary* family: an RPC
// error on the primary commit is undetermined; region errors alone or a key
// error (even after an RPC error, since TiKV then answered) are definite.
func TestFailCommitPrimary(t *testing.T) {
	cases := []struct {
		name         string
		f            func(n int, e *env, h *hookTransport, req *tikvrpc.Request) (*tikvrpc.Response, error)
		undetermined bool
	}{
		{"RpcErrors", func(int, *env, *hookTransport, *tikvrpc.Request) (*tikvrpc.Response, error) { return nil, errTimeout }, true},
		{"RegionError", func(_ int, _ *env, _ *hookTransport, r *tikvrpc.Request) (*tikvrpc.Response, error) {
			return notLeader(r)
		}, false},
		{"RPCErrorThenRegionError", func(n int, _ *env, _ *hookTransport, r *tikvrpc.Request) (*tikvrpc.Response, error) {
			if n == 1 {
				return nil, errTimeout
			}
			return notLeader(r)
		}, true},
		{"KeyError", func(_ int, _ *env, _ *hookTransport, r *tikvrpc.Request) (*tikvrpc.Response, error) {
			return keyError(r)
		}, false},
		{"RPCErrorThenKeyError", func(n int, _ *env, _ *hookTransport, r *tikvrpc.Request) (*tikvrpc.Response, error) {
			if n == 1 {
				return nil, errTimeout
			}
			return keyError(r)
		}, false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := commitFailure(t, uint64(40+i), tc.f)
			if got := tikverr.IsErrUndetermined(err); got != tc.undetermined {
				t.Fatalf("undetermined = %v, want %v (err %v)", got, tc.undetermined, err)
			}
		})
	}
}

// TestFailCommitTimeout ports TestFailCommitTimeout and
// TestContextCancelCausingUndetermined: the primary commit is applied but
// its response is lost; Commit reports undetermined and the data is in
// fact committed (readers commit the secondaries).
func TestFailCommitTimeout(t *testing.T) {
	runHooked(t, 46, nil, func(e *env, h *hookTransport) {
		h.setHook(func(addr string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			if req.Type == tikvrpc.CmdCommit {
				_, _ = h.Transport.SendRequest(e.ctx, addr, req, time.Second)
				return nil, errTimeout
			}
			return nil, nil
		})
		txn, _ := e.cli.Begin(e.ctx)
		for _, key := range []string{"a", "b", "q"} {
			_ = txn.Set(k(key), k(key+"1"))
		}
		err := txn.Commit(e.ctx)
		if !tikverr.IsErrUndetermined(err) {
			t.Fatalf("lost commit response: %v, want undetermined", err)
		}
		h.setHook(nil)
		for _, key := range []string{"a", "b", "q"} {
			if e.get(t, key) != key+"1" {
				t.Fatalf("%s not committed", key)
			}
		}
	})
}

// TestCommitMultipleRegions ports TestCommitMultipleRegions: big
// transactions over many regions and many batches commit atomically.
func TestCommitMultipleRegions(t *testing.T) {
	run(t, 47, func(e *env) {
		for _, c := range []string{"key00100", "key00200", "key00300", "key00400"} {
			_ = e.c.Split(k(c))
		}
		kvs := map[string]string{}
		val := string(make([]byte, 100))
		for i := range 500 {
			kvs[keyN(i)] = val
		}
		e.commit(t, kvs)
		e.settle()
		snap := e.cli.GetSnapshot(e.ts(t))
		var keys [][]byte
		for key := range kvs {
			keys = append(keys, k(key))
		}
		m, err := snap.BatchGet(e.ctx, keys)
		if err != nil || len(m) != 500 {
			t.Fatalf("BatchGet: %d keys, %v", len(m), err)
		}
		e.noLocks(t, keyN(0), keyN(150), keyN(499))
	})
}

// TestTxnIterUnion covers KVTxn.Iter/IterReverse (client-go KVTxn.Iter over
// the union store): buffered writes over the snapshot, deletes hiding keys.
func TestTxnIterUnion(t *testing.T) {
	run(t, 48, func(e *env) {
		e.commit(t, map[string]string{"a": "1", "b": "2", "h": "3", "q": "4"})
		txn, _ := e.cli.Begin(e.ctx)
		_ = txn.Set(k("c"), k("own"))
		_ = txn.Delete(k("h"))
		_ = txn.Set(k("a"), k("own-a"))
		var got string
		it, err := txn.Iter(e.ctx, k("a"), nil)
		if err != nil {
			t.Fatal(err)
		}
		for it.Valid() {
			got += string(it.Key()) + "=" + string(it.Value()) + " "
			if err := it.Next(); err != nil {
				t.Fatal(err)
			}
		}
		it.Close()
		if got != "a=own-a b=2 c=own q=4 " {
			t.Fatalf("Iter = %q", got)
		}
		got = ""
		it, err = txn.IterReverse(e.ctx, k("r"), k("b"))
		if err != nil {
			t.Fatal(err)
		}
		for it.Valid() {
			got += string(it.Key())
			_ = it.Next()
		}
		if got != "qcb" {
			t.Fatalf("IterReverse = %q", got)
		}
		_ = txn.Rollback()
		if _, err := txn.Iter(e.ctx, nil, nil); !errors.Is(err, transaction.ErrInvalidTxn) {
			t.Fatalf("Iter after rollback: %v", err)
		}
		if _, err := txn.IterReverse(e.ctx, nil, nil); !errors.Is(err, transaction.ErrInvalidTxn) {
			t.Fatalf("IterReverse after rollback: %v", err)
		}
	})
}

// TestInsertAndDeleteYourWrites ports TestExtractKeyExistsErr,
// TestDeleteYourWritesTTL and TestDeleteAllYourWrites (optimistic form):
// an insert of an existing key fails with ErrKeyExist at prewrite; an
// insert deleted again in the same transaction writes nothing but is still
// checked absent (Op_CheckNotExists), also when it is the only key.
func TestInsertAndDeleteYourWrites(t *testing.T) {
	runHooked(t, 49, nil, func(e *env, h *hookTransport) {
		e.commit(t, map[string]string{"exists": "1"})
		insert := func(key string, del bool, others ...string) error {
			txn, _ := e.cli.Begin(e.ctx)
			if err := txn.GetMemBuffer().SetWithFlags(k(key), k("new"), kv.SetPresumeKeyNotExists); err != nil {
				t.Fatal(err)
			}
			if del {
				_ = txn.Delete(k(key))
			}
			for _, o := range others {
				_ = txn.Set(k(o), k(o))
			}
			return txn.Commit(e.ctx)
		}
		if err := insert("exists", false); !tikverr.IsErrKeyExist(err) {
			t.Fatalf("insert of an existing key: %v", err)
		}
		if err := insert("exists", true, "ba"); !tikverr.IsErrKeyExist(err) {
			t.Fatalf("insert+delete of an existing key: %v", err)
		}
		if e.get(t, "exists") != "1" || e.get(t, "ba") != "" {
			t.Fatal("failed transaction changed data")
		}
		if err := insert("bb", true, "ba"); err != nil {
			t.Fatalf("insert+delete of an absent key with another write: %v", err)
		}
		if err := insert("dd", true); err != nil {
			t.Fatalf("insert+delete alone: %v", err)
		}
		e.settle()
		if e.get(t, "ba") != "ba" || e.get(t, "bb") != "" || e.get(t, "dd") != "" {
			t.Fatal("wrong data after delete-your-writes")
		}
		e.noLocks(t, "ba", "bb", "dd")
		for _, r := range h.requests(tikvrpc.CmdCommit) {
			for _, key := range r.Req.(*kvrpcpb.CommitRequest).Keys {
				if string(key) == "bb" || string(key) == "dd" {
					t.Fatalf("prewrite-only key %s committed", key)
				}
			}
		}
	})
}

// TestContextCancelCausingUndetermined ports
// TestContextCancelCausingUndetermined: the caller's context is cancelled
// while the primary commit is in flight (it reached TiKV); Commit is
// undetermined and wraps context.Canceled.
func TestContextCancelCausingUndetermined(t *testing.T) {
	runHooked(t, 50, nil, func(e *env, h *hookTransport) {
		ctx, cancel := context.WithCancel(e.ctx)
		h.setHook(func(addr string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			if req.Type == tikvrpc.CmdCommit {
				_, _ = h.Transport.SendRequest(e.ctx, addr, req, time.Second)
				cancel()
				return nil, ctx.Err()
			}
			return nil, nil
		})
		txn, _ := e.cli.Begin(e.ctx)
		_ = txn.Set(k("a"), k("va"))
		err := txn.Commit(ctx)
		if !tikverr.IsErrUndetermined(err) || !errors.Is(err, context.Canceled) {
			t.Fatalf("commit = %v, want undetermined wrapping context.Canceled", err)
		}
		h.setHook(nil)
		if e.get(t, "a") != "va" {
			t.Fatal("the commit that reached TiKV is not visible")
		}
	})
}
