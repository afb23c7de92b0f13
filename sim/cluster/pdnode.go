package cluster

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvsim/tikvsim/sim/cluster/pd"
)

// pdMethods maps each request type to the fake PD's method for it: the
// method named after the RPC, which is the request type's name without
// "Request" (pd's uniform `func(now, req) (resp, error)` shape).
var pdMethods = func() map[reflect.Type]reflect.Method {
	m := map[reflect.Type]reflect.Method{}
	t := reflect.TypeOf(&pd.PD{})
	timeT := reflect.TypeOf(time.Time{})
	errT := reflect.TypeOf((*error)(nil)).Elem()
	for i := 0; i < t.NumMethod(); i++ {
		meth := t.Method(i)
		mt := meth.Type
		if mt.NumIn() != 3 || mt.In(1) != timeT || mt.NumOut() != 2 || mt.Out(1) != errT {
			continue
		}
		req := mt.In(2)
		if req.Kind() != reflect.Pointer || req.Elem().Name() != meth.Name+"Request" {
			continue
		}
		m[req] = meth
	}
	return m
}()

// PrevRegionRequest asks PD's GetPrevRegion RPC, whose request message is
// the same pdpb.GetRegionRequest as GetRegion's: on the simulated network the
// wrapper names the RPC, as the gRPC method name does on a real one. It is
// never mutated after sending, so it travels without a copy.
type PrevRegionRequest struct{ Req *pdpb.GetRegionRequest }

// servePD is the PD node's network handler: it runs the RPC on the fake PD
// at the current virtual time. SplitRegions waits, as PD's handler does, until
// the splits show in heartbeats or the job gives up.
func (c *Cluster) servePD(ctx context.Context, _ string, msg any) (any, error) {
	switch req := msg.(type) {
	case *pdpb.SplitRegionsRequest:
		return c.splitRegions(ctx, req)
	case PrevRegionRequest:
		resp, err := c.pd.GetPrevRegion(c.w.Now(), req.Req)
		if err != nil {
			return nil, err
		}
		return resp, nil
	}
	meth, ok := pdMethods[reflect.TypeOf(msg)]
	if !ok {
		return nil, fmt.Errorf("cluster: PD cannot serve %T", msg)
	}
	out := meth.Func.Call([]reflect.Value{reflect.ValueOf(c.pd), reflect.ValueOf(c.w.Now()), reflect.ValueOf(msg)})
	if err, _ := out[1].Interface().(error); err != nil {
		return nil, err
	}
	resp := out[0].Interface()
	if c.pd.HasReady() {
		c.w.Spawn("pd-ops", c.runOps)
	}
	return resp, nil
}

func (c *Cluster) splitRegions(ctx context.Context, req *pdpb.SplitRegionsRequest) (any, error) {
	job, resp, err := c.pd.StartSplitRegions(c.w.Now(), req)
	if err != nil || resp != nil {
		return resp, err
	}
	c.w.Spawn("pd-ops", c.runOps)
	for {
		if err := c.w.Sleep(ctx, pd.SplitWatchInterval); err != nil {
			return nil, err
		}
		resp, err := c.pd.PollSplitRegions(c.w.Now(), job)
		if err != nil || resp != nil {
			return resp, err
		}
	}
}

// pdTicker runs PD's periodic work on virtual time, and the stores' GC:
// when PD's GC safe point advances, TiKV's GC worker removes the versions
// below it (src/server/gc_worker; the engine's GC mirrors gc.rs).
func (c *Cluster) pdTicker() {
	var gcSafePoint uint64
	for tick := 0; ; tick++ {
		_ = c.w.Sleep(context.Background(), pd.DefaultTSOUpdatePhysicalInterval)
		if !c.pdUp {
			continue
		}
		c.pd.Tick(c.w.Now())
		if c.pd.HasReady() {
			c.runOps()
		}
		if tick%20 == 0 { // once a second
			resp, err := c.pd.GetGCState(c.w.Now(), &pdpb.GetGCStateRequest{Header: c.pdHeader()})
			if sp := resp.GetGcState().GetGcSafePoint(); err == nil && sp > gcSafePoint {
				gcSafePoint = sp
				c.engine.GC(sp)
				c.record(fmt.Sprintf("gc safe point %d", sp))
			}
		}
	}
}

// runOps executes the operators PD issued: splits at PD's keys, scatters to
// PD's target peers. An operator computed against an older epoch is dropped,
// as TiKV drops a stale admin command.
func (c *Cluster) runOps() {
	for _, op := range c.pd.Ready() {
		r := c.regionByID(op.RegionID)
		if r == nil || (op.Epoch != nil && op.Epoch.Version != r.meta.RegionEpoch.Version) {
			c.record(fmt.Sprintf("pd op dropped (stale): %s", op))
			continue
		}
		switch op.Kind {
		case pd.OpSplit:
			for _, k := range op.SplitKeys {
				if r.contains(k) && len(k) > 0 {
					_ = c.splitBoundary(k)
				}
			}
		case pd.OpScatter:
			c.scatter(r, op)
		default:
			c.record(fmt.Sprintf("pd op ignored: %s", op))
		}
	}
}

func (c *Cluster) scatter(r *region, op pd.Op) {
	if len(op.TargetPeers) == 0 {
		return
	}
	peers := make([]*metapb.Peer, len(op.TargetPeers))
	for i, p := range op.TargetPeers {
		peers[i] = &metapb.Peer{Id: p.Id, StoreId: p.StoreId, Role: p.Role}
	}
	if !samePeers(r.meta.Peers, peers) {
		r.meta.Peers = peers
		r.meta.RegionEpoch.ConfVer++
	}
	target := op.TargetLeaderStore
	if r.peerOn(target) == nil || !c.store(target).up {
		target = r.leader
		if r.peerOn(target) == nil {
			target = peers[0].StoreId
		}
	}
	if target != r.leader {
		c.setLeader(r, target)
	} else {
		c.reportSoon(r)
	}
	c.record(fmt.Sprintf("scatter region %d to %s", r.meta.Id, peerList(peers)))
	c.check()
}

func samePeers(a, b []*metapb.Peer) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Id != b[i].Id || a[i].StoreId != b[i].StoreId {
			return false
		}
	}
	return true
}

func peerList(ps []*metapb.Peer) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d@s%d", p.Id, p.StoreId)
	}
	return b.String()
}
