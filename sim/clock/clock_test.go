package clock_test

import (
	"context"
	"testing"
	"time"

	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/rt/rttest"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
)

func TestSimConformance(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		rttest.Suite(t, rttest.Harness{
			Short: 5 * time.Millisecond,
			Run: func(t *testing.T, body func(rt.Runtime)) {
				w := sim.New(seed, sim.Options{MaxTime: time.Hour})
				r := clock.New(w)
				w.Spawn("main", func() { body(r) })
				if err := w.Run(); err != nil {
					t.Fatal(err)
				}
			},
		})
	}
}

func TestSkew(t *testing.T) {
	w := sim.New(1, sim.Options{})
	base := clock.New(w)
	ahead := base.WithSkew(time.Second)
	w.Spawn("main", func() {
		if d := ahead.Now().Sub(base.Now()); d != time.Second {
			t.Errorf("skew %v", d)
		}
		// Deadlines are read on the skewed clock but measure virtual time.
		ctx, cancel := rt.WithTimeout(ahead, context.Background(), 10*time.Millisecond)
		defer cancel()
		start := w.Elapsed()
		_ = rt.WaitContext(ahead, ctx)
		if el := w.Elapsed() - start; el != 10*time.Millisecond {
			t.Errorf("timeout after %v", el)
		}
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
}
