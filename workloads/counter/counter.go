// Package counter is the simulator's self-test workload: clients increment a
// counter held by a single server node over the simulated network, retrying
// with idempotent request ids, and read it. It needs no cluster, so it
// exercises the kernel, the network and its faults on their own.
//
// The invariant: every read returns a value between the number of increments
// acknowledged before the read began and the number invoked before it ended,
// and the final value lies between the acknowledged and the attempted
// increments. A server that forgets its dedup table (the Buggy switch), under
// duplicated or retried requests, breaks it.
package counter

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/tikvsim/tikvsim/checkers"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/workloads"
)

// Server is the name of the counter's node.
const Server = "counter"

// AddReq increments the counter once per distinct ID.
type AddReq struct{ ID uint64 }

// ReadReq reads the counter.
type ReadReq struct{}

// Resp is the counter value after the request.
type Resp struct{ Value int64 }

// Workload is the counter workload.
type Workload struct {
	// Buggy makes the server apply every delivered Add, ignoring its ID: a
	// deliberate bug for proving that the checker and shrinking work.
	Buggy bool
	// Retries is how many times a client resends an Add after a timeout
	// (0: derived from the seed).
	Retries int
	// Timeout of one call (0: derived from the seed).
	Timeout time.Duration
	// ReadRatio is the fraction of reads (0: derived from the seed).
	ReadRatio float64

	value   int64
	applied map[uint64]bool
}

// Describe returns the options in force.
func (w *Workload) Describe() string {
	return fmt.Sprintf("retries=%d timeout=%v read-ratio=%.2f buggy=%v", w.Retries, w.Timeout, w.ReadRatio, w.Buggy)
}

// Setup starts the server node and derives unset options from env.Rand.
func (w *Workload) Setup(env *workloads.Env) error {
	if w.Retries == 0 {
		w.Retries = 1 + env.Rand.IntN(3)
	}
	if w.Timeout == 0 {
		w.Timeout = time.Duration(5+env.Rand.IntN(45)) * time.Millisecond
	}
	if w.ReadRatio == 0 {
		w.ReadRatio = 0.1 + 0.5*env.Rand.Float64()
	}
	w.applied = make(map[uint64]bool)
	env.Serve(Server, w.serve)
	return nil
}

func (w *Workload) serve(_ context.Context, _ string, req any) (any, error) {
	switch r := req.(type) {
	case AddReq:
		if w.Buggy || !w.applied[r.ID] {
			w.applied[r.ID] = true
			w.value++
		}
		return Resp{w.value}, nil
	case ReadReq:
		return Resp{w.value}, nil
	}
	return nil, fmt.Errorf("counter: unknown request %T", req)
}

func clientNode(id int) string { return fmt.Sprintf("client%d", id) }

// Client issues adds and reads until ctx is done.
func (w *Workload) Client(ctx context.Context, env *workloads.Env, id int) {
	rng := rand.New(rand.NewPCG(env.Rand.Uint64(), uint64(id)))
	for seq := uint64(1); ctx.Err() == nil; seq++ {
		if rng.Float64() < w.ReadRatio {
			p := env.Recorder.Invoke(id, "read", "", nil)
			v, err := w.call(ctx, env, id, ReadReq{})
			if err != nil {
				p.Fail(err) // reads change nothing: a failed read did not happen
				continue
			}
			p.OK(v)
			continue
		}
		reqID := uint64(id)<<32 | seq
		p := env.Recorder.Invoke(id, "add", "", nil)
		var err error
		for try := 0; try <= w.Retries; try++ {
			if _, err = w.call(ctx, env, id, AddReq{reqID}); err == nil || !env.Undetermined(err) {
				break
			}
		}
		switch {
		case err == nil:
			p.OK(nil)
		case env.Undetermined(err):
			p.Info(err)
			return // Jepsen: a process with an unknown outcome stops
		default:
			p.Fail(err)
		}
		_ = env.Runtime.Sleep(ctx, time.Duration(rng.IntN(5))*time.Millisecond)
	}
}

func (w *Workload) call(ctx context.Context, env *workloads.Env, id int, req any) (int64, error) {
	cctx, cancel := rt.WithTimeout(env.Runtime, ctx, w.Timeout)
	defer cancel()
	resp, err := env.Call(cctx, clientNode(id), Server, req)
	if err != nil {
		return 0, err
	}
	r, ok := resp.(Resp)
	if !ok {
		return 0, fmt.Errorf("counter: bad response %T", resp)
	}
	return r.Value, nil
}

// Final reads the counter once every fault has healed.
func (w *Workload) Final(ctx context.Context, env *workloads.Env) error {
	final := env.Clients // a process of its own: client processes may have stopped on info
	for ctx.Err() == nil {
		p := env.Recorder.Invoke(final, "read", "", nil)
		v, err := w.call(ctx, env, final, ReadReq{})
		if err == nil {
			p.OK(v)
			return nil
		}
		p.Fail(err)
	}
	return errors.New("counter: no final read succeeded after heal")
}

// Check verifies every read against the adds around it.
func (w *Workload) Check(h checkers.History) checkers.Result {
	return Check(h)
}

// Check verifies a counter history: each ok read v must satisfy
// acked-before-invoke <= v <= attempted-before-complete, where attempted
// counts ok and info adds (an info add may have happened).
func Check(h checkers.History) checkers.Result {
	pairs, err := h.Pairs()
	if err != nil {
		return checkers.Result{Verdict: checkers.Unknown, Reason: err.Error()}
	}
	var ackTimes, invTimes []int64 // completion times of ok adds; invoke times of ok+info adds
	for _, p := range pairs {
		if p.Invoke.F != "add" {
			continue
		}
		switch p.Complete.Type {
		case checkers.OK:
			ackTimes = append(ackTimes, p.Complete.Index)
			invTimes = append(invTimes, p.Invoke.Index)
		case checkers.Info:
			invTimes = append(invTimes, p.Invoke.Index)
		}
	}
	sort.Slice(ackTimes, func(i, j int) bool { return ackTimes[i] < ackTimes[j] })
	sort.Slice(invTimes, func(i, j int) bool { return invTimes[i] < invTimes[j] })
	countBefore := func(xs []int64, idx int64) int64 {
		return int64(sort.Search(len(xs), func(i int) bool { return xs[i] >= idx }))
	}
	res := checkers.Result{Verdict: checkers.Ok}
	for _, p := range pairs {
		if p.Invoke.F != "read" || p.Complete.Type != checkers.OK {
			continue
		}
		v, ok := checkers.AsInt(p.Complete.Value)
		if !ok {
			res.Verdict = checkers.Illegal
			res.Anomalies = append(res.Anomalies, checkers.Anomaly{Kind: "bad-read", Explanation: fmt.Sprintf("read %v is not a number", p.Complete.Value)})
			continue
		}
		lo := countBefore(ackTimes, p.Invoke.Index)
		hi := countBefore(invTimes, p.Complete.Index)
		if v < lo || v > hi {
			res.Verdict = checkers.Illegal
			res.Anomalies = append(res.Anomalies, checkers.Anomaly{
				Kind: "counter-out-of-bounds",
				Ops:  []checkers.Op{p.Invoke, p.Complete},
				Explanation: fmt.Sprintf("read %d by process %d, but %d add(s) were acknowledged before it began and at most %d were attempted before it ended",
					v, p.Invoke.Process, lo, hi),
			})
		}
	}
	res.Finish()
	return res
}
