package codec

import (
	"encoding/binary"
	"fmt"
	"math"
)

const signMask uint64 = 1 << 63

// EncodeIntToCmpUint maps v to a uint64 with the same order (flips the sign
// bit).
func EncodeIntToCmpUint(v int64) uint64 { return uint64(v) ^ signMask }

// DecodeCmpUintToInt inverts EncodeIntToCmpUint.
func DecodeCmpUintToInt(u uint64) int64 { return int64(u ^ signMask) }

// EncodeInt appends the 8-byte comparable encoding of v to b.
func EncodeInt(b []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(b, EncodeIntToCmpUint(v))
}

// EncodeIntDesc appends the 8-byte descending encoding of v to b.
func EncodeIntDesc(b []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(b, ^EncodeIntToCmpUint(v))
}

// DecodeInt decodes a value written by EncodeInt.
func DecodeInt(b []byte) ([]byte, int64, error) {
	rest, u, err := decodeUint64(b, "int")
	return rest, DecodeCmpUintToInt(u), err
}

// DecodeIntDesc decodes a value written by EncodeIntDesc.
func DecodeIntDesc(b []byte) ([]byte, int64, error) {
	rest, u, err := decodeUint64(b, "int desc")
	return rest, DecodeCmpUintToInt(^u), err
}

// EncodeUint appends the 8-byte big-endian (comparable) encoding of v to b.
func EncodeUint(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

// EncodeUintDesc appends the 8-byte descending encoding of v to b.
func EncodeUintDesc(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, ^v) }

// DecodeUint decodes a value written by EncodeUint.
func DecodeUint(b []byte) ([]byte, uint64, error) { return decodeUint64(b, "uint") }

// DecodeUintDesc decodes a value written by EncodeUintDesc.
func DecodeUintDesc(b []byte) ([]byte, uint64, error) {
	rest, u, err := decodeUint64(b, "uint desc")
	return rest, ^u, err
}

func decodeUint64(b []byte, what string) ([]byte, uint64, error) {
	if len(b) < 8 {
		return nil, 0, fmt.Errorf("decode %s: %w", what, ErrInsufficient)
	}
	return b[8:], binary.BigEndian.Uint64(b), nil
}

// EncodeFloat appends the 8-byte comparable encoding of v to b: non-negative
// numbers get their sign bit set, negative numbers are complemented, so the
// IEEE-754 bit patterns sort as the numbers do. -0 encodes as +0; NaN
// patterns sort outside ±Inf. It is TiDB's util/codec float encoding.
func EncodeFloat(b []byte, v float64) []byte { return EncodeUint(b, floatToCmpUint(v)) }

// EncodeFloatDesc appends the descending encoding of v to b.
func EncodeFloatDesc(b []byte, v float64) []byte { return EncodeUint(b, ^floatToCmpUint(v)) }

// DecodeFloat decodes a value written by EncodeFloat.
func DecodeFloat(b []byte) ([]byte, float64, error) {
	rest, u, err := decodeUint64(b, "float")
	return rest, cmpUintToFloat(u), err
}

// DecodeFloatDesc decodes a value written by EncodeFloatDesc.
func DecodeFloatDesc(b []byte) ([]byte, float64, error) {
	rest, u, err := decodeUint64(b, "float desc")
	return rest, cmpUintToFloat(^u), err
}

func floatToCmpUint(f float64) uint64 {
	u := math.Float64bits(f)
	if f >= 0 { // true for -0 too: both zeros encode as +0

		return u | signMask
	}
	return ^u
}

func cmpUintToFloat(u uint64) float64 {
	if u&signMask != 0 {
		return math.Float64frombits(u &^ signMask)
	}
	return math.Float64frombits(^u)
}

