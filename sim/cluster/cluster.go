// Package cluster is the fake TiKV cluster of the simulator: a fake PD and N
// fake TiKV stores living as nodes of the simulated network, regions with
// epochs, peers and leaders, heartbeats that keep PD lagging reality as the
// real one does, and the topology actions of the nemesis (split, merge,
// leader transfer, store crash and restart, busy stores, PD crash and leader
// change, TSO jumps).
//
// # Model
//
// The storage logic is sim/cluster/mvcc, PD's logic is sim/cluster/pd; this
// package adds what lies between them and the client: routing, the region
// checks TiKV's raftstore makes before serving a request, and time.
//
// For now a region has one authoritative state and a leader store; replication
// with real Raft comes later. Every store therefore serves its leader regions
// from one shared engine (the authoritative data), while each store keeps its
// own liveness and leadership. The store layer asks engineFor(region) for the
// engine, so per-store engines fed by Raft apply can replace the shared one
// without touching the request path.
//
// A store crash loses the engine's volatile state (in-memory pessimistic locks,
// max_ts, memory locks, lock waiters) for every region, which is harsher than a
// real crash but legal: clients must survive losing that state. After any such
// loss, and after every leader change, a region's leader refuses async-commit
// and 1PC prewrites with MaxTimestampNotSynced until it has synced max_ts from
// a PD timestamp, as TiKV does (components/raftstore/src/store/peer.rs,
// `require_updating_max_ts`; src/storage/mod.rs `check_max_ts_synced`).
//
// # Invariants
//
// After every action the cluster checks (with -tags invariants) that regions
// tile the key space, that epochs only grow, and that every region has at
// most one leader, which is one of its peers.
package cluster

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvsim/tikvsim/client/util/codec"
	"github.com/tikvsim/tikvsim/internal/invariants"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/cluster/mvcc"
	"github.com/tikvsim/tikvsim/sim/cluster/pd"
	"github.com/tikvsim/tikvsim/sim/network"
)

// PDNode is the network name of the fake PD.
const PDNode = "pd"

// StoreNode returns the network name (and address) of store id.
func StoreNode(id uint64) string { return fmt.Sprintf("store%d", id) }

// Config describes a cluster. The zero value gets the defaults noted.
type Config struct {
	// Stores is the number of TiKV stores (default 3).
	Stores int
	// Replicas is the number of peers per region (default min(3, Stores)).
	Replicas int
	// SplitKeys are the initial region boundaries; len(SplitKeys)+1
	// regions are created.
	SplitKeys [][]byte
	// APIVersion is the storage API version (default V1). With V2 the
	// cluster runs in API V2 mode, as TiKV with storage.api-version = 2
	// and PD with keyspaces: every key carries its keyspace prefix ('r' or
	// 'x' plus a 3-byte keyspace id), region boundaries are the
	// memcomparable encoding of such keys for raw and transactional data
	// alike (TiKV stores V2 raw keys as Key::from_raw, components/
	// api_version/src/api_v2.rs encode_raw_key; client-go
	// internal/apicodec/codec_v2.go EncodeRegionKey), every request's keys
	// are encoded before the region check, PD splits regions at keyspace
	// boundaries, and SplitKeys and the Split/Merge/TransferLeader/Region
	// methods take prefixed keys (see KeyspacePrefix). Requests whose
	// keys or API version do not fit are refused before any region check,
	// as TiKV's Storage::check_api_version does (src/storage/mod.rs).
	APIVersion kvrpcpb.APIVersion
	// ServiceTime is how long a store takes to serve one request
	// (default 50µs-500µs).
	ServiceTime network.Latency
	// HeartbeatInterval is the periodic region heartbeat (default 10s);
	// topology changes are reported at once as well.
	HeartbeatInterval time.Duration
	// ElectionTimeout is how long the regions of a crashed store stay
	// without a leader before another peer takes over (default 2s).
	ElectionTimeout time.Duration
	// MaxEntrySize is raftstore's raft-entry-max-size: a write request
	// larger than this fails with RaftEntryTooLarge (default 8 MiB).
	MaxEntrySize int
	// TxnKeys makes region boundaries memcomparable-encoded keys, as TiKV
	// keeps them for transactional data: transactional requests' keys are
	// encoded before the region check, exactly as TiKV turns a user key into
	// its data key, and SplitKeys and the Split/Merge/TransferLeader/Region
	// methods take user keys. Without it boundaries are the raw keys of API
	// V1 raw mode. A cluster serves one kind of data, as a V1 cluster does in
	// practice; raw commands always compare keys as given.
	TxnKeys bool
	// SafeTSInterval is how often a store advances the resolved ts of the
	// regions it leads and tells their followers (TiKV's
	// resolved-ts.advance-ts-interval; default 1s). See replica_read.go.
	// When set, the stores advance safe ts from the start; otherwise from
	// the first stale read or GetStoreSafeTS the cluster serves, so runs
	// that never use them keep their schedules.
	SafeTSInterval time.Duration
	// StoreLabels, when set, gives the labels each store registers with PD
	// (e.g. its zone), for label-matched replica and stale reads.
	StoreLabels func(store uint64) []*metapb.StoreLabel
}

