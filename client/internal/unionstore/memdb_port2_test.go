package unionstore

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tikvsim/tikvsim/client/kv"
	"github.com/tikvsim/tikvsim/client/tikverr"
)

// client-go TestInvalidStagingHandle.
func TestInvalidStagingHandle(t *testing.T) {
	db := NewMemDB()
	h1 := db.Staging()
	h2 := db.Staging()
	require.Positive(t, h1)
	require.Panics(t, func() { db.Release(h2 + 1) })
	require.Panics(t, func() { db.Release(h2 - 1) })
	db.Release(0)
	db.Release(h2)
	db.Release(0)
	db.Release(h1)
	db.Release(0)

	h1 = db.Staging()
	h2 = db.Staging()
	db.Cleanup(h2 + 1) // a handle beyond the open stages is ignored
	require.Panics(t, func() { db.Cleanup(h2 - 1) })
	db.Cleanup(0)
	db.Cleanup(h2)
	db.Cleanup(0)
	db.Cleanup(h1)
	db.Cleanup(0)
	require.False(t, db.IsStaging())
}

// client-go TestMemDBCheckpoint.
func TestMemDBCheckpoint(t *testing.T) {
	db := NewMemDB()
	cp1 := db.Checkpoint()
	_ = db.Set([]byte("x"), []byte("x"))
	cp2 := db.Checkpoint()
	_ = db.Set([]byte("y"), []byte("y"))
	h := db.Staging()
	_ = db.Set([]byte("z"), []byte("z"))
	db.Release(h)
	for _, k := range []string{"x", "y", "z"} {
		require.Equal(t, []byte(k), mustGetValue(t, db, []byte(k)))
	}
	db.RevertToCheckpoint(cp2)
	require.Equal(t, []byte("x"), mustGetValue(t, db, []byte("x")))
	for _, k := range []string{"y", "z"} {
		_, err := db.Get(bg, []byte(k))
		require.Error(t, err)
	}
	db.RevertToCheckpoint(cp1)
	_, err := db.Get(bg, []byte("x"))
	require.Error(t, err)
	require.Equal(t, 0, db.Len())
}

// client-go TestBufferLimit.
func TestBufferLimit(t *testing.T) {
	db := NewMemDB()
	db.SetEntrySizeLimit(500, 1000)
	err := db.Set([]byte("x"), make([]byte, 500))
	var entryErr *tikverr.ErrEntryTooLarge
	require.ErrorAs(t, err, &entryErr)
	require.Equal(t, uint64(501), entryErr.Size)
	require.NoError(t, db.Set([]byte("x"), make([]byte, 499)))
	require.ErrorAs(t, db.Set([]byte("yz"), make([]byte, 499)), &entryErr)
	require.NoError(t, db.Delete(make([]byte, 499)))
	var txnErr *tikverr.ErrTxnTooLarge
	require.ErrorAs(t, db.Delete(make([]byte, 500)), &txnErr)
	require.Equal(t, 1499, txnErr.Size)
	e, b := db.GetEntrySizeLimit()
	require.Equal(t, [2]uint64{500, 1000}, [2]uint64{e, b})
	db.SetEntrySizeLimit(0, 0)
	e, b = db.GetEntrySizeLimit()
	require.Equal(t, [2]uint64{Unlimited, Unlimited}, [2]uint64{e, b})
}

// client-go TestUnsetTemporaryFlag.
func TestUnsetTemporaryFlag(t *testing.T) {
	db := NewMemDB()
	key, value := []byte{1}, []byte{2}
	_ = db.SetWithFlags(key, value, kv.SetNeedConstraintCheckInPrewrite)
	_ = db.Set(key, value)
	flags, err := db.GetFlags(key)
	require.NoError(t, err)
	require.False(t, flags.HasNeedConstraintCheckInPrewrite())
	// UpdateFlags does not clear it.
	db.UpdateFlags(key, kv.SetNeedConstraintCheckInPrewrite)
	db.UpdateFlags(key, kv.SetReadable)
	flags, _ = db.GetFlags(key)
	require.True(t, flags.HasNeedConstraintCheckInPrewrite())
}

