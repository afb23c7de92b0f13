package mvcc

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/google/btree"
	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/internal/invariants"
)

// Config holds an Engine's settings. The zero value is TiKV's defaults with
// storage API version V1.
type Config struct {
	// APIVersion is the storage's storage.api-version (V1, V1TTL or V2).
	APIVersion kvrpcpb.APIVersion
	// DisableInMemoryPessimisticLocks writes pessimistic locks to the lock CF
	// (surviving restarts) instead of keeping them in memory, i.e. TiKV with
	// pessimistic-txn.in-memory = false.
	DisableInMemoryPessimisticLocks bool
	// WaitForLockTimeout caps a PessimisticLock wait (TiKV
	// pessimistic-txn.wait-for-lock-timeout, default 1 s).
	WaitForLockTimeout time.Duration
	// WakeUpDelay is pessimistic-txn.wake-up-delay-duration (default 20 ms).
	WakeUpDelay time.Duration
	// Detector is the deadlock detector. TiKV runs one per cluster (on the
	// leader of the region holding key ""); give every store's Engine the
	// same Detector so cycles across stores are found. Nil gives the engine
	// a private one.
	Detector *Detector
}

const (
	defaultWaitForLockTimeout = time.Second
	defaultWakeUpDelay        = 20 * time.Millisecond
	maxTS                     = math.MaxUint64
)

// Engine is one fake TiKV store's storage: MVCC data, the concurrency
// manager and the lock wait queues. All methods are safe for concurrent use.
type Engine struct {
	mu  sync.Mutex
	cfg Config
	st  *store
	raw map[string]*btree.BTreeG[rawItem]

	// Concurrency manager (components/concurrency_manager).
	maxTS    uint64
	memLocks *btree.BTreeG[kvItem]
	// max_ts update limits (0 = unchecked) and the per-command state of
	// the check: exactLimit selects the exact limit; maxTSErr records the
	// first refused update of the running command.
	limitExact, limitDrifted uint64
	exactLimit               bool
	maxTSErr                 *errorpb.Error

	// Lock waiting (lock_manager).
	det       *Detector
	detID     uint64
	waiters   *waitTable
	nextToken uint64
	ready     []readyItem
}

// New returns an empty engine.
func New(cfg Config) *Engine {
	if cfg.WaitForLockTimeout <= 0 {
		cfg.WaitForLockTimeout = defaultWaitForLockTimeout
	}
	if cfg.WakeUpDelay <= 0 {
		cfg.WakeUpDelay = defaultWakeUpDelay
	}
	e := &Engine{cfg: cfg, st: newStore(), det: cfg.Detector}
	if e.det == nil {
		e.det = NewDetector()
	}
	e.detID = e.det.register()
	e.raw = map[string]*btree.BTreeG[rawItem]{}
	e.resetVolatile()
	return e
}

func (e *Engine) resetVolatile() {
	e.maxTS = 0
	e.memLocks = btree.NewG(btreeDegree, itemLess)
	e.waiters = newWaitTable()
	e.ready = nil
}

// Restart simulates a TiKV process restart. Everything applied to the column
// families survives. Lost: in-memory pessimistic locks, max_ts (back to 0
// until the cluster layer calls SetMaxTS with a PD timestamp), the memory
// lock table, every lock waiter, the deadlock detector's wait-for graph, and
// undelivered wake-ups. It returns the tokens of the waiters that were
// dropped, sorted; the caller fails those requests as a lost connection
// would.
func (e *Engine) Restart() []uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var dropped []uint64
	for tok := range e.waiters.byToken {
		dropped = append(dropped, tok)
	}
	sort.Slice(dropped, func(i, j int) bool { return dropped[i] < dropped[j] })
	var del [][]byte
	e.st.lock.Ascend(func(it kvItem) bool {
		if it.lock != nil && it.lock.InMemory {
			del = append(del, it.key)
		}
		return true
	})
	for _, k := range del {
		e.st.lock.Delete(kvItem{key: k})
	}
	e.det.removeEngine(e.detID)
	e.resetVolatile()
	invariants.Assert(e.waiters.count() == 0, "waiters survive restart")
	return dropped
}

