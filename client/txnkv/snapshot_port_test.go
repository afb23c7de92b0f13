package txnkv_test

// Ports of client-go's snapshot and scan tests (batch B8): integration_tests
// snapshot_test.go, snapshot_fail_test.go, scan_test.go, scan_mock_test.go,
// ticlient_test.go, isolation_test.go and split_test.go, run against the
// fake cluster. docs/test-port.md maps each client-go test to its port.

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/txnkv/txnsnapshot"
)

func keyN(i int) string { return fmt.Sprintf("key%05d", i) }

// TestSnapshotBatchGet ports snapshot_test.go TestBatchGet: batch gets of
// growing sizes over keys spread across regions return exactly the
// existing keys.
func TestSnapshotBatchGet(t *testing.T) {
	runHooked(t, 11, []string{"key00010", "key00030"}, func(e *env, h *hookTransport) {
		kvs := map[string]string{}
		for i := 0; i < 60; i += 2 { // even keys exist
			kvs[keyN(i)] = "v" + keyN(i)
		}
		e.commit(t, kvs)
		snap := e.cli.GetSnapshot(e.ts(t))
		for _, n := range []int{0, 1, 2, 7, 31, 60} {
			var keys [][]byte
			for i := range n {
				keys = append(keys, k(keyN(i)))
			}
			m, err := snap.BatchGet(e.ctx, keys)
			if err != nil {
				t.Fatal(err)
			}
			if len(m) != (n+1)/2 {
				t.Fatalf("BatchGet of %d keys returned %d", n, len(m))
			}
			for key, v := range m {
				if kvs[key] != string(v) {
					t.Fatalf("BatchGet %s = %q", key, v)
				}
			}
		}
	})
}

// TestSnapshotBatchGetNotExist ports TestBatchGetNotExist: missing keys are
// simply absent from the result, present ones are returned.
func TestSnapshotBatchGetNotExist(t *testing.T) {
	run(t, 12, func(e *env) {
		e.commit(t, map[string]string{"a": "1"})
		m, err := e.cli.GetSnapshot(e.ts(t)).BatchGet(e.ctx, [][]byte{k("a"), k("b"), k("zz"), k("a")})
		if err != nil || len(m) != 1 || string(m["a"]) != "1" {
			t.Fatalf("BatchGet = %v, %v", m, err)
		}
	})
}

// TestSnapshotSkipLargeTxnLock ports TestSkipLargeTxnLock and
// TestPointGetSkipTxnLock: a reader meeting the live lock of a transaction
// that started before it pushes the lock's min_commit_ts and reads the old
// value at once instead of waiting; the writer then commits above the
// reader's ts.
func TestSnapshotSkipLargeTxnLock(t *testing.T) {
	run(t, 13, func(e *env) {
		e.commit(t, map[string]string{"a": "old", "x": "old"})
		start := e.ts(t)
		e.prewriteTxn(t, start, 60000, "a", "x") // alive for a minute
		readTS := e.ts(t)
		before := e.w.Elapsed()
		snap := e.cli.GetSnapshot(readTS)
		if v, err := snap.Get(e.ctx, k("x")); err != nil || string(v) != "old" {
			t.Fatalf("point get over a live lock = %q, %v", v, err)
		}
		m, err := e.cli.GetSnapshot(readTS).BatchGet(e.ctx, [][]byte{k("a"), k("x")})
		if err != nil || string(m["a"]) != "old" || string(m["x"]) != "old" {
			t.Fatalf("batch get over live locks = %v, %v", m, err)
		}
		if d := e.w.Elapsed() - before; d > 5*time.Second {
			t.Fatalf("reads waited %v for a lock they could skip", d)
		}
		// min_commit_ts was pushed past readTS: the lock says so.
		if l := e.lockOf(t, "a"); l == nil || l.MinCommitTs <= readTS {
			t.Fatalf("primary lock after the push: %v", l)
		}
	})
}

