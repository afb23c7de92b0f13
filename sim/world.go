package sim

import (
	"cmp"
	"container/heap"
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tikvsim/tikvsim/internal/invariants"
)

// Epoch is the instant at which every run's virtual clock starts.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Options bound and instrument a run. The zero value is usable.
type Options struct {
	// MaxSteps fails the run with a budget report after this many scheduling
	// steps; 0 means no limit.
	MaxSteps uint64
	// MaxTime fails the run with a budget report when virtual time would pass
	// it; 0 means no limit.
	MaxTime time.Duration
	// Stall is the wall-clock time without a single scheduling step after
	// which Run gives up and reports the running task as stuck (it is blocked
	// on something the kernel cannot see, or spinning). 0 means one minute.
	Stall time.Duration
	// Trace, when set, receives every trace event as it happens.
	Trace func(TraceEvent)
	// WaitSites records the source line at which each task parks, for
	// deadlock reports. It costs a stack walk per park.
	WaitSites bool
}

// World is one simulated execution. Create it with New, add tasks with Spawn,
// then call Run once.
type World struct {
	seed  uint64
	opts  Options
	rng   *rand.Rand // scheduling choices
	now   time.Duration
	steps uint64
	trace trace

	nextTask   int
	live       map[int]*Task
	runnable   []*Task
	cur        *Task
	ctxWaiters []*Task
	watched    []*deadlineCtx

	timers   timerHeap
	timerSeq uint64

	stopped  bool
	failure  *Failure
	state    runState
	exit     chan struct{}
	reaped   chan struct{}
	progress atomic.Uint64
	randSeq  uint64
	idle     []*worker // goroutines waiting for a task to run

	epoch time.Time // the instant of virtual time 0: Epoch, or the wall clock at start in real time
	rt    *realtime // non-nil in real-time mode (NewRealtime)
}

type runState uint8

const (
	stateNew runState = iota
	stateRunning
	stateDone
)

// New returns a World whose every choice derives from seed.
func New(seed uint64, opts Options) *World {
	w := &World{
		seed:   seed,
		opts:   opts,
		rng:    NewRand(seed, "sched"),
		live:   make(map[int]*Task),
		exit:   make(chan struct{}, 1),
		reaped: make(chan struct{}),
		epoch:  Epoch,
	}
	w.trace.init()
	w.trace.sink = opts.Trace
	return w
}

// Seed returns the run's seed.
func (w *World) Seed() uint64 { return w.seed }

// Rand returns a new PRNG for the subsystem called name, derived from the
// run's seed (see DeriveSeed). Each name must be used by one subsystem.
func (w *World) Rand(name string) *rand.Rand { return NewRand(w.seed, name) }

// NextRand returns a new PRNG whose seed derives from the run's seed and the
// number of NextRand calls so far: for anonymous consumers such as the
// client's Runtime.NewRand.
func (w *World) NextRand() *rand.Rand {
	w.randSeq++
	return NewRand(w.seed, fmt.Sprintf("anon/%d", w.randSeq))
}

// Elapsed returns the virtual time since the start of the run.
func (w *World) Elapsed() time.Duration {
	if w.rt != nil {
		w.followWall()
	}
	return w.now
}

// Now returns the current virtual time as an instant after Epoch (in
// real-time mode: the wall-clock time).
func (w *World) Now() time.Time {
	if w.rt != nil {
		w.followWall()
	}
	return w.epoch.Add(w.now)
}

// Steps returns the number of scheduling steps taken.
func (w *World) Steps() uint64 { return w.steps }

// TraceHash returns the running hash of the trace.
func (w *World) TraceHash() uint64 { return w.trace.hash }

// TraceTail returns up to n of the most recent trace events, oldest first.
func (w *World) TraceTail(n int) []TraceEvent { return w.trace.last(n) }

// Record appends a caller-defined event to the trace and folds it into the
// hash. Components use it for network, fault and operation events.
func (w *World) Record(kind Kind, name, text string, arg uint64) {
	task := 0
	if w.cur != nil {
		task = w.cur.id
	}
	w.trace.add(TraceEvent{Step: w.steps, Time: w.now, Kind: kind, Task: task, Name: name, Arg: arg, Text: text})
}

