package locate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/tikvsim/tikvsim/client/rt"
)

// StoreSource is the PD call the store cache makes (a subset of
// RegionSource).
type StoreSource interface {
	// GetStore is RegionSource.GetStore.
	GetStore(ctx context.Context, id uint64) (*metapb.Store, error)
}

// ResolveState is where a store is in address resolution (client-go
// resolveState).
type ResolveState uint32

// The resolve states.
const (
	// Unresolved: just created; the first user resolves it through PD.
	Unresolved ResolveState = iota
	// Resolved: the address is known and believed valid.
	Resolved
	// NeedCheck: a request to the store failed; the background check
	// re-resolves it (the old address stays in use meanwhile).
	NeedCheck
	// Tombstone: PD removed the store; regions with the store as work peer
	// are invalidated when routed to it.
	Tombstone
)

// String returns the state's name.
func (s ResolveState) String() string {
	switch s {
	case Unresolved:
		return "unresolved"
	case Resolved:
		return "resolved"
	case NeedCheck:
		return "needCheck"
	case Tombstone:
		return "tombstone"
	}
	return "ResolveState(" + strconv.Itoa(int(s)) + ")"
}

// Liveness is the last known reachability of a store (client-go
// livenessState). The health checker that measures it lives outside this
// package and reports through Store.SetLiveness.
type Liveness uint32

// The liveness states.
const (
	// Reachable is the default: requests reach the store.
	Reachable Liveness = iota
	// Unreachable: the store does not answer.
	Unreachable
	// LivenessUnknown: the check itself failed.
	LivenessUnknown
)

// String returns the liveness name.
func (l Liveness) String() string {
	switch l {
	case Reachable:
		return "reachable"
	case Unreachable:
		return "unreachable"
	case LivenessUnknown:
		return "unknown"
	}
	return "Liveness(" + strconv.Itoa(int(l)) + ")"
}

// StoreType is the kind of engine a store runs.
type StoreType uint8

// The store types.
const (
	// TiKV is a TiKV store.
	TiKV StoreType = iota
	// TiFlash is a TiFlash store (label engine=tiflash); the cache keeps its
	// peers but does not route TiKV requests to them.
	TiFlash
)

// String returns the type name.
func (t StoreType) String() string {
	if t == TiFlash {
		return "tiflash"
	}
	return "tikv"
}

func storeTypeOf(s *metapb.Store) StoreType {
	for _, l := range s.GetLabels() {
		if l.GetKey() == "engine" && (l.GetValue() == "tiflash" || l.GetValue() == "tiflash_compute") {
			return TiFlash
		}
	}
	return TiKV
}

// Store is one cached TiKV store. Its methods are safe for concurrent use.
type Store struct {
	id uint64

	mu         sync.RWMutex // guards the meta fields below
	addr       string
	peerAddr   string
	statusAddr string
	labels     []*metapb.StoreLabel
	typ        StoreType

	state            atomic.Uint32 // ResolveState
	epoch            atomic.Uint32 // bumped when requests to the store fail; regions holding an older epoch are invalid
	liveness         atomic.Uint32 // Liveness
	unreachableSince atomic.Int64  // unix nanoseconds, when liveness left Reachable
	waitMs           atomic.Uint32 // estimated wait TiKV last reported in ServerIsBusy
	waitAt           atomic.Int64  // unix nanoseconds, when waitMs was reported
}

func newStore(id uint64) *Store { return &Store{id: id} }

// UpdateServerLoadStats records the estimated wait a ServerIsBusy answer
// reported at now (client-go Store.updateServerLoadStats).
func (s *Store) UpdateServerLoadStats(estimatedWaitMs uint32, now time.Time) {
	s.waitMs.Store(estimatedWaitMs)
	s.waitAt.Store(now.UnixNano())
}

// EstimatedWaitTime returns how long a request to the store is expected to
// queue at now: the last reported wait less the time since it was reported
// (client-go Store.EstimatedWaitTime).
func (s *Store) EstimatedWaitTime(now time.Time) time.Duration {
	at := s.waitAt.Load()
	if at == 0 {
		return 0
	}
	return max(0, time.Duration(s.waitMs.Load())*time.Millisecond-time.Duration(now.UnixNano()-at))
}

// ID returns the store id.
func (s *Store) ID() uint64 { return s.id }

