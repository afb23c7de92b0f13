package pd

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"google.golang.org/grpc/codes"

	"github.com/tikvsim/tikvsim/internal/invariants"
)

// OpKind says what an Op asks the cluster layer to do.
type OpKind int

const (
	// OpSplit splits region RegionID at SplitKeys (TiKV's SplitRegion with
	// CheckPolicy USEKEY).
	OpSplit OpKind = iota + 1
	// OpScatter moves region RegionID's peers onto TargetStores and its
	// leader onto TargetLeaderStore.
	OpScatter
)

// String names the kind ("split", "scatter").
func (k OpKind) String() string {
	switch k {
	case OpSplit:
		return "split"
	case OpScatter:
		return "scatter"
	}
	return fmt.Sprintf("OpKind(%d)", int(k))
}

// Op is an instruction PD issues to the cluster layer (see the package
// documentation for the contract). Slices are owned by the receiver.
type Op struct {
	// Kind is what to do.
	Kind OpKind
	// RegionID is the region to act on.
	RegionID uint64
	// Epoch is the region epoch PD computed the Op against; an executor
	// should drop the Op if the region has moved past it.
	Epoch *metapb.RegionEpoch
	// LeaderStore is the store PD believes leads the region (where PD would
	// send the heartbeat response carrying this command).
	LeaderStore uint64
	// SplitKeys are the split points of an OpSplit, in key order.
	SplitKeys [][]byte
	// TargetStores are the stores that should hold the region's peers after
	// an OpScatter, in increasing id order.
	TargetStores []uint64
	// TargetPeers are the region's peers after an OpScatter, in store
	// order: a peer that stays keeps its id, a new one carries an id PD
	// allocated (as PD's AddLearner step does).
	TargetPeers []*metapb.Peer
	// TargetLeaderStore is where the leader should be after an OpScatter.
	TargetLeaderStore uint64
	// Desc is PD's operator description ("region-splitter",
	// "scatter-region", "labeler-split-region").
	Desc string
}

// String prints the Op on one line, keys in hex.
func (o Op) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s region=%d epoch=%d/%d leader-store=%d", o.Kind, o.RegionID,
		o.Epoch.GetConfVer(), o.Epoch.GetVersion(), o.LeaderStore)
	switch o.Kind {
	case OpSplit:
		keys := make([]string, len(o.SplitKeys))
		for i, k := range o.SplitKeys {
			keys[i] = fmt.Sprintf("%x", k)
		}
		fmt.Fprintf(&b, " keys=[%s]", strings.Join(keys, " "))
	case OpScatter:
		peers := make([]string, len(o.TargetPeers))
		for i, pe := range o.TargetPeers {
			peers[i] = fmt.Sprintf("%d@%d", pe.GetId(), pe.GetStoreId())
		}
		fmt.Fprintf(&b, " peers=[%s] target-leader-store=%d", strings.Join(peers, " "), o.TargetLeaderStore)
	}
	fmt.Fprintf(&b, " desc=%s", o.Desc)
	return b.String()
}

// operator is PD's record of an Op on one region.
type operator struct {
	op      Op
	kind    string // PD OpKind string
	start   []byte // region range when created (split operators)
	end     []byte
	status  pdpb.OperatorStatus
	created time.Time
	group   string
}

type opController struct {
	running map[uint64]*operator // region id -> running operator
	records map[uint64]*operator // region id -> last finished operator
	queue   []Op
	jobs    map[uint64]*splitJob
	// scatter placement counts per group: store -> peers / leaders placed.
	groupPeers   map[string]map[uint64]int
	groupLeaders map[string]map[uint64]int
}

func (c *opController) finish(regionID uint64, status pdpb.OperatorStatus) {
	o := c.running[regionID]
	if o == nil {
		return
	}
	invariants.Assert(status != pdpb.OperatorStatus_RUNNING, "finishing operator as running")
	o.status = status
	delete(c.running, regionID)
	if c.records == nil {
		c.records = map[uint64]*operator{}
	}
	c.records[regionID] = o
}

// add registers o and queues its Op. A running operator on the region is
// replaced (status REPLACE).
func (c *opController) add(o *operator) {
	if c.running == nil {
		c.running = map[uint64]*operator{}
	}
	c.finish(o.op.RegionID, pdpb.OperatorStatus_REPLACE)
	o.status = pdpb.OperatorStatus_RUNNING
	c.running[o.op.RegionID] = o
	c.queue = append(c.queue, o.op)
}