// TestSnapshotThreadSafe ports TestSnapshotThreadSafe: one snapshot read
// from many tasks at once.
func TestSnapshotThreadSafe(t *testing.T) {
	run(t, 14, func(e *env) {
		kvs := map[string]string{}
		for i := range 20 {
			kvs[keyN(i)] = keyN(i)
		}
		e.commit(t, kvs)
		snap := e.cli.GetSnapshot(e.ts(t))
		g := rt.NewGroup(e.r)
		for w := range 10 {
			g.Go("reader", func() error {
				for i := range 20 {
					key := keyN((i + w) % 20)
					v, err := snap.Get(e.ctx, k(key))
					if err != nil || string(v) != key {
						return fmt.Errorf("Get(%s) = %q, %v", key, v, err)
					}
				}
				return nil
			})
		}
		if err := g.Wait(e.ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSnapshotRCRead ports TestRCRead: a read-committed snapshot ignores
// locks and reads the latest committed value; RCCheckTS fails on a newer
// write instead of reading it.
func TestSnapshotRCRead(t *testing.T) {
	run(t, 15, func(e *env) {
		e.commit(t, map[string]string{"a": "1"})
		e.prewriteTxn(t, e.ts(t), 60000, "a")
		snap := e.cli.GetSnapshot(e.ts(t))
		snap.IsolationLevel = kvrpcpb.IsolationLevel_RC
		if v, err := snap.Get(e.ctx, k("a")); err != nil || string(v) != "1" {
			t.Fatalf("RC get over a lock = %q, %v", v, err)
		}
		m, err := snap.BatchGet(e.ctx, [][]byte{k("a")})
		if err != nil || string(m["a"]) != "1" {
			t.Fatalf("RC batch get = %v, %v", m, err)
		}
		// RCCheckTS: a version newer than the read ts is a write conflict,
		// not a value.
		e.commit(t, map[string]string{"b": "1"})
		old := e.cli.GetSnapshot(e.ts(t))
		e.commit(t, map[string]string{"b": "2"})
		old.IsolationLevel = kvrpcpb.IsolationLevel_RCCheckTS
		if _, err := old.Get(e.ctx, k("b")); !tikverr.IsErrWriteConflict(err) {
			t.Fatalf("RCCheckTS over a newer write: %v", err)
		}
	})
}

// TestSnapshotScanLocksResolved ports snapshot_fail_test.go
// TestBatchGetResponseKeyError and TestScanResponseKeyError: locks of a
// committed transaction met in a batch get or in a scan batch are resolved
// and the committed values returned.
func TestSnapshotScanLocksResolved(t *testing.T) {
	run(t, 16, func(e *env) {
		start := e.ts(t)
		e.prewriteTxn(t, start, 60000, "a", "b", "h", "q")
		e.commitRaw(t, start, e.ts(t), "a") // primary only: the rest stay locked
		snap := e.cli.GetSnapshot(e.ts(t))
		snap.ScanBatchSize = 2
		it, err := snap.Iter(e.ctx, k("a"), nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for it.Valid() {
			got = append(got, string(it.Key())+"="+string(it.Value()))
			if err := it.Next(); err != nil {
				t.Fatal(err)
			}
		}
		if want := []string{"a=v-a", "b=v-b", "h=v-h", "q=v-q"}; !slices.Equal(got, want) {
			t.Fatalf("scan over committed locks = %v, want %v", got, want)
		}
		m, err := e.cli.GetSnapshot(e.ts(t)).BatchGet(e.ctx, [][]byte{k("b"), k("q")})
		if err != nil || len(m) != 2 {
			t.Fatalf("BatchGet = %v, %v", m, err)
		}
	})
}

// drainer returns a function draining an iterator into its keys.
func drainer(t *testing.T) func(it *txnsnapshot.Scanner, err error) []string {
	return func(it *txnsnapshot.Scanner, err error) []string { return drain(t, it, err) }
}

func drain(t *testing.T, it *txnsnapshot.Scanner, err error) []string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out []string
	for it.Valid() {
		out = append(out, string(it.Key()))
		if err := it.Next(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestScanBatchSizes ports scan_test.go TestScan and scan_mock_test.go
// TestScanMultipleRegions / TestReverseScan: forward and reverse scans of
// many keys over several regions, with every batch size, with and without
// bounds, key-only, and after deleting every other key.
func TestScanBatchSizes(t *testing.T) {
	runHooked(t, 17, []string{"key00007", "key00020", "key00021"}, func(e *env, h *hookTransport) {
		const n = 30
		scanAll := drainer(t)
		kvs := map[string]string{}
		var all []string
		for i := range n {
			kvs[keyN(i)] = "v" + keyN(i)
			all = append(all, keyN(i))
		}
		e.commit(t, kvs)
		check := func(label string, snap *txnsnapshot.KVSnapshot, want []string) {
			t.Helper()
			got := scanAll(snap.Iter(e.ctx, k("key"), nil))
			if !slices.Equal(got, want) {
				t.Fatalf("%s: forward scan = %v, want %v", label, got, want)
			}
			rev := slices.Clone(want)
			slices.Reverse(rev)
			got = scanAll(snap.IterReverse(e.ctx, nil, k("key")))
			if !slices.Equal(got, rev) {
				t.Fatalf("%s: reverse scan = %v, want %v", label, got, rev)
			}
			// Bounded: [key00005, key00025).
			lo, hi := slices.Index(want, keyN(5)), slices.Index(want, keyN(25))
			if lo >= 0 && hi >= 0 {
				got = scanAll(snap.Iter(e.ctx, k(keyN(5)), k(keyN(25))))
				if !slices.Equal(got, want[lo:hi]) {
					t.Fatalf("%s: bounded scan = %v", label, got)
				}
				rb := slices.Clone(want[lo:hi])
				slices.Reverse(rb)
				got = scanAll(snap.IterReverse(e.ctx, k(keyN(25)), k(keyN(5))))
				if !slices.Equal(got, rb) {
					t.Fatalf("%s: bounded reverse scan = %v", label, got)
				}
			}
		}
		for _, bs := range []int{1, 2, 3, 10, 29, 30, 31, 256} {
			snap := e.cli.GetSnapshot(e.ts(t))
			snap.ScanBatchSize = bs
			check(fmt.Sprintf("batch %d", bs), snap, all)
			snap.KeyOnly = true
			it, err := snap.Iter(e.ctx, k("key"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !it.Valid() || len(it.Value()) != 0 {
				t.Fatalf("key-only scan returned a value %q", it.Value())
			}
		}
		// Delete every other key; scans see the rest.
		del := map[string]string{}
		var rest []string
		for i := range n {
			if i%2 == 0 {
				del[keyN(i)] = ""
			} else {
				rest = append(rest, keyN(i))
			}
		}
		e.commit(t, del)
		for _, bs := range []int{1, 4, 256} {
			snap := e.cli.GetSnapshot(e.ts(t))
			snap.ScanBatchSize = bs
			check(fmt.Sprintf("after deletes, batch %d", bs), snap, rest)
		}
		// An empty range and a range past the end.
		snap := e.cli.GetSnapshot(e.ts(t))
		if got := scanAll(snap.Iter(e.ctx, k("zzz"), nil)); len(got) != 0 {
			t.Fatalf("scan past the end = %v", got)
		}
		if got := scanAll(snap.IterReverse(e.ctx, k("key"), nil)); len(got) != 0 {
			t.Fatalf("reverse scan below the first key = %v", got)
		}
	})
}

// TestTiclientBasics ports ticlient_test.go TestSingleKey, TestMultiKeys
// and TestNotExist: write, read back, delete, over several regions.
func TestTiclientBasics(t *testing.T) {
	run(t, 18, func(e *env) {
		e.commit(t, map[string]string{"key": "value"})
		if e.get(t, "key") != "value" {
			t.Fatal("single key not read back")
		}
		e.commit(t, map[string]string{"key": ""})
		if e.get(t, "key") != "" {
			t.Fatal("deleted key still read")
		}
		kvs := map[string]string{}
		for i := range 100 {
			kvs[fmt.Sprintf("%c%03d", 'a'+i%26, i)] = fmt.Sprint(i)
		}
		e.commit(t, kvs)
		var keys [][]byte
		for key := range kvs {
			keys = append(keys, k(key))
		}
		m, err := e.cli.GetSnapshot(e.ts(t)).BatchGet(e.ctx, keys)
		if err != nil || len(m) != len(kvs) {
			t.Fatalf("BatchGet: %d keys, %v", len(m), err)
		}
		for key, v := range kvs {
			if string(m[key]) != v {
				t.Fatalf("%s = %q, want %q", key, m[key], v)
			}
		}
		if _, err := e.cli.GetSnapshot(e.ts(t)).Get(e.ctx, k("nope")); !errors.Is(err, tikverr.ErrNotExist) {
			t.Fatalf("missing key: %v", err)
		}
	})
}

// TestTiclientLargeRequest ports TestLargeRequest: a value over the
// buffer's entry limit is refused at Set with ErrEntryTooLarge and leaves
// the transaction usable.
func TestTiclientLargeRequest(t *testing.T) {
	run(t, 19, func(e *env) {
		txn, _ := e.cli.Begin(e.ctx)
		txn.SetEntrySizeLimit(1024, 0)
		err := txn.Set(k("key"), make([]byte, 2048))
		var tooLarge *tikverr.ErrEntryTooLarge
		if !errors.As(err, &tooLarge) {
			t.Fatalf("large value: %v, want ErrEntryTooLarge", err)
		}
		if err := txn.Set(k("key"), k("small")); err != nil {
			t.Fatal(err)
		}
		if err := txn.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		// The total limit.
		txn, _ = e.cli.Begin(e.ctx)
		txn.SetEntrySizeLimit(0, 100)
		var errTxn *tikverr.ErrTxnTooLarge
		for i := 0; err == nil || !errors.As(err, &errTxn); i++ {
			if i > 100 {
				t.Fatal("no ErrTxnTooLarge")
			}
			err = txn.Set(k(keyN(i)), k("0123456789"))
		}
	})
}

// TestSplitRegionIn2PC ports ticlient_test.go TestSplitRegionIn2PC: a
// region splits between prewrite and commit; the commit regroups and
// every key is committed.
func TestSplitRegionIn2PC(t *testing.T) {
	runHooked(t, 20, nil, func(e *env, h *hookTransport) {
		split := false
		h.setHook(func(_ string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			if req.Type == tikvrpc.CmdCommit && !split {
				split = true
				if err := e.c.Split(k("m")); err != nil {
					t.Error(err)
				}
			}
			return nil, nil
		})
		kvs := map[string]string{}
		for c := 'a'; c <= 'z'; c++ {
			kvs[string(c)] = string(c)
		}
		e.commit(t, kvs)
		_ = e.r.Sleep(e.ctx, time.Second) // secondaries commit in the background
		h.setHook(nil)
		for key := range kvs {
			if e.get(t, key) != key {
				t.Fatalf("%s not committed", key)
			}
			if l := e.lockOf(t, key); l != nil {
				t.Fatalf("lock left on %s: %v", key, l)
			}
		}
	})
}

// TestSplitDuringBatchGet ports split_test.go TestSplitBatchGet: the region
// splits after the batch get grouped its keys; the stale-epoch batch is
// regrouped and every key returned.
func TestSplitDuringBatchGet(t *testing.T) {
	runHooked(t, 21, nil, func(e *env, h *hookTransport) {
		e.commit(t, map[string]string{"a": "1", "b": "2", "c": "3"})
		split := false
		h.setHook(func(_ string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			if req.Type == tikvrpc.CmdBatchGet && !split {
				split = true
				_ = e.c.Split(k("b"))
			}
			return nil, nil
		})
		m, err := e.cli.GetSnapshot(e.ts(t)).BatchGet(e.ctx, [][]byte{k("a"), k("b"), k("c")})
		if err != nil || len(m) != 3 {
			t.Fatalf("BatchGet across a split = %v, %v", m, err)
		}
		if len(h.requests(tikvrpc.CmdBatchGet)) < 3 {
			t.Fatalf("expected a retry after the split, got %d batch gets", len(h.requests(tikvrpc.CmdBatchGet)))
		}
	})
}

// TestIsolationWriteWriteConflict ports isolation_test.go
// TestWriteWriteConflict: concurrent increments of one key; exactly the
// successful ones are reflected and every failure is a write conflict.
func TestIsolationWriteWriteConflict(t *testing.T) {
	run(t, 22, func(e *env) {
		e.commit(t, map[string]string{"x": "0"})
		ok := 0
		g := rt.NewGroup(e.r)
		for range 8 {
			g.Go("inc", func() error {
				for range 5 {
					txn, _ := e.cli.Begin(e.ctx)
					v, err := txn.Get(e.ctx, k("x"))
					if err != nil {
						return err
					}
					var n int
					fmt.Sscan(string(v), &n)
					_ = txn.Set(k("x"), k(fmt.Sprint(n+1)))
					err = txn.Commit(e.ctx)
					if err == nil {
						ok++
					} else if !tikverr.IsErrWriteConflict(err) {
						return err
					}
				}
				return nil
			})
		}
		if err := g.Wait(e.ctx); err != nil {
			t.Fatal(err)
		}
		if got := e.get(t, "x"); got != fmt.Sprint(ok) {
			t.Fatalf("x = %s after %d successful increments", got, ok)
		}
	})
}

// TestIsolationReadWriteConflict ports TestReadWriteConflict: a reader
// whose ts is after a writer's commit sees the write, one before does not.
func TestIsolationReadWriteConflict(t *testing.T) {
	run(t, 23, func(e *env) {
		before := e.ts(t)
		commitTS := e.commit(t, map[string]string{"x": "1"})
		after := e.ts(t)
		if _, err := e.cli.GetSnapshot(before).Get(e.ctx, k("x")); !errors.Is(err, tikverr.ErrNotExist) {
			t.Fatalf("reader before the commit: %v", err)
		}
		for _, ts := range []uint64{commitTS, after} {
			if v, err := e.cli.GetSnapshot(ts).Get(e.ctx, k("x")); err != nil || !bytes.Equal(v, k("1")) {
				t.Fatalf("reader at %d: %q, %v", ts, v, err)
			}
		}
	})
}
