// Command simrun runs deterministic simulations of the TiKV client against the
// simulated cluster, checks their histories, and replays any failure exactly
// from its seed.
//
//	go run ./cmd/simrun                          one short run, human summary
//	go run ./cmd/simrun --seeds 1-200 --faults swarm --json
//	go run ./cmd/simrun --seed 7 --replay=trace.txt --step 5000
//	go run ./cmd/simrun shrink --seed 7 --faults swarm --bug counter-nodedup
//	go run ./cmd/simrun check --model list-append --consistency serializable h.jsonl
//
// Exit status (see usageHead): 0 every run valid, 1 a safety violation,
// 2 bad usage or an internal error, 3 a liveness failure, 4 a run failure
// (panic, deadlock, budget, stall, or a checker that could not decide).
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tikvsim/tikvsim/checkers"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/harness"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// The exit codes, one per failure class.
const (
	exitValid    = 0
	exitSafety   = 1
	exitUsage    = 2
	exitLiveness = 3
	exitRun      = 4
)

// exitCode maps a result's failure class to the exit status.
func exitCode(r harness.Result) int {
	switch {
	case r.Valid:
		return exitValid
	case r.Class == harness.ClassSafety:
		return exitSafety
	case r.Class == harness.ClassLiveness:
		return exitLiveness
	}
	return exitRun
}

