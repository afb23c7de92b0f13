package elle

import (
	"math/bits"

	"github.com/tikvsim/tikvsim/internal/invariants"
)

// spec describes one class of cycle to look for, mirroring the cycle
// classes of elle's src/elle/txn.clj (cycle-anomaly-specs): the kinds the
// first edge must have, the kinds the rest may use, and limits on rw edges.
type spec struct {
	name        string // base anomaly name: G0, G1c, G-single, G-nonadjacent, G2-item
	start       uint8  // the first edge is taken as one of these kinds
	mask        uint8  // kinds every edge may be taken as
	minRW       int    // at least this many rw edges (counted up to 2)
	maxRW       int    // at most this many rw edges; 2 means unbounded
	needWR      bool   // at least one wr edge
	nonadjacent bool   // no two rw edges in a row (cyclically)
}

// dataSpecs are the cycle classes over ww/wr/rw edges, worst first.
var dataSpecs = []spec{
	{name: "G0", start: kWW, mask: kWW, maxRW: 0},
	{name: "G1c", start: kWR, mask: kWW | kWR, maxRW: 0, needWR: true},
	{name: "G-single", start: kRW, mask: kData, minRW: 1, maxRW: 1},
	{name: "G-nonadjacent", start: kRW, mask: kData, minRW: 2, maxRW: 2, nonadjacent: true},
	{name: "G2-item", start: kRW, mask: kData, minRW: 1, maxRW: 2},
}

// extraSpec returns the variant of a data spec whose cycle goes through at
// least one process or realtime edge (elle's "-process"/"-realtime" classes).
func extraSpec(s spec) spec {
	s.start = kExtra
	s.mask |= kExtra
	return s
}

// cycle is a closed walk: edge i goes nodes[i] -> nodes[(i+1)%n] taken as kinds[i].
type cycle struct {
	nodes []int32
	kinds []uint8
}

// classify names a cycle from the edges it uses, e.g. "G-single-realtime".
func classify(c cycle) string {
	var nRW int
	var wr, rt, proc bool
	adjacent := false
	for i, k := range c.kinds {
		switch k {
		case kRW:
			nRW++
			if c.kinds[(i+1)%len(c.kinds)] == kRW {
				adjacent = true
			}
		case kWR:
			wr = true
		case kRealtime:
			rt = true
		case kProcess:
			proc = true
		}
	}
	var name string
	switch {
	case nRW == 0 && !wr:
		name = "G0"
	case nRW == 0:
		name = "G1c"
	case nRW == 1:
		name = "G-single"
	case !adjacent:
		name = "G-nonadjacent"
	default:
		name = "G2-item"
	}
	switch {
	case rt:
		name += "-realtime"
	case proc:
		name += "-process"
	}
	return name
}

// searcher finds shortest cycles of a given class inside one strongly
// connected component, by breadth-first search over (node, rw count, last
// edge was rw, saw wr) states. Work is bounded by budget (state visits), so
// the search is deterministic and never reads a clock.
type searcher struct {
	g         *graph
	comp      []int32
	local     []int32 // node -> index in the current component, or -1
	nodeList  []int32 // the current component's nodes, by local index
	stamp     []uint32
	parent    []int32
	pkind     []uint8
	gen       uint32
	queue     []int32
	budget    int64
	exhausted bool
}

const statesPerNode = 12

func newSearcher(g *graph, budget int64) *searcher {
	s := &searcher{g: g, local: make([]int32, g.n()), budget: budget}
	for i := range s.local {
		s.local[i] = -1
	}
	return s
}

