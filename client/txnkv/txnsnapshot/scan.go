package txnsnapshot

import (
	"bytes"
	"context"
	"errors"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/config/retry"
	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
)

// Iterator walks key-value pairs in order.
type Iterator interface {
	Valid() bool
	Key() []byte
	Value() []byte
	Next() error
	Close()
}

// Scanner iterates the snapshot in batches (client-go txnsnapshot.Scanner).
type Scanner struct {
	snap    *KVSnapshot
	ctx     context.Context
	bo      *retry.Backoffer
	reverse bool
	// next batch starts at start (forward) or below end (reverse).
	start, end []byte
	cache      []*kvrpcpb.KvPair
	idx        int
	eof        bool
	valid      bool
}

// Iter returns an iterator over [k, upperBound) (upperBound nil: no bound).
func (s *KVSnapshot) Iter(ctx context.Context, k, upperBound []byte) (*Scanner, error) {
	sc := &Scanner{snap: s, ctx: ctx, bo: s.backoffer(ctx), start: k, end: upperBound}
	return sc, sc.Next()
}

// IterReverse returns an iterator over [lowerBound, k) in descending order
// (k nil: from the end of the key space).
func (s *KVSnapshot) IterReverse(ctx context.Context, k, lowerBound []byte) (*Scanner, error) {
	sc := &Scanner{snap: s, ctx: ctx, bo: s.backoffer(ctx), reverse: true, start: lowerBound, end: k}
	return sc, sc.Next()
}

// Valid reports whether the iterator is at a pair.
func (sc *Scanner) Valid() bool { return sc.valid }

// Key returns the current key.
func (sc *Scanner) Key() []byte { return sc.cache[sc.idx].Key }

// Value returns the current value.
func (sc *Scanner) Value() []byte { return sc.cache[sc.idx].Value }

// Close releases the iterator.
func (sc *Scanner) Close() { sc.valid, sc.cache = false, nil }

// Next moves to the next pair, fetching a batch when needed. A locked pair
// in a batch is resolved and read alone (client-go resolveCurrentLock).
func (sc *Scanner) Next() error {
	if sc.valid {
		sc.idx++
	}
	sc.valid = false
	for {
		for sc.idx < len(sc.cache) {
			p := sc.cache[sc.idx]
			if p.GetError() == nil {
				sc.valid = true
				return nil
			}
			v, err := sc.snap.Get(sc.ctx, p.Key)
			if errors.Is(err, tikverr.ErrNotExist) {
				sc.idx++
				continue
			}
			if err != nil {
				return err
			}
			if sc.snap.KeyOnly {
				v = nil
			}
			sc.cache[sc.idx] = &kvrpcpb.KvPair{Key: p.Key, Value: v}
			sc.valid = true
			return nil
		}
		if sc.eof {
			return nil
		}
		if err := sc.fetch(); err != nil {
			return err
		}
		if err := sc.snap.checkVisibility(sc.bo.GetCtx()); err != nil {
			return err
		}
		sc.idx = 0
	}
}

// fetch reads the next batch from the region at the scan's front.
func (sc *Scanner) fetch() error {
	s := sc.snap
	limit := uint32(s.ScanBatchSize)
	if sc.reverse {
		resp, loc, err := s.sendTo(sc.bo, sc.end, true, tikvrpc.CmdScan, func(loc *locate.KeyLocation) any {
			lower := sc.start
			if bytes.Compare(loc.StartKey, lower) > 0 {
				lower = loc.StartKey
			}
			return &kvrpcpb.ScanRequest{StartKey: sc.end, EndKey: lower, Limit: limit, Version: s.version, KeyOnly: s.KeyOnly, Reverse: true}
		})
		if err != nil {
			return err
		}
		sc.cache = resp.Resp.(*kvrpcpb.ScanResponse).Pairs
		if ke := resp.Resp.(*kvrpcpb.ScanResponse).GetError(); ke != nil {
			return tikverr.ExtractKeyErr(ke)
		}
		if uint32(len(sc.cache)) == limit {
			sc.end = sc.cache[len(sc.cache)-1].Key // exclusive upper bound of the next batch
			return nil
		}
		if len(loc.StartKey) == 0 || bytes.Compare(loc.StartKey, sc.start) <= 0 {
			sc.eof = true
			return nil
		}
		sc.end = loc.StartKey
		return nil
	}
	resp, loc, err := s.sendTo(sc.bo, sc.start, false, tikvrpc.CmdScan, func(loc *locate.KeyLocation) any {
		end := sc.end
		if len(loc.EndKey) > 0 && (len(end) == 0 || bytes.Compare(loc.EndKey, end) < 0) {
			end = loc.EndKey
		}
		return &kvrpcpb.ScanRequest{StartKey: sc.start, EndKey: end, Limit: limit, Version: s.version, KeyOnly: s.KeyOnly}
	})
	if err != nil {
		return err
	}
	r := resp.Resp.(*kvrpcpb.ScanResponse)
	if ke := r.GetError(); ke != nil {
		return tikverr.ExtractKeyErr(ke)
	}
	sc.cache = r.Pairs
	if uint32(len(sc.cache)) == limit {
		sc.start = append(bytes.Clone(sc.cache[len(sc.cache)-1].Key), 0)
		return nil
	}
	if len(loc.EndKey) == 0 || (len(sc.end) > 0 && bytes.Compare(loc.EndKey, sc.end) >= 0) {
		sc.eof = true
		return nil
	}
	sc.start = loc.EndKey
	return nil
}
