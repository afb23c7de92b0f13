package cluster

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// This file sends every command the store layer registers through a store,
// and checks what the cluster layer adds to the engine: routing by region,
// and region-wide or open-ended ranges clipped to the serving region (a
// request never touches a key of another region, as TiKV's region snapshot
// cannot see past its region).

// do sends the request built for the region of key to that region's leader
// and fails the test on a transport or region error.
func (e *env) do(key string, mk func(ctx *kvrpcpb.Context) any) any {
	e.t.Helper()
	ctx, leader := e.ctxFor(key)
	resp, err := e.call(leader, mk(ctx))
	if err != nil {
		e.t.Fatalf("%s: %v", key, err)
	}
	if re := regionError(resp); re != nil {
		e.t.Fatalf("%s: region error %v", key, re)
	}
	return resp
}

func kvKeys(ps []*kvrpcpb.KvPair) string {
	var ks []string
	for _, p := range ps {
		s := string(p.Key)
		if p.Error != nil {
			s += "!"
		}
		ks = append(ks, s)
	}
	return strings.Join(ks, ",")
}

func lockKeys(ls []*kvrpcpb.LockInfo) string {
	var ks []string
	for _, l := range ls {
		ks = append(ks, string(l.Key))
	}
	return strings.Join(ks, ",")
}

