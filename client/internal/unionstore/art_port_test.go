package unionstore

// Ports of client-go internal/unionstore/art/{art,art_iterator,
// art_snapshot}_test.go and arena/arena_test.go that test behaviour through
// the buffer's API. Tests of ART node layout have no counterpart in a B-tree
// (docs/test-port.md says which).

import (
	"bytes"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tikvsim/tikvsim/client/kv"
	"github.com/tikvsim/tikvsim/client/tikverr"
)

// client-go art TestSimple.
func TestARTSimple(t *testing.T) {
	db := NewMemDB()
	for i := 0; i < 256; i++ {
		k := []byte{byte(i)}
		_, err := db.Get(bg, k)
		require.ErrorIs(t, err, tikverr.ErrNotExist)
		require.NoError(t, db.Set(k, k))
		require.Equal(t, k, mustGetValue(t, db, k))
	}
}

// client-go art TestSubNode, TestLeafWithCommonPrefix, TestLongPrefix1,
// TestLongPrefix2: keys that are prefixes of each other or share long
// prefixes.
func TestARTPrefixKeys(t *testing.T) {
	sets := [][][]byte{
		{[]byte("a"), []byte("aa"), []byte("aaa")},
		{{1, 1, 1}, {1, 1, 2}},
		{
			{109, 68, 66, 115, 0, 0, 0, 0, 0, 250, 0, 0, 0, 0, 0, 0, 0, 104, 68, 66, 58, 49, 0, 0, 0, 0, 251},
			{109, 68, 66, 115, 0, 0, 0, 0, 0, 250, 0, 0, 0, 0, 0, 0, 0, 105, 68, 66, 58, 49, 0, 0, 0, 0, 251},
		},
		{
			{0, 97, 0, 0, 0, 0, 0, 0, 0, 248, 0, 0, 0, 0, 0, 0, 0, 108, 127, 255, 255, 255, 255, 255, 255, 255},
			{0, 97, 0, 0, 0, 0, 0, 0, 0, 248, 0, 0, 0, 0, 0, 0, 0, 108, 127, 255, 255, 255, 255, 255, 255, 254},
			{0, 97, 0, 0, 0, 0, 0, 0, 0, 248, 0, 0, 0, 0, 0, 0, 0, 108, 127, 255, 255, 255, 255, 255, 255, 253},
			{0, 97, 0, 0, 0, 0, 0, 0, 0, 248, 0, 0, 0, 0, 0, 0, 0, 76},
			{0, 97, 0, 0, 0, 0, 0, 0, 0, 248, 0, 0, 0, 0, 0, 0, 0, 108, 127, 255, 255, 255, 255, 255, 255, 252},
		},
	}
	for _, keys := range sets {
		db := NewMemDB()
		for _, k := range keys {
			require.NoError(t, db.Set(k, k))
		}
		require.NoError(t, db.Set(keys[len(keys)-1], keys[len(keys)-1]))
		for _, k := range keys {
			require.Equal(t, k, mustGetValue(t, db, k))
		}
		require.NoError(t, db.Set(keys[1], []byte{3}))
		require.Equal(t, []byte{3}, mustGetValue(t, db, keys[1]))
		require.Equal(t, len(keys), db.Len())
	}
}

// client-go art TestBenchKey.
func TestARTBenchKey(t *testing.T) {
	db := NewMemDB()
	const cnt = 100000
	for k := 0; k < cnt; k++ {
		_ = db.Set(encodeInt(k), encodeInt(k))
	}
	for k := 0; k < cnt; k++ {
		require.Equal(t, encodeInt(k), mustGetValue(t, db, encodeInt(k)))
	}
}

// client-go art TestUpdateInplace: overwriting a value of the same length
// outside any stage reuses its bytes.
func TestARTUpdateInplace(t *testing.T) {
	db := NewMemDB()
	key := []byte{0}
	for i := 0; i < 256; i++ {
		val := bytes.Repeat([]byte{byte(i)}, 4096)
		require.NoError(t, db.Set(key, val))
		require.Len(t, db.vals.blocks, 1)
		require.Len(t, db.vlog, 1)
	}
	require.Equal(t, byte(255), mustGetValue(t, db, key)[0])
	// Inside a stage the first overwrite must append (the stage may be
	// cleaned up), later ones reuse the stage's own record.
	h := db.Staging()
	_ = db.Set(key, make([]byte, 4096))
	_ = db.Set(key, make([]byte, 4096))
	require.Len(t, db.vlog, 2)
	db.Cleanup(h)
	require.Equal(t, byte(255), mustGetValue(t, db, key)[0])
}

