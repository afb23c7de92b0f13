package locate

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/simtest"
)

// regionAt returns a copy of PD's region holding key.
func (p *fakePD) regionAt(key []byte) *metapb.Region {
	p.mu.Lock()
	defer p.mu.Unlock()
	return clonePR(regionFor(p.regions, key)).Region
}

// stressScenario runs clients against a cache while a chaos task splits,
// merges and moves leaders in PD, all under the simulator with PD latency,
// and checks the cache's guarantees at every step. It returns the world's
// trace hash.
func stressScenario(t *testing.T, seed uint64) uint64 {
	w := sim.New(seed, sim.Options{MaxTime: time.Hour})
	r := clock.New(w)
	var failure string
	fail := func(format string, args ...any) {
		if failure == "" {
			failure = fmt.Sprintf(format, args...)
		}
	}
	w.Spawn("main", func() {
		ctx := context.Background()
		pd := newFakePD()
		pd.clk, pd.delay, pd.late = r, time.Millisecond, 3*time.Millisecond
		threeStores(pd)
		pd.putRegion(1, nil, nil, 1, 1, []uint64{1, 2, 3}, 1)
		c := New(r, pd, Options{TTL: time.Second, PDRetry: RetryOptions{Attempts: 30, Base: time.Millisecond, Cap: 10 * time.Millisecond}})
		// Completed lookups' results, by region id. A lookup is checked
		// against what was known when it started (a lookup concurrent
		// with a newer answer may return the older one).
		maxVer := map[uint64]RegionVerID{}
		type known struct {
			ver     map[uint64]RegionVerID
			regions []*Region
		}
		startOp := func() known {
			k := known{ver: make(map[uint64]RegionVerID, len(maxVer)), regions: c.Regions()}
			for id, v := range maxVer {
				k.ver[id] = v
			}
			return k
		}
		checkEpoch := func(k known, rg *Region) {
			v := rg.VerID()
			if m, ok := k.ver[v.id]; ok && (v.ver < m.ver || v.confVer < m.confVer) {
				fail("region %d went back from %v to %v", v.id, m, v)
			}
			if m := maxVer[v.id]; v.ver >= m.ver && v.confVer >= m.confVer {
				maxVer[v.id] = v
			}
			for _, o := range k.regions {
				ov := o.VerID()
				if ov.id == v.id && (ov.ver > v.ver || ov.confVer > v.confVer) {
					fail("returned %v older than %v cached at the start", rg, o)
				}
				if ov.id != v.id && ov.ver > v.ver && overlaps(o.StartKey(), o.EndKey(), rg.StartKey(), rg.EndKey()) {
					fail("returned %v overlaps newer %v cached at the start", rg, o)
				}
			}
		}
		checkIndex := func() {
			rs := c.Regions()
			for i := 1; i < len(rs); i++ {
				if len(rs[i-1].EndKey()) == 0 || bytes.Compare(rs[i-1].EndKey(), rs[i].StartKey()) > 0 {
					fail("cached regions overlap: %v and %v", rs[i-1], rs[i])
				}
			}
		}
		g := rt.NewGroup(r)
		g.Go("chaos", func() error {
			rnd := r.NewRand()
			next := uint64(2)
			for i := 0; i < 40; i++ {
				_ = r.Sleep(ctx, time.Duration(rnd.IntN(5)+1)*time.Millisecond)
				k := modelKeys[rnd.IntN(len(modelKeys))]
				m := pd.regionAt(k)
				switch rnd.IntN(4) {
				case 0, 1:
					if pd.split(m.Id, next, k) == nil {
						next++
					}
				case 2:
					if len(m.EndKey) > 0 {
						_ = pd.merge(pd.regionAt(m.EndKey).Id, m.Id)
					}
				case 3:
					_ = pd.transferLeader(m.Id, uint64(rnd.IntN(3)+1))
				}
			}
			return nil
		})
		for n := 0; n < 4; n++ {
			g.Go("client", func() error {
				rnd := r.NewRand()
				for i := 0; i < 30; i++ {
					k := modelKeys[rnd.IntN(len(modelKeys))]
					switch rnd.IntN(5) {
					case 0:
						if _, err := c.BatchLocateKeyRanges(ctx, nil, []KeyRange{{StartKey: k}}, BatchOptions{}); err != nil {
							fail("batch locate from %q: %v", k, err)
						}
					case 1:
						if loc := c.TryLocateKey(k); loc != nil {
							c.InvalidateCachedRegion(loc.Region)
						}
					case 2:
						// TiKV's answer to a request routed with the cached
						// region: EpochNotMatch with the current regions.
						rg := c.tryFindRegionByKey(k, false)
						if rg == nil {
							break
						}
						pd.mu.Lock()
						var cur []*metapb.Region
						for _, pr := range sortedRegions(pd.regions) {
							if overlaps(pr.Region.StartKey, pr.Region.EndKey, rg.StartKey(), rg.EndKey()) {
								cur = append(cur, clonePR(pr).Region)
							}
						}
						pd.mu.Unlock()
						rc, err := c.GetRPCContext(ctx, nil, rg.VerID())
						if err == nil && rc != nil {
							if _, err := c.OnRegionEpochNotMatch(ctx, nil, rc, cur); err != nil {
								fail("epoch not match: %v", err)
							}
						}
					case 3:
						if rg := c.tryFindRegionByKey(k, false); rg != nil {
							_, _, ai := rg.Leader()
							c.UpdateLeader(rg.VerID(), nil, ai)
						}
					}
					before := startOp()
					rg, err := c.LocateRegion(ctx, nil, k)
					if err != nil {
						fail("locate %q: %v", k, err)
						continue
					}
					if !rg.Contains(k) {
						fail("%v does not contain %q", rg, k)
					}
					checkEpoch(before, rg)
					checkIndex()
				}
				return nil
			})
		}
		_ = g.Wait(ctx)
		// Converge: invalidate all; every lookup matches PD.
		for _, rg := range c.Regions() {
			c.InvalidateCachedRegion(rg.VerID())
		}
		for _, k := range modelKeys {
			rg, err := c.LocateRegion(ctx, nil, k)
			if err != nil {
				fail("final locate %q: %v", k, err)
				continue
			}
			if want := pd.regionAt(k); rg.ID() != want.Id || rg.VerID().ver != want.RegionEpoch.Version {
				fail("key %q: cache %v, PD %v", k, rg, want)
			}
		}
		checkIndex()
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
	if failure != "" {
		t.Fatal(failure)
	}
	return w.TraceHash()
}

// TestSimStress runs stressScenario over many seeds: every interleaving the
// scheduler picks must keep the guarantees. SIM_SEED=N replays one seed.
func TestSimStress(t *testing.T) {
	simtest.Seeds(1, 40).Run(t, stressScenario)
}

// TestSimDeterminism: the same seed gives the same trace, different seeds
// different ones.
func TestSimDeterminism(t *testing.T) {
	simtest.CheckDeterminism(t, simtest.Seeds(1, 4), func(seed uint64) uint64 { return stressScenario(t, seed) })
}