// SetMaxTS raises max_ts to ts (never lowers it). The cluster layer calls it
// with a fresh PD TSO after a leader change or restart, as TiKV's pd worker
// does before marking max_ts synced.
func (e *Engine) SetMaxTS(ts uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ts != maxTS && ts > e.maxTS {
		e.maxTS = ts
	}
}

// MaxTS returns the concurrency manager's max_ts.
func (e *Engine) MaxTS() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.maxTS
}

// SetMaxTSLimit sets the limits update_max_ts enforces
// (components/concurrency_manager/src/lib.rs): exact is the PD TSO the
// cluster layer last fetched, drifted that TSO plus storage.max-ts.max-drift
// (TiKV default 60 s). Commands that would push max_ts past the limit fail
// with a region error carrying only a message, TiKV's behaviour under
// action-on-invalid-update = "error". CheckTxnStatus, CheckSecondaryLocks,
// Cleanup and ScanLock use the exact limit unless the request's origin is
// TiDB (tikv#19654); every other path uses the drifted one. Zero limits
// (the default) disable the check. Restart keeps the limits.
func (e *Engine) SetMaxTSLimit(exact, drifted uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	invariants.Assert(drifted == 0 || drifted >= exact, "drifted limit %d below exact %d", drifted, exact)
	e.limitExact, e.limitDrifted = exact, drifted
}

// beginCmd resets the per-command max_ts check state. exactCheck marks the
// commands TiKV runs with require_request_origin_check.
func (e *Engine) beginCmd(ctx *kvrpcpb.Context, exactCheck bool) {
	e.maxTSErr = nil
	e.exactLimit = exactCheck && ctx.GetRequestOrigin() != kvrpcpb.RequestOrigin_RequestOriginTiDB
}

// takeMaxTSErr returns and clears the refused-update error of the command.
func (e *Engine) takeMaxTSErr() *errorpb.Error {
	err := e.maxTSErr
	e.maxTSErr = nil
	return err
}

// readMaxTS raises max_ts to a read's ts, except for a stale read: TiKV's
// prepare_snap_ctx (src/storage/mod.rs) skips update_max_ts when
// Context.stale_read is set, which is why a stale read is only safe at or
// below the replica's safe ts.
func (e *Engine) readMaxTS(ctx *kvrpcpb.Context, ts uint64) {
	if !ctx.GetStaleRead() {
		e.updateMaxTS(ts)
	}
}

// updateMaxTS mirrors ConcurrencyManager::update_max_ts: u64::MAX is
// ignored; a value above the limit is refused and recorded for the command.
func (e *Engine) updateMaxTS(ts uint64) {
	if ts == maxTS {
		return
	}
	limit := e.limitDrifted
	if e.exactLimit {
		limit = e.limitExact
	}
	if limit != 0 && ts > limit {
		if e.maxTSErr == nil {
			e.maxTSErr = &errorpb.Error{Message: fmt.Sprintf("invalid max_ts update: %d exceeds the limit %d", ts, limit)}
		}
		return
	}
	if ts > e.maxTS {
		e.maxTS = ts
	}
}

// ---- reads -----------------------------------------------------------------

// readCtx carries the per-request read options of kvrpcpb.Context.
type readCtx struct {
	ts     uint64
	bypass []uint64 // resolved_locks
	access []uint64 // committed_locks
	iso    kvrpcpb.IsolationLevel
	// noAccess: the caller needs commit timestamps, so locks in
	// committed_locks still conflict (extract_access_lock = false).
	noAccess bool
}

func newReadCtx(ctx *kvrpcpb.Context, ts uint64) readCtx {
	rc := readCtx{ts: ts}
	if ctx != nil {
		rc.bypass = ctx.ResolvedLocks
		rc.access = ctx.CommittedLocks
		rc.iso = ctx.IsolationLevel
	}
	return rc
}

func containsTS(list []uint64, ts uint64) bool {
	for _, t := range list {
		if t == ts {
			return true
		}
	}
	return false
}

