package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/metapb"
)

// ErrBadAction is returned by topology actions that cannot apply (unknown
// region or store, split at a boundary, merge with no neighbour, ...).
var ErrBadAction = errors.New("cluster: action does not apply")

func badAction(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadAction, fmt.Sprintf(format, args...))
}

// split splits the region containing key at key. As in TiKV with
// right-derive-when-split (the default), the original region keeps the right
// half [key, end) and its id; the new region takes [start, key). Both get
// version+1 (components/raftstore/src/store/fsm/apply.rs exec_batch_split).
func (c *Cluster) split(key []byte) error {
	if len(key) == 0 {
		return badAction("split at the empty key")
	}
	r := c.regionFor(key)
	if bytes.Equal(r.meta.StartKey, key) {
		return badAction("split of region %d at its start key %q", r.meta.Id, key)
	}
	ids := make([]uint64, 1+len(r.meta.Peers))
	for i := range ids {
		id, err := c.allocID()
		if err != nil {
			return err
		}
		ids[i] = id
	}
	left := &region{meta: proto.Clone(r.meta).(*metapb.Region), leader: r.leader, term: r.term, maxTSSynced: r.maxTSSynced}
	left.meta.Id = ids[0]
	left.meta.EndKey = slices.Clone(key)
	for i, p := range left.meta.Peers {
		p.Id = ids[1+i]
	}
	r.meta.StartKey = slices.Clone(key)
	r.meta.RegionEpoch.Version++
	left.meta.RegionEpoch.Version = r.meta.RegionEpoch.Version
	i := slices.Index(c.regs, r)
	c.regs = slices.Insert(c.regs, i, left)
	c.record(fmt.Sprintf("split(%q) region %d -> %d,%d", key, r.meta.Id, left.meta.Id, r.meta.Id))
	return nil
}

// Split splits the region containing key at key and reports both halves to
// PD through their leaders' heartbeats.
func (c *Cluster) Split(key []byte) error { return c.splitBoundary(c.toBoundary(key)) }

// splitBoundary is Split at a key in boundary space (PD's split keys are).
func (c *Cluster) splitBoundary(key []byte) error {
	if err := c.split(key); err != nil {
		return err
	}
	r := c.regionFor(key)
	i := slices.Index(c.regs, r)
	c.reportSoon(c.regs[i-1])
	c.reportSoon(r)
	c.check()
	return nil
}

// Merge merges the region containing key into its right neighbour (or left
// when it is the last region). The surviving region's version becomes
// max(source, target)+1 (TiKV's CommitMerge, fsm/apply.rs exec_commit_merge).
func (c *Cluster) Merge(key []byte) error {
	src := c.regionFor(c.toBoundary(key))
	i := slices.Index(c.regs, src)
	var dst *region
	switch {
	case i+1 < len(c.regs):
		dst = c.regs[i+1]
		dst.meta.StartKey = src.meta.StartKey
	case i > 0:
		dst = c.regs[i-1]
		dst.meta.EndKey = src.meta.EndKey
	default:
		return badAction("merge of the only region")
	}
	dst.meta.RegionEpoch.Version = max(src.meta.RegionEpoch.Version, dst.meta.RegionEpoch.Version) + 1
	c.regs = slices.Delete(c.regs, i, i+1)
	c.record(fmt.Sprintf("merge region %d into %d", src.meta.Id, dst.meta.Id))
	c.reportSoon(dst)
	c.check()
	return nil
}

// TransferLeader moves the leadership of the region containing key to store
// to. The epoch does not change; the term does, so writes in flight on the old
// leader fail with StaleCommand, and the new leader must sync max_ts before
// serving async-commit or 1PC prewrites.
func (c *Cluster) TransferLeader(key []byte, to uint64) error {
	r := c.regionFor(c.toBoundary(key))
	if r.peerOn(to) == nil {
		return badAction("store %d has no peer of region %d", to, r.meta.Id)
	}
	if s := c.store(to); !s.up {
		return badAction("store %d is down", to)
	}
	if r.leader == to {
		return nil
	}
	c.setLeader(r, to)
	c.record(fmt.Sprintf("transfer-leader region %d -> store %d", r.meta.Id, to))
	c.check()
	return nil
}

func (c *Cluster) setLeader(r *region, to uint64) {
	r.leader = to
	r.term++
	r.maxTSSynced = false
	if to != 0 {
		s := c.store(to)
		c.w.Spawn(s.addr+"-sync-max-ts", func() { s.syncMaxTS(r, r.term) })
		c.reportSoon(r)
	}
}

// CrashStore takes store id down: the network stops delivering to it, the
// regions it leads lose their leader until an election on another live peer
// (after ElectionTimeout), and the engine's volatile state is lost.
func (c *Cluster) CrashStore(id uint64) error {
	s := c.store(id)
	if s == nil {
		return badAction("no store %d", id)
	}
	if !s.up {
		return nil
	}
	s.up = false
	s.incarnation++
	_ = c.net.SetUp(s.addr, false)
	c.loseVolatileState()
	for _, r := range c.regs {
		if r.leader == id {
			c.setLeader(r, 0)
			c.electLater(r)
		}
	}
	c.record(fmt.Sprintf("crash store %d", id))
	c.check()
	return nil
}

