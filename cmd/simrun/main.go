// Command simrun runs deterministic simulations of the TiKV client against the
// simulated cluster, checks their histories, and replays any failure exactly
// from its seed.
//
//	go run ./cmd/simrun                          one short run, human summary
//	go run ./cmd/simrun --seeds 1-200 --faults swarm --json
//
// Exit status: 0 every run valid, 1 a checker found a violation (or a run
// failed: panic, deadlock, budget), 2 bad usage or internal error.
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

type options struct {
	seed     uint64
	seeds    string
	workload string
	faults   string
	duration time.Duration
	clients  int
	json     bool
	trace    string
	history  string
	shard    string
	parallel int
	bug      string
	maxSteps uint64
}

const usageHead = `simrun: deterministic simulation of the TiKV client against a fake cluster.

Usage:
  simrun [flags]

One seed gives one execution: rerun a failing seed with --seed N to replay it
exactly. Exit status: 0 all runs valid, 1 a violation or a failed run, 2 bad
usage or internal error.

Flags:
`

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("simrun", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Uint64Var(&o.seed, "seed", 1, "the seed of a single run")
	fs.StringVar(&o.seeds, "seeds", "", "a sweep: a range A-B or a comma list (e.g. 1-200 or 3,7,9-12); overrides --seed")
	fs.StringVar(&o.workload, "workload", "counter", "workload: "+strings.Join(harness.Workloads(), ", "))
	fs.StringVar(&o.faults, "faults", "none", "fault preset ("+strings.Join(harness.Presets, ", ")+") or a ';'-separated fault list such as 'drop(0.1);partition(counter|client0)'")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "simulated length of the safety phase")
	fs.IntVar(&o.clients, "clients", 3, "number of client processes")
	fs.BoolVar(&o.json, "json", false, "print exactly one JSON object per seed on stdout")
	fs.StringVar(&o.trace, "trace", "", "write the JSONL trace to this file (sweeps: one file per seed, FILE-SEED.ext)")
	fs.StringVar(&o.history, "history", "", "write the JSONL history to this file (sweeps: one file per seed)")
	fs.StringVar(&o.shard, "shard", "", "run only shard k of n of the sweep (k/n, 1-based), for batch systems")
	fs.IntVar(&o.parallel, "parallel", 1, "worlds to run at once (results stay in seed order)")
	fs.StringVar(&o.bug, "bug", "", "switch on a deliberately injected bug (tests of the checkers): "+bugList())
	fs.Uint64Var(&o.maxSteps, "max-steps", 0, "fail a run after this many scheduling steps (0: 50 million)")
	fs.Usage = func() {
		fmt.Fprint(stderr, usageHead)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "simrun: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	seeds := []uint64{o.seed}
	if o.seeds != "" {
		var err error
		if seeds, err = parseSeeds(o.seeds); err != nil {
			fmt.Fprintf(stderr, "simrun: --seeds: %v\n", err)
			return 2
		}
	}
	if o.shard != "" {
		var err error
		if seeds, err = shard(seeds, o.shard); err != nil {
			fmt.Fprintf(stderr, "simrun: --shard: %v\n", err)
			return 2
		}
	}
	base := harness.Spec{Workload: o.workload, Faults: o.faults, Duration: o.duration, Clients: o.clients, Bug: o.bug, MaxSteps: o.maxSteps}
	if err := base.Normalize(); err != nil {
		fmt.Fprintf(stderr, "simrun: %v\n", err)
		return 2
	}
	if o.parallel < 1 {
		o.parallel = 1
	}
	results := sweep(seeds, o, base, stderr)
	exit := 0
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	failed := 0
	for _, r := range results {
		if r.err != nil {
			fmt.Fprintf(stderr, "simrun: seed %d: %v\n", r.res.Seed, r.err)
			return 2
		}
		if !r.res.Valid {
			failed++
			exit = 1
		}
		if o.json {
			b, _ := json.Marshal(r.res)
			out.Write(append(b, '\n'))
			continue
		}
		if len(results) == 1 || !r.res.Valid {
			summary(out, r.res, o)
		}
	}
	if !o.json && len(results) > 1 {
		fmt.Fprintf(out, "%d seeds: %d valid, %d failed\n", len(results), len(results)-failed, failed)
	}
	return exit
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
	res harness.Result
	err error // an I/O error writing a trace or history
}

// sweep runs the seeds, o.parallel at a time, and returns results in seed
// order. Each world is independent, so parallelism cannot change a result.
func sweep(seeds []uint64, o options, base harness.Spec, stderr io.Writer) []outcome {
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

func runOne(seed uint64, o options, base harness.Spec, many bool) outcome {
	spec := base
	spec.Seed = seed
	var tw *bufio.Writer
	if o.trace != "" {
		f, err := os.Create(perSeed(o.trace, seed, many))
		if err != nil {
			return outcome{harness.Result{Seed: seed}, err}
		}
		defer f.Close()
		tw = bufio.NewWriter(f)
		defer tw.Flush()
		enc := json.NewEncoder(tw)
		spec.Trace = func(e sim.TraceEvent) { _ = enc.Encode(e) }
	}
	res := harness.Run(spec)
	if o.history != "" {
		f, err := os.Create(perSeed(o.history, seed, many))
		if err != nil {
			return outcome{res, err}
		}
		defer f.Close()
		if err := checkers.WriteJSONL(f, res.History); err != nil {
			return outcome{res, err}
		}
	}
	return outcome{res: res}
}

// perSeed turns FILE.ext into FILE-SEED.ext when a sweep writes one per seed.
func perSeed(path string, seed uint64, many bool) string {
	if !many {
		return path
	}
	ext := filepath.Ext(path)
	return fmt.Sprintf("%s-%d%s", strings.TrimSuffix(path, ext), seed, ext)
}

func summary(w io.Writer, r harness.Result, o options) {
	verdict := "VALID"
	if !r.Valid {
		verdict = "INVALID: " + strings.Join(r.Anomalies, ", ")
	}
	fmt.Fprintf(w, "seed %d  workload %s  faults %s  %s\n", r.Seed, r.Workload, r.Faults, verdict)
	if r.Setup != "" {
		fmt.Fprintf(w, "  setup: %s\n", r.Setup)
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
	for i, a := range r.Check.Anomalies {
		if i == maxAnomalies {
			fmt.Fprintf(w, "  (+%d more anomalies; write them all with --history and check the file)\n", len(r.Check.Anomalies)-i)
			break
		}
		fmt.Fprintf(w, "  %s: %s\n", a.Kind, a.Explanation)
		for _, op := range a.Ops {
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
	fmt.Fprintf(w, "replay: %s\n", replayCommand(r.Seed, o))
}

// maxAnomalies is how many anomalies the human summary shows.
const maxAnomalies = 5

func replayCommand(seed uint64, o options) string {
	parts := []string{"go run ./cmd/simrun", "--seed", strconv.FormatUint(seed, 10),
		"--workload", o.workload, "--faults", shellQuote(o.faults),
		"--duration", o.duration.String(), "--clients", strconv.Itoa(o.clients)}
	if o.bug != "" {
		parts = append(parts, "--bug", o.bug)
	}
	if o.maxSteps != 0 {
		parts = append(parts, "--max-steps", strconv.FormatUint(o.maxSteps, 10))
	}
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if strings.ContainsAny(s, " ;|()<>&$'\"") {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return s
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
