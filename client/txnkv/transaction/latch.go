package transaction

import (
	"context"

	"github.com/tikvsim/tikvsim/client/tikverr"
)

// executeLatched runs the commit, inside the store's local latches when it
// has them (client-go KVTxn.Commit): the transaction waits for commits of
// the same client on its keys, and fails at once with
// ErrWriteConflictInLatch when one of them committed after its start ts,
// since TiKV would then refuse its prewrite with a write conflict.
func (t *KVTxn) executeLatched(ctx context.Context, c *committer) error {
	if t.store.Latches == nil || c.pessimistic {
		// Pessimistic transactions hold their locks on TiKV already
		// (client-go uses latches for optimistic transactions only).
		return c.execute(ctx)
	}
	keys := make([][]byte, len(c.muts))
	for i, m := range c.muts {
		keys[i] = m.Key
	}
	l, err := t.store.Latches.Lock(ctx, t.startTS, keys)
	if err != nil {
		return err
	}
	defer t.store.Latches.Unlock(l)
	if l.IsStale() {
		return &tikverr.ErrWriteConflictInLatch{StartTS: t.startTS}
	}
	err = c.execute(ctx)
	if err == nil {
		l.SetCommitTS(c.commitTS)
	}
	return err
}

// background is the context of the commit's background work (bg), or
// context.Background for a committer built without one.
func (c *committer) background() context.Context {
	if c.bg == nil {
		return context.Background()
	}
	return c.bg
}
