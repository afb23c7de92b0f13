package unionstore

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tikvsim/tikvsim/client/kv"
	"github.com/tikvsim/tikvsim/client/tikverr"
)

func checkIterator(t *testing.T, it Iterator, keys ...string) {
	t.Helper()
	defer it.Close()
	for _, k := range keys {
		require.True(t, it.Valid())
		require.Equal(t, []byte(k), it.Key())
		require.Equal(t, []byte(k), it.Value())
		require.NoError(t, it.Next())
	}
	require.False(t, it.Valid())
}

func newTestUnionStore(snap map[string][]byte) (*UnionStore, *fakeSnapshot) {
	s := newFakeSnapshot(snap)
	return NewUnionStore(NewMemDB(), s), s
}

// client-go TestUnionStoreGetSet (commit ts parts: see docs/test-port.md).
func TestUnionStoreGetSet(t *testing.T) {
	us, _ := newTestUnionStore(map[string][]byte{"1": []byte("1")})
	v, err := us.Get(bg, []byte("1"))
	require.NoError(t, err)
	require.Equal(t, []byte("1"), v)
	require.NoError(t, us.GetMemBuffer().Set([]byte("1"), []byte("2")))
	v, err = us.Get(bg, []byte("1"))
	require.NoError(t, err)
	require.Equal(t, []byte("2"), v)
	require.Equal(t, 2, us.GetMemBuffer().Size())
	require.Equal(t, 1, us.GetMemBuffer().Len())
	_, err = us.Get(bg, []byte("nope"))
	require.True(t, tikverr.IsErrNotFound(err))
}

// client-go TestUnionStoreDelete.
func TestUnionStoreDelete(t *testing.T) {
	us, _ := newTestUnionStore(map[string][]byte{"1": []byte("1")})
	require.NoError(t, us.GetMemBuffer().Delete([]byte("1")))
	_, err := us.Get(bg, []byte("1"))
	require.True(t, tikverr.IsErrNotFound(err))
	require.NoError(t, us.GetMemBuffer().Set([]byte("1"), []byte("2")))
	v, err := us.Get(bg, []byte("1"))
	require.NoError(t, err)
	require.Equal(t, []byte("2"), v)
}

// client-go TestUnionStoreSeek.
func TestUnionStoreSeek(t *testing.T) {
	us, _ := newTestUnionStore(map[string][]byte{"1": []byte("1"), "2": []byte("2"), "3": []byte("3")})
	it, err := us.Iter(nil, nil)
	require.NoError(t, err)
	checkIterator(t, it, "1", "2", "3")
	it, _ = us.Iter([]byte("2"), nil)
	checkIterator(t, it, "2", "3")
	require.NoError(t, us.GetMemBuffer().Set([]byte("4"), []byte("4")))
	it, _ = us.Iter([]byte("2"), nil)
	checkIterator(t, it, "2", "3", "4")
	require.NoError(t, us.GetMemBuffer().Delete([]byte("3")))
	it, _ = us.Iter([]byte("2"), nil)
	checkIterator(t, it, "2", "4")
}

// client-go TestUnionStoreIterReverse.
func TestUnionStoreIterReverse(t *testing.T) {
	us, _ := newTestUnionStore(map[string][]byte{"1": []byte("1"), "2": []byte("2"), "3": []byte("3")})
	it, err := us.IterReverse(nil, nil)
	require.NoError(t, err)
	checkIterator(t, it, "3", "2", "1")
	it, _ = us.IterReverse([]byte("3"), []byte("1"))
	checkIterator(t, it, "2", "1")
	it, _ = us.IterReverse([]byte("3"), nil)
	checkIterator(t, it, "2", "1")
	require.NoError(t, us.GetMemBuffer().Set([]byte("0"), []byte("0")))
	it, _ = us.IterReverse([]byte("3"), nil)
	checkIterator(t, it, "2", "1", "0")
	require.NoError(t, us.GetMemBuffer().Delete([]byte("1")))
	it, _ = us.IterReverse([]byte("3"), nil)
	checkIterator(t, it, "2", "0")
	it, _ = us.IterReverse([]byte("3"), []byte("1"))
	checkIterator(t, it, "2")
}