// Stop ends the run successfully once the calling task next blocks or
// returns; tasks still parked are then torn down. It may be called from a
// task or a timer callback.
func (w *World) Stop() { w.stopped = true }

// Running reports whether a task is executing, that is whether the caller is
// inside the simulation.
func (w *World) Running() bool { return w.cur != nil }

// Spawn creates a task that runs f. It may be called before Run, from a task
// or from a timer callback. The task becomes runnable at once.
func (w *World) Spawn(name string, f func()) *Task {
	invariants.Assert(w.state != stateDone, "spawn %q after the run ended", name)
	w.nextTask++
	t := &Task{w: w, id: w.nextTask, name: name, wake: make(chan struct{}, 1), state: taskRunnable, ctxIdx: -1}
	w.live[t.id] = t
	w.runnable = append(w.runnable, t)
	w.trace.add(TraceEvent{Step: w.steps, Time: w.now, Kind: KindSpawn, Task: t.id, Name: name})
	startTask(t, f)
	return t
}

// Run executes the world until every task has returned, Stop is called, a
// task panics, the tasks deadlock, or a budget runs out. It returns nil on
// success and a *Failure otherwise. Run must be called once, from outside the
// simulation.
func (w *World) Run() error {
	if w.state != stateNew {
		return &Failure{Seed: w.seed, Kind: FailUsage, Msg: "Run called twice"}
	}
	if w.rt != nil && !w.rt.started {
		return &Failure{Seed: w.seed, Kind: FailUsage, Msg: "a real-time world runs with RunRealtime"}
	}
	w.state = stateRunning
	if n := w.next(); n != nil {
		w.cur = n
		n.wake <- struct{}{}
		if f := w.waitExit(); f != nil {
			// A task is stuck outside the kernel's view: it still holds the
			// baton, so nothing else may be touched. Leak its goroutines.
			w.state = stateDone
			return f
		}
	}
	w.teardown()
	w.state = stateDone
	if w.failure != nil {
		return w.failure
	}
	return nil
}

// signalExit wakes Run. Called by whichever goroutine holds the baton when the
// run ends.
func (w *World) signalExit() {
	w.cur = nil
	w.exit <- struct{}{}
}

// next picks the next task to run, advancing virtual time and firing timers
// as needed. It returns nil when the run is over (w.failure says why, if it
// failed). Only the goroutine holding the baton calls it.
func (w *World) next() *Task {
	for {
		if w.stopped || w.failure != nil {
			return nil
		}
		if w.rt != nil {
			// Injections and due timers first: what they cancel is
			// polled just below.
			w.realtimeStep()
			if w.stopped || w.failure != nil {
				return nil
			}
		}
		w.pollContexts()
		if n := len(w.runnable); n > 0 {
			i := 0
			if n > 1 {
				i = w.rng.IntN(n)
			}
			t := w.runnable[i]
			w.runnable[i] = w.runnable[n-1]
			w.runnable[n-1] = nil
			w.runnable = w.runnable[:n-1]
			w.steps++
			w.progress.Add(1)
			if w.opts.MaxSteps > 0 && w.steps > w.opts.MaxSteps {
				w.fail(FailBudget, fmt.Sprintf("step budget of %d exhausted at %v", w.opts.MaxSteps, w.now), nil)
				return nil
			}
			invariants.Assert(t.state == taskRunnable, "picked task %d in state %d", t.id, t.state)
			t.state = taskRunning
			w.trace.add(TraceEvent{Step: w.steps, Time: w.now, Kind: KindPick, Task: t.id})
			return t
		}
		if w.rt != nil {
			w.realtimeIdle()
			continue
		}
		if len(w.timers) > 0 {
			tm := w.timers[0]
			if w.opts.MaxTime > 0 && tm.when > w.opts.MaxTime {
				w.fail(FailBudget, fmt.Sprintf("time budget of %v exhausted (next timer at %v)", w.opts.MaxTime, tm.when), nil)
				return nil
			}
			heap.Pop(&w.timers)
			invariants.Assert(tm.when >= w.now, "timer at %v is in the past (now %v)", tm.when, w.now)
			w.now = tm.when
			w.trace.add(TraceEvent{Step: w.steps, Time: w.now, Kind: KindTimer, Arg: tm.seq})
			tm.fn()
			continue
		}
		if len(w.live) > 0 {
			w.fail(FailDeadlock, w.deadlockReport(), nil)
		}
		return nil
	}
}

