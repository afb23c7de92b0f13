package serve

import (
	"context"
	"errors"
	"io"

	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/meta_storagepb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

// grpcError turns the failure of a simulated call into the gRPC status a
// real server (or a real network) would produce.
func grpcError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrClosed) {
		return status.Error(codes.Unavailable, err.Error())
	}
	var ne *network.Error
	if errors.As(err, &ne) {
		if ne.NotSent {
			return status.Error(codes.Unavailable, err.Error())
		}
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	// The fake PD's errors carry the status real PD would return.
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.GRPCStatus().Err()
	}
	var ue *cluster.ErrUnknownRequest
	if errors.As(err, &ue) {
		return status.Error(codes.Unimplemented, err.Error())
	}
	return status.Error(codes.Unknown, err.Error())
}

// callAs makes a simulated call to node to and types its answer.
func callAs[Resp any](s *Server, ctx context.Context, to string, req any) (Resp, error) {
	var zero Resp
	out, err := s.call(ctx, to, req)
	if err != nil {
		return zero, grpcError(err)
	}
	resp, ok := out.(Resp)
	if !ok {
		return zero, status.Errorf(codes.Internal, "serve: %s answered %T to %T", to, out, req)
	}
	return resp, nil
}

func pdCall[Resp any](s *Server, ctx context.Context, req any) (Resp, error) {
	return callAs[Resp](s, ctx, cluster.PDNode, req)
}

// pdServer is pdpb.PDServer over the fake PD node. Unlisted RPCs (those for
// TiKV or other PD members: heartbeats, bootstrap, region sync) answer
// Unimplemented.
type pdServer struct {
	pdpb.UnimplementedPDServer
	s *Server
}

// GetMembers answers with the fake PD's members, the leader carrying this
// server's URL and the followers none (see the package documentation).
func (p *pdServer) GetMembers(ctx context.Context, req *pdpb.GetMembersRequest) (*pdpb.GetMembersResponse, error) {
	resp, err := pdCall[*pdpb.GetMembersResponse](p.s, ctx, req)
	if err != nil {
		return nil, err
	}
	url := []string{"http://" + p.s.pdAddr}
	leader := resp.GetLeader().GetMemberId()
	for _, m := range resp.Members {
		m.ClientUrls = nil
		if m.GetMemberId() == leader {
			m.ClientUrls = url
		}
	}
	if resp.Leader != nil {
		resp.Leader.ClientUrls = url
	}
	if resp.EtcdLeader != nil {
		resp.EtcdLeader.ClientUrls = url
	}
	return resp, nil
}

// GetClusterInfo implements pdpb.PDServer.
func (p *pdServer) GetClusterInfo(ctx context.Context, req *pdpb.GetClusterInfoRequest) (*pdpb.GetClusterInfoResponse, error) {
	return pdCall[*pdpb.GetClusterInfoResponse](p.s, ctx, req)
}

