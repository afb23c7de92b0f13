package codec

import "fmt"

const (
	encGroupSize = 8
	encMarker    = byte(0xFF)
	encPad       = byte(0x0)
)

// EncodedBytesLen returns the length of EncodeBytes(nil, data) for a data of
// length n.
func EncodedBytesLen(n int) int { return (n/encGroupSize + 1) * (encGroupSize + 1) }

// EncodeBytes appends the memcomparable encoding of data to b.
//
// data is cut into groups of 8 bytes; the last group is padded with zeros and
// always present (so an empty input still encodes to one group). Each group is
// followed by a marker byte 0xFF minus the count of padding bytes:
//
//	[]             -> [0 0 0 0 0 0 0 0 247]
//	[1 2 3]        -> [1 2 3 0 0 0 0 0 250]
//	[1 2 3 4 5 6 7 8] -> [1 2 3 4 5 6 7 8 255 0 0 0 0 0 0 0 0 247]
//
// See client-go util/codec/bytes.go and the MyRocks memcomparable format.
func EncodeBytes(b, data []byte) []byte {
	b = grow(b, EncodedBytesLen(len(data)))
	for i := 0; i <= len(data); i += encGroupSize {
		if remain := len(data) - i; remain >= encGroupSize {
			b = append(b, data[i:i+encGroupSize]...)
			b = append(b, encMarker)
		} else {
			pad := encGroupSize - remain
			b = append(b, data[i:]...)
			for range pad {
				b = append(b, encPad)
			}
			b = append(b, encMarker-byte(pad))
		}
	}
	return b
}

// EncodeBytesDesc appends an encoding of data to b that sorts in descending
// order: the bitwise complement of EncodeBytes.
func EncodeBytesDesc(b, data []byte) []byte {
	n := len(b)
	b = EncodeBytes(b, data)
	invert(b[n:])
	return b
}

// DecodeBytes decodes a value written by EncodeBytes at the start of b. It
// returns the rest of b and the value. The value is appended to buf[:0]
// (pass nil to allocate); it never aliases b.
func DecodeBytes(b, buf []byte) (rest, data []byte, err error) {
	return decodeBytes(b, buf, false)
}

// DecodeBytesDesc decodes a value written by EncodeBytesDesc.
func DecodeBytesDesc(b, buf []byte) (rest, data []byte, err error) {
	return decodeBytes(b, buf, true)
}

func decodeBytes(b, buf []byte, desc bool) ([]byte, []byte, error) {
	if buf == nil {
		buf = make([]byte, 0, len(b))
	}
	buf = buf[:0]
	for {
		if len(b) < encGroupSize+1 {
			return nil, nil, fmt.Errorf("decode bytes: %w", ErrInsufficient)
		}
		group, marker := b[:encGroupSize], b[encGroupSize]
		pad, padByte := encMarker-marker, encPad
		if desc {
			pad, padByte = marker, encMarker
		}
		if pad > encGroupSize {
			return nil, nil, fmt.Errorf("decode bytes: marker %#x in group %q: %w", marker, b[:encGroupSize+1], ErrInvalid)
		}
		real := encGroupSize - int(pad)
		for _, c := range group[real:] {
			if c != padByte {
				return nil, nil, fmt.Errorf("decode bytes: padding in group %q: %w", b[:encGroupSize+1], ErrInvalid)
			}
		}
		buf = append(buf, group[:real]...)
		b = b[encGroupSize+1:]
		if pad != 0 {
			break
		}
	}
	if desc {
		invert(buf)
	}
	return b, buf, nil
}

func invert(b []byte) {
	for i := range b {
		b[i] = ^b[i]
	}
}

// grow makes room for n more bytes after len(b).
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), len(b)+n)
	copy(nb, b)
	return nb
}
