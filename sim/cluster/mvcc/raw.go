package mvcc

import (
	"bytes"
	"fmt"
	"hash/crc64"
	"time"

	"github.com/google/btree"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/internal/invariants"
)

// rawItem is a raw KV entry. expireTS is the absolute expiry in Unix
// seconds (0 = never), as TiKV's raw value encodings (api_v1ttl.rs,
// api_v2.rs) store it.
type rawItem struct {
	key      []byte
	value    []byte
	expireTS uint64
	deleted  bool   // API V2 tombstone
	stored   []byte // the value as TiKV stores it (EncodeRawValue)
}

func rawLess(a, b rawItem) bool { return bytes.Compare(a.key, b.key) < 0 }

var crcTable = crc64.MakeTable(crc64.ECMA)

func (it rawItem) live(now time.Time) bool {
	return !it.deleted && (it.expireTS == 0 || it.expireTS > uint64(now.Unix()))
}

func (e *Engine) ttlEnabled() bool {
	return e.cfg.APIVersion == kvrpcpb.APIVersion_V1TTL || e.cfg.APIVersion == kvrpcpb.APIVersion_V2
}

// errTTLNotEnabled is ErrorInner::TtlNotEnabled's message.
const errTTLNotEnabled = "ttl is not enabled, but get put request with ttl"

// rawCF resolves a request's column family (Storage::rawkv_cf): "" means
// default; API V2 refuses any explicit cf (CfDeprecated).
func (e *Engine) rawCF(cf string) (*btree.BTreeG[rawItem], string) {
	if e.cfg.APIVersion == kvrpcpb.APIVersion_V2 && cf != "" {
		return nil, fmt.Sprintf("cf is deprecated in API V2, cf name: %s", cf)
	}
	if cf == "" {
		cf = CFDefault
	}
	if cf != CFDefault && cf != CFLock && cf != CFWrite {
		return nil, fmt.Sprintf("invalid cf name: %s", cf)
	}
	t := e.raw[cf]
	if t == nil {
		t = btree.NewG(btreeDegree, rawLess)
		e.raw[cf] = t
	}
	return t, ""
}

func (e *Engine) rawPrecheck(ctx *kvrpcpb.Context, cf string, keys ...[]byte) (*btree.BTreeG[rawItem], string) {
	if msg := e.checkAPIVersion(ctx, true, keys); msg != "" {
		return nil, msg
	}
	return e.rawCF(cf)
}

func (e *Engine) rawGet(t *btree.BTreeG[rawItem], key []byte, now time.Time) (rawItem, bool) {
	it, ok := t.Get(rawItem{key: key})
	if !ok || !it.live(now) {
		return rawItem{}, false
	}
	return it, true
}

func (e *Engine) expireAt(ttl uint64, now time.Time) (uint64, string) {
	if ttl == 0 {
		return 0, ""
	}
	if !e.ttlEnabled() {
		return 0, errTTLNotEnabled
	}
	return uint64(now.Unix()) + ttl, ""
}

// RawGet is RawGet (src/storage/mod.rs raw_get). Expired entries are absent.
func (e *Engine) RawGet(req *kvrpcpb.RawGetRequest, now time.Time) *kvrpcpb.RawGetResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.RawGetResponse{}
	t, msg := e.rawPrecheck(req.GetContext(), req.GetCf(), req.GetKey())
	if msg != "" {
		resp.Error = msg
		return resp
	}
	it, ok := e.rawGet(t, req.GetKey(), now)
	resp.NotFound = !ok
	if ok {
		resp.Value = append([]byte{}, it.value...)
	}
	return resp
}

// RawBatchGet is RawBatchGet: found keys only, in request order.
func (e *Engine) RawBatchGet(req *kvrpcpb.RawBatchGetRequest, now time.Time) *kvrpcpb.RawBatchGetResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.RawBatchGetResponse{}
	t, msg := e.rawPrecheck(req.GetContext(), req.GetCf(), req.GetKeys()...)
	if msg != "" {
		resp.Pairs = []*kvrpcpb.KvPair{{Error: errAbort("%s", msg)}}
		return resp
	}
	for _, k := range req.GetKeys() {
		if it, ok := e.rawGet(t, k, now); ok {
			resp.Pairs = append(resp.Pairs, &kvrpcpb.KvPair{Key: append([]byte(nil), k...), Value: append([]byte{}, it.value...)})
		}
	}
	return resp
}