// EncodeVarint appends the zig-zag varint encoding of v (encoding/binary) to
// b. It is compact but not comparable.
func EncodeVarint(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

// DecodeVarint decodes a value written by EncodeVarint.
func DecodeVarint(b []byte) ([]byte, int64, error) {
	v, n := binary.Varint(b)
	return varintResult(b, v, n, "varint")
}

// EncodeUvarint appends the varint encoding of v (encoding/binary) to b. It
// is compact but not comparable.
func EncodeUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

// DecodeUvarint decodes a value written by EncodeUvarint.
func DecodeUvarint(b []byte) ([]byte, uint64, error) {
	v, n := binary.Uvarint(b)
	return varintResult(b, v, n, "uvarint")
}

func varintResult[T int64 | uint64](b []byte, v T, n int, what string) ([]byte, T, error) {
	switch {
	case n > 0:
		return b[n:], v, nil
	case n < 0:
		return nil, 0, fmt.Errorf("decode %s: value larger than 64 bits: %w", what, ErrInvalid)
	default:
		return nil, 0, fmt.Errorf("decode %s: %w", what, ErrInsufficient)
	}
}

// Tags of the comparable varint encodings: a first byte below negativeTagEnd
// starts a negative number of (negativeTagEnd - tag) bytes, a first byte above
// positiveTagStart starts a positive number of (tag - positiveTagStart) bytes,
// and any byte in between is a small non-negative value by itself
// (value + negativeTagEnd), which covers 0..239.
const (
	negativeTagEnd   = 8
	positiveTagStart = 0xff - 8
)

// EncodeComparableVarint appends a variable-length comparable encoding of v
// to b: small non-negative values take one byte, others a tag byte plus the
// shortest big-endian form.
func EncodeComparableVarint(b []byte, v int64) []byte {
	if v >= 0 {
		return EncodeComparableUvarint(b, uint64(v))
	}
	// A negative value with n significant bytes: all higher bytes are 0xff.
	n := 8
	for n > 1 && v > -(int64(1)<<(8*(n-1))) {
		n--
	}
	b = append(b, byte(negativeTagEnd-n))
	return appendLowBytes(b, uint64(v), n)
}

// EncodeComparableUvarint appends a variable-length comparable encoding of v
// to b.
func EncodeComparableUvarint(b []byte, v uint64) []byte {
	if v <= positiveTagStart-negativeTagEnd {
		return append(b, byte(v)+negativeTagEnd)
	}
	n := 1
	for n < 8 && v>>(8*n) != 0 {
		n++
	}
	b = append(b, byte(positiveTagStart+n))
	return appendLowBytes(b, v, n)
}

func appendLowBytes(b []byte, v uint64, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// DecodeComparableUvarint decodes a value written by EncodeComparableUvarint.
func DecodeComparableUvarint(b []byte) ([]byte, uint64, error) {
	if len(b) == 0 {
		return nil, 0, fmt.Errorf("decode comparable uvarint: %w", ErrInsufficient)
	}
	first := b[0]
	b = b[1:]
	switch {
	case first < negativeTagEnd:
		return nil, 0, fmt.Errorf("decode comparable uvarint: negative tag %d: %w", first, ErrInvalid)
	case first <= positiveTagStart:
		return b, uint64(first) - negativeTagEnd, nil
	}
	n := int(first) - positiveTagStart
	if len(b) < n {
		return nil, 0, fmt.Errorf("decode comparable uvarint: %w", ErrInsufficient)
	}
	var v uint64
	for _, c := range b[:n] {
		v = v<<8 | uint64(c)
	}
	return b[n:], v, nil
}

// DecodeComparableVarint decodes a value written by EncodeComparableVarint.
func DecodeComparableVarint(b []byte) ([]byte, int64, error) {
	if len(b) == 0 {
		return nil, 0, fmt.Errorf("decode comparable varint: %w", ErrInsufficient)
	}
	first := b[0]
	b = b[1:]
	if first >= negativeTagEnd && first <= positiveTagStart {
		return b, int64(first) - negativeTagEnd, nil
	}
	var n int
	var v uint64
	if first < negativeTagEnd {
		n = negativeTagEnd - int(first)
		v = math.MaxUint64 // the bytes not written are all ones
	} else {
		n = int(first) - positiveTagStart
	}
	if len(b) < n {
		return nil, 0, fmt.Errorf("decode comparable varint: %w", ErrInsufficient)
	}
	for _, c := range b[:n] {
		v = v<<8 | uint64(c)
	}
	if (first > positiveTagStart && v > math.MaxInt64) || (first < negativeTagEnd && v <= math.MaxInt64) {
		return nil, 0, fmt.Errorf("decode comparable varint: out of range: %w", ErrInvalid)
	}
	return b[n:], int64(v), nil
}
