package pd

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvsim/tikvsim/internal/invariants"
)

// Defaults mirror PD's configuration defaults.
const (
	// DefaultTSOSaveInterval is PD's tso-save-interval: the persisted TSO
	// window is now + 3s.
	DefaultTSOSaveInterval = 3 * time.Second
	// DefaultTSOUpdatePhysicalInterval is PD's tso-update-physical-interval.
	DefaultTSOUpdatePhysicalInterval = 50 * time.Millisecond
	// DefaultIDAllocStep is pkg/id DefaultAllocStep.
	DefaultIDAllocStep = 1000
	// DefaultMaxPeerCount is PD's max-replicas.
	DefaultMaxPeerCount = 3
	// DefaultOperatorTimeout bounds a split or scatter operator (PD's
	// region operators wait up to 10 minutes).
	DefaultOperatorTimeout = 10 * time.Minute
	// DefaultSplitTimeout is how long one SplitRegions attempt waits for the
	// splits to show (pkg/schedule/splitter timeout).
	DefaultSplitTimeout = time.Minute
	// SplitWatchInterval is how often PD re-checks a split job
	// (pkg/schedule/splitter watchInterval); poll PollSplitRegions this often.
	SplitWatchInterval = 100 * time.Millisecond
)

// Config configures a fake PD. The zero value gives PD's defaults.
type Config struct {
	// Seed derives the cluster id and member ids.
	Seed uint64
	// ClusterID overrides the derived cluster id when non-zero.
	ClusterID uint64
	// Members is the number of PD members (default 3).
	Members int
	// TSOSaveInterval is the persisted TSO window length (default 3s).
	TSOSaveInterval time.Duration
	// TSOUpdatePhysicalInterval is the Tick period (default 50ms).
	TSOUpdatePhysicalInterval time.Duration
	// IDAllocStep is the persisted ID window step (default 1000).
	IDAllocStep uint64
	// MaxPeerCount is the replica count in the cluster meta (default 3).
	MaxPeerCount uint32
	// EnableRegionBucket mirrors TiKV's enable-region-bucket as seen by PD;
	// when false (TiKV's default), need_buckets is ignored.
	EnableRegionBucket bool
	// OperatorTimeout is when a running operator becomes TIMEOUT (default 10m).
	OperatorTimeout time.Duration
	// SplitTimeout is one SplitRegions attempt's wait (default 1m).
	SplitTimeout time.Duration
	// NoKeyspaceRegionSplit turns off PD's keyspace region boundaries: by
	// default, as in PD, every keyspace (DEFAULT included) gets a label rule
	// that makes PD ask for splits at its encoded boundaries, and
	// LoadKeyspace answers ENTRY_NOT_FOUND until heartbeats show them split.
	// With this set PD asks for no such split and LoadKeyspace skips the
	// check (PD's failpoint skipKeyspaceRegionCheck).
	NoKeyspaceRegionSplit bool
}

func (c Config) withDefaults() Config {
	if c.Members <= 0 {
		c.Members = 3
	}
	if c.TSOSaveInterval <= 0 {
		c.TSOSaveInterval = DefaultTSOSaveInterval
	}
	if c.TSOUpdatePhysicalInterval <= 0 {
		c.TSOUpdatePhysicalInterval = DefaultTSOUpdatePhysicalInterval
	}
	if c.IDAllocStep == 0 {
		c.IDAllocStep = DefaultIDAllocStep
	}
	if c.MaxPeerCount == 0 {
		c.MaxPeerCount = DefaultMaxPeerCount
	}
	if c.OperatorTimeout <= 0 {
		c.OperatorTimeout = DefaultOperatorTimeout
	}
	if c.SplitTimeout <= 0 {
		c.SplitTimeout = DefaultSplitTimeout
	}
	return c
}