// client-go TestSnapshotGetIter.
func TestSnapshotGetIter(t *testing.T) {
	db := NewMemDB()
	var getters []*MemDBSnapshot
	var iters, reverseIters []*MemDBIter
	for i := 0; i < 100; i++ {
		require.NoError(t, db.Set([]byte{0}, []byte{byte(i)}))
		require.NoError(t, db.Set([]byte{1}, []byte{byte(i)}))
		getter := db.SnapshotGetter()
		v, err := getter.Get(bg, []byte{0})
		require.NoError(t, err)
		require.Equal(t, []byte{byte(min(i, 50))}, v)
		getters = append(getters, getter)

		it := db.SnapshotIter(nil, nil)
		require.Equal(t, []byte{0}, it.Key())
		require.Equal(t, []byte{byte(min(i, 50))}, it.Value())
		it.Close()
		iters = append(iters, db.SnapshotIter(nil, nil))

		rit := db.SnapshotIterReverse(nil, nil)
		require.Equal(t, []byte{1}, rit.Key())
		require.Equal(t, []byte{byte(min(i, 50))}, rit.Value())
		reverseIters = append(reverseIters, db.SnapshotIterReverse(nil, nil))
		if i == 50 {
			_ = db.Staging() // later writes are invisible to snapshots
		}
	}
	// Writes with no stage open overwrite same-length values in place, so
	// every early getter and iterator sees the value as of the stage (50),
	// as in client-go.
	for _, g := range getters {
		v, err := g.Get(bg, []byte{0})
		require.NoError(t, err)
		require.Equal(t, []byte{50}, v)
	}
	for _, it := range iters {
		require.Equal(t, []byte{0}, it.Key())
		require.Equal(t, []byte{50}, it.Value())
	}
	for _, it := range reverseIters {
		require.Equal(t, []byte{1}, it.Key())
		require.Equal(t, []byte{50}, it.Value())
	}

	db.Reset()
	db.UpdateFlags([]byte{255}, kv.SetPresumeKeyNotExists)
	for i := 1; i < 50; i++ {
		_ = db.Set([]byte{byte(2 * i)}, []byte{byte(2 * i)})
	}
	h := db.Staging()
	for i := 0; i < 100; i++ {
		_ = db.Set([]byte{byte(i)}, []byte{byte(2 * i)})
	}
	g := db.SnapshotGetter()
	v, err := g.Get(bg, []byte{2})
	require.NoError(t, err)
	require.Equal(t, []byte{2}, v)
	for _, k := range []byte{1, 254, 255} {
		_, err = g.Get(bg, []byte{k})
		require.Error(t, err)
	}
	it := db.SnapshotIter(nil, nil)
	for i := 1; i < 50; i++ {
		require.True(t, it.Valid())
		require.Equal(t, []byte{byte(2 * i)}, it.Key())
		require.Equal(t, []byte{byte(2 * i)}, it.Value())
		require.NoError(t, it.Next())
	}
	require.False(t, it.Valid())
	it = db.SnapshotIterReverse(nil, nil)
	for i := 49; i >= 1; i-- {
		require.Equal(t, []byte{byte(2 * i)}, it.Key())
		require.NoError(t, it.Next())
	}
	require.False(t, it.Valid())
	db.Release(h)
}

// client-go TestCleanupKeepPersistentFlag.
func TestCleanupKeepPersistentFlag(t *testing.T) {
	db := NewMemDB()
	h := db.Staging()
	_ = db.SetWithFlags([]byte{1}, []byte{1}, kv.SetKeyLocked)
	_ = db.SetWithFlags([]byte{2}, []byte{2}, kv.SetPresumeKeyNotExists)
	_ = db.SetWithFlags([]byte{3}, []byte{3}, kv.SetKeyLocked, kv.SetPresumeKeyNotExists)
	db.Cleanup(h)
	for _, k := range [][]byte{{1}, {2}, {3}} {
		_, err := db.Get(bg, k)
		require.Error(t, err)
	}
	f, err := db.GetFlags([]byte{1})
	require.NoError(t, err)
	require.True(t, f.HasLocked())
	_, err = db.GetFlags([]byte{2})
	require.Error(t, err)
	f, err = db.GetFlags([]byte{3})
	require.NoError(t, err)
	require.True(t, f.HasLocked())
	require.False(t, f.HasPresumeKeyNotExists())
}