// Addr returns the last known client address, "" before resolution. A
// tombstone keeps its last address; StoreCache.Resolve answers "" for it.
func (s *Store) Addr() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.addr
}

// PeerAddr returns the peer (raft) address.
func (s *Store) PeerAddr() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.peerAddr
}

// StatusAddr returns the status (HTTP) address.
func (s *Store) StatusAddr() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.statusAddr
}

// Labels returns the store's labels; the slice is shared, do not modify it.
func (s *Store) Labels() []*metapb.StoreLabel {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.labels
}

// Type returns the store's engine type.
func (s *Store) Type() StoreType {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.typ
}

// LabelValue returns the value of label key and whether the store has it.
func (s *Store) LabelValue(key string) (string, bool) {
	for _, l := range s.Labels() {
		if l.GetKey() == key {
			return l.GetValue(), true
		}
	}
	return "", false
}

// IsLabelsMatch reports whether the store has every label in labels.
func (s *Store) IsLabelsMatch(labels []*metapb.StoreLabel) bool {
	have := s.Labels()
	for _, l := range labels {
		if !hasLabel(have, l) {
			return false
		}
	}
	return true
}

// IsSameLabels reports whether the store's labels are exactly labels, in
// any order.
func (s *Store) IsSameLabels(labels []*metapb.StoreLabel) bool {
	return len(s.Labels()) == len(labels) && s.IsLabelsMatch(labels)
}

func hasLabel(ls []*metapb.StoreLabel, l *metapb.StoreLabel) bool {
	return slices.ContainsFunc(ls, func(x *metapb.StoreLabel) bool {
		return x.GetKey() == l.GetKey() && x.GetValue() == l.GetValue()
	})
}

// ResolveState returns the store's resolve state.
func (s *Store) ResolveState() ResolveState { return ResolveState(s.state.Load()) }

// Liveness returns the last reported liveness.
func (s *Store) Liveness() Liveness { return Liveness(s.liveness.Load()) }

// UnreachableSince returns when the store left Reachable (zero when it is
// reachable).
func (s *Store) UnreachableSince() time.Time {
	n := s.unreachableSince.Load()
	if n == 0 || s.Liveness() == Reachable {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// SetLiveness records a liveness measured at now (by the health checker or
// the request sender).
func (s *Store) SetLiveness(l Liveness, now time.Time) {
	old := Liveness(s.liveness.Swap(uint32(l)))
	if old == Reachable && l != Reachable {
		s.unreachableSince.Store(now.UnixNano())
	}
}

// Epoch returns the store's failure epoch.
func (s *Store) Epoch() uint32 { return s.epoch.Load() }

func (s *Store) changeState(from, to ResolveState) bool {
	return s.state.CompareAndSwap(uint32(from), uint32(to)) || s.ResolveState() == to
}

func (s *Store) setMeta(m *metapb.Store) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addr = m.GetAddress()
	s.peerAddr = m.GetPeerAddress()
	s.statusAddr = m.GetStatusAddress()
	s.labels = m.GetLabels()
	s.typ = storeTypeOf(m)
}

// String formats the store for logs and tests.
func (s *Store) String() string {
	return fmt.Sprintf("store %d %s %s %s", s.id, s.Addr(), s.ResolveState(), s.Liveness())
}

// StoreCache maps store ids to Stores and resolves them through PD
// (client-go storeCache). It is safe for concurrent use.
type StoreCache struct {
	rt      rt.Runtime
	src     StoreSource
	flights *flightGroup[string]

	mu     sync.RWMutex
	stores map[uint64]*Store
}

// NewStoreCache returns an empty store cache resolving through src, with
// waits on runtime r.
func NewStoreCache(r rt.Runtime, src StoreSource) *StoreCache {
	return &StoreCache{rt: r, src: src, flights: newFlightGroup[string](r), stores: map[uint64]*Store{}}
}

// Get returns the cached store with id, if any.
func (c *StoreCache) Get(id uint64) (*Store, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s, ok := c.stores[id]
	return s, ok
}

// getOrInsert returns the store with id, creating it unresolved.
func (c *StoreCache) getOrInsert(id uint64) *Store {
	if s, ok := c.Get(id); ok {
		return s
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.stores[id]; ok {
		return s
	}
	s := newStore(id)
	c.stores[id] = s
	return s
}

// Put caches a store from its meta as resolved (or tombstone), replacing
// any cached one; for callers that already hold the meta (e.g. a store list
// refresh) and for tests.
func (c *StoreCache) Put(m *metapb.Store) *Store {
	s := newStore(m.GetId())
	s.setMeta(m)
	if m.GetState() == metapb.StoreState_Tombstone {
		s.state.Store(uint32(Tombstone))
	} else {
		s.state.Store(uint32(Resolved))
	}
	c.mu.Lock()
	c.stores[s.id] = s
	c.mu.Unlock()
	return s
}

// List returns the cached stores sorted by id.
func (c *StoreCache) List() []*Store {
	c.mu.RLock()
	out := make([]*Store, 0, len(c.stores))
	for _, s := range c.stores {
		out = append(out, s)
	}
	c.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Store) int { return cmp.Compare(a.id, b.id) })
	return out
}

