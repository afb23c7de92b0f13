// Package sender is the client's request sender: it sends one request to one
// region's leader, understands the region error that comes back, updates the
// region cache, backs off on the Clock and retries, within the Backoffer's
// budget. It mirrors client-go's RegionRequestSender for leader routing
// (internal/locate/region_request.go, onRegionError and onSendFail); replica
// and stale reads go through locate.ReplicaSelector (replica.go).
//
// Send returns one of:
//   - a response without region error: done;
//   - a response with a region error the caller must handle by locating its
//     keys again (the region changed: EpochNotMatch, RegionNotFound,
//     KeyNotInRegion, StoreNotMatch, MismatchPeerId, and errors the sender
//     does not know), after backing off with BoRegionMiss, exactly as
//     client-go's callers do;
//   - an error: the budget ran out, ctx is done, the region error is
//     not retryable (RaftEntryTooLarge, Flashback*), or the outcome is
//     undetermined.
//
// Undetermined outcomes: a send that fails after the request may have reached
// the store (a timeout, a lost response) is retried only when the request is
// idempotent. A raw write is not (retrying it can apply it twice, after
// another client's write, which is not linearizable), so for raw writes Send
// returns an error satisfying tikverr.IsErrUndetermined instead. client-go
// retries raw writes here; the simulator's register workload shows why we do
// not.
//
// API versions: a Sender built with NewWithCodec encodes every request with
// its apicodec.Codec right before the transport call (API version and
// keyspace in the context, V2 keys prefixed) and decodes the response
// (returned pairs, region-error boundaries) before looking at it, so callers
// and the region cache work in user keys only (client-go does this in its
// RPC client, internal/client/client.go, with the codec of the
// CodecPDClient). CodecRegionSource is the matching PD adapter: it maps user
// keys to PD's region keys and region boundaries back
// (client-go internal/locate/pd_codec.go).
//
// Request settings, interceptors and resource control (control.go): Send
// first copies the settings bound to its context (util.WithRequestSource and
// friends, util.WithResourceGroupName, util.WithResourceGroupTag or
// WithResourceGroupTagger) into the request where it has none of its own.
// Each attempt then runs, in client-go's order (interceptedClient,
// internal/client/client_interceptor.go): the resource controller's
// admission (resourcecontrol.KVInterceptor.OnRequestWait), the context's
// RPC interceptor chain (interceptor.WithRPCInterceptor) around the codec
// and the transport call, and the settlement of the response
// (OnResponse). A request with an InputRequestSource gets its wire source
// patched per attempt ("leader_<src>", then "retry_leader_leader_<src>").
// With nothing bound to the context, an attempt costs nothing extra.
// SendStore does the same for a store-level request, without routing or
// retries.
package sender

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvsim/tikvsim/client/config/retry"
	"github.com/tikvsim/tikvsim/client/internal/apicodec"
	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/pd"
	"github.com/tikvsim/tikvsim/client/resourcecontrol"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/transport"
)

// ErrRaftEntryTooLarge is returned (wrapped) when TiKV refuses a write
// larger than its raft-entry-max-size: resending it cannot succeed.
var ErrRaftEntryTooLarge = errors.New("raft entry too large")

// Sender sends requests to region leaders. It is safe for concurrent use.
type Sender struct {
	cache *locate.Cache
	tr    transport.Transport
	codec *apicodec.Codec // nil: requests go out as given
	obs   Observer
	rc    resourcecontrol.KVInterceptor // nil: no client-wide resource control
	// replicaSeed breaks ties between equally good replicas, round robin.
	replicaSeed atomic.Uint32
	readTS      ReadTSValidator // nil: stale reads' ts are not checked
}

// New returns a sender routing through cache and sending with tr. Requests
// go out as given (API V1 without a codec).
func New(cache *locate.Cache, tr transport.Transport) *Sender {
	return &Sender{cache: cache, tr: tr}
}

// NewWithCodec is New with an API codec: each request is encoded with codec
// before it is sent and each response decoded before it is examined. cache
// must be loaded through a RegionSource in the same key space
// (CodecRegionSource with the same codec).
func NewWithCodec(cache *locate.Cache, tr transport.Transport, codec *apicodec.Codec) *Sender {
	return &Sender{cache: cache, tr: tr, codec: codec}
}

// Codec returns the sender's codec, nil when it has none.
func (s *Sender) Codec() *apicodec.Codec { return s.codec }

// send is one transport call, through the codec when there is one. A
// response that cannot be decoded is an error: the store answered keys this
// client cannot map back, and retrying would not change that.
func (s *Sender) send(ctx context.Context, addr string, req *tikvrpc.Request, timeout time.Duration) (*tikvrpc.Response, error) {
	if s.codec == nil {
		return s.tr.SendRequest(ctx, addr, req, timeout)
	}
	wire, err := s.codec.EncodeRequest(req)
	if err != nil {
		return nil, err
	}
	resp, err := s.tr.SendRequest(ctx, addr, wire, timeout)
	if err != nil {
		return nil, err
	}
	return s.codec.DecodeResponse(wire, resp)
}

