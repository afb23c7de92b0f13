package pd

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func bootstrapped(t *testing.T, cfg Config) *PD {
	t.Helper()
	p := New(base, cfg)
	resp, err := p.Bootstrap(base, &pdpb.BootstrapRequest{Header: &pdpb.RequestHeader{ClusterId: p.ClusterID()},
		Store:  &metapb.Store{Id: 1, Address: "s1", Version: "9.0.0"},
		Region: &metapb.Region{Id: 2, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}, Peers: []*metapb.Peer{{Id: 3, StoreId: 1}}}})
	if err != nil || resp.GetHeader().GetError() != nil {
		t.Fatalf("bootstrap: %v %v", err, resp.GetHeader().GetError())
	}
	return p
}

// rpcs lists the RPC methods: func(time.Time, *Req) (*Resp, error).
func rpcs() []reflect.Method {
	var out []reflect.Method
	typ := reflect.TypeOf(&PD{})
	timeT := reflect.TypeOf(time.Time{})
	errT := reflect.TypeOf((*error)(nil)).Elem()
	for i := range typ.NumMethod() {
		m := typ.Method(i)
		ft := m.Type
		if ft.NumIn() == 3 && ft.In(1) == timeT && ft.In(2).Kind() == reflect.Pointer &&
			ft.NumOut() == 2 && ft.Out(1) == errT {
			out = append(out, m)
		}
	}
	return out
}

// TestMalformedRequestsNeverPanic sends every RPC a nil request, an empty
// request and a request with only a valid header, to a PD before bootstrap,
// after bootstrap and without a leader. Nothing panics, and a request
// without our cluster id is refused the way PD refuses it.
func TestMalformedRequestsNeverPanic(t *testing.T) {
	methods := rpcs()
	if len(methods) < 34 {
		t.Fatalf("found only %d RPC methods", len(methods))
	}
	states := map[string]func(*testing.T) *PD{
		"fresh":        func(*testing.T) *PD { return New(base, Config{}) },
		"bootstrapped": func(t *testing.T) *PD { return bootstrapped(t, Config{}) },
		"crashed": func(t *testing.T) *PD {
			p := bootstrapped(t, Config{})
			p.Crash()
			return p
		},
	}
	// RPCs that do not check the request's cluster id (as in PD).
	noClusterCheck := map[string]bool{"GetMembers": true, "GetClusterInfo": true,
		"UpdateGCSafePoint": true, "UpdateServiceGCSafePoint": true}
	for name, mk := range states {
		for _, m := range methods {
			t.Run(name+"/"+m.Name, func(t *testing.T) {
				p := mk(t)
				reqT := m.Type.In(2)
				call := func(req reflect.Value) (resp any, err error) {
					defer func() {
						if r := recover(); r != nil {
							t.Fatalf("%s panicked: %v", m.Name, r)
						}
					}()
					out := m.Func.Call([]reflect.Value{reflect.ValueOf(p), reflect.ValueOf(base), req})
					if e, _ := out[1].Interface().(error); e != nil {
						err = e
					}
					return out[0].Interface(), err
				}
				_, errNil := call(reflect.Zero(reqT))
				call(reflect.New(reqT.Elem()))
				withHeader := reflect.New(reqT.Elem())
				if f := withHeader.Elem().FieldByName("Header"); f.IsValid() && f.Type() == reflect.TypeOf(&pdpb.RequestHeader{}) {
					f.Set(reflect.ValueOf(&pdpb.RequestHeader{ClusterId: p.ClusterID()}))
				}
				call(withHeader)
				if name == "bootstrapped" && !noClusterCheck[m.Name] {
					s, ok := status.FromError(errNil)
					if !ok || s.Code() != codes.FailedPrecondition || !strings.Contains(s.Message(), "mismatch cluster id") {
						t.Fatalf("%s with a nil request: want a cluster id mismatch, got %v", m.Name, errNil)
					}
				}
				if name == "crashed" && !noClusterCheck[m.Name] && errNil == nil {
					t.Fatalf("%s answered without a leader", m.Name)
				}
			})
		}
	}
}