// lockConflict is txn_types::check_ts_conflict
// (components/txn_types/src/lock.rs): SI reads meet KeyIsLocked, RcCheckTs
// reads a RcCheckTs write conflict, RC reads nothing.
func lockConflict(l *Lock, rawKey []byte, rc readCtx) *kvrpcpb.KeyError {
	switch rc.iso {
	case kvrpcpb.IsolationLevel_SI:
		if l.StartTS > rc.ts || l.Type == LockLock || l.Type == LockPessimistic || l.MinCommitTS > rc.ts {
			return nil
		}
		if containsTS(rc.bypass, l.StartTS) {
			return nil
		}
		if rc.ts == maxTS && bytes.Equal(rawKey, l.Primary) && !l.UseAsyncCommit && !l.UseOnePC {
			// A point get at ts=max reads the latest committed version of a
			// primary (tikv#18095 keeps async/1PC locks blocking).
			return nil
		}
		return errLocked(l, rawKey)
	case kvrpcpb.IsolationLevel_RCCheckTS:
		if l.Type == LockLock || l.Type == LockPessimistic || containsTS(rc.bypass, l.StartTS) {
			return nil
		}
		return errWriteConflict(rc.ts, l.StartTS, 0, rawKey, l.Primary, kvrpcpb.WriteConflict_RcCheckTs)
	}
	return nil
}

// rcCheckNewer is the RcCheckTs newer-version check of point_getter.rs: any
// write newer than the read ts is a RcCheckTs write conflict (whose key is
// the versioned write key, as TiKV reports it).
func (s *store) rcCheckNewer(enc []byte, rc readCtx) *kvrpcpb.KeyError {
	if rc.iso != kvrpcpb.IsolationLevel_RCCheckTS {
		return nil
	}
	if cts, w := s.seekWrite(enc, maxTS); w != nil && cts > rc.ts {
		return errWriteConflict(rc.ts, 0, cts, appendTS(enc, cts), nil, kvrpcpb.WriteConflict_RcCheckTs)
	}
	return nil
}

// lockValue reads the value a lock would commit (for committed_locks reads).
func (s *store) lockValue(enc []byte, l *Lock) ([]byte, bool) {
	switch l.Type {
	case LockPut:
		if l.HasValue {
			return l.ShortValue, true
		}
		return s.getValue(enc, l.StartTS)
	default:
		return nil, false
	}
}

// checkLocks checks the CF lock and the memory lock of a key for a read.
// It returns a key error, or a value to use instead of MVCC data.
func (e *Engine) checkReadLocks(s *store, enc, rawKey []byte, rc readCtx) (*kvrpcpb.KeyError, []byte, bool, bool) {
	for _, l := range []*Lock{e.memLock(enc), s.getLock(enc)} {
		if l == nil {
			continue
		}
		kerr := lockConflict(l, rawKey, rc)
		if kerr == nil {
			continue
		}
		if !rc.noAccess && containsTS(rc.access, l.StartTS) {
			// load_data_from_lock: read through a committed txn's lock.
			v, ok := s.lockValue(enc, l)
			return nil, v, ok, true
		}
		return kerr, nil, false, false
	}
	return nil, nil, false, false
}

func (e *Engine) memLock(enc []byte) *Lock {
	it, ok := e.memLocks.Get(kvItem{key: enc})
	if !ok {
		return nil
	}
	return it.lock
}

// getValueAt reads the newest visible value of a key at ts. Lock and
// Rollback records are skipped (point_getter.rs).
func (s *store) getValueAt(enc []byte, ts uint64) (val []byte, commitTS uint64, found bool) {
	s.versions(enc, ts, func(cts uint64, w *Write) bool {
		switch w.Type {
		case WritePut:
			if w.HasValue {
				val = w.ShortValue
			} else {
				v, ok := s.getValue(enc, w.StartTS)
				invariants.Assert(ok, "default CF value missing for %x@%d", enc, w.StartTS)
				val = v
			}
			commitTS, found = cts, true
			return false
		case WriteDelete:
			return false
		default:
			return true
		}
	})
	return val, commitTS, found
}

// pointGet reads one key under SI at rc.ts.
func (e *Engine) pointGet(s *store, rawKey []byte, rc readCtx) ([]byte, uint64, bool, *kvrpcpb.KeyError) {
	enc := EncodeKey(rawKey)
	kerr, v, ok, fromLock := e.checkReadLocks(s, enc, rawKey, rc)
	if kerr != nil {
		return nil, 0, false, kerr
	}
	if fromLock {
		return v, 0, ok, nil
	}
	if kerr := s.rcCheckNewer(enc, rc); kerr != nil {
		return nil, 0, false, kerr
	}
	val, cts, found := s.getValueAt(enc, rc.ts)
	return val, cts, found, nil
}

