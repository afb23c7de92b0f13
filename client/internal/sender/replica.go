package sender

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsim/tikvsim/client/config/retry"
	"github.com/tikvsim/tikvsim/client/internal/apicodec"
	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
)

// ReadOption refines how Send chooses the replica of a replica or stale
// read (client-go StoreSelectorOption).
type ReadOption func(*readOptions)

type readOptions struct {
	labels []*metapb.StoreLabel
	stores []uint64
}

// WithMatchLabels prefers replicas whose store carries all of labels
// (client-go WithMatchLabels).
func WithMatchLabels(labels []*metapb.StoreLabel) ReadOption {
	return func(o *readOptions) { o.labels = labels }
}

// WithMatchStores prefers replicas on the given stores (client-go
// WithMatchStores).
func WithMatchStores(ids []uint64) ReadOption {
	return func(o *readOptions) { o.stores = ids }
}

// ReadTSValidator refuses read timestamps PD has not handed out yet
// (oracle.PDOracle implements it: client-go oracle ValidateReadTS).
type ReadTSValidator interface {
	ValidateReadTS(ctx context.Context, readTS uint64, isStaleRead bool) error
}

// SetReadTSValidator makes Send check the read ts of every stale read with
// v before sending it (client-go RegionRequestSender.validateReadTS); nil
// turns the check off. Call it before the sender is used.
func (s *Sender) SetReadTSValidator(v ReadTSValidator) { s.readTS = v }

// readTSOf returns the read ts of a transactional read, 0 for others.
func readTSOf(req *tikvrpc.Request) uint64 {
	switch r := req.Req.(type) {
	case *kvrpcpb.GetRequest:
		return r.GetVersion()
	case *kvrpcpb.BatchGetRequest:
		return r.GetVersion()
	case *kvrpcpb.ScanRequest:
		return r.GetVersion()
	case *kvrpcpb.BufferBatchGetRequest:
		return r.GetVersion()
	}
	return 0
}

// isReplicaRead reports whether req goes through the replica selector: a
// replica read kind other than the leader, a stale read, or a read with a
// busy threshold (load-based replica read).
func isReplicaRead(req *tikvrpc.Request) bool {
	return req.ReplicaReadType != tikvrpc.ReplicaReadLeader || req.StaleRead || (req.BusyThresholdMs > 0 && isReadCmd(req.Type))
}

