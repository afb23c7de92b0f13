package locate

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/internal/invariants"
)

// ReplicaSelector chooses the replica each attempt of one read goes to, by
// the request's ReplicaReadType, stale-read flag and store labels, and
// learns from what the replicas answered. It mirrors client-go's
// replicaSelector (internal/locate/replica_selector.go: nextForReplicaReadLeader,
// nextForReplicaReadMixed, ReplicaSelectMixedStrategy.calculateScore and
// isCandidate, onNotLeader, onDataIsNotReady, onServerIsBusy,
// onSendFailure), as a pure state machine: it holds no clock, does no I/O,
// and the caller (the request sender) feeds it the outcome of each attempt:
//
//	t, ok := sel.Next()         // ok false: every replica is exhausted
//	... send to replica t.Index with t.StaleRead / t.ReplicaRead ...
//	sel.OnSendFail()            // the store did not answer
//	sel.OnNotLeader(storeID)    // NotLeader (0: no leader known)
//	sel.OnDataIsNotReady()      // stale read above the replica's safe ts
//	sel.OnServerIsBusy()
//
// The state transitions, as client-go makes them:
//
//   - Leader: the leader while it is a candidate (reachable, not exhausted,
//     did not answer NotLeader); then any other replica, read as a leader
//     read so it answers NotLeader naming the leader.
//   - Follower, Mixed, Learner, PreferLeader: the candidate replica with the
//     best score (label match, then the leader for PreferLeader or for
//     Mixed with labels, then a normal peer: any follower, a learner only
//     for Learner, the leader only for Mixed and PreferLeader; then not yet
//     tried), ties broken by Rand; each replica is tried once (twice for a
//     follower that answered DataIsNotReady). A read sent to a replica that
//     is not the leader carries ReplicaRead.
//   - Stale read: the first attempt goes to the best replica (the local one
//     by labels) as a stale read; the second to the leader as a plain read
//     unless the leader was already tried; later attempts, once the leader
//     was tried and is not busy, as replica reads (a follower's read index
//     then makes them linearizable).
//   - NotLeader naming a leader that is still a candidate turns the
//     selector into a leader read.
//   - Busy threshold (load-based replica read): a leader read whose leader
//     is expected to queue longer than the threshold, or answered
//     ServerIsBusy, goes to the best idle follower as a replica read; with
//     none idle, to the leader without the threshold.
//
// A ReplicaSelector is used by one request at a time; it is not safe for
// concurrent use.
type ReplicaSelector struct {
	replicas []replicaSlot
	leader   int
	opts     SelectorOptions
	readType tikvrpc.ReplicaReadType
	attempts int
	target   int // -1 before the first Next
}

// ReplicaInfo describes one TiKV replica of a region to a ReplicaSelector.
type ReplicaInfo struct {
	// Peer is the replica's peer; Peer.Role tells learners apart.
	Peer *metapb.Peer
	// Labels are the labels of the replica's store.
	Labels []*metapb.StoreLabel
	// Unreachable marks a store known not to answer.
	Unreachable bool
	// EstimatedWait is how long the store is expected to queue a request
	// (from its last ServerIsBusy), for BusyThreshold.
	EstimatedWait time.Duration
}

// SelectorOptions says what a read asks of the selector.
type SelectorOptions struct {
	// ReplicaRead is the request's replica read kind.
	ReplicaRead tikvrpc.ReplicaReadType
	// StaleRead makes the read a stale read.
	StaleRead bool
	// ReadOnly is true for reads: only they may go to followers.
	ReadOnly bool
	// Labels, when set, prefer replicas whose store has all of them
	// (client-go WithMatchLabels).
	Labels []*metapb.StoreLabel
	// Stores, when set, prefer replicas on these stores (client-go
	// WithMatchStores).
	Stores []uint64
	// Rand returns a number in [0, n) to break ties between replicas of the
	// same score; nil picks the first.
	Rand func(n int) int
	// BusyThreshold, for a leader read, sends the read to an idle follower
	// (as a replica read) when the leader is expected to queue it longer
	// than this or answered ServerIsBusy; when every replica is busy the
	// leader serves it without a threshold (client-go load-based replica
	// read, Context.busy_threshold_ms). 0: off.
	BusyThreshold time.Duration
}

