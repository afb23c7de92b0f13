// Package rt is the contract between the client and the world it runs in: time,
// tasks, blocking primitives and randomness.
//
// Every piece of client code that sleeps, waits, starts a concurrent task or draws
// a random number does it through a Runtime. Production code uses Real, which maps
// each call onto the wall clock and goroutines at the cost of the plain standard
// library equivalent. The simulator (package sim/clock) implements the same
// interfaces on a virtual clock and a cooperative scheduler in which exactly one
// task runs at a time, so that one seed gives one execution.
//
// The rules that make client code deterministic under the simulator:
//
//   - Never read the wall clock or use time.Sleep, time.After, timers, tickers or
//     context.WithTimeout/WithDeadline: use Clock.
//   - Never start a bare goroutine: use Runtime.Go.
//   - Never block on a plain channel, sync.WaitGroup, sync.Cond or a select over
//     several channels: use Event, Future, Group, Queue, Mutex or Runtime.Select,
//     whose waits the scheduler sees. A sync.Mutex is fine for short critical
//     sections that never wait; use Runtime.NewMutex for one held across waits.
//   - Never use the global math/rand functions: use Runtime.NewRand.
//
// A guard test (package internal/guard) enforces these rules on the source.
package rt

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// Clock is the only source of time for client code.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep blocks the calling task for d, or until ctx is done, in which case
	// it returns ctx.Err().
	Sleep(ctx context.Context, d time.Duration) error
	// AfterFunc runs f in a new task once d has elapsed, unless the returned
	// Timer is stopped first.
	AfterFunc(d time.Duration, f func()) Timer
	// WithDeadline is context.WithDeadline on this clock: the returned context
	// is done when the clock reaches deadline, when cancel is called, or when
	// parent is done, whichever comes first. Its Err is
	// context.DeadlineExceeded after the deadline.
	WithDeadline(parent context.Context, deadline time.Time) (context.Context, context.CancelFunc)
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not started yet and reports whether it
	// did so.
	Stop() bool
}

// Event is a one-shot broadcast signal: once fired it stays fired, and every
// present and future Wait returns at once. It is the building block of the
// other primitives.
type Event interface {
	// Fire fires the event and reports whether this call was the one that did.
	Fire() bool
	// Fired reports whether the event has fired.
	Fired() bool
	// Wait blocks until the event fires or ctx is done. If both have happened
	// it returns nil: a fired event always wins.
	Wait(ctx context.Context) error
}

// Runtime is everything the client needs from its environment.
type Runtime interface {
	Clock
	// Go starts f as a new task. The name shows in simulator traces and
	// deadlock reports; keep it short and constant (no per-call formatting).
	Go(name string, f func())
	// NewEvent returns an unfired Event.
	NewEvent() Event
	// NewMutex returns a mutex that may be held while its owner waits
	// (sleeps, sends an RPC, waits for an event).
	NewMutex() sync.Locker
	// Select blocks until one of evs fires or ctx is done and returns the index
	// of a fired event. When several have fired the runtime chooses one (the
	// simulator with its seeded PRNG). Every element of evs must come from this
	// runtime's NewEvent. With ctx done and no event fired it returns
	// (-1, ctx.Err()).
	Select(ctx context.Context, evs ...Event) (int, error)
	// NewRand returns a new pseudo-random source, independent of every other
	// one. It is not safe for concurrent use.
	NewRand() *rand.Rand
}

// WithTimeout is context.WithTimeout on clock c.
func WithTimeout(c Clock, parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return c.WithDeadline(parent, c.Now().Add(d))
}

// Since returns the time elapsed on c since t.
func Since(c Clock, t time.Time) time.Duration { return c.Now().Sub(t) }

// WaitContext blocks until ctx is done and returns ctx.Err(). It is the
// runtime-visible replacement for `<-ctx.Done()`.
func WaitContext(r Runtime, ctx context.Context) error {
	return r.NewEvent().Wait(ctx)
}
