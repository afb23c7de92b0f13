package txnkv

import (
	"math"
	"testing"
)

// TestMinSafeTSFromStores ports client-go tikv/kv_test.go
// TestMinSafeTsFromStores, TestMinSafeTsFromStoresWithAllZeros,
// TestMinSafeTsFromStoresWithSomeZeros and the store half of
// TestMinSafeTsFromMixed1/2: the minimum per txn scope over the stores'
// safe ts, where a store answering 0 is skipped, all zeros give 0, a store
// not heard from gives 0, a safe ts never goes back, and MaxUint64 is never
// taken.
func TestMinSafeTSFromStores(t *testing.T) {
	cases := []struct {
		name  string
		safe  map[uint64]uint64 // store -> answered safe ts
		scope []uint64
		want  uint64
	}{
		{"min over stores", map[uint64]uint64{1: 100, 2: 80}, []uint64{1, 2}, 80},
		{"all zeros", map[uint64]uint64{1: 0, 2: 0}, []uint64{1, 2}, 0},
		{"some zeros", map[uint64]uint64{1: 100, 2: 0}, []uint64{1, 2}, 100},
		{"a store not heard from", map[uint64]uint64{1: 100}, []uint64{1, 2}, 0},
		{"no store", nil, nil, 0},
		{"MaxUint64 is not taken", map[uint64]uint64{1: math.MaxUint64, 2: 10}, []uint64{1, 2}, 0},
		{"zone scope", map[uint64]uint64{1: 100, 2: 10}, []uint64{1}, 100},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var sc safeTSCache
			for id, ts := range c.safe {
				sc.set(id, ts)
			}
			sc.updateMin("s", c.scope)
			if got := sc.min["s"]; got != c.want {
				t.Fatalf("min safe ts %d, want %d", got, c.want)
			}
		})
	}
	var sc safeTSCache
	sc.set(1, 100)
	sc.set(1, 90) // an older answer (another store's view, a restart) is skipped
	if ts, _ := sc.get(1); ts != 100 {
		t.Fatalf("safe ts went back to %d", ts)
	}
}
