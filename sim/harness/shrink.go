package harness

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tikvsim/tikvsim/checkers"
	"github.com/tikvsim/tikvsim/sim/network"
)

// ShrinkOptions tune Shrink. The zero value is usable.
type ShrinkOptions struct {
	// MaxRuns bounds the number of runs Shrink makes, the first one
	// included (default 300). When it runs out, Shrink returns the
	// smallest failing spec found so far.
	MaxRuns int
	// Log, when set, receives one line per accepted reduction.
	Log func(string)
}

// Shrunk is what Shrink found.
type Shrunk struct {
	// Original is the result of the spec Shrink was given.
	Original Result
	// Kind is the anomaly kind every reduction had to keep: the first of
	// Original.Anomalies.
	Kind string
	// Spec is the smallest spec found that still fails with Kind. Its
	// Faults is an explicit schedule (or "none").
	Spec Spec
	// Result is the result of Spec.
	Result Result
	// Runs is the number of runs made.
	Runs int
}

// Shrink takes a failing spec and reduces it while it still fails with the
// same anomaly kind: it turns a fault preset into the explicit schedule the
// nemesis applied (which replays the run exactly), removes schedule entries
// (delta debugging), lowers the client count (dropping faults that name the
// removed clients), shortens the safety phase (dropping faults that would
// come after its end) and bounds its operations (Spec.MaxOps), repeating
// until no reduction helps. The seed is kept.
// It returns an error if spec does not fail. Every run is a pure function of
// its spec, so Shrink is deterministic too.
func Shrink(spec Spec, opts ShrinkOptions) (Shrunk, error) {
	if err := spec.Normalize(); err != nil {
		return Shrunk{}, err
	}
	if opts.MaxRuns <= 0 {
		opts.MaxRuns = 300
	}
	spec.Trace, spec.OnSetup, spec.StopAtStep = nil, nil, 0
	s := &shrinker{opts: opts}
	orig := Run(spec)
	s.runs = 1
	if orig.Valid {
		return Shrunk{Original: orig, Spec: spec, Result: orig, Runs: 1}, fmt.Errorf("seed %d does not fail: nothing to shrink", spec.Seed)
	}
	s.kind = orig.Anomalies[0]
	s.best, s.bestRes = spec, orig
	s.sched = nil
	if spec.Faults != "none" {
		// The recorded schedule replays the run exactly; try it.
		cand := spec
		cand.Faults = orDefault(orig.FaultSchedule.String(), "none")
		if !s.try(cand, orig.FaultSchedule, "explicit fault schedule") {
			s.logf("the recorded schedule does not reproduce the failure; keeping --faults %s", spec.Faults)
			return s.done(orig), nil
		}
	}
	for progress := true; progress && !s.exhausted(); {
		progress = false
		progress = s.shrinkSchedule() || progress
		progress = s.untime() || progress
		progress = s.shrinkClients() || progress
		progress = s.shrinkDuration() || progress
		progress = s.shrinkOps() || progress
	}
	return s.done(orig), nil
}

type shrinker struct {
	opts    ShrinkOptions
	kind    string
	runs    int
	best    Spec
	bestRes Result
	sched   Schedule
}

func (s *shrinker) logf(format string, args ...any) {
	if s.opts.Log != nil {
		s.opts.Log(fmt.Sprintf(format, args...))
	}
}

func (s *shrinker) exhausted() bool { return s.runs >= s.opts.MaxRuns }

func (s *shrinker) done(orig Result) Shrunk {
	return Shrunk{Original: orig, Kind: s.kind, Spec: s.best, Result: s.bestRes, Runs: s.runs}
}

// try runs cand (whose faults are sched) and keeps it if it fails with the
// kind.
func (s *shrinker) try(cand Spec, sched Schedule, what string) bool {
	if s.exhausted() {
		return false
	}
	s.runs++
	r := Run(cand)
	if r.Valid || !slices.Contains(r.Anomalies, s.kind) {
		return false
	}
	s.best, s.bestRes, s.sched = cand, r, sched
	s.logf("%s: still %s (%d faults, %d clients, %v)", what, s.kind, len(sched), cand.Clients, cand.Duration)
	return true
}

func (s *shrinker) withSchedule(sched Schedule) Spec {
	cand := s.best
	cand.Faults = orDefault(sched.String(), "none")
	return cand
}

// shrinkSchedule removes entries by delta debugging (ddmin): chunks of the
// schedule, halving the chunk size when no chunk can go.
func (s *shrinker) shrinkSchedule() bool {
	if len(s.sched) == 0 {
		return false
	}
	changed := false
	if s.try(s.withSchedule(nil), nil, "no faults") {
		return true
	}
	for n := 2; len(s.sched) > 0 && !s.exhausted(); {
		size := (len(s.sched) + n - 1) / n
		removed := false
		for start := 0; start < len(s.sched); start += size {
			cand := slices.Concat(s.sched[:start], s.sched[min(start+size, len(s.sched)):])
			if s.try(s.withSchedule(cand), cand, fmt.Sprintf("without faults %d-%d", start, min(start+size, len(s.sched))-1)) {
				removed, changed = true, true
				n = max(n-1, 2)
				break
			}
		}
		if !removed {
			if size == 1 {
				break
			}
			n = min(2*n, len(s.sched))
		}
	}
	return changed
}