// client-go art TestFlag.
func TestARTFlag(t *testing.T) {
	db := NewMemDB()
	_ = db.SetWithFlags([]byte{0}, []byte{0}, kv.SetPresumeKeyNotExists)
	f, err := db.GetFlags([]byte{0})
	require.NoError(t, err)
	require.True(t, f.HasPresumeKeyNotExists())
	_ = db.SetWithFlags([]byte{1}, []byte{1}, kv.SetKeyLocked)
	f, _ = db.GetFlags([]byte{1})
	require.True(t, f.HasLocked())
	it := db.Iter(nil, nil)
	require.True(t, it.Valid())
	require.Equal(t, []byte{0}, it.Key())
	require.True(t, it.Flags().HasPresumeKeyNotExists())
	require.False(t, it.Flags().HasLocked())
	require.NoError(t, it.Next())
	require.Equal(t, []byte{1}, it.Key())
	require.True(t, it.Flags().HasLocked())
	require.NoError(t, it.Next())
	require.False(t, it.Valid())
	require.ErrorIs(t, it.Next(), ErrIterFinished)
}

// client-go art TestFlagOnlyKey.
func TestARTFlagOnlyKey(t *testing.T) {
	db := NewMemDB()
	db.UpdateFlags([]byte{0}, kv.SetAssertNone)
	f, err := db.GetFlags([]byte{0})
	require.NoError(t, err)
	require.False(t, f.HasAssertionFlags())
	_, err = db.Get(bg, []byte{0})
	require.Error(t, err)
	require.Equal(t, 1, db.Len())
}

// client-go art TestSearchPrefixMisatch and TestSearchOptimisticMismatch.
func TestARTSearchMismatch(t *testing.T) {
	db := NewMemDB()
	_ = db.Set([]byte{1, 1, 1, 1, 1, 1}, []byte{1})
	_ = db.Set([]byte{1, 1, 1, 1, 1, 2}, []byte{2})
	_, err := db.Get(bg, []byte{1, 1, 1, 3, 1, 1})
	require.Error(t, err)
	prefix := make([]byte, 22)
	_ = db.Set(append(bytes.Clone(prefix), 1), prefix)
	_ = db.Set(append(bytes.Clone(prefix), 2), prefix)
	_, err = db.Get(bg, append(make([]byte, 21), 1, 1))
	require.Error(t, err)
}

// client-go art TestDiscardValues.
func TestARTDiscardValues(t *testing.T) {
	db := NewMemDB()
	_ = db.SetWithFlags([]byte{1}, []byte{2}, kv.SetKeyLocked)
	h := db.IterWithFlags(nil, nil).Handle()
	require.False(t, h.IsNull())
	v, ok := db.GetValueByHandle(h)
	require.True(t, ok)
	require.Equal(t, []byte{2}, v)
	require.Equal(t, []byte{1}, db.GetKeyByHandle(h))
	db.DiscardValues()
	_, ok = db.GetValueByHandle(h)
	require.False(t, ok)
	require.Equal(t, []byte{1}, db.GetKeyByHandle(h))
	require.True(t, db.GetFlagsByHandle(h).HasLocked())
	require.Panics(t, func() { _, _ = db.Get(bg, []byte{3}) })
	require.Panics(t, func() { _ = db.Set([]byte{3}, []byte{4}) })
	// Keys and flags stay iterable.
	it := db.IterWithFlags(nil, nil)
	require.Equal(t, []byte{1}, it.Key())
	require.Nil(t, it.Value())
	db.Reset()
	require.NoError(t, db.Set([]byte{3}, []byte{4}))
}

