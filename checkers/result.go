package checkers

import (
	"fmt"
	"slices"
	"strings"
)

// Verdict is a checker's answer.
type Verdict int

const (
	// Ok: the history satisfies the property.
	Ok Verdict = iota
	// Illegal: the history violates the property; Result.Anomalies says how.
	Illegal
	// Unknown: the checker could not decide (malformed history, or a search
	// budget or timeout was exhausted); Result.Reason says why.
	Unknown
)

// String returns "ok", "illegal" or "unknown".
func (v Verdict) String() string {
	switch v {
	case Ok:
		return "ok"
	case Illegal:
		return "illegal"
	case Unknown:
		return "unknown"
	}
	return "verdict(?)"
}

// MarshalText encodes the verdict as its String form, so results read well
// in JSON summaries.
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText parses "ok", "illegal" or "unknown".
func (v *Verdict) UnmarshalText(b []byte) error {
	for _, c := range []Verdict{Ok, Illegal, Unknown} {
		if c.String() == string(b) {
			*v = c
			return nil
		}
	}
	return fmt.Errorf("unknown verdict %q", b)
}

// Result is what every checker returns.
type Result struct {
	// Verdict is Illegal exactly when Anomalies is non-empty.
	Verdict Verdict
	// Anomalies are the violations found, in a deterministic order.
	Anomalies []Anomaly
	// Allowed lists anomalies found but permitted by the chosen consistency
	// model (informational; they do not affect the verdict).
	Allowed []Anomaly
	// Reason explains an Unknown verdict.
	Reason string
	_      struct{}
}

// Anomaly is one violation with the operations that show it.
type Anomaly struct {
	// Kind names the anomaly, e.g. "G1c", "G-single-realtime",
	// "nonlinearizable", "lost-write", "negative-balance".
	Kind string
	// Ops are the completions (or invokes, for ops never completed) of the
	// operations involved. For a cycle they are in cycle order.
	Ops []Op
	// Cycle, for dependency cycles, has one step per op: Cycle[i] explains
	// why Ops[i] precedes Ops[(i+1)%len(Ops)].
	Cycle []Step
	// Explanation says in words what is wrong.
	Explanation string
	_           struct{}
}

// Step is one edge of a dependency cycle.
type Step struct {
	// Kind is "ww", "wr", "rw", "process" or "realtime".
	Kind string
	// Why is the edge in words, e.g. "T2 read T1's append of 3 to x".
	Why string
	_   struct{}
}

// Kinds returns the sorted distinct anomaly kinds of r.Anomalies.
func (r Result) Kinds() []string {
	var ks []string
	seen := map[string]bool{}
	for _, a := range r.Anomalies {
		if !seen[a.Kind] {
			seen[a.Kind] = true
			ks = append(ks, a.Kind)
		}
	}
	slices.Sort(ks)
	return ks
}

// String summarizes the result in one paragraph per anomaly.
func (r Result) String() string {
	var b strings.Builder
	b.WriteString(r.Verdict.String())
	if r.Reason != "" {
		b.WriteString(": " + r.Reason)
	}
	for _, a := range r.Anomalies {
		b.WriteString("\n" + a.Kind + ": " + a.Explanation)
	}
	return b.String()
}

// Finish sets the verdict from the anomalies: Illegal if there are any,
// otherwise Unknown if a reason is set, otherwise Ok. Checkers call it last.
func (r *Result) Finish() {
	switch {
	case len(r.Anomalies) > 0:
		r.Verdict = Illegal
	case r.Reason != "":
		r.Verdict = Unknown
	default:
		r.Verdict = Ok
	}
}
