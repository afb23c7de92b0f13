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
// function of the history. Porcupine runs its search on goroutines of its
// own, so call Check after a simulation, not from inside its scheduler.
package linearizability

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/tikvsim/tikvsim/checkers"
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
// Each non-linearizable key yields one "nonlinearizable" anomaly listing
// that key's operations, less every read that is not needed to show the
// violation (see minimize). A malformed history gives Unknown.
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
		switch porcupine.CheckOperationsTimeout(registerModel, p.ops, opts.Timeout) {
		case porcupine.Illegal:
			res.Anomalies = append(res.Anomalies, p.minimize(opts).anomaly(len(p.ops)))
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
	m := registerModel
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
