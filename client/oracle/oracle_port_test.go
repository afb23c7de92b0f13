package oracle_test

// Ports of client-go's oracle tests (batches B1/B6): oracle/oracles
// pd_test.go and local_test.go. client-go sets the oracle's last timestamp
// by hand; here a fake TSO hands out chosen timestamps and the simulator's
// clock stands in for the wall clock.

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tikvsim/tikvsim/client/oracle"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
)

// fakeTSO hands out timestamps at a settable physical time with a logical
// counter, like client-go's MockPdClient; others simulates timestamps taken
// by other clients.
type fakeTSO struct {
	mu       sync.Mutex
	physical int64
	logical  int64
}

func (f *fakeTSO) GetTS(_ context.Context, n uint32) (int64, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logical += int64(n)
	return f.physical, f.logical, nil
}

func (f *fakeTSO) set(physical int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.physical, f.logical = physical, 0
}

func (f *fakeTSO) others(n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logical += n
}

func runFake(t *testing.T, body func(r rt.Runtime, f *fakeTSO, o *oracle.PDOracle)) {
	t.Helper()
	w := sim.New(1, sim.Options{MaxTime: time.Hour})
	r := clock.New(w)
	f := &fakeTSO{physical: oracle.GetPhysical(r.Now())}
	o := oracle.NewPDOracle(r, f, 0)
	w.Spawn("main", func() {
		defer w.Stop()
		body(r, f, o)
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
}

// TestPortUntilExpired ports TestPDOracle_UntilExpired and local_test.go
// TestLocalOracle_UntilExpired / TestIsExpired: a lock taken 10ms after the
// latest timestamp with a 15ms TTL expires 25ms after it.
func TestPortUntilExpired(t *testing.T) {
	runFake(t, func(r rt.Runtime, f *fakeTSO, o *oracle.PDOracle) {
		ctx := context.Background()
		start := r.Now()
		f.set(oracle.GetPhysical(start))
		if _, err := o.GetTimestamp(ctx); err != nil {
			t.Fatal(err)
		}
		lockTS := oracle.GoTimeToTS(start.Add(10*time.Millisecond)) + 1
		if got := o.UntilExpired(lockTS, 15); got != 25 {
			t.Fatalf("UntilExpired = %d, want 25", got)
		}
		if o.IsExpired(lockTS, 15) {
			t.Fatal("expired early")
		}
		f.set(oracle.GetPhysical(start.Add(25 * time.Millisecond)))
		_, _ = o.GetTimestamp(ctx)
		if !o.IsExpired(lockTS, 15) || o.UntilExpired(lockTS, 15) != 0 {
			t.Fatal("not expired at lock + TTL")
		}
	})
}

// TestPortGetStaleTimestamp ports TestPdOracle_GetStaleTimestamp and
// TestNonFutureStaleTSO: a stale timestamp is prevSecond before the latest
// one (advanced by the time since it arrived), never in the future, and an
// absurd prevSecond is refused.
func TestPortGetStaleTimestamp(t *testing.T) {
	runFake(t, func(r rt.Runtime, f *fakeTSO, o *oracle.PDOracle) {
		ctx := context.Background()
		start := r.Now()
		f.set(oracle.GetPhysical(start))
		_, _ = o.GetTimestamp(ctx)
		ts, err := o.GetStaleTimestamp(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if d := start.Add(-10 * time.Second).Sub(oracle.GetTimeFromTS(ts)); d < -2*time.Second || d > 2*time.Second {
			t.Fatalf("stale ts %v off by %v", oracle.GetTimeFromTS(ts), d)
		}
		for _, prev := range []uint64{1e12, math.MaxUint64} {
			if _, err := o.GetStaleTimestamp(ctx, prev); err == nil || !strings.Contains(err.Error(), "invalid prevSecond") {
				t.Fatalf("prevSecond %d: %v", prev, err)
			}
		}
		for range 100 {
			_ = r.Sleep(ctx, 10*time.Millisecond)
			now := r.Now()
			ts, err := o.GetStaleTimestamp(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			if oracle.GetTimeFromTS(ts).After(now.Add(5 * time.Millisecond)) {
				t.Fatalf("stale ts %v is in the future of %v", oracle.GetTimeFromTS(ts), now)
			}
			f.set(oracle.GetPhysical(now))
			_, _ = o.GetTimestamp(ctx)
		}
	})
}

// TestPortValidateReadTS ports TestValidateReadTS: a read ts one or two
// above the latest passes (PD is asked, once more on a miss), three above
// fails, and passes once other clients have taken timestamps past it.
func TestPortValidateReadTS(t *testing.T) {
	for _, stale := range []bool{false, true} {
		runFake(t, func(r rt.Runtime, f *fakeTSO, o *oracle.PDOracle) {
			ctx := context.Background()
			err := o.ValidateReadTS(ctx, math.MaxUint64, stale)
			if (err != nil) != stale {
				t.Fatalf("MaxUint64 (stale %v): %v", stale, err)
			}
			ts, _ := o.GetTimestamp(ctx)
			if err := o.ValidateReadTS(ctx, 1, stale); err != nil {
				t.Fatal(err)
			}
			ts, _ = o.GetTimestamp(ctx)
			if err := o.ValidateReadTS(ctx, ts+1, stale); err != nil {
				t.Fatalf("ts+1: %v", err)
			}
			ts, _ = o.GetTimestamp(ctx)
			if err := o.ValidateReadTS(ctx, ts+2, stale); err != nil {
				t.Fatalf("ts+2: %v", err)
			}
			ts, _ = o.GetTimestamp(ctx)
			if err := o.ValidateReadTS(ctx, ts+3, stale); err == nil {
				t.Fatal("ts+3 accepted")
			}
			ts, _ = o.GetTimestamp(ctx)
			f.others(2)
			if err := o.ValidateReadTS(ctx, ts+3, stale); err != nil {
				t.Fatalf("ts+3 after other clients: %v", err)
			}
		})
	}
}

// TestPortSetLastTSAlwaysPushTS ports TestSetLastTSAlwaysPushTS: with many
// concurrent callers the latest timestamp only moves up and ends at the
// highest one handed out.
func TestPortSetLastTSAlwaysPushTS(t *testing.T) {
	runFake(t, func(r rt.Runtime, f *fakeTSO, o *oracle.PDOracle) {
		ctx := context.Background()
		var mu sync.Mutex
		var highest uint64
		g := rt.NewGroup(r)
		for range 20 {
			g.Go("caller", func() error {
				for range 10 {
					ts, err := o.GetTimestamp(ctx)
					if err != nil {
						return err
					}
					low, _ := o.GetLowResolutionTimestamp(ctx)
					mu.Lock()
					highest = max(highest, ts)
					mu.Unlock()
					if low < ts {
						t.Errorf("low resolution %d below a ts %d already handed out", low, ts)
					}
				}
				return nil
			})
		}
		if err := g.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if low, _ := o.GetLowResolutionTimestamp(ctx); low != highest {
			t.Fatalf("latest %d, highest handed out %d", low, highest)
		}
	})
}