func (c Config) withDefaults() Config {
	if c.Stores <= 0 {
		c.Stores = 3
	}
	if c.Replicas <= 0 {
		c.Replicas = min(3, c.Stores)
	}
	c.Replicas = min(c.Replicas, c.Stores)
	if c.ServiceTime == (network.Latency{}) {
		c.ServiceTime = network.Latency{Min: 50 * time.Microsecond, Max: 500 * time.Microsecond}
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 10 * time.Second
	}
	if c.ElectionTimeout <= 0 {
		c.ElectionTimeout = 2 * time.Second
	}
	if c.SafeTSInterval <= 0 {
		c.SafeTSInterval = time.Second
	}
	if c.MaxEntrySize <= 0 {
		c.MaxEntrySize = 8 << 20
	}
	return c
}

// region is the authoritative state of one region.
type region struct {
	meta *metapb.Region
	// leader is the store id of the leader peer, 0 while an election runs.
	leader uint64
	// term grows with every leader change; a write that started under an
	// older term fails with StaleCommand.
	term uint64
	// maxTSSynced is false after a leader change or a loss of volatile
	// state, until the leader has synced max_ts from PD.
	maxTSSynced bool
}

func (r *region) peerOn(store uint64) *metapb.Peer {
	for _, p := range r.meta.Peers {
		if p.StoreId == store {
			return p
		}
	}
	return nil
}

func (r *region) contains(key []byte) bool {
	return bytes.Compare(key, r.meta.StartKey) >= 0 && (len(r.meta.EndKey) == 0 || bytes.Compare(key, r.meta.EndKey) < 0)
}

// Cluster is a fake PD plus fake TiKV stores on one simulated network.
type Cluster struct {
	w      *sim.World
	net    *network.Network
	cfg    Config
	pd     *pd.PD
	pdUp   bool
	engine *mvcc.Engine
	stores []*Store  // by id-1
	regs   []*region // sorted by start key, tiling the key space
	rng    *rand.Rand
	log    []string

	waiters map[uint64]*lockWaiter // pessimistic lock waits by engine token
	// staleApplied counts the writes applied although their proposer
	// answered StaleCommand (Store.serve, maybeApplyStale).
	staleApplied int
	// safe is each store's safe ts per region (replica_read.go).
	safe map[uint64]*safeTSState
	// safeTSStarted is set once the stores' resolved-ts loops run.
	safeTSStarted bool
	// readIndexes counts the read indexes leaders granted.
	readIndexes uint64
	// staleServed counts the stale reads followers served locally, in all
	// and by store.
	staleServed   uint64
	staleServedBy map[uint64]uint64
}

