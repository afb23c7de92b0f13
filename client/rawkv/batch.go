package rawkv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
	ttls   []uint64 // for puts with TTLs, parallel to keys
}

// limits bound one request of a batch operation: at most count keys, and
// (when size > 0) pairs added only while the key and value bytes are below
// size, so a request goes over size by at most its last pair (client-go
// kvrpc.AppendBatches / AppendKeyBatches).
type limits struct{ count, size int }

// pairs is the input of a batch operation: unique keys with their values
// and TTLs (nil when the operation has none).
type pairs struct {
	keys   [][]byte
	values [][]byte
	ttls   []uint64
}

// groupByRegion splits p into per-region batches within lim, ordered by key
// so that runs are deterministic.
func (c *Client) groupByRegion(ctx context.Context, bo *retry.Backoffer, p pairs, lim limits) ([]batch, error) {
	groups, _, err := c.cache.GroupKeysByRegion(ctx, sender.PDBackoffer{Bo: bo}, p.keys, nil)
	if err != nil {
		return nil, fmt.Errorf("rawkv: locate: %w", err)
	}
	var index map[string]int
	if p.values != nil || p.ttls != nil {
		index = make(map[string]int, len(p.keys))
		for i, k := range p.keys {
			index[string(k)] = i
		}
	}
	var out []batch
	for id, ks := range groups {
		slices.SortFunc(ks, bytes.Compare)
		b := batch{region: id}
		size := 0
		for _, k := range ks {
			if len(b.keys) > 0 && (len(b.keys) >= lim.count || (lim.size > 0 && size >= lim.size)) {
				out = append(out, b)
				b, size = batch{region: id}, 0
			}
			b.keys = append(b.keys, k)
			size += len(k)
			if p.values != nil {
				v := p.values[index[string(k)]]
				b.values = append(b.values, v)
				size += len(v)
			}
			if p.ttls != nil {
				b.ttls = append(b.ttls, p.ttls[index[string(k)]])
			}
		}
		if len(b.keys) > 0 {
			out = append(out, b)
		}
	}
	slices.SortFunc(out, func(a, b batch) int { return bytes.Compare(a.keys[0], b.keys[0]) })
	return out, nil
}

// batchOp is one batch operation: how to build a request for a batch and
// what to do with its response.
type batchOp struct {
	typ    tikvrpc.CmdType
	lim    limits
	mk     func(b batch) any
	onResp func(b batch, resp *tikvrpc.Response) error
}

// doBatches runs one request per batch in parallel tasks, each on a clone
// of bo (client-go forks the Backoffer per batch). A batch whose region
// changed is regrouped and retried by its own task (client-go rawkv
// doBatchReq / doBatchPut); the first error wins.
func (c *Client) doBatches(ctx context.Context, bo *retry.Backoffer, p pairs, op *batchOp) error {
	batches, err := c.groupByRegion(ctx, bo, p, op.lim)
	if err != nil {
		return err
	}
	switch len(batches) {
	case 0:
		return nil
	case 1:
		return c.doBatch(ctx, bo, batches[0], op)
	}
	g := rt.NewGroup(c.cfg.rt)
	for _, b := range batches {
		fbo := bo.Clone()
		g.Go("rawkv-batch", func() error { return c.doBatch(ctx, fbo, b, op) })
	}
	return g.Wait(ctx)
}

func (c *Client) doBatch(ctx context.Context, bo *retry.Backoffer, b batch, op *batchOp) error {
	req := tikvrpc.NewRequest(op.typ, op.mk(b))
	resp, _, err := c.sender.Send(ctx, bo, req, b.region, c.timeout(req.IsRawWriteRequest()))
	if err != nil {
		return fmt.Errorf("rawkv %s: region %d: %w", op.typ, b.region.ID(), err)
	}
	if re, _ := resp.GetRegionError(); re != nil {
		if err := bo.Backoff(retry.BoRegionMiss, errors.New(re.String())); err != nil {
			return fmt.Errorf("rawkv %s: region %d: %w", op.typ, b.region.ID(), err)
		}
		return c.doBatches(ctx, bo, pairs{keys: b.keys, values: b.values, ttls: b.ttls}, op)
	}
	return op.onResp(b, resp)
}

// BatchGet returns the values of keys, in order: nil for a missing key, an
// empty slice for an empty value. Keys may repeat.
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
	err := c.doBatches(ctx, c.backoffer(ctx), pairs{keys: dedup(keys)}, &batchOp{
		typ: tikvrpc.CmdRawBatchGet, lim: limits{count: MaxBatchPairCount},
		mk: func(b batch) any { return &kvrpcpb.RawBatchGetRequest{Keys: b.keys, Cf: o.cf} },
		onResp: func(b batch, resp *tikvrpc.Response) error {
			mu.Lock()
			defer mu.Unlock()
			for _, p := range resp.Resp.(*kvrpcpb.RawBatchGetResponse).Pairs {
				if p.Error != nil {
					return &ServerError{Op: "BatchGet", RegionID: b.region.ID(), Msg: p.Error.String()}
				}
				found[string(p.Key)] = nonNil(p.Value)
			}
			return nil
		}})
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = found[string(k)]
	}
	return out, nil
}

