// Package farm is farmhash's Fingerprint64, the key hash TiKV and
// client-go agree on for deadlock reports: the client compares it with
// Deadlock.deadlock_key_hash, the fake TiKV computes it.
package farm

import (
	"encoding/binary"
	"math/bits"
)

// Fingerprint64 is farmhash's Fingerprint64 (farmhashna::Hash64), the key
// hash TiKV's deadlock detector uses (components/txn_types/src/types.rs
// Key::gen_hash) and client-go compares against Deadlock.deadlock_key_hash.
// Written from the published farmhash algorithm.
func Fingerprint64(s []byte) uint64 {
	n := len(s)
	switch {
	case n <= 16:
		return farmLen0to16(s)
	case n <= 32:
		return farmLen17to32(s)
	case n <= 64:
		return farmLen33to64(s)
	}
	const seed = 81
	x := uint64(seed)
	y := x*farmK1 + 113
	z := farmShiftMix(y*farmK2+113) * farmK2
	var v1, v2, w1, w2 uint64
	x = x*farmK2 + f64(s, 0)
	end := ((n - 1) / 64) * 64
	last64 := s[end+((n-1)&63)-63:]
	p := s
	for off := 0; off < end; off += 64 {
		q := p[off:]
		x = bits.RotateLeft64(x+y+v1+f64(q, 8), -37) * farmK1
		y = bits.RotateLeft64(y+v2+f64(q, 48), -42) * farmK1
		x ^= w2
		y += v1 + f64(q, 40)
		z = bits.RotateLeft64(z+w1, -33) * farmK1
		v1, v2 = farmWeak32(q, v2*farmK1, x+w1)
		w1, w2 = farmWeak32(q[32:], z+w2, y+f64(q, 16))
		x, z = z, x
	}
	mul := farmK1 + ((z & 0xff) << 1)
	q := last64
	w1 += uint64((n - 1) & 63)
	v1 += w1
	w1 += v1
	x = bits.RotateLeft64(x+y+v1+f64(q, 8), -37) * mul
	y = bits.RotateLeft64(y+v2+f64(q, 48), -42) * mul
	x ^= w2 * 9
	y += v1*9 + f64(q, 40)
	z = bits.RotateLeft64(z+w1, -33) * mul
	v1, v2 = farmWeak32(q, v2*mul, x+w1)
	w1, w2 = farmWeak32(q[32:], z+w2, y+f64(q, 16))
	x, z = z, x
	return farmLen16Mul(farmLen16Mul(v1, w1, mul)+farmShiftMix(y)*farmK0+z, farmLen16Mul(v2, w2, mul)+x, mul)
}

const (
	farmK0 uint64 = 0xc3a5c85c97cb3127
	farmK1 uint64 = 0xb492b66fbe98f273
	farmK2 uint64 = 0x9ae16a3b2f90404f
)

func f64(s []byte, i int) uint64 { return binary.LittleEndian.Uint64(s[i:]) }
func f32(s []byte, i int) uint32 { return binary.LittleEndian.Uint32(s[i:]) }

func farmShiftMix(v uint64) uint64 { return v ^ (v >> 47) }

func farmLen16Mul(u, v, mul uint64) uint64 {
	a := (u ^ v) * mul
	a ^= a >> 47
	b := (v ^ a) * mul
	b ^= b >> 47
	return b * mul
}

func farmLen0to16(s []byte) uint64 {
	n := uint64(len(s))
	if n >= 8 {
		mul := farmK2 + n*2
		a := f64(s, 0) + farmK2
		b := f64(s, int(n-8))
		c := bits.RotateLeft64(b, -37)*mul + a
		d := (bits.RotateLeft64(a, -25) + b) * mul
		return farmLen16Mul(c, d, mul)
	}
	if n >= 4 {
		mul := farmK2 + n*2
		a := uint64(f32(s, 0))
		return farmLen16Mul(n+(a<<3), uint64(f32(s, int(n-4))), mul)
	}
	if n > 0 {
		a, b, c := s[0], s[n>>1], s[n-1]
		y := uint32(a) + uint32(b)<<8
		z := uint32(n) + uint32(c)<<2
		return farmShiftMix(uint64(y)*farmK2^uint64(z)*farmK0) * farmK2
	}
	return farmK2
}

func farmLen17to32(s []byte) uint64 {
	n := len(s)
	mul := farmK2 + uint64(n*2)
	a := f64(s, 0) * farmK1
	b := f64(s, 8)
	c := f64(s, n-8) * mul
	d := f64(s, n-16) * farmK2
	return farmLen16Mul(bits.RotateLeft64(a+b, -43)+bits.RotateLeft64(c, -30)+d, a+bits.RotateLeft64(b+farmK2, -18)+c, mul)
}

func farmLen33to64(s []byte) uint64 {
	n := len(s)
	mul := farmK2 + uint64(n)*2
	a := f64(s, 0) * farmK2
	b := f64(s, 8)
	c := f64(s, n-8) * mul
	d := f64(s, n-16) * farmK2
	y := bits.RotateLeft64(a+b, -43) + bits.RotateLeft64(c, -30) + d
	z := farmLen16Mul(y, a+bits.RotateLeft64(b+farmK2, -18)+c, mul)
	e := f64(s, 16) * mul
	f := f64(s, 24)
	g := (y + f64(s, n-32)) * mul
	h := (z + f64(s, n-24)) * mul
	return farmLen16Mul(bits.RotateLeft64(e+f, -43)+bits.RotateLeft64(g, -30)+h, e+bits.RotateLeft64(f+a, -18)+g, mul)
}

func farmWeak32(s []byte, a, b uint64) (uint64, uint64) {
	w, x, y, z := f64(s, 0), f64(s, 8), f64(s, 16), f64(s, 24)
	a += w
	b = bits.RotateLeft64(b+a+z, -21)
	c := a
	a += x
	a += y
	b += bits.RotateLeft64(a, -44)
	return a + z, b + c
}
