package mvcc_test

import (
	"math"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/sim/cluster/mvcc"
)

// TestWaitTimeoutCapped: a wait_timeout beyond wait-for-lock-timeout,
// including client-go's LockAlwaysWait (MaxInt64 ms), waits for the cap; a
// smaller one for itself; 0 for the default (lock_manager/mod.rs
// WaitTimeout::from_encode_i64).
func TestWaitTimeoutCapped(t *testing.T) {
	for _, tc := range []struct {
		wait int64
		want time.Duration
	}{{math.MaxInt64, time.Second}, {5000, time.Second}, {200, 200 * time.Millisecond}, {0, time.Second}} {
		e := mvcc.New(mvcc.Config{})
		if resp, _ := e.PessimisticLock(lockReq(10, "k", 0)); len(resp.Errors) != 0 {
			t.Fatal(resp)
		}
		_, w := e.PessimisticLock(lockReq(20, "k", tc.wait))
		if w == nil || w.Timeout != tc.want {
			t.Fatalf("wait_timeout %d: wait %+v, want timeout %v", tc.wait, w, tc.want)
		}
	}
}

// TestRelockTakesNewPrimary: relocking its own pessimistic lock at a larger
// for_update_ts rewrites the lock with the request's primary, as TiKV's
// handle_existing_exclusive_lock does (aggressive locking switches
// primaries between attempts); at the same for_update_ts nothing changes.
func TestRelockTakesNewPrimary(t *testing.T) {
	e := mvcc.New(mvcc.Config{})
	req := lockReq(10, "k", 0)
	req.PrimaryLock = []byte("p1")
	if resp, _ := e.PessimisticLock(req); len(resp.Errors) != 0 {
		t.Fatal(resp)
	}
	req2 := lockReq(10, "k", 0)
	req2.PrimaryLock, req2.ForUpdateTs = []byte("p2"), 10
	_, _ = e.PessimisticLock(req2)
	if l := scanOne(t, e); string(l.PrimaryLock) != "p1" {
		t.Fatalf("same for_update_ts rewrote the lock: %v", l)
	}
	req2.ForUpdateTs = 11
	if resp, _ := e.PessimisticLock(req2); len(resp.Errors) != 0 {
		t.Fatal(resp)
	}
	if l := scanOne(t, e); string(l.PrimaryLock) != "p2" || l.LockForUpdateTs != 11 {
		t.Fatalf("relock at 11: %v, want primary p2", l)
	}
}

func scanOne(t *testing.T, e *mvcc.Engine) *kvrpcpb.LockInfo {
	t.Helper()
	r := e.ScanLock(&kvrpcpb.ScanLockRequest{MaxVersion: math.MaxUint64, Limit: 1})
	if len(r.Locks) != 1 {
		t.Fatalf("locks %v", r.Locks)
	}
	return r.Locks[0]
}
