package rawkv

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/config/retry"
	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/internal/sender"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
)

// batch is the keys of one request: all in one region.
type batch struct {
	region locate.RegionVerID
	keys   [][]byte
	values [][]byte // for puts, parallel to keys
}

// groupByRegion splits keys (and values) into per-region batches of at most
// limit keys, ordered by key so that runs are deterministic.
func (c *Client) groupByRegion(ctx context.Context, bo *retry.Backoffer, keys, values [][]byte, limit int) ([]batch, error) {
	groups, _, err := c.cache.GroupKeysByRegion(ctx, sender.PDBackoffer{Bo: bo}, keys, nil)
	if err != nil {
		return nil, err
	}
	var index map[string]int
	if values != nil {
		index = make(map[string]int, len(keys))
		for i, k := range keys {
			index[string(k)] = i
		}
	}
	var out []batch
	for id, ks := range groups {
		slices.SortFunc(ks, bytes.Compare)
		for start := 0; start < len(ks); start += limit {
			b := batch{region: id, keys: ks[start:min(start+limit, len(ks))]}
			if values != nil {
				for _, k := range b.keys {
					b.values = append(b.values, values[index[string(k)]])
				}
			}
			out = append(out, b)
		}
	}
	slices.SortFunc(out, func(a, b batch) int { return bytes.Compare(a.keys[0], b.keys[0]) })
	return out, nil
}

// doBatches runs one request per batch in parallel tasks. A batch whose
// region changed is regrouped and retried by its own task (client-go
// rawkv doBatchReq); the first error wins.
func (c *Client) doBatches(ctx context.Context, bo *retry.Backoffer, keys, values [][]byte, limit int,
	typ tikvrpc.CmdType, mk func(b batch) any, onResp func(b batch, resp *tikvrpc.Response) error) error {
	batches, err := c.groupByRegion(ctx, bo, keys, values, limit)
	if err != nil {
		return err
	}
	if len(batches) == 1 {
		return c.doBatch(ctx, bo, batches[0], limit, typ, mk, onResp)
	}
	g := rt.NewGroup(c.cfg.rt)
	for _, b := range batches {
		fbo := bo.Clone()
		g.Go("rawkv-batch", func() error { return c.doBatch(ctx, fbo, b, limit, typ, mk, onResp) })
	}
	return g.Wait(ctx)
}

func (c *Client) doBatch(ctx context.Context, bo *retry.Backoffer, b batch, limit int,
	typ tikvrpc.CmdType, mk func(b batch) any, onResp func(b batch, resp *tikvrpc.Response) error) error {
	req := tikvrpc.NewRequest(typ, mk(b))
	resp, _, err := c.sender.Send(ctx, bo, req, b.region, c.timeout(req.IsRawWriteRequest()))
	if err != nil {
		return err
	}
	if re, _ := resp.GetRegionError(); re != nil {
		if err := bo.Backoff(retry.BoRegionMiss, errors.New(re.String())); err != nil {
			return err
		}
		return c.doBatches(ctx, bo, b.keys, b.values, limit, typ, mk, onResp)
	}
	return onResp(b, resp)
}

