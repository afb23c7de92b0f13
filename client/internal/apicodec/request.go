package apicodec

import (
	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
)

// EncodeRequest returns a copy of req with the API version and keyspace set
// in its context and, for API V2, every key of the typed request prefixed.
// req itself, and the typed request it points to, are left unchanged: the
// caller reuses req on retry. Commands without keys are only re-contexted.
func (c *Codec) EncodeRequest(req *tikvrpc.Request) (*tikvrpc.Request, error) {
	r := *req
	c.setAPICtx(&r.Context)
	if c.keyPrefix == nil {
		return &r, nil
	}
	switch q := req.Req.(type) {
	case *kvrpcpb.GetRequest:
		cp := *q
		cp.Key = c.EncodeKey(q.Key)
		r.Req = &cp
	case *kvrpcpb.ScanRequest:
		cp := *q
		cp.StartKey, cp.EndKey = c.encodeRange(q.StartKey, q.EndKey, q.Reverse)
		r.Req = &cp
	case *kvrpcpb.PrewriteRequest:
		cp := *q
		cp.Mutations = c.encodeMutations(q.Mutations)
		cp.PrimaryLock = c.EncodeKey(q.PrimaryLock)
		cp.Secondaries = c.encodeKeys(q.Secondaries)
		r.Req = &cp
	case *kvrpcpb.CommitRequest:
		cp := *q
		cp.Keys = c.encodeKeys(q.Keys)
		if len(q.PrimaryKey) > 0 { // empty means "not set" on the wire
			cp.PrimaryKey = c.EncodeKey(q.PrimaryKey)
		}
		r.Req = &cp
	case *kvrpcpb.CleanupRequest:
		cp := *q
		cp.Key = c.EncodeKey(q.Key)
		r.Req = &cp
	case *kvrpcpb.BatchGetRequest:
		cp := *q
		cp.Keys = c.encodeKeys(q.Keys)
		r.Req = &cp
	case *kvrpcpb.BatchRollbackRequest:
		cp := *q
		cp.Keys = c.encodeKeys(q.Keys)
		r.Req = &cp
	case *kvrpcpb.ScanLockRequest:
		cp := *q
		cp.StartKey, cp.EndKey = c.EncodeRange(q.StartKey, q.EndKey)
		r.Req = &cp
	case *kvrpcpb.ResolveLockRequest:
		cp := *q
		cp.Keys = c.encodeKeys(q.Keys)
		r.Req = &cp
	case *kvrpcpb.DeleteRangeRequest:
		cp := *q
		cp.StartKey, cp.EndKey = c.EncodeRange(q.StartKey, q.EndKey)
		r.Req = &cp
	case *kvrpcpb.PessimisticLockRequest:
		cp := *q
		cp.Mutations = c.encodeMutations(q.Mutations)
		cp.PrimaryLock = c.EncodeKey(q.PrimaryLock)
		r.Req = &cp
	case *kvrpcpb.PessimisticRollbackRequest:
		cp := *q
		cp.Keys = c.encodeKeys(q.Keys)
		r.Req = &cp
	case *kvrpcpb.TxnHeartBeatRequest:
		cp := *q
		cp.PrimaryLock = c.EncodeKey(q.PrimaryLock)
		r.Req = &cp
	case *kvrpcpb.CheckTxnStatusRequest:
		cp := *q
		cp.PrimaryKey = c.EncodeKey(q.PrimaryKey)
		r.Req = &cp
	case *kvrpcpb.CheckSecondaryLocksRequest:
		cp := *q
		cp.Keys = c.encodeKeys(q.Keys)
		r.Req = &cp
	case *kvrpcpb.FlushRequest:
		cp := *q
		cp.Mutations = c.encodeMutations(q.Mutations)
		if len(q.PrimaryKey) > 0 {
			cp.PrimaryKey = c.EncodeKey(q.PrimaryKey)
		}
		r.Req = &cp
	case *kvrpcpb.BufferBatchGetRequest:
		cp := *q
		cp.Keys = c.encodeKeys(q.Keys)
		r.Req = &cp
	case *kvrpcpb.FlashbackToVersionRequest:
		cp := *q
		cp.StartKey, cp.EndKey = c.EncodeRange(q.StartKey, q.EndKey)
		r.Req = &cp
	case *kvrpcpb.PrepareFlashbackToVersionRequest:
		cp := *q
		cp.StartKey, cp.EndKey = c.EncodeRange(q.StartKey, q.EndKey)
		r.Req = &cp
	case *kvrpcpb.RawGetRequest:
		cp := *q
		cp.Key = c.EncodeKey(q.Key)
		r.Req = &cp
	case *kvrpcpb.RawBatchGetRequest:
		cp := *q
		cp.Keys = c.encodeKeys(q.Keys)
		r.Req = &cp
	case *kvrpcpb.RawPutRequest:
		cp := *q
		cp.Key = c.EncodeKey(q.Key)
		r.Req = &cp
	case *kvrpcpb.RawBatchPutRequest:
		cp := *q
		cp.Pairs = c.encodePairs(q.Pairs)
		r.Req = &cp
	case *kvrpcpb.RawDeleteRequest:
		cp := *q
		cp.Key = c.EncodeKey(q.Key)
		r.Req = &cp
	case *kvrpcpb.RawBatchDeleteRequest:
		cp := *q
		cp.Keys = c.encodeKeys(q.Keys)
		r.Req = &cp
	case *kvrpcpb.RawDeleteRangeRequest:
		cp := *q
		cp.StartKey, cp.EndKey = c.EncodeRange(q.StartKey, q.EndKey)
		r.Req = &cp
	case *kvrpcpb.RawScanRequest:
		cp := *q
		cp.StartKey, cp.EndKey = c.encodeRange(q.StartKey, q.EndKey, q.Reverse)
		r.Req = &cp
	case *kvrpcpb.RawBatchScanRequest:
		cp := *q
		cp.Ranges = c.encodeKeyRanges(q.Ranges, q.Reverse)
		r.Req = &cp
	case *kvrpcpb.RawGetKeyTTLRequest:
		cp := *q
		cp.Key = c.EncodeKey(q.Key)
		r.Req = &cp
	case *kvrpcpb.RawCASRequest:
		cp := *q
		cp.Key = c.EncodeKey(q.Key)
		r.Req = &cp
	case *kvrpcpb.RawChecksumRequest:
		cp := *q
		cp.Ranges = c.encodeKeyRanges(q.Ranges, false)
		r.Req = &cp
	case *kvrpcpb.UnsafeDestroyRangeRequest:
		cp := *q
		cp.StartKey, cp.EndKey = c.EncodeRange(q.StartKey, q.EndKey)
		r.Req = &cp
	case *kvrpcpb.StoreSafeTSRequest:
		cp := *q
		if q.KeyRange != nil {
			kr := *q.KeyRange
			kr.StartKey, kr.EndKey = c.EncodeRange(kr.StartKey, kr.EndKey)
			cp.KeyRange = &kr
		}
		r.Req = &cp
	case *kvrpcpb.MvccGetByKeyRequest:
		cp := *q
		cp.Key = c.EncodeKey(q.Key)
		r.Req = &cp
	case *kvrpcpb.SplitRegionRequest:
		cp := *q
		cp.SplitKeys = c.encodeKeys(q.SplitKeys)
		cp.SplitKey = nil
		if len(q.SplitKey) > 0 {
			cp.SplitKey = c.EncodeKey(q.SplitKey)
		}
		r.Req = &cp
	}
	return &r, nil
}

