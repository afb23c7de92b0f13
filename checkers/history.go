// Package checkers owns the history format shared by every workload and every
// checker: the operation types below, their JSONL encoding (see
// docs/history.md), and the Result every checker returns.
//
// A history is a sequence of Jepsen-style operations. Each logical operation
// appears twice: an invoke, then exactly one completion of type ok (it
// happened, and its value is the observed result), fail (it definitely did not
// happen) or info (its outcome is unknown: it may take effect at any time after
// its invoke, or never). A process that records info issues no further
// operation, as in Jepsen.
//
// The checkers live in sub-packages (linearizability, elle, invariant). They
// are pure functions of a History and depend on nothing but this package:
// never on client/ or sim/.
package checkers

import (
	"fmt"
	"math"
	"slices"
)

// Type is the kind of a history entry: an invocation or one of the three
// completions.
type Type string

// The four entry types of a history.
const (
	// Invoke starts an operation.
	Invoke Type = "invoke"
	// OK completes an operation that took effect; its value is the result.
	OK Type = "ok"
	// Fail completes an operation that definitely did not take effect.
	Fail Type = "fail"
	// Info completes an operation whose outcome is unknown.
	Info Type = "info"
)

// Valid reports whether t is one of the four known types.
func (t Type) Valid() bool {
	return t == Invoke || t == OK || t == Fail || t == Info
}

// Well-known values of Op.F. Workloads may use other names for their own
// checkers; these are the ones the checkers in this module interpret.
const (
	FRead  = "read"  // register read: Value is the value read (nil: absent)
	FWrite = "write" // register write: Value is the value written
	FCAS   = "cas"   // register compare-and-set: Value is [old, new]
	FTxn   = "txn"   // transaction: Value is []Mop
)

// Op is one entry of a history.
//
// Value holds the operation's argument (on invoke) or result (on completion).
// For F == FTxn it is a []Mop. Otherwise it is any JSON-representable value
// built from nil, bool, int64, float64 (non-integral numbers only), string,
// []any and map[string]any; ReadJSONL produces exactly these types.
type Op struct {
	// Index is the entry's position in the history, starting at 0.
	Index int64
	// Time is when the entry happened, in simulated nanoseconds.
	Time int64
	// Process identifies the logical single-threaded client issuing the op.
	Process int
	// Type is invoke, ok, fail or info.
	Type Type
	// F names the function: read, write, cas, txn, or a workload's own.
	F string
	// Key is the register key for read/write/cas ops; empty otherwise.
	Key string
	// Value is the argument or result; see the type comment.
	Value any
	// Error optionally describes why an op failed or is unknown.
	Error string
	_     struct{}
}

// String renders the op compactly for reports, e.g. "#12 p3 ok txn [...]".
func (o Op) String() string {
	s := fmt.Sprintf("#%d p%d %s %s", o.Index, o.Process, o.Type, o.F)
	if o.Key != "" {
		s += " " + o.Key
	}
	if o.Value != nil {
		s += " " + FormatValue(o.Value)
	}
	return s
}

// Mop is one micro-operation of a transaction, encoded as the JSON array
// [f, key, value].
//
// Forms used by the checkers:
//   - ["append", k, 3]: list-append; Value is int64.
//   - ["w", k, 3]: register write; Value is int64.
//   - ["r", k, v]: read. In an invoke, and in an info completion, Value is
//     nil (not yet known). In an ok completion it is []int64 for list-append
//     (nil or empty: the empty list) and int64 or nil (absent) for registers.
type Mop struct {
	// F is "append", "w" or "r".
	F string
	// Key is the key the mop touches.
	Key string
	// Value is nil, int64 or []int64; see the type comment.
	Value any
	_     struct{}
}

// Micro-operation names.
const (
	MopAppend = "append"
	MopWrite  = "w"
	MopRead   = "r"
)

// Append returns the mop ["append", k, v].
func Append(k string, v int64) Mop { return Mop{F: MopAppend, Key: k, Value: v} }

// Write returns the mop ["w", k, v].
func Write(k string, v int64) Mop { return Mop{F: MopWrite, Key: k, Value: v} }

// Read returns the mop ["r", k, v]; v is nil, int64 or []int64.
func Read(k string, v any) Mop { return Mop{F: MopRead, Key: k, Value: v} }

// History is a sequence of operations in the order they happened.
type History []Op

// Pair is one logical operation: its invoke and its completion.
type Pair struct {
	// Invoke is the invocation entry.
	Invoke Op
	// Complete is the completion entry. For an operation that was never
	// completed, Pairs synthesizes an info completion with Index -1 and
	// Time OpenTime.
	Complete Op
	_        struct{}
}

// OpenTime is the completion time given to operations that never completed.
const OpenTime = math.MaxInt64

// Pairs matches each invoke with its completion (the next entry of the same
// process), in invoke order. It returns an error for a malformed history:
// unknown types, a completion without invoke, an invoke while the process has
// one outstanding, an op from a process after its info completion, a
// completion whose f differs from its invoke, or time running backwards.
func (h History) Pairs() ([]Pair, error) {
	outstanding := make(map[int]int) // process -> index into pairs
	crashed := make(map[int]int64)   // process -> index of its info op
	pairs := make([]Pair, 0, len(h)/2+1)
	var last int64 = math.MinInt64
	for i, op := range h {
		if !op.Type.Valid() {
			return nil, fmt.Errorf("entry %d: unknown type %q", i, op.Type)
		}
		if op.Time < last {
			return nil, fmt.Errorf("entry %d: time %d before previous %d", i, op.Time, last)
		}
		last = op.Time
		if at, ok := crashed[op.Process]; ok {
			return nil, fmt.Errorf("entry %d: process %d used again after info at entry %d", i, op.Process, at)
		}
		p, busy := outstanding[op.Process]
		if op.Type == Invoke {
			if busy {
				return nil, fmt.Errorf("entry %d: process %d invokes while entry %d is outstanding", i, op.Process, pairs[p].Invoke.Index)
			}
			outstanding[op.Process] = len(pairs)
			pairs = append(pairs, Pair{Invoke: op})
			continue
		}
		if !busy {
			return nil, fmt.Errorf("entry %d: %s completion without invoke on process %d", i, op.Type, op.Process)
		}
		if pairs[p].Invoke.F != op.F {
			return nil, fmt.Errorf("entry %d: completion f %q differs from invoke f %q", i, op.F, pairs[p].Invoke.F)
		}
		pairs[p].Complete = op
		delete(outstanding, op.Process)
		if op.Type == Info {
			crashed[op.Process] = op.Index
		}
	}
	// Close operations that never completed, in a deterministic order.
	procs := make([]int, 0, len(outstanding))
	for proc := range outstanding {
		procs = append(procs, proc)
	}
	slices.Sort(procs)
	for _, proc := range procs {
		p := outstanding[proc]
		inv := pairs[p].Invoke
		pairs[p].Complete = Op{Index: -1, Time: OpenTime, Process: proc, Type: Info, F: inv.F, Key: inv.Key, Value: inv.Value}
	}
	return pairs, nil
}
