package elle

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tikvsim/tikvsim/checkers"
	"github.com/tikvsim/tikvsim/internal/invariants"
)

// txn is one transaction of the history; its id is its position in
// checker.txns (invoke order).
type txn struct {
	inv, comp checkers.Op
	typ       checkers.Type  // OK, Fail or Info (never completed counts as Info)
	mops      []checkers.Mop // the completion's mops if OK, else the invoke's
	keys      []int32        // interned key of each mop
}

// op is the history entry that best represents t in reports.
func (t *txn) op() checkers.Op {
	if t.comp.Index >= 0 {
		return t.comp
	}
	return t.inv
}

// explainFunc says why a precedes b by an edge of kind k, naming them an and
// bn, or returns "".
type explainFunc func(a, b int32, k uint8, an, bn string) string

type checker struct {
	model    Model
	workload Workload
	budget   int64
	txns     []txn
	edges    []edge
	keyID    map[string]int32
	keyName  []string
	explain  explainFunc
	res      checkers.Result
}

func newChecker(h checkers.History, opts Options) (*checker, error) {
	c := &checker{model: opts.Model, workload: opts.Workload, budget: opts.SearchBudget, keyID: map[string]int32{}}
	if c.model == "" {
		c.model = StrongSnapshotIsolation
	}
	switch c.model {
	case SnapshotIsolation, StrongSnapshotIsolation, Serializable, StrictSerializable:
	default:
		return nil, fmt.Errorf("unknown consistency model %q", c.model)
	}
	if c.budget <= 0 {
		c.budget = DefaultSearchBudget
	}
	pairs, err := h.Pairs()
	if err != nil {
		return nil, err
	}
	hasAppend, hasWrite := false, false
	c.txns = make([]txn, 0, len(pairs))
	for _, p := range pairs {
		if p.Invoke.F != checkers.FTxn {
			continue
		}
		t := txn{inv: p.Invoke, comp: p.Complete, typ: p.Complete.Type}
		src := p.Invoke
		if t.typ == checkers.OK {
			src = p.Complete
		}
		mops, ok := src.Value.([]checkers.Mop)
		if !ok && src.Value != nil {
			return nil, fmt.Errorf("op %d: txn value of type %T, want []Mop", src.Index, src.Value)
		}
		t.mops = mops
		t.keys = make([]int32, len(mops))
		for i, m := range mops {
			t.keys[i] = c.key(m.Key)
			switch m.F {
			case checkers.MopAppend:
				hasAppend = true
			case checkers.MopWrite:
				hasWrite = true
			case checkers.MopRead:
				if _, isInt := m.Value.(int64); isInt {
					hasWrite = true // a register read
				}
			default:
				return nil, fmt.Errorf("op %d: unknown mop %q", src.Index, m.F)
			}
		}
		c.txns = append(c.txns, t)
	}
	if c.workload == Detect {
		switch {
		case hasAppend && hasWrite:
			return nil, fmt.Errorf("history mixes list-append and register mops; choose a workload")
		case hasWrite:
			c.workload = RWRegister
		default:
			c.workload = ListAppend
		}
	}
	return c, nil
}

func (c *checker) key(s string) int32 {
	if id, ok := c.keyID[s]; ok {
		return id
	}
	id := int32(len(c.keyName))
	c.keyID[s] = id
	c.keyName = append(c.keyName, s)
	return id
}

func (c *checker) realtime() bool {
	return c.model == StrongSnapshotIsolation || c.model == StrictSerializable
}

// forbidden reports whether the model forbids an anomaly kind.
func (c *checker) forbidden(kind string) bool {
	base, extra := kind, false
	for _, suf := range []string{"-realtime", "-process"} {
		if b, ok := strings.CutSuffix(kind, suf); ok {
			base, extra = b, true
		}
	}
	if extra && !c.realtime() {
		return false
	}
	switch base {
	case "G2-item":
		return c.model == Serializable || c.model == StrictSerializable
	case "lost-write":
		return c.realtime()
	}
	return true
}

