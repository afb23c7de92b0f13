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

// startTask starts the goroutine behind t. This is the kernel's only `go`
// statement (allow-listed in internal/guard): the goroutine waits for the
// baton before running f.
func startTask(t *Task, f func()) {
	go func() {
		<-t.wake
		defer t.exit()
		if t.killed {
			return
		}
		f()
	}()
}

// exit runs when t's function returns, panics, or is unwound by teardown.
func (t *Task) exit() {
	w := t.w
	r := recover()
	if t.killed {
		t.state = taskDone
		w.reaped <- struct{}{}
		return
	}
	t.state = taskDone
	delete(w.live, t.id)
	if r != nil {
		panicFailure(w, t, r)
		w.signalExit()
		return
	}
	w.trace.add(TraceEvent{Step: w.steps, Time: w.now, Kind: KindExit, Task: t.id})
	w.cur = nil
	if n := w.next(); n != nil {
		w.cur = n
		n.wake <- struct{}{}
		return
	}
	w.signalExit()
}