// BatchGet returns the values of keys, in order; a missing key's value is
// nil.
func (c *Client) BatchGet(ctx context.Context, keys [][]byte, opts ...RawOption) ([][]byte, error) {
	if err := c.check("BatchGet"); err != nil {
		return nil, err
	}
	for _, k := range keys {
		if err := checkKey("BatchGet", k); err != nil {
			return nil, err
		}
	}
	o := c.options(opts)
	found := make(map[string][]byte, len(keys))
	var mu sync.Mutex
	err := c.doBatches(ctx, c.backoffer(ctx), dedup(keys), nil, MaxBatchSize, tikvrpc.CmdRawBatchGet,
		func(b batch) any { return &kvrpcpb.RawBatchGetRequest{Keys: b.keys, Cf: o.cf} },
		func(_ batch, resp *tikvrpc.Response) error {
			mu.Lock()
			defer mu.Unlock()
			for _, p := range resp.Resp.(*kvrpcpb.RawBatchGetResponse).Pairs {
				if p.Error != nil {
					return errors.New(p.Error.String())
				}
				found[string(p.Key)] = p.Value
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = found[string(k)]
	}
	return out, nil
}

// BatchPut sets keys[i] to values[i].
func (c *Client) BatchPut(ctx context.Context, keys, values [][]byte, opts ...RawOption) error {
	return c.BatchPutWithTTL(ctx, keys, values, nil, opts...)
}

// BatchPutWithTTL sets keys[i] to values[i] with TTL ttls[i] (nil: none).
func (c *Client) BatchPutWithTTL(ctx context.Context, keys, values [][]byte, ttls []uint64, opts ...RawOption) error {
	if err := c.check("BatchPut"); err != nil {
		return err
	}
	if len(keys) != len(values) || (ttls != nil && len(ttls) != len(keys)) {
		return badArg("BatchPut", "%d keys, %d values and %d ttls", len(keys), len(values), len(ttls))
	}
	ttlOf := map[string]uint64{}
	for i, k := range keys {
		if err := checkKey("BatchPut", k); err != nil {
			return err
		}
		if len(values[i]) == 0 {
			return badArg("BatchPut", "empty value for key %q", k)
		}
		if len(values[i]) > MaxValueSize {
			return badArg("BatchPut", "value of %d bytes is over the %d-byte limit", len(values[i]), MaxValueSize)
		}
		if ttls != nil {
			ttlOf[string(k)] = ttls[i]
		}
	}
	o := c.options(opts)
	return c.doBatches(ctx, c.backoffer(ctx), keys, values, MaxBatchSize, tikvrpc.CmdRawBatchPut,
		func(b batch) any {
			r := &kvrpcpb.RawBatchPutRequest{Cf: o.cf, ForCas: c.atomic}
			for i, k := range b.keys {
				r.Pairs = append(r.Pairs, &kvrpcpb.KvPair{Key: k, Value: b.values[i]})
				if ttls != nil {
					r.Ttls = append(r.Ttls, ttlOf[string(k)])
				}
			}
			return r
		},
		func(_ batch, resp *tikvrpc.Response) error {
			return respErr("BatchPut", resp.Resp.(*kvrpcpb.RawBatchPutResponse).GetError())
		})
}

// BatchDelete deletes keys.
func (c *Client) BatchDelete(ctx context.Context, keys [][]byte, opts ...RawOption) error {
	if err := c.check("BatchDelete"); err != nil {
		return err
	}
	for _, k := range keys {
		if err := checkKey("BatchDelete", k); err != nil {
			return err
		}
	}
	o := c.options(opts)
	return c.doBatches(ctx, c.backoffer(ctx), dedup(keys), nil, MaxBatchSize, tikvrpc.CmdRawBatchDelete,
		func(b batch) any { return &kvrpcpb.RawBatchDeleteRequest{Keys: b.keys, Cf: o.cf, ForCas: c.atomic} },
		func(_ batch, resp *tikvrpc.Response) error {
			return respErr("BatchDelete", resp.Resp.(*kvrpcpb.RawBatchDeleteResponse).GetError())
		})
}

func dedup(keys [][]byte) [][]byte {
	seen := make(map[string]bool, len(keys))
	out := make([][]byte, 0, len(keys))
	for _, k := range keys {
		if !seen[string(k)] {
			seen[string(k)] = true
			out = append(out, k)
		}
	}
	return out
}

// clampEnd bounds a forward range end to the region's end.
func clampEnd(loc *locate.KeyLocation, end []byte) []byte {
	if len(loc.EndKey) > 0 && (len(end) == 0 || bytes.Compare(loc.EndKey, end) < 0) {
		return loc.EndKey
	}
	return end
}

// lastRegion reports whether loc reaches end (exclusive; empty: +inf).
func lastRegion(loc *locate.KeyLocation, end []byte) bool {
	return len(loc.EndKey) == 0 || (len(end) > 0 && bytes.Compare(loc.EndKey, end) >= 0)
}

// DeleteRange deletes every key in [startKey, endKey) (endKey empty: to the
// end of the key space), region by region.
func (c *Client) DeleteRange(ctx context.Context, startKey, endKey []byte, opts ...RawOption) error {
	if err := c.check("DeleteRange"); err != nil {
		return err
	}
	if len(endKey) > 0 && bytes.Compare(startKey, endKey) >= 0 {
		return badArg("DeleteRange", "start key %q is not below end key %q", startKey, endKey)
	}
	o := c.options(opts)
	bo := c.backoffer(ctx)
	for start := startKey; ; {
		resp, loc, err := c.sendKey(ctx, bo, start, false, tikvrpc.CmdRawDeleteRange, func(loc *locate.KeyLocation) any {
			return &kvrpcpb.RawDeleteRangeRequest{StartKey: start, EndKey: clampEnd(loc, endKey), Cf: o.cf}
		})
		if err != nil {
			return err
		}
		if err := respErr("DeleteRange", resp.Resp.(*kvrpcpb.RawDeleteRangeResponse).GetError()); err != nil {
			return err
		}
		if lastRegion(loc, endKey) {
			return nil
		}
		start = loc.EndKey
	}
}
