package rawkv

import (
	"bytes"
	"context"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
)

// Scan returns up to limit keys and values in [startKey, endKey) (endKey
// empty: no upper bound), in key order, region by region (client-go
// rawkv.Scan).
func (c *Client) Scan(ctx context.Context, startKey, endKey []byte, limit int, opts ...RawOption) (keys, values [][]byte, err error) {
	if err := c.checkScan("Scan", limit); err != nil {
		return nil, nil, err
	}
	if len(endKey) > 0 && bytes.Compare(startKey, endKey) >= 0 {
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
			keys, values = append(keys, p.Key), append(values, p.Value)
		}
		if lastRegion(loc, endKey) {
			break
		}
		start = loc.EndKey
	}
	return keys, values, nil
}

// ReverseScan returns up to limit keys and values in [endKey, startKey), in
// descending key order (startKey empty: from the end of the key space).
func (c *Client) ReverseScan(ctx context.Context, startKey, endKey []byte, limit int, opts ...RawOption) (keys, values [][]byte, err error) {
	if err := c.checkScan("ReverseScan", limit); err != nil {
		return nil, nil, err
	}
	if len(startKey) > 0 && bytes.Compare(startKey, endKey) <= 0 {
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
			keys, values = append(keys, p.Key), append(values, p.Value)
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
	if limit <= 0 || limit > MaxRawKVScanLimit {
		return badArg(op, "limit %d is outside 1..%d", limit, MaxRawKVScanLimit)
	}
	return nil
}

// Checksum is a raw checksum over a key range (TiKV's crc64-xor).
type Checksum struct {
	Crc64Xor   uint64
	TotalKvs   uint64
	TotalBytes uint64
}

// Checksum computes the checksum of [startKey, endKey), region by region.
func (c *Client) Checksum(ctx context.Context, startKey, endKey []byte, opts ...RawOption) (Checksum, error) {
	var sum Checksum
	if err := c.check("Checksum"); err != nil {
		return sum, err
	}
	if len(endKey) > 0 && bytes.Compare(startKey, endKey) >= 0 {
		return sum, badArg("Checksum", "start key %q is not below end key %q", startKey, endKey)
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
		if err := respErr("Checksum", r.GetError()); err != nil {
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