// RawPut is RawPut; ttl (seconds) needs API V1TTL or V2.
func (e *Engine) RawPut(req *kvrpcpb.RawPutRequest, now time.Time) *kvrpcpb.RawPutResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.RawPutResponse{}
	t, msg := e.rawPrecheck(req.GetContext(), req.GetCf(), req.GetKey())
	if msg == "" {
		var exp uint64
		if exp, msg = e.expireAt(req.GetTtl(), now); msg == "" {
			t.ReplaceOrInsert(e.newRawItem(req.GetKey(), req.GetValue(), exp, false))
		}
	}
	resp.Error = msg
	return resp
}

// RawBatchPut is RawBatchPut: ttls is either empty (use ttl), one per pair,
// or an error (TtlLenNotEqualsToPairs).
func (e *Engine) RawBatchPut(req *kvrpcpb.RawBatchPutRequest, now time.Time) *kvrpcpb.RawBatchPutResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.RawBatchPutResponse{}
	keys := make([][]byte, 0, len(req.GetPairs()))
	for _, p := range req.GetPairs() {
		keys = append(keys, p.GetKey())
	}
	t, msg := e.rawPrecheck(req.GetContext(), req.GetCf(), keys...)
	if msg != "" {
		resp.Error = msg
		return resp
	}
	ttls := req.GetTtls()
	if len(ttls) != 0 && len(ttls) != len(keys) {
		resp.Error = "ttl len not equals to pairs"
		return resp
	}
	exps := make([]uint64, len(keys))
	for i := range keys {
		ttl := req.GetTtl()
		if len(ttls) != 0 {
			ttl = ttls[i]
		}
		if exps[i], msg = e.expireAt(ttl, now); msg != "" {
			resp.Error = msg
			return resp
		}
	}
	for i, p := range req.GetPairs() {
		t.ReplaceOrInsert(e.newRawItem(p.GetKey(), p.GetValue(), exps[i], false))
	}
	return resp
}

// RawDelete is RawDelete.
func (e *Engine) RawDelete(req *kvrpcpb.RawDeleteRequest, now time.Time) *kvrpcpb.RawDeleteResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.RawDeleteResponse{}
	t, msg := e.rawPrecheck(req.GetContext(), req.GetCf(), req.GetKey())
	if msg != "" {
		resp.Error = msg
		return resp
	}
	e.rawDelete(t, req.GetKey())
	return resp
}

// rawDelete removes a key: API V2 writes a logical-delete tombstone
// (ValueMeta::DELETE_FLAG), the other versions delete physically.
func (e *Engine) rawDelete(t *btree.BTreeG[rawItem], key []byte) {
	if e.cfg.APIVersion == kvrpcpb.APIVersion_V2 {
		t.ReplaceOrInsert(e.newRawItem(key, nil, 0, true))
		return
	}
	t.Delete(rawItem{key: key})
}

// RawBatchDelete is RawBatchDelete.
func (e *Engine) RawBatchDelete(req *kvrpcpb.RawBatchDeleteRequest, now time.Time) *kvrpcpb.RawBatchDeleteResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.RawBatchDeleteResponse{}
	t, msg := e.rawPrecheck(req.GetContext(), req.GetCf(), req.GetKeys()...)
	if msg != "" {
		resp.Error = msg
		return resp
	}
	for _, k := range req.GetKeys() {
		e.rawDelete(t, k)
	}
	return resp
}

// RawDeleteRange is RawDeleteRange over [start_key, end_key); an empty or
// inverted range deletes nothing.
func (e *Engine) RawDeleteRange(req *kvrpcpb.RawDeleteRangeRequest, now time.Time) *kvrpcpb.RawDeleteRangeResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.RawDeleteRangeResponse{}
	if msg := e.checkAPIRange(req.GetContext(), true, req.GetStartKey(), req.GetEndKey()); msg != "" {
		resp.Error = msg
		return resp
	}
	t, msg := e.rawCF(req.GetCf())
	if msg != "" {
		resp.Error = msg
		return resp
	}
	var del [][]byte
	e.rawRange(t, req.GetStartKey(), req.GetEndKey(), false, now, true, func(it rawItem) bool {
		del = append(del, it.key)
		return true
	})
	for _, k := range del {
		t.Delete(rawItem{key: k})
	}
	return resp
}

