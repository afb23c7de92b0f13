// Package invariant checks workload-level invariants that need no search:
// the bank total, set membership (no acknowledged insert lost) and monotonic
// reads per process. It owns the op shapes of those workloads (see
// docs/history.md):
//
//	bank:      {"f":"transfer","value":{"from":"a","to":"b","amount":5}}
//	           {"f":"read","value":{"a":10,"b":90}}
//	set:       {"f":"add","value":3}
//	           {"f":"read","value":[1,2,3]}
//	monotonic: {"f":"read","key":"x","value":5}   (or a list, for appends)
//
// Each checker is a pure function of the history and returns a
// checkers.Result whose anomalies name the operations that break the
// invariant.
package invariant

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tikvsim/tikvsim/checkers"
)

// Op names used by the bank and set workloads.
const (
	FTransfer = "transfer"
	FAdd      = "add"
)

// BankOptions describe the bank.
type BankOptions struct {
	// Total is the sum every complete read must show.
	Total int64
	// Accounts, if set, is the exact set of accounts every read must show.
	Accounts []string
	// AllowNegative permits negative balances.
	AllowNegative bool
	_             struct{}
}

// Bank checks every ok read of the bank: the balances sum to Total, no
// balance is negative (unless allowed), and the accounts are the expected
// ones. Anomalies: "wrong-total", "negative-balance", "wrong-accounts",
// "malformed-read".
func Bank(h checkers.History, opts BankOptions) checkers.Result {
	var res checkers.Result
	pairs, err := h.Pairs()
	if err != nil {
		return unknown(err)
	}
	want := slices.Clone(opts.Accounts)
	slices.Sort(want)
	for _, p := range pairs {
		op := p.Complete
		if p.Invoke.F != checkers.FRead || op.Type != checkers.OK {
			continue
		}
		m, ok := asMap(op.Value)
		if !ok {
			res.Anomalies = append(res.Anomalies, anomaly("malformed-read", fmt.Sprintf("#%d read %s, want an object of balances", op.Index, checkers.FormatValue(op.Value)), op))
			continue
		}
		accts := make([]string, 0, len(m))
		for a := range m {
			accts = append(accts, a)
		}
		slices.Sort(accts)
		var sum int64
		var negative []string
		bad := false
		for _, a := range accts {
			v, ok := checkers.AsInt(m[a])
			if !ok {
				bad = true
				break
			}
			sum += v
			if v < 0 {
				negative = append(negative, fmt.Sprintf("%s=%d", a, v))
			}
		}
		if bad {
			res.Anomalies = append(res.Anomalies, anomaly("malformed-read", fmt.Sprintf("#%d read %s, a balance is not an integer", op.Index, checkers.FormatValue(m)), op))
			continue
		}
		if len(want) > 0 && !slices.Equal(accts, want) {
			res.Anomalies = append(res.Anomalies, anomaly("wrong-accounts", fmt.Sprintf("#%d read accounts %q, want %q", op.Index, accts, want), op))
		}
		if sum != opts.Total {
			res.Anomalies = append(res.Anomalies, anomaly("wrong-total", fmt.Sprintf("#%d read %s, which sums to %d, want %d", op.Index, checkers.FormatValue(m), sum, opts.Total), op))
		}
		if len(negative) > 0 && !opts.AllowNegative {
			res.Anomalies = append(res.Anomalies, anomaly("negative-balance", fmt.Sprintf("#%d read negative balances %s", op.Index, strings.Join(negative, ", ")), op))
		}
	}
	res.Finish()
	return res
}

// SetOptions configure Set. The zero value is the usual check.
type SetOptions struct {
	_ struct{}
}

