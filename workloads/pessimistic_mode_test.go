package workloads_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tikvsim/tikvsim/sim/harness"
	"github.com/tikvsim/tikvsim/sim/harness/harnesstest"
	"github.com/tikvsim/tikvsim/sim/simtest"
	"github.com/tikvsim/tikvsim/workloads"
)

// TestPessimisticTxnModes runs every transactional workload under all
// faults with pessimistic transactions (keys locked before they are read
// for update or written) and with aggressive (fair) locking, a few seeds
// each: histories must stay valid and every leftover lock resolvable after
// the heal. The 100-seed sweeps are simrun's (--txn pessimistic).
func TestPessimisticTxnModes(t *testing.T) {
	seed := uint64(100)
	for _, mode := range []string{"pessimistic", "pessimistic-aggressive"} {
		for _, wl := range []string{"bank", "append", "rw-register", "set"} {
			first := seed + 1
			seed += 3
			t.Run(mode+"/"+wl, func(t *testing.T) {
				spec := harness.Spec{Workload: wl, Faults: "all", Txn: mode, Duration: 3 * time.Second}
				harnesstest.Run(t, simtest.Seeds(first, first+2), spec, func(t *testing.T, res harness.Result) {
					if !strings.Contains(res.Setup, "txn="+mode) {
						t.Errorf("setup %q does not name txn=%s", res.Setup, mode)
					}
				})
			})
		}
	}
	for _, m := range []string{"pessimistic", "pessimistic-aggressive"} {
		if !workloads.MustTxnMode(m).Pessimistic() {
			t.Errorf("%s not pessimistic", m)
		}
	}
	if workloads.MustTxnMode("async").Pessimistic() {
		t.Error("async is pessimistic")
	}
}
