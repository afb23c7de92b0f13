package mvcc

import (
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// Key modes of API V2 (components/api_version/src/api_v2.rs).
const (
	rawKeyPrefix     = 'r'
	txnKeyPrefix     = 'x'
	tidbMetaPrefix   = 'm'
	tidbTablePrefix  = 't'
	keyspacePrefixLn = 4 // mode byte + 3-byte keyspace id
)

type keyMode int

const (
	modeUnknown keyMode = iota
	modeRaw
	modeTxn
	modeTiDB
)

func parseKeyMode(k []byte) keyMode {
	if len(k) == 0 {
		return modeUnknown
	}
	switch k[0] {
	case rawKeyPrefix:
		return modeRaw
	case txnKeyPrefix:
		return modeTxn
	case tidbMetaPrefix, tidbTablePrefix:
		return modeTiDB
	}
	return modeUnknown
}

// parseRangeMode is ApiV2::parse_range_mode: both ends must be non-empty and
// in the same mode (or end = [mode+1]).
func parseRangeMode(start, end []byte) keyMode {
	if len(start) > 0 && len(end) > 0 && (start[0] == end[0] || (len(end) == 1 && end[0] == start[0]+1)) {
		return parseKeyMode(start)
	}
	return modeUnknown
}

func apiVersionOf(ctx *kvrpcpb.Context) kvrpcpb.APIVersion {
	if ctx == nil {
		return kvrpcpb.APIVersion_V1
	}
	return ctx.ApiVersion
}

// checkAPIVersion is Storage::check_api_version (src/storage/mod.rs). It
// returns "" when the request is allowed, else TiKV's error message.
func (e *Engine) checkAPIVersion(ctx *kvrpcpb.Context, raw bool, keys [][]byte) string {
	st, rq := e.cfg.APIVersion, apiVersionOf(ctx)
	want := modeTxn
	if raw {
		want = modeRaw
	}
	switch {
	case st == kvrpcpb.APIVersion_V1 && rq == kvrpcpb.APIVersion_V1:
		return ""
	case st == kvrpcpb.APIVersion_V1TTL && rq == kvrpcpb.APIVersion_V1 && raw:
		return ""
	case st == kvrpcpb.APIVersion_V2 && rq == kvrpcpb.APIVersion_V1 && !raw:
		want = modeTiDB
	case st == kvrpcpb.APIVersion_V2 && rq == kvrpcpb.APIVersion_V2:
	default:
		return fmt.Sprintf("Api version in request does not match with TiKV storage, storage: %v, request: %v", st, rq)
	}
	for _, k := range keys {
		if parseKeyMode(k) != want {
			return fmt.Sprintf("Key mode mismatched with the request mode, storage: %v, key: %X", st, k)
		}
	}
	return ""
}

// checkAPIRange is Storage::check_api_version_ranges.
func (e *Engine) checkAPIRange(ctx *kvrpcpb.Context, raw bool, start, end []byte) string {
	st, rq := e.cfg.APIVersion, apiVersionOf(ctx)
	want := modeTxn
	if raw {
		want = modeRaw
	}
	switch {
	case st == kvrpcpb.APIVersion_V1 && rq == kvrpcpb.APIVersion_V1:
		return ""
	case st == kvrpcpb.APIVersion_V1TTL && rq == kvrpcpb.APIVersion_V1 && raw:
		return ""
	case st == kvrpcpb.APIVersion_V2 && rq == kvrpcpb.APIVersion_V1 && !raw:
		want = modeTiDB
	case st == kvrpcpb.APIVersion_V2 && rq == kvrpcpb.APIVersion_V2:
	default:
		return fmt.Sprintf("Api version in request does not match with TiKV storage, storage: %v, request: %v", st, rq)
	}
	if parseRangeMode(start, end) != want {
		return fmt.Sprintf("Key mode mismatched with the request mode, storage: %v, range: (%X, %X)", st, start, end)
	}
	return ""
}

func (e *Engine) checkTxnKeys(ctx *kvrpcpb.Context, keys ...[]byte) *kvrpcpb.KeyError {
	if msg := e.checkAPIVersion(ctx, false, keys); msg != "" {
		return errAbort("%s", msg)
	}
	return nil
}

// checkTxnRange checks a scan range as Storage::scan does: on the encoded
// keys, (start, end) as given whatever the direction, an empty end being
// absent (so an unbounded V2 scan is refused).
func (e *Engine) checkTxnRange(ctx *kvrpcpb.Context, start, end []byte, reverse bool) *kvrpcpb.KeyError {
	var endEnc []byte
	if len(end) > 0 {
		endEnc = EncodeKey(end)
	}
	if msg := e.checkAPIRange(ctx, false, EncodeKey(start), endEnc); msg != "" {
		return errAbort("%s", msg)
	}
	return nil
}

// CheckAPIVersion is Storage::check_api_version for a request's context and
// keys, raw or transactional, as the storage layer runs it before any read
// or write reaches the region: "" when the request is allowed, else TiKV's
// message (ApiVersionNotMatched or InvalidKeyMode).
func (e *Engine) CheckAPIVersion(ctx *kvrpcpb.Context, raw bool, keys [][]byte) string {
	return e.checkAPIVersion(ctx, raw, keys)
}

// CheckAPIRange is Storage::check_api_version_ranges for one range, given as
// the request carries it ((start, end), whatever the direction). A
// transactional range is checked on its encoded keys, as Storage::scan does.
func (e *Engine) CheckAPIRange(ctx *kvrpcpb.Context, raw bool, start, end []byte) string {
	if !raw {
		var endEnc []byte
		if len(end) > 0 {
			endEnc = EncodeKey(end)
		}
		start, end = EncodeKey(start), endEnc
	}
	return e.checkAPIRange(ctx, raw, start, end)
}
