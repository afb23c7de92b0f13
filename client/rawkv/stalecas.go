package rawkv

import (
	"context"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/transport"
)

// casStaleGuard is the transport under a raw client's request sender. The
// sender retries a request answered StaleCommand (client-go does the same),
// which is safe for every raw command but CompareAndSwap: StaleCommand does
// not prove that the write was not applied. The old leader's entry may have
// been committed by the new leader, while the proposer answers stale because
// its apply delegate dropped the pending callback (TiKV
// components/raftstore/src/store/fsm/apply.rs clear_all_commands_as_stale);
// a CAS retried after it was applied then answers "not swapped" for its own
// swap. The guard turns a StaleCommand answer to a CAS into
// UndeterminedResult, which the sender reports as an undetermined error.
// Puts and deletes stay retried: applying one twice is harmless.
type casStaleGuard struct{ transport.Transport }

// SendRequest implements transport.Transport.
func (g casStaleGuard) SendRequest(ctx context.Context, addr string, req *tikvrpc.Request, timeout time.Duration) (*tikvrpc.Response, error) {
	resp, err := g.Transport.SendRequest(ctx, addr, req, timeout)
	if err != nil || resp == nil {
		return resp, err
	}
	if r, ok := resp.Resp.(*kvrpcpb.RawCASResponse); ok && r.GetRegionError().GetStaleCommand() != nil {
		r.RegionError = &errorpb.Error{Message: "stale command: the compare-and-swap may have been applied",
			UndeterminedResult: &errorpb.UndeterminedResult{Message: "stale command answered to a compare-and-swap"}}
	}
	return resp, nil
}
