// Package linearizability checks register histories (read, write, cas on
// named keys) for linearizability, using porcupine as the search engine.
//
// It owns the register model and the translation from a checkers.History to
// porcupine operations. Keys are independent registers, so the history is
// split by key and each key is checked on its own, in sorted key order.
//
// Semantics of the entries (see docs/history.md):
//   - ok read: the value read (nil: the key was absent).
//   - ok write: the value was written.
//   - ok cas [old, new]: the register held old and now holds new.
//   - fail: the op did not take effect; it is dropped.
//   - info (or never completed): the op may take effect at any point after
//     its invoke, or never. It is modelled as open-ended (completing after
//     every other op) with an unconstrained output. Info reads are dropped,
//     since they cannot change the state.
//
// Porcupine's wall-clock timeout never decides a verdict: when it expires the
// key is reported as Unknown, separately from the keys found illegal. With the
// default Timeout of zero there is no timeout and the result is a pure
// function of the history.
package linearizability

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/tikvsim/tikvsim/checkers"
	"github.com/tikvsim/tikvsim/internal/invariants"
)

// Options tune Check. The zero value is a complete check without timeout.
type Options struct {
	// Timeout bounds porcupine's search per key; zero means no bound. A key
	// whose search times out makes the result Unknown (unless another key is
	// Illegal).
	Timeout time.Duration
	_       struct{}
}

// Check reports whether every key of the register history h is linearizable.
// Each non-linearizable key yields one "nonlinearizable" anomaly listing that
// key's operations. A malformed history gives Unknown.
func Check(h checkers.History, opts Options) checkers.Result {
	var res checkers.Result
	parts, err := partition(h)
	if err != nil {
		res.Reason = err.Error()
		res.Finish()
		return res
	}
	var timedOut []string
	for _, p := range parts {
		switch porcupine.CheckOperationsTimeout(Model, p.ops, opts.Timeout) {
		case porcupine.Illegal:
			res.Anomalies = append(res.Anomalies, p.anomaly())
		case porcupine.Unknown:
			timedOut = append(timedOut, p.key)
		}
	}
	if len(timedOut) > 0 {
		res.Reason = fmt.Sprintf("porcupine timed out on keys %q", timedOut)
	}
	res.Finish()
	return res
}

// Visualize writes porcupine's HTML visualization of h to w: one partition
// per key, in sorted key order, with the longest linearizable prefixes
// porcupine found. It is meant for failing histories; it runs a complete
// (verbose) check, bounded per key by opts.Timeout.
func Visualize(w io.Writer, h checkers.History, opts Options) error {
	parts, err := partition(h)
	if err != nil {
		return err
	}
	var all []porcupine.Operation
	for _, p := range parts {
		all = append(all, p.ops...)
	}
	m := Model
	m.Partition = func([]porcupine.Operation) [][]porcupine.Operation {
		out := make([][]porcupine.Operation, len(parts))
		for i, p := range parts {
			out[i] = p.ops
		}
		return out
	}
	_, info := porcupine.CheckOperationsVerbose(m, all, opts.Timeout)
	// Porcupine collects partial linearizations through a map; sort them
	// so the HTML is a function of the history alone.
	for _, partials := range info.PartialLinearizations() {
		slices.SortFunc(partials, slices.Compare[[]int])
	}
	return porcupine.Visualize(m, info, w)
}

// part is the porcupine history of one key.
type part struct {
	key string
	ops []porcupine.Operation
	src []checkers.Pair // src[i] produced ops[i]
}

func (p part) anomaly() checkers.Anomaly {
	a := checkers.Anomaly{Kind: "nonlinearizable"}
	for _, s := range p.src {
		op := s.Complete
		if op.Index < 0 {
			op = s.Invoke
		}
		a.Ops = append(a.Ops, op)
	}
	a.Explanation = fmt.Sprintf("key %q: no linearization of its %d operations exists (see the HTML visualization for the longest linearizable prefixes)", p.key, len(p.ops))
	return a
}

// input and output are porcupine's Input and Output for the register model.
// Values are compared by their canonical JSON text, so any JSON value may be
// stored in a register.
type input struct {
	f        string // FRead, FWrite or FCAS
	arg, new string // write: arg; cas: arg=old, new
}