// Get is KvGet (src/storage/mod.rs Storage::get): bumps max_ts to the read
// ts, then reads the key, answering KeyIsLocked for a blocking lock.
func (e *Engine) Get(req *kvrpcpb.GetRequest) *kvrpcpb.GetResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.GetResponse{}
	if kerr := e.checkTxnKeys(req.GetContext(), req.GetKey()); kerr != nil {
		resp.Error = kerr
		return resp
	}
	e.beginCmd(req.GetContext(), false)
	e.readMaxTS(req.GetContext(), req.GetVersion())
	if rerr := e.takeMaxTSErr(); rerr != nil {
		resp.RegionError = rerr
		return resp
	}
	rc := newReadCtx(req.GetContext(), req.GetVersion())
	rc.noAccess = req.GetNeedCommitTs()
	v, cts, found, kerr := e.pointGet(e.st, req.GetKey(), rc)
	if kerr != nil {
		resp.Error = kerr
		return resp
	}
	resp.NotFound = !found
	if found {
		resp.Value = append([]byte{}, v...)
		if req.GetNeedCommitTs() {
			resp.CommitTs = cts
		}
	}
	return resp
}

// BatchGet is KvBatchGet: found keys are returned as pairs; a key blocked by
// a lock is returned as a pair carrying the error; missing keys are omitted.
func (e *Engine) BatchGet(req *kvrpcpb.BatchGetRequest) *kvrpcpb.BatchGetResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.BatchGetResponse{}
	if kerr := e.checkTxnKeys(req.GetContext(), req.GetKeys()...); kerr != nil {
		resp.Error = kerr
		return resp
	}
	e.beginCmd(req.GetContext(), false)
	e.readMaxTS(req.GetContext(), req.GetVersion())
	if rerr := e.takeMaxTSErr(); rerr != nil {
		resp.RegionError = rerr
		return resp
	}
	rc := newReadCtx(req.GetContext(), req.GetVersion())
	rc.noAccess = req.GetNeedCommitTs()
	for _, k := range req.GetKeys() {
		v, cts, found, kerr := e.pointGet(e.st, k, rc)
		switch {
		case kerr != nil:
			resp.Pairs = append(resp.Pairs, &kvrpcpb.KvPair{Key: append([]byte(nil), k...), Error: kerr})
		case found:
			p := &kvrpcpb.KvPair{Key: append([]byte(nil), k...), Value: append([]byte{}, v...)}
			if req.GetNeedCommitTs() {
				p.CommitTs = cts
			}
			resp.Pairs = append(resp.Pairs, p)
		}
	}
	return resp
}

// Scan is KvScan (mvcc/reader/scanner). Forward scans cover
// [start_key, end_key); reverse scans cover [end_key, start_key) in
// descending order. An empty end_key is unbounded. A locked key yields a
// pair with its error, which counts against the limit. An inverted range
// returns nothing.
func (e *Engine) Scan(req *kvrpcpb.ScanRequest) *kvrpcpb.ScanResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.ScanResponse{}
	if kerr := e.checkTxnRange(req.GetContext(), req.GetStartKey(), req.GetEndKey(), req.GetReverse()); kerr != nil {
		resp.Error = kerr
		return resp
	}
	e.beginCmd(req.GetContext(), false)
	e.readMaxTS(req.GetContext(), req.GetVersion())
	if rerr := e.takeMaxTSErr(); rerr != nil {
		resp.RegionError = rerr
		return resp
	}
	rc := newReadCtx(req.GetContext(), req.GetVersion())
	limit := int(req.GetLimit())
	if limit == 0 {
		return resp // txn/store.rs Scanner::scan collects while len < limit
	}
	// read_range_check: a blocking memory lock fails the whole request.
	if kerr := e.memRangeCheck(req.GetStartKey(), req.GetEndKey(), req.GetReverse(), rc); kerr != nil {
		resp.Error = kerr
		return resp
	}
	step := int(req.GetSampleStep())
	n := 0
	scanErr := false
	e.scanKeys(e.st, req.GetStartKey(), req.GetEndKey(), req.GetReverse(), func(raw []byte) bool {
		if len(resp.Pairs) >= limit {
			return false
		}
		enc := EncodeKey(raw)
		var kerr *kvrpcpb.KeyError
		var v []byte
		var found, fromLock bool
		if step <= 1 {
			kerr, v, found, fromLock = e.checkReadLocks(e.st, enc, raw, rc)
		}
		if kerr == nil && !fromLock {
			kerr = e.st.rcCheckNewer(enc, rc)
		}
		if kerr != nil && kerr.Conflict != nil {
			// Only KeyIsLocked becomes a per-key result (txn/store.rs
			// Scanner::scan); a RcCheckTs conflict fails the request.
			resp.Pairs, resp.Error, scanErr = nil, kerr, true
			return false
		}
		if kerr != nil {
			resp.Pairs = append(resp.Pairs, &kvrpcpb.KvPair{Key: raw, Error: kerr})
			return true
		}
		if !fromLock {
			v, _, found = e.st.getValueAt(enc, rc.ts)
		}
		if !found {
			return true
		}
		n++
		if step > 1 && (n-1)%step != 0 {
			return true
		}
		p := &kvrpcpb.KvPair{Key: raw}
		if !req.GetKeyOnly() {
			p.Value = append([]byte{}, v...)
		}
		resp.Pairs = append(resp.Pairs, p)
		return true
	})
	invariants.Assert(len(resp.Pairs) <= limit, "scan returned %d > limit %d", len(resp.Pairs), limit)
	invariants.Assert(!scanErr || len(resp.Pairs) == 0, "scan error with pairs")
	return resp
}

