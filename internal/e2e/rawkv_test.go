package e2e

import (
	"bytes"
	"fmt"
	"hash/crc64"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tikvsim/tikvsim/client/rawkv"
)

// rawSplits are the initial region boundaries of the raw suite: every
// multi-key operation below crosses regions.
var rawSplits = []string{"k3", "k6"}

func rawKey(i int) []byte   { return []byte(fmt.Sprintf("k%d", i)) }
func rawValue(i int) []byte { return []byte(fmt.Sprintf("v%d", i)) }

// TestRawKV runs the raw KV API through the production transport and PD
// adapter against the served cluster (API V1TTL, three regions).
func TestRawKV(t *testing.T) {
	srv := rawServe(t, rawSplits...)
	c := newRaw(t, srv).SetAtomicForCAS(true)
	ctx := testContext(t)

	t.Run("get put delete", func(t *testing.T) {
		v, err := c.Get(ctx, []byte("single"))
		require.NoError(t, err)
		require.Nil(t, v, "a missing key reads as nil")
		require.NoError(t, c.Put(ctx, []byte("single"), []byte("one")))
		v, err = c.Get(ctx, []byte("single"))
		require.NoError(t, err)
		require.Equal(t, []byte("one"), v)
		require.NoError(t, c.Put(ctx, []byte("single"), []byte("two")))
		v, err = c.Get(ctx, []byte("single"))
		require.NoError(t, err)
		require.Equal(t, []byte("two"), v)
		require.NoError(t, c.Delete(ctx, []byte("single")))
		v, err = c.Get(ctx, []byte("single"))
		require.NoError(t, err)
		require.Nil(t, v)
		require.Error(t, c.Put(ctx, nil, []byte("x")), "an empty key is refused before any RPC")
	})

	t.Run("batch across regions", func(t *testing.T) {
		var ks, vs [][]byte
		for i := range 9 {
			ks, vs = append(ks, rawKey(i)), append(vs, rawValue(i))
		}
		require.NoError(t, c.BatchPut(ctx, ks, vs))
		got, err := c.BatchGet(ctx, append(ks, []byte("k-missing")))
		require.NoError(t, err)
		require.Equal(t, append(vs, nil), got)
		require.NoError(t, c.BatchDelete(ctx, [][]byte{rawKey(1), rawKey(4), rawKey(7)}))
		got, err = c.BatchGet(ctx, ks)
		require.NoError(t, err)
		for i := range 9 {
			if i%3 == 1 {
				require.Nil(t, got[i], "deleted %s", ks[i])
			} else {
				require.Equal(t, vs[i], got[i])
			}
		}
		require.NoError(t, c.DeleteRange(ctx, rawKey(0), rawKey(9)))
	})

	t.Run("scans across regions", func(t *testing.T) {
		var ks, vs [][]byte
		for i := range 9 {
			ks, vs = append(ks, rawKey(i)), append(vs, rawValue(i))
		}
		require.NoError(t, c.BatchPut(ctx, ks, vs))
		defer func() { require.NoError(t, c.DeleteRange(ctx, rawKey(0), rawKey(9))) }()

		gotK, gotV, err := c.Scan(ctx, rawKey(1), rawKey(8), 100)
		require.NoError(t, err)
		require.Equal(t, ks[1:8], gotK)
		require.Equal(t, vs[1:8], gotV)

		gotK, _, err = c.Scan(ctx, rawKey(2), nil, 4)
		require.NoError(t, err)
		require.Equal(t, ks[2:6], gotK, "limit")

		gotK, gotV, err = c.ReverseScan(ctx, rawKey(8), rawKey(1), 100)
		require.NoError(t, err)
		require.Len(t, gotK, 7)
		for i, k := range gotK {
			require.Equal(t, ks[7-i], k, "reverse scan is in descending order from below the start key")
			require.Equal(t, vs[7-i], gotV[i])
		}

		gotK, gotV, err = c.Scan(ctx, rawKey(0), rawKey(9), 100, rawkv.ScanKeyOnly())
		require.NoError(t, err)
		require.Equal(t, ks, gotK)
		for _, v := range gotV {
			require.Empty(t, v, "key-only scan")
		}

		batches, err := c.BatchScan(ctx, []rawkv.KeyRange{{StartKey: rawKey(0), EndKey: rawKey(2)}, {StartKey: rawKey(5), EndKey: rawKey(9)}}, 3)
		require.NoError(t, err)
		require.Len(t, batches, 2)
		require.Len(t, batches[0], 2)
		require.Equal(t, ks[0], batches[0][0].Key)
		require.Len(t, batches[1], 3, "each range at most eachLimit")
		require.Equal(t, ks[5], batches[1][0].Key)
	})

	t.Run("delete range across regions", func(t *testing.T) {
		var ks, vs [][]byte
		for i := range 9 {
			ks, vs = append(ks, rawKey(i)), append(vs, rawValue(i))
		}
		require.NoError(t, c.BatchPut(ctx, ks, vs))
		require.NoError(t, c.DeleteRange(ctx, rawKey(2), rawKey(7)))
		gotK, _, err := c.Scan(ctx, rawKey(0), rawKey(9), 100)
		require.NoError(t, err)
		require.Equal(t, [][]byte{ks[0], ks[1], ks[7], ks[8]}, gotK)
		require.NoError(t, c.DeleteRange(ctx, rawKey(0), rawKey(9)))
		gotK, _, err = c.Scan(ctx, rawKey(0), rawKey(9), 100)
		require.NoError(t, err)
		require.Empty(t, gotK)
	})

	t.Run("ttl", func(t *testing.T) {
		require.NoError(t, c.PutWithTTL(ctx, []byte("ttl-long"), []byte("v"), 600))
		ttl, err := c.GetKeyTTL(ctx, []byte("ttl-long"))
		require.NoError(t, err)
		require.NotNil(t, ttl)
		require.LessOrEqual(t, *ttl, uint64(600))
		require.Greater(t, *ttl, uint64(590))

		require.NoError(t, c.Put(ctx, []byte("ttl-none"), []byte("v")))
		ttl, err = c.GetKeyTTL(ctx, []byte("ttl-none"))
		require.NoError(t, err)
		require.Equal(t, uint64(0), *ttl, "a key without TTL")
		ttl, err = c.GetKeyTTL(ctx, []byte("ttl-missing"))
		require.NoError(t, err)
		require.Nil(t, ttl)

		require.NoError(t, c.BatchPutWithTTL(ctx, [][]byte{[]byte("ttl-short"), rawKey(5)}, [][]byte{[]byte("v"), []byte("v")}, []uint64{1, 1}))
		require.Eventually(t, func() bool {
			v, err := c.Get(ctx, []byte("ttl-short"))
			return err == nil && v == nil
		}, 5*time.Second, 50*time.Millisecond, "a 1s TTL expires")
		v, err := c.Get(ctx, rawKey(5))
		require.NoError(t, err)
		require.Nil(t, v)
		v, err = c.Get(ctx, []byte("ttl-long"))
		require.NoError(t, err)
		require.Equal(t, []byte("v"), v)
	})

	t.Run("compare and swap", func(t *testing.T) {
		prev, ok, err := c.CompareAndSwap(ctx, []byte("cas"), nil, []byte("a"))
		require.NoError(t, err)
		require.True(t, ok, "nil previous value: the key must not exist")
		require.Nil(t, prev)
		prev, ok, err = c.CompareAndSwap(ctx, []byte("cas"), []byte("x"), []byte("b"))
		require.NoError(t, err)
		require.False(t, ok)
		require.Equal(t, []byte("a"), prev)
		prev, ok, err = c.CompareAndSwap(ctx, []byte("cas"), []byte("a"), []byte("b"))
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, []byte("a"), prev)
		v, err := c.Get(ctx, []byte("cas"))
		require.NoError(t, err)
		require.Equal(t, []byte("b"), v)

		plain := newRaw(t, srv)
		_, _, err = plain.CompareAndSwap(ctx, []byte("cas"), []byte("b"), []byte("c"))
		require.ErrorIs(t, err, rawkv.ErrNotAtomic)
	})

	t.Run("column families", func(t *testing.T) {
		require.NoError(t, c.Put(ctx, []byte("cf"), []byte("in write"), rawkv.SetColumnFamily("write")))
		v, err := c.Get(ctx, []byte("cf"))
		require.NoError(t, err)
		require.Nil(t, v, "the default column family does not see it")
		v, err = c.Get(ctx, []byte("cf"), rawkv.SetColumnFamily("write"))
		require.NoError(t, err)
		require.Equal(t, []byte("in write"), v)
		require.NoError(t, c.Delete(ctx, []byte("cf"), rawkv.SetColumnFamily("write")))
	})

	t.Run("checksum", func(t *testing.T) {
		var ks, vs [][]byte
		var want rawkv.Checksum
		table := crc64.MakeTable(crc64.ECMA)
		for i := range 9 {
			k, v := []byte(fmt.Sprintf("sum%d", i)), bytes.Repeat([]byte{byte('a' + i)}, i+1)
			ks, vs = append(ks, k), append(vs, v)
			want.Crc64Xor ^= crc64.Update(crc64.Update(0, table, k), table, v)
			want.TotalKvs++
			want.TotalBytes += uint64(len(k) + len(v))
		}
		require.NoError(t, c.BatchPut(ctx, ks, vs))
		do(t, srv, `split("sum4")`)
		got, err := c.Checksum(ctx, []byte("sum"), []byte("sum9"))
		require.NoError(t, err)
		require.Equal(t, want, got, "TiKV's crc64-xor over key++value, across regions")
		empty, err := c.Checksum(ctx, []byte("zz"), []byte("zzz"))
		require.NoError(t, err)
		require.Zero(t, empty)
	})
}

