package rangetask_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tikvsim/tikvsim/client/txnkv"
	"github.com/tikvsim/tikvsim/client/txnkv/rangetask"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

type env struct {
	w   *sim.World
	c   *cluster.Cluster
	cli *txnkv.Client
	ctx context.Context
}

// run runs body against a cluster split at "a" to "z" (27 regions), as
// client-go's range task suite bootstraps it.
func run(t *testing.T, seed uint64, body func(e *env)) uint64 {
	t.Helper()
	w := sim.New(seed, sim.Options{MaxTime: time.Hour})
	net := network.New(w, network.Config{})
	var sk [][]byte
	for c := byte('a'); c <= 'z'; c++ {
		sk = append(sk, []byte{c})
	}
	c := cluster.New(w, net, cluster.Config{TxnKeys: true, SplitKeys: sk})
	cli, err := txnkv.NewClient(txnkv.WithRuntime(clock.New(w)), txnkv.WithTransport(c.NewTransport("app")), txnkv.WithPD(c.NewPDClient("app")))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{w: w, c: c, cli: cli, ctx: context.Background()}
	w.Spawn("main", func() {
		defer w.Stop()
		body(e)
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
	return w.TraceHash()
}

func kr(start, end string) rangetask.KeyRange {
	return rangetask.KeyRange{StartKey: []byte(start), EndKey: []byte(end)}
}

// regionRanges are the cluster's 27 region ranges.
func regionRanges() []rangetask.KeyRange {
	out := []rangetask.KeyRange{kr("", "a")}
	for c := byte('a'); c < 'z'; c++ {
		out = append(out, kr(string(c), string(c+1)))
	}
	return append(out, kr("z", ""))
}

// The ranges of client-go's range task suite and the region pieces each
// covers.
var testRanges = []rangetask.KeyRange{
	kr("", ""), kr("", "b"), kr("b", ""), kr("b", "x"), kr("a", "d"),
	kr("a\x00", "d\x00"), kr("a\xff\xff\xff", "c\xff\xff\xff"), kr("a1", "a2"), kr("a", "a"), kr("a3", "a3"),
}

func expectedRanges() [][]rangetask.KeyRange {
	all := regionRanges()
	return [][]rangetask.KeyRange{
		all, all[:2], all[2:], all[2:24],
		{kr("a", "b"), kr("b", "c"), kr("c", "d")},
		{kr("a\x00", "b"), kr("b", "c"), kr("c", "d"), kr("d", "d\x00")},
		{kr("a\xff\xff\xff", "b"), kr("b", "c"), kr("c", "c\xff\xff\xff")},
		{kr("a1", "a2")},
		nil, nil,
	}
}

// batchRanges merges every n consecutive ranges into one (client-go
// batchRanges).
func batchRanges(rs []rangetask.KeyRange, n int) []rangetask.KeyRange {
	var out []rangetask.KeyRange
	for i := 0; i < len(rs); i += n {
		last := min(i+n, len(rs)) - 1
		out = append(out, rangetask.KeyRange{StartKey: rs[i].StartKey, EndKey: rs[last].EndKey})
	}
	return out
}

type collector struct {
	mu     sync.Mutex
	ranges []rangetask.KeyRange
}

func (c *collector) add(r rangetask.KeyRange) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ranges = append(c.ranges, r)
}

func (c *collector) take() []rangetask.KeyRange {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.ranges
	c.ranges = nil
	slices.SortFunc(out, func(a, b rangetask.KeyRange) int { return bytes.Compare(a.StartKey, b.StartKey) })
	return out
}

func sameRanges(a, b []rangetask.KeyRange) bool {
	return slices.EqualFunc(a, b, func(x, y rangetask.KeyRange) bool {
		return bytes.Equal(x.StartKey, y.StartKey) && bytes.Equal(x.EndKey, y.EndKey)
	})
}

// TestRangeTask ports it/range_task TestRangeTask: with concurrency 1 to 4
// and 1 to 5 regions per task, every range is cut into exactly the expected
// tasks and each is counted.
func TestRangeTask(t *testing.T) {
	run(t, 51, func(e *env) {
		exp := expectedRanges()
		for conc := 1; conc < 5; conc++ {
			var col collector
			runner := rangetask.NewRunner("test-runner", e.cli, conc, func(ctx context.Context, r rangetask.KeyRange) (rangetask.TaskStat, error) {
				col.add(r)
				return rangetask.TaskStat{CompletedRegions: 1}, nil
			})
			for per := 1; per <= 5; per++ {
				runner.SetRegionsPerTask(per)
				for i, r := range testRanges {
					want := batchRanges(exp[i], per)
					if err := runner.RunOnRange(e.ctx, r.StartKey, r.EndKey); err != nil {
						t.Fatalf("concurrency %d, %d per task, range %v: %v", conc, per, r, err)
					}
					if got := col.take(); !sameRanges(got, want) {
						t.Fatalf("concurrency %d, %d per task, range %v: tasks %v, want %v", conc, per, r, got, want)
					}
					if runner.CompletedRegions() != len(want) || runner.FailedRegions() != 0 {
						t.Fatalf("counted %d completed, %d failed; want %d, 0", runner.CompletedRegions(), runner.FailedRegions(), len(want))
					}
				}
			}
		}
	})
}

// TestRangeTaskError ports it/range_task TestRangeTaskError: whichever task
// fails, the run fails with it (an *Error naming that task), fewer regions
// complete than there are tasks, and exactly one failed.
func TestRangeTaskError(t *testing.T) {
	run(t, 52, func(e *env) {
		exp := expectedRanges()
		errTest := errors.New("test error")
		for conc := 1; conc < 5; conc++ {
			for i, r := range testRanges {
				for _, sub := range exp[i] {
					runner := rangetask.NewRunner("test-error-runner", e.cli, conc, func(ctx context.Context, r rangetask.KeyRange) (rangetask.TaskStat, error) {
						if bytes.Equal(r.StartKey, sub.StartKey) {
							return rangetask.TaskStat{FailedRegions: 1}, errTest
						}
						return rangetask.TaskStat{CompletedRegions: 1}, nil
					})
					runner.SetRegionsPerTask(1)
					err := runner.RunOnRange(e.ctx, r.StartKey, r.EndKey)
					var rerr *rangetask.Error
					if !errors.As(err, &rerr) || !errors.Is(err, errTest) || !bytes.Equal(rerr.Range.StartKey, sub.StartKey) || rerr.Runner != "test-error-runner" {
						t.Fatalf("concurrency %d, range %v, failing %v: %v", conc, r, sub, err)
					}
					if runner.CompletedRegions() >= len(exp[i]) || runner.FailedRegions() != 1 {
						t.Fatalf("concurrency %d, range %v, failing %v: %d completed, %d failed", conc, r, sub, runner.CompletedRegions(), runner.FailedRegions())
					}
				}
			}
		}
	})
}

// TestRangeTaskBoundedConcurrency: never more than concurrency handlers run
// at once, and with enough tasks all of them do.
func TestRangeTaskBoundedConcurrency(t *testing.T) {
	run(t, 53, func(e *env) {
		for conc := 1; conc <= 4; conc++ {
			var mu sync.Mutex
			running, peak := 0, 0
			runner := rangetask.NewRunner("bounded", e.cli, conc, func(ctx context.Context, r rangetask.KeyRange) (rangetask.TaskStat, error) {
				mu.Lock()
				running++
				peak = max(peak, running)
				mu.Unlock()
				err := e.w.Sleep(ctx, 10*time.Millisecond)
				mu.Lock()
				running--
				mu.Unlock()
				return rangetask.TaskStat{CompletedRegions: 1}, err
			})
			runner.SetRegionsPerTask(1)
			start := e.w.Elapsed()
			if err := runner.RunOnRange(e.ctx, nil, nil); err != nil {
				t.Fatal(err)
			}
			if peak != conc || runner.CompletedRegions() != 27 {
				t.Fatalf("concurrency %d: peak %d handlers, %d completed", conc, peak, runner.CompletedRegions())
			}
			if d := e.w.Elapsed() - start; d < time.Duration(27/conc)*10*time.Millisecond {
				t.Fatalf("concurrency %d: 27 tasks of 10ms took only %v", conc, d)
			}
		}
	})
}

// TestRangeTaskRegionChanges: regions split and merge while the runner
// works; the tasks still tile the range exactly, without gap or overlap.
func TestRangeTaskRegionChanges(t *testing.T) {
	run(t, 54, func(e *env) {
		var col collector
		n := 0
		runner := rangetask.NewRunner("changes", e.cli, 2, func(ctx context.Context, r rangetask.KeyRange) (rangetask.TaskStat, error) {
			col.add(r)
			n++
			switch n {
			case 2:
				if err := e.c.Split([]byte("m5")); err != nil {
					return rangetask.TaskStat{}, err
				}
			case 4:
				if err := e.c.Merge([]byte("q")); err != nil {
					return rangetask.TaskStat{}, err
				}
			}
			return rangetask.TaskStat{CompletedRegions: 1}, nil
		})
		runner.SetRegionsPerTask(3)
		if err := runner.RunOnRange(e.ctx, []byte("b1"), []byte("y1")); err != nil {
			t.Fatal(err)
		}
		got := col.take()
		if len(got) == 0 || string(got[0].StartKey) != "b1" || string(got[len(got)-1].EndKey) != "y1" {
			t.Fatalf("tasks %v do not span [b1, y1)", got)
		}
		for i := 1; i < len(got); i++ {
			if !bytes.Equal(got[i-1].EndKey, got[i].StartKey) {
				t.Fatalf("tasks %v and %v leave a gap or overlap", got[i-1], got[i])
			}
		}
	})
}

// TestRangeTaskCancel: the caller's context ends the run: running handlers
// see it, no further task starts, and the error says so.
func TestRangeTaskCancel(t *testing.T) {
	run(t, 55, func(e *env) {
		ctx, cancel := e.w.WithDeadline(e.ctx, e.w.Now().Add(35*time.Millisecond))
		defer cancel()
		started := 0
		runner := rangetask.NewRunner("cancel", e.cli, 1, func(ctx context.Context, r rangetask.KeyRange) (rangetask.TaskStat, error) {
			started++
			if err := e.w.Sleep(ctx, 10*time.Millisecond); err != nil {
				return rangetask.TaskStat{}, err
			}
			return rangetask.TaskStat{CompletedRegions: 1}, nil
		})
		runner.SetRegionsPerTask(1)
		err := runner.RunOnRange(ctx, nil, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("cancelled run: %v", err)
		}
		if started >= 27 || runner.CompletedRegions() >= started {
			t.Fatalf("%d tasks started, %d completed after the deadline", started, runner.CompletedRegions())
		}
	})
}

// TestRangeTaskDeterministic: DeleteRange in four concurrent tasks over
// regions that split and lose leaders mid-run gives the same trace hash for
// the same seed, and a different one for another seed.
func TestRangeTaskDeterministic(t *testing.T) {
	once := func(seed uint64) uint64 {
		return run(t, seed, func(e *env) {
			txn, err := e.cli.Begin(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			for c := byte('a'); c <= 'z'; c++ {
				_ = txn.Set([]byte{c, '1'}, []byte{c})
			}
			if err := txn.Commit(e.ctx); err != nil {
				t.Fatal(err)
			}
			e.w.Spawn("nemesis", func() {
				_ = e.w.Sleep(e.ctx, time.Millisecond)
				_ = e.c.Split([]byte("k5"))
				_, l := e.c.Region([]byte("q"))
				_ = e.c.TransferLeader([]byte("q"), 1+l%3)
			})
			// Four tasks of two regions at a time, each a DeleteRange.
			runner := rangetask.NewRunner("det", e.cli, 4, func(ctx context.Context, r rangetask.KeyRange) (rangetask.TaskStat, error) {
				n, err := e.cli.DeleteRange(ctx, r.StartKey, r.EndKey, 1)
				return rangetask.TaskStat{CompletedRegions: n}, err
			})
			runner.SetRegionsPerTask(2)
			if err := runner.RunOnRange(e.ctx, []byte("b"), []byte("y")); err != nil {
				t.Fatal(err)
			}
			if runner.CompletedRegions() < 23 {
				t.Fatalf("%d regions deleted", runner.CompletedRegions())
			}
		})
	}
	a, b, c := once(56), once(56), once(57)
	if a != b {
		t.Fatalf("seed 56 ran twice: trace hashes %x and %x", a, b)
	}
	if a == c {
		t.Fatalf("seeds 56 and 57 gave the same trace hash %x", a)
	}
}

// Example-style check that KeyRange and Error print usefully.
func TestErrorString(t *testing.T) {
	err := &rangetask.Error{Runner: "r", Range: kr("a", "b"), Err: errors.New("boom")}
	if got, want := err.Error(), `rangetask r: task ["a", "b"): boom`; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
	if fmt.Sprint(kr("", "")) != `["", "")` {
		t.Fatal(fmt.Sprint(kr("", "")))
	}
}
