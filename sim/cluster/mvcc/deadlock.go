package mvcc

import (
	"sort"
	"sync"

	"github.com/pingcap/kvproto/pkg/deadlock"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/util/farm"
	"github.com/tikvsim/tikvsim/internal/invariants"
)

// Detector is the deadlock detector's wait-for graph
// (src/server/lock_manager/deadlock.rs DetectTable), shared by the engines
// of one cluster. Edges are registered when a waiter parks and removed when
// it leaves (woken, cancelled, restart). Safe for concurrent use; engines
// call it while holding their own mutex, and it never calls back.
type Detector struct {
	mu      sync.Mutex
	engines uint64
	seq     uint64
	edges   map[edgeID]*detEdge
}

type edgeID struct{ engine, token uint64 }

type detEdge struct {
	seq     uint64 // registration order: the first key per (txn, lock) wins
	from    uint64
	holders []uint64
	key     []byte
	tag     []byte // the waiter's Context.resource_group_tag
}

// NewDetector returns an empty detector.
func NewDetector() *Detector {
	return &Detector{edges: map[edgeID]*detEdge{}}
}

func (d *Detector) register() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.engines++
	return d.engines
}

func (d *Detector) add(engine, token, from uint64, holders []uint64, key, tag []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seq++
	d.edges[edgeID{engine, token}] = &detEdge{seq: d.seq, from: from, holders: append([]uint64(nil), holders...),
		key: append([]byte(nil), key...), tag: append([]byte(nil), tag...)}
}

func (d *Detector) remove(engine, token uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.edges, edgeID{engine, token})
}

func (d *Detector) removeEngine(engine uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id := range d.edges {
		if id.engine == engine {
			delete(d.edges, id)
		}
	}
}

// wfEdge is a wait-for edge: a waiter waits for txn `to` on key.
type wfEdge struct {
	to  uint64
	key []byte
	tag []byte
}

// graph builds txn -> [edges], keeping the first-registered key per
// (waiter txn, holder txn) pair, in registration order.
func (d *Detector) graph() map[uint64][]wfEdge {
	all := make([]*detEdge, 0, len(d.edges))
	for _, e := range d.edges {
		all = append(all, e)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].seq < all[j].seq })
	g := map[uint64][]wfEdge{}
	seen := map[[2]uint64]bool{}
	for _, e := range all {
		for _, to := range e.holders {
			if seen[[2]uint64{e.from, to}] {
				continue
			}
			seen[[2]uint64{e.from, to}] = true
			g[e.from] = append(g[e.from], wfEdge{to: to, key: e.key, tag: e.tag})
		}
	}
	return g
}

// detect is DetectTable::detect: is there a path from lockTS back to
// txnTS? It returns TiKV's Deadlock error body (wait chain from lockTS to
// txnTS, then the requester's own edge) or nil. An edge txnTS -> lockTS
// that already exists means no new cycle.
func (d *Detector) detect(txnTS, lockTS uint64, key, tag []byte) *kvrpcpb.Deadlock {
	d.mu.Lock()
	defer d.mu.Unlock()
	g := d.graph()
	for _, ed := range g[txnTS] {
		if ed.to == lockTS {
			return nil
		}
	}
	pred := map[uint64]uint64{lockTS: 0}
	stack := []uint64{lockTS}
	for len(stack) > 0 {
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, ed := range g[cur] {
			if ed.to == txnTS {
				var chain []*deadlock.WaitForEntry
				for v := cur; v != lockTS; {
					p := pred[v]
					chain = append(chain, entryFor(g, p, v))
					v = p
				}
				for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
					chain[i], chain[j] = chain[j], chain[i]
				}
				chain = append(chain, waitEntry(cur, txnTS, ed))
				chain = append(chain, waitEntry(txnTS, lockTS, wfEdge{to: lockTS, key: key, tag: tag}))
				invariants.Assert(chain[0].Txn == lockTS, "wait chain starts at %d, want %d", chain[0].Txn, lockTS)
				return &kvrpcpb.Deadlock{LockTs: lockTS, LockKey: append([]byte(nil), key...), DeadlockKeyHash: farm.Fingerprint64(ed.key), WaitChain: chain}
			}
			if _, ok := pred[ed.to]; !ok {
				pred[ed.to] = cur
				stack = append(stack, ed.to)
			}
		}
	}
	return nil
}

func entryFor(g map[uint64][]wfEdge, from, to uint64) *deadlock.WaitForEntry {
	for _, ed := range g[from] {
		if ed.to == to {
			return waitEntry(from, to, ed)
		}
	}
	invariants.Assert(false, "no edge %d->%d in wait-for graph", from, to)
	return &deadlock.WaitForEntry{Txn: from, WaitForTxn: to}
}

// waitEntry is Locks::to_wait_for_entry. WaitTime stays 0: the engine has
// no clock.
func waitEntry(from, to uint64, ed wfEdge) *deadlock.WaitForEntry {
	return &deadlock.WaitForEntry{Txn: from, WaitForTxn: to, KeyHash: farm.Fingerprint64(ed.key),
		Key: append([]byte(nil), ed.key...), ResourceGroupTag: append([]byte(nil), ed.tag...)}
}
