package sim

import (
	"context"
	"fmt"

	"github.com/tikvsim/tikvsim/internal/invariants"
)

type waiter struct {
	t   *Task
	gen uint64
	idx int
}

// Event is a one-shot broadcast signal whose waits the scheduler sees. It
// implements the client's rt.Event.
type Event struct {
	w       *World
	fired   bool
	waiters []waiter
}

// NewEvent returns an unfired Event.
func (w *World) NewEvent() *Event { return &Event{w: w} }

// Fire fires the event, making every waiter runnable in the order it started
// waiting, and reports whether this call fired it.
func (e *Event) Fire() bool {
	if e.fired {
		return false
	}
	e.fired = true
	for _, wt := range e.waiters {
		e.w.wake(wt.t, wt.gen, wt.idx, nil)
	}
	e.waiters = nil
	return true
}

// Fired reports whether the event has fired.
func (e *Event) Fired() bool { return e.fired }

// Wait parks the calling task until the event fires or ctx is done. A fired
// event wins over a done context.
func (e *Event) Wait(ctx context.Context) error {
	if e.fired {
		return nil
	}
	if err := ctxErr(ctx); err != nil {
		return err
	}
	t := e.w.current("Event.Wait")
	gen := t.beginPark()
	e.waiters = append(e.waiters, waiter{t, gen, 0})
	e.w.block(t, ctx, "event")
	if e.fired {
		return nil
	}
	e.remove(t)
	invariants.Assert(t.wakeErr != nil, "task %d woke from an unfired event without an error", t.id)
	return t.wakeErr
}

func (e *Event) remove(t *Task) {
	for i, wt := range e.waiters {
		if wt.t == t {
			e.waiters = append(e.waiters[:i], e.waiters[i+1:]...)
			return
		}
	}
}

// Select parks the calling task until one of evs fires or ctx is done, and
// returns the index of a fired event. When several have fired, the scheduler's
// PRNG chooses. With ctx done first it returns (-1, ctx.Err()).
func (w *World) Select(ctx context.Context, evs ...*Event) (int, error) {
	n := 0
	for _, e := range evs {
		if e.fired {
			n++
		}
	}
	if n > 0 {
		k := 0
		if n > 1 {
			k = w.rng.IntN(n)
		}
		for i, e := range evs {
			if e.fired {
				if k == 0 {
					return i, nil
				}
				k--
			}
		}
	}
	if err := ctxErr(ctx); err != nil {
		return -1, err
	}
	t := w.current("Select")
	if len(evs) == 0 {
		// Nothing can fire: wait for ctx alone.
		t.beginPark()
		w.block(t, ctx, "select{}")
		return -1, t.wakeErr
	}
	gen := t.beginPark()
	for i, e := range evs {
		e.waiters = append(e.waiters, waiter{t, gen, i})
	}
	w.block(t, ctx, fmt.Sprintf("select of %d events", len(evs)))
	for _, e := range evs {
		if !e.fired {
			e.remove(t)
		}
	}
	if t.woke >= 0 {
		return t.woke, nil
	}
	return -1, t.wakeErr
}

// Mutex is a mutual-exclusion lock that may be held while its owner waits.
// Waiters acquire it in FIFO order. It implements sync.Locker.
type Mutex struct {
	w       *World
	locked  bool
	waiters []waiter
}

// NewMutex returns an unlocked Mutex.
func (w *World) NewMutex() *Mutex { return &Mutex{w: w} }

// Lock acquires m, parking the calling task while another holds it.
func (m *Mutex) Lock() {
	if !m.locked {
		m.locked = true
		return
	}
	t := m.w.current("Mutex.Lock")
	gen := t.beginPark()
	m.waiters = append(m.waiters, waiter{t, gen, 0})
	m.w.block(t, nil, "mutex")
	// Unlock handed the lock over: m.locked stayed true for us.
	invariants.Assert(m.locked, "mutex handed to task %d while unlocked", t.id)
}

// TryLock acquires m if it is free and reports whether it did.
func (m *Mutex) TryLock() bool {
	if m.locked {
		return false
	}
	m.locked = true
	return true
}

// Unlock releases m, handing it to the oldest waiter if there is one.
func (m *Mutex) Unlock() {
	if !m.locked {
		panic("sim: unlock of unlocked Mutex")
	}
	for len(m.waiters) > 0 {
		wt := m.waiters[0]
		m.waiters = m.waiters[1:]
		if m.w.wake(wt.t, wt.gen, 0, nil) {
			return
		}
	}
	m.locked = false
}
