package locate

import (
	"context"
	"time"
)

// GCRound scans the next limit cached regions from where the previous round
// stopped, wrapping around at the end (client-go gcRoundFunc). It removes the
// expired ones, promotes pending delayed reloads to ready, and marks regions
// holding a failed or unreachable store to expire after their TTL even if
// used. It returns the number removed.
func (c *Cache) GCRound(limit int) int {
	if limit < 1 {
		limit = 1
	}
	now := c.now()
	var expired, live []*Region
	c.mu.RLock()
	count, more := 0, false
	var cursor []byte
	c.idx.ascend(c.gcCursor, func(r *Region) bool {
		count++
		if count > limit {
			cursor, more = r.StartKey(), true
			return false
		}
		if r.isExpired(now) {
			expired = append(expired, r)
		} else {
			live = append(live, r)
		}
		return true
	})
	c.mu.RUnlock()

	c.mu.Lock()
	if more {
		c.gcCursor = cursor
	} else {
		c.gcCursor = nil
	}
	for _, r := range expired {
		c.idx.delete(r)
	}
	c.mu.Unlock()

	for _, r := range live {
		f := r.flags.Load()
		switch {
		case f&needDelayedReloadReady != 0:
		case f&needDelayedReloadPending != 0:
			r.setFlags(needDelayedReloadReady)
		case f&needExpireAfterTTL == 0:
			st := r.state.Load()
			for i, s := range r.stores {
				if s.epoch.Load() != st.storeEpochs[i] || s.Liveness() != Reachable {
					r.setFlags(needExpireAfterTTL)
					break
				}
			}
		}
	}
	return len(expired)
}

// Run does the cache's background work until ctx is done: a GC round every
// GCInterval, re-resolution of NeedCheck stores at the same pace, and of all
// resolved stores every StoreCheckInterval. Start it with rt.Runtime.Go; it
// returns ctx's error.
func (c *Cache) Run(ctx context.Context) error {
	var sinceCheck time.Duration
	for {
		if err := c.rt.Sleep(ctx, c.opts.GCInterval); err != nil {
			return err
		}
		c.GCRound(c.opts.GCBatch)
		sinceCheck += c.opts.GCInterval
		all := sinceCheck >= c.opts.StoreCheckInterval
		if all {
			sinceCheck = 0
		}
		_ = c.stores.CheckAndResolve(ctx, func(s ResolveState) bool {
			return s == NeedCheck || (all && s == Resolved)
		})
	}
}
