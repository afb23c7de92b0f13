package unionstore

// Ports of client-go internal/unionstore/memdb_test.go. Each test names the
// client-go test it mirrors; client-go runs them on both the legacy
// red-black tree and the ART, we run them on MemDB.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tikvsim/tikvsim/client/kv"
)

var bg = context.Background()

func u32(i int) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(i))
	return b[:]
}

func fillDB(db *MemDB, cnt int) { db.Release(deriveAndFill(db, 0, cnt, 0)) }

func deriveAndFill(db *MemDB, start, end, valueBase int) int {
	h := db.Staging()
	for i := start; i < end; i++ {
		_ = db.Set(u32(i), u32(i+valueBase))
	}
	return h
}

func mustGetValue(t *testing.T, db *MemDB, k []byte) []byte {
	t.Helper()
	v, err := db.Get(bg, k)
	require.NoError(t, err)
	return v
}

// client-go TestGetSet.
func TestGetSet(t *testing.T) {
	db := NewMemDB()
	const cnt = 10000
	fillDB(db, cnt)
	for i := 0; i < cnt; i++ {
		require.Equal(t, u32(i), mustGetValue(t, db, u32(i)))
	}
}

// client-go TestIterator.
func TestIterator(t *testing.T) {
	db := NewMemDB()
	const cnt = 10000
	fillDB(db, cnt)
	i := 0
	for it := db.Iter(nil, nil); it.Valid(); it.Next() {
		require.Equal(t, u32(i), it.Key())
		require.Equal(t, u32(i), it.Value())
		i++
	}
	require.Equal(t, cnt, i)
	for it := db.IterReverse(nil, nil); it.Valid(); it.Next() {
		require.Equal(t, u32(i-1), it.Key())
		require.Equal(t, u32(i-1), it.Value())
		i--
	}
	require.Equal(t, 0, i)
	const bound = 400
	for it := db.Iter(nil, u32(bound)); it.Valid(); it.Next() {
		require.Equal(t, u32(i), it.Key())
		i++
	}
	require.Equal(t, bound, i)
	i = cnt
	for it := db.IterReverse(nil, u32(bound)); it.Valid(); it.Next() {
		require.Equal(t, u32(i-1), it.Key())
		i--
	}
	require.Equal(t, bound, i)
}

func checkAscDesc(t *testing.T, db *MemDB, n int, want func(i int) []byte) {
	t.Helper()
	i := 0
	for it := db.Iter(nil, nil); it.Valid(); it.Next() {
		require.Equal(t, u32(i), it.Key())
		require.Equal(t, want(i), it.Value())
		i++
	}
	require.Equal(t, n, i)
	i--
	for it := db.IterReverse(nil, nil); it.Valid(); it.Next() {
		require.Equal(t, u32(i), it.Key())
		require.Equal(t, want(i), it.Value())
		i--
	}
	require.Equal(t, -1, i)
}

// client-go TestDiscard.
func TestDiscard(t *testing.T) {
	db := NewMemDB()
	const cnt = 10000
	base := deriveAndFill(db, 0, cnt, 0)
	sz := db.Size()
	db.Cleanup(deriveAndFill(db, 0, cnt, 1))
	require.Equal(t, cnt, db.Len())
	require.Equal(t, sz, db.Size())
	for i := 0; i < cnt; i++ {
		require.Equal(t, u32(i), mustGetValue(t, db, u32(i)))
	}
	checkAscDesc(t, db, cnt, u32)
	db.Cleanup(base)
	for i := 0; i < cnt; i++ {
		_, err := db.Get(bg, u32(i))
		require.Error(t, err)
	}
	require.False(t, db.Iter(nil, nil).Valid())
	require.Equal(t, 0, db.Len())
	require.Equal(t, 0, db.Size())
}

// client-go TestFlushOverwrite.
func TestFlushOverwrite(t *testing.T) {
	db := NewMemDB()
	const cnt = 10000
	db.Release(deriveAndFill(db, 0, cnt, 0))
	sz := db.Size()
	db.Release(deriveAndFill(db, 0, cnt, 1))
	require.Equal(t, cnt, db.Len())
	require.Equal(t, sz, db.Size())
	for i := 0; i < cnt; i++ {
		require.Equal(t, u32(i+1), mustGetValue(t, db, u32(i)))
	}
	checkAscDesc(t, db, cnt, func(i int) []byte { return u32(i + 1) })
}