// onRegion checks the operator of a region that just heartbeated.
func (c *opController) onRegion(r *regionInfo) {
	o := c.running[r.id()]
	if o == nil {
		return
	}
	switch o.op.Kind {
	case OpSplit:
		// SplitRegion.IsFinish: the region's range changed.
		if !bytes.Equal(r.startKey(), o.start) || !bytes.Equal(r.endKey(), o.end) {
			c.finish(r.id(), pdpb.OperatorStatus_SUCCESS)
		}
	case OpScatter:
		if r.meta.GetRegionEpoch().GetVersion() != o.op.Epoch.GetVersion() {
			c.finish(r.id(), pdpb.OperatorStatus_CANCEL) // epoch changed under it
			return
		}
		stores := make([]uint64, 0, len(r.meta.GetPeers()))
		for _, pe := range r.meta.GetPeers() {
			stores = append(stores, pe.GetStoreId())
		}
		sort.Slice(stores, func(i, j int) bool { return stores[i] < stores[j] })
		if fmt.Sprint(stores) == fmt.Sprint(o.op.TargetStores) && r.leader.GetStoreId() == o.op.TargetLeaderStore {
			c.finish(r.id(), pdpb.OperatorStatus_SUCCESS)
		}
	}
}

func (c *opController) tick(now time.Time, p *PD) {
	for _, id := range sortedKeys(c.running) {
		if now.Sub(c.running[id].created) >= p.cfg.OperatorTimeout {
			c.finish(id, pdpb.OperatorStatus_TIMEOUT)
		}
	}
	p.keyspaceSplitLocked(now)
}

// onRegionChange is called after a heartbeat was applied.
func (c *opController) onRegionChange(_ time.Time, p *PD, r *regionInfo) {
	c.onRegion(r)
}

// Ready returns the Ops issued since the last call, in issue order, and
// forgets them. The caller owns the result.
func (p *PD) Ready() []Op {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := p.ops.queue
	p.ops.queue = nil
	for i := range q {
		q[i] = q[i].clone()
	}
	return q
}

func (o Op) clone() Op {
	o.Epoch = cloneEpoch(o.Epoch)
	keys := make([][]byte, len(o.SplitKeys))
	for i, k := range o.SplitKeys {
		keys[i] = cloneBytes(k)
	}
	if o.SplitKeys == nil {
		keys = nil
	}
	o.SplitKeys = keys
	o.TargetStores = append([]uint64(nil), o.TargetStores...)
	o.TargetPeers = clonePeers(o.TargetPeers)
	return o
}

// HasReady reports whether Ready would return any Op.
func (p *PD) HasReady() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ops.queue) > 0
}

// newSplitOpLocked registers a split operator for r at keys.
func (p *PD) newSplitOpLocked(now time.Time, r *regionInfo, keys [][]byte, desc string) {
	sorted := make([][]byte, len(keys))
	for i, k := range keys {
		sorted[i] = cloneBytes(k)
	}
	sort.Slice(sorted, func(i, j int) bool { return bytes.Compare(sorted[i], sorted[j]) < 0 })
	p.ops.add(&operator{
		op: Op{Kind: OpSplit, RegionID: r.id(), Epoch: cloneEpoch(r.meta.GetRegionEpoch()),
			LeaderStore: r.leader.GetStoreId(), SplitKeys: sorted, Desc: desc},
		kind: "split", start: cloneBytes(r.startKey()), end: cloneBytes(r.endKey()), created: now,
	})
}

// regionReplicated is filter.IsRegionReplicated without placement rules:
// no learners and exactly max-replicas peers.
func (p *PD) regionReplicated(r *regionInfo) bool {
	for _, pe := range r.meta.GetPeers() {
		if pe.GetRole() == metapb.PeerRole_Learner {
			return false
		}
	}
	return len(r.meta.GetPeers()) == int(p.cfg.MaxPeerCount)
}