// setAPICtx sets the API version, keyspace and keyspace name.
func (c *Codec) setAPICtx(ctx *kvrpcpb.Context) {
	ctx.ApiVersion = c.wire
	if c.keyspaceIdentity != nil {
		ctx.Keyspace = c.keyspaceIdentity
	} else {
		ctx.Keyspace = c.keyspaceID
	}
	if c.meta != nil {
		ctx.KeyspaceName = c.meta.Name
	}
}

func (c *Codec) encodeKeys(keys [][]byte) [][]byte {
	if keys == nil {
		return nil
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = c.EncodeKey(k)
	}
	return out
}

func (c *Codec) encodePairs(pairs []*kvrpcpb.KvPair) []*kvrpcpb.KvPair {
	if pairs == nil {
		return nil
	}
	out := make([]*kvrpcpb.KvPair, len(pairs))
	for i, p := range pairs {
		cp := *p
		cp.Key = c.EncodeKey(p.Key)
		out[i] = &cp
	}
	return out
}

func (c *Codec) encodeMutations(ms []*kvrpcpb.Mutation) []*kvrpcpb.Mutation {
	if ms == nil {
		return nil
	}
	out := make([]*kvrpcpb.Mutation, len(ms))
	for i, m := range ms {
		cp := *m
		cp.Key = c.EncodeKey(m.Key)
		out[i] = &cp
	}
	return out
}

