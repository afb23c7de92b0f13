// Package pdclient is the production PD edge: a pd.Client (package
// client/pd) over github.com/tikv/pd/client, the PD client client-go uses,
// which follows PD leader changes, batches timestamp requests and speaks
// TLS. Hand it to rawkv.WithPD or txnkv.WithPD.
//
// Besides pd.Client it has the optional capabilities other packages look
// for by type assertion: LoadKeyspace (rawkv.KeyspaceLoader, for API V2
// clients built with rawkv.NewClientWithOpts), pd.GCStates (PD's
// GC-states API, for txnkv's GC, GC barriers and CheckVisibility; gc.go)
// and pd.RegionScatterer (PD's ScatterRegions and GetOperator, for txnkv's
// SplitRegions with scatter and WaitScatterRegionFinish; scatter.go).
// Inner gives the pd client itself, for PD calls no edge carries.
//
// Mapping onto the pd client:
//
//   - GetTS(ctx, 1) is the pd client's GetTS, which batches concurrent
//     callers of one process into one PD request and retries leader changes.
//     GetTS(ctx, n) for n > 1 needs n consecutive timestamps (the oracle
//     hands out last-n+1 .. last), which the pd client's one-timestamp API
//     cannot promise: its batches may split one caller's n requests and mix
//     in others'. So the adapter asks PD itself, on the pd client's
//     connection to the PD leader (or to the TSO primary when the cluster
//     runs TSO as a microservice), with one TsoRequest of Count n, as the pd
//     client's own dispatcher does (client/clients/tso/stream.go).
//   - A region PD does not know is (nil, nil), as pd.Regions requires: the
//     pd client already answers so for a leader's empty answer, and a
//     REGION_NOT_FOUND header (a follower's answer) is mapped to it too.
//   - A store PD does not know (PD's "invalid store ID %d, not found", as
//     client-go's isStoreNotFoundError recognises it) or a removed store
//     (the pd client's nil store) is an error matching pd.ErrStoreNotFound.
//   - Every other failure is an *Error naming the operation; when the
//     caller's context ended it also matches ctx.Err() with errors.Is.
//
// Construction dials PD (New blocks until the pd client has found the
// cluster); Close releases the connections and the pd client's goroutines.
// The wall-clock and goroutine code is confined to dial.go, which is on the
// determinism guard's allow-list: the adapter is never used under the
// simulator, which supplies its own PD edge.
package pdclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	pdc "github.com/tikv/pd/client"
	"github.com/tikv/pd/client/clients/router"
	pdopt "github.com/tikv/pd/client/opt"

	"github.com/tikvsim/tikvsim/client/pd"
	"github.com/tikvsim/tikvsim/client/tikverr"
)

// Client is the PD edge over a pd client. It is safe for concurrent use.
type Client struct {
	pd       pdc.Client
	opts     options
	keyspace *keyspacepb.KeyspaceMeta // nil without WithKeyspace
	// cancel ends the context the pd client lives in.
	cancel    context.CancelFunc
	closeOnce sync.Once
	closed    atomic.Bool
}

var _ pd.Client = (*Client)(nil)

// Sentinel errors; the errors returned wrap them, test with errors.Is.
var (
	// ErrKeyspaceNotFound is matched by LoadKeyspace's error (and New's,
	// with WithKeyspace) when PD does not know the keyspace, or not yet
	// (PD answers so until the keyspace's region boundaries are split).
	ErrKeyspaceNotFound = errors.New("pdclient: keyspace not found")
	// ErrClosed is matched by the error of every call on a closed Client.
	ErrClosed = fmt.Errorf("pdclient: %w", tikverr.ErrClosed)
)

// Error is a failed PD call: Op names it ("GetRegion", "GetTS(64)", ...),
// Err is the pd client's or gRPC's error. When the caller's context had
// ended, Ctx is its error and errors.Is matches it too.
type Error struct {
	Op  string
	Err error
	Ctx error
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Ctx != nil && !errors.Is(e.Err, e.Ctx) {
		return fmt.Sprintf("pdclient: %s: %v (%v)", e.Op, e.Err, e.Ctx)
	}
	return fmt.Sprintf("pdclient: %s: %v", e.Op, e.Err)
}

// Unwrap returns Err and, when set, Ctx.
func (e *Error) Unwrap() []error {
	if e.Ctx == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Ctx}
}

func fail(ctx context.Context, op string, err error) error {
	return &Error{Op: op, Err: err, Ctx: ctx.Err()}
}

// isStoreNotFound recognises PD's answer for an unknown store
// (server/grpc_service.go GetStore: "invalid store ID %d, not found"), as
// client-go does (internal/locate/store_cache.go isStoreNotFoundError): the
// pd client turns the response header into a plain string error.
func isStoreNotFound(err error) bool {
	s := err.Error()
	return strings.Contains(s, "invalid store ID") && strings.Contains(s, "not found")
}

