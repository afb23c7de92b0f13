// Package harnesstest runs harness specs as Go subtests: one line per
// scenario, and a failing seed reports its verdict and the simrun commands
// that replay and shrink it.
//
//	func TestRegisterUnderSwarm(t *testing.T) {
//		harnesstest.Run(t, simtest.Seeds(1, 50), harness.Spec{Workload: "register", Faults: "swarm", Duration: 3 * time.Second})
//	}
package harnesstest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tikvsim/tikvsim/sim/harness"
	"github.com/tikvsim/tikvsim/sim/simtest"
)

// Run runs spec once per seed of s (spec.Seed is ignored) as subtests named
// seed=N, through simtest.SeedList.Run: SIM_SEED and SIM_TWICE apply. A subtest fails when its
// run is not valid, reporting it with ReportInvalid. check, if given, makes
// further demands of each result (it runs on valid and invalid results
// alike, and then an invalid result fails only if check reports it); use it
// to expect a failure, for example from an injected bug.
func Run(t *testing.T, s simtest.SeedList, spec harness.Spec, check ...func(t *testing.T, res harness.Result)) {
	t.Helper()
	s.Run(t, func(t *testing.T, seed uint64) uint64 {
		t.Helper()
		sp := spec
		sp.Seed = seed
		res := harness.Run(sp)
		if len(check) == 0 {
			if !res.Valid {
				ReportInvalid(t, sp, res)
			}
			return res.Hash
		}
		for _, c := range check {
			c(t, res)
		}
		return res.Hash
	})
}

// ReportInvalid fails t with what went wrong in res, the run of spec: the
// failure class and anomalies, the first anomalies with their operations,
// the run error, and the simrun commands that replay and shrink the run.
func ReportInvalid(t testing.TB, spec harness.Spec, res harness.Result) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: %s failure: %s", res.Seed, res.Class, strings.Join(res.Anomalies, ", "))
	if res.Error != "" {
		fmt.Fprintf(&b, "\n  run failed: %s", res.Error)
	}
	if res.Liveness != "" {
		fmt.Fprintf(&b, "\n  liveness: %s", res.Liveness)
	}
	for i, a := range res.Check.Anomalies {
		if i == 3 {
			fmt.Fprintf(&b, "\n  (+%d more anomalies)", len(res.Check.Anomalies)-i)
			break
		}
		fmt.Fprintf(&b, "\n  %s: %s", a.Kind, a.Explanation)
		for j, op := range a.Ops {
			if j == 12 {
				fmt.Fprintf(&b, "\n    (+%d more operations)", len(a.Ops)-j)
				break
			}
			fmt.Fprintf(&b, "\n    %s", op)
		}
	}
	spec.Seed = res.Seed
	fmt.Fprintf(&b, "\n  replay: go run ./cmd/simrun %s", spec.Flags())
	fmt.Fprintf(&b, "\n  shrink: go run ./cmd/simrun shrink %s", spec.Flags())
	t.Error(b.String())
}
