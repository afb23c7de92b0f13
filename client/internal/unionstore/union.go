package unionstore

import (
	"bytes"
	"context"

	"github.com/tikvsim/tikvsim/client/kv"
	"github.com/tikvsim/tikvsim/client/tikverr"
)

// Snapshot is what the union store reads under the buffer: a transaction's
// snapshot of TiKV at its start ts. Declared here because this package is
// its consumer; the transaction's snapshot implements it.
type Snapshot interface {
	// Get returns key's value, or tikverr.ErrNotExist.
	Get(ctx context.Context, key []byte) ([]byte, error)
	// BatchGet returns the values of the keys that exist, keyed by
	// string(key).
	BatchGet(ctx context.Context, keys [][]byte) (map[string][]byte, error)
	// Iter iterates [start, end) ascending; an empty end is open.
	Iter(start, end []byte) (Iterator, error)
	// IterReverse iterates [lower, end) descending (client-go's argument
	// order); empty bounds are open.
	IterReverse(end, lower []byte) (Iterator, error)
}

// UnionStore is a transaction's view: its buffer over its snapshot. Reads
// look in the buffer first; a buffered tombstone hides the snapshot's value
// (client-go union_store.go).
type UnionStore struct {
	buf  *MemDB
	snap Snapshot
}

// NewUnionStore returns a union store of buf over snap.
func NewUnionStore(buf *MemDB, snap Snapshot) *UnionStore {
	return &UnionStore{buf: buf, snap: snap}
}

// GetMemBuffer returns the buffer.
func (us *UnionStore) GetMemBuffer() *MemDB { return us.buf }

// Get returns key's value in the transaction's view, or tikverr.ErrNotExist
// when the buffer deleted it or neither holds it.
func (us *UnionStore) Get(ctx context.Context, key []byte) ([]byte, error) {
	v, err := us.buf.Get(ctx, key)
	if tikverr.IsErrNotFound(err) {
		v, err = us.snap.Get(ctx, key)
	}
	if err != nil {
		return nil, err
	}
	if len(v) == 0 {
		return nil, tikverr.ErrNotExist
	}
	return v, nil
}

// BatchGet returns the values of keys in the transaction's view: buffered
// values win, buffered tombstones hide, the rest are read from the snapshot
// in one batch (F17, client-go BufferBatchGetter).
func (us *UnionStore) BatchGet(ctx context.Context, keys [][]byte) (map[string][]byte, error) {
	return NewBufferBatchGetter(us.buf, us.snap).BatchGet(ctx, keys)
}

// Iter iterates the transaction's view over [start, end) ascending.
func (us *UnionStore) Iter(start, end []byte) (Iterator, error) {
	sit, err := us.snap.Iter(start, end)
	if err != nil {
		return nil, err
	}
	return NewUnionIter(us.buf.Iter(start, end), sit, false)
}

// IterReverse iterates the transaction's view over [lower, end) descending.
func (us *UnionStore) IterReverse(end, lower []byte) (Iterator, error) {
	sit, err := us.snap.IterReverse(end, lower)
	if err != nil {
		return nil, err
	}
	return NewUnionIter(us.buf.IterReverse(end, lower), sit, true)
}

// HasPresumeKeyNotExists reports whether key is buffered with the
// presume-not-exists flag: its existence check was postponed to prewrite.
func (us *UnionStore) HasPresumeKeyNotExists(key []byte) bool {
	flags, err := us.buf.GetFlags(key)
	return err == nil && flags.HasPresumeKeyNotExists()
}

// UnmarkPresumeKeyNotExists clears the presume-not-exists flag of key.
func (us *UnionStore) UnmarkPresumeKeyNotExists(key []byte) {
	us.buf.UpdateFlags(key, kv.DelPresumeKeyNotExists)
}

// SetEntrySizeLimit sets the buffer's entry and total limits; 0 means none.
func (us *UnionStore) SetEntrySizeLimit(entryLimit, bufferLimit uint64) {
	us.buf.SetEntrySizeLimit(entryLimit, bufferLimit)
}

// UnionIter merges a buffer iterator over a snapshot iterator: on equal keys
// the buffer wins, buffered tombstones hide the key (client-go union_iter.go).
type UnionIter struct {
	dirtyIt, snapIt       Iterator
	dirtyValid, snapValid bool
	curIsDirty, valid     bool
	reverse               bool
}

// NewUnionIter returns the merge of dirty (the buffer) over snap, both
// ascending or both descending (reverse).
func NewUnionIter(dirty, snap Iterator, reverse bool) (*UnionIter, error) {
	it := &UnionIter{dirtyIt: dirty, snapIt: snap, dirtyValid: dirty.Valid(), snapValid: snap.Valid(), reverse: reverse}
	if err := it.updateCur(); err != nil {
		return nil, err
	}
	return it, nil
}

