// Package txnsnapshot reads the database as of one timestamp: point gets,
// batch gets grouped by region in parallel, and forward and reverse scans in
// batches, resolving the locks met on the way (client-go
// txnkv/txnsnapshot). A read that meets a live lock backs off for the lock's
// remaining TTL (BoTxnLockFast) and retries; locks of transactions found
// rolled back or committed after the read ts are skipped on the retry
// through the request context's resolved locks, and those committed before it
// are read through.
package txnsnapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsim/tikvsim/client/config/retry"
	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/internal/sender"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/txnkv/txnlock"
)

const (
	// DefaultScanBatchSize is how many keys a scan fetches per request.
	DefaultScanBatchSize = 256
	batchGetSize         = 5120
	getMaxBackoff        = 20000 // ms (client-go getMaxBackoff)
	readTimeout          = 30 * time.Second
)

// KVSnapshot is a consistent view of the data at one timestamp. It is safe
// for concurrent use.
type KVSnapshot struct {
	rt      rt.Runtime
	s       *sender.Sender
	lr      *txnlock.LockResolver
	version uint64

	// Options, set before reading.
	IsolationLevel kvrpcpb.IsolationLevel
	KeyOnly        bool
	ScanBatchSize  int

	mu        sync.Mutex
	resolved  []uint64 // txns whose locks this snapshot skips
	committed []uint64 // txns whose locks this snapshot reads through

	// Replica and stale read settings (replica.go), under mu.
	replicaRead   tikvrpc.ReplicaReadType
	labels        []*metapb.StoreLabel
	adjuster      ReplicaReadAdjuster
	stale         bool
	metLock       bool // a stale read met a lock: read from the leader from now on
	busyThreshold time.Duration

	// visibility, when set, vets every read after it returns (see
	// SetVisibilityCheck).
	visibility func(ctx context.Context, ts uint64) error
}

// SetVisibilityCheck sets the check every read runs on the snapshot's
// version after reading (client-go's KVStore.CheckVisibility calls in
// snapshot.go and scan.go): GC raises its txn safe point before any version
// goes, so a read that may have missed versions GC dropped is refused with
// the check's error (a *tikverr.ErrTxnAbortedByGC) instead of returned.
// Set it before reading; txnkv's snapshots and transactions set it.
func (s *KVSnapshot) SetVisibilityCheck(f func(ctx context.Context, ts uint64) error) {
	s.visibility = f
}

func (s *KVSnapshot) checkVisibility(ctx context.Context) error {
	if s.visibility == nil {
		return nil
	}
	return s.visibility(ctx, s.version)
}

// New returns a snapshot at version.
func New(r rt.Runtime, s *sender.Sender, lr *txnlock.LockResolver, version uint64) *KVSnapshot {
	return &KVSnapshot{rt: r, s: s, lr: lr, version: version, ScanBatchSize: DefaultScanBatchSize}
}

// Version returns the snapshot's timestamp.
func (s *KVSnapshot) Version() uint64 { return s.version }

func (s *KVSnapshot) backoffer(ctx context.Context) *retry.Backoffer {
	return retry.NewBackoffer(ctx, getMaxBackoff, s.s.BackoffEnv(s.rt))
}

func (s *KVSnapshot) context() kvrpcpb.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	return kvrpcpb.Context{
		IsolationLevel: s.IsolationLevel,
		ResolvedLocks:  slices.Clone(s.resolved),
		CommittedLocks: slices.Clone(s.committed),
	}
}

// resolve resolves the locks a read met; it backs off while any is alive.
func (s *KVSnapshot) resolve(bo *retry.Backoffer, infos []*kvrpcpb.LockInfo) error {
	locks := make([]*txnlock.Lock, len(infos))
	for i, l := range infos {
		locks[i] = txnlock.NewLock(l)
	}
	res, err := s.lr.ResolveLocksForRead(bo, s.version, locks)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.resolved = appendNew(s.resolved, res.IgnoreLocks)
	s.committed = appendNew(s.committed, res.AccessLocks)
	s.mu.Unlock()
	if res.TTL > 0 {
		return bo.BackoffWithMaxSleepTxnLockFast(int(res.TTL), fmt.Errorf("read at %d met %d live lock(s)", s.version, len(locks)))
	}
	return nil
}

func appendNew(dst, src []uint64) []uint64 {
	for _, x := range src {
		if !slices.Contains(dst, x) {
			dst = append(dst, x)
		}
	}
	return dst
}

// sendTo sends the request built by mk to the region of key (byEnd: the
// region holding the keys just below key), relocating on region errors.
func (s *KVSnapshot) sendTo(bo *retry.Backoffer, key []byte, byEnd bool, typ tikvrpc.CmdType, mk func(loc *locate.KeyLocation) any) (*tikvrpc.Response, *locate.KeyLocation, error) {
	return s.s.SendLocated(bo.GetCtx(), bo, s.s.KeyLocator(key, byEnd), readTimeout, func(loc *locate.KeyLocation) *tikvrpc.Request {
		return s.newRequest(typ, mk(loc), 1)
	}, s.readOptions(1)...)
}