// client-go TestComplexUpdate.
func TestComplexUpdate(t *testing.T) {
	db := NewMemDB()
	const keep, overwrite, insert = 3000, 6000, 9000
	db.Release(deriveAndFill(db, 0, overwrite, 0))
	require.Equal(t, overwrite, db.Len())
	db.Release(deriveAndFill(db, keep, insert, 1))
	require.Equal(t, insert, db.Len())
	for i := 0; i < insert; i++ {
		want := u32(i)
		if i >= keep {
			want = u32(i + 1)
		}
		require.Equal(t, want, mustGetValue(t, db, u32(i)))
	}
}

// client-go TestNestedSandbox.
func TestNestedSandbox(t *testing.T) {
	db := NewMemDB()
	h0 := deriveAndFill(db, 0, 200, 0)
	h1 := deriveAndFill(db, 0, 100, 1)
	h2 := deriveAndFill(db, 50, 150, 2)
	h3 := deriveAndFill(db, 100, 120, 3)
	h4 := deriveAndFill(db, 0, 150, 4)
	db.Cleanup(h4)
	db.Release(h3)
	db.Cleanup(h2)
	db.Release(h1)
	db.Release(h0)
	want := func(i int) []byte {
		if i < 100 {
			return u32(i + 1)
		}
		return u32(i)
	}
	for i := 0; i < 200; i++ {
		require.Equal(t, want(i), mustGetValue(t, db, u32(i)))
	}
	checkAscDesc(t, db, 200, want)
}

// client-go TestOverwrite.
func TestOverwrite(t *testing.T) {
	db := NewMemDB()
	const cnt = 10000
	fillDB(db, cnt)
	sz := db.Size()
	for i := 0; i < cnt; i += 3 {
		require.NoError(t, db.Set(u32(i), u32(i*10)))
	}
	require.Equal(t, cnt, db.Len())
	require.Equal(t, sz, db.Size())
	want := func(i int) []byte {
		if i%3 == 0 {
			return u32(i * 10)
		}
		return u32(i)
	}
	for i := 0; i < cnt; i++ {
		require.Equal(t, want(i), mustGetValue(t, db, u32(i)))
	}
	checkAscDesc(t, db, cnt, want)
}

// client-go TestReset.
func TestReset(t *testing.T) {
	db := NewMemDB()
	fillDB(db, 1000)
	db.Reset()
	_, err := db.Get(bg, u32(0))
	require.Error(t, err)
	_, err = db.GetFlags(u32(0))
	require.Error(t, err)
	require.False(t, db.Iter(nil, nil).Valid())
	require.Equal(t, 0, db.Len())
	require.False(t, db.Dirty())
	// The buffer is usable again.
	fillDB(db, 10)
	require.Equal(t, u32(3), mustGetValue(t, db, u32(3)))
}

// client-go TestInspectStage.
func TestInspectStage(t *testing.T) {
	db := NewMemDB()
	h1 := deriveAndFill(db, 0, 1000, 0)
	h2 := deriveAndFill(db, 500, 1000, 1)
	for i := 500; i < 1500; i++ {
		v := make([]byte, 5) // a different length: not updated in place
		binary.BigEndian.PutUint32(v, uint32(i+2))
		_ = db.Set(u32(i), v)
	}
	h3 := deriveAndFill(db, 1000, 2000, 3)
	n := 0
	db.InspectStage(h3, func(key []byte, _ kv.KeyFlags, val []byte) {
		k, v := int(binary.BigEndian.Uint32(key)), int(binary.BigEndian.Uint32(val))
		require.True(t, k >= 1000 && k < 2000)
		require.Equal(t, 3, v-k)
		n++
	})
	require.Equal(t, 1000, n)
	n = 0
	db.InspectStage(h2, func(key []byte, _ kv.KeyFlags, val []byte) {
		k, v := int(binary.BigEndian.Uint32(key)), int(binary.BigEndian.Uint32(val))
		require.True(t, k >= 500 && k < 2000)
		if k < 1000 {
			require.Equal(t, 2, v-k)
		} else {
			require.Equal(t, 3, v-k)
		}
		n++
	})
	require.Equal(t, 1500, n)
	db.Cleanup(h3)
	db.Release(h2)
	n = 0
	db.InspectStage(h1, func(key []byte, _ kv.KeyFlags, val []byte) {
		k, v := int(binary.BigEndian.Uint32(key)), int(binary.BigEndian.Uint32(val))
		require.True(t, k >= 0 && k < 1500)
		if k < 500 {
			require.Equal(t, 0, v-k)
		} else {
			require.Equal(t, 2, v-k)
		}
		n++
	})
	require.Equal(t, 1500, n)
	db.Release(h1)
}

