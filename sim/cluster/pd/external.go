package pd

import (
	"math"
	"time"

	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
)

// clusterInitializedLocked is RaftCluster.isInitialized: more than one region,
// or the first region fully replicated with no pending peer.
func (p *PD) clusterInitializedLocked() bool {
	if p.st.regions.len() > 1 {
		return true
	}
	r := p.st.regions.search(nil)
	if r == nil || len(r.pendingPeers) > 0 {
		return false
	}
	voters := 0
	for _, pe := range r.meta.GetPeers() {
		if pe.GetRole() != metapb.PeerRole_Learner {
			voters++
		}
	}
	return voters >= int(p.cfg.MaxPeerCount)
}

// externalTSLocked is RaftCluster.GetExternalTS: MaxUint64 until the
// cluster is initialized, 0 before bootstrap.
func (p *PD) externalTSLocked() uint64 {
	if !p.st.bootstrapped {
		return 0
	}
	if !p.clusterInitializedLocked() {
		return math.MaxUint64
	}
	return p.st.externalTS
}

// GetExternalTimestamp implements the RPC.
func (p *PD) GetExternalTimestamp(_ time.Time, req *pdpb.GetExternalTimestampRequest) (*pdpb.GetExternalTimestampResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.validateLocked(req.GetHeader()); err != nil {
		return nil, err
	}
	return &pdpb.GetExternalTimestampResponse{Header: p.okHeader(), Timestamp: p.externalTSLocked()}, nil
}

// SetExternalTimestamp implements the RPC (server.go SetExternalTS): the
// value may not exceed a freshly generated TSO and must be above the current
// external timestamp. Failures are INVALID_VALUE headers.
func (p *PD) SetExternalTimestamp(now time.Time, req *pdpb.SetExternalTimestampRequest) (*pdpb.SetExternalTimestampResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.validateLocked(req.GetHeader()); err != nil {
		return nil, err
	}
	ts, err := p.generateLocked(now, 1)
	if err != nil {
		return nil, err
	}
	fail := func(msg string) (*pdpb.SetExternalTimestampResponse, error) {
		return &pdpb.SetExternalTimestampResponse{Header: p.errHeader(pdpb.ErrorType_INVALID_VALUE, msg)}, nil
	}
	ext := req.GetTimestamp()
	switch {
	case ext > ComposeTS(ts.Physical, ts.Logical):
		return fail("the external timestamp should not be larger than global ts")
	case !p.st.bootstrapped:
		return fail("[PD:cluster:ErrNotBootstrapped]TiKV cluster not bootstrapped, please start TiKV first")
	case ext <= p.externalTSLocked():
		return fail("the external timestamp should be larger than current external timestamp")
	}
	p.st.externalTS = ext
	return &pdpb.SetExternalTimestampResponse{Header: p.okHeader()}, nil
}

// LoadKeyspaceByID implements the Keyspace service RPC TiKV uses; unlike
// LoadKeyspace it does not check the region boundaries
// (server/keyspace_service.go).
func (p *PD) LoadKeyspaceByID(_ time.Time, req *keyspacepb.LoadKeyspaceByIDRequest) (*keyspacepb.LoadKeyspaceResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.validateLocked(req.GetHeader()); err != nil {
		return nil, err
	}
	m := p.st.keyspaces.byID[req.GetId()]
	if m == nil {
		return &keyspacepb.LoadKeyspaceResponse{Header: p.errHeader(pdpb.ErrorType_ENTRY_NOT_FOUND, errKeyspaceNotFound)}, nil
	}
	return &keyspacepb.LoadKeyspaceResponse{Header: p.okHeader(), Keyspace: cloneKeyspace(m)}, nil
}