// pollContexts wakes the parked tasks whose contexts are done, in park order,
// after cancelling the deadline contexts whose foreign parents are done.
func (w *World) pollContexts() {
	for i := 0; i < len(w.watched); {
		c := w.watched[i]
		if isDone(c.parent) {
			c.cancel(c.parent.Err(), true) // removes c from w.watched
			continue
		}
		i++
	}
	for i := 0; i < len(w.ctxWaiters); {
		t := w.ctxWaiters[i]
		if isDone(t.waitCtx) {
			w.wake(t, t.gen, -1, t.waitCtx.Err()) // removes t from w.ctxWaiters
			continue
		}
		i++
	}
}

func isDone(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

func (w *World) fail(kind FailKind, msg string, task *Task) {
	if w.failure != nil {
		return
	}
	f := &Failure{Seed: w.seed, Kind: kind, Msg: msg, Step: w.steps, Time: w.now, Tail: w.trace.last(32)}
	if task != nil {
		f.Task = task.String()
	}
	w.failure = f
}

func (w *World) deadlockReport() string {
	var b strings.Builder
	fmt.Fprintf(&b, "deadlock: no task runnable and no timer pending; %d task(s) parked:", len(w.live))
	for _, t := range w.liveSorted() {
		fmt.Fprintf(&b, "\n  %s waits on %s", t, t.waitFor)
		if t.site != "" {
			fmt.Fprintf(&b, " at %s", t.site)
		}
	}
	return b.String()
}

func (w *World) liveSorted() []*Task {
	ts := make([]*Task, 0, len(w.live))
	for _, t := range w.live {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b *Task) int { return cmp.Compare(a.id, b.id) })
	return ts
}

// teardown ends every task still alive, one at a time in id order, so that
// no goroutine outlives the run. A killed task unwinds with runtime.Goexit:
// its deferred calls run, and any wait they start returns at once.
func (w *World) teardown() {
	for len(w.live) > 0 {
		for _, t := range w.liveSorted() {
			t.killed = true
			w.cur = t
			t.wake <- struct{}{}
			<-w.reaped
			delete(w.live, t.id)
		}
	}
	w.cur = nil
	w.runnable = nil
	w.ctxWaiters = nil
	w.timers = nil
	for _, wk := range w.idle {
		close(wk.assign)
	}
	w.idle = nil
}

// current returns the running task; it panics when called from outside a
// task (a timer callback, or a goroutine the kernel does not know).
func (w *World) current(what string) *Task {
	t := w.cur
	if t == nil {
		panic(fmt.Sprintf("sim: %s called outside a task (from a timer callback or a foreign goroutine)", what))
	}
	return t
}

// block parks the running task t until something calls wake with its current
// generation, or until ctx (if cancellable) is done. The caller has already
// registered t wherever it waits.
func (w *World) block(t *Task, ctx context.Context, why string) {
	if t.killed {
		runtime.Goexit()
	}
	invariants.Assert(w.cur == t, "task %d blocks while task %v holds the baton", t.id, w.cur)
	t.state = taskParked
	t.waitFor = why
	if w.opts.WaitSites {
		t.site = callerSite()
	}
	if ctx != nil && ctx.Done() != nil {
		t.waitCtx = ctx
		t.ctxIdx = len(w.ctxWaiters)
		w.ctxWaiters = append(w.ctxWaiters, t)
	}
	w.switchFrom(t)
}

// switchFrom hands the baton from t (which just parked) to the next task and
// waits until t is picked again.
func (w *World) switchFrom(t *Task) {
	w.cur = nil
	n := w.next()
	switch {
	case n == t:
		w.cur = t
		return
	case n != nil:
		w.cur = n
		n.wake <- struct{}{}
	default:
		w.signalExit()
	}
	<-t.wake
	if t.killed {
		runtime.Goexit()
	}
}