// client-go TestDirty.
func TestDirty(t *testing.T) {
	db := NewMemDB()
	_ = db.Set([]byte{1}, []byte{1})
	require.True(t, db.Dirty())

	db = NewMemDB()
	h := db.Staging()
	_ = db.Set([]byte{1}, []byte{1})
	db.Cleanup(h)
	require.False(t, db.Dirty())
	h = db.Staging()
	_ = db.Set([]byte{1}, []byte{1})
	db.Release(h)
	require.True(t, db.Dirty())

	// Persistent flags make the buffer dirty.
	db = NewMemDB()
	h = db.Staging()
	_ = db.SetWithFlags([]byte{1}, []byte{1}, kv.SetKeyLocked)
	db.Cleanup(h)
	require.True(t, db.Dirty())

	// Non-persistent ones do not.
	db = NewMemDB()
	h = db.Staging()
	_ = db.SetWithFlags([]byte{1}, []byte{1}, kv.SetPresumeKeyNotExists)
	db.Cleanup(h)
	require.False(t, db.Dirty())
}

// client-go TestFlags, forward and reverse flag iteration.
func TestFlags(t *testing.T) {
	for _, reverse := range []bool{false, true} {
		db := NewMemDB()
		const cnt = 10000
		h := db.Staging()
		for i := 0; i < cnt; i++ {
			if i%2 == 0 {
				_ = db.SetWithFlags(u32(i), u32(i), kv.SetPresumeKeyNotExists, kv.SetKeyLocked)
			} else {
				_ = db.SetWithFlags(u32(i), u32(i), kv.SetPresumeKeyNotExists)
			}
		}
		db.Cleanup(h)
		for i := 0; i < cnt; i++ {
			_, err := db.Get(bg, u32(i))
			require.Error(t, err)
			flags, err := db.GetFlags(u32(i))
			if i%2 == 0 {
				require.NoError(t, err)
				require.True(t, flags.HasLocked())
				require.False(t, flags.HasPresumeKeyNotExists())
			} else {
				require.Error(t, err)
			}
		}
		require.Equal(t, 5000, db.Len())
		require.Equal(t, 20000, db.Size())
		require.False(t, db.Iter(nil, nil).Valid())

		it := db.IterWithFlags(nil, nil)
		if reverse {
			it = db.IterReverseWithFlags(nil)
		}
		n := 0
		for ; it.Valid(); it.Next() {
			require.Zero(t, binary.BigEndian.Uint32(it.Key())%2)
			require.False(t, it.HasValue())
			require.Nil(t, it.Value())
			n++
		}
		require.Equal(t, 5000, n)

		for i := 0; i < cnt; i++ {
			db.UpdateFlags(u32(i), kv.DelKeyLocked)
		}
		for i := 0; i < cnt; i++ {
			_, err := db.Get(bg, u32(i))
			require.Error(t, err)
			flags, err := db.GetFlags(u32(i)) // UpdateFlags creates missing keys
			require.NoError(t, err)
			require.False(t, flags.HasLocked())
		}
	}
}

const (
	startIndex = 0
	testCount  = 2
	indexStep  = 2
)

func encodeInt(n int) []byte { return []byte(fmt.Sprintf("%010d", n)) }

func insertData(t *testing.T, db *MemDB) {
	for i := startIndex; i < testCount; i++ {
		v := encodeInt(i * indexStep)
		require.NoError(t, db.Set(v, v))
	}
}

// client-go TestKVGetSet.
func TestKVGetSet(t *testing.T) {
	db := NewMemDB()
	insertData(t, db)
	for i := startIndex; i < testCount; i++ {
		s := encodeInt(i * indexStep)
		require.Equal(t, s, mustGetValue(t, db, s))
	}
}