// New boots a cluster on world w and network net: PD, the stores, the
// initial regions (their peers spread round-robin, leaders on the first
// peer), and PD's view of them. It must be called before w.Run or from a
// task.
func New(w *sim.World, net *network.Network, cfg Config) *Cluster {
	eagerSafeTS := cfg.SafeTSInterval > 0
	cfg = cfg.withDefaults()
	c := &Cluster{w: w, net: net, cfg: cfg, pdUp: true, rng: w.Rand("cluster"), waiters: make(map[uint64]*lockWaiter), safe: make(map[uint64]*safeTSState), staleServedBy: make(map[uint64]uint64)}
	c.engine = mvcc.New(mvcc.Config{APIVersion: cfg.APIVersion})
	c.pd = pd.New(w.Now(), pd.Config{Seed: w.Seed(), MaxPeerCount: uint32(cfg.Replicas), NoKeyspaceRegionSplit: cfg.APIVersion != kvrpcpb.APIVersion_V2})
	for i := 1; i <= cfg.Stores; i++ {
		s := &Store{c: c, id: uint64(i), addr: StoreNode(uint64(i)), up: true}
		c.stores = append(c.stores, s)
	}
	c.boot()
	net.AddNode(PDNode, c.servePD)
	for _, s := range c.stores {
		net.AddNode(s.addr, s.serve)
	}
	w.Spawn("pd-ticker", c.pdTicker)
	for _, s := range c.stores {
		w.Spawn(s.addr+"-heartbeat", s.heartbeatLoop)
	}
	if eagerSafeTS {
		c.startSafeTS()
	}
	c.check()
	return c
}

// allocID asks PD for a new id, as TiKV's AskBatchSplit and PD's operators
// do; it fails while PD is down or has no leader.
func (c *Cluster) allocID() (uint64, error) {
	if !c.pdUp {
		return 0, badAction("pd is down")
	}
	resp, err := c.pd.AllocID(c.w.Now(), &pdpb.AllocIDRequest{Header: c.pdHeader(), Count: 1})
	if err != nil {
		return 0, badAction("pd AllocID: %v", err)
	}
	if e := resp.GetHeader().GetError(); e != nil {
		return 0, badAction("pd AllocID: %v", e)
	}
	return resp.GetId(), nil
}

func (c *Cluster) mustAllocID() uint64 {
	id, err := c.allocID()
	invariants.Assert(err == nil, "boot: %v", err)
	return id
}

func (c *Cluster) pdHeader() *pdpb.RequestHeader {
	return &pdpb.RequestHeader{ClusterId: c.pd.ClusterID()}
}

func (c *Cluster) storeMeta(s *Store) *metapb.Store {
	m := &metapb.Store{Id: s.id, Address: s.addr, State: metapb.StoreState_Up, Version: "8.5.0", PeerAddress: s.addr, StatusAddress: s.addr}
	if c.cfg.StoreLabels != nil {
		m.Labels = c.cfg.StoreLabels(s.id)
	}
	return m
}

