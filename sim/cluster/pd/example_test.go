package pd_test

import (
	"fmt"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvsim/tikvsim/sim/cluster/pd"
)

// Example shows the loop a simulated PD node runs: RPCs in, Tick on the
// clock, Ops out through Ready, outcomes back through heartbeats.
func Example() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := pd.New(now, pd.Config{Seed: 1, MaxPeerCount: 1, NoKeyspaceRegionSplit: true})
	hdr := &pdpb.RequestHeader{ClusterId: p.ClusterID()}

	// A store bootstraps the cluster with the first region, then heartbeats.
	region := &metapb.Region{Id: 2, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1},
		Peers: []*metapb.Peer{{Id: 3, StoreId: 1}}}
	p.Bootstrap(now, &pdpb.BootstrapRequest{Header: hdr, Store: &metapb.Store{Id: 1, Address: "s1", Version: "9.0.0"}, Region: region})
	p.RegionHeartbeat(now, &pdpb.RegionHeartbeatRequest{Header: hdr, Region: region, Leader: region.Peers[0]})

	// A client asks for a split; PD queues an Op and waits.
	job, _, _ := p.StartSplitRegions(now, &pdpb.SplitRegionsRequest{Header: hdr, SplitKeys: [][]byte{[]byte("m")}})
	for _, op := range p.Ready() {
		fmt.Println(op)
	}

	// The cluster executes it; the stores report the two halves.
	now = now.Add(pd.SplitWatchInterval)
	p.Tick(now)
	left := &metapb.Region{Id: 2, EndKey: []byte("m"), RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 2}, Peers: region.Peers}
	right := &metapb.Region{Id: 4, StartKey: []byte("m"), RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 2}, Peers: []*metapb.Peer{{Id: 5, StoreId: 1}}}
	p.RegionHeartbeat(now, &pdpb.RegionHeartbeatRequest{Header: hdr, Region: left, Leader: left.Peers[0]})
	p.RegionHeartbeat(now, &pdpb.RegionHeartbeatRequest{Header: hdr, Region: right, Leader: right.Peers[0]})
	resp, _ := p.PollSplitRegions(now, job)
	fmt.Println("split finished:", resp.GetFinishedPercentage(), resp.GetRegionsId())

	// Timestamps stay monotonic across a PD leader change.
	ts1, _ := p.Tso(now, &pdpb.TsoRequest{Header: hdr, Count: 1})
	p.ChangeLeader(now, 0)
	ts2, _ := p.Tso(now, &pdpb.TsoRequest{Header: hdr, Count: 1})
	fmt.Println("monotonic:", pd.ComposeTS(ts2.Timestamp.Physical, ts2.Timestamp.Logical) >
		pd.ComposeTS(ts1.Timestamp.Physical, ts1.Timestamp.Logical))
	// Output:
	// split region=2 epoch=1/1 leader-store=1 keys=[6d] desc=region-splitter
	// split finished: 100 [4]
	// monotonic: true
}