// client-go art TestIterateNodeCapacity, TestMultiLevelIterate,
// TestIterSeekLeaf: bounds, reverse order and handles over key sets that
// straddle iterator batch boundaries.
func TestARTIterateAndHandles(t *testing.T) {
	check := func(db *MemDB, lower, upper []byte, want [][]byte) {
		t.Helper()
		var hs []KeyHandle
		it := db.Iter(lower, upper)
		for _, k := range want {
			require.True(t, it.Valid())
			require.Equal(t, k, it.Key())
			require.Equal(t, k, it.Value())
			hs = append(hs, it.Handle())
			require.NoError(t, it.Next())
		}
		require.False(t, it.Valid())
		require.Error(t, it.Next())
		for i, h := range hs {
			require.Equal(t, want[i], db.GetKeyByHandle(h))
			v, ok := db.GetValueByHandle(h)
			require.True(t, ok)
			require.Equal(t, want[i], v)
		}
		it = db.IterReverse(upper, lower)
		for i := len(want) - 1; i >= 0; i-- {
			require.True(t, it.Valid())
			require.Equal(t, want[i], it.Key())
			require.NoError(t, it.Next())
		}
		require.False(t, it.Valid())
	}
	for _, n := range []int{4, 16, 31, 32, 33, 48, 64, 65, 256} {
		db := NewMemDB()
		var keys [][]byte
		for i := 0; i < n; i++ {
			keys = append(keys, []byte{byte(i)})
			_ = db.Set(keys[i], keys[i])
		}
		mid := n / 2
		check(db, nil, nil, keys)
		check(db, []byte{byte(mid)}, nil, keys[mid:])
		check(db, nil, []byte{byte(mid)}, keys[:mid])
	}
	db := NewMemDB()
	var keys [][]byte
	for i := 0; i < 20; i++ {
		keys = append(keys, make([]byte, i+1))
		_ = db.Set(keys[i], keys[i])
	}
	check(db, nil, nil, keys)
}

// client-go art TestSeekMeetLeaf, TestSeekPrefixMismatch, TestSeekInExistNode,
// TestSeekToIdx, TestIterSeekNoResult: seeks that land between, on and past
// keys.
func TestARTSeek(t *testing.T) {
	db := NewMemDB()
	_ = db.Set([]byte{1}, []byte{1})
	require.Equal(t, [][]byte{{1}}, keysOf(db.Iter([]byte{1}, []byte{1, 1})))
	_ = db.Set([]byte{2}, []byte{2})
	require.Equal(t, [][]byte{{2}}, keysOf(db.IterReverse([]byte{2, 2}, []byte{1, 1})))
	db = NewMemDB()
	_ = db.Set([]byte{1, 1}, []byte{1, 1})
	require.Equal(t, [][]byte{{1, 1}}, keysOf(db.Iter([]byte{1, 0, 0}, []byte{1, 2, 0})))

	short, long := bytes.Repeat([]byte{1}, 10), bytes.Repeat([]byte{2}, 30)
	keys := [][]byte{append(bytes.Clone(short), 1), append(bytes.Clone(short), 2), append(bytes.Clone(long), 3), append(bytes.Clone(long), 4)}
	db = NewMemDB()
	for _, k := range keys {
		_ = db.Set(k, k)
	}
	require.Equal(t, keys, keysOf(db.Iter(append(bytes.Clone(short[:9]), 0), append(bytes.Clone(long[:29]), 3))))

	for _, cnt := range []int{4, 16, 48, 49, 100} {
		db = NewMemDB()
		for i := 0; i < cnt; i++ {
			_ = db.Set([]byte{byte(2 * i)}, []byte{byte(2 * i)})
		}
		for i := 0; i < cnt-1; i++ {
			it := db.Iter([]byte{byte(2*i + 1)}, nil)
			require.Equal(t, []byte{byte(2*i + 2)}, it.Key())
			it = db.IterReverse([]byte{byte(2*i + 1)}, nil)
			require.Equal(t, []byte{byte(2 * i)}, it.Key())
		}
		require.False(t, db.Iter([]byte{byte(2 * cnt)}, nil).Valid())
		require.False(t, db.IterReverse([]byte{0}, nil).Valid())
	}
}

func keysOf(it Iterator) [][]byte {
	var out [][]byte
	for ; it.Valid(); _ = it.Next() {
		out = append(out, bytes.Clone(it.Key()))
	}
	return out
}