// worse orders exit codes by how much a sweep's status should report them:
// a safety violation first, then a run failure, then a liveness failure.
func worse(a, b int) int {
	rank := map[int]int{exitValid: 0, exitLiveness: 1, exitRun: 2, exitSafety: 3, exitUsage: 4}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

type options struct {
	seed          uint64
	seeds         string
	workload      string
	faults        string
	duration      time.Duration
	clients       int
	maxOps        int
	json          bool
	trace         string
	history       string
	shard         string
	parallel      int
	bug           string
	txn           string
	maxSteps      uint64
	livenessBound time.Duration
	out           string
	replay        replayFlag
	step          uint64
	api           string
	gc            string

	outMu  sync.Mutex // guards outDir
	outDir string     // the artifact directory, once created
}

const usageHead = `simrun: deterministic simulation of the TiKV client against a fake cluster.

Usage:
  simrun [run] [flags]                   run one seed or a sweep (the default)
  simrun shrink --seed N [flags]         reduce a failing run; print the minimal command
  simrun check --model M [flags] FILE    check a JSONL history file (simrun check --help)
  simrun serve [flags]                   serve the fake cluster over gRPC in real time (simrun serve --help)

One seed gives one execution: rerun a failing seed with --seed N to replay it
exactly. On a failure simrun writes the history, the human-readable trace and
an HTML timeline into --out (default: a new temporary directory, named in the
summary) and prints the exact replay command. --replay prints the whole trace
of one seed (see the legend at its top); --step K stops the run at step K.

Faults: a preset (none, network, all, swarm) or an explicit schedule,
';'-separated, each entry a fault applied at the start or "@T fault" applied
at virtual time T: 'drop(0.1);@1.5s partition(counter|client0)'. Cluster
workloads also take topology actions: @2s crash(2), split("reg2"), pd-leader.

Exit status (a sweep exits with the most serious class it found, in the
order 1, 4, 3):
  0  every run valid
  1  safety violation: a checker found an anomaly in the history
  2  bad usage or an internal error (such as a file that cannot be written)
  3  liveness failure: no convergence within --liveness-bound after the heal
  4  run failure: panic, deadlock, step or time budget, stall, or a checker
     that could not decide

Flags:
`

// replayFlag is --replay: a bool flag that also takes a file (--replay=FILE).
type replayFlag struct{ path string }

func (r *replayFlag) String() string   { return r.path }
func (r *replayFlag) IsBoolFlag() bool { return true }
func (r *replayFlag) Set(s string) error {
	switch s {
	case "true":
		r.path = "-"
	case "false":
		r.path = ""
	default:
		r.path = s
	}
	return nil
}

// runFlags declares the flags shared by run and shrink.
func runFlags(name string, o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Uint64Var(&o.seed, "seed", 1, "the seed of a single run")
	fs.StringVar(&o.workload, "workload", "counter", "workload: "+strings.Join(harness.Workloads(), ", "))
	fs.StringVar(&o.faults, "faults", "none", "fault preset ("+strings.Join(harness.Presets, ", ")+") or a ';'-separated fault schedule such as 'drop(0.1);@1.5s partition(counter|client0)'")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "simulated length of the safety phase")
	fs.IntVar(&o.clients, "clients", 3, "number of client processes")
	fs.IntVar(&o.maxOps, "max-ops", 0, "end the safety phase once this many operations were invoked (0: no limit)")
	fs.StringVar(&o.bug, "bug", "", "switch on a deliberately injected bug (tests of the checkers): "+bugList())
	fs.StringVar(&o.txn, "txn", "2pc", "commit protocol of transactional workloads: 2pc, async, 1pc, mixed (a random one per transaction), pessimistic (keys locked before they are read for update or written), or pessimistic-aggressive (the same under aggressive/fair locking)")
	fs.Uint64Var(&o.maxSteps, "max-steps", 0, "fail a run after this many scheduling steps (0: 50 million)")
	fs.DurationVar(&o.livenessBound, "liveness-bound", harness.DefaultLivenessBound, "virtual time the workload has to converge after every fault heals")
	fs.StringVar(&o.out, "out", "", "directory for the files written on a failure (default: a new temporary directory)")
	fs.StringVar(&o.api, "api", "v1", "API version of cluster workloads: v1, or v2 (API V2 cluster, clients in a keyspace)")
	fs.StringVar(&o.gc, "gc", "off", "GC during transactional workloads: off, on (every 300ms, safe point 8s behind), swarm (drawn from the seed), or LAG[/EVERY] such as 8s/300ms")
	return fs
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "run":
			args = args[1:]
		case "check":
			return runCheck(args[1:], stdout, stderr)
		case "shrink":
			return runShrink(args[1:], stdout, stderr)
		case "serve":
			return runServe(args[1:], os.Stdin, stdout, stderr)
		}
	}
	o := &options{}
	fs := runFlags("simrun", o, stderr)
	fs.StringVar(&o.seeds, "seeds", "", "a sweep: a range A-B or a comma list (e.g. 1-200 or 3,7,9-12); overrides --seed")
	fs.BoolVar(&o.json, "json", false, "print exactly one JSON object per seed on stdout")
	fs.StringVar(&o.trace, "trace", "", "write the JSONL trace to this file (sweeps: one file per seed, FILE-SEED.ext)")
	fs.StringVar(&o.history, "history", "", "write the JSONL history to this file (sweeps: one file per seed)")
	fs.StringVar(&o.shard, "shard", "", "run only shard k of n of the sweep (k/n, 1-based), for batch systems")
	fs.IntVar(&o.parallel, "parallel", 1, "worlds to run at once (results stay in seed order)")
	fs.Var(&o.replay, "replay", "run --seed printing its full human-readable trace to stdout (--replay) or to a file (--replay=FILE)")
	fs.Uint64Var(&o.step, "step", 0, "stop the run at scheduling step K (stop-at-step debugging; the partial history is checked)")
	fs.Usage = func() {
		fmt.Fprint(stderr, usageHead)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "simrun: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	seeds := []uint64{o.seed}
	if o.seeds != "" {
		var err error
		if seeds, err = parseSeeds(o.seeds); err != nil {
			fmt.Fprintf(stderr, "simrun: --seeds: %v\n", err)
			return exitUsage
		}
	}
	if o.shard != "" {
		var err error
		if seeds, err = shard(seeds, o.shard); err != nil {
			fmt.Fprintf(stderr, "simrun: --shard: %v\n", err)
			return exitUsage
		}
	}
	if (o.replay.path != "" || o.step != 0) && len(seeds) != 1 {
		fmt.Fprintln(stderr, "simrun: --replay and --step take one seed (--seed N)")
		return exitUsage
	}
	if o.replay.path != "" && o.json {
		fmt.Fprintln(stderr, "simrun: --replay prints a human trace; it does not combine with --json (use --trace FILE for a JSONL trace)")
		return exitUsage
	}
	base, err := o.spec()
	if err != nil {
		fmt.Fprintf(stderr, "simrun: %v\n", err)
		return exitUsage
	}
	if o.parallel < 1 {
		o.parallel = 1
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	if len(seeds) == 1 && !o.json {
		return single(seeds[0], o, base, out, stderr)
	}
	results := sweep(seeds, o, base, stderr)
	exit := 0
	counts := map[string][]uint64{}
	failed := 0
	for _, r := range results {
		if r.err != nil {
			fmt.Fprintf(stderr, "simrun: seed %d: %v\n", r.res.Seed, r.err)
			return exitUsage
		}
		exit = worse(exit, exitCode(r.res))
		if !r.res.Valid {
			failed++
			counts[r.res.Class] = append(counts[r.res.Class], r.res.Seed)
		}
		if o.json {
			b, _ := json.Marshal(jsonLine{r.res, r.artifacts, r.replay})
			out.Write(append(b, '\n'))
			continue
		}
		if !r.res.Valid {
			header(out, r.res, o)
			summary(out, r.res, o, r.artifacts)
		}
	}
	if !o.json {
		sweepTable(out, len(results), failed, counts)
	}
	return exit
}

// jsonLine is the --json line: the run's Result plus where its failure files
// went and how to replay it (both only on a failure).
type jsonLine struct {
	harness.Result
	Artifacts string `json:"artifacts,omitempty"`
	Replay    string `json:"replay,omitempty"`
}

// spec builds the harness spec of the flags, validated.
func (o *options) spec() (harness.Spec, error) {
	s := harness.Spec{Workload: o.workload, Faults: o.faults, Duration: o.duration, Clients: o.clients, MaxOps: o.maxOps,
		Bug: o.bug, Txn: o.txn, MaxSteps: o.maxSteps, LivenessBound: o.livenessBound, StopAtStep: o.step, APIVersion: o.api, GC: o.gc}
	err := s.Normalize()
	return s, err
}

// single runs one seed with the human output: the header (every derived
// option) as soon as the workload has set up, then the summary.
func single(seed uint64, o *options, base harness.Spec, out *bufio.Writer, stderr io.Writer) int {
	base.OnSetup = func(setup string) {
		header(out, harness.Result{Seed: seed, Workload: base.Workload, Faults: base.Faults, Setup: setup}, o)
		out.Flush()
	}
	var traceOut io.Writer
	if o.replay.path != "" {
		traceOut = out
		if o.replay.path != "-" {
			f, err := os.Create(o.replay.path)
			if err != nil {
				fmt.Fprintf(stderr, "simrun: --replay: %v\n", err)
				return exitUsage
			}
			defer f.Close()
			bw := bufio.NewWriter(f)
			defer bw.Flush()
			traceOut = bw
		}
		writeLegend(traceOut, seed)
		prev := base.Trace
		base.Trace = func(e sim.TraceEvent) {
			fmt.Fprintln(traceOut, e.String())
			if prev != nil {
				prev(e)
			}
		}
	}
	r := runOne(seed, o, base, false)
	if r.err != nil {
		fmt.Fprintf(stderr, "simrun: seed %d: %v\n", seed, r.err)
		return exitUsage
	}
	if r.res.Setup == "" { // the run failed before its setup was done
		header(out, r.res, o)
	}
	if o.replay.path != "" && o.replay.path != "-" {
		fmt.Fprintf(out, "trace written to %s\n", o.replay.path)
	}
	summary(out, r.res, o, r.artifacts)
	return exitCode(r.res)
}

func bugList() string {
	var names []string
	for name := range harness.Bugs {
		names = append(names, name)
	}
	if len(names) == 0 {
		return "none"
	}
	sortStrings(names)
	return strings.Join(names, ", ")
}

func sortStrings(a []string) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

type outcome struct {
	res       harness.Result
	artifacts string // where the failure files went
	replay    string // the replay command, on a failure
	err       error  // an I/O error writing a trace, history or failure file
}

// sweep runs the seeds, o.parallel at a time, and returns results in seed
// order. Each world is independent, so parallelism cannot change a result.
func sweep(seeds []uint64, o *options, base harness.Spec, stderr io.Writer) []outcome {
	results := make([]outcome, len(seeds))
	sem := make(chan struct{}, o.parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done, failed := 0, 0
	start := time.Now()
	progress := isTerminal(stderr) && len(seeds) > 1
	for i, seed := range seeds {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i] = runOne(seed, o, base, len(seeds) > 1)
			mu.Lock()
			done++
			if !results[i].res.Valid {
				failed++
			}
			if progress {
				el := time.Since(start)
				rate := float64(done) / el.Seconds()
				eta := time.Duration(float64(len(seeds)-done)/rate) * time.Second
				fmt.Fprintf(stderr, "\r%d/%d seeds, %d failed, %.1f seeds/s, ETA %v   ", done, len(seeds), failed, rate, eta.Round(time.Second))
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if progress {
		fmt.Fprintln(stderr)
	}
	return results
}

func runOne(seed uint64, o *options, base harness.Spec, many bool) outcome {
	spec := base
	spec.Seed = seed
	if o.trace != "" {
		f, err := os.Create(perSeed(o.trace, seed, many))
		if err != nil {
			return outcome{res: harness.Result{Seed: seed}, err: err}
		}
		defer f.Close()
		tw := bufio.NewWriter(f)
		defer tw.Flush()
		enc := json.NewEncoder(tw)
		prev := spec.Trace
		spec.Trace = func(e sim.TraceEvent) {
			_ = enc.Encode(e)
			if prev != nil {
				prev(e)
			}
		}
	}
	res := harness.Run(spec)
	if o.history != "" {
		f, err := os.Create(perSeed(o.history, seed, many))
		if err != nil {
			return outcome{res: res, err: err}
		}
		defer f.Close()
		if err := checkers.WriteJSONL(f, res.History); err != nil {
			return outcome{res: res, err: err}
		}
	}
	oc := outcome{res: res}
	if !res.Valid {
		oc.replay = replayCommand(seed, o)
		oc.artifacts, oc.err = writeArtifacts(o, spec, res)
	}
	return oc
}

// artifactDir returns the directory for seed's failure files, creating the
// run's output directory on first use.
func (o *options) artifactDir(seed uint64) (string, error) {
	o.outMu.Lock()
	defer o.outMu.Unlock()
	if o.outDir == "" {
		if o.out != "" {
			o.outDir = o.out
		} else {
			d, err := os.MkdirTemp("", "simrun-")
			if err != nil {
				return "", err
			}
			o.outDir = d
		}
	}
	dir := filepath.Join(o.outDir, fmt.Sprintf("seed-%d", seed))
	return dir, os.MkdirAll(dir, 0o755)
}

// perSeed turns FILE.ext into FILE-SEED.ext when a sweep writes one per seed.
func perSeed(path string, seed uint64, many bool) string {
	if !many {
		return path
	}
	ext := filepath.Ext(path)
	return fmt.Sprintf("%s-%d%s", strings.TrimSuffix(path, ext), seed, ext)
}

// maxAnomalies is how many anomalies the human summary shows, and maxOps how
// many operations of each.
const (
	maxAnomalies = 5
	maxOps       = 12
)

// replayCommand is the command line that reruns seed with o's options.
func replayCommand(seed uint64, o *options) string { return commandLine("", seed, o) }

// commandLine renders the simrun command line (sub is "" or a subcommand)
// that runs seed with o's options.
func commandLine(sub string, seed uint64, o *options) string {
	spec := harness.Spec{Seed: seed, Workload: o.workload, Faults: o.faults, Duration: o.duration,
		Clients: o.clients, MaxOps: o.maxOps, Bug: o.bug, Txn: o.txn, MaxSteps: o.maxSteps, LivenessBound: o.livenessBound, APIVersion: o.api, GC: o.gc}
	cmd := "go run ./cmd/simrun "
	if sub != "" {
		cmd += sub + " "
	}
	return cmd + spec.Flags()
}

// parseSeeds reads "A-B" ranges and comma lists of them.
func parseSeeds(s string) ([]uint64, error) {
	var out []uint64
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad seed %q", part)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 64); err != nil || b < a {
				return nil, fmt.Errorf("bad seed range %q", part)
			}
		}
		if b-a >= 10_000_000 {
			return nil, fmt.Errorf("seed range %q too large", part)
		}
		for x := a; ; x++ {
			out = append(out, x)
			if x == b {
				break
			}
		}
	}
	return out, nil
}

// shard keeps the k-th of n interleaved slices of seeds (k is 1-based), so
// every shard gets a similar mix.
func shard(seeds []uint64, spec string) ([]uint64, error) {
	ks, ns, ok := strings.Cut(spec, "/")
	k, err1 := strconv.Atoi(ks)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || n < 1 || k < 1 || k > n {
		return nil, fmt.Errorf("want k/n with 1 <= k <= n, got %q", spec)
	}
	var out []uint64
	for i, s := range seeds {
		if i%n == k-1 {
			out = append(out, s)
		}
	}
	return out, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
