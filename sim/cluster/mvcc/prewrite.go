package mvcc

import (
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/internal/invariants"
)

type commitKind int

const (
	kind2PC commitKind = iota
	kindAsync
	kind1PC
)

// txnProps is TransactionProperties (actions/prewrite.rs).
type txnProps struct {
	startTS        uint64
	forUpdateTS    uint64 // 0 = optimistic
	kind           commitKind
	maxCommitTS    uint64
	primary        []byte
	txnSize        uint64
	lockTTL        uint64
	minCommitTS    uint64
	isRetry        bool
	assertionLevel kvrpcpb.AssertionLevel
	skipConstraint bool // optimistic skip_constraint_check
}

func (p *txnProps) pessimistic() bool { return p.forUpdateTS != 0 }

// prewriteErr is an action error: a key error plus its class, which the
// command uses to decide what to do next.
type prewriteErr struct {
	kerr  *kvrpcpb.KeyError
	class errClass
}

type errClass int

const (
	clsOther errClass = iota
	clsLocked
	clsWriteConflict
	clsPessimisticLockNotFound
	clsCommitTSTooLarge
	clsAssertion
	clsAlreadyExist
	clsGenerationOutOfOrder
)

type lockStatus int

const (
	lsNone lockStatus = iota
	lsLocked
	lsPessimistic
)

type pmut struct {
	op             kvrpcpb.Op
	raw, enc       []byte
	value          []byte
	hasValue       bool
	lockType       LockType
	shouldNotExist bool
	shouldNotWrite bool
	assertion      kvrpcpb.Assertion
	action         kvrpcpb.PrewriteRequest_PessimisticAction
	minCommitTS    uint64
	lockTTL        uint64
	isShared       bool
}

func newPmut(m *kvrpcpb.Mutation, p *txnProps, action kvrpcpb.PrewriteRequest_PessimisticAction) (*pmut, *prewriteErr) {
	pm := &pmut{op: m.GetOp(), raw: m.GetKey(), enc: EncodeKey(m.GetKey()), assertion: m.GetAssertion(),
		action: action, minCommitTS: p.minCommitTS, lockTTL: p.lockTTL}
	switch m.GetOp() {
	case kvrpcpb.Op_Put:
		pm.lockType, pm.value, pm.hasValue = LockPut, m.GetValue(), true
	case kvrpcpb.Op_Insert:
		pm.lockType, pm.value, pm.hasValue, pm.shouldNotExist = LockPut, m.GetValue(), true, true
	case kvrpcpb.Op_Del:
		pm.lockType = LockDelete
	case kvrpcpb.Op_Lock:
		pm.lockType = LockLock
	case kvrpcpb.Op_SharedLock:
		pm.lockType, pm.isShared = LockLock, true
	case kvrpcpb.Op_CheckNotExists:
		pm.shouldNotExist, pm.shouldNotWrite = true, true
	default:
		return nil, &prewriteErr{kerr: errAbort("invalid mutation op %v in prewrite", m.GetOp())}
	}
	if p.pessimistic() && pm.shouldNotWrite {
		return nil, &prewriteErr{kerr: errAbort("cannot handle checkNotExists in pessimistic prewrite")}
	}
	return pm, nil
}

func (pm *pmut) skipConstraintCheck(p *txnProps) bool {
	if !p.pessimistic() {
		return p.skipConstraint
	}
	switch pm.action {
	case kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK:
		return true
	case kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK:
		return !p.isRetry
	default:
		return false
	}
}

