package cluster

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"slices"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
)

// The admin commands a client sends to a store: TiKV's SplitRegion RPC
// (src/server/service/kv.rs split_region), a region command, and
// UnsafeDestroyRange (kv.rs unsafe_destroy_range), a store-wide one.
//
// Both are served by exported Store methods, which the store's network
// handler (store.go serve) calls: UnsafeDestroyRange before any region
// check, SplitRegion (registered in commands.go's init) after the command
// lookup, so it skips the storage's API version check as kv.rs does.

// splitRegionSpec: SplitRegion is proposed through the region's leader,
// so the usual checks apply (store, region, leader, peer, version; the split
// keys must lie in the region: raftstore util.rs validate_split_region,
// which checks the version only, so admin is false), and a leader change
// while it waits fails it with StaleCommand, as a write.
var splitRegionSpec = func() cmdSpec {
	s := cmdSpec{write: true}
	s.keys = func(req contexted) [][]byte { return splitKeysOf(req.(*kvrpcpb.SplitRegionRequest)) }
	s.exec = func(c *Cluster, r *region, req contexted) proto.Message {
		return c.splitRegion(r, req.(*kvrpcpb.SplitRegionRequest))
	}
	s.resp = reflect.TypeOf(kvrpcpb.SplitRegionResponse{})
	return s
}()

// SplitRegion serves TiKV's SplitRegion RPC on this store, as the store's
// handler serves a region write: busy and region checks, the service time,
// the checks again (a leader change meanwhile is a StaleCommand), then the
// split. A store that crashed meanwhile answers context.Canceled (the
// response is lost).
func (s *Store) SplitRegion(ctx context.Context, req *kvrpcpb.SplitRegionRequest) (*kvrpcpb.SplitRegionResponse, error) {
	spec := &splitRegionSpec
	if s.busy {
		return regionErr(spec, &errorpb.Error{Message: "server is busy",
			ServerIsBusy: &errorpb.ServerIsBusy{Reason: "scheduler is busy", BackoffMs: 100}}).(*kvrpcpb.SplitRegionResponse), nil
	}
	r, rerr := s.check(req, spec)
	if rerr != nil {
		return &kvrpcpb.SplitRegionResponse{RegionError: rerr}, nil
	}
	term := r.term
	if err := s.c.w.Sleep(ctx, s.c.cfg.ServiceTime.Sample(s.c.rng)); err != nil {
		return nil, err
	}
	if !s.up {
		return nil, context.Canceled
	}
	if r2, rerr := s.check(req, spec); rerr != nil {
		if rerr.NotLeader != nil && r2 == nil {
			rerr = &errorpb.Error{Message: "stale command", StaleCommand: &errorpb.StaleCommand{}}
		}
		return &kvrpcpb.SplitRegionResponse{RegionError: rerr}, nil
	} else if r2.term != term {
		return &kvrpcpb.SplitRegionResponse{RegionError: &errorpb.Error{Message: "stale command", StaleCommand: &errorpb.StaleCommand{}}}, nil
	}
	resp := s.c.splitRegion(r, req)
	s.c.drainReady()
	return resp, nil
}

// splitKeysOf returns the request's split keys: split_key when set, else
// split_keys (kv.rs split_region).
func splitKeysOf(q *kvrpcpb.SplitRegionRequest) [][]byte {
	if len(q.GetSplitKey()) > 0 {
		return [][]byte{q.GetSplitKey()}
	}
	return q.GetSplitKeys()
}

