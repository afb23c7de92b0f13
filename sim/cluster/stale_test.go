package cluster

import (
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/sim/network"
)

// TestStaleCommandMayHaveApplied: a write whose leader moves while it is in
// flight is answered StaleCommand; some of those writes were applied all
// the same (the new leader committed the old leader's entry), the others
// not. A write caught by a split (epoch change) is never applied.
func TestStaleCommandMayHaveApplied(t *testing.T) {
	cfg := Config{ServiceTime: network.Latency{Min: 10 * time.Millisecond, Max: 10 * time.Millisecond}}
	applied, lost := 0, 0
	for seed := uint64(1); seed <= 40 && (applied == 0 || lost == 0); seed++ {
		run(t, seed, cfg, func(e *env) {
			ctx, leader := e.ctxFor("a")
			e.w.AfterFunc(5*time.Millisecond, func() { _ = e.c.TransferLeader([]byte("a"), leader%3+1) })
			resp, err := e.call(leader, &kvrpcpb.RawPutRequest{Context: ctx, Key: []byte("a"), Value: []byte("v")})
			if err != nil || regionError(resp).GetStaleCommand() == nil {
				t.Fatalf("got %v %v, want StaleCommand", resp, err)
			}
			if v := e.c.Engine().RawGet(&kvrpcpb.RawGetRequest{Key: []byte("a")}, e.w.Now()).GetValue(); string(v) == "v" {
				applied++
				if e.c.StaleApplied() != 1 {
					t.Fatalf("StaleApplied = %d after one applied stale write", e.c.StaleApplied())
				}
			} else {
				lost++
			}
			// A leader change together with a split: never applied.
			ctx, leader = e.ctxFor("b")
			e.w.AfterFunc(5*time.Millisecond, func() {
				_ = e.c.Split([]byte("b"))
				_ = e.c.TransferLeader([]byte("b"), leader%3+1)
			})
			before := e.c.StaleApplied()
			resp, err = e.call(leader, &kvrpcpb.RawPutRequest{Context: ctx, Key: []byte("b"), Value: []byte("v")})
			if err != nil || regionError(resp) == nil {
				t.Fatalf("write across a split: %v %v", resp, err)
			}
			if e.c.StaleApplied() != before || len(e.c.Engine().RawGet(&kvrpcpb.RawGetRequest{Key: []byte("b")}, e.w.Now()).GetValue()) > 0 {
				t.Fatal("a write whose region split under it was applied")
			}
		})
	}
	if applied == 0 || lost == 0 {
		t.Fatalf("over the seeds %d stale writes applied, %d not: want both outcomes", applied, lost)
	}
}