// Cache returns the sender's region cache.
func (s *Sender) Cache() *locate.Cache { return s.cache }

// PDBackoffer adapts a retry.Backoffer to the region cache's Backoffer,
// spending the request's budget on PD retries (BoPDRPC), as client-go does.
type PDBackoffer struct{ Bo *retry.Backoffer }

// Backoff implements locate.Backoffer.
func (b PDBackoffer) Backoff(_ context.Context, err error) error {
	return b.Bo.Backoff(retry.BoPDRPC, err)
}

// Send sends req to region, retrying what the sender can retry by itself.
// See the package doc for what the result means.
//
// A replica or stale read (req.ReplicaReadType other than the leader, or
// req.StaleRead) goes through a locate.ReplicaSelector instead (replica.go);
// opts refine its choice.
func (s *Sender) Send(ctx context.Context, bo *retry.Backoffer, req *tikvrpc.Request, region locate.RegionVerID, timeout time.Duration, opts ...ReadOption) (*tikvrpc.Response, *locate.RPCContext, error) {
	if isReplicaRead(req) {
		var ro readOptions
		for _, o := range opts {
			o(&ro)
		}
		return s.sendReplica(ctx, bo, req, region, timeout, ro)
	}
	notReady := 0 // DataIsNotReady answers so far
	sends := 0    // transport calls so far
	ctl := s.prepare(ctx, req)
	for {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		rpc, err := s.cache.GetRPCContext(ctx, PDBackoffer{bo}, region)
		if err != nil {
			return nil, nil, err
		}
		if rpc == nil {
			// The region is gone from the cache: answer a fake EpochNotMatch
			// so the caller locates its keys again (client-go SendReqCtx).
			resp, err := tikvrpc.GenRegionErrorResp(req, &errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{}})
			return resp, nil, err
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
		if err != nil {
			var refused *refusedError
			if apicodec.IsDecodeError(err) || errors.Is(err, apicodec.ErrKeyOutOfBound) || errors.As(err, &refused) {
				return nil, rpc, fmt.Errorf("%s to %v: %w", req.Type, rpc, err)
			}
			if err := s.onSendFail(ctx, bo, rpc, req, err); err != nil {
				return nil, rpc, err
			}
			continue
		}
		regionErr, err := resp.GetRegionError()
		if err != nil {
			return nil, rpc, err
		}
		if regionErr == nil {
			return resp, rpc, nil
		}
		retryNow, err := s.onRegionError(ctx, bo, rpc, req, regionErr, &notReady)
		if err != nil {
			return nil, rpc, err
		}
		if !retryNow {
			return resp, rpc, nil
		}
	}
}

// onSendFail handles a transport error (client-go onSendFail): the store is
// suspected, the region's work peer moves on, and the request is retried
// after BoTiKVRPC, unless ctx is done or retrying could apply a write twice.
func (s *Sender) onSendFail(ctx context.Context, bo *retry.Backoffer, rpc *locate.RPCContext, req *tikvrpc.Request, err error) error {
	notSent := transport.IsNotSent(err)
	if cerr := ctx.Err(); cerr != nil {
		if notSent {
			return cerr
		}
		return tikverr.Undetermined(req.Type.String(), fmt.Errorf("%w (request to %s may have run)", cerr, rpc.Addr))
	}
	s.cache.OnSendFail(rpc, true, err)
	if !notSent && req.IsRawWriteRequest() {
		return tikverr.Undetermined(req.Type.String(), fmt.Errorf("send to %s: %w", rpc.Addr, err))
	}
	return bo.Backoff(retry.BoTiKVRPC, fmt.Errorf("send to %s: %w", rpc.Addr, err))
}

