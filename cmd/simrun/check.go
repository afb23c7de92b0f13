package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tikvsim/tikvsim/checkers"
	"github.com/tikvsim/tikvsim/checkers/elle"
	"github.com/tikvsim/tikvsim/checkers/invariant"
	"github.com/tikvsim/tikvsim/checkers/linearizability"
	"github.com/tikvsim/tikvsim/workloads/counter"
)

// checkModels are the --model names of simrun check, with what they check.
var checkModels = [][2]string{
	{"linearizable", "register read/write/cas per key, linearizability (porcupine)"},
	{"list-append", "transactions of appends and list reads (Elle), under --consistency"},
	{"rw-register", "transactions of register writes and reads (Elle), under --consistency"},
	{"bank", "transfers and reads of every balance: the total is --total"},
	{"set", "adds and reads of a grow-only set: no acknowledged add lost"},
	{"monotonic", "reads per process and key never go back"},
	{"counter", "the counter workload: reads between acknowledged and attempted adds"},
}

var consistencyModels = []string{
	string(elle.SnapshotIsolation), string(elle.StrongSnapshotIsolation),
	string(elle.Serializable), string(elle.StrictSerializable),
}

const checkUsage = `simrun check: check a JSONL history file (docs/history.md) with one checker.

Usage:
  simrun check --model M [flags] FILE      (FILE "-" reads stdin)

Prints the verdict and every anomaly with the operations that show it.
Exit status: 0 the history satisfies the model, 1 it does not (anomalies
found), 2 bad usage, an unreadable file, or no verdict (a malformed history,
an exhausted search budget or timeout: "unknown").

Models:
`

type checkOptions struct {
	model, consistency, accounts, out, f string
	total                                int64
	totalSet, allowNegative              bool
	timeout                              time.Duration
}

