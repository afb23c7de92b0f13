package locate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/tikvsim/tikvsim/client/rt"
)

// fakePD is a small in-memory PD: a region layout and a store list, with
// knobs for the failure modes the cache must handle: lagging answers (a
// saved snapshot served for some calls), errors, latency on the runtime's
// clock, and regions without leaders. It is safe for concurrent use.
type fakePD struct {
	mu      sync.Mutex
	regions map[uint64]*pdpb.Region
	stores  map[uint64]*metapb.Store
	snap    map[uint64]*pdpb.Region // served instead of regions while stale > 0
	stale   int
	fail    int // the next fail calls return an error
	clk     rt.Clock
	delay   time.Duration // latency before PD reads its state
	late    time.Duration // latency after: the answer may be stale on arrival
	calls   map[string]int
	nextID  uint64
	hide    map[uint64]int // region id -> how many more BatchScanRegions answers omit it
}

var errPDUnavailable = errors.New("fake pd: unavailable")

func newFakePD() *fakePD {
	return &fakePD{regions: map[uint64]*pdpb.Region{}, stores: map[uint64]*metapb.Store{}, calls: map[string]int{}, nextID: 1000, hide: map[uint64]int{}}
}

func clonePR(r *pdpb.Region) *pdpb.Region { return proto.Clone(r).(*pdpb.Region) }

// enter counts a call, sleeps the latency, and picks the region set to
// answer from; it returns an error for injected failures.
func (p *fakePD) enter(ctx context.Context, name string) (map[uint64]*pdpb.Region, error) {
	p.mu.Lock()
	p.calls[name]++
	d, clk := p.delay, p.clk
	p.mu.Unlock()
	if d > 0 {
		if err := clk.Sleep(ctx, d); err != nil {
			return nil, err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail > 0 {
		p.fail--
		return nil, errPDUnavailable
	}
	if p.stale > 0 && name != "GetStore" {
		p.stale--
		return p.snap, nil
	}
	return p.regions, nil
}

func sortedRegions(m map[uint64]*pdpb.Region) []*pdpb.Region {
	out := make([]*pdpb.Region, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		return bytes.Compare(out[i].Region.StartKey, out[j].Region.StartKey) < 0
	})
	return out
}

func regionFor(m map[uint64]*pdpb.Region, key []byte) *pdpb.Region {
	for _, r := range sortedRegions(m) {
		if contains(r.Region.StartKey, r.Region.EndKey, key) {
			return r
		}
	}
	return nil
}

// arrive sleeps the response latency.
func (p *fakePD) arrive(ctx context.Context) {
	p.mu.Lock()
	d, clk := p.late, p.clk
	p.mu.Unlock()
	if d > 0 {
		_ = clk.Sleep(ctx, d)
	}
}

func (p *fakePD) answer(r *pdpb.Region, needBuckets bool) *pdpb.Region {
	if r == nil {
		return nil
	}
	c := clonePR(r)
	if !needBuckets {
		c.Buckets = nil
	}
	return c
}

func (p *fakePD) GetRegion(ctx context.Context, key []byte, needBuckets bool) (*pdpb.Region, error) {
	m, err := p.enter(ctx, "GetRegion")
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	a := p.answer(regionFor(m, key), needBuckets)
	p.mu.Unlock()
	p.arrive(ctx)
	return a, nil
}

func (p *fakePD) GetPrevRegion(ctx context.Context, key []byte, needBuckets bool) (*pdpb.Region, error) {
	m, err := p.enter(ctx, "GetPrevRegion")
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	cur := regionFor(m, key)
	if cur == nil || len(cur.Region.StartKey) == 0 {
		return nil, nil
	}
	for _, r := range m {
		if bytes.Equal(r.Region.EndKey, cur.Region.StartKey) {
			return p.answer(r, needBuckets), nil
		}
	}
	return nil, nil
}

func (p *fakePD) GetRegionByID(ctx context.Context, id uint64, needBuckets bool) (*pdpb.Region, error) {
	m, err := p.enter(ctx, "GetRegionByID")
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	a := p.answer(m[id], needBuckets)
	p.mu.Unlock()
	p.arrive(ctx)
	return a, nil
}

func (p *fakePD) BatchScanRegions(ctx context.Context, ranges []*pdpb.KeyRange, limit int, needBuckets bool) ([]*pdpb.Region, error) {
	m, err := p.enter(ctx, "BatchScanRegions")
	if err != nil {
		return nil, err
	}
	defer p.arrive(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*pdpb.Region
	seen := map[uint64]bool{}
	for id, n := range p.hide {
		if n > 0 {
			seen[id] = true
			p.hide[id] = n - 1
		}
	}
	for _, kr := range ranges {
		for _, r := range sortedRegions(m) {
			if len(out) >= limit {
				return out, nil
			}
			if seen[r.Region.Id] || !overlaps(r.Region.StartKey, r.Region.EndKey, kr.StartKey, kr.EndKey) {
				continue
			}
			seen[r.Region.Id] = true
			out = append(out, p.answer(r, needBuckets))
		}
	}
	return out, nil
}

func (p *fakePD) GetStore(ctx context.Context, id uint64) (*metapb.Store, error) {
	if _, err := p.enter(ctx, "GetStore"); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.stores[id]
	if !ok {
		return nil, fmt.Errorf("invalid store ID %d: %w", id, ErrStoreNotFound)
	}
	return proto.Clone(s).(*metapb.Store), nil
}

// --- layout changes, all under p.mu ---

func (p *fakePD) putStore(s *metapb.Store) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stores[s.Id] = s
}

func (p *fakePD) removeStore(id uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.stores, id)
}