// splitJob is one SplitRegions call in progress (pkg/schedule/splitter).
type splitJob struct {
	keys        [][]byte
	retryLimit  int
	attempt     int
	unprocessed [][]byte
	groups      []*splitGroup
	deadline    time.Time
	nextStart   time.Time // when waiting between attempts
	newRegions  map[uint64][]byte
}

type splitGroup struct {
	start, end []byte
	keys       [][]byte
	finished   bool
}

func (p *PD) startAttemptLocked(now time.Time, j *splitJob) {
	j.groups = nil
	j.nextStart = time.Time{}
	j.deadline = now.Add(p.cfg.SplitTimeout)
	byRegion := map[uint64]*splitGroup{}
	regions := map[uint64]*regionInfo{}
	for _, k := range j.unprocessed {
		r := p.st.regions.search(k)
		if r == nil || !p.regionReplicated(r) || r.leader == nil || bytes.Equal(r.startKey(), k) {
			continue
		}
		g := byRegion[r.id()]
		if g == nil {
			g = &splitGroup{start: cloneBytes(r.startKey()), end: cloneBytes(r.endKey())}
			byRegion[r.id()] = g
			regions[r.id()] = r
		}
		g.keys = append(g.keys, k)
	}
	for _, id := range sortedKeys(byRegion) {
		p.newSplitOpLocked(now, regions[id], byRegion[id].keys, "region-splitter")
		j.groups = append(j.groups, byRegion[id])
	}
}

// StartSplitRegions begins the SplitRegions RPC. When the answer is already
// known (an error, a header error, no split keys) it is returned at once and
// job is 0. Otherwise split Ops are queued and the caller polls
// PollSplitRegions(job) every SplitWatchInterval until it answers.
func (p *PD) StartSplitRegions(now time.Time, req *pdpb.SplitRegionsRequest) (job uint64, resp *pdpb.SplitRegionsResponse, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.validateLocked(req.GetHeader()); err != nil {
		return 0, nil, err
	}
	if !p.st.bootstrapped {
		return 0, &pdpb.SplitRegionsResponse{Header: p.notBootstrappedHeader()}, nil
	}
	if len(req.GetSplitKeys()) == 0 {
		return 0, &pdpb.SplitRegionsResponse{Header: p.okHeader()}, nil
	}
	j := &splitJob{retryLimit: int(min(req.GetRetryLimit(), 1<<20)), newRegions: map[uint64][]byte{}}
	for _, k := range req.GetSplitKeys() {
		j.keys = append(j.keys, cloneBytes(k))
	}
	j.unprocessed = j.keys
	p.startAttemptLocked(now, j)
	if p.ops.jobs == nil {
		p.ops.jobs = map[uint64]*splitJob{}
	}
	p.nextJob++
	p.ops.jobs[p.nextJob] = j
	return p.nextJob, nil, nil
}

// PollSplitRegions advances split job at now. It returns nil, nil while the
// job still waits, and the final response once the splits are seen or the
// attempts ran out. A job is lost with the leader that started it: polling
// it after a leader change fails with ErrNotLeader.
func (p *PD) PollSplitRegions(now time.Time, job uint64) (*pdpb.SplitRegionsResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	j := p.ops.jobs[job]
	if p.leader < 0 || (j == nil && job != 0 && job <= p.jobsLost) {
		return nil, ErrNotLeader
	}
	if j == nil {
		return nil, &StatusError{Code: codes.NotFound, Msg: fmt.Sprintf("split job %d not found", job)}
	}
	if !j.nextStart.IsZero() {
		if now.Before(j.nextStart) {
			return nil, nil
		}
		p.startAttemptLocked(now, j)
		return nil, nil
	}
	// ScanRegionsByKeyRange for every unfinished group.
	finished := true
	for _, g := range j.groups {
		if g.finished {
			continue
		}
		created := 0
		p.st.regions.scanFrom(g.start, func(r *regionInfo) bool {
			if len(g.end) > 0 && bytes.Compare(r.startKey(), g.end) >= 0 {
				return false
			}
			for _, k := range g.keys {
				if bytes.Equal(k, r.startKey()) {
					j.newRegions[r.id()] = k
					created++
				}
			}
			return true
		})
		if created >= len(g.keys) {
			g.finished = true
		} else {
			finished = false
		}
	}
	if !finished && now.Before(j.deadline) {
		return nil, nil
	}
	// The attempt is over: compute the unprocessed keys.
	var unprocessed [][]byte
	for _, k := range j.keys {
		found := false
		for _, id := range sortedKeys(j.newRegions) {
			if bytes.Equal(j.newRegions[id], k) {
				found = true
				break
			}
		}
		if !found {
			unprocessed = append(unprocessed, k)
		}
	}
	j.unprocessed = unprocessed
	if len(unprocessed) > 0 && j.attempt < j.retryLimit {
		backoff := min(time.Minute, time.Duration(math.Pow(2, float64(j.attempt)))*100*time.Millisecond)
		j.attempt++
		j.nextStart = now.Add(backoff)
		return nil, nil
	}
	delete(p.ops.jobs, job)
	invariants.Assert(len(unprocessed) <= len(j.keys), "more unprocessed keys than keys")
	return &pdpb.SplitRegionsResponse{
		Header:             p.okHeader(),
		FinishedPercentage: uint64(100 - len(unprocessed)*100/len(j.keys)),
		RegionsId:          sortedKeys(j.newRegions),
	}, nil
}