// boot bootstraps PD with store 1 and the first region, registers the other
// stores, and creates the initial regions, all synchronously so the run
// starts from a consistent PD view.
func (c *Cluster) boot() {
	now := c.w.Now()
	// TiKV bootstraps store 1 with region 2 holding one peer (id 3); PD
	// then adds the other replicas one conf change at a time.
	first := &region{meta: &metapb.Region{Id: 2, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1},
		Peers: []*metapb.Peer{{Id: 3, StoreId: 1}}}, leader: 1, maxTSSynced: true, term: 1}
	resp, err := c.pd.Bootstrap(now, &pdpb.BootstrapRequest{Header: c.pdHeader(), Store: c.storeMeta(c.stores[0]), Region: proto.Clone(first.meta).(*metapb.Region)})
	invariants.Assert(err == nil && resp.GetHeader().GetError() == nil, "bootstrap: %v %v", err, resp.GetHeader().GetError())
	// Make sure later allocations do not reuse the ids picked above.
	for c.mustAllocID() <= 3 {
	}
	for _, s := range c.stores[1:] {
		_, err := c.pd.PutStore(now, &pdpb.PutStoreRequest{Header: c.pdHeader(), Store: c.storeMeta(s)})
		invariants.Assert(err == nil, "PutStore: %v", err)
	}
	c.regs = []*region{first}
	for i := 2; i <= c.cfg.Replicas; i++ {
		first.meta.Peers = append(first.meta.Peers, &metapb.Peer{Id: c.mustAllocID(), StoreId: uint64(i)})
		first.meta.RegionEpoch.ConfVer++
	}
	keys := slices.Clone(c.cfg.SplitKeys)
	slices.SortFunc(keys, bytes.Compare)
	keys = slices.CompactFunc(keys, bytes.Equal)
	for i, k := range keys {
		if len(k) == 0 {
			continue
		}
		k = c.toBoundary(k)
		if err := c.split(k); err != nil {
			invariants.Fail("initial split: %v", err)
		}
		// Spread leaders: the i-th region's leader on a different store.
		r := c.regionFor(k)
		r.leader = r.meta.Peers[(i+1)%len(r.meta.Peers)].StoreId
	}
	for _, r := range c.regs {
		c.heartbeatNow(r)
	}
	for _, s := range c.stores {
		_, _ = c.pd.StoreHeartbeat(now, &pdpb.StoreHeartbeatRequest{Header: c.pdHeader(), Stats: &pdpb.StoreStats{StoreId: s.id}})
	}
}

// heartbeatNow reports r to PD synchronously (boot only; afterwards
// heartbeats travel over the network and may be lost).
func (c *Cluster) heartbeatNow(r *region) {
	_, err := c.pd.RegionHeartbeat(c.w.Now(), c.heartbeatReq(r))
	invariants.Assert(err == nil, "heartbeat: %v", err)
}

func (c *Cluster) heartbeatReq(r *region) *pdpb.RegionHeartbeatRequest {
	req := &pdpb.RegionHeartbeatRequest{Header: c.pdHeader(), Region: proto.Clone(r.meta).(*metapb.Region), Term: r.term}
	if p := r.peerOn(r.leader); p != nil {
		req.Leader = proto.Clone(p).(*metapb.Peer)
	}
	return req
}

// regionFor returns the region containing key.
func (c *Cluster) regionFor(key []byte) *region {
	i := sort.Search(len(c.regs), func(i int) bool {
		end := c.regs[i].meta.EndKey
		return len(end) == 0 || bytes.Compare(key, end) < 0
	})
	invariants.Assert(i < len(c.regs), "no region for key %q", key)
	return c.regs[i]
}

func (c *Cluster) regionByID(id uint64) *region {
	for _, r := range c.regs {
		if r.meta.Id == id {
			return r
		}
	}
	return nil
}

func (c *Cluster) store(id uint64) *Store {
	if id == 0 || id > uint64(len(c.stores)) {
		return nil
	}
	return c.stores[id-1]
}

func (c *Cluster) record(action string) {
	c.log = append(c.log, fmt.Sprintf("%v %s", c.w.Elapsed(), action))
	c.w.Record(sim.KindFault, "cluster", action, 0)
}

// check asserts the cluster invariants.
func (c *Cluster) check() {
	if !invariants.Enabled {
		return
	}
	invariants.Assert(len(c.regs) > 0, "no regions")
	invariants.Assert(len(c.regs[0].meta.StartKey) == 0, "first region starts at %q", c.regs[0].meta.StartKey)
	invariants.Assert(len(c.regs[len(c.regs)-1].meta.EndKey) == 0, "last region ends at %q", c.regs[len(c.regs)-1].meta.EndKey)
	for i, r := range c.regs {
		if i > 0 {
			invariants.Assert(bytes.Equal(c.regs[i-1].meta.EndKey, r.meta.StartKey), "regions %d and %d do not tile", c.regs[i-1].meta.Id, r.meta.Id)
		}
		invariants.Assert(len(r.meta.EndKey) == 0 || bytes.Compare(r.meta.StartKey, r.meta.EndKey) < 0, "region %d is empty", r.meta.Id)
		invariants.Assert(r.leader == 0 || r.peerOn(r.leader) != nil, "region %d leader %d is not a peer", r.meta.Id, r.leader)
	}
}

