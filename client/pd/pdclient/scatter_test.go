package pdclient_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvsim/tikvsim/client/pd"
	"github.com/tikvsim/tikvsim/client/pd/pdclient"
	tgrpc "github.com/tikvsim/tikvsim/client/transport/grpc"
	"github.com/tikvsim/tikvsim/client/txnkv"
	"github.com/tikvsim/tikvsim/client/util/codec"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/serve"
)

// TestScatterAgainstServedPD: the adapter is a pd.RegionScatterer over the
// served fake PD. ScatterRegions with a group makes PD create scatter
// operators (for the regions not already in place) that GetOperator
// reports; a batch with an unknown region lists
// it as failed; a single unknown region is an *Error; GetOperator of a
// region without operator is PD's REGION_NOT_FOUND answer, not an error.
// Then txnkv's SplitRegions with scatter, over the gRPC transport (the split
// is TiKV's SplitRegion RPC on the served store), scatters the new regions
// through the adapter and WaitScatterRegionFinish sees the scatters end.
func TestScatterAgainstServedPD(t *testing.T) {
	s, err := serve.Start(context.Background(), serve.Config{Stores: 5, Cluster: cluster.Config{SplitKeys: [][]byte{[]byte("m")}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pdclient.New(ctx, []string{s.PDAddr()}, pdclient.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var sc pd.RegionScatterer = c

	enc := func(k string) []byte { return codec.EncodeBytes(nil, []byte(k)) }
	first, err := c.GetRegion(ctx, enc("a"), false)
	if err != nil || first == nil {
		t.Fatalf("GetRegion(a) = %v, %v", first, err)
	}
	id := first.GetRegion().GetId()
	if op, err := sc.GetOperator(ctx, id); err != nil || op.GetHeader().GetError().GetType() != pdpb.ErrorType_REGION_NOT_FOUND {
		t.Fatalf("GetOperator before any scatter = %v, %v; want a REGION_NOT_FOUND answer", op, err)
	}
	// PD leaves a region already in place alone; of two regions scattered
	// in one group on five stores, at least one moves.
	second, err := c.GetRegion(ctx, enc("x"), false)
	if err != nil || second == nil {
		t.Fatalf("GetRegion(x) = %v, %v", second, err)
	}
	var scattered int
	for _, rid := range []uint64{id, second.GetRegion().GetId()} {
		resp, err := sc.ScatterRegions(ctx, []uint64{rid}, "table-1")
		if err != nil || resp.GetFinishedPercentage() != 100 || len(resp.GetFailedRegionsId()) != 0 {
			t.Fatalf("ScatterRegions(%d) = %v, %v", rid, resp, err)
		}
		op, err := sc.GetOperator(ctx, rid)
		if err != nil {
			t.Fatalf("GetOperator(%d): %v", rid, err)
		}
		if op.GetHeader().GetError() == nil {
			if op.GetRegionId() != rid || string(op.GetDesc()) != pd.ScatterOperatorDesc {
				t.Fatalf("GetOperator(%d) after scatter = %v", rid, op)
			}
			scattered++
		}
	}
	if scattered == 0 {
		t.Fatal("no scatter operator for two regions on five stores")
	}
	resp, err := sc.ScatterRegions(ctx, []uint64{id, 987654}, "")
	if err != nil || !slices.Equal(resp.GetFailedRegionsId(), []uint64{987654}) {
		t.Fatalf("ScatterRegions with an unknown region = %v, %v", resp, err)
	}
	var perr *pdclient.Error
	if _, err := sc.ScatterRegions(ctx, []uint64{987654}, "g"); !errors.As(err, &perr) || perr.Op == "" {
		t.Fatalf("ScatterRegions of one unknown region: %v, want an *Error", err)
	}

	tr, err := tgrpc.New(tgrpc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := txnkv.NewClient(txnkv.WithPD(c), txnkv.WithTransport(tr))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ids, err := cli.SplitRegions(ctx, [][]byte{[]byte("c"), []byte("f"), []byte("p")}, true, txnkv.WithScatterGroup("table-2"))
	if err != nil || len(ids) != 3 {
		t.Fatalf("SplitRegions with scatter = %v, %v", ids, err)
	}
	for _, rid := range ids {
		if err := cli.WaitScatterRegionFinish(ctx, rid, 20000); err != nil {
			t.Fatalf("WaitScatterRegionFinish(%d): %v", rid, err)
		}
		if op, err := sc.GetOperator(ctx, rid); err != nil || (string(op.GetDesc()) == pd.ScatterOperatorDesc && op.GetStatus() == pdpb.OperatorStatus_RUNNING) {
			t.Fatalf("GetOperator(%d) after the wait = %v, %v", rid, op, err)
		}
	}

	c.Close()
	if _, err := c.ScatterRegions(ctx, []uint64{id}, ""); !errors.Is(err, pdclient.ErrClosed) {
		t.Fatalf("ScatterRegions after Close: %v", err)
	}
	if _, err := c.GetOperator(ctx, id); !errors.Is(err, pdclient.ErrClosed) {
		t.Fatalf("GetOperator after Close: %v", err)
	}
}
