package pd

import (
	"bytes"
	"fmt"
	"time"

	"github.com/pingcap/kvproto/pkg/pdpb"
)

// AskBatchSplit implements the RPC a TiKV leader calls before executing a
// split (server/grpc_service.go AskBatchSplit, cluster_worker.go
// HandleAskBatchSplit): it allocates split_count new region ids, each with
// one new peer id per existing peer. The region must be known to PD and its
// epoch not stale (RegionsInfo.ValidRegion).
func (p *PD) AskBatchSplit(_ time.Time, req *pdpb.AskBatchSplitRequest) (*pdpb.AskBatchSplitResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.st.bootstrapped && p.leader >= 0 {
		return &pdpb.AskBatchSplitResponse{Header: p.notBootstrappedHeader()}, nil
	}
	if err := p.validateLocked(req.GetHeader()); err != nil {
		return nil, err
	}
	region := req.GetRegion()
	if region == nil {
		return &pdpb.AskBatchSplitResponse{Header: p.errHeader(pdpb.ErrorType_REGION_NOT_FOUND, "missing region for split")}, nil
	}
	cur := p.st.regions.search(region.GetStartKey())
	if cur == nil {
		return &pdpb.AskBatchSplitResponse{Header: p.unknownHeader(fmt.Sprintf("region not found, request region: %v", region))}, nil
	}
	re, ce := region.GetRegionEpoch(), cur.meta.GetRegionEpoch()
	if re.GetVersion() < ce.GetVersion() || re.GetConfVer() < ce.GetConfVer() {
		return &pdpb.AskBatchSplitResponse{Header: p.unknownHeader(fmt.Sprintf("invalid region epoch, request: %v, current: %v", re, ce))}, nil
	}
	resp := &pdpb.AskBatchSplitResponse{Header: p.okHeader()}
	for range min(req.GetSplitCount(), 1<<16) {
		id := &pdpb.SplitID{NewRegionId: p.allocIDsLocked(1)}
		for range region.GetPeers() {
			id.NewPeerIds = append(id.NewPeerIds, p.allocIDsLocked(1))
		}
		resp.Ids = append(resp.Ids, id)
	}
	return resp, nil
}

// ReportBatchSplit implements the RPC: PD only checks the reported regions
// are adjacent (cluster_worker.go checkSplitRegions); the region tree itself
// learns the split from heartbeats.
func (p *PD) ReportBatchSplit(_ time.Time, req *pdpb.ReportBatchSplitRequest) (*pdpb.ReportBatchSplitResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.validateLocked(req.GetHeader()); err != nil {
		return nil, err
	}
	if !p.st.bootstrapped {
		return &pdpb.ReportBatchSplitResponse{Header: p.notBootstrappedHeader()}, nil
	}
	regions := req.GetRegions()
	ok := len(regions) > 1
	for i := 1; ok && i < len(regions); i++ {
		l, r := regions[i-1], regions[i]
		if !bytes.Equal(l.GetEndKey(), r.GetStartKey()) ||
			(len(r.GetEndKey()) != 0 && bytes.Compare(l.GetStartKey(), r.GetEndKey()) >= 0) {
			ok = false
		}
	}
	if !ok {
		return &pdpb.ReportBatchSplitResponse{Header: p.unknownHeader("invalid split region")}, nil
	}
	return &pdpb.ReportBatchSplitResponse{Header: p.okHeader()}, nil
}
