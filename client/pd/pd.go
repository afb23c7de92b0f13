// Package pd is the client's edge to PD: the calls the client makes, as small
// interfaces that each consumer takes only the part of (the region cache takes
// Regions and Stores, the oracle takes TSO), and Client, which an adapter
// implements whole. The simulator implements Client over the simulated
// network; production implements it over github.com/tikv/pd/client.
//
// Unlike client-go's ~50-method pd.Client, every method here is one the
// client calls.
package pd

import (
	"context"
	"errors"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
)

// TSO hands out timestamps.
type TSO interface {
	// GetTS allocates count consecutive timestamps (physical ms, 18-bit
	// logical) and returns the last of them, as PD's Tso RPC does.
	GetTS(ctx context.Context, count uint32) (physical, logical int64, err error)
}

// Regions answers region lookups. A region PD does not know is (nil, nil).
type Regions interface {
	GetRegion(ctx context.Context, key []byte, needBuckets bool) (*pdpb.Region, error)
	GetPrevRegion(ctx context.Context, key []byte, needBuckets bool) (*pdpb.Region, error)
	GetRegionByID(ctx context.Context, id uint64, needBuckets bool) (*pdpb.Region, error)
	// BatchScanRegions returns at most limit regions covering ranges
	// (sorted, disjoint), in key order.
	BatchScanRegions(ctx context.Context, ranges []*pdpb.KeyRange, limit int, needBuckets bool) ([]*pdpb.Region, error)
}

// Stores answers store lookups.
type Stores interface {
	// GetStore returns a store's meta, or an error satisfying
	// errors.Is(err, ErrStoreNotFound).
	GetStore(ctx context.Context, id uint64) (*metapb.Store, error)
	GetAllStores(ctx context.Context) ([]*metapb.Store, error)
}

// Client is everything the client asks of PD. It is larger than the
// five-method guideline because it is the edge an adapter implements whole;
// consumers take the small interfaces above.
type Client interface {
	TSO
	Regions
	Stores
	// Close releases the adapter's connections.
	Close()
}

// ErrStoreNotFound is returned by GetStore for a store PD does not know.
var ErrStoreNotFound = errors.New("pd: store not found")
