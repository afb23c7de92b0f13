package rt

import (
	"context"
	"errors"
	"sync"
)

// ErrClosed is returned by Queue operations after Close.
var ErrClosed = errors.New("rt: queue closed")

// Future is a value that becomes available once. Any number of tasks may wait
// for it.
type Future[T any] struct {
	ev  Event
	mu  sync.Mutex
	set bool
	val T
	err error
}

// NewFuture returns an unresolved Future on runtime r.
func NewFuture[T any](r Runtime) *Future[T] { return &Future[T]{ev: r.NewEvent()} }

// Set resolves the future with (v, err) and reports whether this call did so;
// later calls are ignored.
func (f *Future[T]) Set(v T, err error) bool {
	f.mu.Lock()
	if f.set {
		f.mu.Unlock()
		return false
	}
	f.set, f.val, f.err = true, v, err
	f.mu.Unlock()
	f.ev.Fire()
	return true
}

// Wait blocks until the future is resolved or ctx is done.
func (f *Future[T]) Wait(ctx context.Context) (T, error) {
	if err := f.ev.Wait(ctx); err != nil {
		var zero T
		return zero, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.val, f.err
}

// Done returns the event fired when the future resolves, for Runtime.Select.
func (f *Future[T]) Done() Event { return f.ev }

// TryGet returns the value and true when the future is resolved.
func (f *Future[T]) TryGet() (T, error, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.val, f.err, f.set
}

// Group runs tasks and waits for all of them, like errgroup.Group: Wait returns
// the first non-nil error any of them returned. A Group may be reused after
// Wait returns.
type Group struct {
	r       Runtime
	mu      sync.Mutex
	pending int
	idle    Event // fired when pending drops to zero; nil while pending == 0
	err     error
}

// NewGroup returns an empty Group on runtime r.
func NewGroup(r Runtime) *Group { return &Group{r: r} }

// Go starts f as a new task named name, counted by the group.
func (g *Group) Go(name string, f func() error) {
	g.mu.Lock()
	if g.pending == 0 {
		g.idle = g.r.NewEvent()
	}
	g.pending++
	g.mu.Unlock()
	g.r.Go(name, func() {
		err := f()
		g.mu.Lock()
		if err != nil && g.err == nil {
			g.err = err
		}
		g.pending--
		var idle Event
		if g.pending == 0 {
			idle, g.idle = g.idle, nil
		}
		g.mu.Unlock()
		if idle != nil {
			idle.Fire()
		}
	})
}

// Wait blocks until every task started with Go has returned (or ctx is done)
// and returns the first error they returned.
func (g *Group) Wait(ctx context.Context) error {
	g.mu.Lock()
	idle := g.idle
	g.mu.Unlock()
	if idle != nil {
		if err := idle.Wait(ctx); err != nil {
			return err
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// Queue is an unbounded FIFO queue with close, the runtime-visible replacement
// for a channel between tasks. Any number of tasks may push and pop.
type Queue[T any] struct {
	r       Runtime
	mu      sync.Mutex
	items   []T
	head    int
	closed  bool
	waiters []Event // blocked poppers, oldest first
}

// NewQueue returns an empty open Queue on runtime r.
func NewQueue[T any](r Runtime) *Queue[T] { return &Queue[T]{r: r} }

// Push appends v and wakes the oldest blocked popper. It returns ErrClosed
// after Close.
func (q *Queue[T]) Push(v T) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	q.items = append(q.items, v)
	w := q.popWaiterLocked()
	q.mu.Unlock()
	if w != nil {
		w.Fire()
	}
	return nil
}

// Pop removes and returns the oldest item, blocking while the queue is empty.
// Once the queue is closed and drained it returns ErrClosed; when ctx is done
// first it returns ctx.Err().
func (q *Queue[T]) Pop(ctx context.Context) (T, error) {
	for {
		q.mu.Lock()
		if v, ok := q.takeLocked(); ok {
			// Items left and poppers waiting: pass the wake-up on, since
			// the Push that woke us may have woken only us.
			var w Event
			if q.head < len(q.items) {
				w = q.popWaiterLocked()
			}
			q.mu.Unlock()
			if w != nil {
				w.Fire()
			}
			return v, nil
		}
		if q.closed {
			q.mu.Unlock()
			var zero T
			return zero, ErrClosed
		}
		ev := q.r.NewEvent()
		q.waiters = append(q.waiters, ev)
		q.mu.Unlock()
		if err := ev.Wait(ctx); err != nil {
			q.mu.Lock()
			q.removeWaiterLocked(ev)
			q.mu.Unlock()
			var zero T
			return zero, err
		}
	}
}

// TryPop removes and returns the oldest item without blocking.
func (q *Queue[T]) TryPop() (T, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.takeLocked()
}

// Len returns the number of queued items.
func (q *Queue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head
}

// Close closes the queue: Push fails from now on, and Pop drains what is left
// and then returns ErrClosed. Close is idempotent.
func (q *Queue[T]) Close() {
	q.mu.Lock()
	q.closed = true
	ws := q.waiters
	q.waiters = nil
	q.mu.Unlock()
	for _, w := range ws {
		w.Fire()
	}
}

func (q *Queue[T]) takeLocked() (T, bool) {
	var zero T
	if q.head == len(q.items) {
		return zero, false
	}
	v := q.items[q.head]
	q.items[q.head] = zero
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head > 64 && q.head*2 > len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	return v, true
}

func (q *Queue[T]) popWaiterLocked() Event {
	if len(q.waiters) == 0 {
		return nil
	}
	w := q.waiters[0]
	q.waiters[0] = nil
	q.waiters = q.waiters[1:]
	return w
}

func (q *Queue[T]) removeWaiterLocked(ev Event) {
	for i, w := range q.waiters {
		if w == ev {
			q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
			return
		}
	}
	// Not found: a Push fired us after ctx was done; hand the wake-up on.
	if q.head < len(q.items) || q.closed {
		if w := q.popWaiterLocked(); w != nil {
			w.Fire()
		}
	}
}