// prewriteKey is prewrite_with_generation (actions/prewrite.rs). It returns
// the key's min_commit_ts (0 when not async/1PC or when the key was already
// prewritten by a non-async lock).
func (t *mvccTxn) prewriteKey(p *txnProps, pm *pmut, secondaries [][]byte, async bool, expectedForUpdateTS uint64, hasExpected bool, generation uint64) (uint64, *prewriteErr) {
	e := t.e
	if pm.shouldNotExist {
		e.updateMaxTS(p.startTS)
	}
	if s := t.s.getShared(pm.enc); s != nil {
		return 0, t.prewriteShared(p, pm, s, async, generation)
	}
	if pm.isShared {
		if l := t.s.getLock(pm.enc); l != nil {
			return 0, &prewriteErr{kerr: errLocked(l, pm.raw), class: clsLocked}
		}
		if pm.action == kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK {
			return 0, &prewriteErr{kerr: errPessimisticLockNotFound(p.startTS, pm.raw, reasonLockMissingAmendFail), class: clsPessimisticLockNotFound}
		}
	}
	lockAmended := false
	status := lsNone
	var statusTS uint64
	var oldForUpdateTS uint64
	if l := t.s.getLock(pm.enc); l != nil {
		st, ts, perr := pm.checkLock(p, l, expectedForUpdateTS, hasExpected, generation)
		if perr != nil {
			return 0, perr
		}
		status, statusTS = st, ts
		if st == lsPessimistic {
			oldForUpdateTS = l.ForUpdateTS
		}
	} else if pm.action == kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK && p.pessimistic() {
		if perr := t.amendPessimisticLock(p, pm); perr != nil {
			return 0, perr
		}
		lockAmended = true
	}
	if generation == 0 && status == lsLocked {
		return statusTS, nil // duplicate prewrite
	}
	var prev *Write
	var prevTS uint64
	loaded := false
	if !pm.skipConstraintCheck(p) {
		w, cts, perr := t.checkForNewerVersion(p, pm)
		if perr != nil {
			return 0, perr
		}
		prev, prevTS, loaded = w, cts, true
	}
	subsequentFlush := generation > 0 && status == lsLocked
	if !lockAmended && !subsequentFlush {
		if perr := t.checkAssertion(p, pm, prev, prevTS, loaded); perr != nil {
			return 0, perr
		}
	}
	invariants.Assert(!pm.shouldNotWrite || !pm.hasValue, "CheckNotExists with a value")
	if pm.shouldNotWrite {
		e.updateMaxTS(p.startTS)
		if p.kind != kind2PC {
			return max(p.minCommitTS, p.startTS+1), nil
		}
		return 0, nil
	}
	forUpdate := p.forUpdateTS
	if status == lsPessimistic {
		forUpdate = max(forUpdate, oldForUpdateTS)
	}
	l := &Lock{Type: pm.lockType, Primary: append([]byte(nil), p.primary...), StartTS: p.startTS, TTL: pm.lockTTL,
		ForUpdateTS: forUpdate, TxnSize: p.txnSize, MinCommitTS: pm.minCommitTS, Generation: generation}
	if pm.hasValue {
		if len(pm.value) <= shortValueMaxLen {
			l.ShortValue, l.HasValue = append([]byte{}, pm.value...), true
		} else {
			t.putValue(pm.enc, p.startTS, pm.value)
		}
	}
	tryOnePC := p.kind == kind1PC
	if async {
		l.UseAsyncCommit = true
		l.Secondaries = cloneKeys(secondaries)
	} else if tryOnePC {
		l.UseOnePC = true
	}
	var final uint64
	if l.UseAsyncCommit || tryOnePC {
		// async_commit_timestamps: min_commit_ts = max(max_ts, start_ts,
		// for_update_ts) + 1, at least the lock's own min_commit_ts.
		base := max(e.maxTS, p.startTS, p.forUpdateTS)
		mc := max(base+1, l.MinCommitTS)
		if base == maxTS || (p.maxCommitTS != 0 && mc > p.maxCommitTS) {
			// No representable commit ts (base+1 would overflow) is treated
			// like exceeding max_commit_ts: fall back to 2PC.
			// Fall back to 2PC for this key; the command handles the rest.
			l.UseOnePC, l.UseAsyncCommit, l.Secondaries = false, false, nil
			t.putLock(pm.enc, l)
			return 0, &prewriteErr{kerr: errCommitTSTooLarge(mc), class: clsCommitTSTooLarge}
		}
		l.MinCommitTS = mc
		final = mc
		invariants.Assert(final > p.startTS, "async min_commit_ts %d <= start_ts %d", final, p.startTS)
	}
	if tryOnePC {
		t.locksFor1PC = append(t.locksFor1PC, onePCLock{enc: pm.enc, raw: pm.raw, lock: l, delPessimLock: status == lsPessimistic})
	} else {
		t.putLock(pm.enc, l)
	}
	return final, nil
}