func peerID(region, store uint64) uint64 { return region*100 + store }

// putRegion sets region id with peers on stores (peer ids region*100+store)
// and a leader on store leader (0: none).
func (p *fakePD) putRegion(id uint64, start, end []byte, ver, conf uint64, stores []uint64, leader uint64) *pdpb.Region {
	r := buildRegion(id, start, end, ver, conf, stores, leader)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.regions[id] = r
	return r
}

func buildRegion(id uint64, start, end []byte, ver, conf uint64, stores []uint64, leader uint64) *pdpb.Region {
	r := &pdpb.Region{Region: &metapb.Region{
		Id: id, StartKey: start, EndKey: end,
		RegionEpoch: &metapb.RegionEpoch{Version: ver, ConfVer: conf},
	}}
	for _, s := range stores {
		pe := &metapb.Peer{Id: peerID(id, s), StoreId: s}
		r.Region.Peers = append(r.Region.Peers, pe)
		if s == leader {
			r.Leader = pe
		}
	}
	return r
}

func (p *fakePD) get(id uint64) *pdpb.Region {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.regions[id]
}

// split cuts region id at key: id keeps the left half, newID takes the
// right; both get version+1 (TiKV's batch split).
func (p *fakePD) split(id, newID uint64, at []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.regions[id]
	if r == nil || !contains(r.Region.StartKey, r.Region.EndKey, at) || bytes.Equal(at, r.Region.StartKey) {
		return fmt.Errorf("cannot split region %d at %q", id, at)
	}
	if _, dup := p.regions[newID]; dup {
		return fmt.Errorf("region %d exists", newID)
	}
	r.Region.RegionEpoch.Version++
	n := clonePR(r)
	n.Region.Id = newID
	n.Region.StartKey = at
	r.Region.EndKey = slices.Clone(at)
	for _, pe := range n.Region.Peers {
		pe.Id = peerID(newID, pe.StoreId)
	}
	if n.Leader != nil {
		n.Leader = &metapb.Peer{Id: peerID(newID, n.Leader.StoreId), StoreId: n.Leader.StoreId}
	}
	n.Buckets = nil
	p.regions[newID] = n
	return nil
}

// merge merges src into its neighbour dst: dst takes the union, with
// version max(src, dst)+1; src disappears.
func (p *fakePD) merge(src, dst uint64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, d := p.regions[src], p.regions[dst]
	if s == nil || d == nil {
		return fmt.Errorf("no region %d or %d", src, dst)
	}
	switch {
	case bytes.Equal(d.Region.EndKey, s.Region.StartKey):
		d.Region.EndKey = s.Region.EndKey
	case bytes.Equal(s.Region.EndKey, d.Region.StartKey):
		d.Region.StartKey = s.Region.StartKey
	default:
		return fmt.Errorf("regions %d and %d are not adjacent", src, dst)
	}
	d.Region.RegionEpoch.Version = max(s.Region.RegionEpoch.Version, d.Region.RegionEpoch.Version) + 1
	delete(p.regions, src)
	return nil
}

// transferLeader moves region id's leader to its peer on store (0: none).
func (p *fakePD) transferLeader(id, store uint64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.regions[id]
	if r == nil {
		return fmt.Errorf("no region %d", id)
	}
	if store == 0 {
		r.Leader = nil
		return nil
	}
	for _, pe := range r.Region.Peers {
		if pe.StoreId == store {
			r.Leader = pe
			return nil
		}
	}
	return fmt.Errorf("region %d has no peer on store %d", id, store)
}

// snapshot saves the layout; lag makes the next n region calls answer from
// it.
func (p *fakePD) snapshot() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.snap = map[uint64]*pdpb.Region{}
	for id, r := range p.regions {
		p.snap[id] = clonePR(r)
	}
}

func (p *fakePD) lag(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stale = n
}

func (p *fakePD) failNext(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail = n
}

// takeCalls returns the call counts as "name=n ..." sorted, and resets them.
func (p *fakePD) takeCalls() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var names []string
	for n := range p.calls {
		names = append(names, n)
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, n := range names {
		fmt.Fprintf(&b, "%s=%d ", n, p.calls[n])
	}
	p.calls = map[string]int{}
	if b.Len() == 0 {
		return "none"
	}
	return string(bytes.TrimSpace(b.Bytes()))
}
