package locate

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsim/tikvsim/client/tikvrpc"
)

// selectorReplicas returns three replicas on stores 1-3 (zones z1-z3), the
// leader on store 1; learner makes store 3's peer a learner.
func selectorReplicas(learner bool) []ReplicaInfo {
	var rs []ReplicaInfo
	for i := uint64(1); i <= 3; i++ {
		p := &metapb.Peer{Id: 10 + i, StoreId: i}
		if learner && i == 3 {
			p.Role = metapb.PeerRole_Learner
		}
		rs = append(rs, ReplicaInfo{Peer: p, Labels: []*metapb.StoreLabel{{Key: "zone", Value: fmt.Sprintf("z%d", i)}}})
	}
	return rs
}

// accessPath drives a selector with one event per attempt and returns the
// path it took, in client-go's access-path notation shortened to
// "s<store>[ rr][ stale]", ending in "exhausted" when Next fails. Events:
// "ok" (the attempt succeeds: stop), "other" (a region error the selector
// does not learn from, e.g. StaleCommand), "busy", "notready", "sendfail",
// "notleader:<store>" (0: none), "regionnotfound" (stop unless the selector
// retries on the leader).
func accessPath(sel *ReplicaSelector, events []string) string {
	var path []string
	for _, ev := range events {
		t, ok := sel.Next()
		if !ok {
			path = append(path, "exhausted")
			break
		}
		step := fmt.Sprintf("s%d", t.Index+1)
		if t.ReplicaRead {
			step += " rr"
		}
		if t.StaleRead {
			step += " stale"
		}
		path = append(path, step)
		stop := false
		switch {
		case ev == "ok":
			stop = true
		case ev == "other":
		case ev == "busy":
			sel.OnServerIsBusy()
		case ev == "notready":
			sel.OnDataIsNotReady()
		case ev == "sendfail":
			sel.OnSendFail()
		case ev == "regionnotfound":
			stop = !sel.OnRegionNotFound()
		case strings.HasPrefix(ev, "notleader:"):
			var store uint64
			fmt.Sscanf(ev, "notleader:%d", &store)
			sel.OnNotLeader(store)
		default:
			panic("unknown event " + ev)
		}
		if stop {
			break
		}
	}
	return strings.Join(path, ", ")
}

