package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tikvsim/tikvsim/sim/harness"
)

// header prints what a run is about to do: the spec, then every option the
// workload and the nemesis derived from the seed (STYLE practice 11).
func header(w io.Writer, r harness.Result, o *options) {
	fmt.Fprintf(w, "seed %d  workload %s  faults %s  duration %v  clients %d  liveness bound %v\n",
		r.Seed, r.Workload, r.Faults, o.duration, o.clients, o.livenessOrDefault())
	if o.bug != "" {
		fmt.Fprintf(w, "  bug: %s (%s)\n", o.bug, harness.Bugs[o.bug])
	}
	if r.Setup != "" {
		fmt.Fprintf(w, "  setup: %s\n", r.Setup)
	}
}

func (o *options) livenessOrDefault() time.Duration {
	if o.livenessBound == 0 {
		return harness.DefaultLivenessBound
	}
	return o.livenessBound
}

// verdict is the first line of a summary: VALID, or the failure class and
// what showed it.
func verdict(r harness.Result) string {
	switch {
	case r.Valid:
		return "VALID"
	case r.Class == harness.ClassSafety:
		return "INVALID: " + strings.Join(r.Anomalies, ", ") + " (safety violation)"
	case r.Class == harness.ClassLiveness:
		return "LIVENESS FAILURE: " + r.Liveness
	}
	return "RUN FAILED: " + strings.Join(r.Anomalies, ", ")
}

// summary prints the outcome of a run after its header; its last line is
// always the replay command.
func summary(w io.Writer, r harness.Result, o *options, artifacts string) {
	fmt.Fprintf(w, "%s  (exit %d)\n", verdict(r), exitCode(r))
	if r.Stopped != 0 {
		fmt.Fprintf(w, "  stopped at step %d (--step): the partial history was checked, the liveness phase did not run\n", r.Stopped)
	}
	fmt.Fprintf(w, "  ops: %d ok, %d fail, %d info   simulated %v in %d steps (%d ms wall)\n",
		r.OpsOK, r.OpsFail, r.OpsInfo, time.Duration(r.SimMS)*time.Millisecond, r.Steps, r.WallMS)
	fmt.Fprintf(w, "  trace hash: %s\n", r.TraceHash)
	if r.Error != "" {
		fmt.Fprintf(w, "  run failed: %s\n", r.Error)
		if r.Failure != nil {
			for _, e := range r.Failure.Tail {
				fmt.Fprintf(w, "    %s\n", e)
			}
		}
	}
	if r.Check.Reason != "" && !r.Valid {
		fmt.Fprintf(w, "  checker: %s\n", r.Check.Reason)
	}
	for i, a := range r.Check.Anomalies {
		if i == maxAnomalies {
			fmt.Fprintf(w, "  (+%d more anomalies; check the history with simrun check)\n", len(r.Check.Anomalies)-i)
			break
		}
		fmt.Fprintf(w, "  %s: %s\n", a.Kind, a.Explanation)
		for j, op := range a.Ops {
			if j == maxOps {
				fmt.Fprintf(w, "    (+%d more operations: see timeline.html, or simrun check the history)\n", len(a.Ops)-j)
				break
			}
			fmt.Fprintf(w, "    %s\n", op)
		}
	}
	if !r.Valid && len(r.Schedule) > 0 {
		fmt.Fprintf(w, "  faults injected (%d):", len(r.Schedule))
		for i, f := range r.Schedule {
			if i == 20 {
				fmt.Fprintf(w, " ...")
				break
			}
			fmt.Fprintf(w, " %s;", f)
		}
		fmt.Fprintln(w)
	}
	if artifacts != "" {
		fmt.Fprintf(w, "  wrote %s: history.jsonl, trace.txt, timeline.html%s\n", artifacts, porcupineNote(r))
	}
	if !r.Valid {
		fmt.Fprintf(w, "shrink: %s\n", shrinkCommand(r.Seed, o))
	}
	fmt.Fprintf(w, "replay: %s\n", replayCommand(r.Seed, o))
}

func porcupineNote(r harness.Result) string {
	if wantsPorcupine(r) {
		return ", porcupine.html"
	}
	return ""
}

// shrinkCommand is the command that shrinks a failing seed.
func shrinkCommand(seed uint64, o *options) string {
	return commandLine("shrink", seed, o)
}

// sweepTable ends a human sweep: the totals, then the failing seeds by class.
func sweepTable(w io.Writer, n, failed int, bySeed map[string][]uint64) {
	fmt.Fprintf(w, "%d seeds: %d valid, %d failed\n", n, n-failed, failed)
	for _, c := range []struct {
		class string
		exit  int
	}{{harness.ClassSafety, exitSafety}, {harness.ClassLiveness, exitLiveness}, {harness.ClassRun, exitRun}} {
		seeds := bySeed[c.class]
		if len(seeds) == 0 {
			continue
		}
		ss := make([]string, 0, 10)
		for i, s := range seeds {
			if i == 10 {
				ss = append(ss, "...")
				break
			}
			ss = append(ss, fmt.Sprint(s))
		}
		fmt.Fprintf(w, "  %-9s %4d  (exit %d)  seeds %s\n", c.class, len(seeds), c.exit, strings.Join(ss, ","))
	}
}

// traceLegend documents the columns of sim.TraceEvent.String, the form of
// --replay and trace.txt.
const traceLegend = `# One line per trace event, in order:
#   STEP  TIME  KIND  [tTASK] [NAME] [#ARG] [TEXT]
# STEP  scheduling steps taken so far (a pick line starts step STEP)
# TIME  virtual time since the start of the run
# KIND  spawn  task tTASK created, NAME its name
#       pick   the scheduler runs tTASK (the step's only running task)
#       timer  timer #ARG (its sequence number) fired
#       exit   tTASK returned;  panic: tTASK panicked with TEXT
#       fault  a fault was applied: NAME fault (network) or cluster, TEXT the fault
#       net    NAME is send, deliver, drop, drop-partition, drop-down, dup, lost,
#              lostresp, timeout, refused or nohandler; #ARG the message id,
#              TEXT the link from->to
#       op     NAME is invoke, ok, fail or info; TEXT the function; #ARG the process
#       log    anything else a component recorded
# --step K stops the run as the task picked at step K next blocks.
`

// writeLegend starts a human-readable trace.
func writeLegend(w io.Writer, seed uint64) {
	fmt.Fprintf(w, "# trace of seed %d\n%s", seed, traceLegend)
}
