// Package rangetask runs work over a key range region by region (client-go
// txnkv/rangetask): Runner cuts [start, end) at region boundaries into tasks
// of a few regions each and runs a handler on every task with bounded
// concurrency; DeleteRangeTask is such a task that sends DeleteRange to every
// region of a range.
//
// All concurrency goes through the client's runtime (rt.Group, rt.Queue):
// the package starts no bare goroutine, reads no wall clock and waits on
// nothing the simulator cannot see, so a run under the simulator is a
// function of its seed.
package rangetask

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/tikvsim/tikvsim/client/config/retry"
	"github.com/tikvsim/tikvsim/client/internal/sender"
	"github.com/tikvsim/tikvsim/client/rt"
)

const (
	// DefaultRegionsPerTask is how many regions one task covers unless
	// SetRegionsPerTask says otherwise (client-go defaultRegionsPerTask).
	DefaultRegionsPerTask = 128
	// locateRegionMaxBackoff is the backoff budget, in ms, of locating one
	// task's regions (client-go locateRegionMaxBackoff).
	locateRegionMaxBackoff = 20000
)

// Store is what a range task needs from a client: its runtime, for tasks
// and backoff sleeps, and its request sender, whose region cache cuts the
// range and which sends the requests. *txnkv.Client implements it.
type Store interface {
	// Runtime returns the client's runtime.
	Runtime() rt.Runtime
	// Sender returns the client's request sender.
	Sender() *sender.Sender
}

// KeyRange is the key range [StartKey, EndKey); an empty EndKey is +inf.
type KeyRange struct {
	StartKey []byte
	EndKey   []byte
}

// String formats the range with its keys quoted.
func (r KeyRange) String() string { return fmt.Sprintf("[%q, %q)", r.StartKey, r.EndKey) }

// TaskStat counts the regions a task completed or failed.
type TaskStat struct {
	CompletedRegions int
	FailedRegions    int
}

// TaskHandler processes one task's range and counts the regions it
// completed or failed. An error stops the whole run: the runner cancels the
// other tasks and RunOnRange returns it, wrapped in an *Error. The handler
// must return when ctx is done.
type TaskHandler = func(ctx context.Context, r KeyRange) (TaskStat, error)