// checkLock is PrewriteMutation::check_lock.
func (pm *pmut) checkLock(p *txnProps, l *Lock, expected uint64, hasExpected bool, generation uint64) (lockStatus, uint64, *prewriteErr) {
	if l.StartTS != p.startTS {
		if pm.action == kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK && p.pessimistic() {
			return 0, 0, &prewriteErr{kerr: errPessimisticLockNotFound(p.startTS, pm.raw, reasonLockTsMismatch), class: clsPessimisticLockNotFound}
		}
		info := l.lockInfo(pm.raw)
		if p.pessimistic() {
			info.LockTtl = 0
		}
		return 0, 0, &prewriteErr{kerr: &kvrpcpb.KeyError{Locked: info}, class: clsLocked}
	}
	invariants.Assert(l.StartTS == p.startTS, "own-lock path for lock %d of txn %d", l.StartTS, p.startTS)
	if l.Type == LockPessimistic {
		if !p.pessimistic() {
			return 0, 0, &prewriteErr{kerr: errAbort("LockTypeNotMatch { start_ts: %d, key: %X, pessimistic: true }", p.startTS, pm.raw)}
		}
		if hasExpected && l.ForUpdateTS != expected {
			return 0, 0, &prewriteErr{kerr: errPessimisticLockNotFound(p.startTS, pm.raw, reasonLockForUpdateTsMismatch), class: clsPessimisticLockNotFound}
		}
		pm.lockTTL = max(pm.lockTTL, l.TTL)
		pm.minCommitTS = max(pm.minCommitTS, l.MinCommitTS)
		return lsPessimistic, l.ForUpdateTS, nil
	}
	if generation > 0 && l.Generation >= generation {
		return 0, 0, &prewriteErr{kerr: errAbort("GenerationOutOfOrder(%d, %X, lock generation %d)", generation, pm.raw, l.Generation), class: clsGenerationOutOfOrder}
	}
	if l.Generation > 0 && pm.shouldNotExist && l.Type == LockPut {
		return 0, 0, &prewriteErr{kerr: errAlreadyExist(pm.raw), class: clsAlreadyExist}
	}
	if l.UseAsyncCommit {
		return lsLocked, l.MinCommitTS, nil
	}
	return lsLocked, 0, nil
}

// amendPessimisticLock is amend_pessimistic_lock: a lost pessimistic lock
// may be re-created at prewrite if nothing committed since start_ts.
func (t *mvccTxn) amendPessimisticLock(p *txnProps, pm *pmut) *prewriteErr {
	cts, w := t.s.seekWrite(pm.enc, maxTS)
	if w != nil && cts >= p.startTS {
		return &prewriteErr{kerr: errPessimisticLockNotFound(p.startTS, pm.raw, reasonLockMissingAmendFail), class: clsPessimisticLockNotFound}
	}
	return t.checkAssertion(p, pm, w, cts, true)
}

