package rawkv

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/config/retry"
	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/internal/sender"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
)

// Scan returns up to limit keys and values in [startKey, endKey) (endKey
// empty: no upper bound), in key order, region by region (client-go
// rawkv.Scan). A limit of 0 or less returns nothing; a limit over
// MaxRawKVScanLimit is an *ArgumentError wrapping ErrMaxScanLimitExceeded.
// With ScanKeyOnly the values are empty.
func (c *Client) Scan(ctx context.Context, startKey, endKey []byte, limit int, opts ...RawOption) (keys, values [][]byte, err error) {
	if err := c.checkScan("Scan", limit); err != nil {
		return nil, nil, err
	}
	if limit <= 0 || (len(endKey) > 0 && bytes.Compare(startKey, endKey) >= 0) {
		return nil, nil, nil
	}
	o := c.options(opts)
	bo := c.backoffer(ctx)
	for start := startKey; len(keys) < limit; {
		resp, loc, err := c.sendKey(ctx, bo, start, false, tikvrpc.CmdRawScan, func(loc *locate.KeyLocation) any {
			return &kvrpcpb.RawScanRequest{StartKey: start, EndKey: clampEnd(loc, endKey), Limit: uint32(limit - len(keys)), KeyOnly: o.keyOnly, Cf: o.cf}
		})
		if err != nil {
			return nil, nil, err
		}
		for _, p := range resp.Resp.(*kvrpcpb.RawScanResponse).Kvs {
			if p.Error != nil {
				return nil, nil, &ServerError{Op: "Scan", RegionID: loc.Region.ID(), Msg: p.Error.String()}
			}
			keys, values = append(keys, p.Key), append(values, nonNil(p.Value))
		}
		if lastRegion(loc, endKey) {
			break
		}
		start = loc.EndKey
	}
	return keys, values, nil
}

// ReverseScan returns up to limit keys and values in [endKey, startKey), in
// descending key order (startKey empty: from the end of the key space;
// client-go does not allow that). Limits are as for Scan.
func (c *Client) ReverseScan(ctx context.Context, startKey, endKey []byte, limit int, opts ...RawOption) (keys, values [][]byte, err error) {
	if err := c.checkScan("ReverseScan", limit); err != nil {
		return nil, nil, err
	}
	if limit <= 0 || (len(startKey) > 0 && bytes.Compare(startKey, endKey) <= 0) {
		return nil, nil, nil
	}
	o := c.options(opts)
	bo := c.backoffer(ctx)
	for upper := startKey; len(keys) < limit; {
		resp, loc, err := c.sendKey(ctx, bo, upper, true, tikvrpc.CmdRawScan, func(loc *locate.KeyLocation) any {
			lower := endKey
			if bytes.Compare(loc.StartKey, lower) > 0 {
				lower = loc.StartKey
			}
			return &kvrpcpb.RawScanRequest{StartKey: upper, EndKey: lower, Limit: uint32(limit - len(keys)), KeyOnly: o.keyOnly, Cf: o.cf, Reverse: true}
		})
		if err != nil {
			return nil, nil, err
		}
		for _, p := range resp.Resp.(*kvrpcpb.RawScanResponse).Kvs {
			if p.Error != nil {
				return nil, nil, &ServerError{Op: "ReverseScan", RegionID: loc.Region.ID(), Msg: p.Error.String()}
			}
			keys, values = append(keys, p.Key), append(values, nonNil(p.Value))
		}
		if len(loc.StartKey) == 0 || bytes.Compare(loc.StartKey, endKey) <= 0 {
			break
		}
		upper = loc.StartKey
	}
	return keys, values, nil
}

func (c *Client) checkScan(op string, limit int) error {
	if err := c.check(op); err != nil {
		return err
	}
	if limit > MaxRawKVScanLimit {
		return &ArgumentError{Op: op, Reason: ErrMaxScanLimitExceeded.Error(), Err: ErrMaxScanLimitExceeded}
	}
	return nil
}