// BatchPut sets keys[i] to values[i]. When a key repeats, its last value is
// written.
func (c *Client) BatchPut(ctx context.Context, keys, values [][]byte, opts ...RawOption) error {
	return c.BatchPutWithTTL(ctx, keys, values, nil, opts...)
}

// BatchPutWithTTL sets keys[i] to values[i] with TTL ttls[i] seconds (ttls
// empty: no TTL). Each region's pairs go in requests of about
// MaxBatchPutSize bytes, sent in parallel; a failed request fails the call
// with the first error, and the other requests may have applied.
func (c *Client) BatchPutWithTTL(ctx context.Context, keys, values [][]byte, ttls []uint64, opts ...RawOption) error {
	if err := c.check("BatchPut"); err != nil {
		return err
	}
	if len(keys) != len(values) || (len(ttls) > 0 && len(ttls) != len(keys)) {
		return badArg("BatchPut", "%d keys, %d values and %d ttls", len(keys), len(values), len(ttls))
	}
	for i, k := range keys {
		if err := checkKey("BatchPut", k); err != nil {
			return err
		}
		if err := checkValue("BatchPut", k, values[i]); err != nil {
			return err
		}
	}
	p := dedupLast(keys, values, ttls)
	o := c.options(opts)
	return c.doBatches(ctx, c.backoffer(ctx), p, &batchOp{
		typ: tikvrpc.CmdRawBatchPut, lim: limits{count: len(keys) + 1, size: MaxBatchPutSize},
		mk: func(b batch) any {
			r := &kvrpcpb.RawBatchPutRequest{Cf: o.cf, ForCas: c.atomic, Ttls: b.ttls,
				Pairs: make([]*kvrpcpb.KvPair, len(b.keys))}
			for i, k := range b.keys {
				r.Pairs[i] = &kvrpcpb.KvPair{Key: k, Value: b.values[i]}
			}
			return r
		},
		onResp: func(b batch, resp *tikvrpc.Response) error {
			return respErr("BatchPut", b.region, resp.Resp.(*kvrpcpb.RawBatchPutResponse).GetError())
		}})
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
	return c.doBatches(ctx, c.backoffer(ctx), pairs{keys: dedup(keys)}, &batchOp{
		typ: tikvrpc.CmdRawBatchDelete, lim: limits{count: MaxBatchPairCount},
		mk: func(b batch) any { return &kvrpcpb.RawBatchDeleteRequest{Keys: b.keys, Cf: o.cf, ForCas: c.atomic} },
		onResp: func(b batch, resp *tikvrpc.Response) error {
			return respErr("BatchDelete", b.region, resp.Resp.(*kvrpcpb.RawBatchDeleteResponse).GetError())
		}})
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

// dedupLast keeps the last value (and TTL) of each repeated key, in the
// order of first appearance (client-go builds a key→value map).
func dedupLast(keys, values [][]byte, ttls []uint64) pairs {
	at := make(map[string]int, len(keys))
	var p pairs
	for i, k := range keys {
		j, ok := at[string(k)]
		if !ok {
			j = len(p.keys)
			at[string(k)] = j
			p.keys = append(p.keys, k)
			p.values = append(p.values, nil)
			if len(ttls) > 0 {
				p.ttls = append(p.ttls, 0)
			}
		}
		p.values[j] = values[i]
		if len(ttls) > 0 {
			p.ttls[j] = ttls[i]
		}
	}
	if p.values == nil {
		p.values = [][]byte{}
	}
	return p
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
// end of the key space), region by region (client-go DeleteRange). An
// empty range (startKey >= a non-empty endKey) deletes nothing. When it
// fails part way, the regions before the failure are already deleted.
func (c *Client) DeleteRange(ctx context.Context, startKey, endKey []byte, opts ...RawOption) error {
	if err := c.check("DeleteRange"); err != nil {
		return err
	}
	if len(endKey) > 0 && bytes.Compare(startKey, endKey) >= 0 {
		return nil
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
		if err := respErr("DeleteRange", loc.Region, resp.Resp.(*kvrpcpb.RawDeleteRangeResponse).GetError()); err != nil {
			return err
		}
		if lastRegion(loc, endKey) {
			return nil
		}
		start = loc.EndKey
	}
}
