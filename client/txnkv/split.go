package txnkv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvsim/tikvsim/client/config/retry"
	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/internal/sender"
	"github.com/tikvsim/tikvsim/client/pd"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/txnkv/rangetask"
)

// Split and scatter tuning, from client-go tikv/split_region.go.
const (
	// splitBatchRegionLimit is the most split keys one SplitRegion RPC
	// carries.
	splitBatchRegionLimit = 2048
	// splitRegionBackoff is the backoff budget, in ms, per split key, up
	// to maxSplitRegionsBackoff in all.
	splitRegionBackoff     = 20000
	maxSplitRegionsBackoff = 120000
	// waitScatterRegionFinishBackoff is WaitScatterRegionFinish's default
	// budget, in ms.
	waitScatterRegionFinishBackoff = 120000
	// splitRegionTimeout is one SplitRegion RPC's timeout (client-go
	// ReadTimeoutShort).
	splitRegionTimeout = 30 * time.Second
)

// ErrScatterUnsupported is returned when a call needs PD's scatter API and
// the PD edge does not serve it (pd.RegionScatterer).
var ErrScatterUnsupported = errors.New("txnkv: the PD edge does not serve region scattering")

// SplitOption configures SplitRegions.
type SplitOption func(*splitOptions)

type splitOptions struct{ group string }

// WithScatterGroup makes PD balance the scattered regions within group
// (client-go passes the table id as the group).
func WithScatterGroup(group string) SplitOption { return func(o *splitOptions) { o.group = group } }

func (c *Client) scatterer() (pd.RegionScatterer, error) {
	s, ok := c.cfg.pd.(pd.RegionScatterer)
	if !ok {
		return nil, ErrScatterUnsupported
	}
	return s, nil
}

// SplitRegions splits regions so that each of splitKeys starts a region
// and returns the ids of the new regions (client-go KVStore.SplitRegions):
// the keys are grouped by region and each region is split by its leader
// through TiKV's SplitRegion RPC, up to 2048 keys a request, regions in
// parallel. A key that already starts a region is skipped. A region that
// changed under the request is located again and its keys regrouped. With
// scatter, PD is then asked to scatter every new region
// (WaitScatterRegionFinish waits for it).
//
// A region split whose scatter failed still counts: regionIDs holds every
// region created even when err is not nil. The budget is 20 s of backoff per
// key, 120 s at most.
func (c *Client) SplitRegions(ctx context.Context, splitKeys [][]byte, scatter bool, opts ...SplitOption) (regionIDs []uint64, err error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	var o splitOptions
	for _, f := range opts {
		f(&o)
	}
	var sc pd.RegionScatterer
	if scatter {
		if sc, err = c.scatterer(); err != nil {
			return nil, err
		}
	}
	// Sorted and deduplicated: TiKV sorts a request's keys anyway, and a
	// duplicate would fail the whole batch.
	keys := slices.Clone(splitKeys)
	slices.SortFunc(keys, bytes.Compare)
	keys = slices.CompactFunc(keys, bytes.Equal)
	s := c.store.Sender
	bo := retry.NewBackoffer(ctx, min(len(keys)*splitRegionBackoff, maxSplitRegionsBackoff), s.BackoffEnv(c.cfg.rt))
	sp := &splitter{c: c, sc: sc, group: o.group}
	regions, err := sp.splitBatches(ctx, bo, keys, scatter)
	regionIDs = make([]uint64, 0, len(regions))
	for _, r := range regions {
		regionIDs = append(regionIDs, r.GetId())
	}
	return regionIDs, err
}

type splitter struct {
	c     *Client
	sc    pd.RegionScatterer
	group string
}

type splitBatch struct {
	region locate.RegionVerID
	keys   [][]byte
}

// splitBatches is client-go's splitBatchRegionsReq: group keys by region
// (dropping those that already start one), cut each group into batches, and
// send them, in parallel when there are several. It returns the new regions
// of every batch that split, and the first error by key order.
func (sp *splitter) splitBatches(ctx context.Context, bo *retry.Backoffer, keys [][]byte, scatter bool) ([]*metapb.Region, error) {
	cache := sp.c.store.Sender.Cache()
	groups, _, err := cache.GroupKeysByRegion(ctx, sender.PDBackoffer{Bo: bo}, keys, func(key, regionStart []byte) bool {
		return bytes.Equal(key, regionStart)
	})
	if err != nil {
		return nil, err
	}
	var batches []splitBatch
	for id, ks := range groups {
		for len(ks) > 0 {
			n := min(len(ks), splitBatchRegionLimit)
			batches = append(batches, splitBatch{region: id, keys: ks[:n]})
			ks = ks[n:]
		}
	}
	// Map order must not reach behaviour: batches go in key order.
	slices.SortFunc(batches, func(a, b splitBatch) int { return bytes.Compare(a.keys[0], b.keys[0]) })
	switch len(batches) {
	case 0:
		return nil, nil
	case 1:
		return sp.splitOne(ctx, bo, batches[0], scatter)
	}
	type result struct {
		regions []*metapb.Region
		err     error
	}
	results := make([]result, len(batches))
	forks := make([]*retry.Backoffer, len(batches))
	g := rt.NewGroup(sp.c.cfg.rt)
	for i, b := range batches {
		fbo, cancel := bo.Fork()
		forks[i] = fbo
		g.Go("split-region", func() error {
			defer cancel()
			rs, err := sp.splitOne(fbo.GetCtx(), fbo, b, scatter)
			results[i] = result{rs, err}
			return nil
		})
	}
	// Every task stops when ctx is done (its fork's context is a child):
	// wait for all of them, so none writes results after we read them.
	_ = g.Wait(context.Background())
	var out []*metapb.Region
	for i, r := range results {
		out = append(out, r.regions...)
		if r.err != nil && err == nil {
			err = r.err
		}
		bo.UpdateUsingForked(forks[i])
	}
	return out, err
}

