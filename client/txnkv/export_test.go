package txnkv

import (
	"context"
	"testing"
)

// LocateKeyRangeForTest returns the [start, end) user-key bounds of every
// region of the client's key space (its keyspace in API V2), from the
// region cache, loading from PD as needed.
func (c *Client) LocateKeyRangeForTest(ctx context.Context, t testing.TB) [][2][]byte {
	t.Helper()
	locs, err := c.cache.LocateKeyRange(ctx, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][2][]byte, len(locs))
	for i, l := range locs {
		out[i] = [2][]byte{l.StartKey, l.EndKey}
	}
	return out
}