func (c *Codec) encodeKeyRanges(rs []*kvrpcpb.KeyRange, reverse bool) []*kvrpcpb.KeyRange {
	if rs == nil {
		return nil
	}
	out := make([]*kvrpcpb.KeyRange, len(rs))
	for i, r := range rs {
		out[i] = &kvrpcpb.KeyRange{}
		out[i].StartKey, out[i].EndKey = c.encodeRange(r.StartKey, r.EndKey, reverse)
	}
	return out
}

// DecodeResponse maps the keys of resp (a response to req, as encoded by
// EncodeRequest) back to user keys, in place: region errors (KeyNotInRegion
// boundaries, EpochNotMatch regions, dropping those outside the keyspace),
// key errors, locks, returned pairs and split regions. It fails with
// ErrKeyOutOfBound or a *DecodeError when a key cannot be mapped.
func (c *Codec) DecodeResponse(req *tikvrpc.Request, resp *tikvrpc.Response) (*tikvrpc.Response, error) {
	if resp == nil || resp.Resp == nil {
		return resp, nil
	}
	d := decoder{c: c}
	switch r := resp.Resp.(type) {
	case *kvrpcpb.GetResponse:
		r.RegionError = d.regionError(r.RegionError)
		r.Error = d.keyError(r.Error)
	case *kvrpcpb.ScanResponse:
		r.RegionError = d.regionError(r.RegionError)
		r.Pairs = d.pairs(r.Pairs)
		r.Error = d.keyError(r.Error)
	case *kvrpcpb.PrewriteResponse:
		r.RegionError = d.regionError(r.RegionError)
		d.keyErrors(r.Errors)
	case *kvrpcpb.CommitResponse:
		r.RegionError = d.regionError(r.RegionError)
		r.Error = d.keyError(r.Error)
	case *kvrpcpb.CleanupResponse:
		r.RegionError = d.regionError(r.RegionError)
		r.Error = d.keyError(r.Error)
	case *kvrpcpb.BatchGetResponse:
		r.RegionError = d.regionError(r.RegionError)
		r.Pairs = d.pairs(r.Pairs)
		r.Error = d.keyError(r.Error)
	case *kvrpcpb.BatchRollbackResponse:
		r.RegionError = d.regionError(r.RegionError)
		r.Error = d.keyError(r.Error)
	case *kvrpcpb.ScanLockResponse:
		r.RegionError = d.regionError(r.RegionError)
		r.Error = d.keyError(r.Error)
		d.locks(r.Locks)
	case *kvrpcpb.ResolveLockResponse:
		r.RegionError = d.regionError(r.RegionError)
		r.Error = d.keyError(r.Error)
	case *kvrpcpb.GCResponse:
		r.RegionError = d.regionError(r.RegionError)
		r.Error = d.keyError(r.Error)
	case *kvrpcpb.DeleteRangeResponse:
		r.RegionError = d.regionError(r.RegionError)
	case *kvrpcpb.PessimisticLockResponse:
		r.RegionError = d.regionError(r.RegionError)
		d.keyErrors(r.Errors)
	case *kvrpcpb.PessimisticRollbackResponse:
		r.RegionError = d.regionError(r.RegionError)
		d.keyErrors(r.Errors)
	case *kvrpcpb.TxnHeartBeatResponse:
		r.RegionError = d.regionError(r.RegionError)
		r.Error = d.keyError(r.Error)
	case *kvrpcpb.CheckTxnStatusResponse:
		r.RegionError = d.regionError(r.RegionError)
		r.Error = d.keyError(r.Error)
		r.LockInfo = d.lock(r.LockInfo)
	case *kvrpcpb.CheckSecondaryLocksResponse:
		r.RegionError = d.regionError(r.RegionError)
		r.Error = d.keyError(r.Error)
		d.locks(r.Locks)
	case *kvrpcpb.FlushResponse:
		r.RegionError = d.regionError(r.RegionError)
		d.keyErrors(r.Errors)
	case *kvrpcpb.BufferBatchGetResponse:
		r.RegionError = d.regionError(r.RegionError)
		r.Pairs = d.pairs(r.Pairs)
		r.Error = d.keyError(r.Error)
	case *kvrpcpb.FlashbackToVersionResponse:
		r.RegionError = d.regionError(r.RegionError)
	case *kvrpcpb.PrepareFlashbackToVersionResponse:
		r.RegionError = d.regionError(r.RegionError)
	case *kvrpcpb.RawGetResponse:
		r.RegionError = d.regionError(r.RegionError)
	case *kvrpcpb.RawBatchGetResponse:
		r.RegionError = d.regionError(r.RegionError)
		r.Pairs = d.pairs(r.Pairs)
	case *kvrpcpb.RawPutResponse:
		r.RegionError = d.regionError(r.RegionError)
	case *kvrpcpb.RawBatchPutResponse:
		r.RegionError = d.regionError(r.RegionError)
	case *kvrpcpb.RawDeleteResponse:
		r.RegionError = d.regionError(r.RegionError)
	case *kvrpcpb.RawBatchDeleteResponse:
		r.RegionError = d.regionError(r.RegionError)
	case *kvrpcpb.RawDeleteRangeResponse:
		r.RegionError = d.regionError(r.RegionError)
	case *kvrpcpb.RawScanResponse:
		r.RegionError = d.regionError(r.RegionError)
		r.Kvs = d.pairs(r.Kvs)
	case *kvrpcpb.RawBatchScanResponse:
		r.RegionError = d.regionError(r.RegionError)
		r.Kvs = d.pairs(r.Kvs)
	case *kvrpcpb.RawGetKeyTTLResponse:
		r.RegionError = d.regionError(r.RegionError)
	case *kvrpcpb.RawCASResponse:
		r.RegionError = d.regionError(r.RegionError)
	case *kvrpcpb.RawChecksumResponse:
		r.RegionError = d.regionError(r.RegionError)
	case *kvrpcpb.UnsafeDestroyRangeResponse:
		r.RegionError = d.regionError(r.RegionError)
	case *kvrpcpb.GetLockWaitInfoResponse:
		r.RegionError = d.regionError(r.RegionError)
		for _, e := range r.Entries {
			e.Key = d.key(e.Key)
		}
	case *kvrpcpb.GetHealthFeedbackResponse:
		r.RegionError = d.regionError(r.RegionError)
	case *kvrpcpb.MvccGetByKeyResponse:
		r.RegionError = d.regionError(r.RegionError)
		r.Info = d.mvccInfo(r.Info)
	case *kvrpcpb.MvccGetByStartTsResponse:
		r.RegionError = d.regionError(r.RegionError)
		if len(r.Key) > 0 {
			r.Key = d.key(r.Key)
		}
		r.Info = d.mvccInfo(r.Info)
	case *kvrpcpb.SplitRegionResponse:
		r.RegionError = d.regionError(r.RegionError)
		for _, rg := range r.Regions {
			rg.StartKey, rg.EndKey = d.regionRange(rg.StartKey, rg.EndKey)
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	return resp, nil
}

// decoder decodes in place and remembers the first error, so the
// per-command code above stays a list of fields.
type decoder struct {
	c   *Codec
	err error
}

func (d *decoder) key(k []byte) []byte {
	if d.err != nil || d.c.keyPrefix == nil {
		return k
	}
	out, err := d.c.DecodeKey(k)
	if err != nil {
		d.err = err
		return k
	}
	return out
}

func (d *decoder) regionRange(start, end []byte) ([]byte, []byte) {
	if d.err != nil {
		return start, end
	}
	s, e, err := d.c.DecodeRegionRange(start, end)
	if err != nil {
		d.err = err
		return start, end
	}
	return s, e
}

// regionError decodes the region boundaries in e. Regions of an
// EpochNotMatch that lie outside the keyspace are dropped.
func (d *decoder) regionError(e *errorpb.Error) *errorpb.Error {
	if e == nil {
		return nil
	}
	if k := e.KeyNotInRegion; k != nil {
		k.Key = d.key(k.Key)
		k.StartKey, k.EndKey = d.regionRange(k.StartKey, k.EndKey)
	}
	if en := e.EpochNotMatch; en != nil && d.err == nil {
		kept := make([]*metapb.Region, 0, len(en.CurrentRegions))
		for _, m := range en.CurrentRegions {
			s, end, err := d.c.DecodeRegionRange(m.StartKey, m.EndKey)
			if err != nil {
				if IsDecodeError(err) {
					d.err = err
					return e
				}
				continue // outside the keyspace
			}
			m.StartKey, m.EndKey = s, end
			kept = append(kept, m)
		}
		en.CurrentRegions = kept
	}
	return e
}

func (d *decoder) keyErrors(errs []*kvrpcpb.KeyError) {
	for i := range errs {
		errs[i] = d.keyError(errs[i])
	}
}

func (d *decoder) keyError(e *kvrpcpb.KeyError) *kvrpcpb.KeyError {
	if e == nil || d.c.keyPrefix == nil {
		return e
	}
	e.Locked = d.lock(e.Locked)
	if w := e.Conflict; w != nil {
		w.Key = d.key(w.Key)
		w.Primary = d.key(w.Primary)
	}
	if a := e.AlreadyExist; a != nil {
		a.Key = d.key(a.Key)
	}
	if dl := e.Deadlock; dl != nil {
		dl.LockKey = d.key(dl.LockKey)
		dl.DeadlockKey = d.key(dl.DeadlockKey)
		for _, w := range dl.WaitChain {
			w.Key = d.key(w.Key)
		}
	}
	if x := e.CommitTsExpired; x != nil {
		x.Key = d.key(x.Key)
	}
	if x := e.TxnNotFound; x != nil {
		x.PrimaryKey = d.key(x.PrimaryKey)
	}
	if x := e.AssertionFailed; x != nil {
		x.Key = d.key(x.Key)
	}
	if x := e.PrimaryMismatch; x != nil {
		x.LockInfo = d.lock(x.LockInfo)
	}
	if x := e.TxnLockNotFound; x != nil {
		x.Key = d.key(x.Key)
	}
	if info := e.DebugInfo; info != nil {
		for _, mi := range info.MvccInfo {
			mi.Key = d.key(mi.Key)
			mi.Mvcc = d.mvccInfo(mi.Mvcc)
		}
	}
	return e
}

// mvccInfo decodes the lock keys of info; empty keys stay empty.
func (d *decoder) mvccInfo(info *kvrpcpb.MvccInfo) *kvrpcpb.MvccInfo {
	if info == nil || info.Lock == nil || d.c.keyPrefix == nil {
		return info
	}
	l := info.Lock
	if len(l.Primary) > 0 {
		l.Primary = d.key(l.Primary)
	}
	for i, s := range l.Secondaries {
		if len(s) > 0 {
			l.Secondaries[i] = d.key(s)
		}
	}
	return info
}

func (d *decoder) lock(l *kvrpcpb.LockInfo) *kvrpcpb.LockInfo {
	if l == nil || d.c.keyPrefix == nil {
		return l
	}
	l.Key = d.key(l.Key)
	l.PrimaryLock = d.key(l.PrimaryLock)
	for i := range l.Secondaries {
		l.Secondaries[i] = d.key(l.Secondaries[i])
	}
	for i := range l.SharedLockInfos {
		l.SharedLockInfos[i] = d.lock(l.SharedLockInfos[i])
	}
	return l
}

func (d *decoder) locks(ls []*kvrpcpb.LockInfo) {
	for i := range ls {
		ls[i] = d.lock(ls[i])
	}
}

// pairs decodes the keys and key errors of pairs. The pair structs are
// replaced by copies: TiKV may share them between responses (client-go
// codec_v2.go decodePairs does the same).
func (d *decoder) pairs(ps []*kvrpcpb.KvPair) []*kvrpcpb.KvPair {
	if ps == nil || d.c.keyPrefix == nil {
		return ps
	}
	out := make([]*kvrpcpb.KvPair, len(ps))
	for i, p := range ps {
		cp := *p
		cp.Error = d.keyError(p.Error)
		if len(cp.Key) > 0 {
			cp.Key = d.key(cp.Key)
		}
		out[i] = &cp
	}
	return out
}
