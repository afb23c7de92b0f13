package rawkv_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvsim/tikvsim/client/internal/apicodec"
	"github.com/tikvsim/tikvsim/client/rawkv"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/transport"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

// keyspacePD adds LoadKeyspace to the simulator's PD adapter. Workaround:
// cluster.PDClient does not carry LoadKeyspace over the simulated network
// (the fake PD node serves no keyspace RPC), so this calls the fake PD in
// process, as PD's Keyspace service would answer.
type keyspacePD struct {
	*cluster.PDClient
	c *cluster.Cluster
	w *sim.World
}

func (p keyspacePD) LoadKeyspace(_ context.Context, name string) (*keyspacepb.KeyspaceMeta, error) {
	resp, err := p.c.PD().LoadKeyspace(p.w.Now(), &keyspacepb.LoadKeyspaceRequest{
		Header: &pdpb.RequestHeader{ClusterId: p.c.PD().ClusterID()}, Name: name})
	if err != nil {
		return nil, err
	}
	if e := resp.GetHeader().GetError(); e != nil && e.Type != pdpb.ErrorType_OK {
		return nil, fmt.Errorf("pd: %v: %s", e.Type, e.Message)
	}
	return resp.GetKeyspace(), nil
}

// v2Keys are the user keys the API V2 tests split at. Workaround: the fake
// stores compare the wire key of a request ('r' + keyspace + user key) with
// region boundaries that are memcomparable-encoded (as PD and TiKV hold
// them in API V2), without encoding the key first as TiKV does
// (sim/cluster region.contains). The two orders agree only for user keys
// of at most 4 bytes that are not a boundary themselves, so the V2 tests
// use such keys.
var v2Keys = [][]byte{[]byte("g"), []byte("p")}

// v2BoundaryFix is a test-only transport working around the same fake
// cluster bug for requests that start exactly at a region boundary (every
// scan, delete-range and checksum that crosses regions, and a scan from the
// start of the keyspace): the wire start key 'r'+ks+B, which TiKV would
// encode and find at the region's start, is below the memcomparable
// boundary E('r'+ks+B) the fake store compares it with. It replaces such a
// start key by the boundary itself, which selects the same user keys as
// long as no key B, B+"\x00", ... exists (the tests never write one).
type v2BoundaryFix struct {
	tr    transport.Transport
	c     *cluster.Cluster
	codec *apicodec.Codec
}

func (f v2BoundaryFix) fix(start []byte) []byte {
	for _, r := range f.c.Regions() {
		user, err := f.codec.DecodeRegionKey(r.StartKey)
		if err != nil || len(r.StartKey) == 0 {
			continue
		}
		if bytes.Equal(f.codec.EncodeKey(user), start) {
			return bytes.Clone(r.StartKey)
		}
	}
	return start
}

func (f v2BoundaryFix) SendRequest(ctx context.Context, addr string, req *tikvrpc.Request, timeout time.Duration) (*tikvrpc.Response, error) {
	// The codec hands over copies of the typed requests, so editing them
	// does not touch the caller's.
	switch q := req.Req.(type) {
	case *kvrpcpb.RawScanRequest:
		if !q.Reverse {
			q.StartKey = f.fix(q.StartKey)
		}
	case *kvrpcpb.RawDeleteRangeRequest:
		q.StartKey = f.fix(q.StartKey)
	case *kvrpcpb.RawBatchScanRequest:
		for _, r := range q.Ranges {
			r.StartKey = f.fix(r.StartKey)
		}
	case *kvrpcpb.RawChecksumRequest:
		for _, r := range q.Ranges {
			r.StartKey = f.fix(r.StartKey)
		}
	}
	return f.tr.SendRequest(ctx, addr, req, timeout)
}

func (f v2BoundaryFix) Close() error { return f.tr.Close() }