// KeyRange is a range of keys [StartKey, EndKey); an empty EndKey is
// unbounded.
type KeyRange struct {
	StartKey, EndKey []byte
}

// KvPair is a key and its value.
type KvPair struct {
	Key, Value []byte
}

// scanCursor is the progress of one range of a BatchScan.
type scanCursor struct {
	idx   int    // index into the ranges
	start []byte // next key to scan
}

// BatchScan scans several ranges at once and returns, for each range in
// order, up to eachLimit pairs in key order (client-rust batch_scan; TiKV
// RawBatchScan with each_limit). The ranges must be sorted and must not
// overlap. Each round sends one RawBatchScan per region holding the next key
// of some unfinished range, in parallel; a range crossing regions continues
// in the next round. Limits are as for Scan.
func (c *Client) BatchScan(ctx context.Context, ranges []KeyRange, eachLimit int, opts ...RawOption) ([][]KvPair, error) {
	if err := c.checkScan("BatchScan", eachLimit); err != nil {
		return nil, err
	}
	for i, r := range ranges {
		if len(r.EndKey) > 0 && bytes.Compare(r.StartKey, r.EndKey) > 0 {
			return nil, badArg("BatchScan", "range %d: start key %q is above end key %q", i, r.StartKey, r.EndKey)
		}
		if i > 0 && (len(ranges[i-1].EndKey) == 0 || bytes.Compare(ranges[i-1].EndKey, r.StartKey) > 0) {
			return nil, badArg("BatchScan", "range %d overlaps or precedes range %d", i, i-1)
		}
	}
	out := make([][]KvPair, len(ranges))
	if eachLimit <= 0 {
		return out, nil
	}
	o := c.options(opts)
	bo := c.backoffer(ctx)
	var pending []scanCursor
	for i, r := range ranges {
		if len(r.EndKey) == 0 || bytes.Compare(r.StartKey, r.EndKey) < 0 {
			pending = append(pending, scanCursor{idx: i, start: r.StartKey})
		}
	}
	for len(pending) > 0 {
		groups, err := c.groupCursors(ctx, bo, pending)
		if err != nil {
			return nil, err
		}
		results := make([][]*kvrpcpb.KvPair, len(groups))
		retried := make([]bool, len(groups))
		run := func(gi int, gbo *retry.Backoffer) error {
			g := groups[gi]
			req := &kvrpcpb.RawBatchScanRequest{EachLimit: uint32(eachLimit), KeyOnly: o.keyOnly, Cf: o.cf}
			for _, cur := range g.cursors {
				req.Ranges = append(req.Ranges, &kvrpcpb.KeyRange{StartKey: cur.start, EndKey: clampEnd(g.loc, ranges[cur.idx].EndKey)})
			}
			resp, _, err := c.sender.Send(ctx, gbo, tikvrpc.NewRequest(tikvrpc.CmdRawBatchScan, req), g.loc.Region, c.timeout(false))
			if err != nil {
				return fmt.Errorf("rawkv RawBatchScan: region %d: %w", g.loc.Region.ID(), err)
			}
			if re, _ := resp.GetRegionError(); re != nil {
				retried[gi] = true
				return gbo.Backoff(retry.BoRegionMiss, errors.New(re.String()))
			}
			results[gi] = resp.Resp.(*kvrpcpb.RawBatchScanResponse).Kvs
			return nil
		}
		if len(groups) == 1 {
			err = run(0, bo)
		} else {
			tg := rt.NewGroup(c.cfg.rt)
			for gi := range groups {
				gbo := bo.Clone()
				tg.Go("rawkv-batch-scan", func() error { return run(gi, gbo) })
			}
			err = tg.Wait(ctx)
		}
		if err != nil {
			return nil, err
		}
		pending = pending[:0:0]
		for gi, g := range groups {
			if retried[gi] {
				pending = append(pending, g.cursors...)
				continue
			}
			next, err := assignScan(out, ranges, g, results[gi], eachLimit)
			if err != nil {
				return nil, err
			}
			pending = append(pending, next...)
		}
	}
	return out, nil
}

