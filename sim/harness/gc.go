package harness

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/tikvsim/tikvsim/client/txnkv"
	"github.com/tikvsim/tikvsim/sim"
)

// GC while a transactional workload runs (Spec.GC): a GC task calls the
// client's GC (client/txnkv/gc.go: advance the txn safe point, resolve every
// lock below it, advance the GC safe point, after which the stores drop the
// versions below it) every so often during the safety phase, with a safe
// point lagging behind: the newest timestamp the task took from PD at least
// Lag of virtual time ago. Measured so, the lag is immune to TSO jumps: a
// transaction whose start ts is below the safe point began more than Lag
// ago. The workloads bound every operation by a timeout of at most 5s, so
// with a lag well above that GC never touches a running transaction, and a
// correct client stays correct. With a shorter lag GC rolls back running
// transactions (txnlock.BatchResolveLocks with client-go's current ts
// MaxUint64), which must then fail, never be reported committed.

// DefaultGCEvery and DefaultGCLag are the GC period and lag of Spec.GC "on".
const (
	DefaultGCEvery = 300 * time.Millisecond
	DefaultGCLag   = 8 * time.Second
)

// gcCallTimeout bounds one GC call of the GC task.
const gcCallTimeout = 3 * time.Second

// gcPlan is a parsed Spec.GC.
type gcPlan struct {
	every, lag time.Duration
}

func (p gcPlan) String() string { return fmt.Sprintf("every %v, lag %v", p.every, p.lag) }

// validGC checks a Spec.GC value: "", "off", "on", "swarm", "LAG" or
// "LAG/EVERY" (Go durations; a lag of 0 runs GC at the timestamp just
// taken).
func validGC(spec string) error {
	_, err := parseGC(spec, nil)
	return err
}

// parseGC returns the plan of spec, nil for no GC. "swarm" draws from rng
// (nil when only validating): GC on for half the seeds, every 100ms to 1s,
// with a lag of 6s to 12s.
func parseGC(spec string, rng *rand.Rand) (*gcPlan, error) {
	switch spec {
	case "", "off":
		return nil, nil
	case "on":
		return &gcPlan{every: DefaultGCEvery, lag: DefaultGCLag}, nil
	case "swarm":
		if rng == nil || rng.IntN(2) == 0 {
			return nil, nil
		}
		return &gcPlan{every: time.Duration(100+rng.IntN(901)) * time.Millisecond,
			lag: time.Duration(6000+rng.IntN(6001)) * time.Millisecond}, nil
	}
	lagS, everyS, hasEvery := strings.Cut(spec, "/")
	p := gcPlan{every: DefaultGCEvery}
	var err error
	if p.lag, err = time.ParseDuration(lagS); err != nil {
		return nil, fmt.Errorf("gc %q: want off, on, swarm, LAG or LAG/EVERY (durations): %w", spec, err)
	}
	if hasEvery {
		if p.every, err = time.ParseDuration(everyS); err != nil {
			return nil, fmt.Errorf("gc %q: want off, on, swarm, LAG or LAG/EVERY (durations): %w", spec, err)
		}
	}
	if p.lag < 0 || p.every <= 0 {
		return nil, fmt.Errorf("gc %q: the lag must not be negative, the period must be positive", spec)
	}
	return &p, nil
}

// gcStats counts the GC task's work, for Result.
type gcStats struct {
	runs, failed int
	safePoint    uint64 // the last safe point reached
}

// tsSample is a timestamp the GC task took from PD, and when.
type tsSample struct {
	at time.Duration
	ts uint64
}

// runGC is the GC task: until ctx ends, every p.every it takes a timestamp
// and runs cli.GC at the newest one taken at least p.lag ago. A failed call
// (faults; a call gives up after gcCallTimeout) is counted and retried at
// the next period.
func runGC(ctx context.Context, w *sim.World, cli *txnkv.Client, p gcPlan, st *gcStats) {
	var samples []tsSample
	for {
		if w.Sleep(ctx, p.every) != nil {
			return
		}
		if ts, err := cli.GetTimestamp(ctx); err == nil {
			samples = append(samples, tsSample{at: w.Elapsed(), ts: ts})
		}
		cut := -1
		for i, s := range samples {
			if s.at <= w.Elapsed()-p.lag {
				cut = i
			}
		}
		if cut < 0 {
			continue
		}
		samples = samples[cut:]
		// One call may not hang on a fault for the rest of the phase: it
		// gives up after gcCallTimeout and the next period tries afresh.
		cctx, cancel := w.WithDeadline(ctx, w.Now().Add(gcCallTimeout))
		sp, err := cli.GC(cctx, samples[0].ts)
		cancel()
		if ctx.Err() != nil {
			return // the safety phase ended meanwhile: not a GC failure
		}
		st.runs++
		if err != nil {
			st.failed++
			w.Record(sim.KindLog, "gc", fmt.Sprintf("gc at %d failed: %v", samples[0].ts, err), 0)
			continue
		}
		st.safePoint = sp
		w.Record(sim.KindLog, "gc", fmt.Sprintf("gc safe point %d", sp), 0)
	}
}
