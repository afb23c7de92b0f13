package cluster

import (
	"bytes"
	"reflect"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/internal/invariants"
)

// cmdSpec says how a store serves one kvrpcpb request type: which keys the
// region check covers, whether it is a write (a Raft proposal: entry size and
// stale-command checks), whether it needs max_ts synced, and how to run it.
type cmdSpec struct {
	raw        bool // a raw KV command: keys compare with boundaries as given
	write      bool
	admin      bool // checks conf_ver as well as version
	keys       func(req contexted) [][]byte
	span       func(req contexted) (start []byte, reverse bool)
	ranges     func(req contexted) []*kvrpcpb.KeyRange // for the API version check
	needsMaxTS func(req contexted) bool
	exec       func(c *Cluster, r *region, req contexted) proto.Message
	resp       reflect.Type
}

// regionErr returns an empty response of the command's type carrying err.
func regionErr(spec *cmdSpec, err *errorpb.Error) proto.Message {
	v := reflect.New(spec.resp)
	v.Elem().FieldByName("RegionError").Set(reflect.ValueOf(err))
	return v.Interface().(proto.Message)
}

// checkAPI runs the storage's API version and key mode checks on the keys
// and ranges of req: "" when allowed, else TiKV's message.
func (c *Cluster) checkAPI(req contexted, spec *cmdSpec) string {
	if spec.keys != nil {
		if msg := c.engine.CheckAPIVersion(req.GetContext(), spec.raw, spec.keys(req)); msg != "" {
			return msg
		}
	}
	if spec.ranges != nil {
		for _, kr := range spec.ranges(req) {
			if msg := c.engine.CheckAPIRange(req.GetContext(), spec.raw, kr.StartKey, kr.EndKey); msg != "" {
				return msg
			}
		}
	}
	return ""
}

// apiErr returns an empty response of the command's type carrying a storage
// error, where TiKV's service layer puts one (src/server/service/kv.rs): the
// error string of a raw command, else the key error (extract_key_error makes
// an unknown storage error an abort) in Error or Errors, or, for commands
// answering pairs only, in a single pair.
func apiErr(spec *cmdSpec, msg string) proto.Message {
	v := reflect.New(spec.resp)
	kerr := &kvrpcpb.KeyError{Abort: msg}
	if f := v.Elem().FieldByName("Error"); f.IsValid() {
		switch f.Kind() {
		case reflect.String:
			f.SetString(msg)
		default:
			f.Set(reflect.ValueOf(kerr))
		}
		return v.Interface().(proto.Message)
	}
	for _, name := range []string{"Errors", "Pairs", "Kvs"} {
		f := v.Elem().FieldByName(name)
		if !f.IsValid() {
			continue
		}
		if name == "Errors" {
			f.Set(reflect.ValueOf([]*kvrpcpb.KeyError{kerr}))
		} else {
			f.Set(reflect.ValueOf([]*kvrpcpb.KvPair{{Error: kerr}}))
		}
		return v.Interface().(proto.Message)
	}
	invariants.Fail("%v has no error field for %q", spec.resp, msg)
	return v.Interface().(proto.Message)
}

var specs = map[reflect.Type]*cmdSpec{}

// register adds the spec of request type Req answered by Resp.
func register[Req contexted, Resp proto.Message](s cmdSpec, keys func(Req) [][]byte, exec func(c *Cluster, r *region, req Req) Resp) {
	if keys != nil {
		s.keys = func(req contexted) [][]byte { return keys(req.(Req)) }
	}
	s.exec = func(c *Cluster, r *region, req contexted) proto.Message { return exec(c, r, req.(Req)) }
	var resp Resp
	s.resp = reflect.TypeOf(resp).Elem()
	var req Req
	specs[reflect.TypeOf(req)] = &s
}

func one(k []byte) [][]byte { return [][]byte{k} }

func mutationKeys(ms []*kvrpcpb.Mutation) [][]byte {
	out := make([][]byte, len(ms))
	for i, m := range ms {
		out[i] = m.Key
	}
	return out
}

func pairKeys(ps []*kvrpcpb.KvPair) [][]byte {
	out := make([][]byte, len(ps))
	for i, p := range ps {
		out[i] = p.Key
	}
	return out
}

// userBounds returns r's range in the key space of the command's keys:
// boundaries decoded for transactional commands on a TxnKeys cluster and
// for every command in API V2.
func (c *Cluster) userBounds(r *region, raw bool) (start, end []byte) {
	return c.boundaryToKey(r.meta.StartKey, raw), c.boundaryToKey(r.meta.EndKey, raw)
}

