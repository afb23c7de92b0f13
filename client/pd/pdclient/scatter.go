package pdclient

import (
	"context"
	"fmt"
	"slices"

	"github.com/pingcap/kvproto/pkg/pdpb"
	pdopt "github.com/tikv/pd/client/opt"

	"github.com/tikvsim/tikvsim/client/pd"
)

// The region scheduling capability (pd.RegionScatterer), which txnkv's
// SplitRegions (with scatter), WaitScatterRegionFinish and
// CheckRegionInScattering find by type assertion, over the pd client's
// ScatterRegions and GetOperator, as client-go's tikv/split_region.go
// calls them.
var _ pd.RegionScatterer = (*Client)(nil)

// ScatterRegions implements pd.RegionScatterer with the pd client's
// ScatterRegions, the group passed as opt.WithGroup when not empty (as
// client-go's scatterRegion does for a table's regions). The pd client
// already turns a response header error into an error; it comes back as an
// *Error, like any failed call.
func (c *Client) ScatterRegions(ctx context.Context, regionIDs []uint64, group string) (*pdpb.ScatterRegionResponse, error) {
	op := fmt.Sprintf("ScatterRegions(%v, %q)", regionIDs, group)
	if err := c.checkClosed(op); err != nil {
		return nil, err
	}
	var opts []pdopt.RegionsOption
	if group != "" {
		opts = append(opts, pdopt.WithGroup(group))
	}
	// The pd client keeps the slice in its request: hand it a copy.
	resp, err := c.pd.ScatterRegions(ctx, slices.Clone(regionIDs), opts...)
	if err != nil {
		return nil, fail(ctx, op, err)
	}
	return resp, nil
}

// GetOperator implements pd.RegionScatterer with the pd client's
// GetOperator, which returns PD's answer as sent: a region without any
// operator is a response whose header carries REGION_NOT_FOUND, not an
// error. A failed call is an *Error.
func (c *Client) GetOperator(ctx context.Context, regionID uint64) (*pdpb.GetOperatorResponse, error) {
	op := fmt.Sprintf("GetOperator(%d)", regionID)
	if err := c.checkClosed(op); err != nil {
		return nil, err
	}
	resp, err := c.pd.GetOperator(ctx, regionID)
	if err != nil {
		return nil, fail(ctx, op, err)
	}
	return resp, nil
}