// Resolve returns the store's address, asking PD the first time (client-go
// initResolve). It returns "" for a tombstone. Concurrent first resolutions
// of one store make one PD call. bo paces retries of PD errors; nil means
// the defaults of Options.PDRetry.
func (c *StoreCache) Resolve(ctx context.Context, bo Backoffer, s *Store) (string, error) {
	if bo == nil {
		bo = &retryBackoffer{clk: c.rt, o: Options{}.withDefaults().PDRetry}
	}
	switch s.ResolveState() {
	case Resolved, NeedCheck:
		return s.Addr(), nil
	case Tombstone:
		return "", nil
	}
	return c.flights.do(ctx, "s"+strconv.FormatUint(s.id, 10), func() (string, error) {
		if s.ResolveState() != Unresolved { // resolved while we queued
			return s.Addr(), nil
		}
		for {
			m, err := c.src.GetStore(ctx, s.id)
			if err != nil && !errors.Is(err, ErrStoreNotFound) {
				if err := bo.Backoff(ctx, fmt.Errorf("locate: load store %d from PD: %w", s.id, err)); err != nil {
					return "", err
				}
				continue
			}
			if m == nil || m.GetState() == metapb.StoreState_Tombstone {
				s.state.Store(uint32(Tombstone))
				return "", nil
			}
			if m.GetAddress() == "" {
				return "", fmt.Errorf("%w: store %d", ErrEmptyStoreAddr, s.id)
			}
			s.setMeta(m)
			s.changeState(Unresolved, Resolved)
			return s.Addr(), nil
		}
	})
}

// MarkNeedCheck schedules a re-resolution of a resolved store after a
// request to it failed (client-go markStoreNeedCheck); CheckAndResolve does
// it.
func (c *StoreCache) MarkNeedCheck(s *Store) { s.changeState(Resolved, NeedCheck) }

// ReResolve reloads a store from PD (client-go reResolve). It reports false
// when the store is gone (tombstone or unknown to PD): the store becomes a
// Tombstone and its epoch is bumped, which invalidates regions routed to it.
// An address or label change updates the store in place.
func (c *StoreCache) ReResolve(ctx context.Context, s *Store) (bool, error) {
	m, err := c.src.GetStore(ctx, s.id)
	if err != nil && !errors.Is(err, ErrStoreNotFound) {
		return false, fmt.Errorf("locate: reload store %d from PD: %w", s.id, err)
	}
	if m == nil || m.GetState() == metapb.StoreState_Tombstone {
		s.epoch.Add(1)
		s.state.Store(uint32(Tombstone))
		return false, nil
	}
	if m.GetAddress() == "" {
		return false, fmt.Errorf("%w: store %d", ErrEmptyStoreAddr, s.id)
	}
	if s.Addr() != m.GetAddress() || !s.IsSameLabels(m.GetLabels()) {
		s.setMeta(m)
		s.state.Store(uint32(Resolved))
		return true, nil
	}
	s.changeState(NeedCheck, Resolved)
	return true, nil
}

// CheckAndResolve re-resolves every store whose state satisfies need, in id
// order, and returns the first error (client-go checkAndResolve). The
// background loop calls it for NeedCheck stores often and for all live
// stores now and then.
func (c *StoreCache) CheckAndResolve(ctx context.Context, need func(ResolveState) bool) error {
	var first error
	for _, s := range c.List() {
		if !need(s.ResolveState()) {
			continue
		}
		if _, err := c.ReResolve(ctx, s); err != nil && first == nil {
			first = err
		}
	}
	return first
}
