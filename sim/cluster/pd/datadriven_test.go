package pd

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
)

// base is the simulated time origin of the scripts; times print as offsets.
var base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// env is the state of one datadriven script.
type env struct {
	p   *PD
	now time.Time
}

func (e *env) hdr() *pdpb.RequestHeader { return &pdpb.RequestHeader{ClusterId: e.p.ClusterID()} }

// fmtKey prints a key readably: printable ASCII as is, anything else in hex.
func fmtKey(b []byte) string {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return fmt.Sprintf("0x%x", b)
		}
	}
	return string(b)
}

func parseKey(s string) []byte {
	if strings.HasPrefix(s, "0x") {
		var out []byte
		for i := 2; i+1 < len(s); i += 2 {
			v, _ := strconv.ParseUint(s[i:i+2], 16, 8)
			out = append(out, byte(v))
		}
		return out
	}
	return []byte(s)
}

func arg(d *datadriven.TestData, key string) (string, bool) {
	for _, a := range d.CmdArgs {
		if a.Key == key {
			return strings.Join(a.Vals, ","), true
		}
	}
	return "", false
}

func argU(t *testing.T, d *datadriven.TestData, key string, def uint64) uint64 {
	s, ok := arg(d, key)
	if !ok {
		return def
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("%s: bad %s=%q", d.Pos, key, s)
	}
	return v
}

func argList(d *datadriven.TestData, key string) []string {
	s, ok := arg(d, key)
	if !ok || s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func fmtErr(err error) string {
	if se, ok := err.(*StatusError); ok {
		return fmt.Sprintf("error: %s: %s", se.Code, se.Msg)
	}
	return "error: " + err.Error()
}

// fmtHeader returns "" for an OK header, else the error line.
func fmtHeader(h *pdpb.ResponseHeader) string {
	if h.GetError() == nil {
		return ""
	}
	return fmt.Sprintf("header error %s: %s", h.GetError().GetType(), h.GetError().GetMessage())
}

func fmtPeer(p *metapb.Peer) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%d@%d", p.GetId(), p.GetStoreId())
}

func fmtRegion(r *metapb.Region, leader *metapb.Peer) string {
	var peers []string
	for _, p := range r.GetPeers() {
		peers = append(peers, fmtPeer(p))
	}
	return fmt.Sprintf("region %d [%s, %s) epoch=%d/%d peers=%s leader=%s", r.GetId(),
		fmtKey(r.GetStartKey()), fmtKey(r.GetEndKey()), r.GetRegionEpoch().GetConfVer(),
		r.GetRegionEpoch().GetVersion(), strings.Join(peers, ","), fmtPeer(leader))
}

func fmtTS(ts *pdpb.Timestamp) string {
	return fmt.Sprintf("%d.%d", ts.GetPhysical()-base.UnixMilli(), ts.GetLogical())
}

// heartbeat builds a RegionHeartbeatRequest from
// "id=R start=a end=z ver=V conf=C stores=1,2 leader=S [term=T]"; peer ids
// are R*100+store.
func heartbeat(t *testing.T, e *env, d *datadriven.TestData) *pdpb.RegionHeartbeatRequest {
	id := argU(t, d, "id", 0)
	start, _ := arg(d, "start")
	end, _ := arg(d, "end")
	r := &metapb.Region{Id: id, StartKey: parseKey(start), EndKey: parseKey(end),
		RegionEpoch: &metapb.RegionEpoch{Version: argU(t, d, "ver", 1), ConfVer: argU(t, d, "conf", 1)}}
	for _, s := range argList(d, "stores") {
		sid, _ := strconv.ParseUint(s, 10, 64)
		r.Peers = append(r.Peers, &metapb.Peer{Id: id*100 + sid, StoreId: sid})
	}
	req := &pdpb.RegionHeartbeatRequest{Header: e.hdr(), Region: r, Term: argU(t, d, "term", 0)}
	if _, ok := arg(d, "no-region"); ok {
		req.Region = nil
	}
	if l := argU(t, d, "leader", 0); l != 0 {
		req.Leader = &metapb.Peer{Id: id*100 + l, StoreId: l}
	}
	return req
}

