package txnkv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/config/retry"
	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/oracle"
	"github.com/tikvsim/tikvsim/client/pd"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/txnkv/txnlock"
)

// GC tuning, from client-go tikv/gc.go and tikv/backoff.go.
const (
	// GCScanLockLimit is how many locks one ScanLock returns: half the
	// resolver's cache, so GC does not sweep out entries other readers use
	// (client-go GCScanLockLimit).
	GCScanLockLimit = 1024
	// gcResolveLockMaxBackoff is the backoff budget, in ms, of resolving
	// one region's locks (client-go gcResolveLockMaxBackoff).
	gcResolveLockMaxBackoff = 100000
	scanLockTimeout         = 60 * time.Second // client-go ReadTimeoutMedium
)

// ErrGCUnsupported is returned by the GC calls when the PD edge has no
// GC-states API (pd.GCStates).
var ErrGCUnsupported = errors.New("txnkv: the PD edge does not serve the GC-states API")

// RangeStat counts the work of one ResolveLocksForRange.
type RangeStat struct {
	// CompletedRegions is the number of regions whose locks all resolved.
	CompletedRegions int
	// ResolvedLocks is the number of locks scanned and resolved.
	ResolvedLocks int
}

func (c *Client) gcStates() (pd.GCStates, error) {
	g, ok := c.cfg.pd.(pd.GCStates)
	if !ok {
		return nil, ErrGCUnsupported
	}
	return g, nil
}

// gcKeyspace is the keyspace whose GC state the client manages. client-go's
// KVStore.GC always manages the null keyspace's (tikv/gc.go), which PD
// also answers for API V2 keyspaces without keyspace-level GC.
func (c *Client) gcKeyspace() uint32 { return pd.NullKeyspaceID }

// GC garbage-collects the cluster up to expectedSafePoint and returns the
// safe point it reached (client-go KVStore.GC, on PD's GC-states API):
//
//  1. advance the txn safe point towards expectedSafePoint; GC barriers
//     may hold it lower, and the lower value is used from then on;
//  2. resolve every lock whose start ts is at or below it, in every region
//     (transactions still running below it are rolled back: GC must not
//     leave a lock it could later read through);
//  3. advance the GC safe point to the same value; stores then drop the
//     versions it makes invisible.
//
// Every transaction started below the returned safe point must be finished
// (CheckVisibility rejects reads below the txn safe point).
func (c *Client) GC(ctx context.Context, expectedSafePoint uint64) (uint64, error) {
	if c.closed.Load() {
		return 0, ErrClosed
	}
	g, err := c.gcStates()
	if err != nil {
		return 0, err
	}
	ks := c.gcKeyspace()
	res, err := g.AdvanceTxnSafePoint(ctx, ks, expectedSafePoint)
	if err != nil {
		return 0, fmt.Errorf("txnkv: gc: advance txn safe point to %d: %w", expectedSafePoint, err)
	}
	safePoint := min(expectedSafePoint, res.NewTxnSafePoint)
	c.noteTxnSafePoint(res.NewTxnSafePoint)
	if _, err := c.ResolveLocksForRange(ctx, safePoint, nil, nil); err != nil {
		return 0, fmt.Errorf("txnkv: gc: resolve locks below %d: %w", safePoint, err)
	}
	out, err := g.AdvanceGCSafePoint(ctx, ks, safePoint)
	if err != nil {
		return 0, fmt.Errorf("txnkv: gc: advance gc safe point to %d: %w", safePoint, err)
	}
	return out.NewGCSafePoint, nil
}

// GCState returns the client's keyspace GC state from PD: its txn and GC
// safe points and its GC barriers.
func (c *Client) GCState(ctx context.Context) (pd.GCState, error) {
	g, err := c.gcStates()
	if err != nil {
		return pd.GCState{}, err
	}
	return g.GetGCState(ctx, c.gcKeyspace())
}

// SetGCBarrier keeps GC from advancing the txn safe point past ts for ttl
// (pd.Forever: until deleted), under the name id: what a long backup or
// changefeed does to keep old versions readable.
func (c *Client) SetGCBarrier(ctx context.Context, id string, ts uint64, ttl time.Duration) (pd.GCBarrierInfo, error) {
	g, err := c.gcStates()
	if err != nil {
		return pd.GCBarrierInfo{}, err
	}
	return g.SetGCBarrier(ctx, c.gcKeyspace(), id, ts, ttl)
}

// DeleteGCBarrier removes the barrier called id; it returns the removed
// barrier, or nil when there was none.
func (c *Client) DeleteGCBarrier(ctx context.Context, id string) (*pd.GCBarrierInfo, error) {
	g, err := c.gcStates()
	if err != nil {
		return nil, err
	}
	return g.DeleteGCBarrier(ctx, c.gcKeyspace(), id)
}

// DefaultSafePointCacheTTL is how long CheckVisibility trusts the txn safe
// point it last read from PD (client-go polls it every 10 s).
const DefaultSafePointCacheTTL = 10 * time.Second

// maxSafePointAge is how old a cached txn safe point may be and still serve
// when PD cannot be reached (client-go GcStateCacheInterval minus
// gcCPUTimeInaccuracyBound: 100 s - 10 s).
const maxSafePointAge = 90 * time.Second

// safePointCache is the txn safe point last read from PD.
type safePointCache struct {
	mu     sync.Mutex
	ts     uint64
	at     time.Time
	loaded bool
}