func TestMembersAndLeader(t *testing.T) {
	p := New(base, Config{Seed: 7, Members: 5})
	ms := p.Members()
	if len(ms) != 5 || p.LeaderID() != ms[0].GetMemberId() {
		t.Fatalf("members %v leader %d", ms, p.LeaderID())
	}
	ids := map[uint64]bool{}
	for _, m := range ms {
		if m.GetMemberId() == 0 || ids[m.GetMemberId()] {
			t.Fatalf("bad member id in %v", ms)
		}
		ids[m.GetMemberId()] = true
	}
	if !p.ChangeLeader(base, ms[3].GetMemberId()) || p.LeaderID() != ms[3].GetMemberId() {
		t.Fatal("change to member 4 failed")
	}
	if p.ChangeLeader(base, 12345) {
		t.Fatal("changed to a non-member")
	}
	resp, _ := p.GetMembers(base, nil)
	if resp.GetLeader().GetName() != "pd-4" || resp.GetEtcdLeader().GetName() != "pd-4" || resp.GetHeader().GetClusterId() != p.ClusterID() {
		t.Fatalf("GetMembers: %v", resp)
	}
	info, err := p.GetClusterInfo(base, nil)
	if err != nil || len(info.GetServiceModes()) != 1 || info.GetServiceModes()[0] != pdpb.ServiceMode_PD_SVC_MODE {
		t.Fatalf("GetClusterInfo: %v %v", info, err)
	}
	p.Crash()
	resp, _ = p.GetMembers(base, nil)
	if resp.GetLeader() != nil || len(resp.GetMembers()) != 5 {
		t.Fatalf("GetMembers without leader: %v", resp)
	}
	// Same seed, same identities.
	q := New(base, Config{Seed: 7, Members: 5})
	if q.ClusterID() != p.ClusterID() || q.Members()[2].GetMemberId() != ms[2].GetMemberId() {
		t.Fatal("identities are not a function of the seed")
	}
	if New(base, Config{ClusterID: 42}).ClusterID() != 42 {
		t.Fatal("ClusterID override ignored")
	}
}

func TestAllocID(t *testing.T) {
	p := New(base, Config{IDAllocStep: 10})
	hdr := &pdpb.RequestHeader{ClusterId: p.ClusterID()}
	tests := []struct {
		count     uint32
		wantID    uint64
		wantCount uint32
	}{
		{0, 1, 0}, {1, 2, 0}, {5, 7, 5}, {6, 13, 6},
	}
	for _, tc := range tests {
		resp, err := p.AllocID(base, &pdpb.AllocIDRequest{Header: hdr, Count: tc.count})
		if err != nil || resp.GetId() != tc.wantID || resp.GetCount() != tc.wantCount {
			t.Fatalf("AllocID(%d) = %v, %v; want id %d count %d", tc.count, resp, err, tc.wantID, tc.wantCount)
		}
	}
	// A new leader rebases to the persisted bound: ids never repeat.
	p.ChangeLeader(base, 0)
	resp, _ := p.AllocID(base, &pdpb.AllocIDRequest{Header: hdr})
	if resp.GetId() != 21 {
		t.Fatalf("after leader change id %d, want 21", resp.GetId())
	}
}

