package pdclient_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvsim/tikvsim/client/pd"
	"github.com/tikvsim/tikvsim/client/pd/pdclient"
	"github.com/tikvsim/tikvsim/client/util/codec"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/serve"
)

// TestAgainstServedPD runs the adapter against the fake PD served over
// gRPC (sim/serve): timestamps, single and multi; region lookups by key,
// previous key, id and range; stores; the GC-states API; an unknown
// keyspace; and Close.
func TestAgainstServedPD(t *testing.T) {
	s, err := serve.Start(context.Background(), serve.Config{Cluster: cluster.Config{SplitKeys: [][]byte{[]byte("m")}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := pdclient.New(ctx, []string{s.PDAddr()}, pdclient.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.ClusterID() == 0 || !strings.Contains(c.LeaderURL(), s.PDAddr()) || c.Inner() == nil || c.KeyspaceMeta() != nil {
		t.Fatalf("cluster id %d, leader %q, keyspace %v", c.ClusterID(), c.LeaderURL(), c.KeyspaceMeta())
	}

	ts := func(count uint32) uint64 {
		t.Helper()
		p, l, err := c.GetTS(ctx, count)
		if err != nil {
			t.Fatalf("GetTS(%d): %v", count, err)
		}
		return uint64(p)<<18 | uint64(l)
	}
	t1 := ts(1)
	t10 := ts(10) // the last of ten consecutive timestamps
	t11 := ts(1)
	if !(t1 < t10 && t10 < t11) || t10-t1 < 10 {
		t.Fatalf("timestamps %d, %d (10 allocated), %d", t1, t10, t11)
	}

	enc := func(k string) []byte { return codec.EncodeBytes(nil, []byte(k)) }
	first, err := c.GetRegion(ctx, enc("a"), false)
	if err != nil || !bytes.Equal(first.GetRegion().GetEndKey(), enc("m")) || first.GetLeader() == nil {
		t.Fatalf("GetRegion(a) = %v, %v", first, err)
	}
	second, err := c.GetRegion(ctx, enc("x"), true)
	if err != nil || !bytes.Equal(second.GetRegion().GetStartKey(), enc("m")) {
		t.Fatalf("GetRegion(x) = %v, %v", second, err)
	}
	if prev, err := c.GetPrevRegion(ctx, enc("x"), false); err != nil || prev.GetRegion().GetId() != first.GetRegion().GetId() {
		t.Fatalf("GetPrevRegion(x) = %v, %v", prev, err)
	}
	if byID, err := c.GetRegionByID(ctx, second.GetRegion().GetId(), false); err != nil || byID.GetRegion().GetId() != second.GetRegion().GetId() {
		t.Fatalf("GetRegionByID = %v, %v", byID, err)
	}
	if none, err := c.GetRegionByID(ctx, 987654, false); err != nil || none != nil {
		t.Fatalf("GetRegionByID of an unknown id = %v, %v; want nil, nil", none, err)
	}
	rs, err := c.BatchScanRegions(ctx, []*pdpb.KeyRange{{StartKey: nil, EndKey: nil}}, 10, false)
	if err != nil || len(rs) != 2 {
		t.Fatalf("BatchScanRegions = %d regions, %v", len(rs), err)
	}

	st, err := c.GetStore(ctx, first.GetLeader().GetStoreId())
	if err != nil || st.GetId() != first.GetLeader().GetStoreId() || st.GetAddress() == "" {
		t.Fatalf("GetStore = %v, %v", st, err)
	}
	if _, err := c.GetStore(ctx, 99); !errors.Is(err, pd.ErrStoreNotFound) {
		t.Fatalf("GetStore(99): %v, want ErrStoreNotFound", err)
	}
	if all, err := c.GetAllStores(ctx); err != nil || len(all) != 3 {
		t.Fatalf("GetAllStores = %d, %v", len(all), err)
	}

	ks := pd.NullKeyspaceID
	adv, err := c.AdvanceTxnSafePoint(ctx, ks, t10)
	if err != nil || adv.NewTxnSafePoint != t10 || adv.Target != t10 {
		t.Fatalf("AdvanceTxnSafePoint = %+v, %v", adv, err)
	}
	b, err := c.SetGCBarrier(ctx, ks, "backup", t11, time.Minute)
	if err != nil || b.BarrierID != "backup" || b.BarrierTS != t11 || b.TTL != time.Minute {
		t.Fatalf("SetGCBarrier = %+v, %v", b, err)
	}
	gcAdv, err := c.AdvanceGCSafePoint(ctx, ks, t10)
	if err != nil || gcAdv.NewGCSafePoint != t10 {
		t.Fatalf("AdvanceGCSafePoint = %+v, %v", gcAdv, err)
	}
	state, err := c.GetGCState(ctx, ks)
	if err != nil || state.TxnSafePoint != t10 || state.GCSafePoint != t10 || len(state.GCBarriers) != 1 || state.GCBarriers[0].BarrierID != "backup" {
		t.Fatalf("GetGCState = %+v, %v", state, err)
	}
	if del, err := c.DeleteGCBarrier(ctx, ks, "backup"); err != nil || del == nil || del.BarrierID != "backup" {
		t.Fatalf("DeleteGCBarrier = %v, %v", del, err)
	}
	if del, err := c.DeleteGCBarrier(ctx, ks, "backup"); err != nil || del != nil {
		t.Fatalf("second DeleteGCBarrier = %v, %v; want nil, nil", del, err)
	}

	if _, err := c.LoadKeyspace(ctx, "nope"); !errors.Is(err, pdclient.ErrKeyspaceNotFound) {
		t.Fatalf("LoadKeyspace(nope): %v, want ErrKeyspaceNotFound", err)
	}

	c.Close()
	c.Close()
	if _, _, err := c.GetTS(ctx, 1); !errors.Is(err, pdclient.ErrClosed) {
		t.Fatalf("GetTS after Close: %v", err)
	}
	if _, err := c.GetRegion(ctx, enc("a"), false); !errors.Is(err, pdclient.ErrClosed) {
		t.Fatalf("GetRegion after Close: %v", err)
	}
}

// TestKeyspaceAndClosedCalls: a client built WithKeyspace on an API V2
// served cluster loads the keyspace's metadata (New fails for an unknown
// keyspace), and every call on a closed client fails with ErrClosed.
func TestKeyspaceAndClosedCalls(t *testing.T) {
	s, err := serve.Start(context.Background(), serve.Config{Cluster: cluster.Config{APIVersion: kvrpcpb.APIVersion_V2}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	meta, err := s.CreateKeyspace("tenant", false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := pdclient.New(ctx, []string{s.PDAddr()}, pdclient.WithKeyspace("nope"), pdclient.WithTimeout(2*time.Second)); !errors.Is(err, pdclient.ErrKeyspaceNotFound) {
		t.Fatalf("New for an unknown keyspace: %v, want ErrKeyspaceNotFound", err)
	}
	c, err := pdclient.New(ctx, []string{s.PDAddr()}, pdclient.WithKeyspace("tenant"), pdclient.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.KeyspaceMeta(); got.GetId() != meta.GetId() || got.GetName() != "tenant" {
		t.Fatalf("KeyspaceMeta = %v, want id %d", got, meta.GetId())
	}
	if got, err := c.LoadKeyspace(ctx, "tenant"); err != nil || got.GetId() != meta.GetId() {
		t.Fatalf("LoadKeyspace = %v, %v", got, err)
	}
	if _, _, err := c.GetTS(ctx, 3); err != nil {
		t.Fatalf("GetTS(3) in a keyspace: %v", err)
	}
	c.Close()
	ks := meta.GetId()
	calls := map[string]func() error{
		"GetTS(3)":            func() error { _, _, err := c.GetTS(ctx, 3); return err },
		"GetPrevRegion":       func() error { _, err := c.GetPrevRegion(ctx, []byte("a"), false); return err },
		"GetRegionByID":       func() error { _, err := c.GetRegionByID(ctx, 2, false); return err },
		"BatchScanRegions":    func() error { _, err := c.BatchScanRegions(ctx, []*pdpb.KeyRange{{}}, 1, false); return err },
		"GetStore":            func() error { _, err := c.GetStore(ctx, 1); return err },
		"GetAllStores":        func() error { _, err := c.GetAllStores(ctx); return err },
		"LoadKeyspace":        func() error { _, err := c.LoadKeyspace(ctx, "tenant"); return err },
		"AdvanceTxnSafePoint": func() error { _, err := c.AdvanceTxnSafePoint(ctx, ks, 1); return err },
		"AdvanceGCSafePoint":  func() error { _, err := c.AdvanceGCSafePoint(ctx, ks, 1); return err },
		"GetGCState":          func() error { _, err := c.GetGCState(ctx, ks); return err },
		"SetGCBarrier":        func() error { _, err := c.SetGCBarrier(ctx, ks, "b", 1, time.Second); return err },
		"DeleteGCBarrier":     func() error { _, err := c.DeleteGCBarrier(ctx, ks, "b"); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, pdclient.ErrClosed) {
			t.Errorf("%s after Close: %v", name, err)
		}
	}
}

// TestCallsWhilePDIsDown: with the served PD crashed every call fails with
// a *pdclient.Error naming the operation (not ErrClosed), and the client
// works again once PD is back. The extra options are accepted by New.
func TestCallsWhilePDIsDown(t *testing.T) {
	s, err := serve.Start(context.Background(), serve.Config{Stores: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pdclient.New(ctx, []string{s.PDAddr()}, pdclient.WithTimeout(300*time.Millisecond),
		pdclient.WithGRPCDialOptions(), pdclient.WithForwarding(false), pdclient.WithPDOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.GetTS(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Do("pd-crash"); err != nil {
		t.Fatal(err)
	}
	ks := pd.NullKeyspaceID
	calls := map[string]func(context.Context) error{
		"GetTS":     func(ctx context.Context) error { _, _, err := c.GetTS(ctx, 2); return err },
		"GetRegion": func(ctx context.Context) error { _, err := c.GetRegion(ctx, []byte("a"), false); return err },
		"BatchScanRegions": func(ctx context.Context) error {
			_, err := c.BatchScanRegions(ctx, []*pdpb.KeyRange{{}}, 1, false)
			return err
		},
		"GetAllStores":        func(ctx context.Context) error { _, err := c.GetAllStores(ctx); return err },
		"AdvanceTxnSafePoint": func(ctx context.Context) error { _, err := c.AdvanceTxnSafePoint(ctx, ks, 1); return err },
		"AdvanceGCSafePoint":  func(ctx context.Context) error { _, err := c.AdvanceGCSafePoint(ctx, ks, 1); return err },
		"GetGCState":          func(ctx context.Context) error { _, err := c.GetGCState(ctx, ks); return err },
		"SetGCBarrier":        func(ctx context.Context) error { _, err := c.SetGCBarrier(ctx, ks, "b", 1, time.Second); return err },
		"DeleteGCBarrier":     func(ctx context.Context) error { _, err := c.DeleteGCBarrier(ctx, ks, "b"); return err },
	}
	for name, call := range calls {
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		err := call(cctx)
		ccancel()
		var pe *pdclient.Error
		if !errors.As(err, &pe) || errors.Is(err, pdclient.ErrClosed) || !strings.Contains(err.Error(), strings.SplitN(name, "(", 2)[0]) {
			t.Errorf("%s with PD down: %v", name, err)
		}
	}
	if _, err := s.Do("pd-restart"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, _, err := c.GetTS(ctx, 1)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GetTS after PD restarted: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
