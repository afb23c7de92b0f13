package cluster

import (
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvsim/tikvsim/client/pd"
)

var _ pd.RegionScatterer = (*PDClient)(nil)

// ScatterRegions implements pd.RegionScatterer: PD's ScatterRegion RPC in its
// batch form (regions_id), as pd client's ScatterRegions sends it. A
// response header error is an error (*PDError), as in the pd client.
func (p *PDClient) ScatterRegions(ctx context.Context, regionIDs []uint64, group string) (*pdpb.ScatterRegionResponse, error) {
	return call[*pdpb.ScatterRegionResponse](p, ctx, &pdpb.ScatterRegionRequest{Header: p.header(),
		RegionsId: append([]uint64(nil), regionIDs...), Group: group})
}

// GetOperator implements pd.RegionScatterer: PD's GetOperator RPC. The
// response comes back as PD sent it, header error included (the pd client
// does not look at it; client-go's WaitScatterRegionFinish does).
func (p *PDClient) GetOperator(ctx context.Context, regionID uint64) (*pdpb.GetOperatorResponse, error) {
	ctx, cancel := p.c.w.WithDeadline(ctx, p.c.w.Now().Add(p.timeout))
	defer cancel()
	out, err := p.c.net.Call(ctx, p.from, PDNode, &pdpb.GetOperatorRequest{Header: p.header(), RegionId: regionID})
	if err != nil {
		return nil, err
	}
	resp, ok := out.(*pdpb.GetOperatorResponse)
	if !ok {
		return nil, fmt.Errorf("pd: unexpected response %T", out)
	}
	return resp, nil
}