// untime tries applying each timed entry from the start instead, or else at
// a rounder time, which reads more simply.
func (s *shrinker) untime() bool {
	changed := false
	for i := 0; i < len(s.sched) && !s.exhausted(); i++ {
		if !s.sched[i].Timed {
			continue
		}
		cand := slices.Clone(s.sched)
		cand[i].Timed, cand[i].At = false, 0
		// Untimed entries are applied first: keep them in front.
		slices.SortStableFunc(cand, func(a, b Entry) int { return boolInt(a.Timed) - boolInt(b.Timed) })
		if s.try(s.withSchedule(cand), cand, "fault "+s.sched[i].Fault.String()+" from the start") {
			changed = true
			i = -1
			continue
		}
		changed = s.roundTime(i) || changed
	}
	return changed
}

// roundTime tries entry i's time rounded to 100ms, 10ms or 1ms, coarsest
// first, which reads more simply than nanoseconds.
func (s *shrinker) roundTime(i int) bool {
	for _, unit := range []time.Duration{100 * time.Millisecond, 10 * time.Millisecond, time.Millisecond} {
		at := s.sched[i].At.Round(unit)
		if at == s.sched[i].At {
			return false
		}
		if (i > 0 && s.sched[i-1].Timed && at < s.sched[i-1].At) || (i+1 < len(s.sched) && at > s.sched[i+1].At) {
			continue // keep the schedule in time order
		}
		cand := slices.Clone(s.sched)
		cand[i].At = at
		if s.try(s.withSchedule(cand), cand, "fault "+cand[i].String()) {
			return true
		}
	}
	return false
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// shrinkClients tries every smaller client count, smallest first.
func (s *shrinker) shrinkClients() bool {
	for c := 1; c < s.best.Clients && !s.exhausted(); c++ {
		sched := dropNodes(s.sched, func(node string) bool {
			k, ok := clientIndex(node)
			return !ok || k < c
		})
		cand := s.withSchedule(sched)
		cand.Clients = c
		if s.try(cand, sched, fmt.Sprintf("%d clients", c)) {
			return true
		}
	}
	return false
}

// shrinkDuration tries shorter safety phases: first 1/16, 1/8, 1/4, 1/2 and
// 3/4 of the current length, shortest first; if none fails, it bisects
// between 3/4 and the current length to the nearest 2% (at least 1ms). A
// shorter safety phase leaves the run unchanged up to its end, so whether a
// run fails is nearly monotone in its length. Lengths are rounded to the
// millisecond and at least 10ms.
func (s *shrinker) shrinkDuration() bool {
	d := s.best.Duration
	for _, frac := range []float64{1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0 / 2, 3.0 / 4} {
		if s.tryDuration(time.Duration(float64(d) * frac).Round(time.Millisecond)) {
			return true
		}
	}
	lo, hi := max(10*time.Millisecond, d*3/4), d
	changed := false
	for hi-lo > max(hi/50, time.Millisecond) && !s.exhausted() {
		mid := ((lo + hi) / 2).Round(time.Millisecond)
		if mid <= lo || mid >= hi {
			break
		}
		if s.tryDuration(mid) {
			hi, changed = mid, true
		} else {
			lo = mid
		}
	}
	return changed
}

// tryDuration tries the safety phase length nd, without the faults that
// would come after it.
func (s *shrinker) tryDuration(nd time.Duration) bool {
	if nd < 10*time.Millisecond || nd >= s.best.Duration || s.exhausted() {
		return false
	}
	var sched Schedule
	for _, e := range s.sched {
		if !e.Timed || e.At < nd {
			sched = append(sched, e)
		}
	}
	cand := s.withSchedule(sched)
	cand.Duration = nd
	return s.try(cand, sched, "duration "+nd.String())
}

// shrinkOps bisects the number of operations the safety phase may invoke
// (Spec.MaxOps) between 1 and the number invoked in the smallest failing run
// so far, to the nearest 2%.
func (s *shrinker) shrinkOps() bool {
	n := 0
	for _, op := range s.bestRes.History {
		if op.Type == checkers.Invoke {
			n++
		}
	}
	if s.best.MaxOps > 0 {
		n = min(n, s.best.MaxOps)
	}
	lo, hi := 0, n // lo: known (or assumed) to pass; hi: fails
	changed := false
	for hi-lo > max(hi/50, 1) && !s.exhausted() {
		mid := (lo + hi) / 2
		cand := s.best
		cand.MaxOps = mid
		if s.try(cand, s.sched, fmt.Sprintf("at most %d operations", mid)) {
			hi, changed = mid, true
		} else {
			lo = mid
		}
	}
	return changed
}

func clientIndex(node string) (int, bool) {
	rest, ok := strings.CutPrefix(node, "client")
	if !ok {
		return 0, false
	}
	k, err := strconv.Atoi(rest)
	return k, err == nil
}

// dropNodes rewrites the network faults of sched without the nodes keep
// rejects: a partition loses them from its groups (and goes if fewer than
// two groups remain), any other fault naming one goes.
func dropNodes(sched Schedule, keep func(string) bool) Schedule {
	var out Schedule
	for _, e := range sched {
		switch f := e.Fault.(type) {
		case network.Partition:
			var groups [][]string
			for _, g := range f.Groups {
				if g = slices.DeleteFunc(slices.Clone(g), func(n string) bool { return !keep(n) }); len(g) > 0 {
					groups = append(groups, g)
				}
			}
			if len(groups) < 2 {
				continue
			}
			e.Fault = network.Partition{Groups: groups}
		case network.OneWay:
			if !keep(f.From) || !keep(f.To) {
				continue
			}
		case network.Isolate:
			if !keep(f.Node) {
				continue
			}
		case network.Down:
			if !keep(f.Node) {
				continue
			}
		case network.Up:
			if !keep(f.Node) {
				continue
			}
		case network.Delay:
			if f.From != "" && (!keep(f.From) || !keep(f.To)) {
				continue
			}
		}
		out = append(out, e)
	}
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