// rawRange visits entries in [start, end) (forward) or [end, start)
// descending (reverse), skipping expired ones unless all is set.
func (e *Engine) rawRange(t *btree.BTreeG[rawItem], start, end []byte, reverse bool, now time.Time, all bool, f func(rawItem) bool) {
	if !reverse {
		if len(end) > 0 && bytes.Compare(start, end) >= 0 {
			return
		}
		t.AscendGreaterOrEqual(rawItem{key: start}, func(it rawItem) bool {
			if len(end) > 0 && bytes.Compare(it.key, end) >= 0 {
				return false
			}
			if !all && !it.live(now) {
				return true
			}
			return f(it)
		})
		return
	}
	if len(start) > 0 && bytes.Compare(end, start) >= 0 {
		return
	}
	visit := func(it rawItem) bool {
		if len(start) > 0 && bytes.Compare(it.key, start) >= 0 {
			return true
		}
		if bytes.Compare(it.key, end) < 0 {
			return false
		}
		if !all && !it.live(now) {
			return true
		}
		return f(it)
	}
	if len(start) == 0 {
		t.Descend(visit)
	} else {
		t.DescendLessOrEqual(rawItem{key: start}, visit)
	}
}

func (e *Engine) rawScan(t *btree.BTreeG[rawItem], start, end []byte, limit int, keyOnly, reverse bool, now time.Time) []*kvrpcpb.KvPair {
	var out []*kvrpcpb.KvPair
	if limit <= 0 {
		return out
	}
	e.rawRange(t, start, end, reverse, now, false, func(it rawItem) bool {
		p := &kvrpcpb.KvPair{Key: append([]byte(nil), it.key...)}
		if !keyOnly {
			p.Value = append([]byte{}, it.value...)
		}
		out = append(out, p)
		return len(out) < limit
	})
	invariants.Assert(len(out) <= limit, "raw scan over limit")
	return out
}

// RawScan is RawScan: forward [start_key, end_key) or reverse
// [end_key, start_key) descending; empty end_key is unbounded.
func (e *Engine) RawScan(req *kvrpcpb.RawScanRequest, now time.Time) *kvrpcpb.RawScanResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.RawScanResponse{}
	start, end := req.GetStartKey(), req.GetEndKey()
	// check_api_version_ranges on (start, end) as given: under API V2 both
	// ends must be present and in raw mode.
	if msg := e.checkAPIRange(req.GetContext(), true, start, end); msg != "" {
		resp.Kvs = []*kvrpcpb.KvPair{{Error: errAbort("%s", msg)}}
		return resp
	}
	t, msg := e.rawCF(req.GetCf())
	if msg != "" {
		resp.Kvs = []*kvrpcpb.KvPair{{Error: errAbort("%s", msg)}}
		return resp
	}
	resp.Kvs = e.rawScan(t, start, end, int(req.GetLimit()), req.GetKeyOnly(), req.GetReverse(), now)
	return resp
}

