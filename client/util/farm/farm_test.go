package farm

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// Golden values from the farmhash C++ reference (Fingerprint64 equals
// Hash64 for inputs up to 32 bytes), as published with the Go port.
func TestFingerprint64Golden(t *testing.T) {
	for _, tc := range []struct {
		in  string
		out uint64
	}{
		{"a", 0xb3454265b6df75e3},
		{"ab", 0xaa8d6e5242ada51e},
		{"abc", 0x24a5b3a074e7f369},
		{"abcd", 0x1a5502de4a1f8101},
		{"abcde", 0xc22f4663e54e04d4},
		{"abcdef", 0xc329379e6a03c2cd},
		{"abcdefg", 0x3c40c92b1ccb7355},
		{"abcdefgh", 0xfee9d22990c82909},
		{"abcdefghi", 0x332c8ed4dae5ba42},
		{"abcdefghij", 0x8a3abb6a5f3fb7fb},
		{"Nepal premier won't resign.", 0x8eb3808d1ccfc779},
		{"C is as portable as Stonehedge!!", 0xb944f8a16261e414},
	} {
		require.Equal(t, tc.out, Fingerprint64([]byte(tc.in)), "%q", tc.in)
	}
	// Longer inputs exercise the other paths; they must be deterministic
	// and length-sensitive.
	long := bytes.Repeat([]byte("0123456789"), 20)
	for n := 33; n <= len(long); n += 7 {
		require.Equal(t, Fingerprint64(long[:n]), Fingerprint64(append([]byte(nil), long[:n]...)))
		require.NotEqual(t, Fingerprint64(long[:n]), Fingerprint64(long[:n-1]))
	}
	require.Equal(t, farmK2, Fingerprint64(nil))
}
