package elle

import (
	"testing"

	"github.com/tikvsim/tikvsim/checkers"
)

// TestCorruptedLarge breaks every 50th read of a generated history (drops
// the last element, or reads an older version) and checks that every model
// finds it quickly, with cycles explained, and never falls back to Unknown.
func TestCorruptedLarge(t *testing.T) {
	for _, reg := range []bool{false, true} {
		h := genHistory(3, genConfig{txns: 5000, procs: 16, keys: 8, perKey: 64, maxMops: 4, pInfo: 0.01, pFail: 0.01, registers: reg})
		// Corrupt every 50th ok read: drop its last element / make it stale.
		n := 0
		for i := range h {
			if h[i].Type != checkers.OK {
				continue
			}
			for j, m := range h[i].Value.([]checkers.Mop) {
				if m.F != checkers.MopRead {
					continue
				}
				n++
				if n%50 != 0 {
					continue
				}
				mops := h[i].Value.([]checkers.Mop)
				if l, ok := m.Value.([]int64); ok && len(l) > 0 {
					mops[j].Value = l[:len(l)-1]
				} else if _, ok := m.Value.(int64); ok {
					mops[j].Value = nil
				}
			}
		}
		for _, m := range allModels {
			r := Check(h, Options{Model: m})
			t.Logf("registers=%v %s: %s, %d anomalies %v", reg, m, r.Verdict, len(r.Anomalies), r.Kinds())
			if r.Verdict != checkers.Illegal || r.Reason != "" {
				t.Fatalf("registers=%v %s: %s (%s)", reg, m, r.Verdict, r.Reason)
			}
		}
	}
}