// cursorGroup is the cursors whose next key lies in one region.
type cursorGroup struct {
	loc     *locate.KeyLocation
	cursors []scanCursor
}

// groupCursors locates each cursor and groups consecutive cursors of one
// region (the cursors are in key order, so a region's are consecutive).
func (c *Client) groupCursors(ctx context.Context, bo *retry.Backoffer, cursors []scanCursor) ([]cursorGroup, error) {
	var groups []cursorGroup
	for _, cur := range cursors {
		if n := len(groups); n > 0 && groups[n-1].loc.Contains(cur.start) {
			groups[n-1].cursors = append(groups[n-1].cursors, cur)
			continue
		}
		loc, err := c.cache.LocateKey(ctx, sender.PDBackoffer{Bo: bo}, cur.start)
		if err != nil {
			return nil, fmt.Errorf("rawkv RawBatchScan: locate: %w", err)
		}
		groups = append(groups, cursorGroup{loc: loc, cursors: []scanCursor{cur}})
	}
	return groups, nil
}

// assignScan hands the pairs of one RawBatchScan response to the ranges of
// g (each pair to the range containing it) and returns the cursors that
// continue in the next region.
func assignScan(out [][]KvPair, ranges []KeyRange, g cursorGroup, kvs []*kvrpcpb.KvPair, eachLimit int) ([]scanCursor, error) {
	var next []scanCursor
	k := 0
	for _, cur := range g.cursors {
		end := clampEnd(g.loc, ranges[cur.idx].EndKey)
		for ; k < len(kvs); k++ {
			p := kvs[k]
			if p.Error != nil {
				return nil, &ServerError{Op: "BatchScan", RegionID: g.loc.Region.ID(), Msg: p.Error.String()}
			}
			if len(end) > 0 && bytes.Compare(p.Key, end) >= 0 {
				break
			}
			if len(out[cur.idx]) < eachLimit {
				out[cur.idx] = append(out[cur.idx], KvPair{Key: p.Key, Value: nonNil(p.Value)})
			}
		}
		if len(out[cur.idx]) < eachLimit && !lastRegion(g.loc, ranges[cur.idx].EndKey) {
			next = append(next, scanCursor{idx: cur.idx, start: g.loc.EndKey})
		}
	}
	return next, nil
}

// Checksum is a raw checksum over a key range (client-go RawChecksum:
// TiKV's crc64-xor). Under API V2, TotalBytes counts the keyspace prefix of
// every key, as TiKV computes it.
type Checksum struct {
	Crc64Xor   uint64
	TotalKvs   uint64
	TotalBytes uint64
}

// Checksum computes the checksum of [startKey, endKey) (endKey empty: to
// the end of the key space), region by region. An empty range gives the
// zero Checksum.
func (c *Client) Checksum(ctx context.Context, startKey, endKey []byte, opts ...RawOption) (Checksum, error) {
	var sum Checksum
	if err := c.check("Checksum"); err != nil {
		return sum, err
	}
	if len(endKey) > 0 && bytes.Compare(startKey, endKey) >= 0 {
		return sum, nil
	}
	bo := c.backoffer(ctx)
	for start := startKey; ; {
		resp, loc, err := c.sendKey(ctx, bo, start, false, tikvrpc.CmdRawChecksum, func(loc *locate.KeyLocation) any {
			return &kvrpcpb.RawChecksumRequest{Algorithm: kvrpcpb.ChecksumAlgorithm_Crc64_Xor,
				Ranges: []*kvrpcpb.KeyRange{{StartKey: start, EndKey: clampEnd(loc, endKey)}}}
		})
		if err != nil {
			return sum, err
		}
		r := resp.Resp.(*kvrpcpb.RawChecksumResponse)
		if err := respErr("Checksum", loc.Region, r.GetError()); err != nil {
			return sum, err
		}
		sum.Crc64Xor ^= r.Checksum
		sum.TotalKvs += r.TotalKvs
		sum.TotalBytes += r.TotalBytes
		if lastRegion(loc, endKey) {
			return sum, nil
		}
		start = loc.EndKey
	}
}
