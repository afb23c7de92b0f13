package pd

import (
	"testing"

	"github.com/pingcap/kvproto/pkg/metapb"
)

// TestRegionContains is client-go internal/mockstore/mocktikv/mvcc_test.go
// TestRegionContains on the fake PD's region tree entries: [start, end)
// with an empty end meaning +inf.
func TestRegionContains(t *testing.T) {
	for _, tc := range []struct {
		start, end, key []byte
		want            bool
	}{
		{[]byte{}, []byte{}, []byte{}, true},
		{[]byte{}, []byte{}, []byte{1}, true},
		{[]byte{1, 1, 1}, []byte{}, []byte{1, 1, 0}, false},
		{[]byte{1, 1, 1}, []byte{}, []byte{1, 1, 1}, true},
		{[]byte{}, []byte{2, 2, 2}, []byte{2, 2, 1}, true},
		{[]byte{}, []byte{2, 2, 2}, []byte{2, 2, 2}, false},
		{[]byte{1, 1, 1}, []byte{2, 2, 2}, []byte{1, 1, 0}, false},
		{[]byte{1, 1, 1}, []byte{2, 2, 2}, []byte{1, 1, 1}, true},
		{[]byte{1, 1, 1}, []byte{2, 2, 2}, []byte{2, 2, 1}, true},
		{[]byte{1, 1, 1}, []byte{2, 2, 2}, []byte{2, 2, 2}, false},
	} {
		r := &regionInfo{meta: &metapb.Region{StartKey: tc.start, EndKey: tc.end}}
		if got := r.contains(tc.key); got != tc.want {
			t.Errorf("[%v,%v) contains %v = %v, want %v", tc.start, tc.end, tc.key, got, tc.want)
		}
	}
}