// client-go TestIterNoResult.
func TestIterNoResult(t *testing.T) {
	db := NewMemDB()
	require.NoError(t, db.Set([]byte{1, 1}, []byte{1, 1}))
	check := func(lower, upper []byte) {
		require.False(t, db.Iter(lower, upper).Valid())
		require.False(t, db.IterReverse(upper, lower).Valid())
	}
	check([]byte{1, 1}, []byte{1, 1})
	check([]byte{1, 0, 0}, []byte{1, 0, 1})
	check([]byte{1, 0, 1}, []byte{1, 0, 0})
}

// client-go TestMemBufferCache: each lookup is one cache hit or one miss.
func TestMemBufferCache(t *testing.T) {
	db := NewMemDB()
	check := func(hit bool, fn func()) {
		t.Helper()
		h0, m0 := db.CacheHits(), db.CacheMisses()
		fn()
		h, m := db.CacheHits()-h0, db.CacheMisses()-m0
		if hit {
			require.Equal(t, [2]uint64{1, 0}, [2]uint64{h, m})
		} else {
			require.Equal(t, [2]uint64{0, 1}, [2]uint64{h, m})
		}
	}
	get := func(k, want []byte) func() {
		return func() { require.Equal(t, want, mustGetValue(t, db, k)) }
	}
	check(false, func() { require.NoError(t, db.Set([]byte{1}, []byte{0})) })
	check(true, func() { require.NoError(t, db.Set([]byte{1}, []byte{1})) })
	check(false, func() { require.NoError(t, db.Set([]byte{2}, []byte{2})) })
	check(true, get([]byte{2}, []byte{2}))
	check(false, get([]byte{1}, []byte{1}))
	check(true, get([]byte{1}, []byte{1}))
	check(false, get([]byte{2}, []byte{2}))
	check(true, func() { require.NoError(t, db.Set([]byte{2}, []byte{2, 2})) })
	check(true, get([]byte{2}, []byte{2, 2}))
}

// client-go TestMemDBLeafFragmentation: repeated stage-fill-cleanup rounds
// do not grow the memory footprint.
func TestMemDBLeafFragmentation(t *testing.T) {
	db := NewMemDB()
	h := db.Staging()
	mem := db.Mem()
	for i := 0; i < 10; i++ {
		for k := 0; k < 100; k++ {
			_ = db.Set([]byte(strings.Repeat(strconv.Itoa(k), 256)), []byte("value"))
		}
		cur := db.Mem()
		if mem == 0 {
			mem = cur
		} else {
			require.LessOrEqual(t, cur, mem)
		}
		db.Cleanup(h)
		h = db.Staging()
	}
}

// client-go TestReadOnlyZeroMem.
func TestReadOnlyZeroMem(t *testing.T) {
	require.Zero(t, NewMemDB().Mem())
}

// client-go TestKeyValueOversize.
func TestKeyValueOversize(t *testing.T) {
	db := NewMemDB()
	key := make([]byte, math.MaxUint16)
	over := make([]byte, math.MaxUint16+1)
	require.NoError(t, db.Set(key, over))
	err := db.Set(over, key)
	var e *tikverr.ErrKeyTooLarge
	require.ErrorAs(t, err, &e)
	require.Equal(t, math.MaxUint16+1, e.KeySize)
}

// client-go TestSetMemoryFootprintChangeHook.
func TestSetMemoryFootprintChangeHook(t *testing.T) {
	db := NewMemDB()
	var consumed uint64
	require.False(t, db.MemHookSet())
	db.SetMemoryFootprintChangeHook(func(m uint64) { consumed = m })
	require.True(t, db.MemHookSet())
	require.Zero(t, consumed)
	_ = db.Set([]byte{1}, []byte{1})
	require.NotZero(t, consumed)
	db.Reset()
	require.Zero(t, consumed-db.Mem())
}

