package sim

import (
	"context"
	"reflect"
	"sync"
	"time"
)

// WithDeadline is context.WithDeadline on virtual time. Cancellation of a
// parent made by WithDeadline, or by context.WithCancel below one, reaches the
// child synchronously; cancellation of any other parent is seen at the next
// scheduling step (see pollContexts). Both are deterministic.
func (w *World) WithDeadline(parent context.Context, deadline time.Time) (context.Context, context.CancelFunc) {
	if parent == nil {
		parent = context.Background()
	}
	c := &deadlineCtx{w: w, parent: parent, deadline: deadline, done: make(chan struct{}), watchIdx: -1}
	if pd, ok := parent.Deadline(); ok && !pd.After(deadline) {
		// The parent expires first; it will cancel us.
		c.deadline = pd
	} else if d := deadline.Sub(w.Now()); d <= 0 {
		c.cancel(context.DeadlineExceeded, true)
		return c, func() { c.cancel(context.Canceled, true) }
	} else {
		c.timer = w.AfterFunc(d, func() { c.cancel(context.DeadlineExceeded, true) })
	}
	switch p := parent.(type) {
	case *deadlineCtx:
		c.stopParent = p.AfterFunc(func() { c.cancel(p.Err(), false) })
	default:
		if parent.Done() == nil {
			break
		}
		if err := parent.Err(); err != nil {
			c.cancel(err, true)
			break
		}
		c.watchIdx = len(w.watched)
		w.watched = append(w.watched, c)
	}
	return c, func() { c.cancel(context.Canceled, true) }
}

// deadlineCtx is the context of WithDeadline. It implements the AfterFunc
// method that the context package uses to attach children without a
// goroutine, so context.WithCancel(c) stays deterministic.
type deadlineCtx struct {
	w          *World
	parent     context.Context
	deadline   time.Time
	done       chan struct{}
	timer      *Timer
	watchIdx   int
	stopParent func() bool

	mu     sync.Mutex
	err    error
	funcs  []ctxFunc // registration order
	nextFn int
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }
func (c *deadlineCtx) Done() <-chan struct{}       { return c.done }

func (c *deadlineCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Value delegates to the parent, except for the context package's private
// cancelCtx key: answering it with an ancestor's cancelCtx would make
// context.Cause report the ancestor's cause instead of ours.
func (c *deadlineCtx) Value(key any) any {
	v := c.parent.Value(key)
	if _, ok := key.(*int); ok && v != nil && reflect.TypeOf(v).String() == "*context.cancelCtx" {
		return nil
	}
	return v
}

// AfterFunc registers f to run synchronously when c is cancelled.
func (c *deadlineCtx) AfterFunc(f func()) func() bool {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		f()
		return func() bool { return false }
	}
	c.nextFn++
	id := c.nextFn
	c.funcs = append(c.funcs, ctxFunc{id, f})
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, cf := range c.funcs {
			if cf.id == id {
				c.funcs = append(c.funcs[:i], c.funcs[i+1:]...)
				return true
			}
		}
		return false
	}
}

func (c *deadlineCtx) cancel(err error, detach bool) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	close(c.done)
	fs := c.funcs
	c.funcs = nil
	c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.watchIdx >= 0 {
		w := c.w
		last := len(w.watched) - 1
		moved := w.watched[last]
		w.watched[c.watchIdx] = moved
		moved.watchIdx = c.watchIdx
		w.watched[last] = nil
		w.watched = w.watched[:last]
		c.watchIdx = -1
	}
	if detach && c.stopParent != nil {
		c.stopParent()
	}
	for _, cf := range fs {
		cf.f()
	}
}

type ctxFunc struct {
	id int
	f  func()
}
