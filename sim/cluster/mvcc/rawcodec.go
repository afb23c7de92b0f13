package mvcc

import (
	"encoding/binary"
	"errors"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/internal/invariants"
)

// RawValue is api_version::RawValue: a raw KV value as the storage layer
// sees it.
type RawValue struct {
	UserValue []byte
	// ExpireTS is the absolute expiry in Unix seconds; 0 means none.
	ExpireTS uint64
	// Deleted marks an API V2 logical-delete tombstone.
	Deleted bool
}

// V2 value meta flags (components/api_version/src/api_v2.rs ValueMeta).
const (
	rawV2ExpireTS = 0b01
	rawV2Delete   = 0b10
)

// ErrRawValue is returned for a malformed encoded raw value.
var ErrRawValue = errors.New("mvcc: malformed raw value")

// EncodeRawValue encodes v the way TiKV stores raw values for an API
// version: V1 stores the user value as is; V1TTL appends the expire ts (8
// bytes big endian, 0 = none; api_v1ttl.rs); V2 appends the expire ts only
// when set, then one meta byte with EXPIRE_TS and DELETE_FLAG bits
// (api_v2.rs).
func EncodeRawValue(api kvrpcpb.APIVersion, v RawValue) []byte {
	out := append([]byte(nil), v.UserValue...)
	switch api {
	case kvrpcpb.APIVersion_V1TTL:
		out = binary.BigEndian.AppendUint64(out, v.ExpireTS)
	case kvrpcpb.APIVersion_V2:
		var meta byte
		if v.ExpireTS != 0 {
			out = binary.BigEndian.AppendUint64(out, v.ExpireTS)
			meta |= rawV2ExpireTS
		}
		if v.Deleted {
			meta |= rawV2Delete
		}
		out = append(out, meta)
	}
	return out
}

// DecodeRawValue is the inverse of EncodeRawValue.
func DecodeRawValue(api kvrpcpb.APIVersion, b []byte) (RawValue, error) {
	switch api {
	case kvrpcpb.APIVersion_V1TTL:
		if len(b) < 8 {
			return RawValue{}, ErrRawValue
		}
		n := len(b) - 8
		return RawValue{UserValue: b[:n], ExpireTS: binary.BigEndian.Uint64(b[n:])}, nil
	case kvrpcpb.APIVersion_V2:
		if len(b) < 1 {
			return RawValue{}, ErrRawValue
		}
		n := len(b) - 1
		meta := b[n]
		if meta&^(rawV2ExpireTS|rawV2Delete) != 0 {
			return RawValue{}, ErrRawValue
		}
		v := RawValue{Deleted: meta&rawV2Delete != 0}
		if meta&rawV2ExpireTS != 0 {
			if n < 8 {
				return RawValue{}, ErrRawValue
			}
			n -= 8
			v.ExpireTS = binary.BigEndian.Uint64(b[n:])
		}
		v.UserValue = b[:n]
		return v, nil
	}
	return RawValue{UserValue: b}, nil
}

// newRawItem builds a raw entry whose stored bytes are TiKV's encoding for
// the engine's API version; the decoded view is what commands read.
func (e *Engine) newRawItem(key, value []byte, expireTS uint64, deleted bool) rawItem {
	stored := EncodeRawValue(e.cfg.APIVersion, RawValue{UserValue: value, ExpireTS: expireTS, Deleted: deleted})
	rv, err := DecodeRawValue(e.cfg.APIVersion, stored)
	invariants.Assert(err == nil && string(rv.UserValue) == string(value) && rv.Deleted == deleted, "raw value codec round trip: %v", err)
	if e.cfg.APIVersion == kvrpcpb.APIVersion_V1 {
		invariants.Assert(expireTS == 0, "V1 raw value with a TTL")
	}
	return rawItem{key: append([]byte(nil), key...), value: append([]byte{}, rv.UserValue...), expireTS: rv.ExpireTS, deleted: rv.Deleted, stored: stored}
}
