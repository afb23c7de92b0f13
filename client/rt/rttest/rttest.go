// Package rttest is a conformance suite for implementations of client/rt's
// Runtime: the production runtime and the simulator's run the same checks,
// so client code behaves alike on both.
package rttest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tikvsim/tikvsim/client/rt"
)

// Harness runs body inside a runtime (for the simulator: as the main task of a
// fresh world) and returns when body and every task it started have finished.
// Short is the shortest duration worth sleeping on that runtime.
type Harness struct {
	Run   func(t *testing.T, body func(r rt.Runtime))
	Short time.Duration
}

// Suite runs every conformance check as a subtest.
func Suite(t *testing.T, h Harness) {
	d := h.Short
	t.Run("SleepAndNow", func(t *testing.T) {
		h.Run(t, func(r rt.Runtime) {
			start := r.Now()
			if err := r.Sleep(context.Background(), d); err != nil {
				t.Error(err)
			}
			if el := rt.Since(r, start); el < d {
				t.Errorf("slept %v, want >= %v", el, d)
			}
		})
	})
	t.Run("SleepCancelled", func(t *testing.T) {
		h.Run(t, func(r rt.Runtime) {
			ctx, cancel := rt.WithTimeout(r, context.Background(), d)
			defer cancel()
			if err := r.Sleep(ctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("got %v, want DeadlineExceeded", err)
			}
			if err := rt.WaitContext(r, ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("WaitContext got %v", err)
			}
		})
	})
	t.Run("AfterFuncAndStop", func(t *testing.T) {
		h.Run(t, func(r rt.Runtime) {
			ev := r.NewEvent()
			r.AfterFunc(d, func() { ev.Fire() })
			stopped := r.AfterFunc(d, func() { t.Error("stopped timer ran") })
			if !stopped.Stop() {
				t.Error("Stop of a pending timer returned false")
			}
			if err := ev.Wait(context.Background()); err != nil {
				t.Error(err)
			}
			_ = r.Sleep(context.Background(), 2*d)
		})
	})
	t.Run("Future", func(t *testing.T) {
		h.Run(t, func(r rt.Runtime) {
			f := rt.NewFuture[int](r)
			r.Go("setter", func() {
				_ = r.Sleep(context.Background(), d)
				f.Set(7, nil)
			})
			if v, err := f.Wait(context.Background()); v != 7 || err != nil {
				t.Errorf("Wait = %d, %v", v, err)
			}
			if f.Set(8, nil) {
				t.Error("second Set succeeded")
			}
			if v, _, ok := f.TryGet(); !ok || v != 7 {
				t.Errorf("TryGet = %d, %v", v, ok)
			}
			g := rt.NewFuture[int](r)
			ctx, cancel := rt.WithTimeout(r, context.Background(), d)
			defer cancel()
			if _, err := g.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("unresolved Wait = %v", err)
			}
		})
	})
	t.Run("Group", func(t *testing.T) {
		h.Run(t, func(r rt.Runtime) {
			g := rt.NewGroup(r)
			if err := g.Wait(context.Background()); err != nil {
				t.Errorf("empty group: %v", err)
			}
			var mu sync.Mutex
			n := 0
			boom := errors.New("boom")
			for i := range 5 {
				g.Go("member", func() error {
					_ = r.Sleep(context.Background(), time.Duration(i)*d/4)
					mu.Lock()
					n++
					mu.Unlock()
					if i == 3 {
						return boom
					}
					return nil
				})
			}
			if err := g.Wait(context.Background()); !errors.Is(err, boom) {
				t.Errorf("Wait = %v, want boom", err)
			}
			if n != 5 {
				t.Errorf("%d members ran before Wait returned", n)
			}
		})
	})
	t.Run("Queue", func(t *testing.T) {
		h.Run(t, func(r rt.Runtime) {
			q := rt.NewQueue[int](r)
			const n = 100
			got := rt.NewFuture[[]int](r)
			r.Go("consumer", func() {
				var out []int
				for {
					v, err := q.Pop(context.Background())
					if errors.Is(err, rt.ErrClosed) {
						got.Set(out, nil)
						return
					}
					out = append(out, v)
				}
			})
			for i := range n {
				if err := q.Push(i); err != nil {
					t.Fatal(err)
				}
				if i%10 == 0 {
					_ = r.Sleep(context.Background(), d/10)
				}
			}
			q.Close()
			if q.Push(1) != rt.ErrClosed {
				t.Error("Push after Close succeeded")
			}
			out, _ := got.Wait(context.Background())
			if len(out) != n {
				t.Fatalf("consumer got %d items, want %d", len(out), n)
			}
			for i, v := range out {
				if v != i {
					t.Fatalf("item %d = %d: FIFO order broken", i, v)
				}
			}
			q2 := rt.NewQueue[int](r)
			ctx, cancel := rt.WithTimeout(r, context.Background(), d)
			defer cancel()
			if _, err := q2.Pop(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Pop on empty = %v", err)
			}
			_ = q2.Push(5)
			if v, ok := q2.TryPop(); !ok || v != 5 || q2.Len() != 0 {
				t.Errorf("TryPop = %d, %v", v, ok)
			}
		})
	})
	t.Run("MutexAcrossWaits", func(t *testing.T) {
		h.Run(t, func(r rt.Runtime) {
			m := r.NewMutex()
			g := rt.NewGroup(r)
			var inside, max int
			var mu sync.Mutex
			for range 4 {
				g.Go("locker", func() error {
					m.Lock()
					defer m.Unlock()
					mu.Lock()
					inside++
					max = maxInt(max, inside)
					mu.Unlock()
					_ = r.Sleep(context.Background(), d/4)
					mu.Lock()
					inside--
					mu.Unlock()
					return nil
				})
			}
			_ = g.Wait(context.Background())
			if max != 1 {
				t.Errorf("%d holders at once", max)
			}
		})
	})
	t.Run("Select", func(t *testing.T) {
		h.Run(t, func(r rt.Runtime) {
			for _, n := range []int{1, 2, 3, 5} {
				evs := make([]rt.Event, n)
				for i := range evs {
					evs[i] = r.NewEvent()
				}
				r.AfterFunc(d, func() { evs[n-1].Fire() })
				if i, err := r.Select(context.Background(), evs...); i != n-1 || err != nil {
					t.Errorf("Select(%d) = %d, %v", n, i, err)
				}
				ctx, cancel := rt.WithTimeout(r, context.Background(), d)
				if i, err := r.Select(ctx, evs[:n-1]...); i != -1 || !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Select(%d) with timeout = %d, %v", n-1, i, err)
				}
				cancel()
			}
		})
	})
	t.Run("Rand", func(t *testing.T) {
		h.Run(t, func(r rt.Runtime) {
			a, b := r.NewRand(), r.NewRand()
			if a.Uint64() == b.Uint64() && a.Uint64() == b.Uint64() {
				t.Error("two sources produced the same stream")
			}
		})
	})
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}