// isRegionNotFound recognises a REGION_NOT_FOUND response header (PD
// followers answer so for an unknown key, pkg/utils/grpcutil/cluster.go).
func isRegionNotFound(err error) bool {
	return strings.Contains(err.Error(), pdpb.ErrorType_REGION_NOT_FOUND.String())
}

// isEntryNotFound recognises PD's ENTRY_NOT_FOUND header, its answer for an
// unknown keyspace (server/keyspace_service.go LoadKeyspace).
func isEntryNotFound(err error) bool {
	return strings.Contains(err.Error(), pdpb.ErrorType_ENTRY_NOT_FOUND.String())
}

// checkClosed fails a call on a closed client.
func (c *Client) checkClosed(op string) error {
	if c.closed.Load() {
		return &Error{Op: op, Err: ErrClosed}
	}
	return nil
}

// checkTSO validates PD's answer to a request for want timestamps: the
// last of them, all in one millisecond (PD's allocator never spreads a
// batch over two).
func checkTSO(ts *pdpb.Timestamp, got, want uint32) (int64, int64, error) {
	switch {
	case ts == nil:
		return 0, 0, errors.New("TSO response without a timestamp")
	case got != want:
		return 0, 0, fmt.Errorf("PD allocated %d timestamps, %d asked", got, want)
	case ts.Physical <= 0:
		return 0, 0, fmt.Errorf("TSO response with physical time %d", ts.Physical)
	case ts.Logical < int64(want)-1 || ts.Logical > maxTSOCount:
		return 0, 0, fmt.Errorf("TSO response with logical %d for %d timestamps", ts.Logical, want)
	}
	return ts.Physical, ts.Logical, nil
}

// maxTSOCount bounds one TSO request: PD hands out at most 2^18-1 logical
// values per millisecond.
const maxTSOCount = 1<<18 - 1

// GetTS implements pd.TSO: it allocates count consecutive timestamps and
// returns the last (see the package comment for how count maps onto the pd
// client). count must be in [1, 2^18-1].
func (c *Client) GetTS(ctx context.Context, count uint32) (physical, logical int64, err error) {
	if count == 0 || count > maxTSOCount {
		return 0, 0, tikverr.InvalidArgument("pdclient.GetTS", "count", fmt.Sprintf("%d is not in [1, %d]", count, maxTSOCount))
	}
	if err := c.checkClosed("GetTS"); err != nil {
		return 0, 0, err
	}
	if count == 1 {
		physical, logical, err = c.pd.GetTS(ctx)
		if err != nil {
			return 0, 0, fail(ctx, "GetTS", err)
		}
		return physical, logical, nil
	}
	return c.getTSBatch(ctx, count)
}

// regionOptions are the pd options of one region lookup.
func regionOptions(needBuckets bool) []pdopt.GetRegionOption {
	if needBuckets {
		return []pdopt.GetRegionOption{pdopt.WithBuckets()}
	}
	return nil
}

// toPD converts the pd client's region to PD's wire form. A nil region, or
// one without meta, is nil. Down peers lose their down time, which the pd
// client drops.
func toPD(r *router.Region) *pdpb.Region {
	if r == nil || r.Meta == nil {
		return nil
	}
	out := &pdpb.Region{Region: r.Meta, Leader: r.Leader, PendingPeers: r.PendingPeers, Buckets: r.Buckets}
	if len(r.DownPeers) > 0 {
		out.DownPeers = make([]*pdpb.PeerStats, 0, len(r.DownPeers))
		for _, p := range r.DownPeers {
			out.DownPeers = append(out.DownPeers, &pdpb.PeerStats{Peer: p})
		}
	}
	return out
}

// region finishes a single-region lookup.
func region(ctx context.Context, op string, r *router.Region, err error) (*pdpb.Region, error) {
	if err != nil {
		if isRegionNotFound(err) {
			return nil, nil
		}
		return nil, fail(ctx, op, err)
	}
	return toPD(r), nil
}

// GetRegion implements pd.Regions: the region containing key, or nil.
func (c *Client) GetRegion(ctx context.Context, key []byte, needBuckets bool) (*pdpb.Region, error) {
	if err := c.checkClosed("GetRegion"); err != nil {
		return nil, err
	}
	r, err := c.pd.GetRegion(ctx, key, regionOptions(needBuckets)...)
	return region(ctx, "GetRegion", r, err)
}

// GetPrevRegion implements pd.Regions: the region just before the one
// containing key, or nil.
func (c *Client) GetPrevRegion(ctx context.Context, key []byte, needBuckets bool) (*pdpb.Region, error) {
	if err := c.checkClosed("GetPrevRegion"); err != nil {
		return nil, err
	}
	r, err := c.pd.GetPrevRegion(ctx, key, regionOptions(needBuckets)...)
	return region(ctx, "GetPrevRegion", r, err)
}

