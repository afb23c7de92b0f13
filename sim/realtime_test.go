package sim

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestRealtimeSleepFollowsWallClock: a Sleep lasts its duration of wall
// time, and Now reads the wall clock.
func TestRealtimeSleepFollowsWallClock(t *testing.T) {
	w := NewRealtime(1, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	var slept, skew time.Duration
	w.Spawn("sleeper", func() {
		start := time.Now()
		if err := w.Sleep(context.Background(), 30*time.Millisecond); err != nil {
			t.Errorf("sleep: %v", err)
		}
		slept = time.Since(start)
		skew = time.Since(w.Now())
		cancel()
	})
	if err := w.RunRealtime(ctx); err != nil {
		t.Fatal(err)
	}
	if slept < 30*time.Millisecond || slept > 2*time.Second {
		t.Errorf("a 30ms sleep took %v of wall time", slept)
	}
	if skew < -50*time.Millisecond || skew > 50*time.Millisecond {
		t.Errorf("World.Now is %v away from the wall clock", skew)
	}
}

// TestRealtimeInject: an idle world (tasks parked, no timer) is not a
// deadlock; injected work from other goroutines runs inside it in order,
// may spawn tasks and wake parked ones; a done context stops the world and
// tears the parked tasks down; later injections are refused.
func TestRealtimeInject(t *testing.T) {
	w := NewRealtime(1, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	ev := w.NewEvent()
	woke := make(chan struct{})
	w.Spawn("parked", func() {
		if err := ev.Wait(context.Background()); err != nil {
			t.Errorf("wait: %v", err)
		}
		close(woke)
		_ = w.NewEvent().Wait(context.Background()) // parked forever
	})
	done := make(chan error, 1)
	go func() { done <- w.RunRealtime(ctx) }()

	time.Sleep(20 * time.Millisecond) // idle: nothing runnable, no timer
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		if err := w.Inject(func() {
			w.Spawn("injected", func() {
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				wg.Done()
			})
		}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if len(order) != 20 {
		t.Fatalf("ran %d injected tasks, want 20", len(order))
	}
	if err := w.Inject(func() { ev.Fire() }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-woke:
	case <-time.After(5 * time.Second):
		t.Fatal("an injected Fire did not wake the parked task")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunRealtime: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("RunRealtime did not return after its context was cancelled")
	}
	if err := w.Inject(func() {}); !errors.Is(err, ErrWorldEnded) {
		t.Errorf("Inject after the end = %v, want ErrWorldEnded", err)
	}
}

// TestRealtimeTimersFireWhileBusy: due timers fire even while tasks keep
// yielding, so a busy world does not starve its timers.
func TestRealtimeTimersFireWhileBusy(t *testing.T) {
	w := NewRealtime(1, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	fired := false
	w.AfterFunc(10*time.Millisecond, func() { fired = true })
	w.Spawn("spinner", func() {
		for !fired {
			w.Yield()
		}
		cancel()
	})
	if err := w.RunRealtime(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestRealtimeUsage: the two modes do not mix.
func TestRealtimeUsage(t *testing.T) {
	if err := New(1, Options{}).RunRealtime(context.Background()); err == nil {
		t.Error("RunRealtime on a deterministic world succeeded")
	}
	if err := NewRealtime(1, Options{}).Run(); err == nil {
		t.Error("Run on a real-time world succeeded")
	}
	if err := New(1, Options{}).Inject(func() {}); !errors.Is(err, ErrWorldEnded) {
		t.Errorf("Inject on a deterministic world = %v", err)
	}
}

// TestRealtimeDeadlineWakesWaiter: a context deadline that expires in an
// otherwise idle world wakes the task waiting on it at once (the expired
// timer's cancellation is polled before the world goes idle again).
func TestRealtimeDeadlineWakesWaiter(t *testing.T) {
	w := NewRealtime(1, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var err error
	var took time.Duration
	w.Spawn("waiter", func() {
		start := time.Now()
		dctx, stop := w.WithDeadline(context.Background(), w.Now().Add(20*time.Millisecond))
		defer stop()
		err = w.NewEvent().Wait(dctx)
		took = time.Since(start)
		cancel()
	})
	done := make(chan error, 1)
	go func() { done <- w.RunRealtime(ctx) }()
	select {
	case rerr := <-done:
		if rerr != nil {
			t.Fatal(rerr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("an expired deadline did not wake its waiter")
	}
	if !errors.Is(err, context.DeadlineExceeded) || took < 20*time.Millisecond {
		t.Errorf("wait = %v after %v, want DeadlineExceeded after 20ms", err, took)
	}
}
