package locate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/tikvsim/tikvsim/client/rt"
)

// Options configure a Cache. The zero value gives client-go's defaults.
type Options struct {
	// TTL is how long a region may go unused before it is reloaded
	// (client-go regionCacheTTLSec, default 10 minutes).
	TTL time.Duration
	// TTLJitter is the upper bound of the random extra TTL each region gets
	// so expiries spread out (client-go regionCacheTTLJitterSec, default 1
	// minute). Negative disables the jitter.
	TTLJitter time.Duration
	// RegionsPerBatch is the limit passed to BatchScanRegions (client-go
	// defaultRegionsPerBatch, default 128).
	RegionsPerBatch int
	// PDRetry is the backoff used when a caller passes a nil Backoffer.
	PDRetry RetryOptions
	// GCInterval is how often Run scans for expired regions (client-go
	// cleanCacheInterval, default 1s); GCBatch how many regions per scan
	// (cleanRegionNumPerRound, default 50).
	GCInterval time.Duration
	GCBatch    int
	// StoreCheckInterval is how often Run re-resolves every live store
	// (client-go StoresRefreshInterval/4, default 15s). Stores marked
	// NeedCheck are re-resolved at every GC tick.
	StoreCheckInterval time.Duration
}

// RetryOptions is the default PD backoff: exponential from Base, capped at
// Cap, at most Attempts retries.
type RetryOptions struct {
	Attempts  int           // default 10
	Base, Cap time.Duration // defaults 100ms, 2s
}

func (o Options) withDefaults() Options {
	if o.TTL <= 0 {
		o.TTL = 600 * time.Second
	}
	if o.TTLJitter == 0 {
		o.TTLJitter = 60 * time.Second
	}
	if o.RegionsPerBatch <= 0 {
		o.RegionsPerBatch = 128
	}
	if o.PDRetry.Attempts <= 0 {
		o.PDRetry.Attempts = 10
	}
	if o.PDRetry.Base <= 0 {
		o.PDRetry.Base = 100 * time.Millisecond
	}
	if o.PDRetry.Cap <= 0 {
		o.PDRetry.Cap = 2 * time.Second
	}
	if o.GCInterval <= 0 {
		o.GCInterval = time.Second
	}
	if o.GCBatch <= 0 {
		o.GCBatch = 50
	}
	if o.StoreCheckInterval <= 0 {
		o.StoreCheckInterval = 15 * time.Second
	}
	return o
}

// Cache is the region cache (client-go RegionCache). Create it with New;
// it is safe for concurrent use.
type Cache struct {
	rt     rt.Runtime
	src    RegionSource
	opts   Options
	stores *StoreCache

	randMu sync.Mutex
	rand   *rand.Rand

	flights *flightGroup[*Region]
	buckets sync.Map // region id -> struct{}: bucket reloads in flight

	mu       sync.RWMutex // guards idx and gcCursor; never held across a PD call
	idx      *regionIndex
	gcCursor []byte
}

// New returns an empty cache that loads from src and keeps time on r. It
// starts no task; see Run.
func New(r rt.Runtime, src RegionSource, opts Options) *Cache {
	return &Cache{
		rt:      r,
		src:     src,
		opts:    opts.withDefaults(),
		stores:  NewStoreCache(r, src),
		rand:    r.NewRand(),
		flights: newFlightGroup[*Region](r),
		idx:     newRegionIndex(),
	}
}

// Stores returns the cache's store cache.
func (c *Cache) Stores() *StoreCache { return c.stores }

func (c *Cache) now() int64 { return c.rt.Now().UnixNano() }

// nextTTL returns now + TTL + a random jitter in [0, TTLJitter) (client-go
// nextTTL).
func (c *Cache) nextTTL(now int64) int64 {
	t := now + int64(c.opts.TTL)
	if j := int64(c.opts.TTLJitter); j > 0 {
		c.randMu.Lock()
		t += c.rand.Int64N(j)
		c.randMu.Unlock()
	}
	return t
}

// checkTTL reports whether r is still live at now and, when it is and its
// expiry is within one TTL, pushes the expiry out again: a region in use
// does not expire unless it is marked needExpireAfterTTL (client-go
// checkRegionCacheTTL).
func (c *Cache) checkTTL(r *Region, now int64) bool {
	var next int64
	for {
		ttl := r.ttl.Load()
		if now > ttl {
			return false
		}
		if r.checkFlags(needExpireAfterTTL) || ttl > now+int64(c.opts.TTL) {
			return true
		}
		if next == 0 {
			next = c.nextTTL(now)
		}
		if r.ttl.CompareAndSwap(ttl, next) {
			return true
		}
	}
}

// isValid reports whether r may be routed to: live and not marked for reload.
func (c *Cache) isValid(r *Region) bool {
	return r != nil && !r.checkFlags(needReloadOnAccess) && c.checkTTL(r, c.now())
}

// backoffer returns bo, or the default one when bo is nil.
func (c *Cache) backoffer(bo Backoffer) Backoffer {
	if bo != nil {
		return bo
	}
	return &retryBackoffer{clk: c.rt, o: c.opts.PDRetry}
}