// checkForNewerVersion is PrewriteMutation::check_for_newer_version.
func (t *mvccTxn) checkForNewerVersion(p *txnProps, pm *pmut) (*Write, uint64, *prewriteErr) {
	seek := uint64(maxTS)
	for {
		cts, w := t.s.seekWrite(pm.enc, seek)
		if w == nil {
			return nil, 0, nil
		}
		invariants.Assert(cts <= seek, "seek_write returned %d above %d", cts, seek)
		if cts == p.startTS && (w.Type == WriteRollback || w.HasOverlappedRollback) {
			return nil, 0, &prewriteErr{kerr: errWriteConflict(p.startTS, w.StartTS, cts, pm.raw, p.primary, kvrpcpb.WriteConflict_SelfRolledBack), class: clsWriteConflict}
		}
		if !p.pessimistic() {
			if cts > p.startTS {
				return nil, 0, &prewriteErr{kerr: errWriteConflict(p.startTS, w.StartTS, cts, pm.raw, p.primary, kvrpcpb.WriteConflict_Optimistic), class: clsWriteConflict}
			}
		} else {
			if pm.action == kvrpcpb.PrewriteRequest_DO_CONSTRAINT_CHECK && cts > p.startTS {
				return nil, 0, &prewriteErr{kerr: errWriteConflict(p.startTS, w.StartTS, cts, pm.raw, p.primary, kvrpcpb.WriteConflict_LazyUniquenessCheck), class: clsWriteConflict}
			}
			if cts > p.forUpdateTS {
				if w.Type == WriteRollback {
					seek = cts - 1
					continue
				}
				return nil, 0, &prewriteErr{kerr: errPessimisticLockNotFound(p.startTS, pm.raw, reasonNonLockKeyConflict), class: clsPessimisticLockNotFound}
			}
		}
		if perr := t.checkDataConstraint(pm.shouldNotExist, w, cts, pm.raw, pm.enc); perr != nil {
			return nil, 0, perr
		}
		return w, cts, nil
	}
}

// checkDataConstraint is actions/check_data_constraint.rs.
func (t *mvccTxn) checkDataConstraint(shouldNotExist bool, w *Write, cts uint64, raw, enc []byte) *prewriteErr {
	if !shouldNotExist || w.Type == WriteDelete {
		return nil
	}
	if w.Type == WritePut {
		return &prewriteErr{kerr: errAlreadyExist(raw), class: clsAlreadyExist}
	}
	if cts > 0 {
		if _, _, found := t.s.getValueAt(enc, cts-1); found {
			return &prewriteErr{kerr: errAlreadyExist(raw), class: clsAlreadyExist}
		}
	}
	return nil
}

// latestDataWrite returns the newest Put/Delete write at or below ts.
func (s *store) latestDataWrite(enc []byte, ts uint64) (*Write, uint64) {
	var out *Write
	var outTS uint64
	s.versions(enc, ts, func(cts uint64, w *Write) bool {
		if w.Type == WritePut || w.Type == WriteDelete {
			out, outTS = w, cts
			return false
		}
		return true
	})
	return out, outTS
}

// checkAssertion is PrewriteMutation::check_assertion.
func (t *mvccTxn) checkAssertion(p *txnProps, pm *pmut, w *Write, cts uint64, loaded bool) *prewriteErr {
	if pm.assertion == kvrpcpb.Assertion_None || p.assertionLevel == kvrpcpb.AssertionLevel_Off {
		return nil
	}
	if p.assertionLevel != kvrpcpb.AssertionLevel_Strict && !loaded {
		return nil
	}
	if !loaded || (w != nil && w.Type != WritePut && w.Type != WriteDelete) {
		reload := uint64(maxTS)
		if w != nil {
			reload = cts
		}
		w, cts = t.s.latestDataWrite(pm.enc, reload)
	}
	var failed bool
	var es, ec uint64
	switch {
	case pm.assertion == kvrpcpb.Assertion_Exist && w == nil:
		failed = true
	case pm.assertion == kvrpcpb.Assertion_Exist && w.Type == WriteDelete:
		failed, es, ec = true, w.StartTS, cts
	case pm.assertion == kvrpcpb.Assertion_NotExist && w != nil && w.Type == WritePut:
		failed, es, ec = true, w.StartTS, cts
	}
	if !failed {
		return nil
	}
	if pm.skipConstraintCheck(p) {
		if _, _, perr := t.checkForNewerVersion(p, pm); perr != nil {
			return perr
		}
	}
	return &prewriteErr{kerr: errAssertionFailed(p.startTS, pm.raw, pm.assertion, es, ec), class: clsAssertion}
}

