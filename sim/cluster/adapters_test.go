package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvsim/tikvsim/client/pd"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/transport"
	"github.com/tikvsim/tikvsim/sim/network"
)

func TestTransportRoundTripAndClassification(t *testing.T) {
	run(t, 21, Config{}, func(e *env) {
		tr := e.c.NewTransport("app")
		ctx := context.Background()
		rctx, leader := e.ctxFor("a")
		put := func(v string) (*tikvrpc.Response, error) {
			req := tikvrpc.NewRequest(tikvrpc.CmdRawPut, &kvrpcpb.RawPutRequest{Key: []byte("a"), Value: []byte(v)}, *rctx)
			return tr.SendRequest(ctx, StoreNode(leader), req, 2*time.Second) // above the network's 1s connect timeout
		}
		resp, err := put("1")
		if err != nil {
			t.Fatal(err)
		}
		if re, _ := resp.GetRegionError(); re != nil {
			t.Fatalf("region error %v", re)
		}
		if got := e.get("a"); got != "1" {
			t.Fatalf("value %q after put through the transport", got)
		}
		// A lost response: the put ran but the caller cannot know.
		_ = (network.OneWay{From: StoreNode(leader), To: "app"}).Apply(e.net)
		if _, err := put("2"); err == nil || transport.IsNotSent(err) {
			t.Fatalf("lost response: %v, want undetermined", err)
		}
		if got := e.get("a"); got != "2" {
			t.Fatalf("value %q: the undetermined put should have run", got)
		}
		_ = (network.Heal{}).Apply(e.net)
		// A crashed store: not sent.
		_ = e.c.CrashStore(leader)
		if _, err := put("3"); !transport.IsNotSent(err) {
			t.Fatalf("crashed store: %v, want not sent", err)
		}
		_ = e.c.RestartStore(leader)
		// Cancelled context and closed transport: not sent.
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := tr.SendRequest(cctx, StoreNode(leader), tikvrpc.NewRequest(tikvrpc.CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte("a")}, *rctx), time.Second); !transport.IsNotSent(err) {
			t.Fatalf("cancelled: %v", err)
		}
		_ = tr.Close()
		if _, err := put("4"); !transport.IsNotSent(err) || !errors.Is(err, transport.ErrClosed) {
			t.Fatalf("closed: %v", err)
		}
		// A request the store does not serve comes back as an error.
		tr2 := e.c.NewTransport("app")
		if _, err := tr2.SendRequest(ctx, StoreNode(leader), tikvrpc.NewRequest(tikvrpc.CmdRawGet, "bogus"), time.Second); err == nil {
			t.Fatal("bogus request succeeded")
		}
	})
}

func TestPDClient(t *testing.T) {
	run(t, 22, Config{SplitKeys: [][]byte{[]byte("g"), []byte("p")}}, func(e *env) {
		p := e.c.NewPDClient("app")
		ctx := context.Background()
		var last int64
		for range 5 {
			ph, lo, err := p.GetTS(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			ts := ph<<18 | lo
			if ts <= last {
				t.Fatalf("timestamp %d not above %d", ts, last)
			}
			last = ts
			e.sleep(time.Millisecond)
		}
		r, err := p.GetRegion(ctx, []byte("h"), false)
		if err != nil || string(r.Region.StartKey) != "g" || string(r.Region.EndKey) != "p" || r.Leader == nil {
			t.Fatalf("GetRegion(h) = %v, %v", r, err)
		}
		prev, err := p.GetPrevRegion(ctx, []byte("h"), false)
		if err != nil || string(prev.Region.EndKey) != "g" {
			t.Fatalf("GetPrevRegion(h) = %v, %v", prev, err)
		}
		byID, err := p.GetRegionByID(ctx, r.Region.Id, false)
		if err != nil || byID.Region.Id != r.Region.Id {
			t.Fatalf("GetRegionByID = %v, %v", byID, err)
		}
		if none, err := p.GetRegionByID(ctx, 99999, false); err != nil || none != nil {
			t.Fatalf("unknown region = %v, %v", none, err)
		}
		rs, err := p.BatchScanRegions(ctx, []*pdpb.KeyRange{{StartKey: []byte("a"), EndKey: []byte("z")}}, 10, false)
		if err != nil || len(rs) != 3 {
			t.Fatalf("BatchScanRegions = %d regions, %v", len(rs), err)
		}
		st, err := p.GetStore(ctx, 2)
		if err != nil || st.Address != StoreNode(2) {
			t.Fatalf("GetStore(2) = %v, %v", st, err)
		}
		if _, err := p.GetStore(ctx, 42); !errors.Is(err, pd.ErrStoreNotFound) {
			t.Fatalf("GetStore(42) = %v", err)
		}
		all, err := p.GetAllStores(ctx)
		if err != nil || len(all) != 3 {
			t.Fatalf("GetAllStores = %v, %v", all, err)
		}
		e.c.CrashPD()
		if _, _, err := p.GetTS(ctx, 1); !network.IsNotSent(err) {
			t.Fatalf("GetTS with PD down: %v", err)
		}
		e.c.RestartPD()
		ph, lo, err := p.GetTS(ctx, 1)
		if err != nil || ph<<18|lo <= last {
			t.Fatalf("GetTS after PD restart = %d, %v (last %d)", ph<<18|lo, err, last)
		}
		p.Close()
	})
}