// ReplicaTarget is where one attempt goes and how it reads.
type ReplicaTarget struct {
	// Index is the replica's index in the list given to the selector.
	Index int
	// StaleRead and ReplicaRead are the flags to set in the request's
	// context for this attempt.
	StaleRead, ReplicaRead bool
	// NoBusyThreshold says to clear the request's busy threshold: every
	// replica is busy and the leader serves the read anyway.
	NoBusyThreshold bool
}

type replicaSlot struct {
	info         ReplicaInfo
	attempts     int
	notLeader    bool
	dataNotReady bool
	serverBusy   bool
}

// maxReplicaAttempt bounds the attempts on the leader (client-go
// maxReplicaAttempt).
const maxReplicaAttempt = 10

// The score bits of a candidate, most significant first (client-go
// storeSelectionScore; every store counts as not slow).
const (
	scoreNotAttempted = 1 << iota
	scoreNormalPeer
	scorePreferLeader
	scoreLabelMatches
)

// NewReplicaSelector returns a selector over replicas (a region's TiKV
// peers in access order) whose leader is replicas[leader].
func NewReplicaSelector(replicas []ReplicaInfo, leader int, opts SelectorOptions) *ReplicaSelector {
	invariants.Assert(leader >= 0 && leader < len(replicas), "leader %d of %d replicas", leader, len(replicas))
	s := &ReplicaSelector{leader: leader, opts: opts, readType: opts.ReplicaRead, target: -1}
	for _, r := range replicas {
		s.replicas = append(s.replicas, replicaSlot{info: r})
	}
	return s
}

// Leader returns the index of the replica the selector takes for the leader.
func (s *ReplicaSelector) Leader() int { return s.leader }

// ReplicaReadType returns the selector's current read kind: the request's,
// or Leader once a NotLeader named a usable leader.
func (s *ReplicaSelector) ReplicaReadType() tikvrpc.ReplicaReadType { return s.readType }

// Attempts returns how many targets Next has returned.
func (s *ReplicaSelector) Attempts() int { return s.attempts }

// Next returns the target of the next attempt, false when every replica is
// exhausted (the caller then reloads the region, as client-go invalidates it).
func (s *ReplicaSelector) Next() (ReplicaTarget, bool) {
	s.attempts++
	var t ReplicaTarget
	idx := -1
	if s.readType == tikvrpc.ReplicaReadLeader && !s.opts.StaleRead {
		idx, t = s.nextLeaderRead()
	} else {
		idx, t = s.nextMixed()
	}
	s.target = idx
	if idx < 0 {
		return ReplicaTarget{Index: -1}, false
	}
	s.replicas[idx].attempts++
	t.Index = idx
	return t, true
}

// nextLeaderRead: the leader while it is a candidate (an idle follower
// instead when the leader is busy beyond BusyThreshold), else any other
// replica that has not been tried, as a plain read (client-go
// nextForReplicaReadLeader).
func (s *ReplicaSelector) nextLeaderRead() (int, ReplicaTarget) {
	if !s.leaderCandidate() {
		return s.best(false, false, false), ReplicaTarget{}
	}
	thr := s.opts.BusyThreshold
	if l := &s.replicas[s.leader]; thr > 0 && s.opts.ReadOnly && (l.info.EstimatedWait > thr || l.serverBusy) {
		if idx := s.bestIdle(thr); idx >= 0 {
			return idx, ReplicaTarget{ReplicaRead: true}
		}
		// Every replica is busy: the leader, without a threshold.
		s.opts.BusyThreshold = 0
		return s.leader, ReplicaTarget{NoBusyThreshold: true}
	}
	return s.leader, ReplicaTarget{}
}

// bestIdle returns the best follower expected to queue at most thr that did
// not answer ServerIsBusy, -1 when none (client-go isCandidate with a busy
// threshold).
func (s *ReplicaSelector) bestIdle(thr time.Duration) int {
	best, bestScore := -1, -1
	for i := range s.replicas {
		r := &s.replicas[i]
		if i == s.leader || !s.candidate(i) || r.serverBusy || r.info.EstimatedWait > thr {
			continue
		}
		sc := s.score(i, false, false, false)
		if sc > bestScore {
			best, bestScore = i, sc
		}
	}
	return best
}

func (s *ReplicaSelector) leaderCandidate() bool {
	l := &s.replicas[s.leader]
	return !l.info.Unreachable && l.attempts < maxReplicaAttempt && !l.notLeader
}