func state(local int32, rw, last, wr int) int32 {
	return local*statesPerNode + int32(rw*4+last*2+wr)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// find returns the shortest cycle of class sp through one of the start
// edges it tries in component cid (nodes sorted), or false. After a first
// hit it tries a few more start edges to find a shorter cycle. With
// maxTries > 0 it gives up after that many start edges; otherwise a false
// result means no such cycle exists (unless the budget ran out).
func (s *searcher) find(comp []int32, cid int32, nodes []int32, sp spec, maxTries int) (cycle, bool) {
	s.comp = comp
	s.nodeList = nodes
	for i, v := range nodes {
		s.local[v] = int32(i)
	}
	defer func() {
		for _, v := range nodes {
			s.local[v] = -1
		}
	}()
	if need := len(nodes) * statesPerNode; len(s.stamp) < need {
		s.stamp = make([]uint32, need)
		s.parent = make([]int32, need)
		s.pkind = make([]uint8, need)
		s.gen = 0
	}
	var best cycle
	found := false
	extra, tries := 0, 0
	g := s.g
	for _, u := range nodes {
		for i := g.off[u]; i < g.off[u+1]; i++ {
			v := g.to[i]
			if comp[v] != cid {
				continue
			}
			for ks := g.kinds[i] & sp.start; ks != 0; ks &= ks - 1 {
				k := uint8(1) << bits.TrailingZeros8(ks)
				if maxTries > 0 && tries >= maxTries {
					return best, found
				}
				tries++
				c, ok := s.bfs(u, v, k, cid, nodes, sp)
				if s.exhausted {
					return best, found
				}
				if ok && (!found || len(c.nodes) < len(best.nodes)) {
					best, found = c, true
				}
				if found {
					extra++
					if len(best.nodes) == 2 || extra > 8 {
						return best, true
					}
				}
			}
		}
	}
	return best, found
}

func (s *searcher) bfs(u, v int32, sk uint8, cid int32, nodes []int32, sp spec) (cycle, bool) {
	g := s.g
	rw0 := b2i(sk == kRW)
	if rw0 > sp.maxRW {
		return cycle{}, false
	}
	s.gen++
	if s.gen == 0 { // wrapped: clear stamps
		clear(s.stamp)
		s.gen = 1
	}
	s0 := state(s.local[v], rw0, rw0, b2i(sk == kWR))
	s.stamp[s0] = s.gen
	s.parent[s0] = -1
	s.queue = append(s.queue[:0], s0)
	for head := 0; head < len(s.queue); head++ {
		if s.budget--; s.budget < 0 {
			s.exhausted = true
			return cycle{}, false
		}
		st := s.queue[head]
		x := nodes[st/statesPerNode]
		rest := int(st % statesPerNode)
		rw, last, wr := rest/4, (rest/2)%2, rest%2
		for i := g.off[x]; i < g.off[x+1]; i++ {
			w := g.to[i]
			if s.comp[w] != cid {
				continue
			}
			for ks := g.kinds[i] & sp.mask; ks != 0; ks &= ks - 1 {
				k := uint8(1) << bits.TrailingZeros8(ks)
				isRW := k == kRW
				if isRW && sp.nonadjacent && last == 1 {
					continue
				}
				nrw := min(rw+b2i(isRW), 2)
				if nrw > sp.maxRW {
					continue
				}
				nwr := wr | b2i(k == kWR)
				if w == u {
					if nrw >= sp.minRW && (!sp.needWR || nwr == 1) && !(sp.nonadjacent && isRW && sk == kRW) {
						return s.walk(u, sk, st, k), true
					}
					continue
				}
				ns := state(s.local[w], nrw, b2i(isRW), nwr)
				if s.stamp[ns] == s.gen {
					continue
				}
				s.stamp[ns] = s.gen
				s.parent[ns] = st
				s.pkind[ns] = k
				s.queue = append(s.queue, ns)
			}
		}
	}
	return cycle{}, false
}

// walk rebuilds the cycle u -sk-> ... -> node(end) -last-> u.
func (s *searcher) walk(u int32, sk uint8, end int32, last uint8) cycle {
	var nodes []int32
	var kinds []uint8
	kinds = append(kinds, last)
	for st := end; st != -1; st = s.parent[st] {
		nodes = append(nodes, s.nodeOf(st))
		if s.parent[st] != -1 {
			kinds = append(kinds, s.pkind[st])
		}
	}
	kinds = append(kinds, sk)
	nodes = append(nodes, u)
	// nodes and kinds are reversed: nodes = [end ... v, u], kinds = [last ... sk].
	reverse(nodes)
	reverse(kinds)
	invariants.Assert(len(nodes) == len(kinds) && len(nodes) >= 2, "cycle: %d nodes, %d kinds", len(nodes), len(kinds))
	if invariants.Enabled {
		for i, k := range kinds {
			a, b := nodes[i], nodes[(i+1)%len(nodes)]
			invariants.Assert(s.g.kindsOf(a, b)&k != 0, "cycle: edge %d->%d lacks kind %d", a, b, k)
		}
	}
	return cycle{nodes: nodes, kinds: kinds}
}

func (s *searcher) nodeOf(st int32) int32 {
	return s.nodeList[st/statesPerNode]
}

func reverse[T any](s []T) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}