// storage is what PD keeps in etcd: it survives leader changes and restarts.
type storage struct {
	bootstrapped bool
	tsoSaved     time.Time // persisted TSO window upper bound
	idEnd        uint64    // persisted ID window bound
	stores       map[uint64]*storeInfo
	regions      *regionTree // region meta is persisted by PD as it changes
	gc           *gcStates
	keyspaces    *keyspaces
	externalTS   uint64
}

// PD is the fake PD cluster. See the package documentation.
type PD struct {
	mu        sync.Mutex
	cfg       Config
	clusterID uint64
	members   []*pdpb.Member
	leader    int // index into members, -1 when there is no leader
	term      uint64

	st storage

	// Leader volatile state.
	tso         tsoOracle
	clockOffset time.Duration // TSO physical jump fault
	idBase      uint64
	idEndMem    uint64
	ops         opController
	nextJob     uint64 // last split job id handed out
	jobsLost    uint64 // split jobs up to this id died with an old leader

	// Ghost state for assertions only: the highest timestamp ever issued.
	maxIssued uint64
}

// New creates a PD cluster whose first member is the leader, already
// elected at now (its TSO is synced, so Tso works at once). The cluster is
// not bootstrapped.
func New(now time.Time, cfg Config) *PD {
	cfg = cfg.withDefaults()
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x9d_0000_0000_0001))
	p := &PD{cfg: cfg, leader: -1}
	p.clusterID = cfg.ClusterID
	for p.clusterID == 0 {
		p.clusterID = rng.Uint64()
	}
	used := map[uint64]bool{}
	for i := range cfg.Members {
		id := rng.Uint64()
		for id == 0 || used[id] {
			id = rng.Uint64()
		}
		used[id] = true
		name := fmt.Sprintf("pd-%d", i+1)
		p.members = append(p.members, &pdpb.Member{
			Name:          name,
			MemberId:      id,
			PeerUrls:      []string{fmt.Sprintf("http://%s:2380", name)},
			ClientUrls:    []string{fmt.Sprintf("http://%s:2379", name)},
			BinaryVersion: "9.0.0",
		})
	}
	p.st.stores = map[uint64]*storeInfo{}
	p.st.regions = newRegionTree()
	p.st.gc = newGCStates()
	p.st.keyspaces = newKeyspaces()
	p.becomeLeaderLocked(now, 0)
	return p
}

// ClusterID returns the cluster id.
func (p *PD) ClusterID() uint64 { return p.clusterID }

// Members returns copies of the members, in member order.
func (p *PD) Members() []*pdpb.Member {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*pdpb.Member, len(p.members))
	for i, m := range p.members {
		out[i] = cloneMember(m)
	}
	return out
}

// LeaderID returns the member id of the leader, or 0 when there is none.
func (p *PD) LeaderID() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leader < 0 {
		return 0
	}
	return p.members[p.leader].GetMemberId()
}

// ChangeLeader makes member memberID the leader at now. If memberID is 0 the
// next member (in member order) after the current leader is chosen. It
// returns false if memberID is not a member. The old leader's volatile state
// is lost; see the package documentation for what the new leader does.
func (p *PD) ChangeLeader(now time.Time, memberID uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	idx := -1
	if memberID == 0 {
		idx = (p.leader + 1) % len(p.members)
	} else {
		for i, m := range p.members {
			if m.GetMemberId() == memberID {
				idx = i
			}
		}
	}
	if idx < 0 {
		return false
	}
	p.resignLocked()
	p.becomeLeaderLocked(now, idx)
	return true
}

// Crash stops the whole PD cluster: there is no leader until Restart, and
// every RPC fails with ErrNotLeader. Volatile state is lost.
func (p *PD) Crash() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resignLocked()
}

// Restart brings a crashed PD back: the first member is elected at now (a
// no-op election if a leader exists is still a fresh term: restarting a
// running PD is a crash plus a restart).
func (p *PD) Restart(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resignLocked()
	p.becomeLeaderLocked(now, 0)
}