// GetRegionByID implements pd.Regions: the region with this id, or nil.
func (c *Client) GetRegionByID(ctx context.Context, id uint64, needBuckets bool) (*pdpb.Region, error) {
	if err := c.checkClosed("GetRegionByID"); err != nil {
		return nil, err
	}
	r, err := c.pd.GetRegionByID(ctx, id, regionOptions(needBuckets)...)
	return region(ctx, "GetRegionByID", r, err)
}

// BatchScanRegions implements pd.Regions: at most limit regions covering
// ranges (sorted, disjoint, none nil), in key order. PD fails the call when
// the regions it knows leave a hole in a range (client-go passes
// WithOutputMustContainAllKeyRange, as here). limit must not be negative;
// 0 lets PD choose.
func (c *Client) BatchScanRegions(ctx context.Context, ranges []*pdpb.KeyRange, limit int, needBuckets bool) ([]*pdpb.Region, error) {
	const op = "pdclient.BatchScanRegions"
	if limit < 0 {
		return nil, tikverr.InvalidArgument(op, "limit", fmt.Sprintf("%d is negative", limit))
	}
	if err := c.checkClosed("BatchScanRegions"); err != nil {
		return nil, err
	}
	krs := make([]router.KeyRange, len(ranges))
	for i, r := range ranges {
		if r == nil {
			return nil, tikverr.InvalidArgument(op, "ranges", fmt.Sprintf("range %d is nil", i))
		}
		krs[i] = router.KeyRange{StartKey: r.StartKey, EndKey: r.EndKey}
	}
	opts := append(regionOptions(needBuckets), pdopt.WithOutputMustContainAllKeyRange())
	rs, err := c.pd.BatchScanRegions(ctx, krs, limit, opts...)
	if err != nil {
		return nil, fail(ctx, "BatchScanRegions", err)
	}
	out := make([]*pdpb.Region, 0, len(rs))
	for _, r := range rs {
		if p := toPD(r); p != nil {
			out = append(out, p)
		}
	}
	return out, nil
}

// GetStore implements pd.Stores: the store's meta, or an error matching
// pd.ErrStoreNotFound when PD does not know it or it was removed.
func (c *Client) GetStore(ctx context.Context, id uint64) (*metapb.Store, error) {
	if err := c.checkClosed("GetStore"); err != nil {
		return nil, err
	}
	s, err := c.pd.GetStore(ctx, id)
	switch {
	case err != nil && isStoreNotFound(err):
		return nil, &Error{Op: fmt.Sprintf("GetStore(%d)", id), Err: fmt.Errorf("%w: %v", pd.ErrStoreNotFound, err)}
	case err != nil:
		return nil, fail(ctx, fmt.Sprintf("GetStore(%d)", id), err)
	case s == nil:
		return nil, &Error{Op: fmt.Sprintf("GetStore(%d)", id), Err: fmt.Errorf("%w: the store was removed", pd.ErrStoreNotFound)}
	}
	return s, nil
}

// GetAllStores implements pd.Stores: every store but tombstones.
func (c *Client) GetAllStores(ctx context.Context) ([]*metapb.Store, error) {
	if err := c.checkClosed("GetAllStores"); err != nil {
		return nil, err
	}
	ss, err := c.pd.GetAllStores(ctx, pdopt.WithExcludeTombstone())
	if err != nil {
		return nil, fail(ctx, "GetAllStores", err)
	}
	return ss, nil
}

// LoadKeyspace returns the meta of the keyspace called name (the
// rawkv.KeyspaceLoader capability; pd client LoadKeyspace). An unknown
// keyspace is an error matching ErrKeyspaceNotFound.
func (c *Client) LoadKeyspace(ctx context.Context, name string) (*keyspacepb.KeyspaceMeta, error) {
	if err := c.checkClosed("LoadKeyspace"); err != nil {
		return nil, err
	}
	m, err := c.pd.LoadKeyspace(ctx, name)
	op := fmt.Sprintf("LoadKeyspace(%q)", name)
	switch {
	case err != nil && isEntryNotFound(err):
		return nil, &Error{Op: op, Err: fmt.Errorf("%w: %v", ErrKeyspaceNotFound, err)}
	case err != nil:
		return nil, fail(ctx, op, err)
	case m == nil:
		return nil, &Error{Op: op, Err: ErrKeyspaceNotFound}
	}
	return m, nil
}

// KeyspaceMeta returns the keyspace New loaded for WithKeyspace, nil
// without it. Pass it to rawkv.WithKeyspaceMeta to build an API V2 client
// without a second PD call.
func (c *Client) KeyspaceMeta() *keyspacepb.KeyspaceMeta { return c.keyspace }

// ClusterID returns the id of the cluster PD serves.
func (c *Client) ClusterID() uint64 { return c.pd.GetClusterID(context.Background()) }

// LeaderURL returns the URL of the PD leader the client talks to ("" before
// it found one).
func (c *Client) LeaderURL() string { return c.pd.GetLeaderURL() }

// Inner returns the underlying pd client, for the PD calls this edge does
// not carry (scatter, split, GC states). It must not be closed directly:
// Close the adapter.
func (c *Client) Inner() pdc.Client { return c.pd }