// scanKeys visits every user key that has a lock (CF or memory) or write in
// the range, in order, until f returns false.
func (e *Engine) scanKeys(s *store, start, end []byte, reverse bool, f func(raw []byte) bool) {
	if !reverse {
		if len(end) > 0 && bytes.Compare(start, end) >= 0 {
			return
		}
		from := EncodeKey(start)
		var endEnc []byte
		if len(end) > 0 {
			endEnc = EncodeKey(end)
		}
		for {
			k, ok := e.nextKey(s, from, endEnc, false)
			if !ok {
				return
			}
			raw, dok := DecodeKey(k)
			invariants.Assert(dok, "undecodable stored key %x", k)
			if !f(raw) {
				return
			}
			// Encoded user keys are never prefixes of each other, so the
			// next user key is at or after prefixNext(k).
			from = prefixNext(k)
		}
	}
	// Reverse: upper bound start (exclusive, empty = unbounded), lower bound end.
	if len(start) > 0 && len(end) > 0 && bytes.Compare(end, start) >= 0 {
		return
	}
	var upper []byte
	if len(start) > 0 {
		upper = EncodeKey(start)
	}
	lower := EncodeKey(end)
	for {
		k, ok := e.nextKey(s, upper, lower, true)
		if !ok {
			return
		}
		raw, dok := DecodeKey(k)
		invariants.Assert(dok, "undecodable stored key %x", k)
		if !f(raw) {
			return
		}
		upper = k
	}
}

func (e *Engine) nextKey(s *store, from, bound []byte, reverse bool) ([]byte, bool) {
	k, ok := s.nextUserKey(from, bound, reverse)
	if e.memLocks.Len() == 0 {
		return k, ok
	}
	mem := &store{lock: e.memLocks, write: btree.NewG(2, itemLess)}
	mk, mok := mem.nextUserKey(from, bound, reverse)
	if !mok {
		return k, ok
	}
	if !ok || (!reverse && bytes.Compare(mk, k) < 0) || (reverse && bytes.Compare(mk, k) > 0) {
		return mk, true
	}
	return k, ok
}

// memRangeCheck is ConcurrencyManager::read_range_check over the memory lock
// table for a scan range.
func (e *Engine) memRangeCheck(start, end []byte, reverse bool, rc readCtx) *kvrpcpb.KeyError {
	if reverse {
		start, end = end, start
	}
	lo := EncodeKey(start)
	var hi []byte
	if len(end) > 0 {
		hi = EncodeKey(end)
	}
	var kerr *kvrpcpb.KeyError
	e.memLocks.AscendGreaterOrEqual(kvItem{key: lo}, func(it kvItem) bool {
		if hi != nil && bytes.Compare(it.key, hi) >= 0 {
			return false
		}
		raw, ok := DecodeKey(it.key)
		invariants.Assert(ok, "undecodable memory lock key %x", it.key)
		if kerr = lockConflict(it.lock, raw, rc); kerr != nil {
			return false
		}
		return true
	})
	return kerr
}

