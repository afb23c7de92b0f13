package sim

import (
	"container/heap"
	"time"
)

// Timer is a pending callback on virtual time.
type Timer struct {
	w    *World
	when time.Duration
	seq  uint64
	fn   func()
	idx  int // index in the heap, -1 once fired or stopped
}

// Stop cancels the timer and reports whether it was still pending.
func (t *Timer) Stop() bool {
	if t.idx < 0 {
		return false
	}
	heap.Remove(&t.w.timers, t.idx)
	return true
}

// When returns the virtual time at which the timer fires.
func (t *Timer) When() time.Duration { return t.when }

// AfterFunc calls fn inline in the scheduler once d of virtual time has
// passed. fn must not block: it may fire events, wake tasks, spawn tasks and
// set timers. Timers due at the same instant fire in the order they were set.
func (w *World) AfterFunc(d time.Duration, fn func()) *Timer {
	if d < 0 {
		d = 0
	}
	if w.rt != nil {
		w.followWall()
	}
	w.timerSeq++
	t := &Timer{w: w, when: w.now + d, seq: w.timerSeq, fn: fn}
	heap.Push(&w.timers, t)
	return t
}

// timerHeap orders timers by (when, seq): a total order, so equal deadlines
// never depend on heap internals.
type timerHeap []*Timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].when != h[j].when {
		return h[i].when < h[j].when
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx = i
	h[j].idx = j
}
func (h *timerHeap) Push(x any) {
	t := x.(*Timer)
	t.idx = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	n := len(old)
	t := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	t.idx = -1
	return t
}