// checkCommittedRecordOnErr is check_committed_record_on_err
// (commands/prewrite.rs): a retried prewrite of a committed txn succeeds.
func (t *mvccTxn) checkCommittedRecordOnErr(enc []byte) (uint64, bool) {
	rec := t.s.getTxnCommitRecord(enc, t.startTS)
	if rec.kind == recSingle && rec.write.Type != WriteRollback {
		t.clear()
		return rec.commitTS, true
	}
	return 0, false
}

// Prewrite is KvPrewrite (commands/prewrite.rs with actions/prewrite.rs):
// for_update_ts == 0 is the optimistic path, otherwise the pessimistic one
// with per-key pessimistic_actions. use_async_commit makes it async commit
// (only the primary stores the secondaries); try_one_pc commits directly.
// The response's min_commit_ts is set only for async commit, and 0 means
// the server fell back to 2PC. If any key is locked by another transaction
// nothing is written and every such lock is returned. The max_ts-synced
// check (MaxTimestampNotSynced) is the cluster layer's.
func (e *Engine) Prewrite(req *kvrpcpb.PrewriteRequest) *kvrpcpb.PrewriteResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.PrewriteResponse{}
	keys := make([][]byte, 0, len(req.GetMutations()))
	for _, m := range req.GetMutations() {
		if m == nil {
			resp.Errors = append(resp.Errors, errAbort("nil mutation"))
			return resp
		}
		keys = append(keys, m.GetKey())
	}
	if kerr := e.checkTxnKeys(req.GetContext(), keys...); kerr != nil {
		resp.Errors = []*kvrpcpb.KeyError{kerr}
		return resp
	}
	if req.GetStartVersion() == 0 && len(keys) > 0 {
		resp.Errors = []*kvrpcpb.KeyError{errZeroTS()}
		return resp
	}
	p := &txnProps{startTS: req.GetStartVersion(), forUpdateTS: req.GetForUpdateTs(), maxCommitTS: req.GetMaxCommitTs(),
		primary: req.GetPrimaryLock(), txnSize: req.GetTxnSize(), lockTTL: req.GetLockTtl(), minCommitTS: req.GetMinCommitTs(),
		isRetry: req.GetContext().GetIsRetryRequest(), assertionLevel: req.GetAssertionLevel(), skipConstraint: req.GetSkipConstraintCheck()}
	async := req.GetUseAsyncCommit()
	switch {
	case req.GetTryOnePc():
		p.kind = kind1PC
	case async:
		p.kind = kindAsync
	}
	if p.pessimistic() && len(req.GetPessimisticActions()) != 0 && len(req.GetPessimisticActions()) != len(req.GetMutations()) {
		resp.Errors = []*kvrpcpb.KeyError{errAbort("pessimistic_actions length %d != mutations %d", len(req.GetPessimisticActions()), len(req.GetMutations()))}
		return resp
	}
	expected := map[int]uint64{}
	for _, c := range req.GetForUpdateTsConstraints() {
		expected[int(c.GetIndex())] = c.GetExpectedForUpdateTs()
	}
	secondaries := req.GetSecondaries()
	asyncPK := async && len(secondaries) > 0
	e.beginCmd(req.GetContext(), false)
	t := e.newTxn(p.startTS)
	var final uint64
	var locks []*kvrpcpb.KeyError
	var assertionFailure *kvrpcpb.KeyError
	fallback := func() {
		p.kind, async, asyncPK = kind2PC, false, false
		for _, l1 := range t.locksFor1PC {
			l1.lock.UseOnePC = false
			t.putLock(l1.enc, l1.lock)
		}
		t.locksFor1PC = nil
		final = 0
	}
	for i, m := range req.GetMutations() {
		action := kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK
		if p.pessimistic() && i < len(req.GetPessimisticActions()) {
			action = req.GetPessimisticActions()[i]
		}
		pm, perr := newPmut(m, p, action)
		if perr != nil {
			resp.Errors = []*kvrpcpb.KeyError{perr.kerr}
			return resp
		}
		var secs [][]byte
		keyAsync := async
		if asyncPK && bytesEqual(pm.raw, p.primary) {
			secs = secondaries
		}
		needMin := keyAsync || p.kind == kind1PC
		exp, hasExp := expected[i]
		ts, perr := t.prewriteKey(p, pm, secs, keyAsync, exp, hasExp, 0)
		if rerr := e.takeMaxTSErr(); rerr != nil {
			resp.RegionError = rerr
			return resp
		}
		if perr == nil {
			if needMin && ts == 0 {
				fallback()
				continue
			}
			if needMin && final < ts {
				final = ts
			}
			continue
		}
		switch perr.class {
		case clsWriteConflict, clsPessimisticLockNotFound:
			if perr.class == clsWriteConflict && perr.kerr.Conflict.ConflictCommitTs <= p.startTS {
				resp.Errors = []*kvrpcpb.KeyError{perr.kerr}
				return resp
			}
			if cts, ok := t.checkCommittedRecordOnErr(pm.enc); ok {
				return e.finishPrewrite(t, resp, p, async, cts, nil)
			}
			resp.Errors = []*kvrpcpb.KeyError{perr.kerr}
			return resp
		case clsCommitTSTooLarge:
			if cts, ok := t.checkCommittedRecordOnErr(pm.enc); ok {
				return e.finishPrewrite(t, resp, p, async, cts, nil)
			}
			fallback()
		case clsLocked:
			if cts, ok := t.checkCommittedRecordOnErr(pm.enc); ok {
				return e.finishPrewrite(t, resp, p, async, cts, nil)
			}
			locks = append(locks, perr.kerr)
		case clsAssertion:
			if assertionFailure == nil {
				assertionFailure = perr.kerr
			}
		default:
			resp.Errors = []*kvrpcpb.KeyError{perr.kerr}
			return resp
		}
	}
	if assertionFailure != nil {
		resp.Errors = []*kvrpcpb.KeyError{assertionFailure}
		return resp
	}
	return e.finishPrewrite(t, resp, p, async, final, locks)
}

