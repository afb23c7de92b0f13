package mvcc

import (
	"sort"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/internal/invariants"
)

// waiter is one queued PessimisticLock request (LockWaitEntry in
// src/storage/lock_manager/lock_waiting_queue.rs).
type waiter struct {
	token       uint64
	req         *kvrpcpb.PessimisticLockRequest
	key         string // raw key waited on
	lock        *kvrpcpb.LockInfo
	holders     []uint64 // start_ts of the lock holder(s) waited for
	resumable   bool
	legacyIndex uint64
	edge        bool // registered in the deadlock detector (not is_first_lock)
}

type keyWaitState struct {
	legacyIndex  uint64
	notifyID     uint64 // pending delayed notify-all, 0 = none
	lastStartTS  uint64
	lastCommitTS uint64
}

type waitTable struct {
	byToken map[uint64]*waiter
	keys    map[string]*keyWaitState
}

func newWaitTable() *waitTable {
	return &waitTable{byToken: map[uint64]*waiter{}, keys: map[string]*keyWaitState{}}
}

func (w *waitTable) count() int { return len(w.byToken) }

// queue returns the waiters on a key in wake-up order: smallest start_ts
// first (lock_waiting_queue.rs orders by start_ts), then arrival.
func (w *waitTable) queue(key string) []*waiter {
	var q []*waiter
	for _, x := range w.byToken {
		if x.key == key {
			q = append(q, x)
		}
	}
	sort.Slice(q, func(i, j int) bool {
		if q[i].req.GetStartVersion() != q[j].req.GetStartVersion() {
			return q[i].req.GetStartVersion() < q[j].req.GetStartVersion()
		}
		return q[i].token < q[j].token
	})
	return q
}

// Wakeup tells the caller what to do with a parked PessimisticLock request.
type Wakeup struct {
	Token uint64
	// Resp, when non-nil, is the final response of the request.
	Resp *kvrpcpb.PessimisticLockResponse
	// Retry asks the caller to re-issue the original request (a resumable
	// waiter whose lock was released).
	Retry bool
}

// DelayedNotify asks the caller to call NotifyDelayed(Key, ID) after Delay
// on its clock (TiKV's wake-up-delay-duration after a legacy wake-up).
type DelayedNotify struct {
	Key   []byte
	ID    uint64
	Delay time.Duration
}

// Ready is what the caller must act on after a command.
type Ready struct {
	Wakeups []Wakeup
	Timers  []DelayedNotify
}

// Ready drains the wake-ups and timers queued by earlier commands. Call it
// after every command that may release locks (Commit, Cleanup,
// BatchRollback, CheckTxnStatus, CheckSecondaryLocks, ResolveLock*,
// PessimisticRollback*, Prewrite with 1PC, NotifyDelayed); calling it more
// often is harmless.
func (e *Engine) Ready() Ready {
	e.mu.Lock()
	defer e.mu.Unlock()
	var r Ready
	for _, x := range e.ready {
		if x.notify != nil {
			r.Timers = append(r.Timers, *x.notify)
		} else {
			r.Wakeups = append(r.Wakeups, x.Wakeup)
		}
	}
	e.ready = nil
	return r
}

type readyItem struct {
	Wakeup
	notify *DelayedNotify
}

