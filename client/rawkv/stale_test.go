package rawkv_test

import (
	"context"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/rawkv"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/transport"
	"github.com/tikvsim/tikvsim/sim/clock"
)

// staleCAS forwards the first RawCAS to TiKV (it is applied) and answers it
// StaleCommand, as a proposer that lost its leadership while the new leader
// committed its entry does (sim/cluster maybeApplyStale).
type staleCAS struct {
	transport.Transport
	done bool
}

func (s *staleCAS) SendRequest(ctx context.Context, addr string, req *tikvrpc.Request, timeout time.Duration) (*tikvrpc.Response, error) {
	if _, ok := req.Req.(*kvrpcpb.RawCASRequest); !ok || s.done {
		return s.Transport.SendRequest(ctx, addr, req, timeout)
	}
	s.done = true
	if _, err := s.Transport.SendRequest(ctx, addr, req, timeout); err != nil {
		return nil, err
	}
	return &tikvrpc.Response{Resp: &kvrpcpb.RawCASResponse{RegionError: &errorpb.Error{Message: "stale command", StaleCommand: &errorpb.StaleCommand{}}}}, nil
}

// TestCASAppliedBehindStaleCommand: a CAS applied by TiKV but answered
// StaleCommand must not come back as a definite "not swapped" (which the
// sender's retry of it answers): the client reports it undetermined.
func TestCASAppliedBehindStaleCommand(t *testing.T) {
	run(t, 51, func(e *env) {
		if err := e.cli.Put(e.ctx, k("a"), k("1")); err != nil {
			t.Fatal(err)
		}
		cli, err := rawkv.NewClient(rawkv.WithRuntime(clock.New(e.w)), rawkv.WithTransport(&staleCAS{Transport: e.c.NewTransport("cas")}),
			rawkv.WithPD(e.c.NewPDClient("cas")), rawkv.WithTimeout(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		cli.SetAtomicForCAS(true)
		prev, ok, err := cli.CompareAndSwap(e.ctx, k("a"), k("1"), k("2"))
		if v, _ := e.cli.Get(e.ctx, k("a")); string(v) != "2" {
			t.Fatalf("the hook did not apply the CAS: %q", v)
		}
		if !rawkv.IsErrUndetermined(err) {
			t.Fatalf("CAS applied behind StaleCommand = %q %v %v, want an undetermined error", prev, ok, err)
		}
		// Other commands pass the guard untouched.
		if err := cli.Put(e.ctx, k("b"), k("1")); err != nil {
			t.Fatal(err)
		}
	})
}