// client-go txnkv/transaction TestBufferBatchGetter: buffered values win,
// buffered tombstones drop the key, the rest come from the snapshot in one
// call that does not ask for buffered keys.
func TestBufferBatchGetter(t *testing.T) {
	snap := newFakeSnapshot(map[string][]byte{"a": []byte("a"), "b": []byte("b"), "c": []byte("c"), "d": []byte("d")})
	buf := NewMemDB()
	require.NoError(t, buf.Set([]byte("a"), []byte("a1")))
	require.NoError(t, buf.Delete([]byte("b")))
	keys := [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d"), []byte("e")}
	got, err := NewBufferBatchGetter(buf, snap).BatchGet(bg, keys)
	require.NoError(t, err)
	require.Equal(t, map[string][]byte{"a": []byte("a1"), "c": []byte("c"), "d": []byte("d")}, got)
	require.Len(t, snap.batchLog, 1)
	require.Equal(t, [][]byte{[]byte("c"), []byte("d"), []byte("e")}, snap.batchLog[0])

	// Through the union store; an empty buffer sends every key.
	us := NewUnionStore(NewMemDB(), snap)
	got, err = us.BatchGet(bg, keys)
	require.NoError(t, err)
	require.Len(t, got, 4)
	require.Len(t, snap.batchLog[1], 5)
	// Every key answered by the buffer: no snapshot call.
	got, err = NewBufferBatchGetter(buf, snap).BatchGet(bg, keys[:2])
	require.NoError(t, err)
	require.Equal(t, map[string][]byte{"a": []byte("a1")}, got)
	require.Len(t, snap.batchLog, 2)
}

type failingGetter struct{}

func (failingGetter) BatchGet(context.Context, [][]byte) (map[string][]byte, error) {
	return nil, errFake
}

func TestBufferBatchGetterErrors(t *testing.T) {
	buf := NewMemDB()
	_, err := NewBufferBatchGetter(failingGetter{}, newFakeSnapshot(nil)).BatchGet(bg, [][]byte{[]byte("a")})
	require.ErrorIs(t, err, errFake)
	_ = buf.Set([]byte("a"), []byte("1"))
	_, err = NewBufferBatchGetter(buf, failingGetter{}).BatchGet(bg, [][]byte{[]byte("a"), []byte("b")})
	require.ErrorIs(t, err, errFake)
}

func TestUnionStorePresumeKNE(t *testing.T) {
	us, _ := newTestUnionStore(nil)
	k := []byte("k")
	require.False(t, us.HasPresumeKeyNotExists(k))
	us.GetMemBuffer().UpdateFlags(k, kv.SetPresumeKeyNotExists)
	require.True(t, us.HasPresumeKeyNotExists(k))
	us.UnmarkPresumeKeyNotExists(k)
	require.False(t, us.HasPresumeKeyNotExists(k))
	f, _ := us.GetMemBuffer().GetFlags(k)
	require.False(t, f.HasNeedCheckExists())
	us.GetMemBuffer().UpdateFlags(k, kv.SetPreviousPresumeKNE)
	require.True(t, us.HasPresumeKeyNotExists(k))
	us.SetEntrySizeLimit(0, 10)
	e, b := us.GetMemBuffer().GetEntrySizeLimit()
	require.Equal(t, [2]uint64{Unlimited, 10}, [2]uint64{e, b})
}

func TestUnionIterErrors(t *testing.T) {
	us, snap := newTestUnionStore(map[string][]byte{"a": []byte("a")})
	snap.failIter = true
	_, err := us.Iter(nil, nil)
	require.ErrorIs(t, err, errFake)
	_, err = us.IterReverse(nil, nil)
	require.ErrorIs(t, err, errFake)

	// Errors from the snapshot iterator's Next surface from the union's Next
	// and from its construction.
	si := &sliceIter{keys: [][]byte{[]byte("a"), []byte("b")}, vals: [][]byte{[]byte("a"), []byte("b")}, failNext: true}
	it, err := NewUnionIter(NewMemDB().Iter(nil, nil), si, false)
	require.NoError(t, err)
	require.ErrorIs(t, it.Next(), errFake)
	buf := NewMemDB()
	_ = buf.Set([]byte("a"), []byte("x"))
	_, err = NewUnionIter(buf.Iter(nil, nil), si, false)
	require.True(t, errors.Is(err, errFake))
	it, err = NewUnionIter(buf.Iter(nil, nil), &sliceIter{}, false)
	require.NoError(t, err)
	require.Equal(t, []byte("x"), it.Value())
	it.Close()
}
