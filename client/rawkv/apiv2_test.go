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

	"github.com/tikvsim/tikvsim/client/internal/apicodec"
	"github.com/tikvsim/tikvsim/client/pd"
	"github.com/tikvsim/tikvsim/client/rawkv"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

// v2Keys are the user keys the API V2 tests split at; the cluster encodes
// their prefixed form into region boundaries, as TiKV and PD keep them.
var v2Keys = [][]byte{[]byte("g"), []byte("p")}

// noKeyspacePD hides the simulator PD adapter's LoadKeyspace capability.
type noKeyspacePD struct{ pd.Client }

// runV2 boots an API V2 cluster split at v2Keys inside the DEFAULT
// keyspace, builds a client with NewClientWithOpts, which loads the keyspace
// from PD over the simulated network (PD answers not found until it has
// split the keyspace's boundaries), and runs body.
func runV2(t *testing.T, seed uint64, body func(e *env)) {
	t.Helper()
	w := sim.New(seed, sim.Options{MaxTime: 2 * time.Hour})
	net := network.New(w, network.Config{})
	var splits [][]byte
	for _, k := range v2Keys {
		splits = append(splits, append(cluster.KeyspacePrefix(0, true), k...))
	}
	c := cluster.New(w, net, cluster.Config{APIVersion: kvrpcpb.APIVersion_V2, SplitKeys: splits})
	r := clock.New(w)
	w.Spawn("main", func() {
		defer w.Stop()
		ctx := context.Background()
		var cli *rawkv.Client
		var err error
		for range 120 {
			cli, err = rawkv.NewClientWithOpts(ctx, rawkv.WithRuntime(r), rawkv.WithTransport(c.NewTransport("app")),
				rawkv.WithPD(c.NewPDClient("app")), rawkv.WithTimeout(2*time.Second), rawkv.WithAPIVersion(kvrpcpb.APIVersion_V2))
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
		if err != nil || len(res[0]) != 3 || len(res[1]) != 5 || string(res[1][4].Key) != "j" || len(res[2]) != 2 {
			t.Fatalf("BatchScan = %v, %v", res, err)
		}
		// Keys at and around region boundaries, of any length: the stores
		// compare them encoded, as TiKV does.
		long := k("ppppppppppppppppp")
		if err := e.cli.Put(e.ctx, long, k("long")); err != nil {
			t.Fatal(err)
		}
		if ks, _, err := e.cli.Scan(e.ctx, k("p"), nil, 2); err != nil || len(ks) != 2 || string(ks[0]) != "p" || !bytes.Equal(ks[1], long) {
			t.Fatalf("Scan from a region's start = %q, %v", ks, err)
		}
		if ks, _, err := e.cli.ReverseScan(e.ctx, k("p"), nil, 1); err != nil || len(ks) != 1 || string(ks[0]) != "o" {
			t.Fatalf("ReverseScan from a region's start = %q, %v", ks, err)
		}
		if err := e.cli.Delete(e.ctx, long); err != nil {
			t.Fatal(err)
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

// splitKey is the cluster's (prefixed) form of a user key of the client's
// keyspace.
func splitKey(e *env, user string) []byte {
	c, _ := apicodec.NewCodecV2(apicodec.ModeRaw, e.cli.KeyspaceMeta())
	return c.EncodeKey([]byte(user))
}

// TestAPIV2Options covers the constructor's API-version checks.
func TestAPIV2Options(t *testing.T) {
	run(t, 22, func(e *env) {
		tr, pdc := e.c.NewTransport("x"), e.c.NewPDClient("x")
		if _, err := rawkv.NewClient(rawkv.WithTransport(tr), rawkv.WithPD(pdc), rawkv.WithAPIVersion(kvrpcpb.APIVersion_V2)); err == nil {
			t.Error("V2 without a keyspace accepted")
		}
		if _, err := rawkv.NewClientWithOpts(e.ctx, rawkv.WithTransport(tr), rawkv.WithPD(noKeyspacePD{pdc}), rawkv.WithAPIVersion(kvrpcpb.APIVersion_V2)); err == nil {
			t.Error("V2 keyspace load through a PD edge without LoadKeyspace succeeded")
		}
		if _, err := rawkv.NewClient(rawkv.WithTransport(tr), rawkv.WithPD(pdc), rawkv.WithAPIVersion(kvrpcpb.APIVersion(42))); err == nil {
			t.Error("unknown API version accepted")
		}
		if _, err := rawkv.NewClientWithOpts(e.ctx, rawkv.WithTransport(tr), rawkv.WithPD(pdc),
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