func (p *PD) resignLocked() {
	p.leader = -1
	p.tso.reset()
	p.idBase, p.idEndMem = 0, 0
	p.ops = opController{}
	p.jobsLost = p.nextJob
}

// becomeLeaderLocked models what a freshly elected PD leader does.
func (p *PD) becomeLeaderLocked(now time.Time, idx int) {
	invariants.Assert(p.leader < 0, "becoming leader while member %d leads", p.leader)
	p.leader = idx
	p.term++
	// SyncTimestamp: start above the persisted window.
	p.tso.sync(p.pdNow(now), p.cfg.TSOSaveInterval, &p.st.tsoSaved)
	// The ID allocator rebases to the persisted bound (pkg/id rebaseLocked).
	p.idBase = p.st.idEnd
	p.idEndMem = p.st.idEnd
	// Regions are reloaded from storage: meta only, leaders unknown until
	// the next heartbeat (RegionInfo.LoadedFromStorage).
	p.st.regions.forgetLeaders()
	p.ops = opController{}
}

// pdNow is the PD leader's clock: the simulated time plus the jump fault.
func (p *PD) pdNow(now time.Time) time.Time { return now.Add(p.clockOffset) }

// JumpTSOPhysical moves the PD leader's clock by d (positive: forward, as
// after an NTP step; negative: backward). The TSO follows a forward jump at
// the next Tick and ignores a backward one; it never goes back.
func (p *PD) JumpTSOPhysical(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clockOffset += d
}

// Tick runs PD's periodic work at now: the TSO interval update (advance the
// physical time and the persisted window) and operator timeouts.
func (p *PD) Tick(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leader < 0 {
		return
	}
	p.tso.update(p.pdNow(now), intervalUpdate, p.cfg.TSOSaveInterval, &p.st.tsoSaved)
	p.ops.tick(now, p)
}

// GetMembers implements the RPC. Like PD it does not check the cluster id
// (clients learn it here). With no leader, Leader and EtcdLeader are nil.
func (p *PD) GetMembers(_ time.Time, _ *pdpb.GetMembersRequest) (*pdpb.GetMembersResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	resp := &pdpb.GetMembersResponse{Header: p.okHeader()}
	for _, m := range p.members {
		resp.Members = append(resp.Members, cloneMember(m))
	}
	if p.leader >= 0 {
		resp.Leader = cloneMember(p.members[p.leader])
		resp.EtcdLeader = cloneMember(p.members[p.leader])
	}
	return resp, nil
}

// GetClusterInfo implements the RPC: PD service mode, no TSO microservice.
func (p *PD) GetClusterInfo(_ time.Time, _ *pdpb.GetClusterInfoRequest) (*pdpb.GetClusterInfoResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leader < 0 {
		return nil, ErrNotLeader
	}
	return &pdpb.GetClusterInfoResponse{
		Header:       p.okHeader(),
		ServiceModes: []pdpb.ServiceMode{pdpb.ServiceMode_PD_SVC_MODE},
	}, nil
}

// AllocID implements the RPC: count ids (1 when count is 0); Id is the last
// of the batch and Count is set only when above 1 (server/grpc_service.go).
func (p *PD) AllocID(_ time.Time, req *pdpb.AllocIDRequest) (*pdpb.AllocIDResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.validateLocked(req.GetHeader()); err != nil {
		return nil, err
	}
	n := max(req.GetCount(), 1)
	id := p.allocIDsLocked(n)
	resp := &pdpb.AllocIDResponse{Header: p.okHeader(), Id: id}
	if n > 1 {
		resp.Count = n
	}
	return resp, nil
}