// CheckVisibility reports whether reading at startTS is still safe: it is
// not once GC's txn safe point has passed startTS (versions the read needs
// may be gone), and the answer is then a *tikverr.ErrTxnAbortedByGC
// (client-go KVStore.CheckVisibility). Snapshot reads call it after reading,
// as client-go's do: GC advances the txn safe point before any version
// goes, so a read that may have missed dropped versions is refused.
//
// The safe point read from PD is trusted for WithSafePointCacheTTL (default
// 10 s, as client-go's poll): GC must therefore lag the newest timestamp by
// more than the longest transaction plus that TTL (TiDB's GC life time is
// 10 minutes). With a TTL of 0 every call asks PD.
func (c *Client) CheckVisibility(ctx context.Context, startTS uint64) error {
	sp, err := c.txnSafePoint(ctx)
	if err != nil {
		return err
	}
	if startTS < sp {
		return &tikverr.ErrTxnAbortedByGC{TxnStartTS: startTS, TxnStartTSTime: oracle.GetTimeFromTS(startTS),
			TxnSafePoint: sp, TxnSafePointTime: oracle.GetTimeFromTS(sp)}
	}
	return nil
}

// noteTxnSafePoint raises the cached txn safe point to one this client
// set itself, so its own reads see it at once.
func (c *Client) noteTxnSafePoint(ts uint64) {
	sc := &c.gcCache
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.ts = max(sc.ts, ts)
}

// txnSafePoint returns the cached txn safe point, reading it from PD when
// the cache is older than the TTL.
func (c *Client) txnSafePoint(ctx context.Context) (uint64, error) {
	sc := &c.gcCache
	now := c.cfg.rt.Now()
	sc.mu.Lock()
	if sc.loaded && now.Sub(sc.at) < c.cfg.safePointTTL {
		ts := sc.ts
		sc.mu.Unlock()
		return ts, nil
	}
	// With a TTL of 0 the caller wants PD's word every time: no fallback.
	stale := c.cfg.safePointTTL > 0 && sc.loaded && now.Sub(sc.at) < maxSafePointAge
	cached := sc.ts
	sc.mu.Unlock()
	st, err := c.GCState(ctx)
	if err != nil {
		if stale {
			// PD is unreachable: a safe point read within the last
			// maxSafePointAge still bounds GC's progress closely enough,
			// as client-go tolerates its poll failing until its cache is
			// that old.
			return cached, nil
		}
		return 0, tikverr.NewErrPDServerTimeout(fmt.Sprintf("start timestamp may fall behind safe point: %v", err))
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	// Safe points only grow: a slower concurrent load never lowers it.
	sc.ts = max(sc.ts, st.TxnSafePoint)
	if !sc.loaded || now.After(sc.at) {
		sc.at, sc.loaded = now, true
	}
	return sc.ts, nil
}

// ResolveLocksForRange resolves every lock with start ts at or below
// maxVersion in [start, end) (nil end: to the end of the key space), one
// region at a time: scan up to GCScanLockLimit locks, resolve them in one
// batch, and move on to the next region once a scan comes back short
// (client-go tikv.ResolveLocksForRange). A region that changed under the
// scan, or whose locks could not all be resolved yet, is scanned again.
func (c *Client) ResolveLocksForRange(ctx context.Context, maxVersion uint64, start, end []byte) (RangeStat, error) {
	var stat RangeStat
	s := c.store.Sender
	key := start
	for {
		if err := ctx.Err(); err != nil {
			return stat, err
		}
		bo := retry.NewBackoffer(ctx, gcResolveLockMaxBackoff, s.BackoffEnv(c.cfg.rt))
		resp, loc, err := s.SendLocated(ctx, bo, s.KeyLocator(key, false), scanLockTimeout, func(loc *locate.KeyLocation) *tikvrpc.Request {
			// One region at a time: the scan stops at the region's end.
			regionEnd := end
			if len(loc.EndKey) > 0 && (len(end) == 0 || bytes.Compare(loc.EndKey, end) < 0) {
				regionEnd = loc.EndKey
			}
			return tikvrpc.NewRequest(tikvrpc.CmdScanLock, &kvrpcpb.ScanLockRequest{
				MaxVersion: maxVersion, StartKey: key, EndKey: regionEnd, Limit: GCScanLockLimit})
		})
		if err != nil {
			return stat, err
		}
		r := resp.Resp.(*kvrpcpb.ScanLockResponse)
		if ke := r.GetError(); ke != nil {
			return stat, fmt.Errorf("txnkv: scan locks in region %d: %w", loc.Region.ID(), tikverr.ExtractKeyErr(ke))
		}
		locks := make([]*txnlock.Lock, len(r.GetLocks()))
		for i, l := range r.GetLocks() {
			locks[i] = txnlock.NewLock(l)
		}
		ok, err := c.store.Resolver.BatchResolveLocks(bo, locks, loc.Region)
		if err != nil {
			return stat, err
		}
		if !ok {
			// The region changed or a transaction is not decided yet:
			// back off and scan this region again.
			if err := bo.Backoff(retry.BoTxnLock, errors.New("gc: locks not all resolved")); err != nil {
				return stat, err
			}
			continue
		}
		stat.ResolvedLocks += len(locks)
		if len(locks) < GCScanLockLimit {
			stat.CompletedRegions++
			key = loc.EndKey
		} else {
			// The scan was cut at the limit: go on from the last lock.
			key = locks[len(locks)-1].Key
		}
		if len(key) == 0 || (len(end) != 0 && bytes.Compare(key, end) >= 0) {
			return stat, nil
		}
	}
}