// RawBatchScan is RawBatchScan: each range scanned up to each_limit.
func (e *Engine) RawBatchScan(req *kvrpcpb.RawBatchScanRequest, now time.Time) *kvrpcpb.RawBatchScanResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.RawBatchScanResponse{}
	fail := func(msg string) *kvrpcpb.RawBatchScanResponse {
		resp.Kvs = []*kvrpcpb.KvPair{{Error: errAbort("%s", msg)}}
		return resp
	}
	ranges := req.GetRanges()
	for _, r := range ranges {
		if msg := e.checkAPIRange(req.GetContext(), true, r.GetStartKey(), r.GetEndKey()); msg != "" {
			return fail(msg)
		}
	}
	t, msg := e.rawCF(req.GetCf())
	if msg != "" {
		return fail(msg)
	}
	// An empty end key means the next range's start (unbounded for the
	// last range); ranges must go the scan's way (check_key_ranges).
	ends := make([][]byte, len(ranges))
	for i, r := range ranges {
		ends[i] = r.GetEndKey()
		if len(ends[i]) == 0 && i+1 < len(ranges) {
			ends[i] = ranges[i+1].GetStartKey()
		}
		c := bytes.Compare(r.GetStartKey(), ends[i])
		if len(ends[i]) > 0 && ((!req.GetReverse() && c >= 0) || (req.GetReverse() && c <= 0)) {
			return fail("Invalid KeyRanges")
		}
	}
	for i, r := range ranges {
		resp.Kvs = append(resp.Kvs, e.rawScan(t, r.GetStartKey(), ends[i], int(req.GetEachLimit()), req.GetKeyOnly(), req.GetReverse(), now)...)
	}
	return resp
}

// RawCompareAndSwap is RawCompareAndSwap (raw_compare_and_swap_atomic):
// succeeds when the key is absent and previous_not_exist is set, or present
// with value previous_value; then puts value (or deletes when delete is
// set). The response always carries the value seen.
func (e *Engine) RawCompareAndSwap(req *kvrpcpb.RawCASRequest, now time.Time) *kvrpcpb.RawCASResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.RawCASResponse{}
	t, msg := e.rawPrecheck(req.GetContext(), req.GetCf(), req.GetKey())
	if msg != "" {
		resp.Error = msg
		return resp
	}
	exp, msg := e.expireAt(req.GetTtl(), now)
	if msg != "" {
		resp.Error = msg
		return resp
	}
	it, ok := e.rawGet(t, req.GetKey(), now)
	resp.PreviousNotExist = !ok
	if ok {
		resp.PreviousValue = append([]byte{}, it.value...)
	}
	if ok == req.GetPreviousNotExist() || (ok && !bytes.Equal(it.value, req.GetPreviousValue())) {
		return resp
	}
	resp.Succeed = true
	if req.GetDelete() {
		e.rawDelete(t, req.GetKey())
	} else {
		t.ReplaceOrInsert(e.newRawItem(req.GetKey(), req.GetValue(), exp, false))
	}
	return resp
}

// RawGetKeyTTL is RawGetKeyTTL: remaining seconds (0 = no TTL).
func (e *Engine) RawGetKeyTTL(req *kvrpcpb.RawGetKeyTTLRequest, now time.Time) *kvrpcpb.RawGetKeyTTLResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.RawGetKeyTTLResponse{}
	t, msg := e.rawPrecheck(req.GetContext(), req.GetCf(), req.GetKey())
	if msg == "" && !e.ttlEnabled() {
		msg = errTTLNotEnabled
	}
	if msg != "" {
		resp.Error = msg
		return resp
	}
	it, ok := e.rawGet(t, req.GetKey(), now)
	resp.NotFound = !ok
	if ok && it.expireTS != 0 {
		resp.Ttl = it.expireTS - uint64(now.Unix())
	}
	return resp
}

// RawChecksum is RawChecksum with Crc64_Xor (raw_checksum_ranges): the XOR
// over live default-CF pairs of crc64(key ++ value), plus counts.
func (e *Engine) RawChecksum(req *kvrpcpb.RawChecksumRequest, now time.Time) *kvrpcpb.RawChecksumResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &kvrpcpb.RawChecksumResponse{}
	for _, r := range req.GetRanges() {
		if msg := e.checkAPIRange(req.GetContext(), true, r.GetStartKey(), r.GetEndKey()); msg != "" {
			resp.Error = msg
			return resp
		}
	}
	t, msg := e.rawCF("")
	invariants.Assert(msg == "", "default raw cf refused: %s", msg)
	for _, r := range req.GetRanges() {
		e.rawRange(t, r.GetStartKey(), r.GetEndKey(), false, now, false, func(it rawItem) bool {
			d := crc64.Update(0, crcTable, it.key)
			d = crc64.Update(d, crcTable, it.value)
			resp.Checksum ^= d
			resp.TotalKvs++
			resp.TotalBytes += uint64(len(it.key) + len(it.value))
			return true
		})
	}
	return resp
}