// splitRegion runs a batch split of r at the request's keys, as TiKV's
// BatchSplit admin command does (components/raftstore/src/store/fsm/apply.rs
// exec_batch_split with right-derive-when-split): the keys are encoded as
// data keys and sorted, region r keeps the rightmost part and its id, each
// part on its left becomes a new region with new ids, and every part gets
// the version r had plus the number of new regions. The response lists every
// region after the split in key order, r last.
//
// Errors come back as region errors with a message only, as kv.rs does for
// errors that are not region errors ("failed to split: ..."): no split key,
// an empty key, a key at or before the region's start, or PD down (TiKV asks
// PD for the new ids, AskBatchSplit).
func (c *Cluster) splitRegion(r *region, q *kvrpcpb.SplitRegionRequest) *kvrpcpb.SplitRegionResponse {
	fail := func(format string, args ...any) *kvrpcpb.SplitRegionResponse {
		return &kvrpcpb.SplitRegionResponse{RegionError: &errorpb.Error{
			Message: fmt.Sprintf("failed to split: [region %d] ", r.meta.Id) + fmt.Sprintf(format, args...)}}
	}
	user := splitKeysOf(q)
	if len(user) == 0 {
		return fail("no split key is specified.")
	}
	keys := make([][]byte, 0, len(user))
	for _, k := range user {
		if len(k) == 0 {
			return fail("split key should not be empty")
		}
		b := c.toBoundary(k)
		if !r.contains(b) {
			return &kvrpcpb.SplitRegionResponse{RegionError: keyNotInRegion(r, k)}
		}
		keys = append(keys, b)
	}
	slices.SortFunc(keys, bytes.Compare)
	for i, k := range keys {
		// exec_batch_split: "invalid split request" for a key not above
		// the previous one (or the region's start).
		if bytes.Equal(k, r.meta.StartKey) || (i > 0 && bytes.Equal(k, keys[i-1])) {
			return fail("invalid split request: split key %q is not above the previous boundary", k)
		}
	}
	if !c.pdUp {
		return fail("ask batch split: pd is down")
	}
	version := r.meta.RegionEpoch.Version
	var parts []*region
	for _, k := range keys {
		if err := c.split(k); err != nil {
			// Only PD losing its leader between two ids gets here.
			return fail("%v", err)
		}
		parts = append(parts, c.regs[slices.Index(c.regs, r)-1]) // the new left part
	}
	resp := &kvrpcpb.SplitRegionResponse{}
	newVersion := version + uint64(len(keys))
	for _, p := range append(parts, r) {
		p.meta.RegionEpoch.Version = newVersion
		resp.Regions = append(resp.Regions, proto.Clone(p.meta).(*metapb.Region))
		c.reportSoon(p)
	}
	if len(resp.Regions) == 2 {
		resp.Left, resp.Right = resp.Regions[0], resp.Regions[1]
	}
	c.check()
	return resp
}

// UnsafeDestroyRange serves TiKV's UnsafeDestroyRange RPC on this store
// (src/server/service/kv.rs unsafe_destroy_range, gc_worker): every version
// and lock of the user keys in [start_key, end_key) is removed directly from
// storage, bypassing regions and Raft, which is why the request carries no
// region and a client sends it to every store. TiKV refuses an empty start
// or end key (it asserts); here that is the response's error string. The
// engine is shared by every store of the simulated cluster, so the first
// store served removes the data for all of them. A store that is down does
// not answer: the network reports the call as not sent.
//
// The store's network handler serves it before any region check.
func (s *Store) UnsafeDestroyRange(req *kvrpcpb.UnsafeDestroyRangeRequest) *kvrpcpb.UnsafeDestroyRangeResponse {
	if len(req.GetStartKey()) == 0 || len(req.GetEndKey()) == 0 {
		return &kvrpcpb.UnsafeDestroyRangeResponse{Error: "unsafe destroy range: start and end keys must not be empty"}
	}
	c := s.c
	c.engine.DeleteRange(&kvrpcpb.DeleteRangeRequest{StartKey: req.GetStartKey(), EndKey: req.GetEndKey()})
	c.drainReady()
	c.record(fmt.Sprintf("unsafe-destroy-range [%q,%q) on store %d", req.GetStartKey(), req.GetEndKey(), s.id))
	return &kvrpcpb.UnsafeDestroyRangeResponse{}
}