// finishPrewrite is Prewrite::write_result plus one_pc_commit.
func (e *Engine) finishPrewrite(t *mvccTxn, resp *kvrpcpb.PrewriteResponse, p *txnProps, async bool, final uint64, locks []*kvrpcpb.KeyError) *kvrpcpb.PrewriteResponse {
	if len(locks) > 0 {
		resp.Errors = locks
		return resp
	}
	if async {
		resp.MinCommitTs = final
	}
	if p.kind == kind1PC && final == 0 {
		// Only an empty request gets here (TiKV asserts; we answer a plain
		// success without a commit ts).
		invariants.Assert(len(t.locksFor1PC) == 0, "1PC locks without a commit ts")
	}
	if p.kind == kind1PC && final != 0 {
		for _, l1 := range t.locksFor1PC {
			wt := map[LockType]WriteType{LockPut: WritePut, LockDelete: WriteDelete, LockLock: WriteLock}[l1.lock.Type]
			t.putWrite(l1.enc, final, &Write{Type: wt, StartTS: p.startTS, ShortValue: l1.lock.ShortValue, HasValue: l1.lock.HasValue})
			if l1.delPessimLock {
				t.unlockKey(l1.enc, l1.raw, l1.lock, final)
			}
		}
		t.locksFor1PC = nil
		resp.OnePcCommitTs = final
	}
	t.commit()
	return resp
}