// nextMixed is client-go nextForReplicaReadMixed.
func (s *ReplicaSelector) nextMixed() (int, ReplicaTarget) {
	if s.opts.StaleRead && s.attempts == 2 && s.leaderCandidate() && s.replicas[s.leader].attempts < 1 {
		// The second attempt of a stale read: the leader, as a plain read.
		return s.leader, ReplicaTarget{}
	}
	rt := s.readType
	idx := s.best(rt == tikvrpc.ReplicaReadMixed || rt == tikvrpc.ReplicaReadPreferLeader, rt == tikvrpc.ReplicaReadPreferLeader, rt == tikvrpc.ReplicaReadLearner)
	if idx < 0 {
		return -1, ReplicaTarget{}
	}
	if s.opts.StaleRead {
		stale := true
		if s.attempts != 1 || (!s.matches(idx) && idx != s.leader) {
			if s.canSendReplicaRead() {
				stale = false
			}
		}
		return idx, ReplicaTarget{StaleRead: stale, ReplicaRead: !stale}
	}
	return idx, ReplicaTarget{ReplicaRead: s.opts.ReadOnly && idx != s.leader}
}

// canSendReplicaRead: a stale read falls back to a replica read only once
// the leader was tried and did not answer ServerIsBusy.
func (s *ReplicaSelector) canSendReplicaRead() bool {
	l := &s.replicas[s.leader]
	return l.attempts > 0 && !l.serverBusy
}

// best returns the candidate with the highest score, -1 when none.
func (s *ReplicaSelector) best(tryLeader, preferLeader, learnerOnly bool) int {
	var top []int
	maxScore := -1
	for i := range s.replicas {
		if !s.candidate(i) {
			continue
		}
		sc := s.score(i, tryLeader, preferLeader, learnerOnly)
		switch {
		case sc > maxScore:
			maxScore, top = sc, append(top[:0], i)
		case sc == maxScore:
			top = append(top, i)
		}
	}
	if len(top) == 0 {
		return -1
	}
	if len(top) > 1 && s.opts.Rand != nil {
		return top[s.opts.Rand(len(top))]
	}
	return top[0]
}

// candidate is client-go ReplicaSelectMixedStrategy.isCandidate.
func (s *ReplicaSelector) candidate(i int) bool {
	r := &s.replicas[i]
	if r.info.Unreachable {
		return false
	}
	maxAttempt := 1
	if r.dataNotReady && i != s.leader {
		maxAttempt = 2 // tried as a stale read, may be tried again as a replica read
	}
	return r.attempts < maxAttempt
}

// score is client-go ReplicaSelectMixedStrategy.calculateScore.
func (s *ReplicaSelector) score(i int, tryLeader, preferLeader, learnerOnly bool) int {
	r := &s.replicas[i]
	sc := 0
	if s.matches(i) {
		sc |= scoreLabelMatches
	}
	if i == s.leader {
		switch {
		case preferLeader:
			sc |= scorePreferLeader
		case tryLeader && len(s.opts.Labels) > 0:
			sc |= scorePreferLeader
		case tryLeader:
			sc |= scoreNormalPeer
		}
	} else if !learnerOnly || r.info.Peer.GetRole() == metapb.PeerRole_Learner {
		sc |= scoreNormalPeer
	}
	if r.attempts == 0 {
		sc |= scoreNotAttempted
	}
	return sc
}

// matches reports whether replica i's store matches the wanted stores and
// labels (client-go IsStoreMatch && IsLabelsMatch).
func (s *ReplicaSelector) matches(i int) bool {
	r := &s.replicas[i]
	if len(s.opts.Stores) > 0 {
		found := false
		for _, id := range s.opts.Stores {
			found = found || id == r.info.Peer.GetStoreId()
		}
		if !found {
			return false
		}
	}
	for _, want := range s.opts.Labels {
		if !hasLabel(r.info.Labels, want) {
			return false
		}
	}
	return true
}

// OnSendFail records that the target's store did not answer.
func (s *ReplicaSelector) OnSendFail() {
	if s.target >= 0 {
		s.replicas[s.target].info.Unreachable = true
	}
}

// OnNotLeader records a NotLeader answer naming the leader's store
// (0: none known). A usable named leader turns the read into a leader read
// (client-go onNotLeader).
func (s *ReplicaSelector) OnNotLeader(leaderStore uint64) {
	if s.target >= 0 {
		s.replicas[s.target].notLeader = true
	}
	if leaderStore == 0 {
		return
	}
	for i := range s.replicas {
		if s.replicas[i].info.Peer.GetStoreId() == leaderStore {
			s.leader = i
			if s.leaderCandidate() {
				s.readType = tikvrpc.ReplicaReadLeader
				s.opts.StaleRead = false
			}
			return
		}
	}
}