// client-go TestNewIterator (with checkNewIterator).
func TestNewIterator(t *testing.T) {
	db := NewMemDB()
	require.False(t, db.Iter(nil, nil).Valid())
	insertData(t, db)
	for i := startIndex; i < testCount; i++ {
		v := encodeInt(i * indexStep)
		it := db.Iter(v, nil)
		require.Equal(t, v, it.Key())
		require.Equal(t, v, it.Value())
		it.Close()
	}
	for i := startIndex; i < testCount-1; i++ {
		v := encodeInt(i * indexStep)
		it := db.Iter(v, nil)
		require.Equal(t, v, it.Key())
		require.NoError(t, it.Next())
		require.True(t, it.Valid())
		v = encodeInt((i + 1) * indexStep)
		require.Equal(t, v, it.Key())
		require.Equal(t, v, it.Value())
	}
	require.False(t, db.Iter(encodeInt(testCount*indexStep), nil).Valid())
	inBetween := encodeInt((testCount-1)*indexStep - 1)
	it := db.Iter(inBetween, nil)
	require.True(t, it.Valid())
	require.Equal(t, encodeInt((testCount-1)*indexStep), it.Key())
}

// client-go TestIterNextUntil.
func TestIterNextUntil(t *testing.T) {
	db := NewMemDB()
	insertData(t, db)
	it := db.Iter(nil, nil)
	for it.Valid() {
		require.NoError(t, it.Next())
	}
	require.False(t, it.Valid())
}

// client-go TestBasicNewIterator.
func TestBasicNewIterator(t *testing.T) {
	require.False(t, NewMemDB().Iter([]byte("2"), nil).Valid())
}

// client-go TestNewIteratorMin.
func TestNewIteratorMin(t *testing.T) {
	db := NewMemDB()
	kvs := [][2]string{
		{"DATA_test_main_db_tbl_tbl_test_record__00000000000000000001", "lock-version"},
		{"DATA_test_main_db_tbl_tbl_test_record__00000000000000000001_0002", "1"},
		{"DATA_test_main_db_tbl_tbl_test_record__00000000000000000001_0003", "hello"},
		{"DATA_test_main_db_tbl_tbl_test_record__00000000000000000002", "lock-version"},
		{"DATA_test_main_db_tbl_tbl_test_record__00000000000000000002_0002", "2"},
		{"DATA_test_main_db_tbl_tbl_test_record__00000000000000000002_0003", "hello"},
	}
	for _, p := range kvs {
		require.NoError(t, db.Set([]byte(p[0]), []byte(p[1])))
	}
	n := 0
	for it := db.Iter(nil, nil); it.Valid(); it.Next() {
		n++
	}
	require.Equal(t, 6, n)
	it := db.Iter([]byte("DATA_test_main_db_tbl_tbl_test_record__00000000000000000000"), nil)
	require.Equal(t, kvs[0][0], string(it.Key()))
}

// client-go TestMemDBStaging.
func TestMemDBStaging(t *testing.T) {
	db := NewMemDB()
	require.NoError(t, db.Set([]byte("x"), make([]byte, 2)))
	h1 := db.Staging()
	require.NoError(t, db.Set([]byte("x"), make([]byte, 3)))
	h2 := db.Staging()
	require.NoError(t, db.Set([]byte("yz"), make([]byte, 1)))
	require.Len(t, mustGetValue(t, db, []byte("x")), 3)
	db.Release(h2)
	require.Len(t, mustGetValue(t, db, []byte("yz")), 1)
	db.Cleanup(h1)
	require.Len(t, mustGetValue(t, db, []byte("x")), 2)
}

// client-go TestMemDBMultiLevelStaging.
func TestMemDBMultiLevelStaging(t *testing.T) {
	db := NewMemDB()
	key := []byte{0}
	for i := 0; i < 100; i++ {
		require.Equal(t, i+1, db.Staging())
		_ = db.Set(key, []byte{byte(i)})
		require.Equal(t, []byte{byte(i)}, mustGetValue(t, db, key))
	}
	for i := 99; i >= 0; i-- {
		expect := i
		if i%2 == 1 {
			expect = i - 1
			db.Cleanup(i + 1)
		} else {
			db.Release(i + 1)
		}
		require.Equal(t, []byte{byte(expect)}, mustGetValue(t, db, key))
	}
}

var _ = bytes.Equal
var _ = assert.Equal
