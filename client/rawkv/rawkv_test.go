package rawkv_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/rawkv"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

type env struct {
	w   *sim.World
	net *network.Network
	c   *cluster.Cluster
	cli *rawkv.Client
	ctx context.Context
}

// run boots a 3-store cluster split at "g" and "p", a client on it, and runs
// body as the main task.
func run(t *testing.T, seed uint64, body func(e *env)) {
	t.Helper()
	runCfg(t, seed, cluster.Config{}, body)
}

func runCfg(t *testing.T, seed uint64, cfg cluster.Config, body func(e *env)) {
	t.Helper()
	w := sim.New(seed, sim.Options{MaxTime: 2 * time.Hour})
	net := network.New(w, network.Config{})
	cfg.SplitKeys = [][]byte{[]byte("g"), []byte("p")}
	c := cluster.New(w, net, cfg)
	cli, err := rawkv.NewClient(rawkv.WithRuntime(clock.New(w)), rawkv.WithTransport(c.NewTransport("app")),
		rawkv.WithPD(c.NewPDClient("app")), rawkv.WithTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	cli.SetAtomicForCAS(true)
	e := &env{w: w, net: net, c: c, cli: cli, ctx: context.Background()}
	w.Spawn("main", func() {
		defer w.Stop()
		body(e)
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
}

func k(s string) []byte { return []byte(s) }

func TestPutGetDelete(t *testing.T) {
	run(t, 1, func(e *env) {
		for _, key := range []string{"a", "h", "z"} {
			if err := e.cli.Put(e.ctx, k(key), k("v"+key)); err != nil {
				t.Fatal(err)
			}
			v, err := e.cli.Get(e.ctx, k(key))
			if err != nil || string(v) != "v"+key {
				t.Fatalf("Get(%s) = %q, %v", key, v, err)
			}
			if err := e.cli.Delete(e.ctx, k(key)); err != nil {
				t.Fatal(err)
			}
			if v, err := e.cli.Get(e.ctx, k(key)); err != nil || v != nil {
				t.Fatalf("Get after Delete = %q, %v", v, err)
			}
		}
	})
}

func TestArgumentsRejectedBeforeRPC(t *testing.T) {
	run(t, 2, func(e *env) {
		var ae *rawkv.ArgumentError
		for name, err := range map[string]error{
			"empty key":     e.cli.Put(e.ctx, nil, k("v")),
			"big value":     e.cli.Put(e.ctx, k("a"), make([]byte, rawkv.MaxValueSize+1)),
			"batch len":     e.cli.BatchPut(e.ctx, [][]byte{k("a")}, nil),
			"batch ttl len": e.cli.BatchPutWithTTL(e.ctx, [][]byte{k("a")}, [][]byte{k("v")}, []uint64{1, 2}),
			"batch get key": func() error { _, err := e.cli.BatchGet(e.ctx, [][]byte{nil}); return err }(),
			"batch del key": e.cli.BatchDelete(e.ctx, [][]byte{k("a"), nil}),
			"get ttl key":   func() error { _, err := e.cli.GetKeyTTL(e.ctx, nil); return err }(),
			"delete key":    e.cli.Delete(e.ctx, nil),
			"cas key":       func() error { _, _, err := e.cli.CompareAndSwap(e.ctx, nil, nil, k("v")); return err }(),
			"batch scan ord": func() error {
				_, err := e.cli.BatchScan(e.ctx, []rawkv.KeyRange{{k("c"), k("d")}, {k("a"), k("b")}}, 1)
				return err
			}(),
		} {
			if !errors.As(err, &ae) || !errors.Is(err, tikverr.ErrInvalidArgument) {
				t.Errorf("%s: %v, want an ArgumentError", name, err)
			}
		}
		if _, _, err := e.cli.Scan(e.ctx, k("a"), nil, rawkv.MaxRawKVScanLimit+1); !errors.As(err, &ae) || !errors.Is(err, rawkv.ErrMaxScanLimitExceeded) {
			t.Errorf("scan limit: %v", err)
		}
		if _, err := e.cli.Get(e.ctx, nil); !errors.As(err, &ae) {
			t.Errorf("get empty: %v", err)
		}
		plain, _ := rawkv.NewClient(rawkv.WithRuntime(clock.New(e.w)), rawkv.WithTransport(e.c.NewTransport("app2")), rawkv.WithPD(e.c.NewPDClient("app2")))
		if _, _, err := plain.CompareAndSwap(e.ctx, k("a"), nil, k("v")); !errors.Is(err, rawkv.ErrNotAtomic) {
			t.Errorf("CAS on a non-atomic client: %v", err)
		}
		_ = plain.Close()
		if err := plain.Put(e.ctx, k("a"), k("v")); !errors.Is(err, rawkv.ErrClosed) {
			t.Errorf("closed: %v", err)
		}
		if _, err := rawkv.NewClient(); err == nil {
			t.Error("NewClient without edges succeeded")
		}
	})
}

func TestCompareAndSwap(t *testing.T) {
	run(t, 3, func(e *env) {
		prev, ok, err := e.cli.CompareAndSwap(e.ctx, k("c"), nil, k("1"))
		if err != nil || !ok || prev != nil {
			t.Fatalf("CAS(nil->1) = %q %v %v", prev, ok, err)
		}
		prev, ok, err = e.cli.CompareAndSwap(e.ctx, k("c"), nil, k("2"))
		if err != nil || ok || string(prev) != "1" {
			t.Fatalf("CAS(nil->2) = %q %v %v, want failure showing 1", prev, ok, err)
		}
		prev, ok, err = e.cli.CompareAndSwap(e.ctx, k("c"), k("1"), k("2"))
		if err != nil || !ok || string(prev) != "1" {
			t.Fatalf("CAS(1->2) = %q %v %v", prev, ok, err)
		}
		if v, _ := e.cli.Get(e.ctx, k("c")); string(v) != "2" {
			t.Fatalf("value %q", v)
		}
	})
}

func keysN(n int) (keys, values [][]byte) {
	for i := range n {
		keys = append(keys, k(fmt.Sprintf("%c%03d", 'a'+i%26, i)))
		values = append(values, k(fmt.Sprintf("v%d", i)))
	}
	return keys, values
}

func TestBatchesAcrossRegions(t *testing.T) {
	run(t, 4, func(e *env) {
		keys, values := keysN(60)
		if err := e.cli.BatchPut(e.ctx, keys, values); err != nil {
			t.Fatal(err)
		}
		got, err := e.cli.BatchGet(e.ctx, append(keys, k("nope")))
		if err != nil {
			t.Fatal(err)
		}
		for i := range keys {
			if string(got[i]) != string(values[i]) {
				t.Fatalf("BatchGet[%d] = %q, want %q", i, got[i], values[i])
			}
		}
		if got[len(keys)] != nil {
			t.Fatalf("missing key returned %q", got[len(keys)])
		}
		if err := e.cli.BatchDelete(e.ctx, keys[:30]); err != nil {
			t.Fatal(err)
		}
		got, _ = e.cli.BatchGet(e.ctx, keys)
		for i := range keys {
			if (i < 30) != (got[i] == nil) {
				t.Fatalf("after BatchDelete key %s = %q", keys[i], got[i])
			}
		}
	})
}

func TestScansAndDeleteRangeAcrossRegions(t *testing.T) {
	run(t, 5, func(e *env) {
		var keys, values [][]byte
		for c := 'a'; c <= 'z'; c++ {
			keys = append(keys, k(string(c)))
			values = append(values, k("v"+string(c)))
		}
		if err := e.cli.BatchPut(e.ctx, keys, values); err != nil {
			t.Fatal(err)
		}
		ks, vs, err := e.cli.Scan(e.ctx, k("e"), k("s"), 100)
		if err != nil || len(ks) != 14 || string(ks[0]) != "e" || string(ks[13]) != "r" || string(vs[2]) != "vg" {
			t.Fatalf("Scan(e,s) = %q, %v", ks, err)
		}
		ks, _, _ = e.cli.Scan(e.ctx, k("e"), nil, 5, rawkv.ScanKeyOnly())
		if len(ks) != 5 || string(ks[4]) != "i" {
			t.Fatalf("Scan limit 5 = %q", ks)
		}
		ks, _, err = e.cli.ReverseScan(e.ctx, k("s"), k("e"), 100)
		if err != nil || len(ks) != 14 || string(ks[0]) != "r" || string(ks[13]) != "e" {
			t.Fatalf("ReverseScan(s,e) = %q, %v", ks, err)
		}
		ks, _, _ = e.cli.ReverseScan(e.ctx, nil, k("a"), 3)
		if len(ks) != 3 || string(ks[0]) != "z" {
			t.Fatalf("ReverseScan from the end = %q", ks)
		}
		sum, err := e.cli.Checksum(e.ctx, k("a"), nil)
		if err != nil || sum.TotalKvs != 26 {
			t.Fatalf("Checksum = %+v, %v", sum, err)
		}
		if err := e.cli.DeleteRange(e.ctx, k("c"), k("x")); err != nil {
			t.Fatal(err)
		}
		ks, _, _ = e.cli.Scan(e.ctx, k("a"), nil, 100)
		if len(ks) != 5 {
			t.Fatalf("after DeleteRange(c,x): %q", ks)
		}
	})
}

func TestTTL(t *testing.T) {
	runCfg(t, 6, cluster.Config{APIVersion: kvrpcpb.APIVersion_V1TTL}, func(e *env) {
		if err := e.cli.PutWithTTL(e.ctx, k("t"), k("v"), 10); err != nil {
			t.Fatal(err)
		}
		ttl, err := e.cli.GetKeyTTL(e.ctx, k("t"))
		if err != nil || ttl == nil || *ttl == 0 || *ttl > 10 {
			t.Fatalf("GetKeyTTL = %v, %v", ttl, err)
		}
		_ = e.w.Sleep(e.ctx, 11*time.Second)
		if v, err := e.cli.Get(e.ctx, k("t")); err != nil || v != nil {
			t.Fatalf("after expiry: %q, %v", v, err)
		}
	})
}

// TestSurvivesTopologyChanges runs operations while regions split, merge,
// change leaders and stores crash: every region error is retried away.
func TestSurvivesTopologyChanges(t *testing.T) {
	run(t, 7, func(e *env) {
		for i := range 40 {
			key := k(fmt.Sprintf("k%02d", i))
			switch i % 8 {
			case 1:
				_ = e.c.Split(k(fmt.Sprintf("k%02d", i+1)))
			case 3:
				_, leader := e.c.Region(key)
				_ = e.c.TransferLeader(key, leader%3+1)
			case 5:
				_ = e.c.Merge(key)
			case 7:
				_, leader := e.c.Region(key)
				_ = e.c.CrashStore(leader)
				e.w.AfterFunc(5*time.Second, func() { _ = e.c.RestartStore(leader) })
			}
			if err := e.cli.Put(e.ctx, key, key); err != nil {
				t.Fatalf("put %s after topology change %d: %v", key, i%8, err)
			}
			if v, err := e.cli.Get(e.ctx, key); err != nil || string(v) != string(key) {
				t.Fatalf("get %s = %q, %v", key, v, err)
			}
		}
		ks, _, err := e.cli.Scan(e.ctx, k("k"), k("l"), 100)
		if err != nil || len(ks) != 40 {
			t.Fatalf("scan after churn: %d keys, %v", len(ks), err)
		}
	})
}

func TestLostResponseIsUndetermined(t *testing.T) {
	run(t, 8, func(e *env) {
		if err := e.cli.Put(e.ctx, k("u"), k("1")); err != nil {
			t.Fatal(err)
		}
		_, leader := e.c.Region(k("u"))
		_ = (network.OneWay{From: cluster.StoreNode(leader), To: "app"}).Apply(e.net)
		err := e.cli.Put(e.ctx, k("u"), k("2"))
		if !tikverr.IsErrUndetermined(err) || !rawkv.IsErrUndetermined(err) {
			t.Fatalf("put with its response lost: %v, want undetermined", err)
		}
		if msg := err.Error(); !strings.Contains(msg, "rawkv RawPut: region ") {
			t.Errorf("error without context: %s", msg)
		}
		_ = (network.Heal{}).Apply(e.net)
		if v, _ := e.cli.Get(e.ctx, k("u")); string(v) != "2" {
			t.Fatalf("the undetermined put did run, value %q", v)
		}
		// A read is retried instead: it succeeds once the network heals.
		_ = (network.OneWay{From: cluster.StoreNode(leader), To: "app"}).Apply(e.net)
		e.w.AfterFunc(3*time.Second, func() { _ = (network.Heal{}).Apply(e.net) })
		if v, err := e.cli.Get(e.ctx, k("u")); err != nil || string(v) != "2" {
			t.Fatalf("read across a healed partition: %q, %v", v, err)
		}
	})
}
