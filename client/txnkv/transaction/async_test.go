package transaction

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// TestAsyncCommitCheck ports 2pc_test's TestAsyncCommitCheck at the limits'
// boundaries (the limits are client-go's defaults, constants here): exactly
// AsyncCommitKeysLimit keys and exactly AsyncCommitTotalKeySizeLimit bytes of
// keys qualify, one more does not, and nothing qualifies unless enabled.
func TestAsyncCommitCheck(t *testing.T) {
	muts := func(n, keyLen int) []*mutation {
		out := make([]*mutation, n)
		for i := range out {
			k := fmt.Sprintf("%08d", i)
			k += strings.Repeat("k", keyLen-len(k))
			out[i] = &mutation{Mutation: kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: []byte(k)}}
		}
		return out
	}
	for _, tc := range []struct {
		n, keyLen int
		enabled   bool
		want      bool
	}{
		{AsyncCommitKeysLimit, 16, true, true},
		{AsyncCommitKeysLimit + 1, 8, true, false},
		{AsyncCommitTotalKeySizeLimit / 64, 64, true, true},
		{AsyncCommitTotalKeySizeLimit/64 - 1, 65, true, true},
		{AsyncCommitTotalKeySizeLimit / 64, 65, true, false},
		{2, 8, false, false},
	} {
		c := &committer{muts: muts(tc.n, tc.keyLen), opts: commitOptions{asyncCommit: tc.enabled}}
		if got := c.checkAsyncCommit(); got != tc.want {
			t.Errorf("%d keys of %d bytes, enabled %v: async %v, want %v", tc.n, tc.keyLen, tc.enabled, got, tc.want)
		}
	}
}

// TestAsyncSecondaries: the primary lock lists every key but the primary and
// the prewrite-only existence checks (client-go asyncSecondaries).
func TestAsyncSecondaries(t *testing.T) {
	c := &committer{primary: []byte("b"), muts: []*mutation{
		{Mutation: kvrpcpb.Mutation{Op: kvrpcpb.Op_CheckNotExists, Key: []byte("a")}},
		{Mutation: kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: []byte("b")}},
		{Mutation: kvrpcpb.Mutation{Op: kvrpcpb.Op_Del, Key: []byte("c")}},
		{Mutation: kvrpcpb.Mutation{Op: kvrpcpb.Op_Insert, Key: []byte("d")}},
	}}
	var got []string
	for _, k := range c.asyncSecondaries() {
		got = append(got, string(k))
	}
	if strings.Join(got, ",") != "c,d" {
		t.Fatalf("secondaries %v, want c,d", got)
	}
}