// report files an anomaly under Anomalies or Allowed.
func (c *checker) report(a checkers.Anomaly) {
	if c.forbidden(a.Kind) {
		c.res.Anomalies = append(c.res.Anomalies, a)
	} else {
		c.res.Allowed = append(c.res.Allowed, a)
	}
}

// simple reports a non-cycle anomaly over transactions ts.
func (c *checker) simple(kind string, ts []int32, format string, args ...any) {
	a := checkers.Anomaly{Kind: kind, Explanation: fmt.Sprintf(format, args...)}
	for _, t := range ts {
		a.Ops = append(a.Ops, c.txns[t].op())
	}
	c.report(a)
}

// edge records one dependency. Like every assertion on a hot path here, its
// checks test invariants.Enabled first so arguments are boxed only on
// failure.
func (c *checker) edge(from, to int32, k uint8) {
	if invariants.Enabled && !(from >= 0 && to >= 0 && int(from) < len(c.txns) && int(to) < len(c.txns)) {
		invariants.Fail("edge %d->%d out of range", from, to)
	}
	if invariants.Enabled && !(c.txns[from].typ != checkers.Fail && c.txns[to].typ != checkers.Fail) {
		invariants.Fail("edge %d->%d touches a failed transaction", from, to)
	}
	if from != to {
		c.edges = append(c.edges, edge{from, to, k})
	}
}

// orderEdges adds process edges (consecutive transactions of one process)
// and real-time edges (a completed before b was invoked), as in elle's
// src/elle/core.clj process-graph and realtime-graph. Real-time edges are
// transitively reduced with a frontier of recently completed transactions,
// so their number stays proportional to n times the concurrency. Failed
// transactions take no part.
func (c *checker) orderEdges() {
	if !c.realtime() {
		return
	}
	lastOf := map[int]int32{}
	for i := range c.txns {
		t := &c.txns[i]
		if t.typ == checkers.Fail {
			continue
		}
		if p, ok := lastOf[t.inv.Process]; ok {
			c.edge(p, int32(i), kProcess)
		}
		lastOf[t.inv.Process] = int32(i)
	}
	var ids []int32
	for i := range c.txns {
		if c.txns[i].typ != checkers.Fail {
			ids = append(ids, int32(i))
		}
	}
	c.realtimePairs(ids, func(i, j int) { c.edge(ids[i], ids[j], kRealtime) })
}

// realtimePairs calls emit(i, j) for a transitive reduction of the
// real-time order among the transactions ids[i] (ok or info): ids[i]
// completed ok strictly before ids[j] was invoked. It sweeps invocations and completions in
// time order keeping a frontier of completed transactions not yet implied
// by a later one, so it emits about len(ids) times the concurrency pairs.
func (c *checker) realtimePairs(ids []int32, emit func(i, j int)) {
	type event struct {
		time   int64
		invoke bool
		t      int32 // index into ids
	}
	evs := make([]event, 0, 2*len(ids))
	for i, id := range ids {
		t := &c.txns[id]
		evs = append(evs, event{t.inv.Time, true, int32(i)})
		if t.typ == checkers.OK {
			evs = append(evs, event{t.comp.Time, false, int32(i)})
		}
	}
	// Invocations sort before completions at the same instant: intervals
	// are closed, so touching operations are concurrent.
	slices.SortFunc(evs, func(a, b event) int {
		if a.time != b.time {
			if a.time < b.time {
				return -1
			}
			return 1
		}
		if a.invoke != b.invoke {
			if a.invoke {
				return -1
			}
			return 1
		}
		return int(a.t) - int(b.t)
	})
	var frontier []int32
	for _, e := range evs {
		if e.invoke {
			for _, f := range frontier {
				if invariants.Enabled && !(c.txns[ids[f]].comp.Time < c.txns[ids[e.t]].inv.Time) {
					invariants.Fail("realtime: %d does not precede %d", ids[f], ids[e.t])
				}
				emit(int(f), int(e.t))
			}
			continue
		}
		start := c.txns[ids[e.t]].inv.Time
		kept := frontier[:0]
		for _, f := range frontier {
			if c.txns[ids[f]].comp.Time >= start {
				kept = append(kept, f)
			}
		}
		frontier = append(kept, e.t)
	}
}