// TestReplicaSelectorAccessPath ports the access paths of client-go's
// replica_selector_test.go (TestReplicaReadAccessPathByBasicCase,
// ByLeaderCase, ByFollowerCase, ByMixedAndPreferLeaderCase,
// ByStaleReadCase, ByLearnerCase) onto the pure selector: ties go to the
// first replica, as client-go's tests fix randIntn to 0.
func TestReplicaSelectorAccessPath(t *testing.T) {
	z2 := []*metapb.StoreLabel{{Key: "zone", Value: "z2"}}
	cases := []struct {
		name    string
		typ     tikvrpc.ReplicaReadType
		stale   bool
		write   bool
		labels  []*metapb.StoreLabel
		learner bool
		events  []string
		want    string
	}{
		{name: "leader retryable error retries the leader", typ: tikvrpc.ReplicaReadLeader, events: []string{"other", "ok"}, want: "s1, s1"},
		{name: "leader busy", typ: tikvrpc.ReplicaReadLeader, events: []string{"busy", "ok"}, want: "s1, s1"},
		{name: "write goes to the leader", typ: tikvrpc.ReplicaReadLeader, write: true, events: []string{"ok"}, want: "s1"},
		{name: "follower read tries the followers in turn", typ: tikvrpc.ReplicaReadFollower, events: []string{"other", "ok"}, want: "s2 rr, s3 rr"},
		{name: "follower read falls back to the leader", typ: tikvrpc.ReplicaReadFollower, events: []string{"sendfail", "sendfail", "ok"}, want: "s2 rr, s3 rr, s1"},
		{name: "follower read exhausted", typ: tikvrpc.ReplicaReadFollower, events: []string{"other", "other", "other", "other"}, want: "s2 rr, s3 rr, s1, exhausted"},
		{name: "mixed starts at the leader", typ: tikvrpc.ReplicaReadMixed, events: []string{"other", "ok"}, want: "s1, s2 rr"},
		{name: "prefer leader", typ: tikvrpc.ReplicaReadPreferLeader, events: []string{"other", "other", "ok"}, want: "s1, s2 rr, s3 rr"},
		{name: "mixed with labels picks the matching follower", typ: tikvrpc.ReplicaReadMixed, labels: z2, events: []string{"other", "ok"}, want: "s2 rr, s1"},
		{name: "follower read with labels", typ: tikvrpc.ReplicaReadFollower, labels: []*metapb.StoreLabel{{Key: "zone", Value: "z3"}}, events: []string{"ok"}, want: "s3 rr"},
		{name: "stale read retryable error", typ: tikvrpc.ReplicaReadMixed, stale: true, events: []string{"other", "ok"}, want: "s1 stale, s2 rr"},
		{name: "stale read leader busy stays stale", typ: tikvrpc.ReplicaReadMixed, stale: true, events: []string{"busy", "ok"}, want: "s1 stale, s2 stale"},
		{name: "stale read not ready falls back to the leader", typ: tikvrpc.ReplicaReadMixed, stale: true, labels: z2, events: []string{"notready", "ok"}, want: "s2 stale, s1"},
		{name: "stale read leader unreachable then replica read", typ: tikvrpc.ReplicaReadMixed, stale: true, labels: z2, events: []string{"notready", "sendfail", "ok"}, want: "s2 stale, s1, s2 rr"},
		{name: "stale read leader busy then stale elsewhere", typ: tikvrpc.ReplicaReadMixed, stale: true, labels: z2, events: []string{"notready", "busy", "ok"}, want: "s2 stale, s1, s2 stale"},
		{name: "stale read unmatched labels", typ: tikvrpc.ReplicaReadMixed, stale: true, labels: []*metapb.StoreLabel{{Key: "zone", Value: "z9"}}, events: []string{"notready", "other", "ok"}, want: "s1 stale, s2 rr, s3 rr"},
		{name: "leader unreachable probes followers, notleader names the new leader", typ: tikvrpc.ReplicaReadLeader, events: []string{"sendfail", "notleader:3", "ok"}, want: "s1, s2, s3"},
		{name: "follower notleader turns into a leader read", typ: tikvrpc.ReplicaReadFollower, events: []string{"notleader:3", "ok"}, want: "s2 rr, s3"},
		{name: "notleader without a leader moves on", typ: tikvrpc.ReplicaReadFollower, events: []string{"notleader:0", "ok"}, want: "s2 rr, s3 rr"},
		{name: "follower regionnotfound retries the leader", typ: tikvrpc.ReplicaReadFollower, events: []string{"regionnotfound", "ok"}, want: "s2 rr, s1"},
		{name: "leader regionnotfound stops", typ: tikvrpc.ReplicaReadLeader, events: []string{"regionnotfound", "ok"}, want: "s1"},
		{name: "learner read prefers the learner, then the leader", typ: tikvrpc.ReplicaReadLearner, learner: true, events: []string{"busy", "ok"}, want: "s3 rr, s1"},
		{name: "learner read without a learner reads the leader", typ: tikvrpc.ReplicaReadLearner, events: []string{"ok"}, want: "s1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sel := NewReplicaSelector(selectorReplicas(c.learner), 0, SelectorOptions{ReplicaRead: c.typ, StaleRead: c.stale, ReadOnly: !c.write, Labels: c.labels})
			if got := accessPath(sel, c.events); got != c.want {
				t.Fatalf("access path %q, want %q (%v)", got, c.want, sel)
			}
		})
	}
}

// TestReplicaSelectorCalculateScore ports client-go
// TestReplicaSelectorCalculateScore: the score bits by role, labels and
// attempts.
func TestReplicaSelectorCalculateScore(t *testing.T) {
	sel := NewReplicaSelector(selectorReplicas(true), 0, SelectorOptions{ReplicaRead: tikvrpc.ReplicaReadMixed, ReadOnly: true,
		Labels: []*metapb.StoreLabel{{Key: "zone", Value: "z1"}}})
	for _, c := range []struct {
		i                                    int
		tryLeader, preferLeader, learnerOnly bool
		want                                 int
	}{
		{0, false, false, false, scoreLabelMatches | scoreNotAttempted},
		{0, true, false, false, scoreLabelMatches | scorePreferLeader | scoreNotAttempted},
		{0, false, true, false, scoreLabelMatches | scorePreferLeader | scoreNotAttempted},
		{1, false, false, false, scoreNormalPeer | scoreNotAttempted},
		{1, false, false, true, scoreNotAttempted},
		{2, false, false, true, scoreNormalPeer | scoreNotAttempted},
	} {
		if got := sel.score(c.i, c.tryLeader, c.preferLeader, c.learnerOnly); got != c.want {
			t.Errorf("score(%d, tryLeader=%v preferLeader=%v learnerOnly=%v) = %b, want %b", c.i, c.tryLeader, c.preferLeader, c.learnerOnly, got, c.want)
		}
	}
	sel.replicas[1].attempts = 1
	if got := sel.score(1, false, false, false); got != scoreNormalPeer {
		t.Errorf("tried follower score %b, want %b", got, scoreNormalPeer)
	}
}

