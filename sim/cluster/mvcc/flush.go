package mvcc

import (
	"math"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/internal/invariants"
)

// Flush is KvFlush for pipelined DML (commands/flush.rs): an optimistic 2PC
// prewrite with txn_size u64::MAX and min_commit_ts start_ts+1 whatever the
// request says; each lock records the generation, and a mutation whose key
// already holds this txn's lock of an equal or newer generation is
// silently ignored (a stale, reordered flush). Generation 0 is an error.
func (e *Engine) Flush(req *kvrpcpb.FlushRequest) *kvrpcpb.FlushResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.FlushResponse{}
	keys := make([][]byte, 0, len(req.GetMutations()))
	for _, m := range req.GetMutations() {
		if m == nil {
			resp.Errors = []*kvrpcpb.KeyError{errAbort("nil mutation")}
			return resp
		}
		keys = append(keys, m.GetKey())
	}
	if kerr := e.checkTxnKeys(req.GetContext(), keys...); kerr != nil {
		resp.Errors = []*kvrpcpb.KeyError{kerr}
		return resp
	}
	if req.GetStartTs() == 0 && len(keys) > 0 {
		resp.Errors = []*kvrpcpb.KeyError{errZeroTS()}
		return resp
	}
	if req.GetGeneration() == 0 {
		resp.Errors = []*kvrpcpb.KeyError{errAbort("generation should be greater than 0 %v", req.GetStartTs())}
		return resp
	}
	p := &txnProps{startTS: req.GetStartTs(), primary: req.GetPrimaryKey(), txnSize: math.MaxUint64,
		lockTTL: req.GetLockTtl(), minCommitTS: req.GetStartTs() + 1, assertionLevel: req.GetAssertionLevel()}
	t := e.newTxn(p.startTS)
	var locks []*kvrpcpb.KeyError
	var assertionFailure *kvrpcpb.KeyError
	for _, m := range req.GetMutations() {
		pm, perr := newPmut(m, p, kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK)
		if perr != nil {
			resp.Errors = []*kvrpcpb.KeyError{perr.kerr}
			return resp
		}
		_, perr = t.prewriteKey(p, pm, nil, false, 0, false, req.GetGeneration())
		switch {
		case perr == nil:
		case perr.class == clsGenerationOutOfOrder:
			// stale flush: ignore this mutation
		case perr.class == clsWriteConflict && perr.kerr.Conflict.ConflictCommitTs > p.startTS:
			if _, ok := t.checkCommittedRecordOnErr(pm.enc); ok {
				return resp // already committed: success, nothing written
			}
			resp.Errors = []*kvrpcpb.KeyError{perr.kerr}
			return resp
		case perr.class == clsLocked:
			if _, ok := t.checkCommittedRecordOnErr(pm.enc); ok {
				return resp
			}
			locks = append(locks, perr.kerr)
		case perr.class == clsAssertion:
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
	invariants.Assert(len(t.locksFor1PC) == 0, "flush produced 1PC locks")
	// Unlike Prewrite, Flush applies the keys it could lock even when others
	// were locked (commands/flush.rs returns the locks as per-key results).
	t.commit()
	resp.Errors = locks
	return resp
}

// BufferBatchGet is KvBufferBatchGet (src/storage/mod.rs): reads this
// txn's own flushed locks only (lock.ts == version). A Put returns its
// value, a Delete an empty value; other keys are omitted. Bumps max_ts.
func (e *Engine) BufferBatchGet(req *kvrpcpb.BufferBatchGetRequest) *kvrpcpb.BufferBatchGetResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.BufferBatchGetResponse{}
	if kerr := e.checkTxnKeys(req.GetContext(), req.GetKeys()...); kerr != nil {
		resp.Error = kerr
		return resp
	}
	e.beginCmd(req.GetContext(), false)
	e.updateMaxTS(req.GetVersion())
	if rerr := e.takeMaxTSErr(); rerr != nil {
		resp.RegionError = rerr
		return resp
	}
	for _, k := range req.GetKeys() {
		enc := EncodeKey(k)
		l := e.st.getLock(enc)
		if l == nil || l.StartTS != req.GetVersion() {
			continue
		}
		switch l.Type {
		case LockPut:
			v, ok := e.st.lockValue(enc, l)
			invariants.Assert(ok, "flushed put without value at %x", k)
			resp.Pairs = append(resp.Pairs, &kvrpcpb.KvPair{Key: append([]byte(nil), k...), Value: append([]byte{}, v...)})
		case LockDelete:
			resp.Pairs = append(resp.Pairs, &kvrpcpb.KvPair{Key: append([]byte(nil), k...)})
		default:
			// TiKV hits unreachable!() here; we answer an error instead.
			resp.Error = errAbort("unexpected lock type %v in buffer batch get", l.Type)
			return resp
		}
	}
	return resp
}
