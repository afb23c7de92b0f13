package harness

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

// A fault schedule is the explicit form of Spec.Faults: a ';'-separated list
// of entries, each a network fault (network.Fault syntax) or, for cluster
// workloads, a topology action (cluster.Action syntax), optionally prefixed by
// "@T " to apply it at virtual time T since the start of the run:
//
//	dup(0.3)                              from the start
//	@1.25s partition(pd|store1,store2)    at 1.25s
//	drop(0.05);@800ms crash(2);@2s restart(2)
//
// Entries without a time are applied first, in order; timed entries follow in
// order, each once virtual time reaches its T (at once if T has passed).
// Result.FaultSchedule records the faults a run's nemesis applied in this
// form, so a run under a preset (network, all, swarm) can be replayed, and
// shrunk, as an explicit schedule: with the same seed, the replay reproduces
// the run exactly (the same trace hash), because the nemesis wakes at the same
// virtual times and applies the same faults.

// Entry is one fault of a schedule.
type Entry struct {
	// At is when to apply the fault (virtual time since the start of the
	// run), meaningful only when Timed.
	At time.Duration
	// Timed is false for an entry applied at the start.
	Timed bool
	// Fault is a network.Fault or a cluster.Action.
	Fault fmt.Stringer
}

// String renders the entry in the syntax ParseSchedule reads.
func (e Entry) String() string {
	if !e.Timed {
		return e.Fault.String()
	}
	return "@" + e.At.String() + " " + e.Fault.String()
}

// Schedule is a list of entries; see ParseSchedule.
type Schedule []Entry

// String renders the schedule in the syntax ParseSchedule reads.
func (s Schedule) String() string {
	parts := make([]string, len(s))
	for i, e := range s {
		parts[i] = e.String()
	}
	return strings.Join(parts, ";")
}

// usesCluster reports whether any entry is a cluster action.
func (s Schedule) usesCluster() bool {
	for _, e := range s {
		if _, ok := e.Fault.(cluster.Action); ok {
			return true
		}
	}
	return false
}

// ParseSchedule reads a schedule: ';'-separated entries (a ';' inside a
// quoted key does not separate), each "FAULT" or "@T FAULT" where T is a Go
// duration and FAULT a network fault or a cluster action. Empty entries are
// skipped.
func ParseSchedule(s string) (Schedule, error) {
	var out Schedule
	for _, part := range splitEntries(s) {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		var e Entry
		if rest, ok := strings.CutPrefix(part, "@"); ok {
			at, f, ok := strings.Cut(rest, " ")
			d, err := time.ParseDuration(at)
			if !ok || err != nil || d < 0 {
				return nil, fmt.Errorf("bad schedule entry %q: want @DURATION FAULT", part)
			}
			e.At, e.Timed, part = d, true, strings.TrimSpace(f)
		}
		f, err := parseFault(part)
		if err != nil {
			return nil, err
		}
		e.Fault = f
		out = append(out, e)
	}
	return out, nil
}

// splitEntries splits s at the ';' that are not inside a double-quoted
// string (a key of a topology action may hold one).
func splitEntries(s string) []string {
	var parts []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++ // skip the escaped byte
		case c == '"':
			quoted = !quoted
		case c == ';' && !quoted:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// parseFault reads a network fault or, failing that, a cluster action.
func parseFault(s string) (fmt.Stringer, error) {
	f, nerr := network.Parse(s)
	if nerr == nil {
		return f, nil
	}
	a, cerr := cluster.ParseAction(s)
	if cerr == nil {
		return a, nil
	}
	return nil, fmt.Errorf("%v (nor a cluster action: %v)", nerr, cerr)
}

// Flags returns the simrun flags that run s (the replay command is "go run
// ./cmd/simrun " followed by them): every field simrun has a flag for, with
// defaults left out except for the seed, workload, faults, duration and
// clients. Trace, StopAtStep, OnSetup and WallStall have no flag and are
// left out.
func (s Spec) Flags() string {
	n := s
	_ = n.Normalize() // fill defaults; a bad spec still prints what it has
	parts := []string{"--seed", strconv.FormatUint(n.Seed, 10), "--workload", n.Workload,
		"--faults", shellQuote(n.Faults), "--duration", n.Duration.String(), "--clients", strconv.Itoa(n.Clients)}
	if n.MaxOps > 0 {
		parts = append(parts, "--max-ops", strconv.Itoa(n.MaxOps))
	}
	if n.Bug != "" {
		parts = append(parts, "--bug", n.Bug)
	}
	if n.Txn != "" && n.Txn != "2pc" {
		parts = append(parts, "--txn", n.Txn)
	}
	if n.MaxSteps != defaultMaxSteps {
		parts = append(parts, "--max-steps", strconv.FormatUint(n.MaxSteps, 10))
	}
	if n.LivenessBound != DefaultLivenessBound {
		parts = append(parts, "--liveness-bound", n.LivenessBound.String())
	}
	if n.APIVersion == "v2" {
		parts = append(parts, "--api", "v2")
	}
	if n.GC != "" && n.GC != "off" {
		parts = append(parts, "--gc", n.GC)
	}
	return strings.Join(parts, " ")
}

// shellQuote quotes s for a POSIX shell when it holds special characters.
func shellQuote(s string) string {
	if strings.ContainsAny(s, " ;|()<>&$'\"*?[]#~") {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return s
}
