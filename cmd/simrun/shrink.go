package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/tikvsim/tikvsim/checkers"
	"github.com/tikvsim/tikvsim/sim/harness"
)

const shrinkUsage = `simrun shrink: reduce a failing run while it still fails with the same anomaly.

Usage:
  simrun shrink --seed N [the run's flags]

Shrinking keeps the seed and the first anomaly kind of the run. It turns a
fault preset into the explicit schedule the nemesis applied (which replays the
run exactly), removes faults, applies timed faults from the start, lowers the
client count, shortens the safety phase and bounds its operations
(--max-ops), as long as the run still fails
with that kind. It prints each accepted step, the minimal command line, and
the summary of the minimal run (whose failure files it writes, as run does).
Exit status: that of the minimal run (1 safety, 3 liveness, 4 run failure),
0 if the run does not fail, 2 bad usage.

Flags:
`

// invokes counts the operations a run invoked.
func invokes(r harness.Result) int {
	n := 0
	for _, op := range r.History {
		if op.Type == checkers.Invoke {
			n++
		}
	}
	return n
}

func runShrink(args []string, stdout, stderr io.Writer) int {
	o := &options{}
	fs := runFlags("simrun shrink", o, stderr)
	maxRuns := fs.Int("max-runs", 300, "give up after this many runs, keeping the smallest failing run found")
	fs.Usage = func() {
		fmt.Fprint(stderr, shrinkUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "simrun shrink: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	spec, err := o.spec()
	if err != nil {
		fmt.Fprintf(stderr, "simrun shrink: %v\n", err)
		return exitUsage
	}
	spec.Seed = o.seed
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	fmt.Fprintf(out, "shrinking: %s\n", replayCommand(o.seed, o))
	out.Flush()
	s, err := harness.Shrink(spec, harness.ShrinkOptions{MaxRuns: *maxRuns, Log: func(l string) {
		fmt.Fprintf(out, "  %s\n", l)
		out.Flush()
	}})
	if err != nil {
		fmt.Fprintf(out, "%v\n", err)
		return exitValid
	}
	fmt.Fprintf(out, "shrunk %s in %d runs: %d -> %d faults, %d -> %d clients, %v -> %v, %d -> %d operations\n",
		s.Kind, s.Runs, len(s.Original.FaultSchedule), len(s.Result.FaultSchedule),
		spec.Clients, s.Spec.Clients, spec.Duration, s.Spec.Duration, invokes(s.Original), invokes(s.Result))
	// The minimal run, reported as run reports it.
	m := &options{seed: o.seed, workload: o.workload, bug: o.bug, maxSteps: o.maxSteps, livenessBound: o.livenessBound, out: o.out,
		faults: s.Spec.Faults, clients: s.Spec.Clients, duration: s.Spec.Duration, maxOps: s.Spec.MaxOps}
	fmt.Fprintf(out, "minimal: %s\n", replayCommand(o.seed, m))
	res := s.Result
	dir, err := writeArtifacts(m, s.Spec, res)
	if err != nil {
		fmt.Fprintf(stderr, "simrun shrink: %v\n", err)
		return exitUsage
	}
	header(out, res, m)
	summary(out, res, m, dir)
	return exitCode(res)
}