// Log returns the topology actions applied so far, with their virtual times.
func (c *Cluster) Log() []string { return slices.Clone(c.log) }

// PD returns the fake PD's state machine, for tests and inspection.
func (c *Cluster) PD() *pd.PD { return c.pd }

// Engine returns the storage engine, for tests and inspection.
func (c *Cluster) Engine() *mvcc.Engine { return c.engine }

// Network returns the network the cluster lives on.
func (c *Cluster) Network() *network.Network { return c.net }

// StoreIDs returns the ids of all stores.
func (c *Cluster) StoreIDs() []uint64 {
	ids := make([]uint64, len(c.stores))
	for i, s := range c.stores {
		ids[i] = s.id
	}
	return ids
}

// v2 reports whether the cluster runs in API V2 mode.
func (c *Cluster) v2() bool { return c.cfg.APIVersion == kvrpcpb.APIVersion_V2 }

// encoded reports whether the keys of a command (raw or transactional) are
// memcomparable-encoded before they are compared with region boundaries:
// every key in API V2, transactional keys on a TxnKeys cluster.
func (c *Cluster) encoded(raw bool) bool { return c.v2() || (c.cfg.TxnKeys && !raw) }

// toBoundary maps a key given to the cluster's methods (a user key, or a
// prefixed key in API V2) into the space of region boundaries.
func (c *Cluster) toBoundary(key []byte) []byte { return c.keyToBoundary(key, false) }

// keyToBoundary maps a command's key into the space of region boundaries.
func (c *Cluster) keyToBoundary(key []byte, raw bool) []byte {
	if !c.encoded(raw) || len(key) == 0 {
		return key
	}
	return codec.EncodeBytes(nil, key)
}

// boundaryToKey maps a region boundary back to the key space of a raw or
// transactional command.
func (c *Cluster) boundaryToKey(b []byte, raw bool) []byte {
	if !c.encoded(raw) || len(b) == 0 {
		return b
	}
	_, k, err := codec.DecodeBytes(b, nil)
	invariants.Assert(err == nil, "undecodable region boundary %q: %v", b, err)
	return k
}

// KeyspacePrefix returns the API V2 key prefix of keyspace id in raw or
// transactional mode: 'r' or 'x' followed by the id in 3 bytes big endian
// (components/api_version/src/api_v2.rs; client-go apicodec codec_v2.go).
func KeyspacePrefix(id uint32, raw bool) []byte {
	m := byte('x')
	if raw {
		m = 'r'
	}
	return []byte{m, byte(id >> 16), byte(id >> 8), byte(id)}
}

// Region returns a copy of the authoritative metadata of the region
// containing key and its leader store (0: no leader).
func (c *Cluster) Region(key []byte) (*metapb.Region, uint64) {
	r := c.regionFor(c.toBoundary(key))
	return proto.Clone(r.meta).(*metapb.Region), r.leader
}

// Regions returns copies of every region's metadata, in key order.
func (c *Cluster) Regions() []*metapb.Region {
	out := make([]*metapb.Region, len(c.regs))
	for i, r := range c.regs {
		out[i] = proto.Clone(r.meta).(*metapb.Region)
	}
	return out
}

// Leader returns the leader store of region id (0: none or unknown region).
func (c *Cluster) Leader(id uint64) uint64 {
	if r := c.regionByID(id); r != nil {
		return r.leader
	}
	return 0
}