func (e *env) handle(t *testing.T, d *datadriven.TestData) string {
	var out strings.Builder
	switch d.Cmd {
	case "new":
		// Example: new seed=1 members=3 max-peers=1 no-keyspace-split
		cfg := Config{Seed: argU(t, d, "seed", 1), Members: int(argU(t, d, "members", 3)),
			MaxPeerCount: uint32(argU(t, d, "max-peers", 3))}
		_, cfg.NoKeyspaceRegionSplit = arg(d, "no-keyspace-split")
		_, cfg.EnableRegionBucket = arg(d, "buckets")
		e.now = base
		e.p = New(e.now, cfg)
		return fmt.Sprintf("leader %s saved=%v", e.leaderName(), e.p.st.tsoSaved.Sub(base))
	case "advance":
		// Example: advance d=10ms   (moves the clock, no Tick)
		dur, _ := arg(d, "d")
		dd, err := time.ParseDuration(dur)
		if err != nil {
			t.Fatal(err)
		}
		e.now = e.now.Add(dd)
		return fmt.Sprintf("now=%v", e.now.Sub(base))
	case "tick":
		// Example: tick [d=50ms] [n=3]   (advance by d then Tick, n times)
		dur, ok := arg(d, "d")
		if !ok {
			dur = "0s"
		}
		dd, _ := time.ParseDuration(dur)
		for range argU(t, d, "n", 1) {
			e.now = e.now.Add(dd)
			e.p.Tick(e.now)
		}
		return fmt.Sprintf("now=%v physical=%v saved=%v", e.now.Sub(base), e.p.tso.physical.Sub(base), e.p.st.tsoSaved.Sub(base))
	case "tso":
		// Example: tso count=10 [cluster=7] [n=5]   (n requests, prints the last)
		req := &pdpb.TsoRequest{Header: e.hdr(), Count: uint32(argU(t, d, "count", 1))}
		if c, ok := arg(d, "cluster"); ok {
			v, _ := strconv.ParseUint(c, 10, 64)
			req.Header = &pdpb.RequestHeader{ClusterId: v}
		}
		var resp *pdpb.TsoResponse
		var err error
		for range argU(t, d, "n", 1) {
			if resp, err = e.p.Tso(e.now, req); err != nil {
				break
			}
		}
		if err != nil {
			s := fmtErr(err)
			if err.(*StatusError).RetryLater {
				s += " (retry later)"
			}
			return s
		}
		return fmt.Sprintf("ts=%s count=%d", fmtTS(resp.GetTimestamp()), resp.GetCount())
	case "min-ts":
		// Example: min-ts
		resp, err := e.p.GetMinTS(e.now, &pdpb.GetMinTSRequest{Header: e.hdr()})
		if err != nil {
			return fmtErr(err)
		}
		return "ts=" + fmtTS(resp.GetTimestamp())
	case "jump":
		// Example: jump d=1h
		dur, _ := arg(d, "d")
		dd, _ := time.ParseDuration(dur)
		e.p.JumpTSOPhysical(dd)
		return "ok"
	case "leader-change":
		// Example: leader-change [member=pd-3]
		var id uint64
		if name, ok := arg(d, "member"); ok {
			for _, m := range e.p.Members() {
				if m.GetName() == name {
					id = m.GetMemberId()
				}
			}
		}
		e.p.ChangeLeader(e.now, id)
		return fmt.Sprintf("leader %s physical=%v saved=%v", e.leaderName(), e.p.tso.physical.Sub(base), e.p.st.tsoSaved.Sub(base))
	case "crash":
		// Example: crash   (no leader until restart)
		e.p.Crash()
		return "leader " + e.leaderName()
	case "restart":
		// Example: restart
		e.p.Restart(e.now)
		return fmt.Sprintf("leader %s physical=%v saved=%v", e.leaderName(), e.p.tso.physical.Sub(base), e.p.st.tsoSaved.Sub(base))
	case "members":
		// Example: members
		resp, _ := e.p.GetMembers(e.now, nil)
		for _, m := range resp.GetMembers() {
			fmt.Fprintf(&out, "%s %s\n", m.GetName(), m.GetClientUrls()[0])
		}
		fmt.Fprintf(&out, "leader: %s", resp.GetLeader().GetName())
		return out.String()
	case "bootstrap":
		// Example: bootstrap [store=1] [region=2]
		sid, rid := argU(t, d, "store", 1), argU(t, d, "region", 2)
		resp, err := e.p.Bootstrap(e.now, &pdpb.BootstrapRequest{Header: e.hdr(),
			Store:  &metapb.Store{Id: sid, Address: fmt.Sprintf("s%d", sid), Version: "9.0.0"},
			Region: &metapb.Region{Id: rid, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}, Peers: []*metapb.Peer{{Id: rid*100 + sid, StoreId: sid}}}})
		if err != nil {
			return fmtErr(err)
		}
		if h := fmtHeader(resp.GetHeader()); h != "" {
			return h
		}
		return "ok"
	case "put-store":
		// Example: put-store id=2 [addr=s2] [version=9.0.0] [labels=zone=z1]
		id := argU(t, d, "id", 0)
		addr, ok := arg(d, "addr")
		if !ok {
			addr = fmt.Sprintf("s%d", id)
		}
		ver, ok := arg(d, "version")
		if !ok {
			ver = "9.0.0"
		}
		s := &metapb.Store{Id: id, Address: addr, Version: ver}
		for _, l := range argList(d, "labels") {
			kv := strings.SplitN(l, "=", 2)
			s.Labels = append(s.Labels, &metapb.StoreLabel{Key: kv[0], Value: kv[1]})
		}
		resp, err := e.p.PutStore(e.now, &pdpb.PutStoreRequest{Header: e.hdr(), Store: s})
		if err != nil {
			return fmtErr(err)
		}
		if h := fmtHeader(resp.GetHeader()); h != "" {
			return h
		}
		return "ok"
	case "stores":
		// Example: stores [exclude-tombstone]
		_, ex := arg(d, "exclude-tombstone")
		resp, err := e.p.GetAllStores(e.now, &pdpb.GetAllStoresRequest{Header: e.hdr(), ExcludeTombstoneStores: ex})
		if err != nil {
			return fmtErr(err)
		}
		if h := fmtHeader(resp.GetHeader()); h != "" {
			return h
		}
		for _, s := range resp.GetStores() {
			var labels []string
			for _, l := range s.GetLabels() {
				labels = append(labels, l.GetKey()+"="+l.GetValue())
			}
			fmt.Fprintf(&out, "store %d %s %s/%s v%s labels=[%s]\n", s.GetId(), s.GetAddress(), s.GetState(), s.GetNodeState(), s.GetVersion(), strings.Join(labels, " "))
		}
		return strings.TrimSuffix(out.String(), "\n")
	case "store-heartbeat":
		// Example: store-heartbeat id=1
		resp, err := e.p.StoreHeartbeat(e.now, &pdpb.StoreHeartbeatRequest{Header: e.hdr(), Stats: &pdpb.StoreStats{StoreId: argU(t, d, "id", 0)}})
		if err != nil {
			return fmtErr(err)
		}
		if h := fmtHeader(resp.GetHeader()); h != "" {
			return h
		}
		return fmt.Sprintf("cluster-version=%s state=%s", resp.GetClusterVersion(), resp.GetState())
	case "store-op":
		// Example: store-op remove|bury|bury-force|up id=2
		id := argU(t, d, "id", 0)
		var err error
		switch {
		case d.HasArg("remove"):
			err = e.p.RemoveStore(id)
		case d.HasArg("bury"):
			err = e.p.BuryStore(id, false)
		case d.HasArg("bury-force"):
			err = e.p.BuryStore(id, true)
		case d.HasArg("up"):
			err = e.p.UpStore(id)
		}
		if err != nil {
			return "error: " + err.Error()
		}
		return "ok"
	case "heartbeat":
		// Example: heartbeat id=2 start=a end=m ver=2 conf=1 stores=1,2,3 leader=1
		resp, err := e.p.RegionHeartbeat(e.now, heartbeat(t, e, d))
		if err != nil {
			return fmtErr(err)
		}
		if resp != nil {
			return fmtHeader(resp.GetHeader())
		}
		return "ok"
	case "regions":
		// Example: regions   (PD's region tree in key order)
		e.p.mu.Lock()
		e.p.st.regions.tree.Ascend(func(r *regionInfo) bool {
			fmt.Fprintln(&out, fmtRegion(r.meta, r.leader))
			return true
		})
		e.p.mu.Unlock()
		return strings.TrimSuffix(out.String(), "\n")
	case "get-region", "get-prev-region", "get-region-by-id":
		// Example: get-region key=b | get-prev-region key=b | get-region-by-id id=2
		key, _ := arg(d, "key")
		var resp *pdpb.GetRegionResponse
		var err error
		switch d.Cmd {
		case "get-region":
			resp, err = e.p.GetRegion(e.now, &pdpb.GetRegionRequest{Header: e.hdr(), RegionKey: parseKey(key), NeedBuckets: d.HasArg("buckets")})
		case "get-prev-region":
			resp, err = e.p.GetPrevRegion(e.now, &pdpb.GetRegionRequest{Header: e.hdr(), RegionKey: parseKey(key)})
		default:
			resp, err = e.p.GetRegionByID(e.now, &pdpb.GetRegionByIDRequest{Header: e.hdr(), RegionId: argU(t, d, "id", 0), NeedBuckets: d.HasArg("buckets")})
		}
		if err != nil {
			return fmtErr(err)
		}
		if h := fmtHeader(resp.GetHeader()); h != "" {
			return h
		}
		if resp.GetRegion() == nil {
			return "no region"
		}
		s := fmtRegion(resp.GetRegion(), resp.GetLeader())
		if resp.GetBuckets() != nil {
			s += fmt.Sprintf(" buckets=v%d", resp.GetBuckets().GetVersion())
		}
		return s
	case "batch-scan", "scan":
		// Example: batch-scan ranges=a-c,e-g [limit=N] [all]   ("-" alone: unbounded end)
		req := &pdpb.BatchScanRegionsRequest{Header: e.hdr(), Limit: int32(argU(t, d, "limit", 0)), ContainAllKeyRange: d.HasArg("all")}
		for _, r := range argList(d, "ranges") {
			se := strings.SplitN(r, "-", 2)
			req.Ranges = append(req.Ranges, &pdpb.KeyRange{StartKey: parseKey(se[0]), EndKey: parseKey(se[1])})
		}
		var regions []*pdpb.Region
		var h *pdpb.ResponseHeader
		if d.Cmd == "scan" {
			resp, err := e.p.ScanRegions(e.now, &pdpb.ScanRegionsRequest{Header: e.hdr(), StartKey: req.Ranges[0].StartKey, EndKey: req.Ranges[0].EndKey, Limit: req.Limit})
			if err != nil {
				return fmtErr(err)
			}
			regions, h = resp.GetRegions(), resp.GetHeader()
		} else {
			resp, err := e.p.BatchScanRegions(e.now, req)
			if err != nil {
				return fmtErr(err)
			}
			regions, h = resp.GetRegions(), resp.GetHeader()
		}
		if s := fmtHeader(h); s != "" {
			return s
		}
		for _, r := range regions {
			fmt.Fprintln(&out, fmtRegion(r.GetRegion(), r.GetLeader()))
		}
		if len(regions) == 0 {
			return "no regions"
		}
		return strings.TrimSuffix(out.String(), "\n")
	case "query":
		// Example: query keys=a,b prev-keys=c ids=1,2
		req := &pdpb.QueryRegionRequest{Header: e.hdr()}
		for _, k := range argList(d, "keys") {
			req.Keys = append(req.Keys, parseKey(k))
		}
		for _, k := range argList(d, "prev-keys") {
			req.PrevKeys = append(req.PrevKeys, parseKey(k))
		}
		for _, s := range argList(d, "ids") {
			v, _ := strconv.ParseUint(s, 10, 64)
			req.Ids = append(req.Ids, v)
		}
		resp, err := e.p.QueryRegion(e.now, req)
		if err != nil {
			return fmtErr(err)
		}
		if h := fmtHeader(resp.GetHeader()); h != "" {
			return h
		}
		fmt.Fprintf(&out, "key-id-map=%v prev-key-id-map=%v\n", resp.GetKeyIdMap(), resp.GetPrevKeyIdMap())
		for _, id := range sortedKeys(resp.GetRegionsById()) {
			r := resp.GetRegionsById()[id]
			if r == nil {
				fmt.Fprintf(&out, "%d: nil\n", id)
				continue
			}
			fmt.Fprintf(&out, "%d: %s\n", id, fmtRegion(r.GetRegion(), r.GetLeader()))
		}
		return strings.TrimSuffix(out.String(), "\n")
	case "ready":
		// Example: ready   (drains and prints the pending Ops)
		ops := e.p.Ready()
		for _, o := range ops {
			fmt.Fprintln(&out, o.String())
		}
		if len(ops) == 0 {
			return "no ops"
		}
		return strings.TrimSuffix(out.String(), "\n")
	case "scatter":
		// Example: scatter ids=2,3 [group=g] | scatter region-id=2
		req := &pdpb.ScatterRegionRequest{Header: e.hdr(), RegionId: argU(t, d, "region-id", 0)}
		req.Group, _ = arg(d, "group")
		for _, s := range argList(d, "ids") {
			v, _ := strconv.ParseUint(s, 10, 64)
			req.RegionsId = append(req.RegionsId, v)
		}
		resp, err := e.p.ScatterRegion(e.now, req)
		if err != nil {
			return fmtErr(err)
		}
		if h := fmtHeader(resp.GetHeader()); h != "" {
			return h
		}
		return fmt.Sprintf("finished=%d%% failed=%v", resp.GetFinishedPercentage(), resp.GetFailedRegionsId())
	case "operator":
		// Example: operator id=2
		resp, err := e.p.GetOperator(e.now, &pdpb.GetOperatorRequest{Header: e.hdr(), RegionId: argU(t, d, "id", 0)})
		if err != nil {
			return fmtErr(err)
		}
		if h := fmtHeader(resp.GetHeader()); h != "" {
			return h
		}
		return fmt.Sprintf("region %d %s kind=%s desc=%s", resp.GetRegionId(), resp.GetStatus(), resp.GetKind(), resp.GetDesc())
	case "split":
		// Example: split keys=c,f [retry=1]
		req := &pdpb.SplitRegionsRequest{Header: e.hdr(), RetryLimit: argU(t, d, "retry", 0)}
		for _, k := range argList(d, "keys") {
			req.SplitKeys = append(req.SplitKeys, parseKey(k))
		}
		job, resp, err := e.p.StartSplitRegions(e.now, req)
		if err != nil {
			return fmtErr(err)
		}
		if resp != nil {
			return fmtSplit(resp)
		}
		return fmt.Sprintf("job %d", job)
	case "poll":
		// Example: poll job=1
		resp, err := e.p.PollSplitRegions(e.now, argU(t, d, "job", 0))
		if err != nil {
			return fmtErr(err)
		}
		if resp == nil {
			return "waiting"
		}
		return fmtSplit(resp)
	case "advance-txn", "advance-gc":
		// Example: advance-txn target=10 [ks=1]
		scope := e.scope(t, d)
		if d.Cmd == "advance-txn" {
			resp, err := e.p.AdvanceTxnSafePoint(e.now, &pdpb.AdvanceTxnSafePointRequest{Header: e.hdr(), KeyspaceScope: scope, Target: argU(t, d, "target", 0)})
			if err != nil {
				return fmtErr(err)
			}
			if h := fmtHeader(resp.GetHeader()); h != "" {
				return h
			}
			s := fmt.Sprintf("old=%d new=%d", resp.GetOldTxnSafePoint(), resp.GetNewTxnSafePoint())
			if b := resp.GetBlockerDescription(); b != "" {
				s += " blocker: " + b
			}
			return s
		}
		resp, err := e.p.AdvanceGCSafePoint(e.now, &pdpb.AdvanceGCSafePointRequest{Header: e.hdr(), KeyspaceScope: scope, Target: argU(t, d, "target", 0)})
		if err != nil {
			return fmtErr(err)
		}
		if h := fmtHeader(resp.GetHeader()); h != "" {
			return h
		}
		return fmt.Sprintf("old=%d new=%d", resp.GetOldGcSafePoint(), resp.GetNewGcSafePoint())
	case "set-barrier", "set-global-barrier":
		// Example: set-barrier id=br ts=10 ttl=60 [ks=1]
		id, _ := arg(d, "id")
		ttl, _ := strconv.ParseInt(func() string { s, _ := arg(d, "ttl"); return s }(), 10, 64)
		var info *pdpb.GCBarrierInfo
		var h *pdpb.ResponseHeader
		if d.Cmd == "set-barrier" {
			resp, err := e.p.SetGCBarrier(e.now, &pdpb.SetGCBarrierRequest{Header: e.hdr(), KeyspaceScope: e.scope(t, d), BarrierId: id, BarrierTs: argU(t, d, "ts", 0), TtlSeconds: ttl})
			if err != nil {
				return fmtErr(err)
			}
			info, h = resp.GetNewBarrierInfo(), resp.GetHeader()
		} else {
			resp, err := e.p.SetGlobalGCBarrier(e.now, &pdpb.SetGlobalGCBarrierRequest{Header: e.hdr(), BarrierId: id, BarrierTs: argU(t, d, "ts", 0), TtlSeconds: ttl})
			if err != nil {
				return fmtErr(err)
			}
			g := resp.GetNewBarrierInfo()
			info, h = &pdpb.GCBarrierInfo{BarrierId: g.GetBarrierId(), BarrierTs: g.GetBarrierTs(), TtlSeconds: g.GetTtlSeconds()}, resp.GetHeader()
		}
		if s := fmtHeader(h); s != "" {
			return s
		}
		return fmtBarrier(info)
	case "delete-barrier", "delete-global-barrier":
		// Example: delete-barrier id=br [ks=1]
		id, _ := arg(d, "id")
		var info *pdpb.GCBarrierInfo
		var h *pdpb.ResponseHeader
		if d.Cmd == "delete-barrier" {
			resp, err := e.p.DeleteGCBarrier(e.now, &pdpb.DeleteGCBarrierRequest{Header: e.hdr(), KeyspaceScope: e.scope(t, d), BarrierId: id})
			if err != nil {
				return fmtErr(err)
			}
			info, h = resp.GetDeletedBarrierInfo(), resp.GetHeader()
		} else {
			resp, err := e.p.DeleteGlobalGCBarrier(e.now, &pdpb.DeleteGlobalGCBarrierRequest{Header: e.hdr(), BarrierId: id})
			if err != nil {
				return fmtErr(err)
			}
			if g := resp.GetDeletedBarrierInfo(); g != nil {
				info = &pdpb.GCBarrierInfo{BarrierId: g.GetBarrierId(), BarrierTs: g.GetBarrierTs(), TtlSeconds: g.GetTtlSeconds()}
			}
			h = resp.GetHeader()
		}
		if s := fmtHeader(h); s != "" {
			return s
		}
		if info == nil {
			return "deleted nothing"
		}
		return "deleted " + fmtBarrier(info)
	case "gc-state":
		// Example: gc-state [ks=1] [exclude]
		resp, err := e.p.GetGCState(e.now, &pdpb.GetGCStateRequest{Header: e.hdr(), KeyspaceScope: e.scope(t, d), ExcludeGcBarriers: d.HasArg("exclude")})
		if err != nil {
			return fmtErr(err)
		}
		if h := fmtHeader(resp.GetHeader()); h != "" {
			return h
		}
		return fmtGCState(resp.GetGcState())
	case "all-gc-states":
		// Example: all-gc-states [exclude] [exclude-global]
		resp, err := e.p.GetAllKeyspacesGCStates(e.now, &pdpb.GetAllKeyspacesGCStatesRequest{Header: e.hdr(),
			ExcludeGcBarriers: d.HasArg("exclude"), ExcludeGlobalGcBarriers: d.HasArg("exclude-global")})
		if err != nil {
			return fmtErr(err)
		}
		if h := fmtHeader(resp.GetHeader()); h != "" {
			return h
		}
		for _, s := range resp.GetGcStates() {
			fmt.Fprintln(&out, fmtGCState(s))
		}
		for _, b := range resp.GetGlobalGcBarriers() {
			fmt.Fprintln(&out, "global "+fmtBarrier(&pdpb.GCBarrierInfo{BarrierId: b.GetBarrierId(), BarrierTs: b.GetBarrierTs(), TtlSeconds: b.GetTtlSeconds()}))
		}
		return strings.TrimSuffix(out.String(), "\n")
	case "create-keyspace":
		// Example: create-keyspace name=ks1 [level]
		name, _ := arg(d, "name")
		var cfg map[string]string
		if d.HasArg("level") {
			cfg = map[string]string{"gc_management_type": "keyspace_level"}
		}
		m, err := e.p.CreateKeyspace(e.now, name, cfg)
		if err != nil {
			return "error: " + err.Error()
		}
		return fmt.Sprintf("keyspace %d %s", m.GetId(), m.GetName())
	case "get-external-ts":
		// Example: get-external-ts
		resp, err := e.p.GetExternalTimestamp(e.now, &pdpb.GetExternalTimestampRequest{Header: e.hdr()})
		if err != nil {
			return fmtErr(err)
		}
		if resp.GetTimestamp() == 1<<64-1 {
			return "ts=max"
		}
		return fmt.Sprintf("ts=%d", resp.GetTimestamp())
	case "set-external-ts":
		// Example: set-external-ts ts=100 | set-external-ts ahead   (above any TSO)
		ts := argU(t, d, "ts", 0)
		if d.HasArg("ahead") {
			ts = ComposeTS(e.now.Add(time.Hour).UnixMilli(), 0)
		}
		resp, err := e.p.SetExternalTimestamp(e.now, &pdpb.SetExternalTimestampRequest{Header: e.hdr(), Timestamp: ts})
		if err != nil {
			return fmtErr(err)
		}
		if h := fmtHeader(resp.GetHeader()); h != "" {
			return h
		}
		return "ok"
	case "load-keyspace-by-id":
		// Example: load-keyspace-by-id id=1
		resp, err := e.p.LoadKeyspaceByID(e.now, &keyspacepb.LoadKeyspaceByIDRequest{Header: e.hdr(), Keyspace: &keyspacepb.LoadKeyspaceByIDRequest_Id{Id: uint32(argU(t, d, "id", 0))}})
		if err != nil {
			return fmtErr(err)
		}
		if h := fmtHeader(resp.GetHeader()); h != "" {
			return h
		}
		return fmt.Sprintf("keyspace %d %s", resp.GetKeyspace().GetId(), resp.GetKeyspace().GetName())
	case "load-keyspace":
		// Example: load-keyspace name=DEFAULT
		name, _ := arg(d, "name")
		resp, err := e.p.LoadKeyspace(e.now, &keyspacepb.LoadKeyspaceRequest{Header: e.hdr(), Name: name})
		if err != nil {
			return fmtErr(err)
		}
		if h := fmtHeader(resp.GetHeader()); h != "" {
			return h
		}
		m := resp.GetKeyspace()
		return fmt.Sprintf("keyspace %d %s %s gc=%s", m.GetId(), m.GetName(), m.GetState(), m.GetConfig()["gc_management_type"])
	default:
		t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	}
	return ""
}

