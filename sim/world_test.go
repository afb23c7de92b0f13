package sim

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func run(t *testing.T, seed uint64, opts Options, main func(w *World)) (*World, error) {
	t.Helper()
	w := New(seed, opts)
	w.Spawn("main", func() { main(w) })
	return w, w.Run()
}

func mustRun(t *testing.T, seed uint64, main func(w *World)) *World {
	t.Helper()
	w, err := run(t, seed, Options{}, main)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestSleepAdvancesVirtualTime(t *testing.T) {
	var got []string
	w := mustRun(t, 1, func(w *World) {
		for i, d := range []time.Duration{30, 10, 20} {
			w.Spawn(fmt.Sprint("s", i), func() {
				if err := w.Sleep(context.Background(), d*time.Millisecond); err != nil {
					t.Error(err)
				}
				got = append(got, fmt.Sprintf("%d@%v", i, w.Elapsed()))
			})
		}
	})
	want := "1@10ms 2@20ms 0@30ms"
	if s := strings.Join(got, " "); s != want {
		t.Fatalf("wake order %q, want %q", s, want)
	}
	if w.Elapsed() != 30*time.Millisecond {
		t.Fatalf("elapsed %v", w.Elapsed())
	}
	if !w.Now().Equal(Epoch.Add(30 * time.Millisecond)) {
		t.Fatalf("now %v", w.Now())
	}
}

func TestEqualDeadlinesFireInSetOrder(t *testing.T) {
	var got []int
	mustRun(t, 7, func(w *World) {
		for i := range 5 {
			w.AfterFunc(time.Second, func() { got = append(got, i) })
		}
	})
	if fmt.Sprint(got) != "[0 1 2 3 4]" {
		t.Fatalf("timer order %v", got)
	}
}

func TestTimerStop(t *testing.T) {
	fired := false
	mustRun(t, 1, func(w *World) {
		tm := w.AfterFunc(time.Second, func() { fired = true })
		if !tm.Stop() || tm.Stop() {
			t.Error("Stop should report pending exactly once")
		}
	})
	if fired {
		t.Fatal("stopped timer fired")
	}
}

func TestSameSeedSameHashDifferentSeedsDiffer(t *testing.T) {
	work := func(seed uint64) uint64 {
		w := New(seed, Options{})
		for i := range 8 {
			w.Spawn("worker", func() {
				for j := range 20 {
					w.Yield()
					_ = w.Sleep(context.Background(), time.Duration(i*j)*time.Microsecond)
				}
			})
		}
		if err := w.Run(); err != nil {
			t.Fatal(err)
		}
		return w.TraceHash()
	}
	seen := map[uint64]uint64{}
	for seed := uint64(1); seed <= 50; seed++ {
		a, b := work(seed), work(seed)
		if a != b {
			t.Fatalf("seed %d: hashes %x and %x", seed, a, b)
		}
		if other, dup := seen[a]; dup {
			t.Fatalf("seeds %d and %d share hash %x", other, seed, a)
		}
		seen[a] = seed
	}
}

func TestEventWaitFireAndContext(t *testing.T) {
	mustRun(t, 3, func(w *World) {
		ev := w.NewEvent()
		woke := 0
		for range 3 {
			w.Spawn("waiter", func() {
				if err := ev.Wait(context.Background()); err != nil {
					t.Error(err)
				}
				woke++
			})
		}
		_ = w.Sleep(context.Background(), time.Millisecond)
		if woke != 0 {
			t.Errorf("woke %d before fire", woke)
		}
		if !ev.Fire() || ev.Fire() {
			t.Error("Fire should report true exactly once")
		}
		_ = w.Sleep(context.Background(), time.Millisecond)
		if woke != 3 {
			t.Errorf("woke %d after fire, want 3", woke)
		}
		// A done context wakes a waiter of an unfired event.
		ctx, cancel := context.WithCancel(context.Background())
		w.AfterFunc(5*time.Millisecond, cancel)
		start := w.Elapsed()
		if err := w.NewEvent().Wait(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want Canceled", err)
		}
		if d := w.Elapsed() - start; d != 5*time.Millisecond {
			t.Errorf("woke after %v, want 5ms", d)
		}
		// A fired event wins over a done context.
		if err := ev.Wait(ctx); err != nil {
			t.Errorf("fired event returned %v", err)
		}
	})
}

func TestWithDeadline(t *testing.T) {
	mustRun(t, 5, func(w *World) {
		ctx, cancel := w.WithDeadline(context.Background(), w.Now().Add(10*time.Millisecond))
		defer cancel()
		child, cancelChild := context.WithCancel(ctx)
		defer cancelChild()
		err := w.Sleep(child, time.Hour)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("sleep returned %v, want DeadlineExceeded", err)
		}
		if w.Elapsed() != 10*time.Millisecond {
			t.Errorf("deadline hit at %v", w.Elapsed())
		}
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) || !errors.Is(child.Err(), context.DeadlineExceeded) {
			t.Errorf("ctx.Err()=%v child.Err()=%v", ctx.Err(), child.Err())
		}
		if !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
			t.Errorf("Cause=%v", context.Cause(ctx))
		}
		// Parent cancelled by a foreign (stdlib) context is seen at the next step.
		parent, cancelParent := context.WithCancel(context.Background())
		c2, cancel2 := w.WithDeadline(parent, w.Now().Add(time.Hour))
		defer cancel2()
		w.AfterFunc(time.Millisecond, cancelParent)
		if err := w.Sleep(c2, time.Hour); !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want Canceled", err)
		}
		// Nested deadline contexts: the parent's earlier deadline wins.
		p3, c3 := w.WithDeadline(context.Background(), w.Now().Add(time.Millisecond))
		defer c3()
		ch3, cc3 := w.WithDeadline(p3, w.Now().Add(time.Hour))
		defer cc3()
		if d, _ := ch3.Deadline(); !d.Equal(w.Now().Add(time.Millisecond)) {
			t.Errorf("child deadline %v", d)
		}
		if err := w.Sleep(ch3, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v", err)
		}
		// Explicit cancel.
		c4, cancel4 := w.WithDeadline(context.Background(), w.Now().Add(time.Hour))
		cancel4()
		if !errors.Is(c4.Err(), context.Canceled) {
			t.Errorf("got %v", c4.Err())
		}
		// A deadline in the past is already expired.
		c5, cancel5 := w.WithDeadline(context.Background(), w.Now().Add(-time.Second))
		defer cancel5()
		if !errors.Is(c5.Err(), context.DeadlineExceeded) {
			t.Errorf("got %v", c5.Err())
		}
	})
}

