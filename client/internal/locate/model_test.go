package locate

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/tikvsim/tikvsim/client/rt"
	"pgregory.net/rapid"
)

// noSleep is a Backoffer that retries a bounded number of times without
// sleeping, so model runs on the real runtime stay fast.
type noSleep struct{ n, max int }

func (b *noSleep) Backoff(_ context.Context, err error) error {
	if b.n++; b.n > b.max {
		return fmt.Errorf("model: gave up: %w", err)
	}
	return nil
}

// modelKeys are the keys the model splits at and looks up.
var modelKeys = func() [][]byte {
	var ks [][]byte
	for c := byte('a'); c <= 'z'; c++ {
		ks = append(ks, []byte{c}, []byte{c, 'm'})
	}
	return ks
}()

// TestModel drives a Cache against a fakePD whose layout changes at random
// (splits, merges, leader moves), which sometimes answers from an old
// snapshot (a lagging follower), and feeds the cache the request sender's
// feedback (EpochNotMatch with TiKV's current regions, NotLeader,
// invalidation). It checks after every step that:
//
//   - a lookup returns a region containing the key;
//   - the cache's regions never overlap;
//   - lookups of one region id never go backwards in epoch;
//   - a returned region never overlaps a cached region of a newer version;
//   - once PD stops lagging and everything is invalidated, every lookup
//     returns exactly PD's current region (the cache converges).
func TestModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		pd := newFakePD()
		for s := uint64(1); s <= 3; s++ {
			pd.putStore(&metapb.Store{Id: s, Address: fmt.Sprintf("s%d", s)})
		}
		pd.putRegion(1, nil, nil, 1, 1, []uint64{1, 2, 3}, 1)
		c := New(rt.Real, pd, Options{})
		ctx := context.Background()
		nextID := uint64(2)
		maxVer := map[uint64][2]uint64{} // id -> highest (ver, conf) returned
		bo := func() Backoffer { return &noSleep{max: 20} }

		check := func(key []byte, r *Region) {
			if !r.Contains(key) {
				t.Fatalf("%v does not contain %q", r, key)
			}
			v := r.VerID()
			if m := maxVer[v.id]; v.ver < m[0] || v.confVer < m[1] {
				t.Fatalf("region %d went back from ver %d conf %d to %v", v.id, m[0], m[1], r)
			}
			maxVer[v.id] = [2]uint64{max(v.ver, maxVer[v.id][0]), max(v.confVer, maxVer[v.id][1])}
			for _, o := range c.Regions() {
				if o.ID() != v.id && o.VerID().ver > v.ver && overlaps(o.StartKey(), o.EndKey(), r.StartKey(), r.EndKey()) {
					t.Fatalf("returned %v overlaps newer cached %v", r, o)
				}
			}
		}
		checkIndex := func() {
			rs := c.Regions()
			for i := 1; i < len(rs); i++ {
				if len(rs[i-1].EndKey()) == 0 || bytes.Compare(rs[i-1].EndKey(), rs[i].StartKey()) > 0 {
					t.Fatalf("cached regions overlap: %v and %v", rs[i-1], rs[i])
				}
			}
		}
		pick := func(t *rapid.T, label string) *Region {
			rs := c.Regions()
			if len(rs) == 0 {
				return nil
			}
			return rs[rapid.IntRange(0, len(rs)-1).Draw(t, label)]
		}

		t.Repeat(map[string]func(*rapid.T){
			"split": func(t *rapid.T) {
				k := rapid.SampledFrom(modelKeys).Draw(t, "at")
				r := regionFor(pd.regions, k)
				if err := pd.split(r.Region.Id, nextID, k); err == nil {
					nextID++
				}
			},
			"merge": func(t *rapid.T) {
				k := rapid.SampledFrom(modelKeys).Draw(t, "key")
				r := regionFor(pd.regions, k)
				if len(r.Region.EndKey) == 0 {
					return
				}
				right := regionFor(pd.regions, r.Region.EndKey)
				_ = pd.merge(right.Region.Id, r.Region.Id)
			},
			"leader": func(t *rapid.T) {
				k := rapid.SampledFrom(modelKeys).Draw(t, "key")
				_ = pd.transferLeader(regionFor(pd.regions, k).Region.Id, rapid.Uint64Range(1, 3).Draw(t, "store"))
			},
			"lag": func(t *rapid.T) {
				if rapid.Bool().Draw(t, "snapshot") || pd.snap == nil {
					pd.snapshot()
				}
				pd.lag(rapid.IntRange(1, 3).Draw(t, "n"))
			},
			"locate": func(t *rapid.T) {
				k := rapid.SampledFrom(modelKeys).Draw(t, "key")
				r, err := c.LocateRegion(ctx, bo(), k)
				if err != nil {
					return // the retry budget ran out against a lagging PD
				}
				check(k, r)
				checkIndex()
			},
			"batch": func(t *rapid.T) {
				a := rapid.SampledFrom(modelKeys).Draw(t, "start")
				locs, err := c.BatchLocateKeyRanges(ctx, bo(), []KeyRange{{StartKey: a}}, BatchOptions{})
				if err != nil {
					return
				}
				for i, l := range locs {
					if i > 0 && !bytes.Equal(locs[i-1].EndKey, l.StartKey) {
						t.Fatalf("batch locations not contiguous: %v then %v", locs[i-1], l)
					}
				}
				checkIndex()
			},
			"invalidate": func(t *rapid.T) {
				if r := pick(t, "region"); r != nil {
					c.InvalidateCachedRegion(r.VerID())
				}
			},
			"epochNotMatch": func(t *rapid.T) {
				r := pick(t, "region")
				if r == nil {
					return
				}
				// TiKV answers with the current regions overlapping the
				// request's region.
				var cur []*metapb.Region
				for _, pr := range sortedRegions(pd.regions) {
					if overlaps(pr.Region.StartKey, pr.Region.EndKey, r.StartKey(), r.EndKey()) {
						cur = append(cur, clonePR(pr).Region)
					}
				}
				p, s, ai := r.Leader()
				rpc := &RPCContext{Region: r.VerID(), Meta: r.meta, Peer: p, Store: s, AccessIdx: ai}
				_, _ = c.OnRegionEpochNotMatch(ctx, bo(), rpc, cur)
				checkIndex()
			},
			"notLeader": func(t *rapid.T) {
				r := pick(t, "region")
				if r == nil {
					return
				}
				_, _, ai := r.Leader()
				var leader *metapb.Peer
				if pr := pd.regions[r.ID()]; pr != nil && rapid.Bool().Draw(t, "hint") {
					leader = pr.Leader
				}
				c.UpdateLeader(r.VerID(), leader, ai)
			},
			"": func(t *rapid.T) { checkIndex() },
		})

		// Convergence: PD catches up, everything is invalidated.
		pd.lag(0)
		for _, r := range c.Regions() {
			c.InvalidateCachedRegion(r.VerID())
		}
		for _, k := range modelKeys {
			r, err := c.LocateRegion(ctx, bo(), k)
			if err != nil {
				t.Fatalf("locate %q after catch-up: %v", k, err)
			}
			check(k, r)
			want := regionFor(pd.regions, k).Region
			if r.ID() != want.Id || r.VerID().ver != want.RegionEpoch.Version || !bytes.Equal(r.StartKey(), want.StartKey) {
				t.Fatalf("key %q: cache has %v, PD has %v", k, r, want)
			}
		}
		checkIndex()
	})
}
