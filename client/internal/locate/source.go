package locate

import (
	"context"
	"errors"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
)

// RegionSource is the part of PD the caches call. It is owned here, as the
// consumer, and declares only what the caches use; the PD edge adapts its
// client to it.
//
// The region calls return a *pdpb.Region: the region's meta, its leader
// (nil or id 0 when PD knows no leader), down and pending peers, and buckets
// when asked for. A nil *pdpb.Region (or one with a nil Region) and a nil
// error mean PD does not know such a region. Keys are the physical keys PD
// stores (any keyspace or API-version encoding happens in the adapter).
//
// Implementations must be safe for concurrent use; the caches never hold a
// lock while calling them. Errors are treated as transient and retried with
// the caller's Backoffer, except the ones documented per method.
type RegionSource interface {
	// GetRegion returns the region containing key (pdpb GetRegion).
	GetRegion(ctx context.Context, key []byte, needBuckets bool) (*pdpb.Region, error)
	// GetPrevRegion returns the region just before the one containing key
	// (pdpb GetPrevRegion).
	GetPrevRegion(ctx context.Context, key []byte, needBuckets bool) (*pdpb.Region, error)
	// GetRegionByID returns the region with the given id (pdpb GetRegionByID).
	GetRegionByID(ctx context.Context, id uint64, needBuckets bool) (*pdpb.Region, error)
	// BatchScanRegions returns, in key order and without duplicates, at most
	// limit regions covering ranges, which are sorted and disjoint (pdpb
	// BatchScanRegions with contain_all_key_range set: PD must cover every
	// range or fail).
	BatchScanRegions(ctx context.Context, ranges []*pdpb.KeyRange, limit int, needBuckets bool) ([]*pdpb.Region, error)
	// GetStore returns a store's meta (pdpb GetStore). When PD does not know
	// the store it returns an error satisfying errors.Is(err,
	// ErrStoreNotFound), and the store cache treats the store as removed.
	GetStore(ctx context.Context, id uint64) (*metapb.Store, error)
}

// Backoffer paces the retries of failed PD calls. The request sender passes
// its own (bound to client-go's PDRPC backoff config) so that the retries
// spend the request's budget; a nil Backoffer makes the cache use one built
// from Options.PDRetry.
type Backoffer interface {
	// Backoff waits before the next attempt after err. It returns a non-nil
	// error, which the cache returns to its caller, when the caller must give
	// up: the budget is spent or ctx is done.
	Backoff(ctx context.Context, err error) error
}

// Errors returned by the caches. They are wrapped with context; test them
// with errors.Is.
var (
	// ErrStoreNotFound is what a RegionSource returns for an unknown store.
	ErrStoreNotFound = errors.New("locate: store not found")
	// ErrRegionNotFound means PD does not know the region asked for by id.
	ErrRegionNotFound = errors.New("locate: region not found")
	// ErrNoAvailablePeer means every peer of a region PD returned is down,
	// on a removed store, or a non-leader witness.
	ErrNoAvailablePeer = errors.New("locate: region has no available peer")
	// ErrStaleRegion is the retry reason when PD returned a region older
	// than one the cache holds.
	ErrStaleRegion = errors.New("locate: PD returned a region older than the cached one")
	// ErrNoRegion means PD returned no region, or regions with gaps, for a
	// range scan; the cache retries.
	ErrNoRegion = errors.New("locate: PD returned no region covering the range")
	// ErrEmptyStoreAddr means PD returned a live store without an address.
	ErrEmptyStoreAddr = errors.New("locate: store has an empty address")
)
