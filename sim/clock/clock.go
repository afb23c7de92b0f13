// Package clock is the simulated runtime handed to the client: it implements
// client/rt.Runtime on a sim.World, so the unmodified client runs on virtual
// time under the cooperative scheduler.
//
// Each node of a simulated cluster may get its own Runtime with a clock skew:
// Now is shifted by the skew, while sleeps, timers and deadlines keep measuring
// virtual durations, as a real machine's monotonic clock does.
package clock

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/sim"
)

// Runtime implements rt.Runtime on a sim.World.
type Runtime struct {
	w    *sim.World
	skew time.Duration
}

var _ rt.Runtime = (*Runtime)(nil)

// New returns the runtime of world w with no clock skew.
func New(w *sim.World) *Runtime { return &Runtime{w: w} }

// WithSkew returns a runtime on the same world whose Now reads skew ahead
// (negative: behind) of the world's virtual time.
func (r *Runtime) WithSkew(skew time.Duration) *Runtime { return &Runtime{w: r.w, skew: skew} }

// World returns the world the runtime runs on.
func (r *Runtime) World() *sim.World { return r.w }

// Now returns the virtual time plus the runtime's skew.
func (r *Runtime) Now() time.Time { return r.w.Now().Add(r.skew) }

// Sleep parks the calling task for d of virtual time or until ctx is done.
func (r *Runtime) Sleep(ctx context.Context, d time.Duration) error { return r.w.Sleep(ctx, d) }

// AfterFunc runs f in a new task once d of virtual time has passed.
func (r *Runtime) AfterFunc(d time.Duration, f func()) rt.Timer {
	return r.w.AfterFunc(d, func() { r.w.Spawn("afterfunc", f) })
}

// WithDeadline is context.WithDeadline on virtual time. The deadline is read
// on this runtime's (possibly skewed) clock.
func (r *Runtime) WithDeadline(parent context.Context, deadline time.Time) (context.Context, context.CancelFunc) {
	return r.w.WithDeadline(parent, deadline.Add(-r.skew))
}

// Go starts f as a new simulated task.
func (r *Runtime) Go(name string, f func()) { r.w.Spawn(name, f) }

// NewEvent returns a scheduler-visible event.
func (r *Runtime) NewEvent() rt.Event { return r.w.NewEvent() }

// NewMutex returns a mutex that may be held across waits.
func (r *Runtime) NewMutex() sync.Locker { return r.w.NewMutex() }

// Select waits for the first of evs, choosing among fired ones with the
// world's PRNG. Every event must come from this runtime.
func (r *Runtime) Select(ctx context.Context, evs ...rt.Event) (int, error) {
	var buf [4]*sim.Event
	ses := buf[:0]
	for _, e := range evs {
		se, ok := e.(*sim.Event)
		if !ok {
			panic("clock: Select over an event that does not come from the simulated runtime")
		}
		ses = append(ses, se)
	}
	return r.w.Select(ctx, ses...)
}

// NewRand returns a PRNG derived from the world's seed tree.
func (r *Runtime) NewRand() *rand.Rand { return r.w.NextRand() }