// client-go art TestIterateHandle: a handle outlives a Cleanup of its value
// while the key stays buffered.
func TestARTIterateHandle(t *testing.T) {
	db := NewMemDB()
	h := db.Staging()
	require.NoError(t, db.SetWithFlags([]byte{1}, []byte{2}, kv.SetKeyLocked))
	kh := db.IterWithFlags(nil, nil).Handle()
	v, ok := db.GetValueByHandle(kh)
	require.True(t, ok)
	require.Equal(t, []byte{2}, v)
	db.Cleanup(h)
	require.Equal(t, []byte{1}, db.GetKeyByHandle(kh))
	_, ok = db.GetValueByHandle(kh)
	require.False(t, ok)
}

// client-go art TestSnapshotIteratorPreventFreeNode: a snapshot iterator
// keeps working while the stage above it rewrites and cleans up.
func TestARTSnapshotIterSurvivesCleanup(t *testing.T) {
	db := NewMemDB()
	for i := 0; i < 100; i++ {
		_ = db.Set([]byte{0, byte(i)}, []byte{byte(i)})
	}
	db.Staging()
	it := db.SnapshotIter(nil, nil)
	for i := 0; i < 100; i++ {
		h := db.Staging()
		for j := 0; j < 50; j++ {
			_ = db.Set([]byte{0, byte(j), byte(i)}, []byte{1, 2, 3})
		}
		db.Cleanup(h)
		require.True(t, it.Valid())
		require.Equal(t, []byte{0, byte(i)}, it.Key())
		require.Equal(t, []byte{byte(i)}, it.Value())
		require.NoError(t, it.Next())
	}
	require.False(t, it.Valid())
}

// client-go art TestConcurrentSnapshotIterNoRace: snapshot readers in other
// goroutines while the owner writes in a stage (run with -race).
func TestARTConcurrentSnapshotIterNoRace(t *testing.T) {
	db := NewMemDB()
	const n = 300
	for i := 0; i < n; i++ {
		_ = db.Set(encodeInt(i), encodeInt(i))
	}
	h := db.Staging()
	snap := db.GetSnapshot()
	var wg sync.WaitGroup
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 20; round++ {
				cnt := 0
				err := snap.ForEachInSnapshotRange(nil, nil, func(k, v []byte) (bool, error) {
					if !bytes.Equal(k, v) {
						t.Errorf("snapshot saw %q=%q", k, v)
					}
					cnt++
					return false, nil
				}, round%2 == 1)
				if err != nil || cnt != n {
					t.Errorf("round %d: %d keys, %v", round, cnt, err)
				}
				v, err := snap.Get(bg, encodeInt(7))
				if err != nil || !bytes.Equal(v, encodeInt(7)) {
					t.Errorf("snapshot Get: %q %v", v, err)
				}
			}
		}()
	}
	for i := 0; i < 2000; i++ {
		_ = db.Set(encodeInt(i%n), []byte("changed"))
		_ = db.Set(encodeInt(n+i), []byte("new"))
		if i%100 == 99 {
			h2 := db.Staging()
			_ = db.Set(encodeInt(i), []byte("x"))
			db.Cleanup(h2)
		}
	}
	wg.Wait()
	db.Release(h)
}

// client-go arena TestBigValue and TestValueLargeThanBlock: values larger
// than an arena block get a block of their own.
func TestArenaBigValue(t *testing.T) {
	db := NewMemDB()
	big := bytes.Repeat([]byte{7}, arenaMaxBlock+10)
	require.NoError(t, db.Set([]byte{1}, []byte{1}))
	require.NoError(t, db.Set([]byte{2}, big))
	require.NoError(t, db.Set([]byte{3}, []byte{3}))
	require.Equal(t, big, mustGetValue(t, db, []byte{2}))
	require.Equal(t, []byte{1}, mustGetValue(t, db, []byte{1}))
	require.Equal(t, []byte{3}, mustGetValue(t, db, []byte{3}))
	// A truncated arena reuses its blocks, growing one that is too small.
	h := db.Staging()
	_ = db.Set([]byte{4}, make([]byte, 100))
	db.Cleanup(h)
	h = db.Staging()
	_ = db.Set([]byte{4}, bytes.Repeat([]byte{9}, 3*arenaMaxBlock))
	require.Equal(t, big, mustGetValue(t, db, []byte{2}))
	require.Len(t, mustGetValue(t, db, []byte{4}), 3*arenaMaxBlock)
	db.Cleanup(h)
	db.Reset()
	require.Len(t, db.vals.blocks, 1)
}