func TestBootstrapValidation(t *testing.T) {
	good := func() *pdpb.BootstrapRequest {
		return &pdpb.BootstrapRequest{
			Store:  &metapb.Store{Id: 1, Address: "s1"},
			Region: &metapb.Region{Id: 2, Peers: []*metapb.Peer{{Id: 3, StoreId: 1}}},
		}
	}
	tests := []struct {
		name string
		mod  func(*pdpb.BootstrapRequest)
		want string
	}{
		{"no store", func(r *pdpb.BootstrapRequest) { r.Store = nil }, "missing store meta"},
		{"zero store", func(r *pdpb.BootstrapRequest) { r.Store.Id = 0 }, "invalid zero store id"},
		{"no region", func(r *pdpb.BootstrapRequest) { r.Region = nil }, "missing region meta"},
		{"keys", func(r *pdpb.BootstrapRequest) { r.Region.EndKey = []byte("x") }, "invalid first region key range"},
		{"zero region", func(r *pdpb.BootstrapRequest) { r.Region.Id = 0 }, "invalid zero region id"},
		{"two peers", func(r *pdpb.BootstrapRequest) {
			r.Region.Peers = append(r.Region.Peers, &metapb.Peer{Id: 4, StoreId: 1})
		}, "invalid first region peer count 2"},
		{"peer store", func(r *pdpb.BootstrapRequest) { r.Region.Peers[0].StoreId = 9 }, "invalid peer store id 9 != 1"},
		{"zero peer", func(r *pdpb.BootstrapRequest) { r.Region.Peers[0].Id = 0 }, "invalid zero peer id"},
		{"ok", func(*pdpb.BootstrapRequest) {}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := New(base, Config{})
			req := good()
			req.Header = &pdpb.RequestHeader{ClusterId: p.ClusterID()}
			tc.mod(req)
			resp, err := p.Bootstrap(base, req)
			if err != nil {
				t.Fatal(err)
			}
			got := resp.GetHeader().GetError().GetMessage()
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			ib, _ := p.IsBootstrapped(base, &pdpb.IsBootstrappedRequest{Header: req.Header})
			if ib.GetBootstrapped() != (tc.want == "") {
				t.Fatalf("IsBootstrapped = %v", ib.GetBootstrapped())
			}
		})
	}
}

func TestStoreAndClusterConfig(t *testing.T) {
	p := bootstrapped(t, Config{MaxPeerCount: 5})
	hdr := &pdpb.RequestHeader{ClusterId: p.ClusterID()}
	cc, _ := p.GetClusterConfig(base, &pdpb.GetClusterConfigRequest{Header: hdr})
	if cc.GetCluster().GetId() != p.ClusterID() || cc.GetCluster().GetMaxPeerCount() != 5 {
		t.Fatalf("GetClusterConfig: %v", cc)
	}
	gs, _ := p.GetStore(base, &pdpb.GetStoreRequest{Header: hdr, StoreId: 1})
	if gs.GetStore().GetAddress() != "s1" || gs.GetStore().GetNodeState() != metapb.NodeState_Serving || gs.GetStats() != nil {
		t.Fatalf("GetStore: %v", gs)
	}
	now := base.Add(time.Second)
	if _, err := p.StoreHeartbeat(now, &pdpb.StoreHeartbeatRequest{Header: hdr, Stats: &pdpb.StoreStats{StoreId: 1, Capacity: 100}}); err != nil {
		t.Fatal(err)
	}
	gs, _ = p.GetStore(base, &pdpb.GetStoreRequest{Header: hdr, StoreId: 1})
	if gs.GetStats().GetCapacity() != 100 || gs.GetStore().GetLastHeartbeat() != now.UnixNano() {
		t.Fatalf("GetStore after heartbeat: %v", gs)
	}
	// Returned messages are copies.
	gs.GetStore().Address = "mutated"
	gs2, _ := p.GetStore(base, &pdpb.GetStoreRequest{Header: hdr, StoreId: 1})
	if gs2.GetStore().GetAddress() != "s1" {
		t.Fatal("GetStore leaked internal state")
	}
	gs, _ = p.GetStore(base, &pdpb.GetStoreRequest{Header: hdr, StoreId: 9})
	if gs.GetHeader().GetError().GetMessage() != "invalid store ID 9, not found" {
		t.Fatalf("GetStore(9): %v", gs)
	}
}

