package mvcc

import (
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"pgregory.net/rapid"
)

// TestLockWaitModel drives random pessimistic lock requests, releases,
// timeouts and restarts through the wait/wake contract and checks:
//   - no lost wake-up: once Ready is drained and its timers fired, every
//     parked waiter's key is locked by another transaction;
//   - every token ends exactly once (woken, cancelled, or dropped);
//   - a request parks only if no wait-for cycle would close, and is refused
//     with Deadlock only if one would (deadlock.rs semantics).
func TestLockWaitModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		e := New(Config{})
		keys := []string{"a", "b", "c"}
		type parked struct {
			txn    uint64
			key    string
			req    *kvrpcpb.PessimisticLockRequest
			holder uint64 // the holder when it parked (legacy waiters' detector edge)
		}
		waiting := map[uint64]parked{} // token -> request
		busy := map[uint64]bool{}      // txn has a parked request
		holders := func() map[string]uint64 {
			h := map[string]uint64{}
			for _, l := range e.Snapshot().Locks() {
				h[string(l.Key)] = l.LockVersion
			}
			return h
		}
		// cycle reports whether txn would close a wait-for cycle by waiting
		// for holder, using the parked waiters as edges.
		cycle := func(txn, holder uint64) bool {
			h := holders()
			// Resumable waiters' edges follow the key's current holder
			// (update_lock_wait re-detects them); legacy waiters keep the
			// edge to the holder they parked on, as TiKV's detector does.
			edges := map[uint64][]uint64{}
			for _, p := range waiting {
				if p.req.WakeUpMode == kvrpcpb.PessimisticLockWakeUpMode_WakeUpModeForceLock {
					if hh, ok := h[p.key]; ok && hh != p.txn {
						edges[p.txn] = append(edges[p.txn], hh)
					}
				} else {
					edges[p.txn] = append(edges[p.txn], p.holder)
				}
			}
			seen := map[uint64]bool{}
			stack := []uint64{holder}
			for len(stack) > 0 {
				c := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				if c == txn {
					return true
				}
				if seen[c] {
					continue
				}
				seen[c] = true
				stack = append(stack, edges[c]...)
			}
			return false
		}
		var issue func(req *kvrpcpb.PessimisticLockRequest)
		issue = func(req *kvrpcpb.PessimisticLockRequest) {
			txn := req.GetStartVersion()
			key := string(req.Mutations[0].Key)
			holder, locked := holders()[key]
			wouldCycle := locked && holder != txn && cycle(txn, holder)
			resp, w := e.PessimisticLock(req)
			switch {
			case w != nil:
				if wouldCycle {
					rt.Fatalf("txn %d parked on %s held by %d although that closes a cycle", txn, key, holder)
				}
				waiting[w.Token] = parked{txn, key, req, holder}
				busy[txn] = true
			case len(resp.Errors) > 0 && resp.Errors[0].Deadlock != nil:
				if !wouldCycle {
					rt.Fatalf("txn %d got a deadlock on %s without a cycle: %v", txn, key, resp)
				}
			case len(resp.Errors) > 0:
				rt.Fatalf("txn %d lock %s: unexpected %v", txn, key, resp)
			}
		}
		drain := func() {
			for {
				r := e.Ready()
				if len(r.Wakeups) == 0 && len(r.Timers) == 0 {
					return
				}
				for _, wk := range r.Wakeups {
					p, ok := waiting[wk.Token]
					if !ok {
						rt.Fatalf("wake-up of unknown token %d", wk.Token)
					}
					delete(waiting, wk.Token)
					busy[p.txn] = false
					switch {
					case wk.Retry:
						issue(p.req)
					case wk.Resp.Errors[0].Deadlock != nil:
						if p.req.WakeUpMode != kvrpcpb.PessimisticLockWakeUpMode_WakeUpModeForceLock {
							rt.Fatalf("legacy waiter re-detected: %v", wk.Resp)
						}
					case wk.Resp.Errors[0].Conflict.GetReason() != kvrpcpb.WriteConflict_PessimisticRetry:
						rt.Fatalf("legacy wake-up %v", wk.Resp)
					}
				}
				for _, tm := range r.Timers {
					e.NotifyDelayed(tm.Key, tm.ID)
				}
			}
		}
		steps := rapid.IntRange(5, 80).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			txn := uint64(10 * rapid.IntRange(1, 5).Draw(rt, "txn"))
			switch rapid.IntRange(0, 9).Draw(rt, "op") {
			case 0, 1, 2, 3, 4: // lock
				if busy[txn] {
					continue
				}
				req := &kvrpcpb.PessimisticLockRequest{
					Mutations:   []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_PessimisticLock, Key: []byte(rapid.SampledFrom(keys).Draw(rt, "key"))}},
					PrimaryLock: []byte("p"), StartVersion: txn, ForUpdateTs: txn, LockTtl: 100,
				}
				if rapid.Bool().Draw(rt, "force") {
					req.WakeUpMode = kvrpcpb.PessimisticLockWakeUpMode_WakeUpModeForceLock
				}
				issue(req)
			case 5, 6, 7: // the txn ends: release its locks
				if busy[txn] {
					continue
				}
				e.PessimisticRollback(&kvrpcpb.PessimisticRollbackRequest{StartVersion: txn, ForUpdateTs: maxTS})
			case 8: // a waiter times out
				for tok, p := range waiting {
					if p.txn == txn {
						resp := e.CancelLockWait(tok, time.Millisecond)
						if resp == nil || resp.Errors[0].Locked == nil {
							rt.Fatalf("cancel %d: %v", tok, resp)
						}
						delete(waiting, tok)
						busy[txn] = false
					}
				}
			case 9:
				if rapid.IntRange(0, 9).Draw(rt, "restart") == 0 {
					dropped := e.Restart()
					if len(dropped) != len(waiting) {
						rt.Fatalf("restart dropped %v, parked %d", dropped, len(waiting))
					}
					waiting = map[uint64]parked{}
					busy = map[uint64]bool{}
				}
			}
			drain()
			h := holders()
			for tok, p := range waiting {
				if hh, ok := h[p.key]; !ok || hh == p.txn {
					rt.Fatalf("lost wake-up: token %d (txn %d) waits on %s, holder %d/%v", tok, p.txn, p.key, hh, ok)
				}
			}
		}
	})
}