// Error is a range task that failed: the runner's name, the range of the task
// whose handler failed first (or the whole range when locating regions
// failed), and the cause.
type Error struct {
	// Runner is the runner's name.
	Runner string
	// Range is the failed task's range.
	Range KeyRange
	// Err is the cause.
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("rangetask %s: task %v: %v", e.Runner, e.Range, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Runner cuts a key range into tasks at region boundaries and runs a handler
// on each task, at most concurrency at a time (client-go
// rangetask.RangeTaskRunner). Because regions split and merge while it runs,
// two tasks may end up in one region, or one task may span several: the
// handler must locate its regions itself.
//
// A Runner runs one range at a time; its counters describe the last run.
type Runner struct {
	name           string
	store          Store
	concurrency    int
	handler        TaskHandler
	regionsPerTask int

	completedRegions atomic.Int64
	failedRegions    atomic.Int64
}

// NewRunner returns a runner called name (it appears in errors) running
// handler on store's regions with at most concurrency tasks at a time
// (at least 1) (client-go NewRangeTaskRunner).
func NewRunner(name string, store Store, concurrency int, handler TaskHandler) *Runner {
	return &Runner{name: name, store: store, concurrency: max(1, concurrency), handler: handler,
		regionsPerTask: DefaultRegionsPerTask}
}

// SetRegionsPerTask sets how many regions one task covers, at least 1.
// Regions split and merge, so a task may cover a few more or fewer.
func (r *Runner) SetRegionsPerTask(n int) {
	if n < 1 {
		panic("rangetask: regionsPerTask must be at least 1")
	}
	r.regionsPerTask = n
}

// CompletedRegions returns the regions completed in the current or last
// run, as the handlers counted them.
func (r *Runner) CompletedRegions() int { return int(r.completedRegions.Load()) }

// FailedRegions returns the regions failed in the current or last run, as
// the handlers counted them.
func (r *Runner) FailedRegions() int { return int(r.failedRegions.Load()) }

// NewLocateRegionBackoffer returns the backoffer for locating a task's
// regions (client-go NewLocateRegionBackoffer).
func NewLocateRegionBackoffer(ctx context.Context, store Store) *retry.Backoffer {
	return retry.NewBackoffer(ctx, locateRegionMaxBackoff, store.Sender().BackoffEnv(store.Runtime()))
}

// RunOnRange runs the handler on [startKey, endKey); an empty key is
// unbounded. An empty range (endKey set and not above startKey) runs
// nothing. It returns once every task started has returned: nil when all
// succeeded, else an *Error for the first failure, after which no new task
// starts and the running ones see their context cancelled. Nothing is
// retried here: a handler's own retries are its business.
//
// The counters are reset at the start and count what the handlers reported.
func (r *Runner) RunOnRange(ctx context.Context, startKey, endKey []byte) error {
	r.completedRegions.Store(0)
	r.failedRegions.Store(0)
	if len(endKey) != 0 && bytes.Compare(startKey, endKey) >= 0 {
		return nil
	}
	rtm := r.store.Runtime()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}

	// tasks carries the ranges to the workers; slots bounds how many are
	// queued but not yet taken to concurrency, as client-go's task channel
	// buffer does, so locating regions keeps only a little ahead of the
	// work.
	tasks := rt.NewQueue[KeyRange](rtm)
	slots := rt.NewQueue[struct{}](rtm)
	for range r.concurrency {
		_ = slots.Push(struct{}{})
	}
	g := rt.NewGroup(rtm)
	for range r.concurrency {
		g.Go("rangetask-worker", func() error {
			for {
				task, err := tasks.Pop(ctx)
				if err != nil {
					return nil // closed and drained, or cancelled
				}
				_ = slots.Push(struct{}{})
				if ctx.Err() != nil {
					continue // drain without running: the run is failing
				}
				stat, err := r.handler(ctx, task)
				r.completedRegions.Add(int64(stat.CompletedRegions))
				r.failedRegions.Add(int64(stat.FailedRegions))
				if err != nil {
					fail(&Error{Runner: r.name, Range: task, Err: err})
				}
			}
		})
	}

	key := startKey
	for {
		if _, err := slots.Pop(ctx); err != nil {
			break // cancelled by a failed task
		}
		bo := NewLocateRegionBackoffer(ctx, r.store)
		regionsEnd, err := r.store.Sender().Cache().BatchLoadRegionsFromKey(ctx, sender.PDBackoffer{Bo: bo}, key, r.regionsPerTask)
		if err != nil {
			if ctx.Err() == nil || !errors.Is(err, ctx.Err()) {
				fail(&Error{Runner: r.name, Range: KeyRange{StartKey: key, EndKey: endKey}, Err: fmt.Errorf("locate regions: %w", err)})
			}
			break
		}
		task := KeyRange{StartKey: key, EndKey: regionsEnd}
		last := len(regionsEnd) == 0 || (len(endKey) > 0 && bytes.Compare(regionsEnd, endKey) >= 0)
		if last {
			task.EndKey = endKey
		}
		_ = tasks.Push(task)
		if last {
			break
		}
		key = regionsEnd
	}
	tasks.Close()
	_ = g.Wait(context.Background())
	mu.Lock()
	defer mu.Unlock()
	if firstErr == nil && ctx.Err() != nil {
		// The caller's context ended the run (ours is only cancelled by a
		// failure, which set firstErr).
		return &Error{Runner: r.name, Range: KeyRange{StartKey: startKey, EndKey: endKey}, Err: context.Cause(ctx)}
	}
	return firstErr
}
