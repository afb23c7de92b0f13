package linearizability

import (
	"fmt"
	"slices"

	"github.com/anishathalye/porcupine"
	"github.com/tikvsim/tikvsim/checkers"
	"github.com/tikvsim/tikvsim/internal/invariants"
)

// part is the porcupine history of one key.
type part struct {
	key string
	ops []porcupine.Operation
	src []checkers.Pair // src[i] produced ops[i]
}

func (p part) anomaly(total int) checkers.Anomaly {
	a := checkers.Anomaly{Kind: "nonlinearizable"}
	for _, s := range p.src {
		op := s.Complete
		if op.Index < 0 {
			op = s.Invoke
		}
		a.Ops = append(a.Ops, op)
	}
	a.Explanation = fmt.Sprintf("key %q: these %d of its %d operations already have no linearization (all its writes and successful cas, and the reads that cannot be explained); see the HTML visualization for the longest linearizable prefixes", p.key, len(p.ops), total)
	return a
}

// minimizeChecks bounds the porcupine runs spent shrinking one key.
const minimizeChecks = 64

// minimize drops reads (including unknown-outcome ones) that are not
// needed for the key to be non-linearizable, trying ever smaller chunks as
// in delta debugging. Dropping a read is sound: reads do not change the
// state, so any linearization of the whole would restrict to one of the
// rest; if the rest has none, neither has the whole. Writes and cas ops
// stay. The work is bounded by minimizeChecks porcupine runs; a run that
// times out keeps the reads it tried to drop.
func (p part) minimize(opts Options) part {
	var reads []int
	for i, op := range p.ops {
		if op.Input.(input).f == checkers.FRead {
			reads = append(reads, i)
		}
	}
	drop := make([]bool, len(p.ops))
	without := func() part {
		q := part{key: p.key}
		for i := range p.ops {
			if !drop[i] {
				q.ops = append(q.ops, p.ops[i])
				q.src = append(q.src, p.src[i])
			}
		}
		return q
	}
	checks := 0
	for chunk := (len(reads) + 1) / 2; chunk >= 1 && checks < minimizeChecks; chunk /= 2 {
		for i := 0; i < len(reads) && checks < minimizeChecks; {
			end := min(i+chunk, len(reads))
			for _, r := range reads[i:end] {
				drop[r] = true
			}
			checks++
			if porcupine.CheckOperationsTimeout(registerModel, without().ops, opts.Timeout) == porcupine.Illegal {
				reads = append(reads[:i], reads[end:]...)
				continue
			}
			for _, r := range reads[i:end] {
				drop[r] = false
			}
			i = end
		}
	}
	q := without()
	invariants.Assert(len(q.ops) > 0, "minimize: nothing left of key %q", p.key)
	return q
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

// registerModel is the porcupine model of one register; a partition holds
// one key. It is unexported so no caller can change what Check means.
// Step is pure: states are canonical JSON strings.
var registerModel = porcupine.Model{
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
		if invariants.Enabled && !(ret >= inv.Time) {
			invariants.Fail("op %d completes before it starts", inv.Index)
		}
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