// TestRawKVSplitAndTransferWhileServing keeps writers and readers busy
// while the cluster splits the regions they use and moves their leaders:
// the clients must see no error (the region errors that follow are
// retried), must have met both kinds of region error, and every
// acknowledged write must be read back.
func TestRawKVSplitAndTransferWhileServing(t *testing.T) {
	srv := rawServe(t)
	ctx := testContext(t)
	m := newMetrics(t)
	const workers, minOps = 4, 50
	var wg sync.WaitGroup
	stop := make(chan struct{})
	done := make([]int, workers)
	errs := make(chan error, workers)
	for w := range workers {
		c := newRaw(t, srv, rawkv.WithMetrics(m)) // a client each: their region caches go stale independently
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					if i >= minOps {
						done[w] = i
						return
					}
				default:
				}
				k := []byte(fmt.Sprintf("w%d/%04d", w, i))
				if err := c.Put(ctx, k, k); err != nil {
					errs <- fmt.Errorf("put %s: %w", k, err)
					return
				}
				v, err := c.Get(ctx, k)
				if err != nil || !bytes.Equal(v, k) {
					errs <- fmt.Errorf("get %s = %q, %v", k, v, err)
					return
				}
			}
		}()
	}
	// The topology changes while the workers run.
	for _, a := range []string{`split("w1/")`, `transfer("w0/0000",2)`, `split("w2/")`, `split("w3/0050")`,
		`transfer("w2/0000",3)`, `transfer("w3/0100",1)`, `split("w0/0020")`, `transfer("w0/0100",3)`} {
		time.Sleep(10 * time.Millisecond)
		do(t, srv, a)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Positive(t, counter(m.RegionErrorCounter("epoch_not_match")), "the clients met the splits")
	require.Positive(t, counter(m.RegionErrorCounter("not_leader")), "the clients met the leader transfers")
	total := 0
	for _, n := range done {
		total += n
	}
	c := newRaw(t, srv)
	ks, vs, err := c.Scan(ctx, []byte("w"), []byte("x"), rawkv.MaxRawKVScanLimit)
	require.NoError(t, err)
	require.Len(t, ks, total, "every write is there after the splits and transfers")
	for i := range ks {
		require.Equal(t, ks[i], vs[i])
	}
	regions, err := srv.Regions()
	require.NoError(t, err)
	require.Equal(t, 5, strings.Count(regions, "region "), "the splits happened:\n%s", regions)
}
