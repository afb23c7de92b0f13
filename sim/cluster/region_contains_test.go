package cluster

import (
	"testing"

	"github.com/pingcap/kvproto/pkg/metapb"
)

// regionContainsCases is client-go internal/mockstore/mocktikv/mvcc_test.go
// TestRegionContains: [start, end) with an empty end meaning +inf.
var regionContainsCases = []struct {
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
}

// TestRegionContains: the store layer's key-in-region test.
func TestRegionContains(t *testing.T) {
	for _, tc := range regionContainsCases {
		r := &region{meta: &metapb.Region{StartKey: tc.start, EndKey: tc.end}}
		if got := r.contains(tc.key); got != tc.want {
			t.Errorf("[%v,%v) contains %v = %v, want %v", tc.start, tc.end, tc.key, got, tc.want)
		}
	}
}