// Snapshot is a consistent, read-only copy-on-write view of the
// transactional column families, for checkers and debugging (for example
// the liveness phase's "all locks resolved"). It does not bump max_ts and
// ignores locks on reads.
type Snapshot struct {
	s *store
}

// Snapshot returns a view of the current state; later commands do not
// change it.
func (e *Engine) Snapshot() *Snapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	return &Snapshot{s: e.st.snapshot()}
}

// Get returns the value of key committed at or below ts, ignoring locks.
func (s *Snapshot) Get(key []byte, ts uint64) ([]byte, bool) {
	v, _, ok := s.s.getValueAt(EncodeKey(key), ts)
	return append([]byte(nil), v...), ok
}

// Locks returns every lock in key order.
func (s *Snapshot) Locks() []*kvrpcpb.LockInfo {
	var out []*kvrpcpb.LockInfo
	s.s.lock.Ascend(func(it kvItem) bool {
		raw, ok := DecodeKey(it.key)
		invariants.Assert(ok, "undecodable lock key %x", it.key)
		if it.shared != nil {
			out = append(out, it.shared.lockInfo(raw))
		} else {
			out = append(out, it.lock.lockInfo(raw))
		}
		return true
	})
	return out
}

// DropInMemoryPessimisticLocks removes the in-memory pessimistic locks of
// user keys in [start, end) (nil end = unbounded) and returns how many were
// dropped. The cluster layer calls it for a region whose leadership moves
// without TiKV's pessimistic-lock transfer (or on merge), which loses these
// locks exactly as a restart does; prewrite then amends them. Waiters on
// those keys are woken as on a release.
func (e *Engine) DropInMemoryPessimisticLocks(start, end []byte) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.newTxn(0)
	n := 0
	e.forEachLock(start, end, func(raw []byte, l *Lock, s *sharedLocks) bool {
		if l != nil && l.InMemory {
			invariants.Assert(l.Type == LockPessimistic, "in-memory lock of type %v", l.Type)
			t.unlockKey(EncodeKey(raw), raw, l, 0)
			n++
		}
		return true
	})
	t.commit()
	return n
}

// RangeStats is the approximate size of a key range, for region split and
// heartbeat decisions.
type RangeStats struct {
	// Keys counts the distinct user keys with a write record or a lock.
	Keys uint64
	// Bytes sums encoded keys and values across the three column families
	// and the raw default CF.
	Bytes uint64
}

// Stats measures the raw key range [start, end) (nil end = unbounded),
// like TiKV's approximate region size and keys. Raw entries are counted by
// their raw keys.
func (e *Engine) Stats(start, end []byte) RangeStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	var st RangeStats
	lo := EncodeKey(start)
	var hi []byte
	if len(end) > 0 {
		hi = EncodeKey(end)
	}
	var last []byte
	for _, t := range []*btree.BTreeG[kvItem]{e.st.lock, e.st.write, e.st.def} {
		isLock := t == e.st.lock
		t.AscendGreaterOrEqual(kvItem{key: lo}, func(it kvItem) bool {
			if hi != nil && bytes.Compare(it.key, hi) >= 0 {
				return false
			}
			st.Bytes += uint64(len(it.key) + len(it.value))
			if it.write != nil {
				st.Bytes += uint64(len(it.write.ShortValue))
				if uk, _ := splitTS(it.key); !bytes.Equal(uk, last) {
					last = append(last[:0], uk...)
					st.Keys++
				}
			}
			if isLock && it.lock != nil {
				st.Bytes += uint64(len(it.lock.ShortValue))
			}
			return true
		})
	}
	if t := e.raw[CFDefault]; t != nil {
		e.rawRange(t, start, end, false, time.Time{}, true, func(it rawItem) bool {
			st.Keys++
			st.Bytes += uint64(len(it.key) + len(it.stored))
			return true
		})
	}
	invariants.Assert(st.Bytes >= st.Keys, "stats: %d bytes for %d keys", st.Bytes, st.Keys)
	return st
}
