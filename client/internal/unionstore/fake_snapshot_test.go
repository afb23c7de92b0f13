package unionstore

import (
	"context"
	"errors"
	"slices"
	"sort"

	"github.com/tikvsim/tikvsim/client/tikverr"
)

// fakeSnapshot is an in-memory Snapshot over a fixed map.
type fakeSnapshot struct {
	data     map[string][]byte
	batchLog [][][]byte // keys of each BatchGet call
	failIter bool
}

var errFake = errors.New("fake snapshot failure")

func newFakeSnapshot(data map[string][]byte) *fakeSnapshot {
	if data == nil {
		data = map[string][]byte{}
	}
	return &fakeSnapshot{data: data}
}

func (s *fakeSnapshot) Get(_ context.Context, k []byte) ([]byte, error) {
	v, ok := s.data[string(k)]
	if !ok {
		return nil, tikverr.ErrNotExist
	}
	return v, nil
}

func (s *fakeSnapshot) BatchGet(_ context.Context, keys [][]byte) (map[string][]byte, error) {
	s.batchLog = append(s.batchLog, keys)
	m := map[string][]byte{}
	for _, k := range keys {
		if v, ok := s.data[string(k)]; ok {
			m[string(k)] = v
		}
	}
	return m, nil
}

func (s *fakeSnapshot) sorted(lower, upper []byte, reverse bool) *sliceIter {
	var keys []string
	for k := range s.data {
		if (len(lower) == 0 || k >= string(lower)) && (len(upper) == 0 || k < string(upper)) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if reverse {
		slices.Reverse(keys)
	}
	it := &sliceIter{}
	for _, k := range keys {
		it.keys = append(it.keys, []byte(k))
		it.vals = append(it.vals, s.data[k])
	}
	return it
}

func (s *fakeSnapshot) Iter(start, end []byte) (Iterator, error) {
	if s.failIter {
		return nil, errFake
	}
	return s.sorted(start, end, false), nil
}

func (s *fakeSnapshot) IterReverse(end, lower []byte) (Iterator, error) {
	if s.failIter {
		return nil, errFake
	}
	return s.sorted(lower, end, true), nil
}

type sliceIter struct {
	keys, vals [][]byte
	pos        int
	failNext   bool
}

func (it *sliceIter) Valid() bool   { return it.pos < len(it.keys) }
func (it *sliceIter) Key() []byte   { return it.keys[it.pos] }
func (it *sliceIter) Value() []byte { return it.vals[it.pos] }
func (it *sliceIter) Close()        {}
func (it *sliceIter) Next() error {
	if it.failNext {
		return errFake
	}
	it.pos++
	return nil
}