func TestBuckets(t *testing.T) {
	for _, enabled := range []bool{false, true} {
		p := bootstrapped(t, Config{EnableRegionBucket: enabled})
		hdr := &pdpb.RequestHeader{ClusterId: p.ClusterID()}
		hb := &pdpb.RegionHeartbeatRequest{Header: hdr,
			Region: &metapb.Region{Id: 2, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}, Peers: []*metapb.Peer{{Id: 3, StoreId: 1}}},
			Leader: &metapb.Peer{Id: 3, StoreId: 1}}
		if _, err := p.RegionHeartbeat(base, hb); err != nil {
			t.Fatal(err)
		}
		for _, v := range []uint64{2, 1} { // the older report is ignored
			if _, err := p.ReportBuckets(base, &pdpb.ReportBucketsRequest{Header: hdr,
				Buckets: &metapb.Buckets{RegionId: 2, Version: v, Keys: [][]byte{{}, []byte("m"), {}}}}); err != nil {
				t.Fatal(err)
			}
		}
		// A heartbeat with the same version keeps the buckets.
		if _, err := p.RegionHeartbeat(base, hb); err != nil {
			t.Fatal(err)
		}
		r, _ := p.GetRegion(base, &pdpb.GetRegionRequest{Header: hdr, RegionKey: []byte("a"), NeedBuckets: true})
		q, _ := p.QueryRegion(base, &pdpb.QueryRegionRequest{Header: hdr, NeedBuckets: true, Ids: []uint64{2}})
		b, _ := p.BatchScanRegions(base, &pdpb.BatchScanRegionsRequest{Header: hdr, NeedBuckets: true, Ranges: []*pdpb.KeyRange{{}}})
		got := []uint64{r.GetBuckets().GetVersion(), q.GetRegionsById()[2].GetBuckets().GetVersion(), b.GetRegions()[0].GetBuckets().GetVersion()}
		for _, v := range got {
			if (enabled && v != 2) || (!enabled && v != 0) {
				t.Fatalf("enabled=%v: bucket versions %v", enabled, got)
			}
		}
	}
}