func runCheck(args []string, stdout, stderr io.Writer) int {
	var c checkOptions
	fs := flag.NewFlagSet("simrun check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.model, "model", "", "the checker (required): "+strings.Join(modelNames(), ", "))
	fs.StringVar(&c.consistency, "consistency", string(elle.StrongSnapshotIsolation), "for list-append and rw-register: "+strings.Join(consistencyModels, ", "))
	fs.Func("total", "for bank: the sum every read must show (default: the sum of the first ok read)", func(s string) error {
		_, err := fmt.Sscan(s, &c.total)
		c.totalSet = true
		return err
	})
	fs.StringVar(&c.accounts, "accounts", "", "for bank: the comma-separated accounts every read must show")
	fs.BoolVar(&c.allowNegative, "allow-negative", false, "for bank: negative balances are allowed")
	fs.StringVar(&c.f, "f", "read", "for monotonic: the read function to look at")
	fs.DurationVar(&c.timeout, "timeout", 0, "for linearizable: porcupine's wall-clock bound per key; expiry gives unknown, never a verdict (0: none)")
	fs.StringVar(&c.out, "out", "", "on a violation, write timeline.html (and porcupine.html for linearizable) into this directory")
	fs.Usage = func() {
		fmt.Fprint(stderr, checkUsage)
		for _, m := range checkModels {
			fmt.Fprintf(stderr, "  %-13s %s\n", m[0], m[1])
		}
		fmt.Fprintln(stderr, "\nFlags:")
		fs.PrintDefaults()
	}
	// Flags may come before or after the file.
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return exitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(files) != 1 || c.model == "" {
		fmt.Fprintln(stderr, "simrun check: want --model M and exactly one history FILE (simrun check --help)")
		return exitUsage
	}
	if !slices.Contains(modelNames(), c.model) {
		fmt.Fprintf(stderr, "simrun check: unknown model %q (have %s)\n", c.model, strings.Join(modelNames(), ", "))
		return exitUsage
	}
	if !slices.Contains(consistencyModels, c.consistency) {
		fmt.Fprintf(stderr, "simrun check: unknown consistency %q (have %s)\n", c.consistency, strings.Join(consistencyModels, ", "))
		return exitUsage
	}
	h, err := readHistory(files[0])
	if err != nil {
		fmt.Fprintf(stderr, "simrun check: %v\n", err)
		return exitUsage
	}
	res, note := c.check(h)
	fmt.Fprintf(stdout, "history %s: %d entries\n", files[0], len(h))
	fmt.Fprintf(stdout, "model %s", c.model)
	if c.model == "list-append" || c.model == "rw-register" {
		fmt.Fprintf(stdout, " (%s)", c.consistency)
	}
	fmt.Fprintln(stdout)
	if note != "" {
		fmt.Fprintf(stdout, "  %s\n", note)
	}
	switch res.Verdict {
	case checkers.Ok:
		fmt.Fprintln(stdout, "VALID")
	case checkers.Unknown:
		fmt.Fprintf(stdout, "UNKNOWN: %s\n", res.Reason)
	default:
		fmt.Fprintf(stdout, "INVALID: %s\n", strings.Join(res.Kinds(), ", "))
	}
	for _, a := range res.Anomalies {
		printAnomaly(stdout, "", a)
	}
	for _, a := range res.Allowed {
		printAnomaly(stdout, "allowed by "+c.consistency+": ", a)
	}
	if res.Verdict == checkers.Illegal && c.out != "" {
		if err := c.writeFiles(files[0], h, res); err != nil {
			fmt.Fprintf(stderr, "simrun check: %v\n", err)
			return exitUsage
		}
		fmt.Fprintf(stdout, "wrote %s\n", c.out)
	}
	switch res.Verdict {
	case checkers.Ok:
		return 0
	case checkers.Illegal:
		return 1
	}
	return exitUsage
}

func modelNames() []string {
	var names []string
	for _, m := range checkModels {
		names = append(names, m[0])
	}
	return names
}

func readHistory(path string) (checkers.History, error) {
	if path == "-" {
		return checkers.ReadJSONL(os.Stdin)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return checkers.ReadJSONL(f)
}

// check runs the chosen checker; note says anything it inferred.
func (c *checkOptions) check(h checkers.History) (checkers.Result, string) {
	switch c.model {
	case "linearizable":
		return linearizability.Check(h, linearizability.Options{Timeout: c.timeout}), ""
	case "list-append", "rw-register":
		return elle.Check(h, elle.Options{Model: elle.Model(c.consistency), Workload: elle.Workload(c.model)}), ""
	case "bank":
		opts := invariant.BankOptions{Total: c.total, AllowNegative: c.allowNegative}
		if c.accounts != "" {
			opts.Accounts = strings.Split(c.accounts, ",")
		}
		note := ""
		if !c.totalSet {
			total, ok := firstBankTotal(h)
			if !ok {
				return checkers.Result{Verdict: checkers.Unknown, Reason: "no ok read to infer the total from; give --total"}, ""
			}
			opts.Total = total
			note = fmt.Sprintf("total %d inferred from the first ok read (give --total to check it too)", total)
		}
		return invariant.Bank(h, opts), note
	case "set":
		return invariant.Set(h, invariant.SetOptions{}), ""
	case "monotonic":
		return invariant.MonotonicReads(h, invariant.MonotonicOptions{F: c.f}), ""
	case "counter":
		return counter.Check(h), ""
	}
	panic("simrun check: unhandled model " + c.model)
}

// firstBankTotal sums the balances of the first ok bank read.
func firstBankTotal(h checkers.History) (int64, bool) {
	for _, op := range h {
		if op.Type != checkers.OK || op.F != checkers.FRead {
			continue
		}
		m, ok := op.Value.(map[string]any)
		if !ok {
			continue
		}
		var sum int64
		for _, v := range m {
			n, ok := checkers.AsInt(v)
			if !ok {
				return 0, false
			}
			sum += n
		}
		return sum, true
	}
	return 0, false
}

func printAnomaly(w io.Writer, prefix string, a checkers.Anomaly) {
	fmt.Fprintf(w, "  %s%s: %s\n", prefix, a.Kind, a.Explanation)
	for i, op := range a.Ops {
		fmt.Fprintf(w, "    %s\n", op)
		if i < len(a.Cycle) {
			fmt.Fprintf(w, "      -> %s: %s\n", a.Cycle[i].Kind, a.Cycle[i].Why)
		}
	}
}

func (c *checkOptions) writeFiles(name string, h checkers.History, res checkers.Result) error {
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	title := fmt.Sprintf("%s, model %s: INVALID: %s", filepath.Base(name), c.model, strings.Join(res.Kinds(), ", "))
	if err := writeFile(filepath.Join(c.out, "timeline.html"), func(w io.Writer) error {
		return writeTimeline(w, title, h, res.Anomalies)
	}); err != nil {
		return err
	}
	if c.model != "linearizable" {
		return nil
	}
	return writeFile(filepath.Join(c.out, "porcupine.html"), func(w io.Writer) error {
		return linearizability.Visualize(w, h, linearizability.Options{Timeout: c.timeout})
	})
}
