package latch

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
)

// inSim runs body as the main task of a fresh simulated world.
func inSim(t *testing.T, seed uint64, body func(w *sim.World, r rt.Runtime)) {
	t.Helper()
	w := sim.New(seed, sim.Options{MaxTime: time.Hour})
	r := clock.New(w)
	w.Spawn("main", func() { body(w, r) })
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
}

func keys(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// TestWakeUp ports client-go latch_test.go TestWakeUp: B waits for A on a
// shared key; A commits after B started, so B wakes up stale; a restarted B
// (new start ts) gets every latch.
func TestWakeUp(t *testing.T) {
	inSim(t, 1, func(w *sim.World, r rt.Runtime) {
		ls := New(r, 256)
		ctx := context.Background()
		a, err := ls.Lock(ctx, 1, keys("a", "b", "c"))
		if err != nil || a.IsStale() {
			t.Fatalf("A: %v stale=%v", err, a.IsStale())
		}
		got := rt.NewFuture[*Lock](r)
		r.Go("B", func() {
			b, err := ls.Lock(ctx, 2, keys("d", "e", "a", "c"))
			if err != nil {
				t.Error(err)
			}
			got.Set(b, err)
		})
		_ = r.Sleep(ctx, time.Millisecond)
		if got.Done().Fired() {
			t.Fatal("B got the latches while A held a shared key")
		}
		a.SetCommitTS(3)
		ls.Unlock(a)
		b, _ := got.Wait(ctx)
		if !b.IsStale() {
			t.Fatal("B, started before A's commit, was not stale")
		}
		ls.Unlock(b)
		b2, err := ls.Lock(ctx, 4, keys("d", "e", "a", "c"))
		if err != nil || b2.IsStale() {
			t.Fatalf("restarted B: %v stale=%v", err, b2.IsStale())
		}
		ls.Unlock(b2)
	})
}

// TestFirstAcquireFailedWithStale ports client-go's test of that name: a
// transaction that started before a committed one on the same keys is
// stale at once, without waiting.
func TestFirstAcquireFailedWithStale(t *testing.T) {
	inSim(t, 1, func(w *sim.World, r rt.Runtime) {
		ls := New(r, 256)
		ctx := context.Background()
		a, _ := ls.Lock(ctx, 1, keys("a", "b", "c"))
		a.SetCommitTS(3)
		ls.Unlock(a)
		b, err := ls.Lock(ctx, 2, keys("a", "b", "c"))
		if err != nil || !b.IsStale() {
			t.Fatalf("B: %v stale=%v, want stale", err, b.IsStale())
		}
		ls.Unlock(b)
	})
}

// TestWaiterAfterCommitIsNotStale: a waiter that started after the
// holder's commit ts gets the latch normally.
func TestWaiterAfterCommitIsNotStale(t *testing.T) {
	inSim(t, 1, func(w *sim.World, r rt.Runtime) {
		ls := New(r, 16)
		ctx := context.Background()
		a, _ := ls.Lock(ctx, 1, keys("k"))
		got := rt.NewFuture[*Lock](r)
		r.Go("B", func() { got.Set(ls.Lock(ctx, 5, keys("k"))) })
		_ = r.Sleep(ctx, time.Millisecond)
		a.SetCommitTS(3)
		ls.Unlock(a)
		b, err := got.Wait(ctx)
		if err != nil || b.IsStale() {
			t.Fatalf("B: %v stale=%v", err, b.IsStale())
		}
		ls.Unlock(b)
	})
}

// TestRecycle ports client-go's TestRecycle: free nodes older than
// expireDuration are dropped once a slot fills up.
func TestRecycle(t *testing.T) {
	inSim(t, 1, func(w *sim.World, r rt.Runtime) {
		ls := New(r, 1) // one slot: every key shares it
		ctx := context.Background()
		start := uint64(1000) << physicalShift
		for i := range listCount {
			l, _ := ls.Lock(ctx, start, keys(fmt.Sprint("k", i)))
			l.SetCommitTS(start + 1)
			ls.Unlock(l)
		}
		if n := len(ls.slots[0].nodes); n != listCount {
			t.Fatalf("%d nodes, want %d", n, listCount)
		}
		// Not yet expired: kept.
		l, _ := ls.Lock(ctx, start+10, keys("x"))
		ls.Unlock(l)
		if n := len(ls.slots[0].nodes); n != listCount+1 {
			t.Fatalf("%d nodes before expiry, want %d", n, listCount+1)
		}
		later := start + uint64(expireDuration/time.Millisecond)<<physicalShift + 2
		l, _ = ls.Lock(ctx, later, keys("y"))
		if n := len(ls.slots[0].nodes); n != 1 {
			t.Fatalf("%d nodes after expiry, want only y's", n)
		}
		ls.Unlock(l)
	})
}

// TestCancelledWaitReleases: a waiter whose ctx ends returns the ctx error
// holding nothing, and the keys it held before waiting are free again.
func TestCancelledWaitReleases(t *testing.T) {
	inSim(t, 1, func(w *sim.World, r rt.Runtime) {
		ls := New(r, 64)
		ctx := context.Background()
		a, _ := ls.Lock(ctx, 1, keys("b"))
		cctx, cancel := rt.WithTimeout(r, ctx, 10*time.Millisecond)
		defer cancel()
		if _, err := ls.Lock(cctx, 2, keys("a", "b")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("cancelled wait = %v", err)
		}
		c, err := ls.Lock(ctx, 3, keys("a"))
		if err != nil || c.IsStale() {
			t.Fatalf("key a after the cancelled wait: %v stale=%v", err, c.IsStale())
		}
		ls.Unlock(c)
		ls.Unlock(a)
		for i := range ls.slots {
			if len(ls.slots[i].waiting) != 0 {
				t.Fatal("cancelled waiter still queued")
			}
		}
	})
}

// TestWithConcurrency ports client-go scheduler_test.go TestWithConcurrency
// as a property over many seeds: ten tasks lock random key sets; no key
// ever has two holders, a non-stale lock never meets a commit newer than
// its start ts on its keys, a stale one always does, and every lock
// eventually returns.
func TestWithConcurrency(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		inSim(t, seed, func(w *sim.World, r rt.Runtime) {
			ls := New(r, 7)
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(seed, 0))
			var tso uint64
			holder := map[string]uint64{}     // key -> start ts of holder
			lastCommit := map[string]uint64{} // key -> newest commit ts released
			g := rt.NewGroup(r)
			done := 0
			for worker := range 10 {
				g.Go(fmt.Sprint("w", worker), func() error {
					for range 40 {
						var ks []string
						for _, chance := range []int{100, 60, 40, 20} {
							if k := string(rune('a' + rng.IntN(8))); rng.IntN(100) < chance && !slices.Contains(ks, k) {
								ks = append(ks, k)
							}
						}
						tso++
						start := tso
						l, err := ls.Lock(ctx, start, keys(ks...))
						if err != nil {
							return err
						}
						newer := false
						for _, k := range ks {
							newer = newer || lastCommit[k] > start
						}
						if l.IsStale() != newer {
							ls.Unlock(l) // let the others finish
							return fmt.Errorf("txn %d on %v: stale=%v, newer commit=%v", start, ks, l.IsStale(), newer)
						}
						if !l.IsStale() {
							for _, k := range ks {
								if h, ok := holder[k]; ok {
									ls.Unlock(l)
									return fmt.Errorf("key %s held by %d and %d", k, h, start)
								}
								holder[k] = start
							}
							_ = r.Sleep(ctx, time.Duration(rng.IntN(3))*time.Millisecond)
							tso++
							l.SetCommitTS(tso)
							for _, k := range ks {
								delete(holder, k)
								lastCommit[k] = max(lastCommit[k], tso)
							}
						}
						ls.Unlock(l)
						done++
					}
					return nil
				})
			}
			if err := g.Wait(ctx); err != nil {
				t.Errorf("seed %d: %v", seed, err)
			}
			if done != 400 {
				t.Errorf("seed %d: %d locks returned, want 400", seed, done)
			}
		})
	}
}
