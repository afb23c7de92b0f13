package mvcc

import (
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// MvccGetByKey is MvccGetByKey (debug): the key's lock, writes (newest
// first) and default-CF values.
func (e *Engine) MvccGetByKey(req *kvrpcpb.MvccGetByKeyRequest) *kvrpcpb.MvccGetByKeyResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	enc := EncodeKey(req.GetKey())
	info := &kvrpcpb.MvccInfo{}
	if l := e.st.getLock(enc); l != nil {
		info.Lock = &kvrpcpb.MvccLock{Type: l.Type.op(), StartTs: l.StartTS, Primary: append([]byte(nil), l.Primary...),
			ShortValue: append([]byte(nil), l.ShortValue...), Ttl: l.TTL, ForUpdateTs: l.ForUpdateTS, TxnSize: l.TxnSize,
			UseAsyncCommit: l.UseAsyncCommit, Secondaries: cloneKeys(l.Secondaries), RollbackTs: append([]uint64(nil), l.RollbackTS...)}
	}
	e.st.versions(enc, maxTS, func(cts uint64, w *Write) bool {
		mw := &kvrpcpb.MvccWrite{Type: w.Type.op(), StartTs: w.StartTS, CommitTs: cts,
			ShortValue: append([]byte(nil), w.ShortValue...), HasOverlappedRollback: w.HasOverlappedRollback}
		if w.Type == WriteRollback && w.Protected {
			// PROTECTED_ROLLBACK_SHORT_VALUE (components/txn_types/src/write.rs).
			mw.ShortValue = []byte("p")
		}
		info.Writes = append(info.Writes, mw)
		return true
	})
	e.st.def.AscendRange(kvItem{key: appendTS(enc, maxTS)}, kvItem{key: appendTS(enc, 0)}, func(it kvItem) bool {
		_, ts := splitTS(it.key)
		info.Values = append(info.Values, &kvrpcpb.MvccValue{StartTs: ts, Value: append([]byte{}, it.value...)})
		return true
	})
	return &kvrpcpb.MvccGetByKeyResponse{Info: info}
}