// onRegionError reports whether to resend at once (after any backoff it did),
// mirroring client-go onRegionError for leader routing.
//
// notReady counts the DataIsNotReady answers of this Send: client-go
// retries them at once without backoff because its replica selector then
// reads from the leader; with leader-only routing the retry goes to the same
// peer, so from the second answer on the sender backs off (BoMaxDataNotReady)
// instead of spinning.
func (s *Sender) onRegionError(ctx context.Context, bo *retry.Backoffer, rpc *locate.RPCContext, req *tikvrpc.Request, e *errorpb.Error, notReady *int) (bool, error) {
	why := func(what string) error { return fmt.Errorf("%s (%v)", what, rpc) }
	switch {
	case e.GetUndeterminedResult() != nil:
		return false, tikverr.Undetermined(req.Type.String(), errors.New(e.GetMessage()))
	case e.GetNotLeader() != nil:
		nl := e.GetNotLeader()
		s.cache.UpdateLeader(rpc.Region, nl.GetLeader(), rpc.AccessIdx)
		if nl.GetLeader() == nil {
			// No leader known (an election): wait for one.
			return true, bo.Backoff(retry.BoRegionScheduling, why("not leader: no leader"))
		}
		return true, nil // a new leader is named: no backoff
	case e.GetDiskFull() != nil:
		return true, bo.Backoff(retry.BoTiKVDiskFull, why("tikv disk full"))
	case e.GetRecoveryInProgress() != nil:
		s.cache.InvalidateCachedRegion(rpc.Region)
		return false, bo.Backoff(retry.BoRegionRecoveryInProgress, why("region recovery in progress"))
	case e.GetIsWitness() != nil:
		s.cache.InvalidateCachedRegionWithReason(rpc.Region, locate.Other)
		return false, bo.Backoff(retry.BoIsWitness, why("is witness"))
	case e.GetFlashbackInProgress() != nil:
		return false, fmt.Errorf("%w: region %d: %s", tikverr.ErrRegionFlashbackInProgress, e.GetFlashbackInProgress().GetRegionId(), e.GetMessage())
	case e.GetFlashbackNotPrepared() != nil:
		return false, fmt.Errorf("%w: region %d: %s", tikverr.ErrRegionFlashbackNotPrepared, e.GetFlashbackNotPrepared().GetRegionId(), e.GetMessage())
	case e.GetRegionNotFound() != nil:
		s.cache.InvalidateCachedRegionWithReason(rpc.Region, locate.RegionNotFound)
		return false, nil
	case e.GetKeyNotInRegion() != nil:
		s.cache.InvalidateCachedRegion(rpc.Region)
		return false, nil
	case e.GetEpochNotMatch() != nil:
		again, err := s.cache.OnRegionEpochNotMatch(ctx, PDBackoffer{bo}, rpc, e.GetEpochNotMatch().GetCurrentRegions())
		if again && err == nil {
			// TiKV is behind the request's epoch: give it time to catch
			// up (client-go backs off RegionMiss here).
			err = bo.Backoff(retry.BoRegionMiss, why("epoch not match: store behind"))
		}
		return again, err
	case e.GetBucketVersionNotMatch() != nil:
		b := e.GetBucketVersionNotMatch()
		s.cache.OnBucketVersionNotMatch(rpc, b.GetVersion(), b.GetKeys())
		return false, nil
	case e.GetServerIsBusy() != nil:
		return true, bo.Backoff(retry.BoTiKVServerBusy, why("server is busy: "+e.GetServerIsBusy().GetReason()))
	case e.GetStaleCommand() != nil:
		if req.Type == tikvrpc.CmdRawCompareAndSwap {
			// StaleCommand does not prove the write was not applied: the
			// old leader's entry may have been committed by the new leader
			// while the proposer answers stale because its apply delegate
			// dropped the callback (TiKV raftstore fsm/apply.rs
			// clear_all_commands_as_stale). Retrying is harmless for every
			// other raw write, but a CAS retried after it was applied
			// answers "not swapped" for its own swap: report it
			// undetermined instead.
			return false, tikverr.Undetermined(req.Type.String(), why("stale command: the compare-and-swap may have been applied"))
		}
		return true, bo.Backoff(retry.BoStaleCmd, why("stale command"))
	case e.GetStoreNotMatch() != nil:
		s.cache.Stores().MarkNeedCheck(rpc.Store)
		s.cache.InvalidateCachedRegion(rpc.Region)
		return false, nil
	case e.GetRaftEntryTooLarge() != nil:
		return false, fmt.Errorf("%w: %s", ErrRaftEntryTooLarge, e.String())
	case e.GetMaxTimestampNotSynced() != nil:
		return true, bo.Backoff(retry.BoMaxTsNotSynced, why("max timestamp not synced"))
	case e.GetRegionNotInitialized() != nil:
		return true, bo.Backoff(retry.BoMaxRegionNotInitialized, why("region not initialized"))
	case e.GetReadIndexNotReady() != nil:
		return true, bo.Backoff(retry.BoRegionScheduling, why("read index not ready"))
	case e.GetProposalInMergingMode() != nil:
		return true, bo.Backoff(retry.BoRegionScheduling, why("region is merging"))
	case e.GetDataIsNotReady() != nil:
		*notReady++
		if *notReady == 1 {
			return true, nil
		}
		return true, bo.Backoff(retry.BoMaxDataNotReady, why("data is not ready"))
	case e.GetMismatchPeerId() != nil:
		s.cache.InvalidateCachedRegion(rpc.Region)
		return false, nil
	}
	// Anything else: drop the region so the caller re-splits its request.
	s.cache.InvalidateCachedRegion(rpc.Region)
	return false, nil
}

