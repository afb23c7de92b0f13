package mvcc

import (
	"bytes"
	"encoding/binary"

	"github.com/tikvsim/tikvsim/internal/invariants"
)

// encGroupSize and encMarker are the memcomparable byte encoding parameters
// of TiKV's codec (components/codec/src/byte.rs, MemComparableByteCodec):
// the key is cut into 8-byte groups, each padded with zeros and followed by a
// marker byte 0xFF - padding.
const (
	encGroupSize = 8
	encMarker    = 0xFF
	tsLen        = 8
)

// EncodeKey returns the memcomparable encoding of a user key, the form TiKV
// stores in every column family (txn_types::Key::from_raw). bytes.Compare on
// encoded keys orders them exactly as on the raw keys.
func EncodeKey(raw []byte) []byte {
	out := make([]byte, 0, (len(raw)/encGroupSize+1)*(encGroupSize+1)+tsLen)
	for i := 0; i <= len(raw); i += encGroupSize {
		rem := len(raw) - i
		if rem >= encGroupSize {
			out = append(out, raw[i:i+encGroupSize]...)
			out = append(out, encMarker)
			continue
		}
		pad := encGroupSize - rem
		out = append(out, raw[i:]...)
		for j := 0; j < pad; j++ {
			out = append(out, 0)
		}
		out = append(out, byte(encMarker-pad))
	}
	invariants.Assert(len(out)%(encGroupSize+1) == 0, "encoded key length %d not a multiple of 9", len(out))
	return out
}

// DecodeKey is the inverse of EncodeKey. It returns false on malformed input.
func DecodeKey(enc []byte) ([]byte, bool) {
	var out []byte
	for {
		if len(enc) < encGroupSize+1 {
			return nil, false
		}
		marker := enc[encGroupSize]
		pad := encMarker - int(marker)
		if pad > encGroupSize {
			return nil, false
		}
		out = append(out, enc[:encGroupSize-pad]...)
		enc = enc[encGroupSize+1:]
		if pad != 0 {
			return out, len(enc) == 0
		}
	}
}

// appendTS appends the version suffix TiKV uses (Key::append_ts): the
// bitwise NOT of ts in big endian, so that newer versions sort first.
func appendTS(enc []byte, ts uint64) []byte {
	out := make([]byte, len(enc), len(enc)+tsLen)
	copy(out, enc)
	return binary.BigEndian.AppendUint64(out, ^ts)
}

// splitTS splits a versioned key into its encoded user key and timestamp.
func splitTS(k []byte) ([]byte, uint64) {
	invariants.Assert(len(k) >= tsLen, "versioned key too short: %x", k)
	n := len(k) - tsLen
	return k[:n], ^binary.BigEndian.Uint64(k[n:])
}

// prefixNext returns the smallest key greater than every key that has k as
// a prefix, or nil when there is none.
func prefixNext(k []byte) []byte {
	out := append([]byte(nil), k...)
	for i := len(out) - 1; i >= 0; i-- {
		out[i]++
		if out[i] != 0 {
			return out[:i+1]
		}
	}
	return nil
}

// keyLess orders encoded keys.
func keyLess(a, b []byte) bool { return bytes.Compare(a, b) < 0 }
