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

// TestTxnModes runs every transactional workload under all faults with
// async commit, 1PC and the per-transaction mix: histories must stay valid
// (bank invariant, Elle strong snapshot isolation, set) and every leftover
// lock resolvable after the heal. The big sweeps are simrun's (--txn).
func TestTxnModes(t *testing.T) {
	seed := uint64(0)
	for _, mode := range []string{"async", "1pc", "mixed"} {
		for _, wl := range []string{"bank", "append", "rw-register", "set"} {
			seed++ // a different seed per pair: more schedules for the time
			t.Run(mode+"/"+wl, func(t *testing.T) {
				spec := harness.Spec{Workload: wl, Faults: "all", Txn: mode, Duration: 3 * time.Second}
				harnesstest.Run(t, simtest.Seeds(seed, seed), spec, func(t *testing.T, res harness.Result) {
					if !strings.Contains(res.Setup, "txn="+mode) {
						t.Errorf("setup %q does not name txn=%s", res.Setup, mode)
					}
				})
			})
		}
	}
}

func TestParseTxnMode(t *testing.T) {
	for _, s := range []string{"", "2pc", "async", "1pc", "mixed"} {
		if _, err := workloads.ParseTxnMode(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	if _, err := workloads.ParseTxnMode("3pc"); err == nil {
		t.Error("3pc accepted")
	}
	if err := (&harness.Spec{Workload: "bank", Txn: "3pc"}).Normalize(); err == nil {
		t.Error("harness accepted txn mode 3pc")
	}
	if got := (harness.Spec{Seed: 1, Workload: "bank", Txn: "async"}).Flags(); !strings.Contains(got, "--txn async") {
		t.Errorf("replay flags %q lack --txn async", got)
	}
}
