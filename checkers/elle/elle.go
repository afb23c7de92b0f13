// Package elle is our Elle-style checker for transactional histories: it
// infers dependencies between transactions from what they read and wrote,
// and looks for cycles and other anomalies that the chosen consistency model
// forbids.
//
// It owns two workloads, following jepsen-io/elle:
//   - list-append (src/elle/list_append.clj): mops ["append", k, v] and
//     ["r", k, [v...]]; every key is a list, appends are unique per key, so
//     the longest read of a key reveals its version order.
//   - rw-register (src/elle/rw_register.clj): mops ["w", k, v] and
//     ["r", k, v]; writes are unique per key, and the version order is
//     inferred from the initial state (nil precedes every version) and from
//     writes-follow-reads (a transaction that read v1 and then wrote v2 to a
//     key puts v1 before v2).
//
// From these it derives ww, wr and rw edges (Adya's dependency graph), adds
// process and real-time edges for the strong models, finds strongly
// connected components (iterative Tarjan), then the shortest cycles of each
// class inside them (src/elle/txn.clj, graph.clj), classified as G0, G1c,
// G-single, G-nonadjacent and G2-item, with a "-process" or "-realtime"
// suffix when the cycle needs those edges. Non-cycle anomalies: G1a (aborted
// read), G1b (intermediate read), internal (a transaction disagrees with its
// own earlier reads and writes, or reads its own later append),
// duplicate-appends / duplicate-writes, duplicate-elements,
// incompatible-order (list-append reads that are not prefixes of one
// another), incompatible-version-order (a cyclic register version order),
// garbage-read (a value nobody wrote), lost-update (two committed
// transactions read the same state of a key and both wrote it) and
// lost-write (an acknowledged append that a later read of its key does not
// contain).
//
// Every anomaly is explained edge by edge ("T1 < T2 because T2 read T1's
// append of 3 to x"). The work is roughly linear in the size of the history;
// cycle search inside components is bounded by Options.SearchBudget, counted
// in search steps, never in wall-clock time. Elle's facts carry over, its code
// does not: this is an independent Go implementation.
package elle

import (
	"fmt"

	"github.com/tikvsim/tikvsim/checkers"
)

// Model is a consistency model; it decides which anomalies count.
type Model string

// The supported models, after Elle's src/elle/consistency_model.clj.
const (
	// SnapshotIsolation forbids G0, G1 (a, b, c), G-single, G-nonadjacent,
	// lost-update and the other non-cycle anomalies; it allows G2-item
	// (write skew), lost-write and anything that needs real-time edges.
	SnapshotIsolation Model = "snapshot-isolation"
	// StrongSnapshotIsolation adds real time: it also forbids the
	// -process and -realtime variants of the cycles SI forbids, and lost
	// writes. It is the level a Percolator store with a timestamp oracle,
	// such as TiKV, is meant to provide, and the default.
	StrongSnapshotIsolation Model = "strong-snapshot-isolation"
	// Serializable forbids every cycle over ww, wr and rw edges.
	Serializable Model = "serializable"
	// StrictSerializable forbids every cycle, real-time edges included.
	StrictSerializable Model = "strict-serializable"
)

// Workload says how to read the transactions' micro-operations.
type Workload string

// The supported workloads.
const (
	// Detect picks ListAppend if any mop is an append, RWRegister if any
	// mop is a write or reads a single integer, and ListAppend otherwise.
	Detect Workload = ""
	// ListAppend: mops ["append", k, v] and ["r", k, [v...]].
	ListAppend Workload = "list-append"
	// RWRegister: mops ["w", k, v] and ["r", k, v].
	RWRegister Workload = "rw-register"
)

// DefaultSearchBudget bounds the cycle search (states visited in total).
const DefaultSearchBudget = 50_000_000

// Options configure Check. The zero value checks strong snapshot isolation
// with workload detection and the default search budget.
type Options struct {
	// Model is the consistency model; empty means StrongSnapshotIsolation.
	Model Model
	// Workload selects list-append or rw-register; empty means Detect.
	Workload Workload
	// SearchBudget bounds cycle search; 0 means DefaultSearchBudget. When
	// it runs out before a forbidden cycle was ruled out, the result is
	// Unknown (unless an anomaly was found anyway).
	SearchBudget int64
	_            struct{}
}

// Check checks a transactional history (ops with f "txn"; other ops are
// ignored) against opts.Model. Anomalies the model forbids go to
// Result.Anomalies and make the verdict Illegal; anomalies it allows go to
// Result.Allowed. A malformed history gives Unknown.
func Check(h checkers.History, opts Options) checkers.Result {
	c, err := newChecker(h, opts)
	if err != nil {
		return unknown(err.Error())
	}
	switch c.workload {
	case ListAppend:
		err = c.listAppend()
	case RWRegister:
		err = c.rwRegister()
	default:
		err = fmt.Errorf("unknown workload %q", c.workload)
	}
	if err != nil {
		return unknown(err.Error())
	}
	c.lostUpdates()
	c.orderEdges()
	c.findCycles()
	c.res.Finish()
	return c.res
}

func unknown(reason string) checkers.Result {
	r := checkers.Result{Reason: reason}
	r.Finish()
	return r
}