func TestLegacyGCAndGetGCSafePoint(t *testing.T) {
	p := bootstrapped(t, Config{})
	hdr := &pdpb.RequestHeader{ClusterId: p.ClusterID()}
	for _, err := range []error{
		func() error {
			_, err := p.UpdateGCSafePoint(base, &pdpb.UpdateGCSafePointRequest{Header: hdr})
			return err
		}(),
		func() error {
			_, err := p.UpdateServiceGCSafePoint(base, &pdpb.UpdateServiceGCSafePointRequest{Header: hdr})
			return err
		}(),
	} {
		s, ok := status.FromError(err)
		if !ok || s.Code() != codes.Unimplemented || !strings.Contains(s.Message(), "LEGACY") {
			t.Fatalf("legacy RPC: %v", err)
		}
	}
	if _, err := p.AdvanceTxnSafePoint(base, &pdpb.AdvanceTxnSafePointRequest{Header: hdr, Target: 50}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.AdvanceGCSafePoint(base, &pdpb.AdvanceGCSafePointRequest{Header: hdr, Target: 40}); err != nil {
		t.Fatal(err)
	}
	resp, err := p.GetGCSafePoint(base, &pdpb.GetGCSafePointRequest{Header: hdr})
	if err != nil || resp.GetSafePoint() != 40 {
		t.Fatalf("GetGCSafePoint: %v %v", resp, err)
	}
}

func TestKeyspaceAdmin(t *testing.T) {
	p := New(base, Config{NoKeyspaceRegionSplit: true})
	if _, err := p.CreateKeyspace(base, "a", nil); err == nil {
		t.Fatal("created a keyspace before bootstrap")
	}
	p = bootstrapped(t, Config{NoKeyspaceRegionSplit: true})
	hdr := &pdpb.RequestHeader{ClusterId: p.ClusterID()}
	if _, err := p.CreateKeyspace(base, "a", map[string]string{"region_bound_type": "raw"}); err != nil {
		t.Fatal(err)
	}
	if err := p.SetKeyspaceState(base.Add(time.Second), "a", keyspacepb.KeyspaceState_DISABLED); err != nil {
		t.Fatal(err)
	}
	if err := p.SetKeyspaceState(base, "zz", keyspacepb.KeyspaceState_DISABLED); err == nil {
		t.Fatal("changed an unknown keyspace")
	}
	resp, _ := p.LoadKeyspace(base, &keyspacepb.LoadKeyspaceRequest{Header: hdr, Name: "a"})
	m := resp.GetKeyspace()
	if m.GetState() != keyspacepb.KeyspaceState_DISABLED || m.GetStateChangedAt() != base.Unix()+1 || m.GetConfig()["region_bound_type"] != "raw" {
		t.Fatalf("LoadKeyspace: %v", resp)
	}
	all, _ := p.GetAllKeyspacesGCStates(base, &pdpb.GetAllKeyspacesGCStatesRequest{Header: hdr})
	if len(all.GetGcStates()) != 2 { // DEFAULT and the null keyspace; "a" is disabled
		t.Fatalf("GetAllKeyspacesGCStates: %v", all)
	}
	l, r := KeyspaceBounds(1<<24-1, true)
	if l[0] != 'r' || r[0] != 's' || r[1] != 0 {
		t.Fatalf("KeyspaceBounds at the top: %x %x", l, r)
	}
}

func TestHelpers(t *testing.T) {
	ts := ComposeTS(12345, 678)
	if ph, lo := ParseTS(ts); ph != 12345 || lo != 678 {
		t.Fatalf("ParseTS(ComposeTS) = %d, %d", ph, lo)
	}
	if s := OpKind(9).String(); s != "OpKind(9)" {
		t.Fatal(s)
	}
	if !strings.Contains(ErrNotLeader.Error(), "not leader") {
		t.Fatal(ErrNotLeader.Error())
	}
	p := bootstrapped(t, Config{})
	if p.HasReady() {
		t.Fatal("ops before any request")
	}
	for _, v := range []string{"1.2.3", "v1.2.3-rc", "1.2.3+meta"} {
		if _, ok := parseVersion(v); !ok {
			t.Fatalf("parseVersion(%q) failed", v)
		}
	}
	for _, v := range []string{"", "1.2", "1.x.3", "1.2.-3"} {
		if _, ok := parseVersion(v); ok {
			t.Fatalf("parseVersion(%q) succeeded", v)
		}
	}
}

func TestAskAndReportBatchSplit(t *testing.T) {
	p := bootstrapped(t, Config{NoKeyspaceRegionSplit: true})
	hdr := &pdpb.RequestHeader{ClusterId: p.ClusterID()}
	region := func(id, ver uint64, start, end string, peers int) *metapb.Region {
		r := &metapb.Region{Id: id, StartKey: []byte(start), EndKey: []byte(end), RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: ver}}
		for i := range peers {
			r.Peers = append(r.Peers, &metapb.Peer{Id: uint64(10 + i), StoreId: 1})
		}
		return r
	}
	if _, err := p.RegionHeartbeat(base, &pdpb.RegionHeartbeatRequest{Header: hdr, Region: region(2, 3, "", "", 1), Leader: &metapb.Peer{Id: 10, StoreId: 1}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		region *metapb.Region
		count  uint32
		want   string
		ids    int
	}{
		{"nil region", nil, 1, "missing region for split", 0},
		{"stale", region(2, 2, "", "", 1), 1, "invalid region epoch", 0},
		{"ok", region(2, 3, "", "", 3), 2, "", 2},
	}
	seen := map[uint64]bool{}
	for _, tc := range tests {
		resp, err := p.AskBatchSplit(base, &pdpb.AskBatchSplitRequest{Header: hdr, Region: tc.region, SplitCount: tc.count})
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.GetHeader().GetError().GetMessage(); !strings.Contains(got, tc.want) || (tc.want == "") != (got == "") {
			t.Fatalf("%s: got %q want %q", tc.name, got, tc.want)
		}
		if len(resp.GetIds()) != tc.ids {
			t.Fatalf("%s: %d ids", tc.name, len(resp.GetIds()))
		}
		for _, id := range resp.GetIds() {
			if len(id.GetNewPeerIds()) != 3 {
				t.Fatalf("%s: peer ids %v", tc.name, id.GetNewPeerIds())
			}
			for _, x := range append([]uint64{id.GetNewRegionId()}, id.GetNewPeerIds()...) {
				if seen[x] {
					t.Fatalf("id %d handed out twice", x)
				}
				seen[x] = true
			}
		}
	}
	// An empty tree region lookup fails.
	q := New(base, Config{NoKeyspaceRegionSplit: true})
	qh := &pdpb.RequestHeader{ClusterId: q.ClusterID()}
	q.Bootstrap(base, &pdpb.BootstrapRequest{Header: qh, Store: &metapb.Store{Id: 1, Address: "a", Version: "1.0.0"}, Region: region(2, 1, "", "", 1)})
	if resp, _ := q.AskBatchSplit(base, &pdpb.AskBatchSplitRequest{Header: qh, Region: region(2, 1, "", "", 1)}); resp.GetHeader().GetError() != nil {
		t.Fatalf("split of the bootstrap region: %v", resp.GetHeader().GetError())
	}

	for _, tc := range []struct {
		regions []*metapb.Region
		ok      bool
	}{
		{[]*metapb.Region{region(2, 4, "", "m", 1), region(3, 4, "m", "", 1)}, true},
		{[]*metapb.Region{region(2, 4, "", "m", 1), region(3, 4, "n", "", 1)}, false},
		{[]*metapb.Region{region(2, 4, "", "m", 1)}, false},
		{[]*metapb.Region{region(2, 4, "x", "m", 1), region(3, 4, "m", "c", 1)}, false},
	} {
		resp, err := p.ReportBatchSplit(base, &pdpb.ReportBatchSplitRequest{Header: hdr, Regions: tc.regions})
		if err != nil || (resp.GetHeader().GetError() == nil) != tc.ok {
			t.Fatalf("ReportBatchSplit(%v) = %v, %v", tc.regions, resp, err)
		}
	}
}

func TestTSOCountBeyondLogicalRange(t *testing.T) {
	p := New(base, Config{})
	hdr := &pdpb.RequestHeader{ClusterId: p.ClusterID()}
	_, err := p.Tso(base, &pdpb.TsoRequest{Header: hdr, Count: 1 << 19})
	se, ok := err.(*StatusError)
	if !ok || se.RetryLater || !strings.Contains(se.Msg, "maximum number of retries exceeded") {
		t.Fatalf("got %v", err)
	}
	// PD burned 10ms of physical time on the retries; later timestamps are
	// still above everything issued.
	resp, err := p.Tso(base, &pdpb.TsoRequest{Header: hdr, Count: 1})
	if err != nil || resp.GetTimestamp().GetPhysical() != base.UnixMilli()+10 {
		t.Fatalf("after the failed batch: %v %v", resp, err)
	}
}

// TestConcurrentUse hammers one PD from several goroutines (run with -race).
func TestConcurrentUse(t *testing.T) {
	p := bootstrapped(t, Config{NoKeyspaceRegionSplit: true})
	hdr := &pdpb.RequestHeader{ClusterId: p.ClusterID()}
	done := make(chan uint64)
	for g := range 4 {
		go func() {
			var last uint64
			for i := range 200 {
				now := base.Add(time.Duration(i) * time.Millisecond)
				switch g {
				case 0:
					p.Tick(now)
				case 1:
					p.RegionHeartbeat(now, &pdpb.RegionHeartbeatRequest{Header: hdr,
						Region: &metapb.Region{Id: 2, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: uint64(i + 1)}, Peers: []*metapb.Peer{{Id: 3, StoreId: 1}}},
						Leader: &metapb.Peer{Id: 3, StoreId: 1}})
				case 2:
					p.GetRegion(now, &pdpb.GetRegionRequest{Header: hdr, RegionKey: []byte("k")})
					p.Ready()
				}
				if resp, err := p.Tso(now, &pdpb.TsoRequest{Header: hdr, Count: 3}); err == nil {
					ts := ComposeTS(resp.GetTimestamp().GetPhysical(), resp.GetTimestamp().GetLogical())
					if ts <= last {
						t.Errorf("goroutine %d: ts %d after %d", g, ts, last)
					}
					last = ts
				}
			}
			done <- last
		}()
	}
	for range 4 {
		<-done
	}
}

