package elle

import (
	"slices"

	"github.com/tikvsim/tikvsim/internal/invariants"
)

// Edge kinds, as bits so one pair of transactions can carry several.
const (
	kWW       uint8 = 1 << iota // write-write: b overwrote a
	kWR                         // write-read: b read a's write
	kRW                         // read-write anti-dependency: b overwrote what a read
	kProcess                    // a preceded b on the same process
	kRealtime                   // a completed before b was invoked

	kData  = kWW | kWR | kRW
	kExtra = kProcess | kRealtime
)

func kindName(k uint8) string {
	switch k {
	case kWW:
		return "ww"
	case kWR:
		return "wr"
	case kRW:
		return "rw"
	case kProcess:
		return "process"
	case kRealtime:
		return "realtime"
	}
	invariants.Fail("kindName(%d): not a single kind", k)
	return ""
}

// edge is one raw dependency before deduplication.
type edge struct {
	from, to int32
	kind     uint8
}

// graph is a dependency graph in compressed sparse row form: the successors
// of node n are to[off[n]:off[n+1]], sorted and distinct, each with the union
// of its kinds in kinds.
type graph struct {
	off   []int32
	to    []int32
	kinds []uint8
}

// buildGraph deduplicates edges into a CSR graph over n nodes in O(E) plus a
// small sort per node. Self edges are dropped.
func buildGraph(n int, edges []edge) *graph {
	off := make([]int32, n+1)
	for _, e := range edges {
		if e.from != e.to {
			off[e.from+1]++
		}
	}
	for i := 0; i < n; i++ {
		off[i+1] += off[i]
	}
	type tk struct {
		to   int32
		kind uint8
	}
	tmp := make([]tk, off[n])
	fill := slices.Clone(off[:n])
	for _, e := range edges {
		if e.from != e.to {
			tmp[fill[e.from]] = tk{e.to, e.kind}
			fill[e.from]++
		}
	}
	g := &graph{off: make([]int32, n+1), to: make([]int32, 0, len(tmp)), kinds: make([]uint8, 0, len(tmp))}
	for v := 0; v < n; v++ {
		seg := tmp[off[v]:off[v+1]]
		slices.SortFunc(seg, func(a, b tk) int { return int(a.to) - int(b.to) })
		for i, x := range seg {
			if i > 0 && seg[i-1].to == x.to {
				g.kinds[len(g.kinds)-1] |= x.kind
				continue
			}
			g.to = append(g.to, x.to)
			g.kinds = append(g.kinds, x.kind)
		}
		g.off[v+1] = int32(len(g.to))
	}
	invariants.Assert(int(g.off[n]) == len(g.to) && len(g.to) == len(g.kinds), "graph: %d offsets end, %d targets, %d kinds", g.off[n], len(g.to), len(g.kinds))
	if invariants.Enabled {
		for v := 0; v < n; v++ {
			seg := g.to[g.off[v]:g.off[v+1]]
			if invariants.Enabled && !(slices.IsSorted(seg) && !slices.Contains(seg, int32(v))) {
				invariants.Fail("graph: successors of %d unsorted or self edge", v)
			}
		}
	}
	return g
}

func (g *graph) n() int { return len(g.off) - 1 }

// kindsOf returns the kinds of edge a->b, or 0.
func (g *graph) kindsOf(a, b int32) uint8 {
	seg := g.to[g.off[a]:g.off[a+1]]
	if i, ok := slices.BinarySearch(seg, b); ok {
		return g.kinds[int(g.off[a])+i]
	}
	return 0
}

// sccs runs Tarjan's algorithm iteratively over the edges whose kinds meet
// mask. It returns each node's component id (-1 for nodes in no cycle) and
// the components with at least two nodes, each sorted, ordered by their
// smallest node.
func (g *graph) sccs(mask uint8) (comp []int32, comps [][]int32) {
	n := g.n()
	const unvisited = -1
	index := make([]int32, n)
	low := make([]int32, n)
	onStack := make([]bool, n)
	comp = make([]int32, n)
	for i := range index {
		index[i] = unvisited
		comp[i] = -1
	}
	var stack []int32
	type frame struct {
		v    int32
		next int32 // next edge offset to look at
	}
	var call []frame
	var counter int32
	for root := int32(0); int(root) < n; root++ {
		if index[root] != unvisited {
			continue
		}
		call = append(call, frame{root, g.off[root]})
		index[root], low[root] = counter, counter
		counter++
		stack = append(stack, root)
		onStack[root] = true
		for len(call) > 0 {
			f := &call[len(call)-1]
			v := f.v
			if f.next < g.off[v+1] {
				i := f.next
				f.next++
				if g.kinds[i]&mask == 0 {
					continue
				}
				w := g.to[i]
				if index[w] == unvisited {
					index[w], low[w] = counter, counter
					counter++
					stack = append(stack, w)
					onStack[w] = true
					call = append(call, frame{w, g.off[w]})
				} else if onStack[w] {
					low[v] = min(low[v], index[w])
				}
				continue
			}
			// v is finished.
			call = call[:len(call)-1]
			if len(call) > 0 {
				p := call[len(call)-1].v
				low[p] = min(low[p], low[v])
			}
			if low[v] == index[v] {
				var c []int32
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					c = append(c, w)
					if w == v {
						break
					}
				}
				if len(c) > 1 {
					id := int32(len(comps))
					for _, w := range c {
						comp[w] = id
					}
					slices.Sort(c)
					comps = append(comps, c)
				}
			}
		}
	}
	invariants.Assert(len(stack) == 0, "tarjan: stack not empty")
	invariants.Assert(len(call) == 0, "tarjan: call stack not empty")
	slices.SortFunc(comps, func(a, b []int32) int { return int(a[0]) - int(b[0]) })
	for id, c := range comps {
		for _, w := range c {
			comp[w] = int32(id)
		}
	}
	return comp, comps
}
