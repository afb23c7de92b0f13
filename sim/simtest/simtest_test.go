package simtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tikvsim/tikvsim/sim"
)

type recorder struct{ errs []string }

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func deterministic(seed uint64) uint64 {
	w := sim.New(seed, sim.Options{})
	r := w.Rand("test")
	for range 4 {
		w.Spawn("t", func() {
			for range 10 {
				_ = w.Sleep(context.Background(), time.Duration(r.IntN(1000))*time.Microsecond)
				w.Yield()
			}
		})
	}
	if err := w.Run(); err != nil {
		panic(err)
	}
	return w.TraceHash()
}

func TestCheckDeterminismPasses(t *testing.T) {
	r := &recorder{}
	if n := CheckDeterminism(r, Seeds(1, 20), deterministic); n != 0 {
		t.Fatalf("deterministic run flagged: %v", r.errs)
	}
}

// TestCheckDeterminismCatchesMapOrder proves the helper fails on a run whose
// trace depends on map iteration order.
func TestCheckDeterminismCatchesMapOrder(t *testing.T) {
	mapOrder := func(seed uint64) uint64 {
		w := sim.New(seed, sim.Options{})
		m := map[string]int{}
		for i := range 16 {
			m[fmt.Sprint("k", i)] = i
		}
		w.Spawn("leaky", func() {
			for k := range m { // map order reaches the trace: a bug
				w.Record(sim.KindLog, k, "", 0)
			}
		})
		if err := w.Run(); err != nil {
			panic(err)
		}
		return w.TraceHash()
	}
	r := &recorder{}
	if n := CheckDeterminism(r, Seeds(1, 10), mapOrder); n == 0 {
		t.Fatal("map-order nondeterminism went unnoticed")
	}
}

// TestCheckDeterminismCatchesBareGoroutine proves the helper fails on a run
// in which a goroutine the kernel does not know races with the tasks.
func TestCheckDeterminismCatchesBareGoroutine(t *testing.T) {
	if raceEnabled {
		t.Skip("the deliberate data race would fail the run under -race")
	}
	racy := func(seed uint64) uint64 {
		w := sim.New(seed, sim.Options{})
		var shared [64]uint64
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { // a bare goroutine writing shared state
			defer close(done)
			for i := uint64(0); ; i++ {
				select {
				case <-stop:
					return
				default:
					shared[i%64]++
				}
			}
		}()
		w.Spawn("reader", func() {
			for i := range 200 {
				w.Yield()
				w.Record(sim.KindLog, "", "", shared[i%64]%7)
			}
		})
		err := w.Run()
		close(stop)
		<-done
		if err != nil {
			panic(err)
		}
		return w.TraceHash()
	}
	r := &recorder{}
	if n := CheckDeterminism(r, Seeds(1, 5), racy); n == 0 {
		t.Fatal("bare-goroutine nondeterminism went unnoticed")
	}
}

func TestSeedListRun(t *testing.T) {
	ran := 0
	Seeds(3, 5).Run(t, func(t *testing.T, seed uint64) uint64 {
		ran++
		return deterministic(seed)
	})
	if ran != 3 {
		t.Fatalf("ran %d seeds, want 3", ran)
	}
}