func keys(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// TestTxnCommandsThroughStores: a transactional cluster split at "m" serves
// every transactional command; open-ended scans, region-wide resolves and
// rollbacks, lock scans and delete-range stop at the region's boundary.
func TestTxnCommandsThroughStores(t *testing.T) {
	run(t, 31, Config{TxnKeys: true}, func(e *env) {
		// Prewrite and commit a, b (left region) and n, p (right region).
		prewrite := func(start uint64, primary string, ks ...string) {
			var ms []*kvrpcpb.Mutation
			for _, k := range ks {
				ms = append(ms, &kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: []byte(k), Value: []byte(fmt.Sprintf("%s%d", k, start))})
			}
			resp := e.do(ks[0], func(ctx *kvrpcpb.Context) any {
				return &kvrpcpb.PrewriteRequest{Context: ctx, Mutations: ms, PrimaryLock: []byte(primary), StartVersion: start, LockTtl: 3000}
			}).(*kvrpcpb.PrewriteResponse)
			if len(resp.Errors) > 0 {
				t.Fatalf("prewrite %v: %v", ks, resp.Errors)
			}
		}
		commit := func(start, commitTS uint64, ks ...string) {
			resp := e.do(ks[0], func(ctx *kvrpcpb.Context) any {
				return &kvrpcpb.CommitRequest{Context: ctx, StartVersion: start, CommitVersion: commitTS, Keys: keys(ks...)}
			}).(*kvrpcpb.CommitResponse)
			if resp.Error != nil {
				t.Fatalf("commit %v: %v", ks, resp.Error)
			}
		}
		prewrite(10, "a", "a", "b")
		prewrite(10, "a", "n", "p")
		commit(10, 11, "a", "b")
		commit(10, 11, "n", "p")

		get := e.do("b", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.GetRequest{Context: ctx, Key: []byte("b"), Version: 20}
		}).(*kvrpcpb.GetResponse)
		if string(get.Value) != "b10" {
			t.Fatalf("get b = %q", get.Value)
		}
		bg := e.do("a", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.BatchGetRequest{Context: ctx, Keys: keys("a", "b"), Version: 20}
		}).(*kvrpcpb.BatchGetResponse)
		if got := kvKeys(bg.Pairs); got != "a,b" {
			t.Fatalf("batch get: %s", got)
		}
		// An open-ended forward scan from the left region stops at "m".
		sc := e.do("a", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.ScanRequest{Context: ctx, StartKey: []byte("a"), Version: 20, Limit: 10}
		}).(*kvrpcpb.ScanResponse)
		if got := kvKeys(sc.Pairs); got != "a,b" {
			t.Fatalf("forward scan: %s, want a,b (clipped at m)", got)
		}
		// An end key beyond the region is clipped too.
		sc = e.do("a", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.ScanRequest{Context: ctx, StartKey: []byte("a"), EndKey: []byte("z"), Version: 20, Limit: 10}
		}).(*kvrpcpb.ScanResponse)
		if got := kvKeys(sc.Pairs); got != "a,b" {
			t.Fatalf("forward scan to z: %s", got)
		}
		// A reverse scan of the right region from +inf stops at "m".
		sc = e.do("z", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.ScanRequest{Context: ctx, StartKey: nil, EndKey: nil, Version: 20, Limit: 10, Reverse: true}
		}).(*kvrpcpb.ScanResponse)
		if got := kvKeys(sc.Pairs); got != "p,n" {
			t.Fatalf("reverse scan: %s, want p,n (clipped at m)", got)
		}
		// MVCC debug view.
		mv := e.do("n", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.MvccGetByKeyRequest{Context: ctx, Key: []byte("n")}
		}).(*kvrpcpb.MvccGetByKeyResponse)
		if len(mv.Info.GetWrites()) != 1 || mv.Info.Writes[0].CommitTs != 11 {
			t.Fatalf("mvcc n: %v", mv.Info)
		}

		// Txn 20 leaves locks in both regions: c (primary) and d left, q right.
		prewrite(20, "c", "c", "d")
		prewrite(20, "c", "q")
		sl := e.do("a", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.ScanLockRequest{Context: ctx, MaxVersion: 100, Limit: 10}
		}).(*kvrpcpb.ScanLockResponse)
		if got := lockKeys(sl.Locks); got != "c,d" {
			t.Fatalf("scan lock left: %s, want c,d", got)
		}
		hb := e.do("c", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.TxnHeartBeatRequest{Context: ctx, PrimaryLock: []byte("c"), StartVersion: 20, AdviseLockTtl: 9000}
		}).(*kvrpcpb.TxnHeartBeatResponse)
		if hb.Error != nil || hb.LockTtl != 9000 {
			t.Fatalf("heartbeat: %v", hb)
		}
		cs := e.do("c", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.CheckTxnStatusRequest{Context: ctx, PrimaryKey: []byte("c"), LockTs: 20, CallerStartTs: 25, CurrentTs: 25}
		}).(*kvrpcpb.CheckTxnStatusResponse)
		// min_commit_ts 0 is never pushed (TiKV check_txn_status.rs: not a
		// large transaction), so the live lock is reported as it is.
		if cs.Error != nil || cs.LockTtl != 9000 || cs.Action != kvrpcpb.Action_NoAction || cs.CommitVersion != 0 {
			t.Fatalf("check txn status: %v", cs)
		}
		sec := e.do("q", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.CheckSecondaryLocksRequest{Context: ctx, Keys: keys("q"), StartVersion: 20}
		}).(*kvrpcpb.CheckSecondaryLocksResponse)
		if sec.Error != nil || len(sec.Locks) != 1 || string(sec.Locks[0].Key) != "q" {
			t.Fatalf("check secondary q: %v", sec)
		}
		// Region-wide resolve (no keys) in the left region commits c and d
		// only: q, in the right region, keeps its lock.
		rl := e.do("c", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.ResolveLockRequest{Context: ctx, StartVersion: 20, CommitVersion: 30}
		}).(*kvrpcpb.ResolveLockResponse)
		if rl.Error != nil {
			t.Fatalf("resolve left: %v", rl.Error)
		}
		if locks := lockKeys(e.c.Engine().Snapshot().Locks()); locks != "q" {
			t.Fatalf("locks after region-wide resolve: %s, want q", locks)
		}
		// Resolving by key in the right region.
		rl = e.do("q", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.ResolveLockRequest{Context: ctx, StartVersion: 20, CommitVersion: 30, Keys: keys("q")}
		}).(*kvrpcpb.ResolveLockResponse)
		if rl.Error != nil || len(e.c.Engine().Snapshot().Locks()) != 0 {
			t.Fatalf("resolve q: %v, locks %v", rl.Error, e.c.Engine().Snapshot().Locks())
		}

		// Txn 40: rolled back by Cleanup (primary) and BatchRollback.
		prewrite(40, "e", "e", "f")
		cl := e.do("e", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.CleanupRequest{Context: ctx, Key: []byte("e"), StartVersion: 40}
		}).(*kvrpcpb.CleanupResponse)
		if cl.Error != nil {
			t.Fatalf("cleanup: %v", cl.Error)
		}
		br := e.do("f", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.BatchRollbackRequest{Context: ctx, StartVersion: 40, Keys: keys("f")}
		}).(*kvrpcpb.BatchRollbackResponse)
		if br.Error != nil || len(e.c.Engine().Snapshot().Locks()) != 0 {
			t.Fatalf("batch rollback: %v", br)
		}

		// Pessimistic locks in both regions, rolled back region-wide on the
		// left only.
		for _, k := range []string{"g", "h", "r"} {
			pl := e.do(k, func(ctx *kvrpcpb.Context) any {
				return &kvrpcpb.PessimisticLockRequest{Context: ctx, StartVersion: 50, ForUpdateTs: 50, PrimaryLock: []byte("g"), LockTtl: 3000,
					Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_PessimisticLock, Key: []byte(k)}}}
			}).(*kvrpcpb.PessimisticLockResponse)
			if len(pl.Errors) > 0 {
				t.Fatalf("lock %s: %v", k, pl.Errors)
			}
		}
		pr := e.do("g", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.PessimisticRollbackRequest{Context: ctx, StartVersion: 50, ForUpdateTs: 50}
		}).(*kvrpcpb.PessimisticRollbackResponse)
		if len(pr.Errors) > 0 {
			t.Fatalf("pessimistic rollback: %v", pr.Errors)
		}
		if locks := lockKeys(e.c.Engine().Snapshot().Locks()); locks != "r" {
			t.Fatalf("locks after region-wide pessimistic rollback: %s, want r", locks)
		}

		// Pipelined DML: a flushed lock is read back by BufferBatchGet.
		fl := e.do("s", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.FlushRequest{Context: ctx, StartTs: 60, PrimaryKey: []byte("s"), Generation: 1, LockTtl: 3000,
				Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte("s"), Value: []byte("s60")}}}
		}).(*kvrpcpb.FlushResponse)
		if len(fl.Errors) > 0 {
			t.Fatalf("flush: %v", fl.Errors)
		}
		bb := e.do("s", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.BufferBatchGetRequest{Context: ctx, Keys: keys("s"), Version: 60}
		}).(*kvrpcpb.BufferBatchGetResponse)
		if len(bb.Pairs) != 1 || string(bb.Pairs[0].Value) != "s60" {
			t.Fatalf("buffer batch get: %v", bb)
		}

		// DeleteRange from "a" to +inf in the left region removes a and b,
		// and leaves n and p alone.
		dr := e.do("a", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.DeleteRangeRequest{Context: ctx, StartKey: []byte("a")}
		}).(*kvrpcpb.DeleteRangeResponse)
		if dr.Error != "" {
			t.Fatalf("delete range: %s", dr.Error)
		}
		snap := e.c.Engine().Snapshot()
		for k, want := range map[string]bool{"a": false, "b": false, "n": true, "p": true} {
			if _, ok := snap.Get([]byte(k), 100); ok != want {
				t.Errorf("after delete range %s present=%v, want %v", k, ok, want)
			}
		}
	})
}

