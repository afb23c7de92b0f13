package sim

// This file is allow-listed in internal/guard: it is the kernel's real-time
// mode, where virtual time follows the wall clock and foreign goroutines hand
// work to the world through Inject. Nothing here runs in a deterministic
// world (w.rt is nil there).

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tikvsim/tikvsim/internal/invariants"
)

// ErrWorldEnded is returned by Inject once the world has stopped running.
var ErrWorldEnded = errors.New("sim: the world is not running")

// realtime is the state of a real-time world.
type realtime struct {
	start   time.Time // wall clock (with its monotonic reading) at virtual time 0
	started bool      // RunRealtime was called
	ctx     context.Context
	timer   *time.Timer // the idle wait for the next timer, reused

	mu     sync.Mutex
	queue  []func()
	ended  bool
	notify chan struct{} // capacity 1: "the queue is not empty"
}

// NewRealtime returns a World in real-time mode: virtual time follows the
// wall clock, World.Now returns the wall-clock time, and goroutines outside
// the world hand it work with Inject. Only the interleaving of tasks is still
// chosen by the seeded PRNG; a real-time run is not reproducible. Run it with
// RunRealtime.
//
// In real-time mode the scheduler fires each timer once its instant has come
// on the wall clock (before picking a task), and when nothing is runnable the
// baton holder sleeps until the next timer is due or an injection arrives. A
// world with every task parked and no timer pending is idle, not deadlocked,
// and Options.Stall, MaxSteps and MaxTime are ignored. A context from
// outside the world is polled only at scheduling steps, so an idle world
// does not notice its cancellation: cancel world-made contexts through
// Inject instead.
func NewRealtime(seed uint64, opts Options) *World {
	w := New(seed, opts)
	now := time.Now()
	w.epoch = now.Round(0) // the wall reading alone: instants compare as wall times
	w.rt = &realtime{start: now, notify: make(chan struct{}, 1)}
	return w
}

// RunRealtime runs a real-time world until ctx is done (a clean stop: it
// returns nil), Stop is called, or a task panics (a *Failure). Tasks still
// parked at the end are torn down as in Run. Injections queued after the end
// are refused with ErrWorldEnded.
func (w *World) RunRealtime(ctx context.Context) error {
	if w.rt == nil {
		return &Failure{Seed: w.seed, Kind: FailUsage, Msg: "RunRealtime on a world made by New (use NewRealtime)"}
	}
	if w.rt.started {
		return &Failure{Seed: w.seed, Kind: FailUsage, Msg: "Run called twice"}
	}
	w.rt.started = true
	w.rt.ctx = ctx
	err := w.Run()
	w.rt.mu.Lock()
	w.rt.ended = true
	w.rt.queue = nil
	w.rt.mu.Unlock()
	if w.rt.timer != nil {
		w.rt.timer.Stop()
	}
	return err
}

// Inject queues fn to run inside a real-time world, as a timer callback at
// the current time does: fn must not block, and may spawn tasks, fire events
// and set timers. Injections run in the order they were queued. Inject is
// safe to call from any goroutine; it returns ErrWorldEnded when the world
// is not in real-time mode or has stopped (fn then never runs).
func (w *World) Inject(fn func()) error {
	rt := w.rt
	if rt == nil {
		return ErrWorldEnded
	}
	rt.mu.Lock()
	if rt.ended {
		rt.mu.Unlock()
		return ErrWorldEnded
	}
	rt.queue = append(rt.queue, fn)
	rt.mu.Unlock()
	select {
	case rt.notify <- struct{}{}:
	default:
	}
	return nil
}

// followWall moves virtual time up to the wall clock. Only the baton holder
// calls it.
func (w *World) followWall() {
	if e := time.Since(w.rt.start); e > w.now {
		w.now = e
	}
}

// realtimeStep is the real-time part of a scheduling step: time follows the
// wall clock, a done context stops the world, queued injections run, then
// every timer whose instant has come fires.
func (w *World) realtimeStep() {
	w.followWall()
	if w.rt.ctx.Err() != nil {
		w.stopped = true
		return
	}
	w.runInjections()
	for len(w.timers) > 0 && w.timers[0].when <= w.now {
		w.fireTimer()
	}
}

func (w *World) runInjections() {
	rt := w.rt
	rt.mu.Lock()
	q := rt.queue
	rt.queue = nil
	rt.mu.Unlock()
	for _, fn := range q {
		w.trace.add(TraceEvent{Step: w.steps, Time: w.now, Kind: KindLog, Name: "inject"})
		fn()
	}
}

// fireTimer pops and runs the earliest timer, which is due.
func (w *World) fireTimer() {
	tm := w.timers[0]
	invariants.Assert(tm.when <= w.now, "real-time timer at %v fired early (now %v)", tm.when, w.now)
	heap.Pop(&w.timers)
	w.trace.add(TraceEvent{Step: w.steps, Time: w.now, Kind: KindTimer, Arg: tm.seq})
	tm.fn()
}

// realtimeIdle waits, with nothing runnable, until the next timer is due on
// the wall clock, an injection arrives, or the run's context is done.
func (w *World) realtimeIdle() {
	rt := w.rt
	var due <-chan time.Time
	if len(w.timers) > 0 {
		d := w.timers[0].when - time.Since(rt.start)
		if d <= 0 {
			return
		}
		if rt.timer == nil {
			rt.timer = time.NewTimer(d)
		} else {
			rt.timer.Reset(d)
		}
		due = rt.timer.C
		defer rt.timer.Stop()
	}
	select {
	case <-due:
	case <-rt.notify:
	case <-rt.ctx.Done():
	}
}
