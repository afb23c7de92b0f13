package txnkv_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
)

// staleAfterApply returns a hook that lets the first commit of primary
// reach TiKV (it is applied) but answers it StaleCommand, as a proposer that
// lost its leadership while the new leader committed its entry does; later
// commits of primary are answered StaleCommand without reaching TiKV while
// refuse is set.
func staleAfterApply(h *hookTransport, primary []byte, refuse bool) func(addr string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
	applied := false
	stale := &tikvrpc.Response{Resp: &kvrpcpb.CommitResponse{RegionError: &errorpb.Error{Message: "stale command", StaleCommand: &errorpb.StaleCommand{}}}}
	return func(addr string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
		c, ok := req.Req.(*kvrpcpb.CommitRequest)
		if !ok || len(c.Keys) == 0 || !bytes.Equal(c.Keys[0], primary) {
			return nil, nil
		}
		if !applied {
			applied = true
			if _, err := h.Transport.SendRequest(context.Background(), addr, req, time.Second); err != nil {
				return nil, err
			}
			return stale, nil
		}
		if refuse {
			return stale, nil
		}
		return nil, nil
	}
}

// TestCommitPrimaryStaleCommandApplied: the primary's commit was applied but
// answered StaleCommand; the retry finds it committed (a commit is
// idempotent), so Commit succeeds.
func TestCommitPrimaryStaleCommandApplied(t *testing.T) {
	runHooked(t, 41, []string{"m"}, func(e *env, h *hookTransport) {
		txn, _ := e.cli.Begin(e.ctx)
		_ = txn.Set(k("a"), k("1"))
		_ = txn.Set(k("z"), k("2"))
		h.setHook(staleAfterApply(h, k("a"), false))
		if err := txn.Commit(e.ctx); err != nil {
			t.Fatalf("commit after an applied stale primary commit: %v", err)
		}
		h.setHook(nil)
		if e.get(t, "a") != "1" || e.get(t, "z") != "2" {
			t.Fatalf("a=%q z=%q", e.get(t, "a"), e.get(t, "z"))
		}
	})
}

// TestCommitPrimaryStaleCommandUndetermined: the primary's commit was
// applied but answered StaleCommand, and every retry is refused until the
// budget runs out. The transaction did commit, so Commit must report the
// outcome as undetermined, never as a failure.
func TestCommitPrimaryStaleCommandUndetermined(t *testing.T) {
	runHooked(t, 42, []string{"m"}, func(e *env, h *hookTransport) {
		txn, _ := e.cli.Begin(e.ctx)
		_ = txn.Set(k("a"), k("1"))
		_ = txn.Set(k("z"), k("2"))
		h.setHook(staleAfterApply(h, k("a"), true))
		err := txn.Commit(e.ctx)
		h.setHook(nil)
		if e.get(t, "a") != "1" {
			t.Fatal("the hook did not apply the primary's commit")
		}
		if err == nil || !tikverr.IsErrUndetermined(err) {
			t.Fatalf("commit whose primary was applied, then refused: %v, want an undetermined error", err)
		}
		if e.get(t, "z") != "2" {
			t.Fatalf("the secondary of a committed transaction reads %q", e.get(t, "z"))
		}
	})
}
