// Package simtest is the Go test API for simulations: run a scenario over many
// seeds as subtests, replay one seed, and check that runs are deterministic.
//
//	func TestMyScenario(t *testing.T) {
//		simtest.Seeds(1, 100).Run(t, func(t *testing.T, seed uint64) uint64 {
//			w := sim.New(seed, sim.Options{})
//			... build and run ...
//			return w.TraceHash()
//		})
//	}
//
// Whole harness runs (a workload under a nemesis, then the checker) are in
// package sim/harness/harnesstest, so that this package stays importable from
// the tests of every client package (the harness imports the clients).
//
// Set SIM_SEED=N to run only seed N. Set SIM_TWICE=1 to run every seed twice
// and fail on a different trace hash.
package simtest

import (
	"fmt"
	"os"
	"strconv"
	"testing"
)

// SeedList is a list of seeds to run.
type SeedList []uint64

// Seeds returns the seeds from..to inclusive.
func Seeds(from, to uint64) SeedList {
	var s SeedList
	for x := from; x <= to; x++ {
		s = append(s, x)
	}
	return s
}

// Scenario runs one seed and returns its trace hash. It reports failures on t.
type Scenario func(t *testing.T, seed uint64) uint64

// Run runs scenario once per seed as subtests named seed=N. A failing subtest
// prints how to replay it. SIM_SEED selects one seed; SIM_TWICE=1 runs each
// seed twice and compares trace hashes.
func (s SeedList) Run(t *testing.T, scenario Scenario) {
	t.Helper()
	seeds := s
	if v := os.Getenv("SIM_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("SIM_SEED=%q: %v", v, err)
		}
		seeds = SeedList{n}
	}
	twice := os.Getenv("SIM_TWICE") == "1"
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("replay: SIM_SEED=%d go test -run '^%s$' (or simrun --seed %d)", seed, t.Name(), seed)
				}
			})
			h := scenario(t, seed)
			if twice && !t.Failed() {
				if h2 := scenario(t, seed); h2 != h {
					t.Fatalf("seed %d is nondeterministic: trace hashes %016x and %016x", seed, h, h2)
				}
			}
		})
	}
}

// Reporter is the part of testing.TB that CheckDeterminism uses.
type Reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// CheckDeterminism runs run twice per seed and reports every seed whose two
// runs gave different hashes, and any two seeds that gave the same hash (a
// sign that the seed does not reach the run). It returns the number of
// problems reported.
func CheckDeterminism(r Reporter, seeds SeedList, run func(seed uint64) uint64) int {
	r.Helper()
	problems := 0
	bySeed := make(map[uint64]uint64, len(seeds))
	for _, seed := range seeds {
		a, b := run(seed), run(seed)
		if a != b {
			r.Errorf("seed %d is nondeterministic: trace hashes %016x and %016x", seed, a, b)
			problems++
			continue
		}
		if other, dup := bySeed[a]; dup {
			r.Errorf("seeds %d and %d gave the same trace hash %016x: the seed does not reach the run", other, seed, a)
			problems++
		}
		bySeed[a] = seed
	}
	return problems
}
