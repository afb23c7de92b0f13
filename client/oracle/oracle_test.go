package oracle_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/tikvsim/tikvsim/client/oracle"
	"github.com/tikvsim/tikvsim/client/pd"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

// countingTSO counts PD round trips.
type countingTSO struct {
	pd.TSO
	calls int
}

func (c *countingTSO) GetTS(ctx context.Context, n uint32) (int64, int64, error) {
	c.calls++
	return c.TSO.GetTS(ctx, n)
}

func run(t *testing.T, seed uint64, body func(w *sim.World, c *cluster.Cluster, r rt.Runtime, tso *countingTSO)) {
	t.Helper()
	w := sim.New(seed, sim.Options{MaxTime: time.Hour})
	net := network.New(w, network.Config{})
	c := cluster.New(w, net, cluster.Config{})
	tso := &countingTSO{TSO: c.NewPDClient("app")}
	w.Spawn("main", func() {
		defer w.Stop()
		body(w, c, clock.New(w), tso)
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentCallersShareRoundTrips(t *testing.T) {
	run(t, 1, func(w *sim.World, c *cluster.Cluster, r rt.Runtime, tso *countingTSO) {
		o := oracle.NewPDOracle(r, tso, 0)
		const n = 50
		got := make([]uint64, n)
		g := rt.NewGroup(r)
		for i := range n {
			g.Go("caller", func() error {
				ts, err := o.GetTimestamp(context.Background())
				got[i] = ts
				return err
			})
		}
		if err := g.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		seen := map[uint64]bool{}
		for _, ts := range got {
			if ts == 0 || seen[ts] {
				t.Fatalf("timestamp %d zero or handed out twice", ts)
			}
			seen[ts] = true
		}
		if tso.calls >= n/2 {
			t.Fatalf("%d PD round trips for %d callers: no batching", tso.calls, n)
		}
		// Sequential calls strictly increase.
		last := uint64(0)
		for range 5 {
			ts, err := o.GetTimestamp(context.Background())
			if err != nil || ts <= last {
				t.Fatalf("ts %d after %d (%v)", ts, last, err)
			}
			last = ts
		}
		f := o.GetTimestampAsync(context.Background())
		if ts, err := f.Wait(); err != nil || ts <= last {
			t.Fatalf("async ts %d after %d (%v)", ts, last, err)
		}
	})
}

func TestLowResolutionExpiryAndStale(t *testing.T) {
	run(t, 2, func(w *sim.World, c *cluster.Cluster, r rt.Runtime, tso *countingTSO) {
		o := oracle.NewPDOracle(r, tso, 0)
		ctx := context.Background()
		if !o.IsExpired(1, 1) || o.UntilExpired(1, 1) != 0 {
			t.Fatal("with no timestamp seen every lock counts as expired")
		}
		lock, err := o.GetTimestamp(ctx)
		if err != nil {
			t.Fatal(err)
		}
		low, _ := o.GetLowResolutionTimestamp(ctx)
		if low != lock {
			t.Fatalf("low resolution %d, want the latest %d", low, lock)
		}
		if o.IsExpired(lock, 1000) {
			t.Fatal("fresh lock expired")
		}
		_ = r.Sleep(ctx, 1500*time.Millisecond)
		if o.IsExpired(lock, 1000) {
			t.Fatal("expired without a newer timestamp seen: the oracle judges by the latest ts")
		}
		runCtx, stop := context.WithCancel(ctx)
		r.Go("lowres", func() { _ = o.Run(runCtx, 100*time.Millisecond) })
		_ = r.Sleep(ctx, 300*time.Millisecond)
		stop()
		if !o.IsExpired(lock, 1000) || o.UntilExpired(lock, 1000) > 0 {
			t.Fatalf("lock not expired after 1.8s with ttl 1s (until %d)", o.UntilExpired(lock, 1000))
		}
		stale, err := o.GetStaleTimestamp(ctx, 1)
		now, _ := o.GetLowResolutionTimestamp(ctx)
		if err != nil || stale >= now || oracle.ExtractPhysical(now)-oracle.ExtractPhysical(stale) < 900 {
			t.Fatalf("stale ts %d vs now %d (%v)", stale, now, err)
		}
		if _, err := o.GetStaleTimestamp(ctx, math.MaxUint32*4); err == nil {
			t.Fatal("absurd prevSecond accepted")
		}
	})
}

func TestValidateReadTS(t *testing.T) {
	run(t, 3, func(w *sim.World, c *cluster.Cluster, r rt.Runtime, tso *countingTSO) {
		o := oracle.NewPDOracle(r, tso, 0)
		ctx := context.Background()
		ts, _ := o.GetTimestamp(ctx)
		if err := o.ValidateReadTS(ctx, ts, false); err != nil {
			t.Fatal(err)
		}
		future := oracle.ComposeTS(oracle.ExtractPhysical(ts)+60_000, 0)
		var fe oracle.ErrFutureTSRead
		if err := o.ValidateReadTS(ctx, future, false); !errors.As(err, &fe) || fe.ReadTS != future {
			t.Fatalf("future read ts: %v", err)
		}
		if err := o.ValidateReadTS(ctx, math.MaxUint64, false); err != nil {
			t.Fatalf("MaxUint64 for a latest read: %v", err)
		}
		if err := o.ValidateReadTS(ctx, math.MaxUint64, true); !errors.As(err, new(oracle.ErrLatestStaleRead)) {
			t.Fatalf("MaxUint64 for a stale read: %v", err)
		}
		if err := o.ValidateReadTS(ctx, math.MaxInt64+1, false); err == nil {
			t.Fatal("MaxInt64 < ts accepted")
		}
		// A ts another client got from PD just now is valid.
		other, _, _ := c.NewPDClient("other").GetTS(ctx, 1)
		if err := o.ValidateReadTS(ctx, oracle.ComposeTS(other, 0), false); err != nil {
			t.Fatalf("ts from another client: %v", err)
		}
	})
}

func TestPDDownAndClose(t *testing.T) {
	run(t, 4, func(w *sim.World, c *cluster.Cluster, r rt.Runtime, tso *countingTSO) {
		o := oracle.NewPDOracle(r, tso, 500*time.Millisecond)
		ctx := context.Background()
		c.CrashPD()
		if _, err := o.GetTimestamp(ctx); err == nil {
			t.Fatal("timestamp with PD down")
		}
		c.RestartPD()
		if _, err := o.GetTimestamp(ctx); err != nil {
			t.Fatal(err)
		}
		o.Close()
		if _, err := o.GetTimestamp(ctx); !errors.Is(err, oracle.ErrClosed) {
			t.Fatalf("closed: %v", err)
		}
	})
}

func TestTSArithmetic(t *testing.T) {
	ts := oracle.ComposeTS(1_700_000_000_000, 5)
	if oracle.ExtractPhysical(ts) != 1_700_000_000_000 || oracle.ExtractLogical(ts) != 5 {
		t.Fatal("compose/extract")
	}
	tm := oracle.GetTimeFromTS(ts)
	if oracle.GetPhysical(tm) != 1_700_000_000_000 || oracle.GoTimeToTS(tm) != ts-5 {
		t.Fatal("time conversions")
	}
	if oracle.GoTimeToLowerLimitStartTS(tm, 1000) != oracle.ComposeTS(1_699_999_999_000, 0) {
		t.Fatal("lower limit")
	}
	if (oracle.ErrFutureTSRead{1, 0}).Error() == "" || (oracle.ErrLatestStaleRead{}).Error() == "" {
		t.Fatal("errors")
	}
}