// allocIDsLocked allocates n ids and returns the last one, persisting a new
// window bound whenever the in-memory window is used up (pkg/id Alloc).
func (p *PD) allocIDsLocked(n uint32) uint64 {
	before := p.idBase
	for range n {
		if p.idBase == p.idEndMem {
			p.st.idEnd += p.cfg.IDAllocStep
			p.idEndMem = p.st.idEnd
		}
		p.idBase++
	}
	invariants.Assert(p.idBase <= p.st.idEnd, "id %d beyond persisted bound %d", p.idBase, p.st.idEnd)
	invariants.Assert(p.idBase == before+uint64(n), "allocated %d ids, wanted %d", p.idBase-before, n)
	return p.idBase
}

// Bootstrap implements the RPC (server.bootstrapCluster, checkBootstrapRequest).
func (p *PD) Bootstrap(now time.Time, req *pdpb.BootstrapRequest) (*pdpb.BootstrapResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.validateLocked(req.GetHeader()); err != nil {
		return nil, err
	}
	if p.st.bootstrapped {
		return &pdpb.BootstrapResponse{Header: p.errHeader(pdpb.ErrorType_ALREADY_BOOTSTRAPPED, "cluster is already bootstrapped")}, nil
	}
	if msg := p.checkBootstrapRequest(req); msg != "" {
		return &pdpb.BootstrapResponse{Header: p.unknownHeader(msg)}, nil
	}
	s := cloneStore(req.GetStore())
	s.State, s.NodeState = metapb.StoreState_Up, metapb.NodeState_Serving
	p.st.stores[s.GetId()] = &storeInfo{meta: s}
	p.st.regions.put(&regionInfo{meta: cloneRegion(req.GetRegion())})
	p.st.bootstrapped = true
	p.bootstrapKeyspacesLocked(now)
	return &pdpb.BootstrapResponse{Header: p.okHeader(), ReplicationStatus: replicationStatus()}, nil
}

func (p *PD) checkBootstrapRequest(req *pdpb.BootstrapRequest) string {
	s, r := req.GetStore(), req.GetRegion()
	switch {
	case s == nil:
		return fmt.Sprintf("missing store meta for bootstrap %d", p.clusterID)
	case s.GetId() == 0:
		return "invalid zero store id"
	case r == nil:
		return fmt.Sprintf("missing region meta for bootstrap %d", p.clusterID)
	case len(r.GetStartKey()) > 0 || len(r.GetEndKey()) > 0:
		return fmt.Sprintf("invalid first region key range, must all be empty for bootstrap %d", p.clusterID)
	case r.GetId() == 0:
		return "invalid zero region id"
	case len(r.GetPeers()) != 1:
		return fmt.Sprintf("invalid first region peer count %d, must be 1 for bootstrap %d", len(r.GetPeers()), p.clusterID)
	case r.GetPeers()[0].GetStoreId() != s.GetId():
		return fmt.Sprintf("invalid peer store id %d != %d for bootstrap %d", r.GetPeers()[0].GetStoreId(), s.GetId(), p.clusterID)
	case r.GetPeers()[0].GetId() == 0:
		return "invalid zero peer id"
	}
	return ""
}

// IsBootstrapped implements the RPC.
func (p *PD) IsBootstrapped(_ time.Time, req *pdpb.IsBootstrappedRequest) (*pdpb.IsBootstrappedResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.validateLocked(req.GetHeader()); err != nil {
		return nil, err
	}
	return &pdpb.IsBootstrappedResponse{Header: p.okHeader(), Bootstrapped: p.st.bootstrapped}, nil
}

// GetClusterConfig implements the RPC.
func (p *PD) GetClusterConfig(_ time.Time, req *pdpb.GetClusterConfigRequest) (*pdpb.GetClusterConfigResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.validateLocked(req.GetHeader()); err != nil {
		return nil, err
	}
	if !p.st.bootstrapped {
		return &pdpb.GetClusterConfigResponse{Header: p.notBootstrappedHeader()}, nil
	}
	return &pdpb.GetClusterConfigResponse{
		Header:  p.okHeader(),
		Cluster: &metapb.Cluster{Id: p.clusterID, MaxPeerCount: p.cfg.MaxPeerCount},
	}, nil
}