// client-go TestSelectValueHistory.
func TestSelectValueHistory(t *testing.T) {
	db := NewMemDB()
	eq := func(want []byte) func([]byte) bool { return func(v []byte) bool { return bytes.Equal(v, want) } }
	_ = db.Set([]byte{1}, []byte{1})
	h := db.Staging()
	_ = db.Set([]byte{1}, []byte{1, 1})
	v, err := db.SelectValueHistory([]byte{1}, eq([]byte{1}))
	require.NoError(t, err)
	require.Equal(t, []byte{1}, v)
	v, err = db.SelectValueHistory([]byte{1}, eq([]byte{1, 1}))
	require.NoError(t, err)
	require.Equal(t, []byte{1, 1}, v)
	v, err = db.SelectValueHistory([]byte{1}, eq([]byte{1, 1, 1}))
	require.NoError(t, err)
	require.Nil(t, v)
	_, err = db.SelectValueHistory([]byte{2}, func([]byte) bool { return false })
	require.Error(t, err)
	db.Cleanup(h)
	v, _ = db.SelectValueHistory([]byte{1}, eq([]byte{1}))
	require.Equal(t, []byte{1}, v)
	v, _ = db.SelectValueHistory([]byte{1}, eq([]byte{1, 1}))
	require.Nil(t, v)
}

// client-go TestSnapshotReaderWithWrite (num 4/16/48 were ART node sizes).
func TestSnapshotReaderWithWrite(t *testing.T) {
	for _, num := range []int{4, 16, 48, 100} {
		db := NewMemDB()
		for i := 0; i < num; i++ {
			_ = db.Set([]byte{0, byte(i)}, []byte{0, byte(i)})
		}
		h := db.Staging()
		it := db.SnapshotIter([]byte{0, 0}, []byte{0, 255})
		require.Equal(t, []byte{0, 0}, it.Key())
		_ = db.Set([]byte{0, byte(num)}, []byte{0, byte(num)})
		for i := 0; i < num; i++ {
			_ = db.Set([]byte{1, byte(i)}, []byte{1, byte(i)})
		}
		for i := 0; i < num; i++ {
			require.True(t, it.Valid())
			require.Equal(t, []byte{0, byte(i)}, it.Key())
			require.NoError(t, it.Next())
		}
		require.False(t, it.Valid())
		it.Close()
		db.Release(h)
	}
}

// client-go TestBatchedSnapshotIter.
func TestBatchedSnapshotIter(t *testing.T) {
	for _, reverse := range []bool{false, true} {
		for _, num := range []int{3, 17, 64, 200} {
			db := NewMemDB()
			for i := 0; i < num; i++ {
				_ = db.Set([]byte{0, byte(i)}, []byte{0, byte(i)})
			}
			h := db.Staging()
			snap := db.GetSnapshot()
			it := snap.BatchedSnapshotIter([]byte{0, 0}, []byte{0, 255}, reverse)
			require.True(t, it.Valid())
			first := 0
			if reverse {
				first = num - 1
			}
			require.Equal(t, []byte{0, byte(first)}, it.Key())
			_ = db.Set([]byte{0, byte(num)}, []byte{0, byte(num)})
			for i := 0; i < num; i++ {
				_ = db.Set([]byte{1, byte(i)}, []byte{1, byte(i)})
			}
			for j := 0; j < num; j++ {
				i := j
				if reverse {
					i = num - 1 - j
				}
				require.True(t, it.Valid())
				require.Equal(t, []byte{0, byte(i)}, it.Key())
				require.Equal(t, []byte{0, byte(i)}, it.Value())
				require.NoError(t, it.Next())
			}
			require.False(t, it.Valid())
			it.Close()
			snap.Close()
			db.Release(h)
		}
	}
}

func collectKeys(t *testing.T, it Iterator, idx int) []byte {
	t.Helper()
	out := []byte{}
	for it.Valid() {
		out = append(out, it.Key()[idx])
		require.NoError(t, it.Next())
	}
	it.Close()
	return out
}