// clampEnd bounds a forward range's exclusive end to the region's end.
func (c *Cluster) clampEnd(r *region, raw bool, end []byte) []byte {
	_, rend := c.userBounds(r, raw)
	if len(rend) > 0 && (len(end) == 0 || bytes.Compare(end, rend) > 0) {
		return rend
	}
	return end
}

// clampLower bounds a reverse range's inclusive lower end to the region's
// start.
func (c *Cluster) clampLower(r *region, raw bool, lower []byte) []byte {
	rstart, _ := c.userBounds(r, raw)
	if bytes.Compare(lower, rstart) < 0 {
		return rstart
	}
	return lower
}

func rangeOf[Req contexted](f func(Req) (start, end []byte)) func(contexted) []*kvrpcpb.KeyRange {
	return func(req contexted) []*kvrpcpb.KeyRange {
		s, e := f(req.(Req))
		return []*kvrpcpb.KeyRange{{StartKey: s, EndKey: e}}
	}
}

func fwdSpan[Req contexted](start func(Req) []byte) func(contexted) ([]byte, bool) {
	return func(req contexted) ([]byte, bool) { return start(req.(Req)), false }
}

func init() {
	write := cmdSpec{write: true}
	read := cmdSpec{}

	// Transactional reads.
	register(read, func(q *kvrpcpb.GetRequest) [][]byte { return one(q.Key) },
		func(c *Cluster, _ *region, q *kvrpcpb.GetRequest) *kvrpcpb.GetResponse { return c.engine.Get(q) })
	register(read, func(q *kvrpcpb.BatchGetRequest) [][]byte { return q.Keys },
		func(c *Cluster, _ *region, q *kvrpcpb.BatchGetRequest) *kvrpcpb.BatchGetResponse {
			return c.engine.BatchGet(q)
		})
	scan := read
	scan.span = func(req contexted) ([]byte, bool) {
		q := req.(*kvrpcpb.ScanRequest)
		return q.StartKey, q.Reverse
	}
	scan.ranges = rangeOf(func(q *kvrpcpb.ScanRequest) ([]byte, []byte) { return q.StartKey, q.EndKey })
	register(scan, nil, func(c *Cluster, r *region, req *kvrpcpb.ScanRequest) *kvrpcpb.ScanResponse {
		q := *req // clamp a copy: the caller may keep its request (no-copy networks)
		if q.Reverse {
			q.EndKey = c.clampLower(r, false, q.EndKey)
		} else {
			q.EndKey = c.clampEnd(r, false, q.EndKey)
		}
		return c.engine.Scan(&q)
	})
	register(read, func(q *kvrpcpb.BufferBatchGetRequest) [][]byte { return q.Keys },
		func(c *Cluster, _ *region, q *kvrpcpb.BufferBatchGetRequest) *kvrpcpb.BufferBatchGetResponse {
			return c.engine.BufferBatchGet(q)
		})
	register(read, func(q *kvrpcpb.MvccGetByKeyRequest) [][]byte { return one(q.Key) },
		func(c *Cluster, _ *region, q *kvrpcpb.MvccGetByKeyRequest) *kvrpcpb.MvccGetByKeyResponse {
			return c.engine.MvccGetByKey(q)
		})
	scanLock := read
	scanLock.span = fwdSpan(func(q *kvrpcpb.ScanLockRequest) []byte { return q.StartKey })
	scanLock.ranges = rangeOf(func(q *kvrpcpb.ScanLockRequest) ([]byte, []byte) { return q.StartKey, q.EndKey })
	register(scanLock, nil, func(c *Cluster, r *region, q *kvrpcpb.ScanLockRequest) *kvrpcpb.ScanLockResponse {
		start, end := c.userBounds(r, false)
		return c.engine.ScanLockInRange(q, start, end)
	})

	// Transactional writes.
	prewrite := write
	prewrite.needsMaxTS = func(req contexted) bool {
		q := req.(*kvrpcpb.PrewriteRequest)
		return q.UseAsyncCommit || q.TryOnePc
	}
	register(prewrite, func(q *kvrpcpb.PrewriteRequest) [][]byte { return mutationKeys(q.Mutations) },
		func(c *Cluster, _ *region, q *kvrpcpb.PrewriteRequest) *kvrpcpb.PrewriteResponse {
			return c.engine.Prewrite(q)
		})
	register(write, func(q *kvrpcpb.CommitRequest) [][]byte { return q.Keys },
		func(c *Cluster, _ *region, q *kvrpcpb.CommitRequest) *kvrpcpb.CommitResponse {
			return c.engine.Commit(q)
		})
	register(write, func(q *kvrpcpb.CleanupRequest) [][]byte { return one(q.Key) },
		func(c *Cluster, _ *region, q *kvrpcpb.CleanupRequest) *kvrpcpb.CleanupResponse {
			return c.engine.Cleanup(q)
		})
	register(write, func(q *kvrpcpb.BatchRollbackRequest) [][]byte { return q.Keys },
		func(c *Cluster, _ *region, q *kvrpcpb.BatchRollbackRequest) *kvrpcpb.BatchRollbackResponse {
			return c.engine.BatchRollback(q)
		})
	register(write, func(q *kvrpcpb.CheckTxnStatusRequest) [][]byte { return one(q.PrimaryKey) },
		func(c *Cluster, _ *region, q *kvrpcpb.CheckTxnStatusRequest) *kvrpcpb.CheckTxnStatusResponse {
			return c.engine.CheckTxnStatus(q)
		})
	register(write, func(q *kvrpcpb.CheckSecondaryLocksRequest) [][]byte { return q.Keys },
		func(c *Cluster, _ *region, q *kvrpcpb.CheckSecondaryLocksRequest) *kvrpcpb.CheckSecondaryLocksResponse {
			return c.engine.CheckSecondaryLocks(q)
		})
	register(write, func(q *kvrpcpb.ResolveLockRequest) [][]byte { return q.Keys },
		func(c *Cluster, r *region, q *kvrpcpb.ResolveLockRequest) *kvrpcpb.ResolveLockResponse {
			if len(q.Keys) == 0 {
				start, end := c.userBounds(r, false)
				return c.engine.ResolveLockInRange(q, start, end)
			}
			return c.engine.ResolveLock(q)
		})
	register(write, func(q *kvrpcpb.TxnHeartBeatRequest) [][]byte { return one(q.PrimaryLock) },
		func(c *Cluster, _ *region, q *kvrpcpb.TxnHeartBeatRequest) *kvrpcpb.TxnHeartBeatResponse {
			return c.engine.TxnHeartBeat(q)
		})
	// Served specially (lock waits) by Store.pessimisticLock; exec is the
	// no-wait path used by nothing else.
	register(write, func(q *kvrpcpb.PessimisticLockRequest) [][]byte { return mutationKeys(q.Mutations) },
		func(c *Cluster, _ *region, q *kvrpcpb.PessimisticLockRequest) *kvrpcpb.PessimisticLockResponse {
			resp, _ := c.engine.PessimisticLock(q)
			return resp
		})
	register(write, func(q *kvrpcpb.PessimisticRollbackRequest) [][]byte { return q.Keys },
		func(c *Cluster, r *region, q *kvrpcpb.PessimisticRollbackRequest) *kvrpcpb.PessimisticRollbackResponse {
			if len(q.Keys) == 0 {
				start, end := c.userBounds(r, false)
				return c.engine.PessimisticRollbackInRange(q, start, end)
			}
			return c.engine.PessimisticRollback(q)
		})
	register(write, func(q *kvrpcpb.FlushRequest) [][]byte { return mutationKeys(q.Mutations) },
		func(c *Cluster, _ *region, q *kvrpcpb.FlushRequest) *kvrpcpb.FlushResponse { return c.engine.Flush(q) })
	delRange := write
	delRange.span = fwdSpan(func(q *kvrpcpb.DeleteRangeRequest) []byte { return q.StartKey })
	delRange.ranges = rangeOf(func(q *kvrpcpb.DeleteRangeRequest) ([]byte, []byte) { return q.StartKey, q.EndKey })
	register(delRange, nil, func(c *Cluster, r *region, req *kvrpcpb.DeleteRangeRequest) *kvrpcpb.DeleteRangeResponse {
		q := *req
		q.EndKey = c.clampEnd(r, false, q.EndKey)
		return c.engine.DeleteRange(&q)
	})

	// Raw KV.
	read.raw, write.raw = true, true
	register(read, func(q *kvrpcpb.RawGetRequest) [][]byte { return one(q.Key) },
		func(c *Cluster, _ *region, q *kvrpcpb.RawGetRequest) *kvrpcpb.RawGetResponse {
			return c.engine.RawGet(q, c.w.Now())
		})
	register(read, func(q *kvrpcpb.RawBatchGetRequest) [][]byte { return q.Keys },
		func(c *Cluster, _ *region, q *kvrpcpb.RawBatchGetRequest) *kvrpcpb.RawBatchGetResponse {
			return c.engine.RawBatchGet(q, c.w.Now())
		})
	register(write, func(q *kvrpcpb.RawPutRequest) [][]byte { return one(q.Key) },
		func(c *Cluster, _ *region, q *kvrpcpb.RawPutRequest) *kvrpcpb.RawPutResponse {
			return c.engine.RawPut(q, c.w.Now())
		})
	register(write, func(q *kvrpcpb.RawBatchPutRequest) [][]byte { return pairKeys(q.Pairs) },
		func(c *Cluster, _ *region, q *kvrpcpb.RawBatchPutRequest) *kvrpcpb.RawBatchPutResponse {
			return c.engine.RawBatchPut(q, c.w.Now())
		})
	register(write, func(q *kvrpcpb.RawDeleteRequest) [][]byte { return one(q.Key) },
		func(c *Cluster, _ *region, q *kvrpcpb.RawDeleteRequest) *kvrpcpb.RawDeleteResponse {
			return c.engine.RawDelete(q, c.w.Now())
		})
	register(write, func(q *kvrpcpb.RawBatchDeleteRequest) [][]byte { return q.Keys },
		func(c *Cluster, _ *region, q *kvrpcpb.RawBatchDeleteRequest) *kvrpcpb.RawBatchDeleteResponse {
			return c.engine.RawBatchDelete(q, c.w.Now())
		})
	rawDelRange := write
	rawDelRange.span = fwdSpan(func(q *kvrpcpb.RawDeleteRangeRequest) []byte { return q.StartKey })
	rawDelRange.ranges = rangeOf(func(q *kvrpcpb.RawDeleteRangeRequest) ([]byte, []byte) { return q.StartKey, q.EndKey })
	register(rawDelRange, nil, func(c *Cluster, r *region, req *kvrpcpb.RawDeleteRangeRequest) *kvrpcpb.RawDeleteRangeResponse {
		q := *req
		q.EndKey = c.clampEnd(r, true, q.EndKey)
		return c.engine.RawDeleteRange(&q, c.w.Now())
	})
	rawScan := read
	rawScan.span = func(req contexted) ([]byte, bool) {
		q := req.(*kvrpcpb.RawScanRequest)
		return q.StartKey, q.Reverse
	}
	rawScan.ranges = rangeOf(func(q *kvrpcpb.RawScanRequest) ([]byte, []byte) { return q.StartKey, q.EndKey })
	register(rawScan, nil, func(c *Cluster, r *region, req *kvrpcpb.RawScanRequest) *kvrpcpb.RawScanResponse {
		q := *req
		if q.Reverse {
			q.EndKey = c.clampLower(r, true, q.EndKey)
		} else {
			q.EndKey = c.clampEnd(r, true, q.EndKey)
		}
		return c.engine.RawScan(&q, c.w.Now())
	})
	register(read, func(q *kvrpcpb.RawBatchScanRequest) [][]byte { return rangeStarts(q.Ranges) },
		func(c *Cluster, r *region, req *kvrpcpb.RawBatchScanRequest) *kvrpcpb.RawBatchScanResponse {
			q := *req
			q.Ranges = c.clampRanges(r, req.Ranges)
			return c.engine.RawBatchScan(&q, c.w.Now())
		})
	register(write, func(q *kvrpcpb.RawCASRequest) [][]byte { return one(q.Key) },
		func(c *Cluster, _ *region, q *kvrpcpb.RawCASRequest) *kvrpcpb.RawCASResponse {
			return c.engine.RawCompareAndSwap(q, c.w.Now())
		})
	register(read, func(q *kvrpcpb.RawGetKeyTTLRequest) [][]byte { return one(q.Key) },
		func(c *Cluster, _ *region, q *kvrpcpb.RawGetKeyTTLRequest) *kvrpcpb.RawGetKeyTTLResponse {
			return c.engine.RawGetKeyTTL(q, c.w.Now())
		})
	register(read, func(q *kvrpcpb.RawChecksumRequest) [][]byte { return rangeStarts(q.Ranges) },
		func(c *Cluster, r *region, req *kvrpcpb.RawChecksumRequest) *kvrpcpb.RawChecksumResponse {
			q := *req
			q.Ranges = c.clampRanges(r, req.Ranges)
			return c.engine.RawChecksum(&q, c.w.Now())
		})

	// Admin: SplitRegion (commands_split.go; the store's serve hands it to
	// Store.SplitRegion, which skips the storage's API check as kv.rs does).
	specs[reflect.TypeOf(&kvrpcpb.SplitRegionRequest{})] = &splitRegionSpec
}

// clampRanges returns copies of rs (raw ranges) with their ends bounded to r.
func (c *Cluster) clampRanges(r *region, rs []*kvrpcpb.KeyRange) []*kvrpcpb.KeyRange {
	out := make([]*kvrpcpb.KeyRange, len(rs))
	for i, kr := range rs {
		out[i] = &kvrpcpb.KeyRange{StartKey: kr.StartKey, EndKey: c.clampEnd(r, true, kr.EndKey)}
	}
	return out
}

func rangeStarts(rs []*kvrpcpb.KeyRange) [][]byte {
	out := make([][]byte, len(rs))
	for i, r := range rs {
		out[i] = r.StartKey
	}
	return out
}
