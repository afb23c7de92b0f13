// Package workloads holds the client programs that drive a system under test
// and record what they saw as a history (package checkers owns the format).
// Each workload lives in a sub-package; this package holds what they share:
// the Recorder.
//
// Workloads are written like client code: they take time, tasks and
// randomness from a client/rt.Runtime, so they run unchanged in the simulator
// and against a real cluster.
package workloads

import (
	"sync"
	"time"

	"github.com/tikvsim/tikvsim/checkers"
	"github.com/tikvsim/tikvsim/client/rt"
)

// Recorder appends operations to one history. It is safe for concurrent use.
// Times are nanoseconds since the recorder was created, on its clock.
type Recorder struct {
	// OnRecord, when set before the first operation, sees every entry as it
	// is recorded (the simulator folds them into its trace).
	OnRecord func(checkers.Op)

	clock rt.Clock
	start time.Time
	mu    sync.Mutex
	h     checkers.History
}

// NewRecorder returns an empty recorder timing operations on clock.
func NewRecorder(clock rt.Clock) *Recorder {
	return &Recorder{clock: clock, start: clock.Now()}
}

// Pending is an invoked operation awaiting its completion.
type Pending struct {
	r   *Recorder
	inv checkers.Op
}

// Invoke records the invocation of an operation by process.
func (r *Recorder) Invoke(process int, f, key string, value any) *Pending {
	op := checkers.Op{Process: process, Type: checkers.Invoke, F: f, Key: key, Value: value}
	r.add(&op)
	return &Pending{r: r, inv: op}
}

// OK records that the operation took effect with result value.
func (p *Pending) OK(value any) { p.complete(checkers.OK, value, nil) }

// Fail records that the operation definitely did not take effect.
func (p *Pending) Fail(err error) { p.complete(checkers.Fail, p.inv.Value, err) }

// Info records that the operation's outcome is unknown. The process must
// issue no further operation.
func (p *Pending) Info(err error) { p.complete(checkers.Info, p.inv.Value, err) }

func (p *Pending) complete(t checkers.Type, value any, err error) {
	op := checkers.Op{Process: p.inv.Process, Type: t, F: p.inv.F, Key: p.inv.Key, Value: value}
	if err != nil {
		op.Error = err.Error()
	}
	p.r.add(&op)
}

func (r *Recorder) add(op *checkers.Op) {
	r.mu.Lock()
	defer r.mu.Unlock()
	op.Index = int64(len(r.h))
	op.Time = int64(r.clock.Now().Sub(r.start))
	r.h = append(r.h, *op)
	if r.OnRecord != nil {
		r.OnRecord(*op)
	}
}

// History returns a copy of the history recorded so far.
func (r *Recorder) History() checkers.History {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append(checkers.History(nil), r.h...)
}

// Counts returns the number of ok, fail and info completions so far.
func (r *Recorder) Counts() (ok, fail, info int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, op := range r.h {
		switch op.Type {
		case checkers.OK:
			ok++
		case checkers.Fail:
			fail++
		case checkers.Info:
			info++
		}
	}
	return ok, fail, info
}