// findCycles searches every strongly connected component for the cycle
// classes the model forbids, first over data edges, then (for the strong
// models) through process and real-time edges.
func (c *checker) findCycles() {
	g := buildGraph(len(c.txns), c.edges)
	c.edges = nil
	s := newSearcher(g, c.budget)
	levels := []uint8{kData}
	if c.realtime() {
		levels = append(levels, kData|kExtra)
	}
	for _, mask := range levels {
		comp, comps := g.sccs(mask)
		for cid, nodes := range comps {
			c.searchComponent(s, comp, int32(cid), nodes, mask&kExtra != 0)
			if s.exhausted {
				c.res.Reason = fmt.Sprintf("cycle search budget of %d steps exhausted", c.budget)
				return
			}
		}
	}
}

// examplesTries bounds the start edges tried per cycle class and component
// once the history is known to be illegal.
const examplesTries = 16

// searchComponent reports, for one component, the worst cycles it holds: a
// G0 and a G1c if any, then the first of G-single, G-nonadjacent and
// G2-item found, each the shortest among the start edges tried.
func (c *checker) searchComponent(s *searcher, comp []int32, cid int32, nodes []int32, extra bool) {
	rwFound := false
	for _, sp := range dataSpecs {
		if extra {
			sp = extraSpec(sp)
		}
		rwClass := sp.start == kRW || sp.minRW > 0
		if rwClass && rwFound {
			continue
		}
		name := sp.name
		if extra {
			name += "-realtime"
		}
		// A G2-item the model allows is still looked for, briefly, so it
		// can be listed under Result.Allowed.
		informational := !c.forbidden(name)
		if informational && !(sp.name == "G2-item" && !rwFound) {
			continue
		}
		// Searching until a class is ruled out matters only while the
		// verdict hangs on it; once a forbidden anomaly is known, a few
		// start edges per class are enough to report examples.
		tries := 0
		if informational || len(c.res.Anomalies) > 0 {
			tries = examplesTries
		}
		cyc, ok := s.find(comp, cid, nodes, sp, tries)
		if s.exhausted {
			return
		}
		if !ok {
			continue
		}
		if rwClass {
			rwFound = true
		}
		c.report(c.cycleAnomaly(cyc))
	}
}

// cycleAnomaly renders a cycle with one explained step per edge.
func (c *checker) cycleAnomaly(cyc cycle) checkers.Anomaly {
	n := len(cyc.nodes)
	a := checkers.Anomaly{Kind: classify(cyc)}
	var b strings.Builder
	fmt.Fprintf(&b, "cycle of %d transactions:", n)
	name := func(i int) string { return fmt.Sprintf("T%d", i%n+1) }
	for i, t := range cyc.nodes {
		op := c.txns[t].op()
		a.Ops = append(a.Ops, op)
		fmt.Fprintf(&b, "\n  %s = %s", name(i), op)
	}
	for i, k := range cyc.kinds {
		x, y := cyc.nodes[i], cyc.nodes[(i+1)%n]
		why := c.explainEdge(x, y, k, name(i), name(i+1))
		step := checkers.Step{Kind: kindName(k), Why: fmt.Sprintf("%s < %s because %s", name(i), name(i+1), why)}
		a.Cycle = append(a.Cycle, step)
		b.WriteString("\n  " + step.Why)
	}
	a.Explanation = b.String()
	return a
}

func (c *checker) explainEdge(a, b int32, k uint8, an, bn string) string {
	ta, tb := &c.txns[a], &c.txns[b]
	switch k {
	case kProcess:
		return fmt.Sprintf("process %d completed %s before invoking %s", ta.inv.Process, an, bn)
	case kRealtime:
		return fmt.Sprintf("%s completed at %d before %s was invoked at %d", an, ta.comp.Time, bn, tb.inv.Time)
	}
	if s := c.explain(a, b, k, an, bn); s != "" {
		return s
	}
	return fmt.Sprintf("of a %s dependency", kindName(k))
}

func formatList(l []int64) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, v := range l {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprint(&b, v)
	}
	b.WriteByte(']')
	return b.String()
}
