package mvcc_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/sim/cluster/mvcc"
)

func lockReq(start uint64, key string, wait int64) *kvrpcpb.PessimisticLockRequest {
	return &kvrpcpb.PessimisticLockRequest{
		Mutations:   []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_PessimisticLock, Key: []byte(key)}},
		PrimaryLock: []byte(key), StartVersion: start, ForUpdateTs: start, LockTtl: 3000, WaitTimeout: wait,
	}
}

// Example_lockWait shows the loop a simulated store runs around
// PessimisticLock: park on a LockWait, drain Ready after every command, and
// finish or re-issue parked requests.
func Example_lockWait() {
	e := mvcc.New(mvcc.Config{})
	parked := map[uint64]*kvrpcpb.PessimisticLockRequest{}

	// Txn 10 locks k; txn 20 must wait.
	resp, _ := e.PessimisticLock(lockReq(10, "k", 0))
	fmt.Println("txn 10:", len(resp.Errors) == 0)
	req := lockReq(20, "k", 500)
	_, wait := e.PessimisticLock(req)
	parked[wait.Token] = req
	fmt.Printf("txn 20 waits for %v on %s, timeout %v\n", wait.Holders, wait.Key, wait.Timeout)

	// Txn 10 rolls back; the store drains Ready after the command.
	e.PessimisticRollback(&kvrpcpb.PessimisticRollbackRequest{StartVersion: 10, ForUpdateTs: 10, Keys: [][]byte{[]byte("k")}})
	r := e.Ready()
	for _, w := range r.Wakeups {
		if w.Retry {
			resp, _ = e.PessimisticLock(parked[w.Token]) // resumable: re-issue
		} else {
			resp = w.Resp // legacy: the final answer
		}
		delete(parked, w.Token)
		fmt.Println("woken:", resp.Errors[0].Conflict.Reason)
	}
	for _, tm := range r.Timers {
		// A real store arms a timer on its clock; here we fire at once.
		e.NotifyDelayed(tm.Key, tm.ID)
	}
	// Output:
	// txn 10: true
	// txn 20 waits for [10] on k, timeout 500ms
	// woken: PessimisticRetry
}

// Example_timeout: the store's timer fires before any release.
func Example_timeout() {
	e := mvcc.New(mvcc.Config{})
	e.PessimisticLock(lockReq(10, "k", 0))
	_, wait := e.PessimisticLock(lockReq(20, "k", 100))
	resp := e.CancelLockWait(wait.Token, 100*time.Millisecond)
	fmt.Println(resp.Errors[0].Locked.LockVersion, resp.Errors[0].Locked.DurationToLastUpdateMs)
	// Output: 10 100
}

// TestConcurrentUse runs commands from several goroutines (the engine is
// also served by real gRPC goroutines); run with -race.
func TestConcurrentUse(t *testing.T) {
	e := mvcc.New(mvcc.Config{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				start := uint64(1000*g + 2*i + 1)
				k := []byte(fmt.Sprintf("k%d-%d", g, i%5))
				e.Prewrite(&kvrpcpb.PrewriteRequest{Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: k, Value: k}}, PrimaryLock: k, StartVersion: start})
				e.Commit(&kvrpcpb.CommitRequest{StartVersion: start, CommitVersion: start + 1, Keys: [][]byte{k}})
				e.Get(&kvrpcpb.GetRequest{Key: k, Version: start + 1})
				e.Ready()
			}
		}(g)
	}
	wg.Wait()
	if got := e.MaxTS(); got == 0 {
		t.Fatalf("max_ts not raised")
	}
}