// client-go TestBatchedSnapshotIterEdgeCase.
func TestBatchedSnapshotIterEdgeCase(t *testing.T) {
	t.Run("EdgeCases", func(t *testing.T) {
		db := NewMemDB()
		h := db.Staging()
		snap := db.GetSnapshot()
		require.False(t, snap.BatchedSnapshotIter([]byte{1}, []byte{1}, false).Valid())
		require.False(t, snap.BatchedSnapshotIter([]byte{0}, []byte{1}, false).Valid())
		_ = db.Set([]byte{1}, []byte{1})
		db.Release(h)
		h = db.Staging()
		snap = db.GetSnapshot()
		require.Equal(t, []byte{1}, collectKeys(t, snap.BatchedSnapshotIter([]byte{1}, []byte{2}, false), 0))
		_ = db.Set([]byte{2}, []byte{2})
		_ = db.Set([]byte{3}, []byte{3})
		_ = db.Set([]byte{4}, []byte{4})
		db.Release(h)
		_ = db.Staging()
		snap = db.GetSnapshot()
		require.Equal(t, []byte{2, 3}, collectKeys(t, snap.BatchedSnapshotIter([]byte{2}, []byte{4}, false), 0))
		require.Equal(t, []byte{3, 2}, collectKeys(t, snap.BatchedSnapshotIter([]byte{2}, []byte{4}, true), 0))
	})
	t.Run("BoundaryTests", func(t *testing.T) {
		db := NewMemDB()
		for _, k := range [][]byte{{1, 0}, {1, 2}, {1, 4}, {1, 6}, {1, 8}} {
			_ = db.Set(k, k)
		}
		db.Staging()
		snap := db.GetSnapshot()
		require.Equal(t, []byte{2, 4, 6, 8}, collectKeys(t, snap.BatchedSnapshotIter([]byte{1, 2}, []byte{1, 9}, false), 1))
		require.Equal(t, []byte{0, 2, 4}, collectKeys(t, snap.BatchedSnapshotIter([]byte{1, 0}, []byte{1, 6}, false), 1))
		require.Equal(t, []byte{4, 2, 0}, collectKeys(t, snap.BatchedSnapshotIter([]byte{1, 0}, []byte{1, 6}, true), 1))
	})
	t.Run("AlphabeticalOrder", func(t *testing.T) {
		db := NewMemDB()
		keys := [][]byte{{2}, {2, 1}, {2, 1, 1}, {2, 1, 1, 1}}
		for _, k := range keys {
			_ = db.Set(k, k)
		}
		db.Staging()
		snap := db.GetSnapshot()
		n := 0
		for it := snap.BatchedSnapshotIter([]byte{2}, []byte{3}, false); it.Valid(); it.Next() {
			require.Equal(t, keys[n], it.Key())
			n++
		}
		require.Equal(t, len(keys), n)
		for it := snap.BatchedSnapshotIter([]byte{2}, []byte{3}, true); it.Valid(); it.Next() {
			n--
			require.Equal(t, keys[n], it.Key())
		}
		require.Zero(t, n)
	})
	t.Run("SnapshotChange", func(t *testing.T) {
		db := NewMemDB()
		_ = db.Set([]byte{0}, []byte{0})
		h := db.Staging()
		snap := db.GetSnapshot()
		_ = db.Set([]byte{1}, []byte{1})
		it := snap.BatchedSnapshotIter([]byte{0}, []byte{255}, false)
		require.True(t, it.Valid())
		require.NoError(t, it.Next())
		db.Release(h)
		db.Staging()
		require.False(t, it.Valid())
		require.ErrorIs(t, it.Next(), ErrSnapshotStale)
		_, err := snap.Get(bg, []byte{0})
		require.ErrorIs(t, err, ErrSnapshotStale)
		require.ErrorIs(t, snap.ForEachInSnapshotRange(nil, nil, func(k, v []byte) (bool, error) { return false, nil }, false), ErrSnapshotStale)
	})
}
