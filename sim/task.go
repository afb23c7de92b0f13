package sim

import (
	"context"
	"fmt"
)

// Task is a simulated thread of control: a goroutine that runs only while it
// holds the World's baton.
type Task struct {
	w    *World
	id   int
	name string
	wake chan struct{}

	state   taskState
	gen     uint64 // incremented at every park; stale wake-ups carry an old one
	waitFor string
	site    string
	waitCtx context.Context
	ctxIdx  int // index in World.ctxWaiters, -1 when absent
	woke    int // index of the Select case that woke the task, -1 for none
	wakeErr error
	killed  bool
}

type taskState uint8

const (
	taskRunnable taskState = iota + 1
	taskRunning
	taskParked
	taskDone
)

// ID returns the task's number, unique within its World.
func (t *Task) ID() int { return t.id }

// Name returns the name the task was spawned with.
func (t *Task) Name() string { return t.name }

func (t *Task) String() string { return fmt.Sprintf("task %d (%s)", t.id, t.name) }

func (t *Task) beginPark() uint64 {
	t.gen++
	return t.gen
}

// worker is a goroutine that runs tasks one after another. Reusing
// goroutines saves their creation and, above all, the stack growth every new
// goroutine goes through; a simulation spawns a task per RPC.
type worker struct {
	assign chan job
}

type job struct {
	t *Task
	f func()
}

// startTask gives t to an idle worker, or starts a new one. This is the
// kernel's only `go` statement (allow-listed in internal/guard): the worker
// waits for the task's baton before running it.
func startTask(t *Task, f func()) {
	w := t.w
	if n := len(w.idle); n > 0 {
		wk := w.idle[n-1]
		w.idle[n-1] = nil
		w.idle = w.idle[:n-1]
		wk.assign <- job{t, f}
		return
	}
	wk := &worker{assign: make(chan job, 1)}
	go wk.loop(job{t, f})
}

func (wk *worker) loop(j job) {
	for {
		if !wk.run(j) {
			return
		}
		var ok bool
		if j, ok = <-wk.assign; !ok {
			return
		}
	}
}

// run runs one task on the worker and reports whether the worker may be
// reused: not after a panic or a teardown, which unwind the goroutine.
func (wk *worker) run(j job) bool {
	t := j.t
	<-t.wake
	if t.killed {
		t.state = taskDone
		t.w.reaped <- struct{}{}
		return false
	}
	normal := false
	defer func() {
		if !normal {
			t.exitAbnormal(recover())
		}
	}()
	j.f()
	normal = true
	t.finish(wk)
	return true
}

// finish ends a task that returned: the worker joins the idle pool before the
// baton moves on, since the next task may spawn and take it at once.
func (t *Task) finish(wk *worker) {
	w := t.w
	t.state = taskDone
	delete(w.live, t.id)
	w.trace.add(TraceEvent{Step: w.steps, Time: w.now, Kind: KindExit, Task: t.id})
	w.idle = append(w.idle, wk)
	w.cur = nil
	if n := w.next(); n != nil {
		w.cur = n
		n.wake <- struct{}{}
		return
	}
	w.signalExit()
}

// exitAbnormal runs when a task panicked or was unwound by teardown.
func (t *Task) exitAbnormal(r any) {
	w := t.w
	t.state = taskDone
	if t.killed {
		w.reaped <- struct{}{}
		return
	}
	delete(w.live, t.id)
	if r == nil {
		r = "task exited with runtime.Goexit (t.FailNow outside the test goroutine?)"
	}
	panicFailure(w, t, r)
	w.signalExit()
}
