package codec

import (
	"bytes"
	"cmp"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestEncodeBytesExamples(t *testing.T) {
	// The examples of client-go util/codec/bytes.go.
	for _, tc := range []struct{ in, want []byte }{
		{[]byte{}, []byte{0, 0, 0, 0, 0, 0, 0, 0, 247}},
		{[]byte{1, 2, 3}, []byte{1, 2, 3, 0, 0, 0, 0, 0, 250}},
		{[]byte{1, 2, 3, 0}, []byte{1, 2, 3, 0, 0, 0, 0, 0, 251}},
		{[]byte{1, 2, 3, 4, 5, 6, 7, 8}, []byte{1, 2, 3, 4, 5, 6, 7, 8, 255, 0, 0, 0, 0, 0, 0, 0, 0, 247}},
		{[]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, []byte{1, 2, 3, 4, 5, 6, 7, 8, 255, 9, 0, 0, 0, 0, 0, 0, 0, 248}},
	} {
		got := EncodeBytes(nil, tc.in)
		require.Equal(t, tc.want, got)
		require.Len(t, got, EncodedBytesLen(len(tc.in)))
		rest, dec, err := DecodeBytes(append(got, 'z'), nil)
		require.NoError(t, err)
		require.Equal(t, tc.in, dec)
		require.Equal(t, []byte("z"), rest)
	}
}

func TestEncodeBytesAppends(t *testing.T) {
	prefix := make([]byte, 2, 64)
	prefix[0], prefix[1] = 'a', 'b'
	got := EncodeBytes(prefix, []byte("k"))
	require.Equal(t, []byte("ab"), got[:2])
	require.Equal(t, &prefix[:1][0], &got[:1][0], "reuses spare capacity")
	got = EncodeBytes([]byte("ab"), []byte("k")) // no spare capacity
	require.Equal(t, append([]byte("ab"), EncodeBytes(nil, []byte("k"))...), got)
}

func TestDecodeBytesErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		desc bool
		want error
	}{
		{"empty", nil, false, ErrInsufficient},
		{"short group", []byte{1, 2, 3}, false, ErrInsufficient},
		{"missing last group", []byte{1, 2, 3, 4, 5, 6, 7, 8, 255}, false, ErrInsufficient},
		{"bad marker", []byte{0, 0, 0, 0, 0, 0, 0, 0, 200}, false, ErrInvalid},
		{"bad padding", []byte{1, 2, 3, 0, 0, 0, 1, 0, 250}, false, ErrInvalid},
		{"desc bad marker", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 20}, true, ErrInvalid},
		{"desc bad padding", []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 7}, true, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dec := DecodeBytes
			if tc.desc {
				dec = DecodeBytesDesc
			}
			_, _, err := dec(tc.in, nil)
			require.ErrorIs(t, err, tc.want)
		})
	}
}

func TestDecodeBytesReusesBuf(t *testing.T) {
	buf := make([]byte, 0, 32)
	_, v, err := DecodeBytes(EncodeBytes(nil, []byte("hello")), buf)
	require.NoError(t, err)
	require.Equal(t, "hello", string(v))
	require.Equal(t, &buf[:1][0], &v[0])
}

// sign returns -1, 0 or 1.
func sign(c int) int { return cmp.Compare(c, 0) }

func TestBytesProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "a")
		b := rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "b")
		ea, eb := EncodeBytes(nil, a), EncodeBytes(nil, b)
		if sign(bytes.Compare(ea, eb)) != sign(bytes.Compare(a, b)) {
			t.Fatalf("order: %x vs %x encode to %x vs %x", a, b, ea, eb)
		}
		da, db := EncodeBytesDesc(nil, a), EncodeBytesDesc(nil, b)
		if sign(bytes.Compare(da, db)) != -sign(bytes.Compare(a, b)) {
			t.Fatalf("desc order: %x vs %x", a, b)
		}
		// Concatenations decode back in sequence.
		rest, got, err := DecodeBytes(append(ea, eb...), nil)
		if err != nil || !bytes.Equal(got, a) {
			t.Fatalf("decode a: %v %x", err, got)
		}
		rest, got, err = DecodeBytes(rest, nil)
		if err != nil || !bytes.Equal(got, b) || len(rest) != 0 {
			t.Fatalf("decode b: %v %x %x", err, got, rest)
		}
		rest, got, err = DecodeBytesDesc(da, nil)
		if err != nil || !bytes.Equal(got, a) || len(rest) != 0 {
			t.Fatalf("decode desc: %v %x", err, got)
		}
	})
}

func TestNumberProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b := rapid.Int64().Draw(t, "a"), rapid.Int64().Draw(t, "b")
		ua, ub := rapid.Uint64().Draw(t, "ua"), rapid.Uint64().Draw(t, "ub")
		c := cmp.Compare(a, b)
		uc := cmp.Compare(ua, ub)
		check := func(name string, ea, eb []byte, want int) {
			if sign(bytes.Compare(ea, eb)) != want {
				t.Fatalf("%s: order of %x vs %x, want %d", name, ea, eb, want)
			}
		}
		check("int", EncodeInt(nil, a), EncodeInt(nil, b), c)
		check("int desc", EncodeIntDesc(nil, a), EncodeIntDesc(nil, b), -c)
		check("uint", EncodeUint(nil, ua), EncodeUint(nil, ub), uc)
		check("uint desc", EncodeUintDesc(nil, ua), EncodeUintDesc(nil, ub), -uc)
		check("cmp varint", EncodeComparableVarint(nil, a), EncodeComparableVarint(nil, b), c)
		check("cmp uvarint", EncodeComparableUvarint(nil, ua), EncodeComparableUvarint(nil, ub), uc)

		roundTrip(t, "int", a, EncodeInt, DecodeInt)
		roundTrip(t, "int desc", a, EncodeIntDesc, DecodeIntDesc)
		roundTrip(t, "uint", ua, EncodeUint, DecodeUint)
		roundTrip(t, "uint desc", ua, EncodeUintDesc, DecodeUintDesc)
		roundTrip(t, "varint", a, EncodeVarint, DecodeVarint)
		roundTrip(t, "uvarint", ua, EncodeUvarint, DecodeUvarint)
		roundTrip(t, "cmp varint", a, EncodeComparableVarint, DecodeComparableVarint)
		roundTrip(t, "cmp uvarint", ua, EncodeComparableUvarint, DecodeComparableUvarint)
		if DecodeCmpUintToInt(EncodeIntToCmpUint(a)) != a {
			t.Fatalf("cmp uint round trip %d", a)
		}
	})
}

func TestFloatProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b := rapid.Float64().Draw(t, "a"), rapid.Float64().Draw(t, "b")
		if math.IsNaN(a) || math.IsNaN(b) {
			t.Skip("NaN has no order")
		}
		c := cmp.Compare(a, b)
		if got := sign(bytes.Compare(EncodeFloat(nil, a), EncodeFloat(nil, b))); got != c {
			t.Fatalf("float order %v vs %v: got %d want %d", a, b, got, c)
		}
		if got := sign(bytes.Compare(EncodeFloatDesc(nil, a), EncodeFloatDesc(nil, b))); got != -c {
			t.Fatalf("float desc order %v vs %v", a, b)
		}
		roundTripBits(t, a, EncodeFloat, DecodeFloat)
		roundTripBits(t, a, EncodeFloatDesc, DecodeFloatDesc)
	})
}

func roundTripBits(t *rapid.T, v float64, enc func([]byte, float64) []byte, dec func([]byte) ([]byte, float64, error)) {
	if v == 0 {
		v = 0 // -0 decodes as +0
	}
	rest, got, err := dec(enc(nil, v))
	if err != nil || math.Float64bits(got) != math.Float64bits(v) || len(rest) != 0 {
		t.Fatalf("float round trip %v: %v %v", v, got, err)
	}
}

