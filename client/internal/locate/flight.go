package locate

import (
	"context"
	"errors"
	"sync"

	"github.com/tikvsim/tikvsim/client/rt"
)

// flightGroup collapses concurrent calls with the same key into one, like
// golang.org/x/sync/singleflight, but its waiters park on an rt.Future so the
// simulator's scheduler sees the wait.
type flightGroup[T any] struct {
	r  rt.Runtime
	mu sync.Mutex
	m  map[string]*rt.Future[T]
}

func newFlightGroup[T any](r rt.Runtime) *flightGroup[T] {
	return &flightGroup[T]{r: r, m: map[string]*rt.Future[T]{}}
}

// do runs fn unless a call with key is in flight, in which case it waits for
// that call's result. When the call in flight fails only because its own
// context ended while ctx is still live, the waiter runs the call itself.
func (g *flightGroup[T]) do(ctx context.Context, key string, fn func() (T, error)) (T, error) {
	for {
		g.mu.Lock()
		if f, ok := g.m[key]; ok {
			g.mu.Unlock()
			v, err := f.Wait(ctx)
			if err != nil && isContextErr(err) && ctx.Err() == nil {
				continue
			}
			return v, err
		}
		f := rt.NewFuture[T](g.r)
		g.m[key] = f
		g.mu.Unlock()

		v, err := g.run(key, f, fn)
		return v, err
	}
}

func (g *flightGroup[T]) run(key string, f *rt.Future[T], fn func() (T, error)) (v T, err error) {
	defer func() {
		g.mu.Lock()
		delete(g.m, key)
		g.mu.Unlock()
		if r := recover(); r != nil {
			f.Set(v, errors.New("locate: load panicked"))
			panic(r)
		}
		f.Set(v, err)
	}()
	return fn()
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