// RestartStore brings store id back up. It leads nothing until elected or
// given leadership.
func (c *Cluster) RestartStore(id uint64) error {
	s := c.store(id)
	if s == nil {
		return badAction("no store %d", id)
	}
	if s.up {
		return nil
	}
	s.up = true
	_ = c.net.SetUp(s.addr, true)
	for _, r := range c.regs {
		if r.leader == 0 {
			c.electLater(r)
		}
	}
	c.record(fmt.Sprintf("restart store %d", id))
	c.check()
	return nil
}

// loseVolatileState models a TiKV restart of the shared engine: every
// region must resync max_ts before async-commit or 1PC prewrites.
func (c *Cluster) loseVolatileState() {
	dropped := c.engine.Restart()
	for _, tok := range dropped {
		for _, s := range c.stores {
			s.failWaiter(tok)
		}
	}
	for _, r := range c.regs {
		r.maxTSSynced = false
		if r.leader != 0 {
			s := c.store(r.leader)
			term := r.term
			c.w.Spawn(s.addr+"-sync-max-ts", func() { s.syncMaxTS(r, term) })
		}
	}
}

// electLater gives r a leader among its live peers after the election
// timeout, unless it got one meanwhile.
func (c *Cluster) electLater(r *region) {
	c.w.AfterFunc(c.cfg.ElectionTimeout, func() {
		if r.leader != 0 || slices.Index(c.regs, r) < 0 {
			return
		}
		var live []uint64
		for _, p := range r.meta.Peers {
			if c.store(p.StoreId).up {
				live = append(live, p.StoreId)
			}
		}
		if len(live) == 0 {
			return // RestartStore will try again
		}
		c.setLeader(r, live[c.rng.IntN(len(live))])
		c.record(fmt.Sprintf("elect region %d leader store %d", r.meta.Id, r.leader))
		c.check()
	})
}

// SetBusy makes store id answer every request with ServerIsBusy (or stop).
func (c *Cluster) SetBusy(id uint64, busy bool) error {
	s := c.store(id)
	if s == nil {
		return badAction("no store %d", id)
	}
	s.busy = busy
	c.record(fmt.Sprintf("busy store %d = %v", id, busy))
	return nil
}

// CrashPD takes PD down: the network stops delivering to it and its leader's
// volatile state is lost (pd.PD.Crash).
func (c *Cluster) CrashPD() {
	if !c.pdUp {
		return
	}
	c.pdUp = false
	c.pd.Crash()
	_ = c.net.SetUp(PDNode, false)
	c.record("crash pd")
}

// RestartPD brings PD back; the new leader resumes the TSO above the
// persisted window.
func (c *Cluster) RestartPD() {
	if c.pdUp {
		return
	}
	c.pdUp = true
	c.pd.Restart(c.w.Now())
	_ = c.net.SetUp(PDNode, true)
	c.record("restart pd")
}

// ChangePDLeader moves PD leadership to the next member.
func (c *Cluster) ChangePDLeader() {
	ms := c.pd.Members()
	if len(ms) < 2 {
		return
	}
	cur := c.pd.LeaderID()
	next := ms[0].MemberId
	for i, m := range ms {
		if m.MemberId == cur {
			next = ms[(i+1)%len(ms)].MemberId
		}
	}
	c.pd.ChangeLeader(c.w.Now(), next)
	c.record(fmt.Sprintf("pd leader -> %d", next))
}

// JumpTSO moves PD's physical clock forward by d.
func (c *Cluster) JumpTSO(d time.Duration) {
	c.pd.JumpTSOPhysical(d)
	c.record(fmt.Sprintf("tso jump %v", d))
}

// reportSoon makes r's leader send a region heartbeat to PD now, over the
// network (it may be lost, as a real one may).
func (c *Cluster) reportSoon(r *region) {
	if r.leader == 0 {
		return
	}
	s := c.store(r.leader)
	if !s.up {
		return
	}
	req := c.heartbeatReq(r)
	c.net.Send(s.addr, PDNode, req)
}

// CreateKeyspace creates an ENABLED keyspace in PD, as PD's admin API does
// (sim/cluster/pd CreateKeyspace): its region boundaries are raw-mode ('r')
// when raw, else transactional ('x'), and in API V2 PD then splits the
// regions at them, after which LoadKeyspace finds the keyspace. It fails
// while PD is down.
func (c *Cluster) CreateKeyspace(name string, raw bool) (*keyspacepb.KeyspaceMeta, error) {
	if !c.pdUp {
		return nil, badAction("pd is down")
	}
	bound := "txn"
	if raw {
		bound = "raw"
	}
	m, err := c.pd.CreateKeyspace(c.w.Now(), name, map[string]string{"region_bound_type": bound})
	if err != nil {
		return nil, err
	}
	c.record(fmt.Sprintf("create keyspace %s (id %d, %s bounds)", name, m.GetId(), bound))
	if c.pd.HasReady() {
		c.w.Spawn("pd-ops", c.runOps)
	}
	return m, nil
}