// TestRawCommandsThroughStores: a raw cluster split at "m" serves every raw
// command; range commands are clipped to the serving region.
func TestRawCommandsThroughStores(t *testing.T) {
	run(t, 32, Config{}, func(e *env) {
		for _, half := range [][]string{{"a", "b", "c"}, {"n", "o", "p"}} {
			var ps []*kvrpcpb.KvPair
			for _, k := range half {
				ps = append(ps, &kvrpcpb.KvPair{Key: []byte(k), Value: []byte("v" + k)})
			}
			resp := e.do(half[0], func(ctx *kvrpcpb.Context) any {
				return &kvrpcpb.RawBatchPutRequest{Context: ctx, Pairs: ps}
			}).(*kvrpcpb.RawBatchPutResponse)
			if resp.Error != "" {
				t.Fatalf("batch put: %s", resp.Error)
			}
		}
		bg := e.do("a", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.RawBatchGetRequest{Context: ctx, Keys: keys("a", "c", "d")}
		}).(*kvrpcpb.RawBatchGetResponse)
		if got := kvKeys(bg.Pairs); got != "a,c" {
			t.Fatalf("batch get: %s", got)
		}
		// Forward scans to +inf and backward scans from +inf stop at m.
		sc := e.do("a", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.RawScanRequest{Context: ctx, StartKey: []byte("a"), Limit: 10}
		}).(*kvrpcpb.RawScanResponse)
		if got := kvKeys(sc.Kvs); got != "a,b,c" {
			t.Fatalf("raw scan: %s", got)
		}
		sc = e.do("z", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.RawScanRequest{Context: ctx, StartKey: nil, EndKey: []byte("a"), Limit: 10, Reverse: true}
		}).(*kvrpcpb.RawScanResponse)
		if got := kvKeys(sc.Kvs); got != "p,o,n" {
			t.Fatalf("raw reverse scan: %s, want p,o,n", got)
		}
		bs := e.do("b", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.RawBatchScanRequest{Context: ctx, Ranges: []*kvrpcpb.KeyRange{{StartKey: []byte("b")}}, EachLimit: 10}
		}).(*kvrpcpb.RawBatchScanResponse)
		if got := kvKeys(bs.Kvs); got != "b,c" {
			t.Fatalf("raw batch scan: %s, want b,c", got)
		}
		ck := e.do("a", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.RawChecksumRequest{Context: ctx, Ranges: []*kvrpcpb.KeyRange{{StartKey: []byte("a")}}}
		}).(*kvrpcpb.RawChecksumResponse)
		if ck.Error != "" || ck.TotalKvs != 3 {
			t.Fatalf("raw checksum of [a,+inf) on the left region: %v, want 3 keys", ck)
		}
		cas := e.do("a", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.RawCASRequest{Context: ctx, Key: []byte("a"), PreviousValue: []byte("va"), Value: []byte("va2")}
		}).(*kvrpcpb.RawCASResponse)
		if !cas.Succeed || string(cas.PreviousValue) != "va" {
			t.Fatalf("cas: %v", cas)
		}
		ttl := e.do("a", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.RawGetKeyTTLRequest{Context: ctx, Key: []byte("a")}
		}).(*kvrpcpb.RawGetKeyTTLResponse)
		if ttl.NotFound || ttl.Ttl != 0 {
			t.Fatalf("ttl of a key put without one: %v", ttl)
		}
		del := e.do("a", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.RawDeleteRequest{Context: ctx, Key: []byte("a")}
		}).(*kvrpcpb.RawDeleteResponse)
		bd := e.do("b", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.RawBatchDeleteRequest{Context: ctx, Keys: keys("b")}
		}).(*kvrpcpb.RawBatchDeleteResponse)
		if del.Error != "" || bd.Error != "" || e.get("a") != "" || e.get("b") != "" || e.get("c") != "vc" {
			t.Fatalf("delete: %v %v", del, bd)
		}
		// DeleteRange [c, +inf) on the left region leaves the right alone.
		dr := e.do("c", func(ctx *kvrpcpb.Context) any {
			return &kvrpcpb.RawDeleteRangeRequest{Context: ctx, StartKey: []byte("c")}
		}).(*kvrpcpb.RawDeleteRangeResponse)
		if dr.Error != "" || e.get("c") != "" || e.get("n") != "vn" || e.get("p") != "vp" {
			t.Fatalf("raw delete range clipped: %v, n=%q", dr, e.get("n"))
		}
	})
}

