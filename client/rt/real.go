package rt

// This file is the production runtime: the one place in client/ allowed to use
// the wall clock, bare goroutines, channel selects and the global PRNG (see the
// allow-list in internal/guard).

import (
	"context"
	"math/rand/v2"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
)

// Real is the production Runtime: wall clock and goroutines.
var Real Runtime = realRuntime{}

type realRuntime struct{}

func (realRuntime) Now() time.Time { return time.Now() }

func (realRuntime) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (realRuntime) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

func (realRuntime) WithDeadline(parent context.Context, deadline time.Time) (context.Context, context.CancelFunc) {
	return context.WithDeadline(parent, deadline)
}

func (realRuntime) Go(_ string, f func()) { go f() }

func (realRuntime) NewEvent() Event { return &realEvent{ch: make(chan struct{})} }

func (realRuntime) NewMutex() sync.Locker { return new(sync.Mutex) }

func (realRuntime) NewRand() *rand.Rand { return rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())) }

func (realRuntime) Select(ctx context.Context, evs ...Event) (int, error) {
	// Fast path: something has already fired.
	for i, e := range evs {
		if e.Fired() {
			return i, nil
		}
	}
	switch len(evs) {
	case 0:
		<-ctx.Done()
		return -1, ctx.Err()
	case 1:
		if err := evs[0].Wait(ctx); err != nil {
			return -1, err
		}
		return 0, nil
	case 2:
		a, b := evs[0].(*realEvent).ch, evs[1].(*realEvent).ch
		select {
		case <-a:
			return 0, nil
		case <-b:
			return 1, nil
		case <-ctx.Done():
			return selectFired(ctx, evs)
		}
	}
	cases := make([]reflect.SelectCase, len(evs)+1)
	for i, e := range evs {
		cases[i] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(e.(*realEvent).ch)}
	}
	cases[len(evs)] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())}
	i, _, _ := reflect.Select(cases)
	if i == len(evs) {
		return selectFired(ctx, evs)
	}
	return i, nil
}

// selectFired keeps the "a fired event wins over a done context" rule when the
// context and an event became ready together.
func selectFired(ctx context.Context, evs []Event) (int, error) {
	for i, e := range evs {
		if e.Fired() {
			return i, nil
		}
	}
	return -1, ctx.Err()
}

type realEvent struct {
	fired atomic.Bool
	ch    chan struct{}
}

func (e *realEvent) Fire() bool {
	if e.fired.CompareAndSwap(false, true) {
		close(e.ch)
		return true
	}
	return false
}

func (e *realEvent) Fired() bool { return e.fired.Load() }

func (e *realEvent) Wait(ctx context.Context) error {
	if e.fired.Load() {
		return nil
	}
	select {
	case <-e.ch:
		return nil
	case <-ctx.Done():
		if e.fired.Load() {
			return nil
		}
		return ctx.Err()
	}
}
