// Package latch is the transactional client's local latches (client-go
// internal/latch, "EnableTxnLocalLatches"): before an optimistic
// transaction commits, it takes a latch on each key it writes, so that two
// transactions of the same client writing one key commit one after the
// other instead of both prewriting and one failing on TiKV with a write
// conflict. A transaction that finds a key committed by another one after
// its own start ts is stale: it would conflict on TiKV, so it fails at once
// with ErrWriteConflictInLatch without any RPC.
//
// Latches are a pure queueing structure under one mutex; a transaction that
// must wait parks on a runtime Event, so waits are visible to the
// simulator's scheduler.
package latch

import (
	"bytes"
	"context"
	"math/bits"
	"slices"
	"sync"
	"time"

	"github.com/tikvsim/tikvsim/client/rt"
)

// Tuning from client-go internal/latch/latch.go.
const (
	// expireDuration is how long after its last commit a key's latch node
	// is kept to detect stale transactions (client-go expireDuration).
	expireDuration = 2 * time.Minute
	// listCount is the per-slot node count above which acquiring a slot
	// first recycles expired nodes (client-go latchListCount).
	listCount = 5
	// physicalShift is the width of a TSO's logical part.
	physicalShift = 18
)

// node is one key's latch inside a slot: who holds it and the newest commit
// ts of a transaction that released it.
type node struct {
	key         []byte
	maxCommitTS uint64
	holder      *Lock
}

// slot is a hash bucket of key latches plus the locks waiting on any of
// them, in arrival order.
type slot struct {
	nodes   []*node
	waiting []*Lock
}

func (s *slot) find(key []byte) *node {
	for _, n := range s.nodes {
		if bytes.Equal(n.key, key) {
			return n
		}
	}
	return nil
}

// recycle drops free nodes whose last commit is expireDuration older than
// currentTS (client-go latch.recycle).
func (s *slot) recycle(currentTS uint64) {
	s.nodes = slices.DeleteFunc(s.nodes, func(n *node) bool {
		return n.holder == nil && tsoSub(currentTS, n.maxCommitTS) >= expireDuration
	})
}

func tsoSub(a, b uint64) time.Duration {
	if a < b {
		return 0
	}
	return time.Duration((a>>physicalShift)-(b>>physicalShift)) * time.Millisecond
}

// Lock is one transaction's claim on the latches of its keys.
type Lock struct {
	keys     [][]byte
	slots    []int
	acquired int // keys[:acquired] are held
	startTS  uint64
	commitTS uint64
	stale    bool
	wake     rt.Event // set while parked in a slot's waiting list
}

// IsStale reports whether a key of the transaction was committed by
// another transaction after the transaction's start ts: committing would
// fail with a write conflict on TiKV.
func (l *Lock) IsStale() bool { return l.stale }

// SetCommitTS records the transaction's commit ts before Unlock, so later
// transactions that started before it are found stale.
func (l *Lock) SetCommitTS(ts uint64) { l.commitTS = ts }

// Latches is a fixed set of latch slots. It is safe for concurrent use.
type Latches struct {
	rt    rt.Runtime
	mu    sync.Mutex // never held across a wait
	slots []slot
}

// New returns latches with size slots rounded up to a power of two
// (client-go NewLatches; TiDB's default is 2048000).
func New(r rt.Runtime, size uint) *Latches {
	n := 1
	if size > 1 {
		n = 1 << bits.Len(size-1)
	}
	return &Latches{rt: r, slots: make([]slot, n)}
}

// slotOf hashes key to a slot with FNV-1a: any fixed hash does, and unlike
// maphash it is the same in every process, so runs replay.
func (ls *Latches) slotOf(key []byte) int {
	h := uint32(2166136261)
	for _, c := range key {
		h ^= uint32(c)
		h *= 16777619
	}
	return int(h) & (len(ls.slots) - 1)
}

// Lock takes the latches of keys for the transaction at startTS, waiting
// for transactions that hold them. It returns with every latch held, or
// with the Lock stale (IsStale) and some held; either way the caller must
// call Unlock. Waiting ends early with ctx's error, holding nothing.
func (ls *Latches) Lock(ctx context.Context, startTS uint64, keys [][]byte) (*Lock, error) {
	ks := slices.Clone(keys)
	slices.SortFunc(ks, bytes.Compare)
	ks = slices.CompactFunc(ks, bytes.Equal)
	l := &Lock{keys: ks, slots: make([]int, len(ks)), startTS: startTS}
	for i, k := range ks {
		l.slots[i] = ls.slotOf(k)
	}
	for {
		ls.mu.Lock()
		done := ls.acquire(l)
		ls.mu.Unlock()
		if done {
			return l, nil
		}
		if err := l.wake.Wait(ctx); err != nil {
			ls.abandon(l)
			return nil, err
		}
	}
}

// acquire takes l's latches in key order until one is held by another
// transaction (l is queued on it and acquire reports false) or l turns out
// stale. Called with mu held.
func (ls *Latches) acquire(l *Lock) bool {
	for l.acquired < len(l.keys) && !l.stale {
		key, s := l.keys[l.acquired], &ls.slots[l.slots[l.acquired]]
		if len(s.nodes) >= listCount {
			s.recycle(l.startTS)
		}
		n := s.find(key)
		switch {
		case n == nil:
			s.nodes = append(s.nodes, &node{key: key, holder: l})
			l.acquired++
		case n.maxCommitTS > l.startTS:
			l.stale = true
		case n.holder == nil:
			n.holder = l
			l.acquired++
		default:
			l.wake = ls.rt.NewEvent()
			s.waiting = append(s.waiting, l)
			return false
		}
	}
	return true
}

// Unlock releases every latch l holds, in reverse order, and wakes the
// first transaction waiting on each (client-go Latches.release). A waiter
// that started before l's commit ts is handed the latch and marked stale:
// it cannot commit anyway.
func (ls *Latches) Unlock(l *Lock) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.release(l)
}

func (ls *Latches) release(l *Lock) {
	for l.acquired > 0 {
		l.acquired--
		key, s := l.keys[l.acquired], &ls.slots[l.slots[l.acquired]]
		n := s.find(key)
		if n == nil || n.holder != l {
			panic("latch: releasing a latch the lock does not hold") // internal invariant
		}
		n.maxCommitTS = max(n.maxCommitTS, l.commitTS)
		n.holder = nil
		// The node may outlive the transaction: keep no reference to its
		// key memory (client-go copies it for the same reason).
		n.key = bytes.Clone(n.key)
		i := slices.IndexFunc(s.waiting, func(w *Lock) bool { return bytes.Equal(w.keys[w.acquired], key) })
		if i < 0 {
			continue
		}
		next := s.waiting[i]
		s.waiting = slices.Delete(s.waiting, i, i+1)
		if n.maxCommitTS > next.startTS {
			n.holder = next
			next.acquired++
			next.stale = true
		}
		next.wake.Fire()
	}
}

// abandon withdraws a lock whose wait was cancelled: out of the waiting
// list if it is still there, and every latch it holds released.
func (ls *Latches) abandon(l *Lock) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if l.acquired < len(l.keys) {
		// A waiting lock waits on its next key's slot.
		s := &ls.slots[l.slots[l.acquired]]
		s.waiting = slices.DeleteFunc(s.waiting, func(w *Lock) bool { return w == l })
	}
	ls.release(l)
}
