package txnkv_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/tikvrpc/interceptor"
	"github.com/tikvsim/tikvsim/client/transport"
	"github.com/tikvsim/tikvsim/client/txnkv"
	"github.com/tikvsim/tikvsim/client/txnkv/rangetask"
	"github.com/tikvsim/tikvsim/client/util"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

// scanAll returns every key and value from "" on at a fresh timestamp.
func (e *env) scanAll(t *testing.T) map[string]string {
	t.Helper()
	txn, err := e.cli.Begin(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	it, err := txn.Iter(e.ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	out := map[string]string{}
	for it.Valid() {
		out[string(it.Key())] = string(it.Value())
		if err := it.Next(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// deleteFromMap deletes [start, end) from m, as DeleteRange does from the
// store (client-go deleteRangeFromMap).
func deleteFromMap(m map[string]string, start, end string) {
	for key := range m {
		if key >= start && (end == "" || key < end) {
			delete(m, key)
		}
	}
}

func (e *env) checkData(t *testing.T, want map[string]string) {
	t.Helper()
	got := e.scanAll(t)
	if !maps.Equal(got, want) {
		t.Fatalf("data:\n got  %v\n want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
}

// deleteRangeData writes keys a0..d9 and returns them.
func (e *env) deleteRangeData(t *testing.T) map[string]string {
	t.Helper()
	data := map[string]string{}
	for _, i := range "abcd" {
		for j := '0'; j <= '9'; j++ {
			data[string([]rune{i, j})] = fmt.Sprintf("v%c%c", i, j)
		}
	}
	e.commit(t, data)
	e.checkData(t, data)
	return data
}

// TestDeleteRange ports it/delete_range TestDeleteRange: regions split at
// b, c, d; each DeleteRange removes its range and reports the regions it
// touched.
func TestDeleteRange(t *testing.T) {
	runCluster(t, 41, cluster.Config{SplitKeys: splitKeys("b", "c", "d")}, func(e *env, h *hookTransport) {
		data := e.deleteRangeData(t)
		for _, tc := range []struct {
			start, end string
			regions    int
		}{
			{"b", "c0", 2},
			{"d0", "d0", 0},
			{"d0\x00", "d1\x00", 1},
			{"c5", "d5", 2},
			{"a", "z", 4},
			{"", "", 4},
		} {
			n, err := e.cli.DeleteRange(e.ctx, k(tc.start), k(tc.end), 1)
			if err != nil {
				t.Fatalf("DeleteRange(%q, %q): %v", tc.start, tc.end, err)
			}
			deleteFromMap(data, tc.start, tc.end)
			e.checkData(t, data)
			if n != tc.regions {
				t.Fatalf("DeleteRange(%q, %q) completed %d regions, want %d", tc.start, tc.end, n, tc.regions)
			}
		}
	})
}

// TestDeleteRangeConcurrency: deletes with concurrency 1 to 4 over 27
// regions (one task: a task covers 128 regions); every DeleteRange RPC stays
// inside its region.
func TestDeleteRangeConcurrency(t *testing.T) {
	var sk []string
	for c := 'a'; c <= 'z'; c++ {
		sk = append(sk, string(c))
	}
	runCluster(t, 42, cluster.Config{SplitKeys: splitKeys(sk...)}, func(e *env, h *hookTransport) {
		for conc := 1; conc <= 4; conc++ {
			data := e.deleteRangeData(t)
			n, err := e.cli.DeleteRange(e.ctx, k("a5"), k("c5"), conc)
			if err != nil || n != 3 {
				t.Fatalf("concurrency %d: %d regions, %v", conc, n, err)
			}
			deleteFromMap(data, "a5", "c5")
			e.checkData(t, data)
			n, err = e.cli.DeleteRange(e.ctx, nil, nil, conc)
			if err != nil || n != 27 {
				t.Fatalf("concurrency %d: whole key space: %d regions, %v", conc, n, err)
			}
			e.checkData(t, map[string]string{})
		}
		for _, r := range h.requests(tikvrpc.CmdDeleteRange) {
			q := r.Req.(*kvrpcpb.DeleteRangeRequest)
			reg, _ := e.c.Region(q.StartKey)
			if end := decodeBoundary(t, reg.EndKey); end != "" && (len(q.EndKey) == 0 || string(q.EndKey) > end) {
				t.Fatalf("DeleteRange [%q, %q) crosses region %d's end %q", q.StartKey, q.EndKey, reg.Id, end)
			}
		}
	})
}

// TestDeleteRangeRegionChanges: a split and a merge happen while the task
// runs (at its first DeleteRange RPCs); the stale requests come back with
// EpochNotMatch, are relocated, and the whole range is still deleted.
func TestDeleteRangeRegionChanges(t *testing.T) {
	for _, change := range []string{"split", "merge"} {
		t.Run(change, func(t *testing.T) {
			runCluster(t, 43, cluster.Config{SplitKeys: splitKeys("b", "c", "d")}, func(e *env, h *hookTransport) {
				data := e.deleteRangeData(t)
				done := false
				h.setHook(func(addr string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
					if req.Type != tikvrpc.CmdDeleteRange || done {
						return nil, nil
					}
					done = true
					var err error
					if change == "split" {
						err = e.c.Split(k("b5"))
					} else {
						err = e.c.Merge(k("b")) // [b,c) into [c,d)
					}
					if err != nil {
						t.Errorf("%s: %v", change, err)
					}
					return nil, nil
				})
				n, err := e.cli.DeleteRange(e.ctx, k("a5"), k("c5"), 1)
				if err != nil {
					t.Fatal(err)
				}
				deleteFromMap(data, "a5", "c5")
				e.checkData(t, data)
				want := map[string]int{"split": 4, "merge": 2}[change]
				if n != want {
					t.Fatalf("completed %d regions after a %s, want %d", n, change, want)
				}
				if sent := len(h.requests(tikvrpc.CmdDeleteRange)); sent <= n {
					t.Fatalf("%d DeleteRange RPCs for %d regions: no request met the stale region", sent, n)
				}
			})
		})
	}
}

// TestDeleteRangeStoreCrash: the store leading the range's regions crashes
// at the first DeleteRange; the task waits out the election and completes.
func TestDeleteRangeStoreCrash(t *testing.T) {
	runCluster(t, 44, cluster.Config{SplitKeys: splitKeys("b", "c", "d")}, func(e *env, h *hookTransport) {
		data := e.deleteRangeData(t)
		_, leader := e.c.Region(k("b"))
		done := false
		h.setHook(func(addr string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			if req.Type == tikvrpc.CmdDeleteRange && !done {
				done = true
				_ = e.c.CrashStore(leader)
			}
			return nil, nil
		})
		start := e.w.Elapsed()
		n, err := e.cli.DeleteRange(e.ctx, k("b"), k("d"), 2)
		if err != nil || n != 2 {
			t.Fatalf("DeleteRange across a crash: %d, %v", n, err)
		}
		if d := e.w.Elapsed() - start; d < time.Second {
			t.Fatalf("DeleteRange took %v: the crash did not delay it", d)
		}
		deleteFromMap(data, "b", "d")
		e.checkData(t, data)
	})
}

// TestDeleteRangePartitionFails: with the client cut off from every store the
// task fails when its context ends, with a *rangetask.Error naming the
// range; after the heal the same DeleteRange succeeds.
func TestDeleteRangePartitionFails(t *testing.T) {
	runCluster(t, 45, cluster.Config{SplitKeys: splitKeys("b", "c", "d")}, func(e *env, h *hookTransport) {
		data := e.deleteRangeData(t)
		for _, id := range e.c.StoreIDs() {
			_ = (network.Partition{Groups: [][]string{{"app"}, {cluster.StoreNode(id)}}}).Apply(e.net)
		}
		ctx, cancel := e.w.WithDeadline(e.ctx, e.w.Now().Add(5*time.Second))
		n, err := e.cli.DeleteRange(ctx, k("b"), k("d"), 2)
		cancel()
		var rerr *rangetask.Error
		if err == nil || !errors.As(err, &rerr) || n != 0 {
			t.Fatalf("DeleteRange while partitioned: %d, %v; want a *rangetask.Error", n, err)
		}
		if rerr.Runner != "delete-range" || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v (runner %q)", err, rerr.Runner)
		}
		e.checkDataAfterHeal(t, data)
		n, err = e.cli.DeleteRange(e.ctx, k("b"), k("d"), 2)
		if err != nil || n != 2 {
			t.Fatalf("DeleteRange after heal: %d, %v", n, err)
		}
		deleteFromMap(data, "b", "d")
		e.checkData(t, data)
	})
}

func (e *env) checkDataAfterHeal(t *testing.T, want map[string]string) {
	t.Helper()
	_ = (network.Heal{}).Apply(e.net)
	e.checkData(t, want)
}

// TestNotifyDeleteRange: notify-only deletes reach every region and delete
// nothing.
func TestNotifyDeleteRange(t *testing.T) {
	runCluster(t, 46, cluster.Config{SplitKeys: splitKeys("b", "c", "d")}, func(e *env, h *hookTransport) {
		data := e.deleteRangeData(t)
		task := rangetask.NewNotifyDeleteRangeTask(e.cli, nil, nil, 3)
		if err := task.Execute(e.ctx); err != nil {
			t.Fatal(err)
		}
		if task.CompletedRegions() != 4 {
			t.Fatalf("notified %d regions, want 4", task.CompletedRegions())
		}
		e.checkData(t, data)
		for _, r := range h.requests(tikvrpc.CmdDeleteRange) {
			if !r.Req.(*kvrpcpb.DeleteRangeRequest).NotifyOnly {
				t.Fatal("a notify task sent a real delete")
			}
		}
	})
}

// TestUnsafeDestroyRange: the request goes to every store, not by region;
// the data is gone; a down store fails the call with an
// *txnkv.UnsafeDestroyRangeError naming it, and a retry after its restart
// succeeds (client-go's example unsafedestoryrange: repeat calls and an
// empty range are fine).
func TestUnsafeDestroyRange(t *testing.T) {
	runCluster(t, 47, cluster.Config{SplitKeys: splitKeys("b", "c", "d")}, func(e *env, h *hookTransport) {
		data := e.deleteRangeData(t)
		if err := e.cli.UnsafeDestroyRange(e.ctx, k("b"), k("c0")); err != nil {
			t.Fatal(err)
		}
		deleteFromMap(data, "b", "c0")
		e.checkData(t, data)
		sent := h.requests(tikvrpc.CmdUnsafeDestroyRange)
		if len(sent) != len(e.c.StoreIDs()) {
			t.Fatalf("%d UnsafeDestroyRange requests for %d stores", len(sent), len(e.c.StoreIDs()))
		}
		for _, r := range sent {
			if r.Context.RegionId != 0 {
				t.Fatalf("UnsafeDestroyRange sent to region %d: it is store-wide", r.Context.RegionId)
			}
		}
		if err := e.cli.UnsafeDestroyRange(e.ctx, k("b"), k("c0")); err != nil {
			t.Fatalf("repeat: %v", err)
		}
		if err := e.cli.UnsafeDestroyRange(e.ctx, k("d0"), k("d0")); err != nil {
			t.Fatalf("empty range: %v", err)
		}
		if err := e.cli.UnsafeDestroyRange(e.ctx, nil, k("d")); !errors.Is(err, txnkv.ErrInvalidDestroyRange) {
			t.Fatalf("unbounded start: %v", err)
		}
		// Store 2 is down: it cannot confirm.
		if err := e.c.CrashStore(2); err != nil {
			t.Fatal(err)
		}
		err := e.cli.UnsafeDestroyRange(e.ctx, k("c5"), k("d5"))
		var uerr *txnkv.UnsafeDestroyRangeError
		if !errors.As(err, &uerr) || len(uerr.Failed) != 1 || uerr.Failed[2] == nil || !transport.IsNotSent(uerr.Failed[2]) {
			t.Fatalf("with store 2 down: %v", err)
		}
		if err := e.c.RestartStore(2); err != nil {
			t.Fatal(err)
		}
		if err := e.cli.UnsafeDestroyRange(e.ctx, k("c5"), k("d5")); err != nil {
			t.Fatalf("retry after restart: %v", err)
		}
		deleteFromMap(data, "c5", "d5")
		e.checkData(t, data)
	})
}

// TestUnsafeDestroyRangeThroughSender: the store-wide requests go through
// the request sender's store path, so the context's RPC interceptors see
// one per store (with the context's resource group), as client-go's
// intercepted client does.
func TestUnsafeDestroyRangeThroughSender(t *testing.T) {
	runCluster(t, 48, cluster.Config{SplitKeys: splitKeys("c")}, func(e *env, h *hookTransport) {
		data := e.deleteRangeData(t)
		var targets []string
		it := interceptor.NewRPCInterceptor("record", func(next interceptor.RPCInterceptorFunc) interceptor.RPCInterceptorFunc {
			return func(target string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
				if q := req.UnsafeDestroyRange(); q != nil && string(q.StartKey) == "b" && req.GetResourceGroupName() == "gc" {
					targets = append(targets, target)
				}
				return next(target, req)
			}
		})
		ctx := util.WithResourceGroupName(interceptor.WithRPCInterceptor(e.ctx, it), "gc")
		if err := e.cli.UnsafeDestroyRange(ctx, k("b"), k("c5")); err != nil {
			t.Fatal(err)
		}
		slices.Sort(targets)
		var want []string
		for _, id := range e.c.StoreIDs() {
			want = append(want, cluster.StoreNode(id))
		}
		slices.Sort(want)
		if !slices.Equal(targets, want) {
			t.Fatalf("the interceptor saw UnsafeDestroyRange to %v, want %v", targets, want)
		}
		deleteFromMap(data, "b", "c5")
		e.checkData(t, data)
	})
}

// TestAPIV2UnsafeDestroyRangeStaysInKeyspace: in API V2 the range's keys
// go through the codec: destroying [a, n) in keyspace ks1 removes ks1's
// keys only, not ks2's same user keys.
func TestAPIV2UnsafeDestroyRangeStaysInKeyspace(t *testing.T) {
	runV2(t, 33, []string{"m"}, func(e *v2env) {
		for _, cli := range []*txnkv.Client{e.cli, e.cli2} {
			txn, err := cli.Begin(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{"a", "m", "z"} {
				_ = txn.Set(k(key), k("v"))
			}
			if err := txn.Commit(e.ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.cli.UnsafeDestroyRange(e.ctx, k("a"), k("n")); err != nil {
			t.Fatal(err)
		}
		if got := scanAll(t, e.ctx, e.cli, false); fmt.Sprint(got) != "[z=v]" {
			t.Fatalf("ks1 after destroying [a, n): %v", got)
		}
		if got := scanAll(t, e.ctx, e.cli2, false); fmt.Sprint(got) != "[a=v m=v z=v]" {
			t.Fatalf("ks2 after ks1 destroyed [a, n): %v", got)
		}
	})
}
