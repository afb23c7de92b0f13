package txnkv

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsim/tikvsim/client/internal/sender"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/txnkv/rangetask"
)

// unsafeDestroyRangeTimeout is one store's UnsafeDestroyRange timeout
// (client-go tikv/gc.go unsafeDestroyRangeTimeout).
const unsafeDestroyRangeTimeout = 5 * time.Minute

var _ rangetask.Store = (*Client)(nil)

// Runtime returns the client's runtime (for rangetask.Store).
func (c *Client) Runtime() rt.Runtime { return c.cfg.rt }

// Sender returns the client's request sender (for rangetask.Store).
func (c *Client) Sender() *sender.Sender { return c.store.Sender }

// DeleteRange deletes every version of every key in [startKey, endKey)
// (empty keys unbounded), at most concurrency regions at a time, and returns
// how many regions it completed (client-go KVStore.DeleteRange, a
// rangetask.DeleteRangeTask). It keeps no MVCC history: snapshots at any
// timestamp stop seeing the keys. On failure the count is 0 and the error an
// *rangetask.Error; the regions done before stay deleted, and running it
// again is safe.
func (c *Client) DeleteRange(ctx context.Context, startKey, endKey []byte, concurrency int) (completedRegions int, err error) {
	if c.closed.Load() {
		return 0, ErrClosed
	}
	task := rangetask.NewDeleteRangeTask(c, startKey, endKey, concurrency)
	if err := task.Execute(ctx); err != nil {
		return 0, err
	}
	return task.CompletedRegions(), nil
}

// UnsafeDestroyRangeError lists the stores on which UnsafeDestroyRange
// failed, each with its cause.
type UnsafeDestroyRangeError struct {
	StartKey, EndKey []byte
	// Failed maps a store id to its failure.
	Failed map[uint64]error
}

func (e *UnsafeDestroyRangeError) Error() string {
	ids := slices.Sorted(maps.Keys(e.Failed))
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("store %d: %v", id, e.Failed[id])
	}
	return fmt.Sprintf("txnkv: unsafe destroy range [%q, %q) failed on %d stores: %s", e.StartKey, e.EndKey, len(ids), strings.Join(parts, "; "))
}

// Unwrap returns the stores' errors, in store id order.
func (e *UnsafeDestroyRangeError) Unwrap() []error {
	ids := slices.Sorted(maps.Keys(e.Failed))
	out := make([]error, len(ids))
	for i, id := range ids {
		out[i] = e.Failed[id]
	}
	return out
}

// ErrInvalidDestroyRange is returned by UnsafeDestroyRange for an empty start
// or end key: TiKV refuses to destroy an unbounded range.
var ErrInvalidDestroyRange = errors.New("txnkv: unsafe destroy range needs a non-empty start and end key")

// UnsafeDestroyRange removes every key in [startKey, endKey) from every
// store's storage directly, bypassing regions and Raft, to free space fast
// (client-go KVStore.UnsafeDestroyRange, tikv/gc.go). The request goes to
// every store PD lists that is not a tombstone, all at once; it fails with an
// *UnsafeDestroyRangeError naming each store that did not confirm. The caller
// must never read or write the range again; calling it again on the same
// range is safe, and is how a failure is retried.
func (c *Client) UnsafeDestroyRange(ctx context.Context, startKey, endKey []byte) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if len(startKey) == 0 || len(endKey) == 0 {
		return ErrInvalidDestroyRange
	}
	// Ask for the stores every time, so the list is less likely stale.
	all, err := c.cfg.pd.GetAllStores(ctx)
	if err != nil {
		return fmt.Errorf("txnkv: unsafe destroy range: list stores: %w", err)
	}
	var stores []*metapb.Store
	for _, st := range all {
		if st.GetState() == metapb.StoreState_Tombstone || isTiFlash(st) {
			continue
		}
		stores = append(stores, st)
	}
	errs := make([]error, len(stores))
	g := rt.NewGroup(c.cfg.rt)
	for i, st := range stores {
		g.Go("unsafe-destroy-range", func() error {
			errs[i] = c.unsafeDestroyRangeOn(ctx, st, startKey, endKey)
			return nil
		})
	}
	_ = g.Wait(context.Background())
	failed := map[uint64]error{}
	for i, err := range errs {
		if err != nil {
			failed[stores[i].GetId()] = err
		}
	}
	if len(failed) > 0 {
		return &UnsafeDestroyRangeError{StartKey: startKey, EndKey: endKey, Failed: failed}
	}
	return nil
}

// unsafeDestroyRangeOn sends one store its UnsafeDestroyRange through the
// request sender's store path (Sender.SendStore): once, with the context's
// RPC interceptors, resource control and request settings, the keys
// through the API codec, as client-go sends it through its intercepted RPC
// client (tikv/gc.go UnsafeDestroyRange: s.GetTiKVClient().SendRequest).
func (c *Client) unsafeDestroyRangeOn(ctx context.Context, st *metapb.Store, startKey, endKey []byte) error {
	req := tikvrpc.NewRequest(tikvrpc.CmdUnsafeDestroyRange, &kvrpcpb.UnsafeDestroyRangeRequest{StartKey: startKey, EndKey: endKey})
	resp, err := c.store.Sender.SendStore(ctx, st.GetAddress(), req, unsafeDestroyRangeTimeout)
	if err != nil {
		return err
	}
	r, ok := resp.Resp.(*kvrpcpb.UnsafeDestroyRangeResponse)
	if !ok || r == nil {
		return fmt.Errorf("no UnsafeDestroyRange response body from %s (%T)", st.GetAddress(), resp.Resp)
	}
	if r.GetError() != "" {
		return errors.New(r.GetError())
	}
	return nil
}

// isTiFlash reports whether a store is a TiFlash node (its "engine" label),
// which UnsafeDestroyRange skips as client-go does.
func isTiFlash(st *metapb.Store) bool {
	for _, l := range st.GetLabels() {
		if l.GetKey() == "engine" && strings.HasPrefix(l.GetValue(), "tiflash") {
			return true
		}
	}
	return false
}