// TestReplicaSelectorTieBreak: Rand picks among replicas of equal score, so
// a seeded source spreads follower reads over the followers.
func TestReplicaSelectorTieBreak(t *testing.T) {
	seen := map[int]bool{}
	for k := range 4 {
		sel := NewReplicaSelector(selectorReplicas(false), 0, SelectorOptions{ReplicaRead: tikvrpc.ReplicaReadFollower, ReadOnly: true,
			Rand: func(n int) int { return k % n }})
		tg, _ := sel.Next()
		seen[tg.Index] = true
		if tg.Index == 0 {
			t.Fatalf("follower read picked the leader first: %v", sel)
		}
	}
	if !seen[1] || !seen[2] {
		t.Fatalf("picked %v, want both followers", seen)
	}
}

// TestReplicaSelectorBusyThreshold ports the selector side of client-go
// TestReplicaReadAccessPathByTryIdleReplicaCase and TestLoadBasedReplicaRead:
// a leader read with a busy threshold goes to an idle follower (as a replica
// read) when the leader is expected to queue longer or answered
// ServerIsBusy, and to the leader without a threshold when every replica is
// busy.
func TestReplicaSelectorBusyThreshold(t *testing.T) {
	const thr = 100 * time.Millisecond
	for _, c := range []struct {
		name   string
		waits  [3]time.Duration
		events []string
		want   string
		clear  bool
	}{
		{"idle leader", [3]time.Duration{}, []string{"ok"}, "s1", false},
		{"busy leader by estimate", [3]time.Duration{500 * time.Millisecond}, []string{"ok"}, "s2 rr", false},
		{"busy leader by answer", [3]time.Duration{}, []string{"busy", "ok"}, "s1, s2 rr", false},
		{"busy leader and one follower", [3]time.Duration{500 * time.Millisecond, 500 * time.Millisecond}, []string{"ok"}, "s3 rr", false},
		{"every replica busy", [3]time.Duration{time.Second, time.Second, time.Second}, []string{"ok"}, "s1", true},
		{"idle follower busy too", [3]time.Duration{time.Second}, []string{"busy", "busy", "ok"}, "s2 rr, s3 rr, s1", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs := selectorReplicas(false)
			for i := range rs {
				rs[i].EstimatedWait = c.waits[i]
			}
			sel := NewReplicaSelector(rs, 0, SelectorOptions{ReplicaRead: tikvrpc.ReplicaReadLeader, ReadOnly: true, BusyThreshold: thr})
			cleared := false
			var path []string
			for _, ev := range c.events {
				tg, ok := sel.Next()
				if !ok {
					t.Fatalf("exhausted: %v", sel)
				}
				cleared = cleared || tg.NoBusyThreshold
				step := fmt.Sprintf("s%d", tg.Index+1)
				if tg.ReplicaRead {
					step += " rr"
				}
				path = append(path, step)
				if ev == "busy" {
					sel.OnServerIsBusy()
				}
			}
			if got := strings.Join(path, ", "); got != c.want || cleared != c.clear {
				t.Fatalf("path %q cleared %v, want %q cleared %v (%v)", got, cleared, c.want, c.clear, sel)
			}
		})
	}
	// A write never leaves the leader.
	rs := selectorReplicas(false)
	rs[0].EstimatedWait = time.Second
	sel := NewReplicaSelector(rs, 0, SelectorOptions{BusyThreshold: thr})
	if tg, _ := sel.Next(); tg.Index != 0 || tg.ReplicaRead {
		t.Fatalf("a write with a busy threshold went to %+v", tg)
	}
}

// TestStoreEstimatedWaitDecays: the estimated wait shrinks with the time
// since it was reported.
func TestStoreEstimatedWaitDecays(t *testing.T) {
	s := newStore(1)
	t0 := time.Unix(100, 0)
	if s.EstimatedWaitTime(t0) != 0 {
		t.Fatal("a fresh store has an estimated wait")
	}
	s.UpdateServerLoadStats(300, t0)
	if w := s.EstimatedWaitTime(t0.Add(100 * time.Millisecond)); w != 200*time.Millisecond {
		t.Fatalf("wait after 100ms = %v, want 200ms", w)
	}
	if w := s.EstimatedWaitTime(t0.Add(time.Second)); w != 0 {
		t.Fatalf("wait after 1s = %v, want 0", w)
	}
}
