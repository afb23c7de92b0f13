package network

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Fault is a network fault as a value: it prints in the same syntax Parse
// reads, so faults can be written in flags, tests and failure reports.
//
//	partition(a,b|c)   nodes in different groups cannot reach each other
//	oneway(a->b)       messages from a to b are dropped
//	isolate(a)         a can reach no one and no one can reach a
//	heal               remove every partition
//	drop(0.05)         drop each message with probability 0.05
//	dup(0.02)          deliver each message twice with probability 0.02
//	reorder(0.1)       delay each message by extra latency with probability 0.1
//	delay(1ms-5ms)     default one-way latency
//	delay(a->b,1ms-5ms) latency of one link
//	down(a) / up(a)    take a node down or bring it back
type Fault interface {
	String() string
	// Apply injects the fault into n.
	Apply(n *Network) error
}

// Partition splits nodes into groups that cannot reach each other. Nodes in
// no group keep every link.
type Partition struct{ Groups [][]string }

// OneWay drops messages from From to To.
type OneWay struct{ From, To string }

// Isolate cuts every link to and from Node.
type Isolate struct{ Node string }

// Heal removes every partition, one-way and isolation.
type Heal struct{}

// Drop drops each message with probability P.
type Drop struct{ P float64 }

// Dup duplicates each message with probability P.
type Dup struct{ P float64 }

// Reorder gives each message extra delay with probability P, so that it
// overtakes or is overtaken by others.
type Reorder struct{ P float64 }

// Delay sets the latency of the link From->To, or the default latency when
// both are empty.
type Delay struct {
	From, To string
	Latency  Latency
}

// Down takes Node down.
type Down struct{ Node string }

// Up brings Node back up.
type Up struct{ Node string }

func (f Partition) String() string {
	gs := make([]string, len(f.Groups))
	for i, g := range f.Groups {
		gs[i] = strings.Join(g, ",")
	}
	return "partition(" + strings.Join(gs, "|") + ")"
}
func (f OneWay) String() string  { return "oneway(" + f.From + "->" + f.To + ")" }
func (f Isolate) String() string { return "isolate(" + f.Node + ")" }
func (Heal) String() string      { return "heal" }
func (f Drop) String() string    { return "drop(" + fmtP(f.P) + ")" }
func (f Dup) String() string     { return "dup(" + fmtP(f.P) + ")" }
func (f Reorder) String() string { return "reorder(" + fmtP(f.P) + ")" }
func (f Delay) String() string {
	if f.From == "" && f.To == "" {
		return "delay(" + f.Latency.String() + ")"
	}
	return "delay(" + f.From + "->" + f.To + "," + f.Latency.String() + ")"
}
func (f Down) String() string { return "down(" + f.Node + ")" }
func (f Up) String() string   { return "up(" + f.Node + ")" }

func fmtP(p float64) string { return strconv.FormatFloat(p, 'g', -1, 64) }

func (n *Network) need(names ...string) error {
	for _, name := range names {
		if _, ok := n.nodes[name]; !ok {
			return fmt.Errorf("%w: %s", ErrUnknownNode, name)
		}
	}
	return nil
}

// Apply blocks every link between nodes of different groups.
func (f Partition) Apply(n *Network) error {
	for _, g := range f.Groups {
		if err := n.need(g...); err != nil {
			return err
		}
	}
	for i, g := range f.Groups {
		for j, h := range f.Groups {
			if i == j {
				continue
			}
			for _, a := range g {
				for _, b := range h {
					n.block(a, b)
				}
			}
		}
	}
	n.record("fault", f.String(), 0)
	return nil
}

// Apply blocks From->To.
func (f OneWay) Apply(n *Network) error {
	if err := n.need(f.From, f.To); err != nil {
		return err
	}
	n.block(f.From, f.To)
	n.record("fault", f.String(), 0)
	return nil
}

// Apply blocks every link of Node, in both directions.
func (f Isolate) Apply(n *Network) error {
	if err := n.need(f.Node); err != nil {
		return err
	}
	for name := range n.nodes {
		if name != f.Node {
			n.block(name, f.Node)
			n.block(f.Node, name)
		}
	}
	n.record("fault", f.String(), 0)
	return nil
}

// Apply unblocks every link.
func (Heal) Apply(n *Network) error {
	clear(n.blocked)
	n.record("fault", "heal", 0)
	return nil
}

func checkP(p float64) error {
	if !(p >= 0 && p <= 1) {
		return fmt.Errorf("network: probability %v out of [0,1]", p)
	}
	return nil
}

// Apply sets the drop probability.
func (f Drop) Apply(n *Network) error {
	if err := checkP(f.P); err != nil {
		return err
	}
	n.drop = f.P
	n.record("fault", f.String(), 0)
	return nil
}