// Set checks a grow-only set: every ok read invoked after an add completed
// ok contains the added element ("lost-insert"); every element read was
// added by some operation that did not fail ("unexpected-element" for
// elements nobody added, "failed-insert-visible" for failed adds). Adds
// with unknown outcome may or may not appear.
func Set(h checkers.History, _ SetOptions) checkers.Result {
	var res checkers.Result
	pairs, err := h.Pairs()
	if err != nil {
		return unknown(err)
	}
	type add struct {
		inv, comp checkers.Op
	}
	adds := map[int64]add{}
	var acked []int64
	var reads []checkers.Pair
	for _, p := range pairs {
		switch p.Invoke.F {
		case FAdd:
			v, ok := checkers.AsInt(p.Invoke.Value)
			if !ok {
				return unknownf("op %d: add of %s, want an integer", p.Invoke.Index, checkers.FormatValue(p.Invoke.Value))
			}
			if _, dup := adds[v]; dup {
				return unknownf("op %d: %d added twice; the set workload needs unique elements", p.Invoke.Index, v)
			}
			adds[v] = add{p.Invoke, p.Complete}
			if p.Complete.Type == checkers.OK {
				acked = append(acked, v)
			}
		case checkers.FRead:
			if p.Complete.Type == checkers.OK {
				reads = append(reads, p)
			}
		}
	}
	// Acknowledged adds in completion order: a read must contain a prefix.
	slices.SortFunc(acked, func(a, b int64) int {
		ta, tb := adds[a].comp.Time, adds[b].comp.Time
		if ta != tb {
			return cmpInt(ta, tb)
		}
		return cmpInt(a, b)
	})
	lost := map[int64]bool{}
	for _, r := range reads {
		l, ok := asList(r.Complete.Value)
		if !ok && r.Complete.Value != nil {
			res.Anomalies = append(res.Anomalies, anomaly("malformed-read", fmt.Sprintf("#%d read %s, want a list", r.Complete.Index, checkers.FormatValue(r.Complete.Value)), r.Complete))
			continue
		}
		seen := make(map[int64]bool, len(l))
		for _, e := range l {
			v, ok := checkers.AsInt(e)
			if !ok {
				res.Anomalies = append(res.Anomalies, anomaly("malformed-read", fmt.Sprintf("#%d read non-integer %s", r.Complete.Index, checkers.FormatValue(e)), r.Complete))
				break
			}
			seen[v] = true
			a, known := adds[v]
			switch {
			case !known:
				res.Anomalies = append(res.Anomalies, anomaly("unexpected-element", fmt.Sprintf("#%d read %d, which no operation added", r.Complete.Index, v), r.Complete))
			case a.comp.Type == checkers.Fail:
				res.Anomalies = append(res.Anomalies, anomaly("failed-insert-visible", fmt.Sprintf("#%d read %d, whose add #%d failed", r.Complete.Index, v, a.comp.Index), r.Complete, a.comp))
			}
		}
		for _, v := range acked {
			a := adds[v]
			if a.comp.Time >= r.Invoke.Time {
				break
			}
			if !seen[v] && !lost[v] {
				lost[v] = true
				res.Anomalies = append(res.Anomalies, anomaly("lost-insert", fmt.Sprintf("add of %d completed at %d (#%d), but #%d, invoked at %d, read the set without it", v, a.comp.Time, a.comp.Index, r.Complete.Index, r.Invoke.Time), a.comp, r.Complete))
			}
		}
	}
	res.Finish()
	return res
}

// MonotonicOptions configure MonotonicReads.
type MonotonicOptions struct {
	// F is the read function to look at; empty means "read".
	F string
	_ struct{}
}

// MonotonicReads checks that, per process and key, successive ok reads
// never go back: integer values never decrease, and list values only grow
// (each is a prefix of the next). Anomaly: "nonmonotonic-read".
func MonotonicReads(h checkers.History, opts MonotonicOptions) checkers.Result {
	var res checkers.Result
	f := opts.F
	if f == "" {
		f = checkers.FRead
	}
	pairs, err := h.Pairs()
	if err != nil {
		return unknown(err)
	}
	type pk struct {
		process int
		key     string
	}
	last := map[pk]checkers.Op{}
	for _, p := range pairs {
		op := p.Complete
		if p.Invoke.F != f || op.Type != checkers.OK || op.Value == nil {
			continue
		}
		k := pk{op.Process, op.Key}
		prev, ok := last[k]
		last[k] = op
		if !ok {
			continue
		}
		back, err := wentBack(prev.Value, op.Value)
		if err != nil {
			return unknownf("op %d: %v", op.Index, err)
		}
		if back {
			res.Anomalies = append(res.Anomalies, anomaly("nonmonotonic-read", fmt.Sprintf("process %d read %q = %s (#%d) after reading %s (#%d)", op.Process, op.Key, checkers.FormatValue(op.Value), op.Index, checkers.FormatValue(prev.Value), prev.Index), prev, op))
		}
	}
	res.Finish()
	return res
}

// wentBack reports whether b is older than a: a smaller integer, or a list
// that does not extend a.
func wentBack(a, b any) (bool, error) {
	if x, ok := checkers.AsInt(a); ok {
		y, ok := checkers.AsInt(b)
		if !ok {
			return false, fmt.Errorf("read %s after an integer", checkers.FormatValue(b))
		}
		return y < x, nil
	}
	la, ok1 := asList(a)
	lb, ok2 := asList(b)
	if !ok1 || !ok2 {
		return false, fmt.Errorf("reads %s and %s are neither integers nor lists", checkers.FormatValue(a), checkers.FormatValue(b))
	}
	if len(lb) < len(la) {
		return true, nil
	}
	for i := range la {
		if checkers.FormatValue(la[i]) != checkers.FormatValue(lb[i]) {
			return true, nil
		}
	}
	return false, nil
}

func anomaly(kind, why string, ops ...checkers.Op) checkers.Anomaly {
	return checkers.Anomaly{Kind: kind, Ops: ops, Explanation: why}
}

func unknown(err error) checkers.Result {
	r := checkers.Result{Reason: err.Error()}
	r.Finish()
	return r
}

func unknownf(format string, args ...any) checkers.Result {
	return unknown(fmt.Errorf(format, args...))
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// asList accepts a decoded JSON list or a Go []int64.
func asList(v any) ([]any, bool) {
	switch t := v.(type) {
	case []any:
		return t, true
	case []int64:
		l := make([]any, len(t))
		for i, x := range t {
			l[i] = x
		}
		return l, true
	}
	return nil, false
}

// asMap accepts a decoded JSON object or a Go map[string]int64.
func asMap(v any) (map[string]any, bool) {
	switch t := v.(type) {
	case map[string]any:
		return t, true
	case map[string]int64:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = x
		}
		return m, true
	}
	return nil, false
}