func (e *Engine) startWait(req *kvrpcpb.PessimisticLockRequest, key []byte, holders []uint64, kerr *kvrpcpb.KeyError,
	fail func(*kvrpcpb.KeyError) *kvrpcpb.PessimisticLockResponse) (*kvrpcpb.PessimisticLockResponse, *LockWait) {
	invariants.Assert(kerr.Locked != nil, "waiting without a lock")
	invariants.Assert(len(holders) > 0, "waiting for nobody")
	if !req.GetIsFirstLock() {
		// Detect against each holder (a shared lock has several), as
		// deadlock.rs does for wait_info.lock_info.iter_locks().
		for _, h := range holders {
			if dl := e.det.detect(req.GetStartVersion(), h, key, req.GetContext().GetResourceGroupTag()); dl != nil {
				return fail(&kvrpcpb.KeyError{Deadlock: dl}), nil
			}
		}
	}
	e.nextToken++
	ks := e.waiters.keys[string(key)]
	if ks == nil {
		ks = &keyWaitState{}
		e.waiters.keys[string(key)] = ks
	}
	w := &waiter{token: e.nextToken, req: req, key: string(key), lock: kerr.Locked, holders: holders, legacyIndex: ks.legacyIndex,
		resumable: req.GetWakeUpMode() == kvrpcpb.PessimisticLockWakeUpMode_WakeUpModeForceLock, edge: !req.GetIsFirstLock()}
	e.waiters.byToken[w.token] = w
	if w.edge {
		e.det.add(e.detID, w.token, req.GetStartVersion(), holders, key, req.GetContext().GetResourceGroupTag())
	}
	timeout := e.cfg.WaitForLockTimeout
	// Compared in ms: client-go's LockAlwaysWait is MaxInt64 ms, which
	// overflows a Duration (TiKV WaitTimeout::from_encode_i64 then caps it
	// at wait-for-lock-timeout).
	if wt := req.GetWaitTimeout(); wt > 0 && wt < timeout.Milliseconds() {
		timeout = time.Duration(wt) * time.Millisecond
	}
	return nil, &LockWait{Token: w.token, StartTS: req.GetStartVersion(), ForUpdateTS: req.GetForUpdateTs(),
		Key: append([]byte(nil), key...), Lock: kerr.Locked, Holders: append([]uint64(nil), holders...), Timeout: timeout, Mode: req.GetWakeUpMode()}
}

// CancelLockWait ends a wait that timed out on the caller's clock. It
// returns the KeyIsLocked response TiKV sends on timeout, with
// duration_to_last_update_ms set from sinceLastUpdate, or nil when the
// token is unknown (already woken, cancelled or dropped by Restart).
func (e *Engine) CancelLockWait(token uint64, sinceLastUpdate time.Duration) *kvrpcpb.PessimisticLockResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	w := e.waiters.byToken[token]
	if w == nil {
		return nil
	}
	e.removeWaiter(w)
	info := *w.lock
	info.DurationToLastUpdateMs = uint64(sinceLastUpdate / time.Millisecond)
	return e.failedResp(w, &kvrpcpb.KeyError{Locked: &info})
}

func (e *Engine) failedResp(w *waiter, kerr *kvrpcpb.KeyError) *kvrpcpb.PessimisticLockResponse {
	resp := &kvrpcpb.PessimisticLockResponse{Errors: []*kvrpcpb.KeyError{kerr}}
	if w.resumable {
		for range w.req.GetMutations() {
			resp.Results = append(resp.Results, &kvrpcpb.PessimisticLockKeyResult{Type: kvrpcpb.PessimisticLockKeyResultType_LockResultFailed})
		}
	}
	return resp
}

func (e *Engine) removeWaiter(w *waiter) {
	delete(e.waiters.byToken, w.token)
	if w.edge {
		e.det.remove(e.detID, w.token)
	}
	if len(e.waiters.queue(w.key)) == 0 {
		if ks := e.waiters.keys[w.key]; ks != nil && ks.notifyID == 0 {
			delete(e.waiters.keys, w.key)
		}
	}
}