// pickScatterTargets chooses the stores for a region's peers and leader in a
// group: the live stores holding the fewest peers (then leaders) of the group
// so far, lowest id first. It is deterministic.
func (p *PD) pickScatterTargets(r *regionInfo, group string) ([]uint64, uint64) {
	var live []uint64
	for _, id := range p.sortedStoreIDsLocked() {
		if p.st.stores[id].meta.GetNodeState() == metapb.NodeState_Serving {
			live = append(live, id)
		}
	}
	n := min(len(r.meta.GetPeers()), len(live))
	if p.ops.groupPeers == nil {
		p.ops.groupPeers, p.ops.groupLeaders = map[string]map[uint64]int{}, map[string]map[uint64]int{}
	}
	if p.ops.groupPeers[group] == nil {
		p.ops.groupPeers[group], p.ops.groupLeaders[group] = map[uint64]int{}, map[uint64]int{}
	}
	peers, leaders := p.ops.groupPeers[group], p.ops.groupLeaders[group]
	cand := append([]uint64{}, live...)
	sort.SliceStable(cand, func(i, j int) bool { return peers[cand[i]] < peers[cand[j]] })
	targets := append([]uint64{}, cand[:n]...)
	sort.Slice(targets, func(i, j int) bool { return targets[i] < targets[j] })
	var leader uint64
	for _, s := range targets {
		if leader == 0 || leaders[s] < leaders[leader] {
			leader = s
		}
	}
	for _, s := range targets {
		peers[s]++
	}
	if leader != 0 {
		leaders[leader]++
	}
	return targets, leader
}

// scatterLocked is RegionScatterer.Scatter for one region: it returns
// whether an operator was created, or an error message.
func (p *PD) scatterLocked(now time.Time, r *regionInfo, group string) (bool, string) {
	if !p.regionReplicated(r) {
		return false, fmt.Sprintf("region %d is not fully replicated", r.id())
	}
	if o := p.ops.running[r.id()]; o != nil && o.op.Kind == OpScatter && o.group == group {
		if o.op.Epoch.GetVersion() != r.meta.GetRegionEpoch().GetVersion() ||
			o.op.Epoch.GetConfVer() != r.meta.GetRegionEpoch().GetConfVer() {
			return false, fmt.Sprintf("the operator of region %d already exist with different epoch", r.id())
		}
		return false, "" // already running
	}
	targets, leader := p.pickScatterTargets(r, group)
	var cur []uint64
	for _, pe := range r.meta.GetPeers() {
		cur = append(cur, pe.GetStoreId())
	}
	sort.Slice(cur, func(i, j int) bool { return cur[i] < cur[j] })
	if fmt.Sprint(cur) == fmt.Sprint(targets) && r.leader.GetStoreId() == leader {
		return false, "" // already in place: no operator
	}
	var peers []*metapb.Peer
	for _, s := range targets {
		var pe *metapb.Peer
		for _, cp := range r.meta.GetPeers() {
			if cp.GetStoreId() == s {
				pe = clonePeer(cp)
			}
		}
		if pe == nil {
			pe = &metapb.Peer{Id: p.allocIDsLocked(1), StoreId: s}
		}
		peers = append(peers, pe)
	}
	kind := "admin"
	if fmt.Sprint(cur) != fmt.Sprint(targets) {
		kind += ",region"
	}
	if r.leader.GetStoreId() != leader {
		kind += ",leader"
	}
	p.ops.add(&operator{
		op: Op{Kind: OpScatter, RegionID: r.id(), Epoch: cloneEpoch(r.meta.GetRegionEpoch()),
			LeaderStore: r.leader.GetStoreId(), TargetStores: targets, TargetPeers: peers,
			TargetLeaderStore: leader, Desc: "scatter-region"},
		kind: kind, created: now, group: group,
	})
	return true, ""
}