func (it *UnionIter) dirtyNext() error {
	err := it.dirtyIt.Next()
	it.dirtyValid = it.dirtyIt.Valid()
	return err
}

func (it *UnionIter) snapNext() error {
	err := it.snapIt.Next()
	it.snapValid = it.snapIt.Valid()
	return err
}

func (it *UnionIter) updateCur() error {
	it.valid = true
	for {
		switch {
		case !it.dirtyValid && !it.snapValid:
			it.valid = false
			return nil
		case !it.dirtyValid:
			it.curIsDirty = false
			return nil
		case !it.snapValid:
			it.curIsDirty = true
			if len(it.dirtyIt.Value()) == 0 { // tombstone over nothing
				if err := it.dirtyNext(); err != nil {
					return err
				}
				continue
			}
			return nil
		}
		cmp := bytes.Compare(it.dirtyIt.Key(), it.snapIt.Key())
		if it.reverse {
			cmp = -cmp
		}
		switch {
		case cmp == 0:
			if len(it.dirtyIt.Value()) == 0 { // the buffer deleted it
				if err := it.dirtyNext(); err != nil {
					return err
				}
				if err := it.snapNext(); err != nil {
					return err
				}
				continue
			}
			if err := it.snapNext(); err != nil {
				return err
			}
			it.curIsDirty = true
			return nil
		case cmp > 0:
			it.curIsDirty = false
			return nil
		default:
			if len(it.dirtyIt.Value()) == 0 { // deleted a key the snapshot lacks
				if err := it.dirtyNext(); err != nil {
					return err
				}
				continue
			}
			it.curIsDirty = true
			return nil
		}
	}
}

// Next moves to the next key of the merged view.
func (it *UnionIter) Next() error {
	var err error
	if it.curIsDirty {
		err = it.dirtyNext()
	} else {
		err = it.snapNext()
	}
	if err != nil {
		return err
	}
	return it.updateCur()
}

// Value returns the current value.
func (it *UnionIter) Value() []byte {
	if it.curIsDirty {
		return it.dirtyIt.Value()
	}
	return it.snapIt.Value()
}

// Key returns the current key.
func (it *UnionIter) Key() []byte {
	if it.curIsDirty {
		return it.dirtyIt.Key()
	}
	return it.snapIt.Key()
}

// Valid reports whether the iterator is at a key.
func (it *UnionIter) Valid() bool { return it.valid }

// Close closes both iterators.
func (it *UnionIter) Close() {
	if it.snapIt != nil {
		it.snapIt.Close()
		it.snapIt = nil
	}
	if it.dirtyIt != nil {
		it.dirtyIt.Close()
		it.dirtyIt = nil
	}
}

// BatchGetter reads many keys at once.
type BatchGetter interface {
	// BatchGet returns the values of the keys found, keyed by string(key);
	// a buffer includes tombstones.
	BatchGet(ctx context.Context, keys [][]byte) (map[string][]byte, error)
}

// BufferBatchGetter batch-reads through a buffer into a snapshot (client-go
// txnkv/transaction/batch_getter.go): keys the buffer holds are answered by
// it (tombstones drop the key from the result), the rest go to the snapshot
// in one BatchGet.
type BufferBatchGetter struct {
	buffer   BatchGetter
	snapshot BatchGetter
}

// NewBufferBatchGetter returns a BufferBatchGetter of buffer over snapshot.
func NewBufferBatchGetter(buffer, snapshot BatchGetter) *BufferBatchGetter {
	return &BufferBatchGetter{buffer: buffer, snapshot: snapshot}
}

// BatchGet returns the values of keys that exist in the merged view.
func (b *BufferBatchGetter) BatchGet(ctx context.Context, keys [][]byte) (map[string][]byte, error) {
	bufVals, err := b.buffer.BatchGet(ctx, keys)
	if err != nil {
		return nil, err
	}
	if len(bufVals) == 0 {
		return b.snapshot.BatchGet(ctx, keys)
	}
	rest := make([][]byte, 0, len(keys)-min(len(keys), len(bufVals)))
	for _, k := range keys {
		v, ok := bufVals[string(k)]
		if !ok {
			rest = append(rest, k)
		} else if len(v) == 0 {
			delete(bufVals, string(k))
		}
	}
	if len(rest) == 0 {
		return bufVals, nil
	}
	snapVals, err := b.snapshot.BatchGet(ctx, rest)
	if err != nil {
		return nil, err
	}
	for k, v := range snapVals {
		bufVals[k] = v
	}
	return bufVals, nil
}