// unservedReq has a request's methods (it embeds one) but is a type no
// store command is registered for.
type unservedReq struct{ kvrpcpb.GetRequest }

// TestStoreRefusesUnknownMessages: a message that is not a served kvrpcpb
// request is answered with ErrUnknownRequest naming its type.
func TestStoreRefusesUnknownMessages(t *testing.T) {
	run(t, 33, Config{}, func(e *env) {
		ctx, leader := e.ctxFor("a")
		for _, msg := range []any{"hello", &unservedReq{kvrpcpb.GetRequest{Context: ctx, Key: []byte("a")}},
			&kvrpcpb.FlashbackToVersionRequest{Context: ctx, Version: 1}} {
			_, err := e.call(leader, msg)
			var ue *ErrUnknownRequest
			if !errors.As(err, &ue) || !strings.Contains(ue.Error(), fmt.Sprintf("%T", msg)) {
				t.Errorf("%T: %v, want ErrUnknownRequest", msg, err)
			}
		}
		if s := e.c.Store(leader); s == nil || s.ID() != leader || s.Addr() != StoreNode(leader) {
			t.Fatalf("Store(%d) = %v", leader, s)
		}
		if e.c.Store(0) != nil || e.c.Store(99) != nil {
			t.Fatal("Store of an unknown id")
		}
	})
}