// ScatterRegion implements the RPC (server/grpc_service.go ScatterRegion,
// pkg/schedule/scatter ScatterRegionsByID). It creates operators and returns
// at once; finished_percentage is the share of regions handled, and
// progress is then read with GetOperator. Retries are immediate here (the
// state cannot change within one call), so retry_limit has no effect.
func (p *PD) ScatterRegion(now time.Time, req *pdpb.ScatterRegionRequest) (*pdpb.ScatterRegionResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.st.bootstrapped && p.leader >= 0 {
		return &pdpb.ScatterRegionResponse{Header: p.notBootstrappedHeader()}, nil
	}
	if err := p.validateLocked(req.GetHeader()); err != nil {
		return nil, err
	}
	if ids := req.GetRegionsId(); len(ids) > 0 {
		if len(ids) == 1 && p.st.regions.byID[ids[0]] == nil {
			return nil, errUnknown("[PD:region:ErrRegionNotFound]region %v not found")
		}
		failures := map[uint64]string{}
		handled := 0
		seen := map[uint64]bool{}
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			r := p.st.regions.byID[id]
			if r == nil {
				failures[id] = fmt.Sprintf("failed to find region %v", id)
				continue
			}
			if _, msg := p.scatterLocked(now, r, req.GetGroup()); msg != "" {
				failures[id] = msg
				continue
			}
			handled++
		}
		resp := &pdpb.ScatterRegionResponse{Header: p.okHeader(), FinishedPercentage: 100}
		invariants.Assert(handled+len(failures) == len(seen), "scatter accounted %d of %d regions", handled+len(failures), len(seen))
		if len(failures) > 0 {
			resp.FinishedPercentage = uint64(100 - 100*len(failures)/(handled+len(failures)))
			resp.FailedRegionsId = sortedKeys(failures)
		}
		return resp, nil
	}
	r := p.st.regions.byID[req.GetRegionId()] //nolint:staticcheck // the deprecated single-region form
	if r == nil {
		if req.GetRegion() == nil {
			// PD's message really is the unformatted "region %d not found".
			return &pdpb.ScatterRegionResponse{Header: p.errHeader(pdpb.ErrorType_REGION_NOT_FOUND, "region %d not found")}, nil
		}
		r = &regionInfo{meta: cloneRegion(req.GetRegion()), leader: clonePeer(req.GetLeader())}
	}
	if _, msg := p.scatterLocked(now, r, req.GetGroup()); msg != "" {
		return nil, errUnknown(msg)
	}
	return &pdpb.ScatterRegionResponse{Header: p.okHeader(), FinishedPercentage: 100}, nil
}

// GetOperator implements the RPC: the running or last finished operator of
// the region, or REGION_NOT_FOUND "Not Found".
func (p *PD) GetOperator(_ time.Time, req *pdpb.GetOperatorRequest) (*pdpb.GetOperatorResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.st.bootstrapped && p.leader >= 0 {
		return &pdpb.GetOperatorResponse{Header: p.notBootstrappedHeader()}, nil
	}
	if err := p.validateLocked(req.GetHeader()); err != nil {
		return nil, err
	}
	id := req.GetRegionId()
	o := p.ops.running[id]
	if o == nil {
		o = p.ops.records[id]
	}
	if o == nil {
		return &pdpb.GetOperatorResponse{Header: p.errHeader(pdpb.ErrorType_REGION_NOT_FOUND, "Not Found")}, nil
	}
	return &pdpb.GetOperatorResponse{Header: p.okHeader(), RegionId: id,
		Desc: []byte(o.op.Desc), Kind: []byte(o.kind), Status: o.status}, nil
}