func roundTrip[T comparable](t *rapid.T, name string, v T, enc func([]byte, T) []byte, dec func([]byte) ([]byte, T, error)) {
	e := enc([]byte("p"), v)
	rest, got, err := dec(append(e[1:], 'x'))
	if err != nil || got != v || string(rest) != "x" {
		t.Fatalf("%s: round trip of %v: got %v rest %q err %v", name, v, got, rest, err)
	}
}

func TestComparableVarintGolden(t *testing.T) {
	// Byte-exact with client-go util/codec/number.go.
	for _, tc := range []struct {
		v    int64
		want []byte
	}{
		{0, []byte{8}},
		{239, []byte{247}},
		{240, []byte{248, 240}},
		{255, []byte{248, 255}},
		{256, []byte{249, 1, 0}},
		{-1, []byte{7, 0xff}},
		{-255, []byte{7, 0x01}},
		{-256, []byte{6, 0xff, 0x00}},
		{-0xffff, []byte{6, 0x00, 0x01}},
		{math.MinInt64, []byte{0, 0x80, 0, 0, 0, 0, 0, 0, 0}},
		{math.MaxInt64, []byte{255, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	} {
		require.Equal(t, tc.want, EncodeComparableVarint(nil, tc.v), "%d", tc.v)
	}
	require.Equal(t, []byte{255, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, EncodeComparableUvarint(nil, math.MaxUint64))
}

func TestNumberDecodeErrors(t *testing.T) {
	short := []byte{1, 2, 3}
	for name, f := range map[string]func([]byte) error{
		"int":         func(b []byte) error { _, _, err := DecodeInt(b); return err },
		"int desc":    func(b []byte) error { _, _, err := DecodeIntDesc(b); return err },
		"uint":        func(b []byte) error { _, _, err := DecodeUint(b); return err },
		"uint desc":   func(b []byte) error { _, _, err := DecodeUintDesc(b); return err },
		"float":       func(b []byte) error { _, _, err := DecodeFloat(b); return err },
		"float desc":  func(b []byte) error { _, _, err := DecodeFloatDesc(b); return err },
		"varint":      func(b []byte) error { _, _, err := DecodeVarint(b[:0]); return err },
		"uvarint":     func(b []byte) error { _, _, err := DecodeUvarint(b[:0]); return err },
		"cmp varint":  func(b []byte) error { _, _, err := DecodeComparableVarint(b[:0]); return err },
		"cmp uvarint": func(b []byte) error { _, _, err := DecodeComparableUvarint(b[:0]); return err },
	} {
		require.ErrorIs(t, f(short), ErrInsufficient, name)
	}
	overflow := bytes.Repeat([]byte{0xff}, 11)
	_, _, err := DecodeVarint(overflow)
	require.ErrorIs(t, err, ErrInvalid)
	_, _, err = DecodeUvarint(overflow)
	require.ErrorIs(t, err, ErrInvalid)

	for _, tc := range []struct {
		name string
		in   []byte
		want error
		u    bool
	}{
		{"uvarint negative tag", []byte{3, 1, 2, 3}, ErrInvalid, true},
		{"uvarint truncated", []byte{250, 1}, ErrInsufficient, true},
		{"varint truncated", []byte{250, 1}, ErrInsufficient, false},
		{"varint positive overflow", []byte{255, 0x80, 0, 0, 0, 0, 0, 0, 0}, ErrInvalid, false},
		{"varint negative underflow", []byte{0, 0x7f, 0, 0, 0, 0, 0, 0, 0}, ErrInvalid, false},
	} {
		var err error
		if tc.u {
			_, _, err = DecodeComparableUvarint(tc.in)
		} else {
			_, _, err = DecodeComparableVarint(tc.in)
		}
		require.True(t, errors.Is(err, tc.want), "%s: %v", tc.name, err)
	}
}
