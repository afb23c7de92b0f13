package locate

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tikvsim/tikvsim/client/rt"
)

// benchCache returns a cache on the real runtime holding n regions split at
// keys k0000..k(n-2), all loaded.
func benchCache(b *testing.B, n int) (*Cache, *fakePD) {
	pd := newFakePD()
	threeStores(pd)
	pd.putRegion(1, nil, nil, 1, 1, []uint64{1, 2, 3}, 1)
	for i := 1; i < n; i++ {
		if err := pd.split(uint64(i), uint64(i+1), []byte(fmt.Sprintf("k%04d", i))); err != nil {
			b.Fatal(err)
		}
	}
	c := New(rt.Real, pd, Options{})
	if _, err := c.BatchLocateKeyRanges(context.Background(), nil, []KeyRange{{}}, BatchOptions{}); err != nil {
		b.Fatal(err)
	}
	return c, pd
}

// BenchmarkLocateKeyCached is the hot path: a cache hit.
func BenchmarkLocateKeyCached(b *testing.B) {
	c, _ := benchCache(b, 1000)
	ctx := context.Background()
	key := []byte("k0500x")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.LocateKey(ctx, nil, key); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInsertRegion (client-go BenchmarkInsertRegionToCache): replace a
// region by an equal one.
func BenchmarkInsertRegion(b *testing.B) {
	c, _ := benchCache(b, 1000)
	r := c.tryFindRegionByKey([]byte("k0500x"), false)
	b.ReportAllocs()
	for b.Loop() {
		n := &Region{meta: r.meta, stores: r.stores, kvIdx: r.kvIdx}
		n.state.Store(r.state.Load())
		if !c.insert(n, false) {
			b.Fatal("stale")
		}
	}
}

// BenchmarkBatchLocateKeyRangesFromCache (client-go
// BenchmarkBatchLocateKeyRangesFromCache): 100 ranges, all cached.
func BenchmarkBatchLocateKeyRangesFromCache(b *testing.B) {
	c, _ := benchCache(b, 1000)
	var ranges []KeyRange
	for i := 0; i < 100; i++ {
		ranges = append(ranges, KeyRange{[]byte(fmt.Sprintf("k%04d", i*10)), []byte(fmt.Sprintf("k%04d", i*10+5))})
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.BatchLocateKeyRanges(ctx, nil, ranges, BatchOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOnSendFail (client-go BenchmarkOnRequestFail).
func BenchmarkOnSendFail(b *testing.B) {
	c, _ := benchCache(b, 10)
	ctx := context.Background()
	loc, _ := c.LocateKey(ctx, nil, []byte("a"))
	rc, err := c.GetRPCContext(ctx, nil, loc.Region)
	if err != nil || rc == nil {
		b.Fatal(err)
	}
	fail := errors.New("send fail")
	b.ReportAllocs()
	for b.Loop() {
		c.OnSendFail(rc, false, fail)
	}
}