// Apply sets the duplication probability.
func (f Dup) Apply(n *Network) error {
	if err := checkP(f.P); err != nil {
		return err
	}
	n.dup = f.P
	n.record("fault", f.String(), 0)
	return nil
}

// Apply sets the reordering probability.
func (f Reorder) Apply(n *Network) error {
	if err := checkP(f.P); err != nil {
		return err
	}
	n.reorder = f.P
	n.record("fault", f.String(), 0)
	return nil
}

// Apply sets a link's or the default latency.
func (f Delay) Apply(n *Network) error {
	if f.Latency.Min < 0 || f.Latency.Max < f.Latency.Min {
		return fmt.Errorf("network: bad latency %v", f.Latency)
	}
	if f.From == "" && f.To == "" {
		n.cfg.Latency = f.Latency
	} else {
		if err := n.need(f.From, f.To); err != nil {
			return err
		}
		n.latency[link{f.From, f.To}] = f.Latency
	}
	n.record("fault", f.String(), 0)
	return nil
}

// Apply takes Node down.
func (f Down) Apply(n *Network) error {
	if err := n.SetUp(f.Node, false); err != nil {
		return err
	}
	n.record("fault", f.String(), 0)
	return nil
}

// Apply brings Node up.
func (f Up) Apply(n *Network) error {
	if err := n.SetUp(f.Node, true); err != nil {
		return err
	}
	n.record("fault", f.String(), 0)
	return nil
}

// Parse reads one fault in the syntax documented on Fault.
func Parse(s string) (Fault, error) {
	s = strings.TrimSpace(s)
	if s == "heal" {
		return Heal{}, nil
	}
	open := strings.IndexByte(s, '(')
	if open <= 0 || !strings.HasSuffix(s, ")") {
		return nil, fmt.Errorf("network: bad fault %q: want name(args) or heal", s)
	}
	name, arg := s[:open], s[open+1:len(s)-1]
	bad := func(why string) (Fault, error) {
		return nil, fmt.Errorf("network: bad fault %q: %s", s, why)
	}
	switch name {
	case "partition":
		var f Partition
		for _, g := range strings.Split(arg, "|") {
			nodes, err := nodeList(g)
			if err != nil {
				return bad(err.Error())
			}
			f.Groups = append(f.Groups, nodes)
		}
		if len(f.Groups) < 2 {
			return bad("a partition needs at least two groups")
		}
		return f, nil
	case "oneway":
		from, to, ok := splitLink(arg)
		if !ok {
			return bad("want oneway(a->b)")
		}
		return OneWay{from, to}, nil
	case "isolate", "down", "up":
		if !validName(arg) {
			return bad("want one node name")
		}
		switch name {
		case "isolate":
			return Isolate{arg}, nil
		case "down":
			return Down{arg}, nil
		}
		return Up{arg}, nil
	case "drop", "dup", "reorder":
		p, err := strconv.ParseFloat(arg, 64)
		if err != nil || checkP(p) != nil {
			return bad("want a probability in [0,1]")
		}
		switch name {
		case "drop":
			return Drop{p}, nil
		case "dup":
			return Dup{p}, nil
		}
		return Reorder{p}, nil
	case "delay":
		var f Delay
		lat := arg
		if i := strings.LastIndexByte(arg, ','); i >= 0 {
			from, to, ok := splitLink(arg[:i])
			if !ok {
				return bad("want delay(a->b,min-max)")
			}
			f.From, f.To, lat = from, to, arg[i+1:]
		}
		l, err := ParseLatency(lat)
		if err != nil {
			return bad(err.Error())
		}
		f.Latency = l
		return f, nil
	}
	return bad("unknown fault " + name)
}

// ParseList reads faults separated by ';'.
func ParseList(s string) ([]Fault, error) {
	var out []Fault
	for _, part := range strings.Split(s, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		f, err := Parse(part)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// ParseLatency reads "min-max" (e.g. "1ms-5ms") or a single duration.
func ParseLatency(s string) (Latency, error) {
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		hi = lo
	}
	a, err1 := time.ParseDuration(lo)
	b, err2 := time.ParseDuration(hi)
	if err1 != nil || err2 != nil || a < 0 || b < a {
		return Latency{}, fmt.Errorf("bad latency %q: want min-max durations, min <= max", s)
	}
	return Latency{a, b}, nil
}

func splitLink(s string) (string, string, bool) {
	from, to, ok := strings.Cut(s, "->")
	return from, to, ok && validName(from) && validName(to)
}

func nodeList(s string) ([]string, error) {
	var out []string
	for _, n := range strings.Split(s, ",") {
		if !validName(n) {
			return nil, fmt.Errorf("bad node name %q", n)
		}
		out = append(out, n)
	}
	return out, nil
}

// validName accepts node names made of letters, digits, '-', '_' and '.'.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