// sendReplica is Send for replica and stale reads: a locate.ReplicaSelector
// picks each attempt's replica and read flags, and learns from the answers,
// as client-go's RegionRequestSender does with its replicaSelector
// (internal/locate/region_request.go SendReqCtx, onRegionError,
// onSendFail). When the selector runs out of replicas the region is
// invalidated and a fake EpochNotMatch sends the caller to locate its keys
// again, as client-go does with a nil RPC context.
func (s *Sender) sendReplica(ctx context.Context, bo *retry.Backoffer, req *tikvrpc.Request, region locate.RegionVerID, timeout time.Duration, ro readOptions) (*tikvrpc.Response, *locate.RPCContext, error) {
	if ts := readTSOf(req); req.StaleRead && ts != 0 && s.readTS != nil {
		if err := s.readTS.ValidateReadTS(ctx, ts, true); err != nil {
			return nil, nil, err
		}
	}
	ctl := s.prepare(ctx, req)
	relocate := func() (*tikvrpc.Response, *locate.RPCContext, error) {
		resp, err := tikvrpc.GenRegionErrorResp(req, &errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{}})
		return resp, nil, err
	}
	seed := s.replicaSeed.Add(1)
	if p := req.GetReplicaReadSeed(); p != nil {
		seed = *p
	}
	sel := s.cache.NewReplicaSelectorFor(region, locate.SelectorOptions{
		ReplicaRead: req.ReplicaReadType, StaleRead: req.StaleRead, ReadOnly: isReadCmd(req.Type),
		Labels: ro.labels, Stores: ro.stores, Rand: func(n int) int { return int(seed % uint32(n)) },
		BusyThreshold: time.Duration(req.BusyThresholdMs) * time.Millisecond,
	})
	if sel == nil {
		return relocate()
	}
	invalidateAtEnd := false
	defer func() {
		if invalidateAtEnd {
			s.cache.InvalidateCachedRegionWithReason(region, locate.RegionNotFound)
		}
	}()
	sends := 0
	for {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		t, ok := sel.Next()
		if !ok {
			s.cache.InvalidateCachedRegion(region)
			return relocate()
		}
		rpc, err := s.cache.GetReplicaRPCContext(ctx, PDBackoffer{bo}, region, t.Index)
		if err != nil {
			return nil, nil, err
		}
		if rpc == nil {
			return relocate()
		}
		req.StaleRead, req.ReplicaRead = t.StaleRead, t.ReplicaRead
		if t.NoBusyThreshold {
			req.BusyThresholdMs = 0
		}
		if req.InputRequestSource != "" {
			patchRequestSource(req, sends > 0)
		}
		if err := tikvrpc.SetContext(req, rpc.Meta, rpc.Peer); err != nil {
			return nil, rpc, err
		}
		start := s.now()
		resp, err := s.call(ctx, &ctl, rpc.Addr, req, timeout)
		sends++
		s.observe(req, rpc.Addr, start, resp, err)
		isLeader := t.Index == sel.Leader()
		if err != nil {
			var refused *refusedError
			if apicodec.IsDecodeError(err) || errors.Is(err, apicodec.ErrKeyOutOfBound) || errors.As(err, &refused) {
				return nil, rpc, fmt.Errorf("%s to %v: %w", req.Type, rpc, err)
			}
			sel.OnSendFail()
			if isLeader {
				if err := s.onSendFail(ctx, bo, rpc, req, err); err != nil {
					return nil, rpc, err
				}
				continue
			}
			if cerr := ctx.Err(); cerr != nil {
				return nil, rpc, cerr
			}
			// Another replica may answer at once; client-go backs off
			// only when it resends to the same store.
			continue
		}
		regionErr, err := resp.GetRegionError()
		if err != nil {
			return nil, rpc, err
		}
		if regionErr == nil {
			if !isLeader && !t.ReplicaRead && !t.StaleRead {
				// A plain read served: that replica is the leader now
				// (client-go onSendSuccess switchWorkLeaderToPeer).
				s.cache.UpdateLeader(rpc.Region, rpc.Peer, rpc.AccessIdx)
			}
			return resp, rpc, nil
		}
		why := func(what string) error { return fmt.Errorf("%s (%v)", what, rpc) }
		switch {
		case regionErr.GetNotLeader() != nil:
			nl := regionErr.GetNotLeader()
			if nl.GetLeader() != nil {
				s.cache.UpdateLeader(rpc.Region, nl.GetLeader(), rpc.AccessIdx)
			}
			sel.OnNotLeader(nl.GetLeader().GetStoreId())
			if nl.GetLeader() == nil {
				if err := bo.Backoff(retry.BoRegionScheduling, why("not leader: no leader")); err != nil {
					return nil, rpc, err
				}
			}
		case regionErr.GetDataIsNotReady() != nil:
			// client-go retries a (global) stale read at once, on the
			// leader.
			sel.OnDataIsNotReady()
		case regionErr.GetServerIsBusy() != nil:
			sel.OnServerIsBusy()
			s.cache.OnServerBusyEstimate(rpc, regionErr.GetServerIsBusy().GetEstimatedWaitMs())
			if sel.ReplicaReadType() == tikvrpc.ReplicaReadLeader && !req.StaleRead && req.BusyThresholdMs == 0 {
				if err := bo.Backoff(retry.BoTiKVServerBusy, why("server is busy: "+regionErr.GetServerIsBusy().GetReason())); err != nil {
					return nil, rpc, err
				}
			}
		case regionErr.GetReadIndexNotReady() != nil:
			if err := bo.Backoff(retry.BoRegionScheduling, why("read index not ready")); err != nil {
				return nil, rpc, err
			}
		case regionErr.GetRegionNotFound() != nil && sel.OnRegionNotFound():
			// The region may be new on the leader and not yet created on
			// the replica: retry the leader, then drop the region.
			invalidateAtEnd = true
		default:
			var notReady int
			retryNow, err := s.onRegionError(ctx, bo, rpc, req, regionErr, &notReady)
			if err != nil {
				return nil, rpc, err
			}
			if !retryNow {
				return resp, rpc, nil
			}
		}
	}
}

// isReadCmd reports whether typ is a read a follower may serve.
func isReadCmd(typ tikvrpc.CmdType) bool {
	switch typ {
	case tikvrpc.CmdGet, tikvrpc.CmdBatchGet, tikvrpc.CmdScan, tikvrpc.CmdRawGet, tikvrpc.CmdRawBatchGet, tikvrpc.CmdRawScan,
		tikvrpc.CmdBufferBatchGet:
		return true
	}
	return false
}