// wakeUpKey is LockWaitQueues::pop_for_waking_up, run for every released
// lock: the head waiter is woken (legacy: WriteConflict PessimisticRetry;
// resumable: Retry); after a legacy wake-up the rest are woken by a delayed
// notify-all.
func (e *Engine) wakeUpKey(raw []byte, startTS, commitTS uint64) {
	key := string(raw)
	q := e.waiters.queue(key)
	if len(q) == 0 {
		return
	}
	ks := e.waiters.keys[key]
	invariants.Assert(ks != nil, "waiters without key state on %x", raw)
	ks.lastStartTS, ks.lastCommitTS = startTS, commitTS
	head := q[0]
	invariants.Assert(head.key == key, "queue of %x holds a waiter on %x", raw, head.key)
	e.removeWaiter(head)
	if head.resumable {
		e.ready = append(e.ready, readyItem{Wakeup: Wakeup{Token: head.token, Retry: true}})
		return
	}
	ks.legacyIndex++
	e.ready = append(e.ready, readyItem{Wakeup: Wakeup{Token: head.token, Resp: e.legacyConflict(head, startTS, commitTS)}})
	if len(q) > 1 {
		e.nextToken++
		ks.notifyID = e.nextToken
		e.ready = append(e.ready, readyItem{notify: &DelayedNotify{Key: append([]byte(nil), raw...), ID: ks.notifyID, Delay: e.cfg.WakeUpDelay}})
	}
}

func (e *Engine) legacyConflict(w *waiter, startTS, commitTS uint64) *kvrpcpb.PessimisticLockResponse {
	return &kvrpcpb.PessimisticLockResponse{Errors: []*kvrpcpb.KeyError{
		errWriteConflict(w.req.GetStartVersion(), startTS, commitTS, []byte(w.key), w.req.GetPrimaryLock(), kvrpcpb.WriteConflict_PessimisticRetry),
	}}
}

// NotifyDelayed is LockWaitQueues::delayed_notify_all: when id is still the
// key's latest scheduled notify, every waiter queued before the last legacy
// wake-up is woken with WriteConflict, stopping at (and retrying) the first
// resumable one. Results arrive through Ready.
func (e *Engine) NotifyDelayed(key []byte, id uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ks := e.waiters.keys[string(key)]
	if ks == nil || ks.notifyID != id {
		return
	}
	ks.notifyID = 0
	for _, w := range e.waiters.queue(string(key)) {
		invariants.Assert(w.key == string(key), "queue of %x holds a waiter on %x", key, w.key)
		if w.legacyIndex >= ks.legacyIndex {
			break
		}
		e.removeWaiter(w)
		if w.resumable {
			e.ready = append(e.ready, readyItem{Wakeup: Wakeup{Token: w.token, Retry: true}})
			break
		}
		e.ready = append(e.ready, readyItem{Wakeup: Wakeup{Token: w.token, Resp: e.legacyConflict(w, ks.lastStartTS, ks.lastCommitTS)}})
	}
	if len(e.waiters.queue(string(key))) == 0 {
		delete(e.waiters.keys, string(key))
	}
}

// updateLockWait is LockWaitQueues::update_lock_wait plus the waiter
// manager's handle_update_wait_for: when a key gets a new holder, every
// waiter on it records the new lock (reported on timeout); resumable
// waiters (not is_first_lock) also move their wait-for edge to the new
// holder and are re-checked for deadlock, a deadlock cancelling them through
// Ready. Legacy waiters keep their old detector edge, as in TiKV.
func (e *Engine) updateLockWait(raw []byte, l *Lock) {
	q := e.waiters.queue(string(raw))
	for _, w := range q {
		invariants.Assert(l.StartTS != 0, "new holder with start_ts 0 on %x", raw)
		w.lock = l.lockInfo(raw)
		w.holders = []uint64{l.StartTS}
		if !w.resumable || !w.edge {
			continue
		}
		e.det.remove(e.detID, w.token)
		if dl := e.det.detect(w.req.GetStartVersion(), l.StartTS, raw, w.req.GetContext().GetResourceGroupTag()); dl != nil {
			e.removeWaiter(w)
			e.ready = append(e.ready, readyItem{Wakeup: Wakeup{Token: w.token, Resp: e.failedResp(w, &kvrpcpb.KeyError{Deadlock: dl})}})
			continue
		}
		e.det.add(e.detID, w.token, w.req.GetStartVersion(), w.holders, raw, w.req.GetContext().GetResourceGroupTag())
	}
}