type retryBackoffer struct {
	clk rt.Clock
	o   RetryOptions
	n   int
}

func (b *retryBackoffer) Backoff(ctx context.Context, err error) error {
	if b.n >= b.o.Attempts {
		return fmt.Errorf("locate: gave up after %d retries: %w", b.n, err)
	}
	d := b.o.Base << min(b.n, 20)
	if d > b.o.Cap || d <= 0 {
		d = b.o.Cap
	}
	b.n++
	if serr := b.clk.Sleep(ctx, d); serr != nil {
		return fmt.Errorf("locate: %w (while retrying: %v)", serr, err)
	}
	return nil
}

// searchByKey returns the cached region for key and whether it is expired.
func (c *Cache) searchByKey(key []byte, isEndKey bool) (*Region, bool) {
	c.mu.RLock()
	r := c.idx.searchByKey(key, isEndKey)
	c.mu.RUnlock()
	if r == nil {
		return nil, false
	}
	return r, !c.checkTTL(r, c.now())
}

// searchByID returns the cached region with id and whether it is expired.
func (c *Cache) searchByID(id uint64) (*Region, bool) {
	c.mu.RLock()
	r := c.idx.byID[id]
	c.mu.RUnlock()
	if r == nil {
		return nil, false
	}
	return r, !c.checkTTL(r, c.now())
}

// cached returns the cached region with exactly id's epoch, or nil
// (client-go GetCachedRegionWithRLock). Error feedback goes through it, so
// feedback about a replaced version is dropped.
func (c *Cache) cached(id RegionVerID) *Region {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if r := c.idx.byID[id.id]; r != nil && r.VerID() == id {
		return r
	}
	return nil
}

// insert puts r into the index (client-go insertRegionToCache). With
// invalidateOld the regions it replaces are invalidated, so requests still
// holding them fail fast; otherwise they stay usable by those requests. It
// reports false when r is stale and was not inserted.
func (c *Cache) insert(r *Region, invalidateOld bool) bool {
	c.mu.Lock()
	removed, ok := c.idx.insert(r)
	if ok && len(removed) > 0 {
		c.inherit(r, removed[0]) // before any lookup can see r
	}
	c.mu.Unlock()
	if !ok {
		return false
	}
	if invalidateOld {
		for _, o := range removed {
			o.invalidate(Other)
		}
	}
	return true
}

// inherit carries routing state from the region r replaced (client-go
// insertRegionToCache): when the old one was dropped for NoLeader, start at
// the peer after its work peer; keep the old buckets when r has none or
// older ones.
func (c *Cache) inherit(r, old *Region) {
	for {
		cur := r.state.Load()
		os := old.state.Load()
		n := cur.clone()
		if old.InvalidReason() == NoLeader && len(r.kvIdx) > 0 {
			n.work = (os.work + 1) % len(r.kvIdx)
		}
		if cur.buckets == nil || (os.buckets != nil && cur.buckets.GetVersion() < os.buckets.GetVersion()) {
			n.buckets = os.buckets
		}
		if r.state.CompareAndSwap(cur, n) {
			return
		}
	}
}

// Len returns the number of cached regions, valid or not.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.idx.len()
}

// Regions returns the cached regions in key order, valid or not; for
// diagnostics and tests.
func (c *Cache) Regions() []*Region {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*Region, 0, c.idx.len())
	c.idx.ascend(nil, func(r *Region) bool { out = append(out, r); return true })
	return out
}

// Clear drops every cached region and store.
func (c *Cache) Clear() {
	c.mu.Lock()
	c.idx = newRegionIndex()
	c.gcCursor = nil
	c.mu.Unlock()
	c.stores.mu.Lock()
	c.stores.stores = map[uint64]*Store{}
	c.stores.mu.Unlock()
}

// IsValid reports whether r may still be routed to: not invalidated,
// expired or marked for reload. It refreshes r's TTL as a lookup does.
func (c *Cache) IsValid(r *Region) bool { return c.isValid(r) }

// KeyLocation is where a key lives: a region id and epoch with its range and
// buckets (client-go KeyLocation).
type KeyLocation struct {
	Region   RegionVerID
	StartKey []byte
	EndKey   []byte
	Buckets  *metapb.Buckets
}

func locationOf(r *Region) *KeyLocation {
	return &KeyLocation{Region: r.VerID(), StartKey: r.StartKey(), EndKey: r.EndKey(), Buckets: r.Buckets()}
}

// Contains reports whether key is in [StartKey, EndKey).
func (l *KeyLocation) Contains(key []byte) bool { return contains(l.StartKey, l.EndKey, key) }

// ContainsByEnd reports whether the location holds the greatest key below
// key (see Region.ContainsByEnd).
func (l *KeyLocation) ContainsByEnd(key []byte) bool { return containsByEnd(l.StartKey, l.EndKey, key) }

// BucketVersion returns the buckets' version, 0 without buckets.
func (l *KeyLocation) BucketVersion() uint64 { return l.Buckets.GetVersion() }

// String formats the location.
func (l *KeyLocation) String() string {
	return fmt.Sprintf("%v [%q,%q)", l.Region, l.StartKey, l.EndKey)
}
