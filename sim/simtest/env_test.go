package simtest

import (
	"slices"
	"testing"
)

// TestRunHonoursSimSeedAndTwice: SIM_SEED narrows a seed list to one seed
// (even one outside the list), and SIM_TWICE=1 runs it a second time to
// compare trace hashes.
func TestRunHonoursSimSeedAndTwice(t *testing.T) {
	t.Setenv("SIM_SEED", "42")
	t.Setenv("SIM_TWICE", "1")
	var ran []uint64
	var names []string
	Seeds(1, 5).Run(t, func(t *testing.T, seed uint64) uint64 {
		ran = append(ran, seed)
		names = append(names, t.Name())
		return deterministic(seed)
	})
	if !slices.Equal(ran, []uint64{42, 42}) {
		t.Fatalf("ran seeds %v, want [42 42]", ran)
	}
	if names[0] != "TestRunHonoursSimSeedAndTwice/seed=42" {
		t.Fatalf("subtest name %q", names[0])
	}
}

// TestRunWithoutEnv: every seed of the list runs once, in order.
func TestRunWithoutEnv(t *testing.T) {
	t.Setenv("SIM_SEED", "")
	t.Setenv("SIM_TWICE", "")
	var ran []uint64
	Seeds(3, 6).Run(t, func(t *testing.T, seed uint64) uint64 {
		ran = append(ran, seed)
		return seed
	})
	if !slices.Equal(ran, []uint64{3, 4, 5, 6}) {
		t.Fatalf("ran seeds %v", ran)
	}
}
