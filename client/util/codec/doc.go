// Package codec owns the order-preserving ("memcomparable") byte encodings the
// client shares with TiKV and PD: byte strings (EncodeBytes, the format region
// boundaries use when keys are transactional or API V2), fixed-width and
// variable-width integers, and floats.
//
// Every Encode* function appends to its first argument and returns the
// extended slice, like strconv.Append*. Every Decode* function returns the
// bytes left after the value, the value, and an error that wraps
// ErrInsufficient or ErrInvalid. An encoding named comparable (or not marked
// otherwise) guarantees bytes.Compare(Encode(a), Encode(b)) has the sign of
// the comparison of a and b; the *Desc variants reverse it.
//
// The formats mirror client-go util/codec (bytes.go, number.go) and TiDB's
// util/codec float encoding. Unlike client-go, DecodeComparableVarint consumes
// the tag byte of single-byte values too.
package codec

import "errors"

// ErrInsufficient is wrapped by decode errors caused by input that ends
// before the value does.
var ErrInsufficient = errors.New("codec: insufficient bytes to decode value")

// ErrInvalid is wrapped by decode errors caused by input that is not a valid
// encoding (bad marker, bad padding, bad tag, overflow).
var ErrInvalid = errors.New("codec: invalid bytes to decode value")