// wake makes t runnable if it is still parked in generation gen, recording
// idx (which event woke it, -1 for none) and err (why it woke early).
func (w *World) wake(t *Task, gen uint64, idx int, err error) bool {
	if t.state != taskParked || t.gen != gen {
		return false
	}
	t.state = taskRunnable
	t.woke = idx
	t.wakeErr = err
	if t.ctxIdx >= 0 {
		last := len(w.ctxWaiters) - 1
		moved := w.ctxWaiters[last]
		w.ctxWaiters[t.ctxIdx] = moved
		moved.ctxIdx = t.ctxIdx
		w.ctxWaiters[last] = nil
		w.ctxWaiters = w.ctxWaiters[:last]
		t.ctxIdx = -1
	}
	t.waitCtx = nil
	w.runnable = append(w.runnable, t)
	return true
}

// Yield lets the scheduler pick any runnable task (possibly the caller) before
// the calling task continues.
func (w *World) Yield() {
	t := w.current("Yield")
	gen := t.beginPark()
	t.state = taskParked
	w.wake(t, gen, -1, nil)
	w.switchFrom(t)
}

// Sleep parks the calling task for d of virtual time, or until ctx is done.
func (w *World) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	t := w.current("Sleep")
	if d <= 0 {
		w.Yield()
		return ctxErr(ctx)
	}
	gen := t.beginPark()
	tm := w.AfterFunc(d, func() { w.wake(t, gen, -1, nil) })
	w.block(t, ctx, "sleep")
	if t.wakeErr != nil {
		tm.Stop()
		return t.wakeErr
	}
	return nil
}

func ctxErr(ctx context.Context) error {
	if ctx == nil {
		return nil
	}
	return ctx.Err()
}

func callerSite() string {
	var pcs [16]uintptr
	n := runtime.Callers(3, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if !isKernelFrame(f.Function) {
			return fmt.Sprintf("%s (%s:%d)", f.Function, f.File, f.Line)
		}
		if !more {
			return "?"
		}
	}
}

// isKernelFrame reports whether fn belongs to the kernel or the runtime
// adapters, which a wait site skips to name the caller's line.
func isKernelFrame(fn string) bool {
	for _, p := range []string{"tikvsim/sim.(*", "tikvsim/sim/clock.", "tikvsim/client/rt."} {
		if strings.Contains(fn, p) {
			return true
		}
	}
	return false
}

// Failure is why a run failed. It always names the seed.
type Failure struct {
	Seed  uint64
	Kind  FailKind
	Msg   string
	Task  string // the task that panicked or got stuck, if any
	Step  uint64
	Time  time.Duration
	Stack string       // the panicking task's stack
	Tail  []TraceEvent // the last trace events before the failure
}

// FailKind classifies failures.
type FailKind uint8

// The kinds of run failure.
const (
	FailPanic    FailKind = iota + 1 // a task panicked
	FailDeadlock                     // every task parked, no timer pending
	FailBudget                       // MaxSteps or MaxTime exhausted
	FailStall                        // a task ran for Options.Stall of wall time without yielding
	FailUsage                        // the World was misused
)

var failNames = [...]string{"", "panic", "deadlock", "budget", "stall", "usage"}

func (k FailKind) String() string {
	if int(k) < len(failNames) {
		return failNames[k]
	}
	return fmt.Sprintf("fail%d", k)
}

func (f *Failure) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sim: seed %d: %s at step %d, time %v", f.Seed, f.Kind, f.Step, f.Time)
	if f.Task != "" {
		fmt.Fprintf(&b, " in %s", f.Task)
	}
	b.WriteString(": " + f.Msg)
	return b.String()
}

// Report renders the failure for a human: the error, the stack if any, and
// the trace tail.
func (f *Failure) Report() string {
	var b strings.Builder
	b.WriteString(f.Error())
	if f.Stack != "" {
		b.WriteString("\n\nstack:\n" + f.Stack)
	}
	if len(f.Tail) > 0 {
		b.WriteString("\n\nlast trace events:")
		for _, e := range f.Tail {
			b.WriteString("\n" + e.String())
		}
	}
	return b.String()
}

func panicFailure(w *World, t *Task, r any) {
	w.fail(FailPanic, fmt.Sprint(r), t)
	w.failure.Stack = string(debug.Stack())
	w.trace.add(TraceEvent{Step: w.steps, Time: w.now, Kind: KindPanic, Task: t.id, Text: fmt.Sprint(r)})
	w.failure.Tail = w.trace.last(32)
}