func TestSelect(t *testing.T) {
	mustRun(t, 9, func(w *World) {
		a, b := w.NewEvent(), w.NewEvent()
		w.AfterFunc(3*time.Millisecond, func() { b.Fire() })
		i, err := w.Select(context.Background(), a, b)
		if i != 1 || err != nil {
			t.Errorf("Select = %d, %v", i, err)
		}
		a.Fire()
		counts := [2]int{}
		for range 200 {
			i, _ := w.Select(context.Background(), a, b)
			counts[i]++
		}
		if counts[0] == 0 || counts[1] == 0 {
			t.Errorf("both fired, choice always the same: %v", counts)
		}
		ctx, cancel := w.WithDeadline(context.Background(), w.Now().Add(time.Millisecond))
		defer cancel()
		if i, err := w.Select(ctx, w.NewEvent()); i != -1 || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Select = %d, %v", i, err)
		}
		if i, err := w.Select(ctx); i != -1 || err == nil {
			t.Errorf("empty Select = %d, %v", i, err)
		}
	})
}

func TestMutexHeldAcrossWaits(t *testing.T) {
	var order []int
	mustRun(t, 11, func(w *World) {
		m := w.NewMutex()
		inside := 0
		for i := range 4 {
			w.Spawn("locker", func() {
				m.Lock()
				inside++
				if inside != 1 {
					t.Errorf("%d tasks inside the mutex", inside)
				}
				_ = w.Sleep(context.Background(), time.Millisecond)
				order = append(order, i)
				inside--
				m.Unlock()
			})
		}
	})
	if len(order) != 4 {
		t.Fatalf("order %v", order)
	}
}

