package transaction

import (
	"testing"

	"github.com/tikvsim/tikvsim/sim/cluster/mvcc"
)

// TestFingerprint64MatchesEngine: the client's copy of farmhash agrees with
// the fake TiKV's (deadlock key hashes are compared across the two).
func TestFingerprint64MatchesEngine(t *testing.T) {
	for n := 0; n < 200; n += 7 {
		k := make([]byte, n)
		for i := range k {
			k[i] = byte(i*31 + n)
		}
		if fingerprint64(k) != mvcc.Fingerprint64(k) {
			t.Fatalf("len %d: hashes differ", n)
		}
	}
}