// splitOne is client-go's batchSendSingleRegion: one SplitRegion RPC to the
// batch's region, then the scatter of each new region. A region error sends
// the keys back through splitBatches after a RegionMiss backoff.
func (sp *splitter) splitOne(ctx context.Context, bo *retry.Backoffer, b splitBatch, scatter bool) ([]*metapb.Region, error) {
	s := sp.c.store.Sender
	req := tikvrpc.NewRequest(tikvrpc.CmdSplitRegion, &kvrpcpb.SplitRegionRequest{SplitKeys: b.keys},
		kvrpcpb.Context{Priority: kvrpcpb.CommandPri_Normal})
	resp, _, err := s.Send(ctx, bo, req, b.region, splitRegionTimeout)
	if err != nil {
		return nil, fmt.Errorf("txnkv: split region %d at %d keys: %w", b.region.ID(), len(b.keys), err)
	}
	if re, _ := resp.GetRegionError(); re != nil {
		if err := bo.Backoff(retry.BoRegionMiss, errors.New(re.String())); err != nil {
			return nil, fmt.Errorf("txnkv: split region %d: %w", b.region.ID(), err)
		}
		return sp.splitBatches(ctx, bo, b.keys, scatter)
	}
	sr, ok := resp.Resp.(*kvrpcpb.SplitRegionResponse)
	if !ok || sr == nil {
		return nil, tikverr.ErrBodyMissing
	}
	// The split region itself is gone from the cache's point of view.
	s.Cache().InvalidateCachedRegion(b.region)
	regions := sr.GetRegions()
	if len(regions) > 0 {
		// Of n regions after the split, the last is the original (right
		// derive): the n-1 before it are new and are the ones to scatter.
		regions = regions[:len(regions)-1]
	}
	if !scatter {
		return regions, nil
	}
	var firstErr error
	for _, r := range regions {
		err := sp.scatterRegion(ctx, bo, r.GetId())
		if err == nil {
			continue
		}
		if firstErr == nil {
			firstErr = fmt.Errorf("txnkv: scatter region %d: %w", r.GetId(), err)
		}
		var timeout *tikverr.ErrPDServerTimeout
		if errors.As(err, &timeout) {
			break // PD is not answering: the other scatters would wait too
		}
	}
	return regions, firstErr
}

// scatterRegion asks PD to scatter one region, backing off PDRPC until PD
// accepts (client-go scatterRegion).
func (sp *splitter) scatterRegion(ctx context.Context, bo *retry.Backoffer, id uint64) error {
	for {
		_, err := sp.sc.ScatterRegions(ctx, []uint64{id}, sp.group)
		if err == nil {
			return nil
		}
		if err := bo.Backoff(retry.BoPDRPC, err); err != nil {
			return err
		}
	}
}

// scattering reports whether a GetOperator answer shows a scatter still
// running on the region.
func scattering(resp *pdpb.GetOperatorResponse) bool {
	return string(resp.GetDesc()) == pd.ScatterOperatorDesc && resp.GetStatus() == pdpb.OperatorStatus_RUNNING
}

// WaitScatterRegionFinish waits until PD's scatter of regionID is no longer
// running: it succeeded, failed, timed out, was replaced, or there is none
// (client-go KVStore.WaitScatterRegionFinish). It polls PD's GetOperator
// with RegionMiss backoffs within backoffMs milliseconds (default 120000
// when not positive). A running scatter whose answer carries a PD error is
// a *tikverr.PDError.
func (c *Client) WaitScatterRegionFinish(ctx context.Context, regionID uint64, backoffMs int) error {
	sc, err := c.scatterer()
	if err != nil {
		return err
	}
	if backoffMs <= 0 {
		backoffMs = waitScatterRegionFinishBackoff
	}
	bo := retry.NewBackoffer(ctx, backoffMs, c.store.Sender.BackoffEnv(c.cfg.rt))
	for {
		resp, err := sc.GetOperator(ctx, regionID)
		if err == nil && resp != nil {
			if !scattering(resp) {
				return nil
			}
			if e := resp.GetHeader().GetError(); e != nil {
				return fmt.Errorf("txnkv: wait scatter region %d: %w", regionID, &tikverr.PDError{Err: e})
			}
		}
		if err == nil {
			err = fmt.Errorf("scatter of region %d still running", regionID)
		}
		if err := bo.Backoff(retry.BoRegionMiss, err); err != nil {
			return fmt.Errorf("txnkv: wait scatter region %d: %w", regionID, err)
		}
	}
}

// CheckRegionInScattering reports whether PD is scattering regionID now
// (client-go KVStore.CheckRegionInScattering). PD errors are retried with
// RegionMiss backoffs within the locate budget (20 s); when that runs out
// the answer is (true, err).
func (c *Client) CheckRegionInScattering(ctx context.Context, regionID uint64) (bool, error) {
	sc, err := c.scatterer()
	if err != nil {
		return false, err
	}
	bo := rangetask.NewLocateRegionBackoffer(ctx, c)
	for {
		resp, err := sc.GetOperator(ctx, regionID)
		if err == nil {
			return resp != nil && scattering(resp), nil
		}
		if err := bo.Backoff(retry.BoRegionMiss, err); err != nil {
			return true, fmt.Errorf("txnkv: check region %d in scattering: %w", regionID, err)
		}
	}
}