// RegionSource adapts a PD edge to the region cache's RegionSource, mapping
// pd.ErrStoreNotFound onto locate.ErrStoreNotFound.
func RegionSource(p pdRegions) locate.RegionSource { return regionSource{p} }

// pdRegions is the part of pd.Client the region cache reads.
type pdRegions interface {
	pd.Regions
	pd.Stores
}

type regionSource struct{ pdRegions }

// GetStore implements locate.RegionSource.
func (s regionSource) GetStore(ctx context.Context, id uint64) (*metapb.Store, error) {
	st, err := s.pdRegions.GetStore(ctx, id)
	if errors.Is(err, pd.ErrStoreNotFound) {
		return nil, fmt.Errorf("%w: %v", locate.ErrStoreNotFound, err)
	}
	return st, err
}

// CodecRegionSource adapts a PD edge to the region cache's RegionSource in
// the user-key space of codec (client-go CodecPDClient,
// internal/locate/pd_codec.go): lookup keys and scan ranges are encoded to
// PD's region keys, and the boundaries (and bucket keys) of the regions PD
// returns are decoded and clipped to the keyspace. A region entirely outside
// the keyspace is reported as unknown (nil) to GetRegion and
// GetRegionByID and dropped from BatchScanRegions. With a nil codec it is
// RegionSource.
func CodecRegionSource(p pdRegions, codec *apicodec.Codec) locate.RegionSource {
	if codec == nil {
		return RegionSource(p)
	}
	return codecSource{regionSource{p}, codec}
}

type codecSource struct {
	regionSource
	codec *apicodec.Codec
}

// GetRegion implements locate.RegionSource in user keys.
func (s codecSource) GetRegion(ctx context.Context, key []byte, needBuckets bool) (*pdpb.Region, error) {
	r, err := s.regionSource.GetRegion(ctx, s.codec.EncodeRegionKey(key), needBuckets)
	if err != nil {
		return nil, err
	}
	return s.decode(r)
}

// GetPrevRegion implements locate.RegionSource in user keys.
func (s codecSource) GetPrevRegion(ctx context.Context, key []byte, needBuckets bool) (*pdpb.Region, error) {
	var enc []byte
	if len(key) == 0 {
		// The region before "the end of the keyspace": PD's form of the
		// keyspace end (empty for V1, unbounded).
		_, enc = s.codec.EncodeRegionRange(nil, nil)
	} else {
		enc = s.codec.EncodeRegionKey(key)
	}
	r, err := s.regionSource.GetPrevRegion(ctx, enc, needBuckets)
	if err != nil {
		return nil, err
	}
	return s.decode(r)
}

// GetRegionByID implements locate.RegionSource in user keys.
func (s codecSource) GetRegionByID(ctx context.Context, id uint64, needBuckets bool) (*pdpb.Region, error) {
	r, err := s.regionSource.GetRegionByID(ctx, id, needBuckets)
	if err != nil {
		return nil, err
	}
	return s.decode(r)
}

// BatchScanRegions implements locate.RegionSource in user keys.
func (s codecSource) BatchScanRegions(ctx context.Context, ranges []*pdpb.KeyRange, limit int, needBuckets bool) ([]*pdpb.Region, error) {
	enc := make([]*pdpb.KeyRange, len(ranges))
	for i, r := range ranges {
		st, end := s.codec.EncodeRegionRange(r.GetStartKey(), r.GetEndKey())
		enc[i] = &pdpb.KeyRange{StartKey: st, EndKey: end}
	}
	rs, err := s.regionSource.BatchScanRegions(ctx, enc, limit, needBuckets)
	if err != nil {
		return nil, err
	}
	out := make([]*pdpb.Region, 0, len(rs))
	for _, r := range rs {
		d, err := s.decode(r)
		if err != nil {
			return nil, err
		}
		if d != nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// decode returns a copy of r with user-key boundaries, nil for a region
// outside the keyspace (or for nil).
func (s codecSource) decode(r *pdpb.Region) (*pdpb.Region, error) {
	if r == nil || r.GetRegion() == nil {
		return r, nil
	}
	start, end, err := s.codec.DecodeRegionRange(r.Region.GetStartKey(), r.Region.GetEndKey())
	if errors.Is(err, apicodec.ErrKeyOutOfBound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := proto.Clone(r).(*pdpb.Region)
	out.Region.StartKey, out.Region.EndKey = start, end
	if b := out.GetBuckets(); b != nil {
		if b.Keys, err = s.codec.DecodeBucketKeys(b.GetKeys()); err != nil {
			return nil, err
		}
	}
	return out, nil
}
