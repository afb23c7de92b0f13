package rawkv_test

// Ports of client-go's raw KV tests (rawkv/rawkv_test.go,
// integration_tests/raw/api_mock_test.go and api_test.go), run against the
// fake cluster; docs/test-port.md maps each one. Where client-go swaps
// store addresses on mocktikv, these tests move leaders and crash stores.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc64"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/rawkv"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/transport"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

// counting is a test transport that records the raw requests it forwards.
type counting struct {
	transport.Transport
	mu   sync.Mutex
	reqs []any
}

func (c *counting) SendRequest(ctx context.Context, addr string, req *tikvrpc.Request, timeout time.Duration) (*tikvrpc.Response, error) {
	c.mu.Lock()
	c.reqs = append(c.reqs, req.Req)
	c.mu.Unlock()
	return c.Transport.SendRequest(ctx, addr, req, timeout)
}

func (c *counting) take() []any {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.reqs
	c.reqs = nil
	return out
}

// runCounting is run with a counting transport under the client.
func runCounting(t *testing.T, seed uint64, body func(e *env, ct *counting)) {
	t.Helper()
	w := sim.New(seed, sim.Options{MaxTime: 2 * time.Hour})
	net := network.New(w, network.Config{})
	c := cluster.New(w, net, cluster.Config{SplitKeys: [][]byte{[]byte("g"), []byte("p")}})
	ct := &counting{Transport: c.NewTransport("app")}
	cli, err := rawkv.NewClient(rawkv.WithRuntime(clock.New(w)), rawkv.WithTransport(ct),
		rawkv.WithPD(c.NewPDClient("app")), rawkv.WithTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	cli.SetAtomicForCAS(true)
	w.Spawn("main", func() {
		defer w.Stop()
		body(&env{w: w, net: net, c: c, cli: cli, ctx: context.Background()}, ct)
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
}

// moveLeaders moves the leader of every region to another store and crashes
// the old leader of key's region for a while: client-go's address swap plus
// RemoveStore/ChangeLeader.
func moveLeaders(e *env, key []byte) {
	for _, r := range e.c.Regions() {
		l := e.c.Leader(r.Id)
		_ = e.c.TransferLeader(r.StartKey, l%3+1)
	}
	_, leader := e.c.Region(key)
	_ = e.c.CrashStore(leader)
	e.w.AfterFunc(5*time.Second, func() { _ = e.c.RestartStore(leader) })
}

// client-go TestColumnFamilyForClient.
func TestColumnFamilyForClient(t *testing.T) {
	run(t, 31, func(e *env) {
		k1, v1, k2, v2 := k("test_key_cf1"), k("test_value_cf1"), k("test_key_cf2"), k("test_value_cf2")
		e.cli.SetColumnFamily("lock")
		must(t, e.cli.Put(e.ctx, k1, v1))
		e.cli.SetColumnFamily("write")
		must(t, e.cli.Put(e.ctx, k2, v2))
		moveLeaders(e, k1)
		e.cli.SetColumnFamily("lock")
		expect(t, e, k1, v1)
		expect(t, e, k2, nil)
		e.cli.SetColumnFamily("write")
		expect(t, e, k2, v2)
		expect(t, e, k1, nil)
		e.cli.SetColumnFamily("")
		expect(t, e, k1, nil)
		expect(t, e, k2, nil)
		e.cli.SetColumnFamily("lock")
		must(t, e.cli.Delete(e.ctx, k1))
		expect(t, e, k1, nil)
		e.cli.SetColumnFamily("write")
		must(t, e.cli.Delete(e.ctx, k2))
		expect(t, e, k2, nil)
	})
}

// client-go TestColumnFamilyForOptions.
func TestColumnFamilyForOptions(t *testing.T) {
	run(t, 32, func(e *env) {
		keys, values := keysN(6)
		lock, write := rawkv.SetColumnFamily("lock"), rawkv.SetColumnFamily("write")
		must(t, e.cli.BatchPut(e.ctx, keys[:3], values[:3], lock))
		must(t, e.cli.BatchPut(e.ctx, keys[3:], values[3:], write))
		moveLeaders(e, keys[0])
		for i := range keys {
			v, err := e.cli.Get(e.ctx, keys[i], lock)
			if err != nil || (i < 3) != bytes.Equal(v, values[i]) {
				t.Fatalf("Get(%s, lock) = %q, %v", keys[i], v, err)
			}
			v, err = e.cli.Get(e.ctx, keys[i], write)
			if err != nil || (i >= 3) != bytes.Equal(v, values[i]) {
				t.Fatalf("Get(%s, write) = %q, %v", keys[i], v, err)
			}
			// A per-call "" keeps the client's column family (default).
			if v, _ := e.cli.Get(e.ctx, keys[i], rawkv.SetColumnFamily("")); v != nil {
				t.Fatalf("default cf has %s", keys[i])
			}
		}
		must(t, e.cli.BatchDelete(e.ctx, keys, lock))
		must(t, e.cli.BatchDelete(e.ctx, keys, write))
		got, err := e.cli.BatchGet(e.ctx, keys, write)
		if err != nil || slices.ContainsFunc(got, func(v []byte) bool { return v != nil }) {
			t.Fatalf("after BatchDelete: %q, %v", got, err)
		}
	})
}

// client-go TestBatch (with a leader move) and it/raw RawBatch / BatchOp:
// BatchPut is cut by MaxBatchPutSize bytes per region, BatchGet and
// BatchDelete by MaxBatchPairCount keys.
func TestBatchSplitBySizeAndCount(t *testing.T) {
	runCounting(t, 33, func(e *env, ct *counting) {
		var keys, values [][]byte
		for i := range 1200 {
			keys = append(keys, k(fmt.Sprintf("a%05d", i))) // all in region [, g)
			values = append(values, bytes.Repeat([]byte{'v'}, 100))
		}
		must(t, e.cli.BatchPut(e.ctx, keys, values, rawkv.SetColumnFamily("write")))
		var puts int
		for _, r := range ct.take() {
			p := r.(*kvrpcpb.RawBatchPutRequest)
			size := 0
			for _, kv := range p.Pairs[:len(p.Pairs)-1] {
				size += len(kv.Key) + len(kv.Value)
			}
			if size >= rawkv.MaxBatchPutSize {
				t.Fatalf("a BatchPut request holds %d bytes before its last pair", size)
			}
			puts++
		}
		// 1200 pairs of 106 bytes: 155 pairs per 16 KiB request.
		if want := (1200 + 154) / 155; puts != want {
			t.Errorf("%d BatchPut requests, want %d", puts, want)
		}
		moveLeaders(e, keys[0])
		got, err := e.cli.BatchGet(e.ctx, keys, rawkv.SetColumnFamily("write"))
		if err != nil {
			t.Fatal(err)
		}
		for i := range keys {
			if !bytes.Equal(got[i], values[i]) {
				t.Fatalf("BatchGet[%d] = %q", i, got[i])
			}
		}
		gets := 0
		for _, r := range ct.take() {
			if g, ok := r.(*kvrpcpb.RawBatchGetRequest); ok {
				if len(g.Keys) > rawkv.MaxBatchPairCount {
					t.Fatalf("a BatchGet request holds %d keys", len(g.Keys))
				}
				gets++
			}
		}
		if gets < 3 {
			t.Errorf("%d BatchGet requests for 1200 keys", gets)
		}
		must(t, e.cli.BatchDelete(e.ctx, keys, rawkv.SetColumnFamily("write")))
		if v, _ := e.cli.Get(e.ctx, keys[0], rawkv.SetColumnFamily("write")); v != nil {
			t.Fatalf("after BatchDelete: %q", v)
		}
		// Repeated keys: the last value wins.
		must(t, e.cli.BatchPut(e.ctx, [][]byte{k("dup"), k("dup")}, [][]byte{k("1"), k("2")}))
		expect(t, e, k("dup"), k("2"))
		// Empty batches send nothing.
		ct.take()
		must(t, e.cli.BatchPut(e.ctx, nil, nil))
		if got, err := e.cli.BatchGet(e.ctx, nil); err != nil || len(got) != 0 || len(ct.take()) != 0 {
			t.Fatalf("empty batch: %v %v", got, err)
		}
	})
}

// client-go TestScan and it/raw Scan (mock and real): limits, key-only,
// region boundaries, ranges inside one region and across all of them.
func TestScanPorts(t *testing.T) {
	run(t, 34, func(e *env) {
		keys := [][]byte{k("a"), k("b"), k("c"), k("g"), k("h"), k("o"), k("p"), k("q"), k("z")}
		var values [][]byte
		for _, key := range keys {
			values = append(values, append(k("v"), key...))
		}
		must(t, e.cli.BatchPut(e.ctx, keys, values))
		check := func(start, end string, limit int, want ...string) {
			t.Helper()
			ks, vs, err := e.cli.Scan(e.ctx, k(start), k(end), limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(ks) != len(want) {
				t.Fatalf("Scan(%q, %q, %d) = %q, want %q", start, end, limit, ks, want)
			}
			for i := range want {
				if string(ks[i]) != want[i] || string(vs[i]) != "v"+want[i] {
					t.Fatalf("Scan(%q, %q, %d) = %q, want %q", start, end, limit, ks, want)
				}
			}
		}
		check("", "", 100, "a", "b", "c", "g", "h", "o", "p", "q", "z")
		check("", "", 4, "a", "b", "c", "g")
		check("c", "p", 100, "c", "g", "h", "o")
		check("g", "g\x00", 10, "g")
		check("d", "f", 10)
		check("p", "", 2, "p", "q")
		if ks, _, err := e.cli.Scan(e.ctx, nil, nil, 0); err != nil || ks != nil {
			t.Fatalf("limit 0: %q %v", ks, err)
		}
		ks, vs, err := e.cli.Scan(e.ctx, k("a"), nil, 100, rawkv.ScanKeyOnly())
		if err != nil || len(ks) != len(keys) || len(vs[0]) != 0 {
			t.Fatalf("key-only scan: %q %q %v", ks, vs, err)
		}
		// Reverse scans (it/raw ReverseScan).
		rcheck := func(start, end string, limit int, want ...string) {
			t.Helper()
			ks, _, err := e.cli.ReverseScan(e.ctx, k(start), k(end), limit)
			if err != nil || len(ks) != len(want) {
				t.Fatalf("ReverseScan(%q, %q, %d) = %q %v, want %q", start, end, limit, ks, err, want)
			}
			for i := range want {
				if string(ks[i]) != want[i] {
					t.Fatalf("ReverseScan(%q, %q, %d) = %q, want %q", start, end, limit, ks, want)
				}
			}
		}
		rcheck("", "", 100, "z", "q", "p", "o", "h", "g", "c", "b", "a")
		rcheck("p", "c", 100, "o", "h", "g", "c")
		rcheck("z", "", 3, "q", "p", "o")
		rcheck("g\x00", "g", 10, "g")
		rcheck("c", "c", 10)
		// BatchScan (client-rust batch_scan) over ranges in several regions.
		res, err := e.cli.BatchScan(e.ctx, []rawkv.KeyRange{{k("a"), k("c")}, {k("c"), k("q")}, {k("y"), nil}}, 3)
		if err != nil || len(res) != 3 || len(res[0]) != 2 || len(res[1]) != 3 || string(res[1][2].Key) != "h" || len(res[2]) != 1 {
			t.Fatalf("BatchScan = %v, %v", res, err)
		}
		res, err = e.cli.BatchScan(e.ctx, []rawkv.KeyRange{{k("b"), k("z")}}, 100, rawkv.ScanKeyOnly())
		if err != nil || len(res[0]) != 7 || len(res[0][0].Value) != 0 {
			t.Fatalf("BatchScan key-only = %v, %v", res, err)
		}
		if res, err := e.cli.BatchScan(e.ctx, []rawkv.KeyRange{{k("a"), k("a")}}, 0); err != nil || len(res) != 1 || res[0] != nil {
			t.Fatalf("BatchScan limit 0 = %v, %v", res, err)
		}
		_, err = e.cli.BatchScan(e.ctx, []rawkv.KeyRange{{k("b"), k("a")}}, 1)
		if !errors.Is(err, tikverr.ErrInvalidArgument) {
			t.Fatalf("BatchScan inverted range: %v", err)
		}
		_, err = e.cli.BatchScan(e.ctx, nil, rawkv.MaxRawKVScanLimit+1)
		if !errors.Is(err, rawkv.ErrMaxScanLimitExceeded) {
			t.Fatalf("BatchScan over the limit: %v", err)
		}
	})
}

// BatchScan keeps its ranges while regions split and merge under it.
func TestBatchScanUnderSplits(t *testing.T) {
	run(t, 35, func(e *env) {
		keys, values := keysN(78)
		must(t, e.cli.BatchPut(e.ctx, keys, values))
		ranges := []rawkv.KeyRange{{k("a"), k("d")}, {k("h"), k("m")}, {k("t"), nil}}
		before, err := e.cli.BatchScan(e.ctx, ranges, 100)
		if err != nil {
			t.Fatal(err)
		}
		_ = e.c.Split(k("b"))
		_ = e.c.Split(k("j"))
		_ = e.c.Merge(k("p"))
		after, err := e.cli.BatchScan(e.ctx, ranges, 100)
		if err != nil {
			t.Fatal(err)
		}
		for i := range ranges {
			if len(before[i]) != len(after[i]) || len(after[i]) == 0 {
				t.Fatalf("range %d: %d pairs before, %d after", i, len(before[i]), len(after[i]))
			}
		}
	})
}

// client-go TestDeleteRange, TestDeleteRangeEmptyKeysMultiRegion and it/raw
// DeleteRange.
func TestDeleteRangePorts(t *testing.T) {
	run(t, 36, func(e *env) {
		keys, values := keysN(52)
		cf := rawkv.SetColumnFamily("write")
		must(t, e.cli.BatchPut(e.ctx, keys, values, cf))
		must(t, e.cli.DeleteRange(e.ctx, k("b"), k("b"), cf)) // empty range: no-op
		must(t, e.cli.DeleteRange(e.ctx, k("c"), k("a"), cf)) // inverted: no-op
		ks, _, _ := e.cli.Scan(e.ctx, nil, nil, 100, cf)
		if len(ks) != 52 {
			t.Fatalf("no-op deletes removed keys: %d left", len(ks))
		}
		must(t, e.cli.DeleteRange(e.ctx, k("b"), k("h"), cf))
		ks, _, _ = e.cli.Scan(e.ctx, nil, nil, 100, cf)
		for _, key := range ks {
			if bytes.Compare(key, k("b")) >= 0 && bytes.Compare(key, k("h")) < 0 {
				t.Fatalf("%s survived DeleteRange(b, h)", key)
			}
		}
		must(t, e.cli.DeleteRange(e.ctx, nil, nil, cf))
		if ks, vs, err := e.cli.Scan(e.ctx, nil, nil, 100, cf); err != nil || len(ks) != 0 || len(vs) != 0 {
			t.Fatalf("after DeleteRange(nil, nil): %q, %v", ks, err)
		}
	})
}

// client-go TestCompareAndSwap and it/raw CAS.
func TestCompareAndSwapPorts(t *testing.T) {
	run(t, 37, func(e *env) {
		key, v1, v2, v3 := k("cas"), k("v1"), k("v2"), k("v3")
		must(t, e.cli.Put(e.ctx, key, v1))
		moveLeaders(e, key)
		prev, ok, err := e.cli.CompareAndSwap(e.ctx, key, v2, v3)
		if err != nil || ok || !bytes.Equal(prev, v1) {
			t.Fatalf("CAS(v2->v3) on v1 = %q %v %v", prev, ok, err)
		}
		expect(t, e, key, v1)
		prev, ok, err = e.cli.CompareAndSwap(e.ctx, key, v1, v3)
		if err != nil || !ok || !bytes.Equal(prev, v1) {
			t.Fatalf("CAS(v1->v3) = %q %v %v", prev, ok, err)
		}
		expect(t, e, key, v3)
		// nil previous value: the key must not exist.
		prev, ok, err = e.cli.CompareAndSwap(e.ctx, k("cas-new"), nil, v1)
		if err != nil || !ok || prev != nil {
			t.Fatalf("CAS(absent->v1) = %q %v %v", prev, ok, err)
		}
		// Empty values are values.
		must(t, e.cli.Put(e.ctx, k("cas-empty"), []byte{}))
		prev, ok, err = e.cli.CompareAndSwap(e.ctx, k("cas-empty"), nil, v1)
		if err != nil || ok || prev == nil || len(prev) != 0 {
			t.Fatalf("CAS(absent->v1) on an empty value = %q %v %v", prev, ok, err)
		}
		prev, ok, err = e.cli.CompareAndSwap(e.ctx, k("cas-empty"), []byte{}, v1)
		if err != nil || !ok || len(prev) != 0 {
			t.Fatalf("CAS(empty->v1) = %q %v %v", prev, ok, err)
		}
		// Column family per call.
		_, ok, err = e.cli.CompareAndSwap(e.ctx, key, nil, v1, rawkv.SetColumnFamily("write"))
		if err != nil || !ok {
			t.Fatalf("CAS in cf write = %v %v", ok, err)
		}
	})
}

// client-go TestRawChecksum and it/raw RawChecksum: TiKV's crc64-xor of
// key+value per pair.
func TestRawChecksumPorts(t *testing.T) {
	run(t, 38, func(e *env) {
		keys, values := keysN(40)
		must(t, e.cli.BatchPut(e.ctx, keys, values))
		var want rawkv.Checksum
		digest := crc64.New(crc64.MakeTable(crc64.ECMA))
		for i := range keys {
			digest.Reset()
			digest.Write(keys[i])
			digest.Write(values[i])
			want.Crc64Xor ^= digest.Sum64()
			want.TotalKvs++
			want.TotalBytes += uint64(len(keys[i]) + len(values[i]))
		}
		got, err := e.cli.Checksum(e.ctx, nil, nil)
		if err != nil || got != want {
			t.Fatalf("Checksum = %+v, %v; want %+v", got, err, want)
		}
		if got, err := e.cli.Checksum(e.ctx, k("b"), k("b")); err != nil || got != (rawkv.Checksum{}) {
			t.Fatalf("empty range checksum = %+v, %v", got, err)
		}
	})
}

// it/raw Simple (mock and real) and EmptyValue.
func TestSimpleAndEmptyValue(t *testing.T) {
	run(t, 39, func(e *env) {
		expect(t, e, k("key"), nil)
		must(t, e.cli.Put(e.ctx, k("key"), k("value")))
		expect(t, e, k("key"), k("value"))
		must(t, e.cli.Delete(e.ctx, k("key")))
		expect(t, e, k("key"), nil)
		must(t, e.cli.Delete(e.ctx, k("key"))) // deleting a missing key is fine
		// An empty value exists and reads as an empty, non-nil slice.
		must(t, e.cli.Put(e.ctx, k("key"), nil))
		v, err := e.cli.Get(e.ctx, k("key"))
		if err != nil || v == nil || len(v) != 0 {
			t.Fatalf("Get of an empty value = %#v, %v", v, err)
		}
		vs, err := e.cli.BatchGet(e.ctx, [][]byte{k("key"), k("key1")})
		if err != nil || vs[0] == nil || len(vs[0]) != 0 || vs[1] != nil {
			t.Fatalf("BatchGet = %#v, %v", vs, err)
		}
		ks, vals, err := e.cli.Scan(e.ctx, k("key"), k("keyz"), 10)
		if err != nil || len(ks) != 1 || vals[0] == nil || len(vals[0]) != 0 {
			t.Fatalf("Scan = %q %#v %v", ks, vals, err)
		}
		ks, vals, err = e.cli.ReverseScan(e.ctx, k("keyz"), k("key"), 10)
		if err != nil || len(ks) != 1 || vals[0] == nil {
			t.Fatalf("ReverseScan = %q %#v %v", ks, vals, err)
		}
		must(t, e.cli.BatchPut(e.ctx, [][]byte{k("key1")}, [][]byte{{}}))
		vs, _ = e.cli.BatchGet(e.ctx, [][]byte{k("key1")})
		if vs[0] == nil {
			t.Fatal("BatchPut of an empty value did not store it")
		}
	})
}

// it/raw Split (mock): keys stay readable while regions split under them.
func TestSplitPort(t *testing.T) {
	run(t, 40, func(e *env) {
		must(t, e.cli.Put(e.ctx, k("k1"), k("v1")))
		must(t, e.cli.Put(e.ctx, k("k3"), k("v3")))
		must(t, e.c.Split(k("k2")))
		expect(t, e, k("k1"), k("v1"))
		expect(t, e, k("k3"), k("v3"))
	})
}

// it/raw TTL (real cluster, V1TTL): PutWithTTL, BatchPutWithTTL, GetKeyTTL
// semantics (nil for missing or expired keys, 0 for keys without TTL).
func TestTTLPorts(t *testing.T) {
	runCfg(t, 41, cluster.Config{APIVersion: kvrpcpb.APIVersion_V1TTL}, func(e *env) {
		must(t, e.cli.PutWithTTL(e.ctx, k("t1"), k("v"), 100))
		must(t, e.cli.Put(e.ctx, k("t0"), k("v")))
		must(t, e.cli.BatchPutWithTTL(e.ctx, [][]byte{k("b1"), k("q2")}, [][]byte{k("1"), k("2")}, []uint64{5, 50}))
		ttl, err := e.cli.GetKeyTTL(e.ctx, k("t0"))
		if err != nil || ttl == nil || *ttl != 0 {
			t.Fatalf("GetKeyTTL without TTL = %v, %v", ttl, err)
		}
		if ttl, err := e.cli.GetKeyTTL(e.ctx, k("missing")); err != nil || ttl != nil {
			t.Fatalf("GetKeyTTL of a missing key = %v, %v", ttl, err)
		}
		_ = e.w.Sleep(e.ctx, 10*time.Second)
		if ttl, _ := e.cli.GetKeyTTL(e.ctx, k("b1")); ttl != nil {
			t.Fatalf("b1 still has TTL %d after expiry", *ttl)
		}
		if ttl, _ := e.cli.GetKeyTTL(e.ctx, k("q2")); ttl == nil || *ttl > 40 || *ttl == 0 {
			t.Fatalf("q2 TTL = %v", ttl)
		}
		if ttl, _ := e.cli.GetKeyTTL(e.ctx, k("t1")); ttl == nil || *ttl > 90 {
			t.Fatalf("t1 TTL = %v", ttl)
		}
		if v, _ := e.cli.Get(e.ctx, k("b1")); v != nil {
			t.Fatalf("expired key reads %q", v)
		}
	})
	// A TTL on a plain V1 cluster is refused by TiKV.
	run(t, 42, func(e *env) {
		var se *rawkv.ServerError
		if err := e.cli.PutWithTTL(e.ctx, k("t"), k("v"), 10); !errors.As(err, &se) || se.RegionID == 0 {
			t.Fatalf("TTL on V1: %v", err)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func expect(t *testing.T, e *env, key, want []byte) {
	t.Helper()
	v, err := e.cli.Get(e.ctx, key)
	if err != nil || !bytes.Equal(v, want) || (want == nil) != (v == nil) {
		t.Fatalf("Get(%q) = %q, %v; want %q", key, v, err, want)
	}
}

// ReverseScan from the end of the key space with a cold region cache: the
// cache cannot load "the region ending at +inf" by key, so the client loads
// the key space's regions first.
func TestReverseScanFromEndColdCache(t *testing.T) {
	run(t, 43, func(e *env) {
		other, err := rawkv.NewClient(rawkv.WithRuntime(clock.New(e.w)), rawkv.WithTransport(e.c.NewTransport("w")), rawkv.WithPD(e.c.NewPDClient("w")))
		must(t, err)
		must(t, other.BatchPut(e.ctx, [][]byte{k("a"), k("x"), k("y")}, [][]byte{k("1"), k("2"), k("3")}))
		ks, _, err := e.cli.ReverseScan(e.ctx, nil, nil, 2)
		if err != nil || len(ks) != 2 || string(ks[0]) != "y" {
			t.Fatalf("ReverseScan from the end, cold cache = %q, %v", ks, err)
		}
	})
}

// TestOptionsAndErrors covers the remaining constructor options, Run, and
// the error texts users see.
func TestOptionsAndErrors(t *testing.T) {
	runCfg(t, 44, cluster.Config{APIVersion: kvrpcpb.APIVersion_V1TTL}, func(e *env) {
		cli, err := rawkv.NewClient(rawkv.WithRuntime(clock.New(e.w)), rawkv.WithTransport(e.c.NewTransport("o")),
			rawkv.WithPD(e.c.NewPDClient("o")), rawkv.WithAPIVersion(kvrpcpb.APIVersion_V1TTL),
			rawkv.WithRegionCache(locate.Options{TTL: time.Minute}), rawkv.WithBackoffBudget(time.Second))
		must(t, err)
		if cli.APIVersion() != kvrpcpb.APIVersion_V1TTL {
			t.Fatalf("API version %v", cli.APIVersion())
		}
		ctx, cancel := context.WithCancel(e.ctx)
		done := make(chan error, 1)
		e.w.Spawn("run", func() { done <- cli.Run(ctx) })
		must(t, cli.PutWithTTL(e.ctx, k("a"), k("v"), 30))
		if ttl, err := cli.GetKeyTTL(e.ctx, k("a")); err != nil || ttl == nil || *ttl == 0 {
			t.Fatalf("V1TTL client TTL = %v, %v", ttl, err)
		}
		cancel()
		_ = e.w.Sleep(e.ctx, 2*time.Second)
		// A 1s budget runs out against a busy store.
		_, leader := e.c.Region(k("a"))
		_ = e.c.SetBusy(leader, true)
		_, err = cli.Get(e.ctx, k("a"))
		if err == nil || !strings.Contains(err.Error(), "rawkv RawGet: region") {
			t.Fatalf("Get against a busy store with a 1s budget: %v", err)
		}
		_ = e.c.SetBusy(leader, false)
		must(t, cli.Close())
		must(t, cli.Close()) // twice is fine
		if _, err := cli.Get(e.ctx, k("a")); !errors.Is(err, rawkv.ErrClosed) || !errors.Is(err, tikverr.ErrClosed) {
			t.Fatalf("closed: %v", err)
		}
		ae := &rawkv.ArgumentError{Op: "Put", Reason: "empty key"}
		se := &rawkv.ServerError{Op: "Put", RegionID: 7, Msg: "boom"}
		if ae.Error() != "rawkv Put: empty key" || se.Error() != "rawkv Put: region 7: tikv: boom" {
			t.Fatalf("error texts %q, %q", ae, se)
		}
	})
}