func (e *env) leaderName() string {
	id := e.p.LeaderID()
	for _, m := range e.p.Members() {
		if m.GetMemberId() == id {
			return m.GetName()
		}
	}
	return "<none>"
}

func (e *env) scope(t *testing.T, d *datadriven.TestData) *pdpb.KeyspaceScope {
	if _, ok := arg(d, "ks"); !ok {
		return nil
	}
	return &pdpb.KeyspaceScope{Keyspace: &pdpb.KeyspaceScope_KeyspaceId{KeyspaceId: uint32(argU(t, d, "ks", 0))}}
}

func fmtSplit(resp *pdpb.SplitRegionsResponse) string {
	if h := fmtHeader(resp.GetHeader()); h != "" {
		return h
	}
	return fmt.Sprintf("finished=%d%% new-regions=%v", resp.GetFinishedPercentage(), resp.GetRegionsId())
}

func fmtBarrier(b *pdpb.GCBarrierInfo) string {
	ttl := strconv.FormatInt(b.GetTtlSeconds(), 10)
	if b.GetTtlSeconds() == 1<<63-1 {
		ttl = "inf"
	}
	return fmt.Sprintf("barrier %s ts=%d ttl=%s", b.GetBarrierId(), b.GetBarrierTs(), ttl)
}

func fmtGCState(s *pdpb.GCState) string {
	ks := strconv.FormatUint(uint64(s.GetKeyspaceScope().GetKeyspaceId()), 10)
	if s.GetKeyspaceScope().GetKeyspaceId() == NullKeyspaceID {
		ks = "null"
	}
	out := fmt.Sprintf("keyspace=%s level=%v txn=%d gc=%d", ks, s.GetIsKeyspaceLevelGc(), s.GetTxnSafePoint(), s.GetGcSafePoint())
	for _, b := range s.GetGcBarriers() {
		out += " | " + fmtBarrier(b)
	}
	return out
}

func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		e := &env{}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return e.handle(t, d)
		})
	})
}
