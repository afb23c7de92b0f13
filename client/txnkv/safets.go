package txnkv

import (
	"cmp"
	"context"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsim/tikvsim/client/tikvrpc"
)

// GlobalTxnScope is the transaction scope covering every store (client-go
// oracle.GlobalTxnScope).
const GlobalTxnScope = "global"

// DCLabelKey is the store label naming a store's data center, the txn scope
// of GetMinSafeTS (client-go tikv.DCLabelKey).
const DCLabelKey = "zone"

// safeTSUpdateInterval is how often Run refreshes the safe ts cache
// (client-go safeTSUpdateInterval).
const safeTSUpdateInterval = 2 * time.Second

// safeTSTimeout bounds one store's GetStoreSafeTS (client-go
// ReadTimeoutShort).
const safeTSTimeout = 30 * time.Second

// safeTSCache is client-go KVStore's safeTSMap and minSafeTS: the last safe
// ts of every store and the minimum per txn scope.
type safeTSCache struct {
	mu    sync.Mutex
	store map[uint64]uint64
	min   map[string]uint64
}

func (c *safeTSCache) get(id uint64) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ts, ok := c.store[id]
	return ts, ok
}

// set records store id's safe ts; it never goes back and never becomes
// MaxUint64 (client-go setSafeTS and the "skip" branch of updateSafeTS).
func (c *safeTSCache) set(id, ts uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ts == math.MaxUint64 {
		return
	}
	if c.store == nil {
		c.store = make(map[uint64]uint64)
	}
	if prev, ok := c.store[id]; ok && prev > ts {
		return
	}
	c.store[id] = ts
}

// updateMin sets scope's minimum over ids as client-go updateMinSafeTS
// does: 0 when a store has no safe ts yet or there is no store, stores
// answering 0 are skipped, and all zeros give 0.
func (c *safeTSCache) updateMin(scope string, ids []uint64) {
	minTS := uint64(math.MaxUint64)
	if len(ids) == 0 {
		minTS = 0
	}
	for _, id := range ids {
		ts, ok := c.get(id)
		switch {
		case !ok:
			minTS = 0
		case ts != 0 && ts < minTS:
			minTS = ts
		}
	}
	if minTS == math.MaxUint64 {
		minTS = 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.min == nil {
		c.min = make(map[string]uint64)
	}
	c.min[scope] = minTS
}

// GetMinSafeTS returns the minimum safe ts of the stores in txnScope
// (GlobalTxnScope: every store; otherwise the stores whose DCLabelKey
// label is txnScope) as of the last UpdateSafeTS, 0 before any (client-go
// KVStore.GetMinSafeTS). A stale read at or below it is served by any
// replica without falling back to the leader.
func (c *Client) GetMinSafeTS(txnScope string) uint64 {
	c.safeTS.mu.Lock()
	defer c.safeTS.mu.Unlock()
	return c.safeTS.min[txnScope]
}

// UpdateSafeTS asks every TiKV store for its safe ts (GetStoreSafeTS over
// the whole key space) and refreshes GetMinSafeTS: one round of the loop
// Run runs every 2 s (client-go KVStore.updateSafeTS, its TiKV path). A
// store that does not answer keeps its last safe ts.
func (c *Client) UpdateSafeTS(ctx context.Context) {
	stores, err := c.cfg.pd.GetAllStores(ctx)
	if err != nil {
		return
	}
	slices.SortFunc(stores, func(a, b *metapb.Store) int { return cmp.Compare(a.GetId(), b.GetId()) })
	scopes := map[string][]uint64{}
	for _, st := range stores {
		if st.GetState() == metapb.StoreState_Tombstone || isTiFlash(st) {
			continue
		}
		req := tikvrpc.NewRequest(tikvrpc.CmdStoreSafeTS, &kvrpcpb.StoreSafeTSRequest{KeyRange: &kvrpcpb.KeyRange{StartKey: []byte(""), EndKey: []byte("")}})
		if resp, err := c.store.Sender.SendStore(ctx, st.GetAddress(), req, safeTSTimeout); err == nil {
			if r, ok := resp.Resp.(*kvrpcpb.StoreSafeTSResponse); ok {
				c.safeTS.set(st.GetId(), r.GetSafeTs())
			}
		}
		scopes[GlobalTxnScope] = append(scopes[GlobalTxnScope], st.GetId())
		for _, l := range st.GetLabels() {
			if l.GetKey() == DCLabelKey {
				scopes[l.GetValue()] = append(scopes[l.GetValue()], st.GetId())
			}
		}
	}
	names := make([]string, 0, len(scopes))
	for name := range scopes {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		c.safeTS.updateMin(name, scopes[name])
	}
}

// runSafeTS refreshes the safe ts cache every safeTSUpdateInterval until
// ctx is done.
func (c *Client) runSafeTS(ctx context.Context) error {
	for {
		if err := c.cfg.rt.Sleep(ctx, safeTSUpdateInterval); err != nil {
			return err
		}
		c.UpdateSafeTS(ctx)
	}
}