type output struct {
	value   string // read result
	unknown bool   // info op: any output is acceptable
}

// absent is the state of a register never written.
const absent = "null"

// Model is the porcupine model of one register; a partition holds one key.
// Step is pure: states are canonical JSON strings.
var Model = porcupine.Model{
	Init: func() any { return absent },
	Step: func(state, in, out any) (bool, any) {
		st, i, o := state.(string), in.(input), out.(output)
		switch i.f {
		case checkers.FRead:
			return o.unknown || o.value == st, st
		case checkers.FWrite:
			return true, i.arg
		case checkers.FCAS:
			if o.unknown {
				if st == i.arg {
					return true, i.new
				}
				return true, st
			}
			return st == i.arg, i.new
		}
		invariants.Fail("register model: unknown f %q", i.f)
		return false, st
	},
	DescribeOperation: func(in, out any) string {
		i, o := in.(input), out.(output)
		res := o.value
		if o.unknown {
			res = "?"
		}
		switch i.f {
		case checkers.FRead:
			return "read() -> " + res
		case checkers.FWrite:
			return "write(" + i.arg + ")"
		default:
			if o.unknown {
				return "cas(" + i.arg + ", " + i.new + ") -> ?"
			}
			return "cas(" + i.arg + ", " + i.new + ")"
		}
	},
	DescribeState: func(state any) string { return state.(string) },
}

// partition splits h into one porcupine history per key, sorted by key.
func partition(h checkers.History) ([]part, error) {
	pairs, err := h.Pairs()
	if err != nil {
		return nil, err
	}
	var maxTime int64
	for _, op := range h {
		maxTime = max(maxTime, op.Time)
	}
	// Porcupine wants dense, zero-based client ids for its lanes.
	var procs []int
	for _, p := range pairs {
		procs = append(procs, p.Invoke.Process)
	}
	slices.Sort(procs)
	procs = slices.Compact(procs)
	client := make(map[int]int, len(procs))
	for i, p := range procs {
		client[p] = i
	}
	byKey := map[string]*part{}
	for _, p := range pairs {
		inv, c := p.Invoke, p.Complete
		if c.Type == checkers.Fail || (c.Type == checkers.Info && inv.F == checkers.FRead) {
			continue
		}
		in := input{f: inv.F}
		var out output
		switch inv.F {
		case checkers.FRead:
			out.value = checkers.FormatValue(c.Value)
		case checkers.FWrite:
			in.arg = checkers.FormatValue(inv.Value)
		case checkers.FCAS:
			l, ok := casArgs(inv.Value)
			if !ok {
				return nil, fmt.Errorf("op %d: cas value %s, want [old, new]", inv.Index, checkers.FormatValue(inv.Value))
			}
			in.arg, in.new = checkers.FormatValue(l[0]), checkers.FormatValue(l[1])
		default:
			return nil, fmt.Errorf("op %d: f %q is not a register op (read, write, cas)", inv.Index, inv.F)
		}
		ret := c.Time
		if c.Type == checkers.Info {
			out.unknown = true
			ret = maxTime + 1
		}
		invariants.Assert(ret >= inv.Time, "op %d completes before it starts", inv.Index)
		pt := byKey[inv.Key]
		if pt == nil {
			pt = &part{key: inv.Key}
			byKey[inv.Key] = pt
		}
		pt.ops = append(pt.ops, porcupine.Operation{ClientId: client[inv.Process], Input: in, Call: inv.Time, Output: out, Return: ret, Metadata: inv.Index})
		pt.src = append(pt.src, p)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]part, len(keys))
	for i, k := range keys {
		parts[i] = *byKey[k]
	}
	return parts, nil
}

// casArgs returns [old, new] from a cas value ([]any from JSON, or []int64).
func casArgs(v any) ([]any, bool) {
	switch t := v.(type) {
	case []any:
		return t, len(t) == 2
	case []int64:
		if len(t) == 2 {
			return []any{t[0], t[1]}, true
		}
	}
	return nil, false
}