// Tso serves the TSO stream: one response per request, in order, whose
// timestamp is the last of the batch (the fake PD's Tso). A failure ends
// the stream, as in PD.
func (p *pdServer) Tso(stream pdpb.PD_TsoServer) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		resp, err := pdCall[*pdpb.TsoResponse](p.s, stream.Context(), req)
		if err != nil {
			return err
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// QueryRegion serves the batched region-lookup stream of the PD client's
// router: one response per request, in order.
func (p *pdServer) QueryRegion(stream pdpb.PD_QueryRegionServer) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		resp, err := pdCall[*pdpb.QueryRegionResponse](p.s, stream.Context(), req)
		if err != nil {
			return err
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// IsBootstrapped implements pdpb.PDServer.
func (p *pdServer) IsBootstrapped(ctx context.Context, req *pdpb.IsBootstrappedRequest) (*pdpb.IsBootstrappedResponse, error) {
	return pdCall[*pdpb.IsBootstrappedResponse](p.s, ctx, req)
}

// AllocID implements pdpb.PDServer.
func (p *pdServer) AllocID(ctx context.Context, req *pdpb.AllocIDRequest) (*pdpb.AllocIDResponse, error) {
	return pdCall[*pdpb.AllocIDResponse](p.s, ctx, req)
}

// realStore rewrites a store's simulated addresses to its server's.
func (p *pdServer) realStore(st *metapb.Store) {
	if st == nil {
		return
	}
	addr := p.s.storeAddr(st.Address)
	st.Address, st.PeerAddress, st.StatusAddress = addr, addr, ""
}

// GetStore answers with the store's real address.
func (p *pdServer) GetStore(ctx context.Context, req *pdpb.GetStoreRequest) (*pdpb.GetStoreResponse, error) {
	resp, err := pdCall[*pdpb.GetStoreResponse](p.s, ctx, req)
	if err == nil {
		p.realStore(resp.GetStore())
	}
	return resp, err
}

// GetAllStores answers with the stores' real addresses.
func (p *pdServer) GetAllStores(ctx context.Context, req *pdpb.GetAllStoresRequest) (*pdpb.GetAllStoresResponse, error) {
	resp, err := pdCall[*pdpb.GetAllStoresResponse](p.s, ctx, req)
	if err == nil {
		for _, st := range resp.GetStores() {
			p.realStore(st)
		}
	}
	return resp, err
}

// GetRegion implements pdpb.PDServer.
func (p *pdServer) GetRegion(ctx context.Context, req *pdpb.GetRegionRequest) (*pdpb.GetRegionResponse, error) {
	return pdCall[*pdpb.GetRegionResponse](p.s, ctx, req)
}

// GetPrevRegion implements pdpb.PDServer.
func (p *pdServer) GetPrevRegion(ctx context.Context, req *pdpb.GetRegionRequest) (*pdpb.GetRegionResponse, error) {
	return pdCall[*pdpb.GetRegionResponse](p.s, ctx, cluster.PrevRegionRequest{Req: req})
}

// GetRegionByID implements pdpb.PDServer.
func (p *pdServer) GetRegionByID(ctx context.Context, req *pdpb.GetRegionByIDRequest) (*pdpb.GetRegionResponse, error) {
	return pdCall[*pdpb.GetRegionResponse](p.s, ctx, req)
}

// ScanRegions implements pdpb.PDServer.
func (p *pdServer) ScanRegions(ctx context.Context, req *pdpb.ScanRegionsRequest) (*pdpb.ScanRegionsResponse, error) {
	return pdCall[*pdpb.ScanRegionsResponse](p.s, ctx, req)
}

// BatchScanRegions implements pdpb.PDServer.
func (p *pdServer) BatchScanRegions(ctx context.Context, req *pdpb.BatchScanRegionsRequest) (*pdpb.BatchScanRegionsResponse, error) {
	return pdCall[*pdpb.BatchScanRegionsResponse](p.s, ctx, req)
}

// GetClusterConfig implements pdpb.PDServer.
func (p *pdServer) GetClusterConfig(ctx context.Context, req *pdpb.GetClusterConfigRequest) (*pdpb.GetClusterConfigResponse, error) {
	return pdCall[*pdpb.GetClusterConfigResponse](p.s, ctx, req)
}

// SplitRegions implements pdpb.PDServer: it returns once the splits show in
// PD's region tree or PD gives up, as PD does.
func (p *pdServer) SplitRegions(ctx context.Context, req *pdpb.SplitRegionsRequest) (*pdpb.SplitRegionsResponse, error) {
	return pdCall[*pdpb.SplitRegionsResponse](p.s, ctx, req)
}

// ScatterRegion implements pdpb.PDServer.
func (p *pdServer) ScatterRegion(ctx context.Context, req *pdpb.ScatterRegionRequest) (*pdpb.ScatterRegionResponse, error) {
	return pdCall[*pdpb.ScatterRegionResponse](p.s, ctx, req)
}

// GetOperator implements pdpb.PDServer.
func (p *pdServer) GetOperator(ctx context.Context, req *pdpb.GetOperatorRequest) (*pdpb.GetOperatorResponse, error) {
	return pdCall[*pdpb.GetOperatorResponse](p.s, ctx, req)
}

// GetMinTS implements pdpb.PDServer.
func (p *pdServer) GetMinTS(ctx context.Context, req *pdpb.GetMinTSRequest) (*pdpb.GetMinTSResponse, error) {
	return pdCall[*pdpb.GetMinTSResponse](p.s, ctx, req)
}

// GetExternalTimestamp implements pdpb.PDServer.
func (p *pdServer) GetExternalTimestamp(ctx context.Context, req *pdpb.GetExternalTimestampRequest) (*pdpb.GetExternalTimestampResponse, error) {
	return pdCall[*pdpb.GetExternalTimestampResponse](p.s, ctx, req)
}

// SetExternalTimestamp implements pdpb.PDServer.
func (p *pdServer) SetExternalTimestamp(ctx context.Context, req *pdpb.SetExternalTimestampRequest) (*pdpb.SetExternalTimestampResponse, error) {
	return pdCall[*pdpb.SetExternalTimestampResponse](p.s, ctx, req)
}

// GetGCState implements pdpb.PDServer.
func (p *pdServer) GetGCState(ctx context.Context, req *pdpb.GetGCStateRequest) (*pdpb.GetGCStateResponse, error) {
	return pdCall[*pdpb.GetGCStateResponse](p.s, ctx, req)
}

// GetAllKeyspacesGCStates implements pdpb.PDServer.
func (p *pdServer) GetAllKeyspacesGCStates(ctx context.Context, req *pdpb.GetAllKeyspacesGCStatesRequest) (*pdpb.GetAllKeyspacesGCStatesResponse, error) {
	return pdCall[*pdpb.GetAllKeyspacesGCStatesResponse](p.s, ctx, req)
}

// AdvanceTxnSafePoint implements pdpb.PDServer.
func (p *pdServer) AdvanceTxnSafePoint(ctx context.Context, req *pdpb.AdvanceTxnSafePointRequest) (*pdpb.AdvanceTxnSafePointResponse, error) {
	return pdCall[*pdpb.AdvanceTxnSafePointResponse](p.s, ctx, req)
}

// AdvanceGCSafePoint implements pdpb.PDServer.
func (p *pdServer) AdvanceGCSafePoint(ctx context.Context, req *pdpb.AdvanceGCSafePointRequest) (*pdpb.AdvanceGCSafePointResponse, error) {
	return pdCall[*pdpb.AdvanceGCSafePointResponse](p.s, ctx, req)
}

// SetGCBarrier implements pdpb.PDServer.
func (p *pdServer) SetGCBarrier(ctx context.Context, req *pdpb.SetGCBarrierRequest) (*pdpb.SetGCBarrierResponse, error) {
	return pdCall[*pdpb.SetGCBarrierResponse](p.s, ctx, req)
}

// DeleteGCBarrier implements pdpb.PDServer.
func (p *pdServer) DeleteGCBarrier(ctx context.Context, req *pdpb.DeleteGCBarrierRequest) (*pdpb.DeleteGCBarrierResponse, error) {
	return pdCall[*pdpb.DeleteGCBarrierResponse](p.s, ctx, req)
}

// SetGlobalGCBarrier implements pdpb.PDServer.
func (p *pdServer) SetGlobalGCBarrier(ctx context.Context, req *pdpb.SetGlobalGCBarrierRequest) (*pdpb.SetGlobalGCBarrierResponse, error) {
	return pdCall[*pdpb.SetGlobalGCBarrierResponse](p.s, ctx, req)
}

// DeleteGlobalGCBarrier implements pdpb.PDServer.
func (p *pdServer) DeleteGlobalGCBarrier(ctx context.Context, req *pdpb.DeleteGlobalGCBarrierRequest) (*pdpb.DeleteGlobalGCBarrierResponse, error) {
	return pdCall[*pdpb.DeleteGlobalGCBarrierResponse](p.s, ctx, req)
}

// GetGCSafePoint implements pdpb.PDServer (read-only, as TiKV's GC worker
// still polls it).
func (p *pdServer) GetGCSafePoint(ctx context.Context, req *pdpb.GetGCSafePointRequest) (*pdpb.GetGCSafePointResponse, error) {
	return pdCall[*pdpb.GetGCSafePointResponse](p.s, ctx, req)
}

// UpdateGCSafePoint answers Unimplemented with the replacement's name (the
// fake PD's legacy answer).
func (p *pdServer) UpdateGCSafePoint(ctx context.Context, req *pdpb.UpdateGCSafePointRequest) (*pdpb.UpdateGCSafePointResponse, error) {
	return pdCall[*pdpb.UpdateGCSafePointResponse](p.s, ctx, req)
}

// UpdateServiceGCSafePoint answers Unimplemented with the replacement's
// name (the fake PD's legacy answer).
func (p *pdServer) UpdateServiceGCSafePoint(ctx context.Context, req *pdpb.UpdateServiceGCSafePointRequest) (*pdpb.UpdateServiceGCSafePointResponse, error) {
	return pdCall[*pdpb.UpdateServiceGCSafePointResponse](p.s, ctx, req)
}

// keyspaceServer is keyspacepb.KeyspaceServer over the fake PD's keyspace
// metadata (API V2 clients load their keyspace through it).
type keyspaceServer struct {
	keyspacepb.UnimplementedKeyspaceServer
	s *Server
}

// LoadKeyspace implements keyspacepb.KeyspaceServer.
func (k *keyspaceServer) LoadKeyspace(ctx context.Context, req *keyspacepb.LoadKeyspaceRequest) (*keyspacepb.LoadKeyspaceResponse, error) {
	return pdCall[*keyspacepb.LoadKeyspaceResponse](k.s, ctx, req)
}

// LoadKeyspaceByID implements keyspacepb.KeyspaceServer.
func (k *keyspaceServer) LoadKeyspaceByID(ctx context.Context, req *keyspacepb.LoadKeyspaceByIDRequest) (*keyspacepb.LoadKeyspaceResponse, error) {
	return pdCall[*keyspacepb.LoadKeyspaceResponse](k.s, ctx, req)
}

// metaStorageServer answers meta_storagepb.MetaStorage Get with an empty
// result: the fake PD keeps no meta storage (the PD client only reads
// optional settings there).
type metaStorageServer struct {
	meta_storagepb.UnimplementedMetaStorageServer
	s *Server
}

// Get implements meta_storagepb.MetaStorageServer: no keys, ever.
func (m *metaStorageServer) Get(_ context.Context, _ *meta_storagepb.GetRequest) (*meta_storagepb.GetResponse, error) {
	return &meta_storagepb.GetResponse{Header: &meta_storagepb.ResponseHeader{ClusterId: m.s.clusterID}}, nil
}
