package harness_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/tikvsim/tikvsim/sim/harness"
	"github.com/tikvsim/tikvsim/sim/simtest"
)

const hashChildEnv = "TIKVSIM_HASH_CHILD"

func determinismSeeds() int {
	if n, err := strconv.Atoi(os.Getenv("SIM_SEEDS")); err == nil && n > 0 {
		return n
	}
	return 200
}

func runHash(seed uint64) uint64 {
	return harness.Run(harness.Spec{Seed: seed, Faults: "swarm", Duration: time.Second}).Hash
}

func TestMain(m *testing.M) {
	if os.Getenv(hashChildEnv) != "" {
		os.Exit(printHashes())
	}
	os.Exit(m.Run())
}

// printHashes is the child process: one line per seed, "seed hash".
func printHashes() int {
	n := determinismSeeds()
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	for seed := uint64(1); seed <= uint64(n); seed++ {
		fmt.Fprintf(w, "%d %016x\n", seed, runHash(seed))
	}
	return 0
}

// TestDeterminismInProcess runs every seed twice and requires identical trace
// hashes, and distinct hashes across seeds.
func TestDeterminismInProcess(t *testing.T) {
	simtest.CheckDeterminism(t, simtest.Seeds(1, uint64(determinismSeeds())), runHash)
}

// TestDeterminismAcrossGOMAXPROCS runs the same seeds in child processes with
// GOMAXPROCS=1 and GOMAXPROCS=2 and requires the same hashes.
func TestDeterminismAcrossGOMAXPROCS(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns subprocesses")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, procs := range []string{"1", "2"} {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), hashChildEnv+"=1", "GOMAXPROCS="+procs)
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("GOMAXPROCS=%s child: %v", procs, err)
		}
		out[procs] = b
	}
	if lines := bytes.Count(out["1"], []byte("\n")); lines != determinismSeeds() {
		t.Fatalf("child printed %d lines, want %d", lines, determinismSeeds())
	}
	if !bytes.Equal(out["1"], out["2"]) {
		a, b := bytes.Split(out["1"], []byte("\n")), bytes.Split(out["2"], []byte("\n"))
		for i := range a {
			if i < len(b) && !bytes.Equal(a[i], b[i]) {
				t.Fatalf("GOMAXPROCS=1 gave %q, GOMAXPROCS=2 gave %q", a[i], b[i])
			}
		}
		t.Fatal("outputs differ")
	}
}