// OnDataIsNotReady records a stale read refused for its safe ts.
func (s *ReplicaSelector) OnDataIsNotReady() {
	if s.target >= 0 {
		s.replicas[s.target].dataNotReady = true
	}
}

// OnServerIsBusy records a ServerIsBusy answer.
func (s *ReplicaSelector) OnServerIsBusy() {
	if s.target >= 0 {
		s.replicas[s.target].serverBusy = true
	}
}

// OnRegionNotFound reports whether a RegionNotFound from the target is worth
// a retry on the leader (the target was a replica and the leader was not
// tried: the region may be new on the leader and not yet on the replica), and
// if so turns the read into a leader read (client-go onRegionNotFound).
func (s *ReplicaSelector) OnRegionNotFound() bool {
	if s.target == s.leader || s.replicas[s.leader].attempts > 0 {
		return false
	}
	s.readType = tikvrpc.ReplicaReadLeader
	s.opts.StaleRead = false
	return true
}

// String describes the selector's state for logs and tests.
func (s *ReplicaSelector) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v attempts=%d leader=%d target=%d", s.readType, s.attempts, s.leader, s.target)
	for i, r := range s.replicas {
		fmt.Fprintf(&b, " [%d store=%d tried=%d", i, r.info.Peer.GetStoreId(), r.attempts)
		for _, f := range []struct {
			on   bool
			name string
		}{{r.info.Unreachable, "unreachable"}, {r.notLeader, "notleader"}, {r.dataNotReady, "notready"}, {r.serverBusy, "busy"}} {
			if f.on {
				b.WriteString(" " + f.name)
			}
		}
		b.WriteString("]")
	}
	return b.String()
}

// NewReplicaSelectorFor returns a selector over cached region id's TiKV
// replicas, its leader the region's work peer, with each store's liveness;
// nil when id is not the cached valid version.
func (c *Cache) NewReplicaSelectorFor(id RegionVerID, opts SelectorOptions) *ReplicaSelector {
	r := c.cached(id)
	if !c.isValid(r) || len(r.kvIdx) == 0 {
		return nil
	}
	_, _, leader := r.Leader()
	if leader < 0 {
		return nil
	}
	infos := make([]ReplicaInfo, len(r.kvIdx))
	for ai, pi := range r.kvIdx {
		st := r.stores[pi]
		infos[ai] = ReplicaInfo{Peer: r.meta.Peers[pi], Labels: st.Labels(), Unreachable: st.Liveness() == Unreachable,
			EstimatedWait: st.EstimatedWaitTime(c.rt.Now())}
	}
	return NewReplicaSelector(infos, leader, opts)
}

// GetReplicaRPCContext returns where to send a request for region id's
// replica at access index ai (client-go buildRPCContext for a chosen
// replica). It returns nil, nil when id is no longer the cached valid
// version or the replica's store cannot be resolved: the caller relocates.
func (c *Cache) GetReplicaRPCContext(ctx context.Context, bo Backoffer, id RegionVerID, ai int) (*RPCContext, error) {
	r := c.cached(id)
	if !c.isValid(r) || ai < 0 || ai >= len(r.kvIdx) {
		return nil, nil
	}
	pi := r.kvIdx[ai]
	store := r.stores[pi]
	addr, err := c.stores.Resolve(ctx, c.backoffer(bo), store)
	if err != nil {
		return nil, err
	}
	if addr == "" {
		r.invalidate(StoreNotFound)
		return nil, nil
	}
	st := r.state.Load()
	return &RPCContext{
		Region: id, Meta: r.meta, Peer: r.meta.Peers[pi], AccessIdx: ai, Store: store, Addr: addr,
		TiKVNum: len(r.kvIdx), BucketVersion: st.buckets.GetVersion(),
	}, nil
}

// OnServerBusyEstimate records the estimated wait a ServerIsBusy answer
// from rpc's store reported, for later selectors' BusyThreshold.
func (c *Cache) OnServerBusyEstimate(rpc *RPCContext, estimatedWaitMs uint32) {
	if rpc != nil && rpc.Store != nil && estimatedWaitMs != 0 {
		rpc.Store.UpdateServerLoadStats(estimatedWaitMs, c.rt.Now())
	}
}
