package pd

import (
	"context"

	"github.com/pingcap/kvproto/pkg/pdpb"
)

// RegionScatterer is PD's region scheduling API as the transactional
// client's split and scatter calls use it (pd client's ScatterRegions and
// GetOperator; client-go tikv/split_region.go). Splitting itself goes to
// TiKV's SplitRegion RPC, as in client-go, so it is not part of this edge.
//
// It is an optional capability of a Client: the transactional client's
// SplitRegions (with scatter), WaitScatterRegionFinish and
// CheckRegionInScattering discover it by type assertion.
type RegionScatterer interface {
	// ScatterRegions asks PD to spread the peers and leaders of regionIDs
	// across the stores, balancing within group ("" is PD's default
	// group). PD creates one operator per region and answers at once; a
	// response header error is returned as an error (pd client's
	// scatterRegionsWithOptions). FailedRegionsId in the response lists the
	// regions PD could not schedule.
	ScatterRegions(ctx context.Context, regionIDs []uint64, group string) (*pdpb.ScatterRegionResponse, error)
	// GetOperator returns the running or last finished operator of the
	// region. As the pd client does, it returns the response as PD sent
	// it: a region without any operator is a response whose header carries
	// REGION_NOT_FOUND, not an error.
	GetOperator(ctx context.Context, regionID uint64) (*pdpb.GetOperatorResponse, error)
}

// ScatterOperatorDesc is the description of PD's scatter operators
// (pkg/schedule/scatter/region_scatterer.go): GetOperator's Desc for a region
// being scattered.
const ScatterOperatorDesc = "scatter-region"