// TestNilElements feeds nil elements inside repeated fields.
func TestNilElements(t *testing.T) {
	p := bootstrapped(t, Config{MaxPeerCount: 1})
	hdr := &pdpb.RequestHeader{ClusterId: p.ClusterID()}
	mustNotPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("%s panicked: %v", name, r)
			}
		}()
		f()
	}
	mustNotPanic("heartbeat nil peer", func() {
		p.RegionHeartbeat(base, &pdpb.RegionHeartbeatRequest{Header: hdr, Leader: &metapb.Peer{Id: 3, StoreId: 1},
			Region:       &metapb.Region{Id: 2, Peers: []*metapb.Peer{nil, {Id: 3, StoreId: 1}}},
			DownPeers:    []*pdpb.PeerStats{nil, {}},
			PendingPeers: []*metapb.Peer{nil}})
		p.GetRegion(base, &pdpb.GetRegionRequest{Header: hdr})
		p.ScatterRegion(base, &pdpb.ScatterRegionRequest{Header: hdr, RegionsId: []uint64{2}})
		p.Ready()
	})
	mustNotPanic("batch scan nil range", func() {
		p.BatchScanRegions(base, &pdpb.BatchScanRegionsRequest{Header: hdr, Ranges: []*pdpb.KeyRange{nil, nil, {StartKey: []byte("a")}}})
	})
	mustNotPanic("query nil keys", func() {
		p.QueryRegion(base, &pdpb.QueryRegionRequest{Header: hdr, Keys: [][]byte{nil}, PrevKeys: [][]byte{nil}})
	})
	mustNotPanic("split nil key", func() {
		job, _, _ := p.StartSplitRegions(base, &pdpb.SplitRegionsRequest{Header: hdr, SplitKeys: [][]byte{nil, []byte("x")}})
		p.PollSplitRegions(base.Add(time.Hour), job)
	})
	mustNotPanic("put store nil label", func() {
		p.PutStore(base, &pdpb.PutStoreRequest{Header: hdr, Store: &metapb.Store{Id: 1, Address: "s1", Version: "9.0.0", Labels: []*metapb.StoreLabel{nil}}})
	})
	mustNotPanic("report buckets nil", func() {
		p.ReportBuckets(base, &pdpb.ReportBucketsRequest{Header: hdr})
	})
	mustNotPanic("ask split nil peers", func() {
		p.AskBatchSplit(base, &pdpb.AskBatchSplitRequest{Header: hdr, SplitCount: 3, Region: &metapb.Region{Peers: []*metapb.Peer{nil}}})
	})
	mustNotPanic("report split nil regions", func() {
		p.ReportBatchSplit(base, &pdpb.ReportBatchSplitRequest{Header: hdr, Regions: []*metapb.Region{nil, nil}})
	})
}