// Get returns key's value at the snapshot, or tikverr.ErrNotExist.
func (s *KVSnapshot) Get(ctx context.Context, key []byte) ([]byte, error) {
	bo := s.backoffer(ctx)
	var firstLock uint64 // the transaction of the first lock met
	for {
		resp, _, err := s.sendTo(bo, key, false, tikvrpc.CmdGet, func(*locate.KeyLocation) any {
			return &kvrpcpb.GetRequest{Key: key, Version: s.version}
		})
		if err != nil {
			return nil, err
		}
		r := resp.Resp.(*kvrpcpb.GetResponse)
		if ke := r.GetError(); ke != nil {
			if ke.Locked == nil {
				return nil, tikverr.ExtractKeyErr(ke)
			}
			s.onLock()
			if firstLock == 0 {
				firstLock = ke.Locked.LockVersion
			} else if s.version == math.MaxUint64 && ke.Locked.LockVersion != firstLock {
				// A point get at the max ts (read the latest) waits only
				// for the first lock it meets: a lock of another
				// transaction met on a retry came later than the read and
				// is skipped (client-go snapshot.get).
				s.mu.Lock()
				s.resolved = appendNew(s.resolved, []uint64{ke.Locked.LockVersion})
				s.mu.Unlock()
				continue
			}
			if err := s.resolve(bo, []*kvrpcpb.LockInfo{ke.Locked}); err != nil {
				return nil, err
			}
			continue
		}
		if err := s.checkVisibility(ctx); err != nil {
			return nil, err
		}
		if r.NotFound {
			return nil, tikverr.ErrNotExist
		}
		return r.Value, nil
	}
}

// BatchGet returns the values of keys that exist, keyed by string(key). It
// groups keys by region and reads the groups in parallel tasks; a group that
// meets locks resolves them and re-reads only its still-missing keys, so every
// key is returned (tikv#9069 was a client that dropped them here).
func (s *KVSnapshot) BatchGet(ctx context.Context, keys [][]byte) (map[string][]byte, error) {
	out := make(map[string][]byte, len(keys))
	var mu sync.Mutex
	bo := s.backoffer(ctx)
	err := s.batchGet(bo, dedup(keys), func(k, v []byte) {
		mu.Lock()
		out[string(k)] = v
		mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	if err := s.checkVisibility(ctx); err != nil {
		return nil, err
	}
	return out, nil
}

func dedup(keys [][]byte) [][]byte {
	ks := slices.Clone(keys)
	slices.SortFunc(ks, bytes.Compare)
	return slices.CompactFunc(ks, bytes.Equal)
}

func (s *KVSnapshot) batchGet(bo *retry.Backoffer, keys [][]byte, put func(k, v []byte)) error {
	if len(keys) == 0 {
		return nil
	}
	groups, _, err := s.s.Cache().GroupKeysByRegion(bo.GetCtx(), sender.PDBackoffer{Bo: bo}, keys, nil)
	if err != nil {
		return err
	}
	type batch struct {
		region locate.RegionVerID
		keys   [][]byte
	}
	var batches []batch
	for id, ks := range groups {
		slices.SortFunc(ks, bytes.Compare)
		for i := 0; i < len(ks); i += batchGetSize {
			batches = append(batches, batch{id, ks[i:min(i+batchGetSize, len(ks))]})
		}
	}
	slices.SortFunc(batches, func(a, b batch) int { return bytes.Compare(a.keys[0], b.keys[0]) })
	if len(batches) == 1 {
		return s.batchGetRegion(bo, batches[0].region, batches[0].keys, put)
	}
	g := rt.NewGroup(s.rt)
	for _, b := range batches {
		cbo := bo.Clone()
		g.Go("snapshot-batchget", func() error { return s.batchGetRegion(cbo, b.region, b.keys, put) })
	}
	return g.Wait(bo.GetCtx())
}

func (s *KVSnapshot) batchGetRegion(bo *retry.Backoffer, region locate.RegionVerID, keys [][]byte, put func(k, v []byte)) error {
	pending := keys
	for len(pending) > 0 {
		req := s.newRequest(tikvrpc.CmdBatchGet, &kvrpcpb.BatchGetRequest{Keys: pending, Version: s.version}, len(pending))
		resp, _, err := s.s.Send(bo.GetCtx(), bo, req, region, readTimeout, s.readOptions(len(pending))...)
		if err != nil {
			return err
		}
		if re, _ := resp.GetRegionError(); re != nil {
			if err := bo.Backoff(retry.BoRegionMiss, errors.New(re.String())); err != nil {
				return err
			}
			return s.batchGet(bo, pending, put) // regroup: the region changed
		}
		r := resp.Resp.(*kvrpcpb.BatchGetResponse)
		if ke := r.GetError(); ke != nil {
			if ke.Locked == nil {
				return tikverr.ExtractKeyErr(ke)
			}
		}
		var locks []*kvrpcpb.LockInfo
		var locked [][]byte
		if ke := r.GetError(); ke != nil {
			locks = append(locks, ke.Locked)
			locked = append(locked, ke.Locked.Key)
		}
		for _, p := range r.Pairs {
			if ke := p.GetError(); ke != nil {
				if ke.Locked == nil {
					return tikverr.ExtractKeyErr(ke)
				}
				locks = append(locks, ke.Locked)
				locked = append(locked, p.Key)
				continue
			}
			put(p.Key, p.Value)
		}
		if len(locks) == 0 {
			return nil
		}
		s.onLock()
		if err := s.resolve(bo, locks); err != nil {
			return err
		}
		pending = dedup(locked)
	}
	return nil
}