func TestDeadlockReport(t *testing.T) {
	_, err := run(t, 42, Options{WaitSites: true}, func(w *World) {
		ev := w.NewEvent()
		w.Spawn("stuck-waiter", func() { _ = ev.Wait(context.Background()) })
		_ = ev.Wait(context.Background())
	})
	var f *Failure
	if !errors.As(err, &f) || f.Kind != FailDeadlock {
		t.Fatalf("got %v, want deadlock", err)
	}
	for _, want := range []string{"seed 42", "stuck-waiter", "(main) waits on event", "world_test.go"} {
		if !strings.Contains(f.Error(), want) {
			t.Errorf("report %q lacks %q", f.Error(), want)
		}
	}
}

func TestPanicFailsRunWithSeed(t *testing.T) {
	_, err := run(t, 77, Options{}, func(w *World) {
		w.Spawn("bystander", func() { _ = w.Sleep(context.Background(), time.Hour) })
		_ = w.Sleep(context.Background(), time.Second)
		panic("boom")
	})
	var f *Failure
	if !errors.As(err, &f) || f.Kind != FailPanic {
		t.Fatalf("got %v, want panic failure", err)
	}
	rep := f.Report()
	for _, want := range []string{"seed 77", "boom", "task 1 (main)", "world_test.go", "last trace events"} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %q:\n%s", want, rep)
		}
	}
}

func TestBudgets(t *testing.T) {
	spin := func(w *World) {
		for {
			_ = w.Sleep(context.Background(), time.Millisecond)
		}
	}
	_, err := run(t, 5, Options{MaxSteps: 100}, spin)
	var f *Failure
	if !errors.As(err, &f) || f.Kind != FailBudget || !strings.Contains(f.Error(), "seed 5") {
		t.Fatalf("step budget: got %v", err)
	}
	_, err = run(t, 6, Options{MaxTime: time.Second}, spin)
	if !errors.As(err, &f) || f.Kind != FailBudget || !strings.Contains(f.Error(), "time budget") {
		t.Fatalf("time budget: got %v", err)
	}
}

func TestStopTearsDownParkedTasks(t *testing.T) {
	deferred := 0
	w, err := run(t, 1, Options{}, func(w *World) {
		for range 10 {
			w.Spawn("forever", func() {
				defer func() { deferred++ }()
				_ = w.NewEvent().Wait(context.Background())
			})
		}
		_ = w.Sleep(context.Background(), time.Second)
		w.Stop()
	})
	if err != nil {
		t.Fatal(err)
	}
	if deferred != 10 {
		t.Fatalf("%d deferred calls ran during teardown, want 10", deferred)
	}
	if len(w.live) != 0 {
		t.Fatalf("%d tasks alive after teardown", len(w.live))
	}
}

func TestStallWatchdog(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	_, err := run(t, 3, Options{Stall: 100 * time.Millisecond}, func(w *World) {
		<-block // a wait the kernel cannot see
	})
	var f *Failure
	if !errors.As(err, &f) || f.Kind != FailStall {
		t.Fatalf("got %v, want stall", err)
	}
}

func TestMisuse(t *testing.T) {
	w := New(1, Options{})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
	if err := w.Run(); err == nil {
		t.Fatal("second Run succeeded")
	}
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("Sleep outside a task did not panic")
		}
	}()
	_ = New(1, Options{}).Sleep(context.Background(), time.Second)
}

func TestDeriveSeed(t *testing.T) {
	if DeriveSeed(1, "a") == DeriveSeed(1, "b") || DeriveSeed(1, "a") == DeriveSeed(2, "a") {
		t.Fatal("derived seeds collide")
	}
	if NewRand(3, "x").Uint64() != NewRand(3, "x").Uint64() {
		t.Fatal("NewRand not reproducible")
	}
}
