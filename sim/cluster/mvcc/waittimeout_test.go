package mvcc_test

import (
	"math"
	"testing"
	"time"

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
