package harness

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tikvsim/tikvsim/sim"
)

// transferStorm is a fault schedule moving a region leader every 10ms, so
// that writes are caught by leader changes: some answered StaleCommand
// without being applied, some applied all the same (sim/cluster
// maybeApplyStale).
func transferStorm(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(';')
		}
		fmt.Fprintf(&b, "@%dms transfer(\"reg%d\",%d)", 10+10*i, (i*7)%6, 1+(i*5)%3)
	}
	return b.String()
}

// TestStaleCommandStorm: under a storm of leader transfers, writes answered
// StaleCommand after they were applied do happen, and the raw register,
// list-append and bank workloads stay valid in API V1 and V2 (a retried
// transactional write is idempotent; no primary commit is misreported).
func TestStaleCommandStorm(t *testing.T) {
	applied := 0
	for _, api := range []string{"v1", "v2"} {
		for _, wl := range []string{"register", "append", "bank"} {
			for seed := uint64(1); seed <= 1; seed++ {
				spec := Spec{Seed: seed, Workload: wl, Faults: transferStorm(90), Duration: time.Second, APIVersion: api,
					Trace: func(e sim.TraceEvent) {
						if e.Kind == sim.KindFault && strings.HasPrefix(e.Text, "stale command applied") {
							applied++
						}
					}}
				res := Run(spec)
				if !res.Valid {
					t.Fatalf("%s %s seed %d: %v %s %s\n%s", api, wl, seed, res.Anomalies, res.Error, res.Liveness, res.Check)
				}
			}
		}
	}
	if applied == 0 {
		t.Fatal("no write was applied behind a StaleCommand answer")
	}
	t.Logf("%d writes applied behind StaleCommand", applied)
}