// runV2 boots an API V2 cluster split at v2Keys inside the DEFAULT
// keyspace, waits until PD has split the keyspace's boundaries (PD's
// LoadKeyspace answers not found until then), builds a client with
// NewClientWithOpts and runs body.
func runV2(t *testing.T, seed uint64, body func(e *env)) {
	t.Helper()
	w := sim.New(seed, sim.Options{MaxTime: 2 * time.Hour})
	net := network.New(w, network.Config{})
	probe, _ := apicodec.NewCodecV2(apicodec.ModeRaw, &keyspacepb.KeyspaceMeta{Keyspace: &keyspacepb.KeyspaceMeta_Id{Id: 0}, Name: "DEFAULT"})
	var splits [][]byte
	for _, k := range v2Keys {
		splits = append(splits, probe.EncodeRegionKey(k))
	}
	c := cluster.New(w, net, cluster.Config{APIVersion: kvrpcpb.APIVersion_V2, SplitKeys: splits})
	r := clock.New(w)
	w.Spawn("main", func() {
		defer w.Stop()
		ctx := context.Background()
		pdc := keyspacePD{c.NewPDClient("app"), c, w}
		var cli *rawkv.Client
		var err error
		for range 120 {
			cli, err = rawkv.NewClientWithOpts(ctx, rawkv.WithRuntime(r), rawkv.WithTransport(v2BoundaryFix{c.NewTransport("app"), c, probe}),
				rawkv.WithPD(pdc), rawkv.WithTimeout(2*time.Second), rawkv.WithAPIVersion(kvrpcpb.APIVersion_V2))
			if err == nil {
				break
			}
			_ = w.Sleep(ctx, time.Second)
		}
		if err != nil {
			t.Errorf("NewClientWithOpts: %v", err)
			return
		}
		cli.SetAtomicForCAS(true)
		body(&env{w: w, net: net, c: c, cli: cli, ctx: ctx})
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
}

// TestAPIV2 runs the raw API against an API V2 cluster: keys travel with
// the keyspace prefix and region boundaries are decoded into the
// keyspace's user keys (client-go it/raw api_test with tikv-v2.toml).
func TestAPIV2(t *testing.T) {
	runV2(t, 21, func(e *env) {
		if e.cli.APIVersion() != kvrpcpb.APIVersion_V2 || e.cli.KeyspaceMeta().GetName() != "DEFAULT" {
			t.Fatalf("client speaks %v in %v", e.cli.APIVersion(), e.cli.KeyspaceMeta())
		}
		var keys, values [][]byte
		for c := 'a'; c <= 'z'; c++ {
			if c == 'g' || c == 'p' {
				continue // see v2Keys
			}
			keys = append(keys, k(string(c)))
			values = append(values, k("v"+string(c)))
		}
		if err := e.cli.Put(e.ctx, k("a"), k("1")); err != nil {
			t.Fatal(err)
		}
		if v, err := e.cli.Get(e.ctx, k("a")); err != nil || string(v) != "1" {
			t.Fatalf("Get = %q, %v", v, err)
		}
		if err := e.cli.BatchPut(e.ctx, keys, values); err != nil {
			t.Fatal(err)
		}
		got, err := e.cli.BatchGet(e.ctx, keys)
		if err != nil || string(got[0]) != "va" || string(got[len(got)-1]) != "vz" {
			t.Fatalf("BatchGet = %q, %v", got, err)
		}
		ks, vs, err := e.cli.Scan(e.ctx, nil, nil, 100)
		if err != nil || len(ks) != len(keys) || string(ks[0]) != "a" || string(vs[0]) != "va" {
			t.Fatalf("Scan of the whole keyspace = %q, %v", ks, err)
		}
		ks, _, err = e.cli.ReverseScan(e.ctx, nil, nil, 3)
		if err != nil || len(ks) != 3 || string(ks[0]) != "z" {
			t.Fatalf("ReverseScan from the keyspace end = %q, %v", ks, err)
		}
		res, err := e.cli.BatchScan(e.ctx, []rawkv.KeyRange{{k("b"), k("e")}, {k("f"), k("s")}, {k("y"), nil}}, 5)
		if err != nil || len(res[0]) != 3 || len(res[1]) != 5 || string(res[1][4].Key) != "k" || len(res[2]) != 2 {
			t.Fatalf("BatchScan = %v, %v", res, err)
		}
		sum, err := e.cli.Checksum(e.ctx, nil, nil)
		if err != nil || sum.TotalKvs != uint64(len(keys)) {
			t.Fatalf("Checksum = %+v, %v", sum, err)
		}
		if err := e.cli.PutWithTTL(e.ctx, k("t"), k("v"), 10); err != nil {
			t.Fatal(err)
		}
		if ttl, err := e.cli.GetKeyTTL(e.ctx, k("t")); err != nil || ttl == nil || *ttl == 0 || *ttl > 10 {
			t.Fatalf("GetKeyTTL = %v, %v", ttl, err)
		}
		if prev, ok, err := e.cli.CompareAndSwap(e.ctx, k("a"), k("va"), k("2")); err != nil || !ok || string(prev) != "va" {
			t.Fatalf("CAS = %q %v %v", prev, ok, err)
		}
		// API V2 allows the default column family only.
		var se *rawkv.ServerError
		if err := e.cli.Put(e.ctx, k("a"), k("x"), rawkv.SetColumnFamily("write")); !errors.As(err, &se) {
			t.Fatalf("V2 put to cf write: %v, want a ServerError", err)
		}
		if err := e.cli.DeleteRange(e.ctx, nil, nil); err != nil {
			t.Fatal(err)
		}
		if ks, _, err := e.cli.Scan(e.ctx, nil, nil, 100); err != nil || len(ks) != 0 {
			t.Fatalf("after DeleteRange of the keyspace: %q, %v", ks, err)
		}
		// Topology churn inside the keyspace.
		_, leader := e.c.Region(splitKey(e, "h"))
		_ = e.c.TransferLeader(splitKey(e, "h"), leader%3+1)
		_ = e.c.Split(splitKey(e, "m"))
		for i, key := range []string{"h", "i", "l", "n", "o"} {
			if err := e.cli.Put(e.ctx, k(key), k(fmt.Sprint(i))); err != nil {
				t.Fatalf("put %s after churn: %v", key, err)
			}
		}
		if ks, _, err := e.cli.Scan(e.ctx, k("h"), k("p"), 100); err != nil || len(ks) != 5 {
			t.Fatalf("scan after churn: %q, %v", ks, err)
		}
	})
}

func splitKey(e *env, user string) []byte {
	c, _ := apicodec.NewCodecV2(apicodec.ModeRaw, e.cli.KeyspaceMeta())
	return c.EncodeRegionKey([]byte(user))
}

// TestAPIV2Options covers the constructor's API-version checks.
func TestAPIV2Options(t *testing.T) {
	run(t, 22, func(e *env) {
		tr, pdc := e.c.NewTransport("x"), e.c.NewPDClient("x")
		if _, err := rawkv.NewClient(rawkv.WithTransport(tr), rawkv.WithPD(pdc), rawkv.WithAPIVersion(kvrpcpb.APIVersion_V2)); err == nil {
			t.Error("V2 without a keyspace accepted")
		}
		if _, err := rawkv.NewClientWithOpts(e.ctx, rawkv.WithTransport(tr), rawkv.WithPD(pdc), rawkv.WithAPIVersion(kvrpcpb.APIVersion_V2)); err == nil {
			t.Error("V2 keyspace load through a PD edge without LoadKeyspace succeeded")
		}
		if _, err := rawkv.NewClient(rawkv.WithTransport(tr), rawkv.WithPD(pdc), rawkv.WithAPIVersion(kvrpcpb.APIVersion(42))); err == nil {
			t.Error("unknown API version accepted")
		}
		ksPD := keyspacePD{pdc, e.c, e.w}
		if _, err := rawkv.NewClientWithOpts(e.ctx, rawkv.WithTransport(tr), rawkv.WithPD(ksPD),
			rawkv.WithAPIVersion(kvrpcpb.APIVersion_V2), rawkv.WithKeyspace("nope")); err == nil {
			t.Error("unknown keyspace loaded")
		}
		meta := &keyspacepb.KeyspaceMeta{Keyspace: &keyspacepb.KeyspaceMeta_Id{Id: 1 << 25}, Name: "big"}
		if _, err := rawkv.NewClient(rawkv.WithTransport(tr), rawkv.WithPD(pdc), rawkv.WithAPIVersion(kvrpcpb.APIVersion_V2), rawkv.WithKeyspaceMeta(meta)); err == nil {
			t.Error("keyspace id over 24 bits accepted")
		}
		v1, err := rawkv.NewClientWithOpts(e.ctx, rawkv.WithTransport(tr), rawkv.WithPD(pdc))
		if err != nil || v1.APIVersion() != kvrpcpb.APIVersion_V1 || v1.KeyspaceMeta() != nil {
			t.Errorf("V1 client: %v %v", v1, err)
		}
	})
}
