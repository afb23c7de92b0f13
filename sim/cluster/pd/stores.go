package pd

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/pingcap/kvproto/pkg/replication_modepb"

	"github.com/tikvsim/tikvsim/internal/invariants"
)

type storeInfo struct {
	meta          *metapb.Store
	stats         *pdpb.StoreStats
	lastHeartbeat time.Time
}

func (s *storeInfo) removed() bool { return s.meta.GetNodeState() == metapb.NodeState_Removed }

// replicationStatus is what PD reports in majority replication mode.
func replicationStatus() *replication_modepb.ReplicationStatus {
	return &replication_modepb.ReplicationStatus{Mode: replication_modepb.ReplicationMode_MAJORITY}
}

// parseVersion accepts PD's store versions: "[v]major.minor.patch[-suffix]".
func parseVersion(v string) ([3]int, bool) {
	var out [3]int
	v = strings.TrimPrefix(v, "v")
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return out, false
	}
	for i, s := range parts {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return out, false
		}
		out[i] = n
	}
	return out, true
}

func lessVersion(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// clusterVersionLocked is the minimum version among live stores (PD's
// cluster version once every store runs it).
func (p *PD) clusterVersionLocked() string {
	var best [3]int
	found := false
	for _, id := range p.sortedStoreIDsLocked() {
		s := p.st.stores[id]
		if s.removed() {
			continue
		}
		v, ok := parseVersion(s.meta.GetVersion())
		if ok && (!found || lessVersion(v, best)) {
			best, found = v, true
		}
	}
	if !found {
		return ""
	}
	return fmt.Sprintf("%d.%d.%d", best[0], best[1], best[2])
}

func (p *PD) sortedStoreIDsLocked() []uint64 {
	ids := make([]uint64, 0, len(p.st.stores))
	for id := range p.st.stores {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// mergeLabels is core.MergeLabels: new values override, new keys append.
func mergeLabels(old, upd []*metapb.StoreLabel) []*metapb.StoreLabel {
	out := make([]*metapb.StoreLabel, 0, len(old)+len(upd))
	for _, l := range old {
		out = append(out, &metapb.StoreLabel{Key: l.GetKey(), Value: l.GetValue()})
	}
next:
	for _, l := range upd {
		for _, o := range out {
			if strings.EqualFold(o.Key, l.GetKey()) {
				o.Value = l.GetValue()
				continue next
			}
		}
		out = append(out, &metapb.StoreLabel{Key: l.GetKey(), Value: l.GetValue()})
	}
	return out
}

// PutStore implements the RPC (server/grpc_service.go PutStore,
// server/cluster/cluster.go putStoreImpl). A new store starts Up/Serving (the
// fake PD has no Preparing phase); an existing one keeps its state and
// merges labels.
func (p *PD) PutStore(_ time.Time, req *pdpb.PutStoreRequest) (*pdpb.PutStoreResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.validateLocked(req.GetHeader()); err != nil {
		return nil, err
	}
	if !p.st.bootstrapped {
		return &pdpb.PutStoreResponse{Header: p.notBootstrappedHeader()}, nil
	}
	store := req.GetStore()
	if old := p.st.stores[store.GetId()]; old != nil && old.removed() {
		return &pdpb.PutStoreResponse{Header: p.errHeader(pdpb.ErrorType_STORE_TOMBSTONE, "store is tombstone")}, nil
	}
	if store.GetId() == 0 {
		return &pdpb.PutStoreResponse{Header: p.unknownHeader(fmt.Sprintf("invalid put store %v", store))}, nil
	}
	if _, ok := parseVersion(store.GetVersion()); !ok {
		return &pdpb.PutStoreResponse{Header: p.unknownHeader(
			fmt.Sprintf("invalid put store %v, error: invalid version %q", store, store.GetVersion()))}, nil
	}
	for _, id := range p.sortedStoreIDsLocked() {
		s := p.st.stores[id]
		if s.removed() || s.meta.GetPhysicallyDestroyed() || id == store.GetId() {
			continue
		}
		if store.GetAddress() == s.meta.GetAddress() ||
			(s.meta.GetPeerAddress() != "" && store.GetAddress() == s.meta.GetPeerAddress()) {
			return &pdpb.PutStoreResponse{Header: p.unknownHeader(
				fmt.Sprintf("duplicated store address: %v, already registered by %v", store, s.meta))}, nil
		}
	}
	if old := p.st.stores[store.GetId()]; old != nil {
		m := old.meta
		m.Address, m.StatusAddress, m.PeerAddress = store.GetAddress(), store.GetStatusAddress(), store.GetPeerAddress()
		m.GitHash, m.Version = store.GetGitHash(), store.GetVersion()
		m.Labels = mergeLabels(m.GetLabels(), store.GetLabels())
		m.StartTimestamp, m.DeployPath = store.GetStartTimestamp(), store.GetDeployPath()
	} else {
		m := cloneStore(store)
		m.State, m.NodeState = metapb.StoreState_Up, metapb.NodeState_Serving
		p.st.stores[m.GetId()] = &storeInfo{meta: m}
	}
	return &pdpb.PutStoreResponse{Header: p.okHeader(), ReplicationStatus: replicationStatus()}, nil
}

// GetStore implements the RPC.
func (p *PD) GetStore(_ time.Time, req *pdpb.GetStoreRequest) (*pdpb.GetStoreResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.validateLocked(req.GetHeader()); err != nil {
		return nil, err
	}
	if !p.st.bootstrapped {
		return &pdpb.GetStoreResponse{Header: p.notBootstrappedHeader()}, nil
	}
	s := p.st.stores[req.GetStoreId()]
	if s == nil {
		return &pdpb.GetStoreResponse{Header: p.unknownHeader(
			fmt.Sprintf("invalid store ID %d, not found", req.GetStoreId()))}, nil
	}
	return &pdpb.GetStoreResponse{Header: p.okHeader(), Store: cloneStore(s.meta), Stats: cloneStats(s.stats)}, nil
}

// GetAllStores implements the RPC; stores come sorted by id (PD's order is
// map order).
func (p *PD) GetAllStores(_ time.Time, req *pdpb.GetAllStoresRequest) (*pdpb.GetAllStoresResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.validateLocked(req.GetHeader()); err != nil {
		return nil, err
	}
	if !p.st.bootstrapped {
		return &pdpb.GetAllStoresResponse{Header: p.notBootstrappedHeader()}, nil
	}
	resp := &pdpb.GetAllStoresResponse{Header: p.okHeader()}
	for _, id := range p.sortedStoreIDsLocked() {
		s := p.st.stores[id]
		if req.GetExcludeTombstoneStores() && s.removed() {
			continue
		}
		resp.Stores = append(resp.Stores, cloneStore(s.meta))
	}
	return resp, nil
}

// StoreHeartbeat implements the RPC. A nil stats is a gRPC error, as in PD.
func (p *PD) StoreHeartbeat(now time.Time, req *pdpb.StoreHeartbeatRequest) (*pdpb.StoreHeartbeatResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.validateLocked(req.GetHeader()); err != nil {
		return nil, err
	}
	if req.GetStats() == nil {
		return nil, errUnknown(fmt.Sprintf("invalid store heartbeat command, but %v", req))
	}
	if !p.st.bootstrapped {
		return &pdpb.StoreHeartbeatResponse{Header: p.notBootstrappedHeader()}, nil
	}
	id := req.GetStats().GetStoreId()
	s := p.st.stores[id]
	if s != nil && s.removed() {
		return &pdpb.StoreHeartbeatResponse{Header: p.errHeader(pdpb.ErrorType_STORE_TOMBSTONE, "store is tombstone")}, nil
	}
	if s == nil {
		return &pdpb.StoreHeartbeatResponse{Header: p.unknownHeader(fmt.Sprintf("store %v not found", id))}, nil
	}
	invariants.Assert(!now.Before(s.lastHeartbeat) || s.lastHeartbeat.IsZero(), "store %d heartbeat time goes back", id)
	s.stats = cloneStats(req.GetStats())
	s.lastHeartbeat = now
	s.meta.LastHeartbeat = now.UnixNano()
	return &pdpb.StoreHeartbeatResponse{
		Header:            p.okHeader(),
		ReplicationStatus: replicationStatus(),
		ClusterVersion:    p.clusterVersionLocked(),
		State:             s.meta.GetNodeState(),
	}, nil
}

// RemoveStore is the admin "store delete": an Up store becomes
// Offline/Removing. It fails for an unknown or tombstone store.
func (p *PD) RemoveStore(storeID uint64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.st.stores[storeID]
	switch {
	case s == nil:
		return fmt.Errorf("store %d not found", storeID)
	case s.removed():
		return fmt.Errorf("store %d is tombstone", storeID)
	}
	s.meta.State, s.meta.NodeState = metapb.StoreState_Offline, metapb.NodeState_Removing
	return nil
}

// BuryStore makes an Offline store Tombstone/Removed (force allows an Up
// store, like PD's force bury).
func (p *PD) BuryStore(storeID uint64, force bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.st.stores[storeID]
	switch {
	case s == nil:
		return fmt.Errorf("store %d not found", storeID)
	case s.removed():
		return nil
	case s.meta.GetNodeState() != metapb.NodeState_Removing && !force:
		return fmt.Errorf("store %d is not offline", storeID)
	}
	s.meta.State, s.meta.NodeState = metapb.StoreState_Tombstone, metapb.NodeState_Removed
	return nil
}

// UpStore cancels a removal: an Offline store becomes Up/Serving again.
func (p *PD) UpStore(storeID uint64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.st.stores[storeID]
	switch {
	case s == nil:
		return fmt.Errorf("store %d not found", storeID)
	case s.removed():
		return fmt.Errorf("store %d is tombstone", storeID)
	}
	s.meta.State, s.meta.NodeState = metapb.StoreState_Up, metapb.NodeState_Serving
	return nil
}
