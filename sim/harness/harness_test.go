package harness

import (
	"os"
	"testing"
	"time"

	"github.com/tikvsim/tikvsim/checkers"
)

func TestCounterValidUnderEveryPreset(t *testing.T) {
	for _, faults := range []string{"none", "network", "all", "swarm", "drop(0.2);dup(0.2)"} {
		for seed := uint64(1); seed <= 10; seed++ {
			res := Run(Spec{Seed: seed, Faults: faults, Duration: 2 * time.Second})
			if !res.Valid {
				t.Fatalf("seed %d faults %s: invalid: %v %s\n%s", seed, faults, res.Anomalies, res.Error, res.Check)
			}
			if res.OpsOK == 0 {
				t.Fatalf("seed %d faults %s: no operation succeeded", seed, faults)
			}
			if len(res.TraceHash) != 16 {
				t.Fatalf("trace hash %q", res.TraceHash)
			}
		}
	}
}

func TestFaultsReallyHappen(t *testing.T) {
	res := Run(Spec{Seed: 3, Faults: "all", Duration: 5 * time.Second})
	if len(res.Schedule) < 5 {
		t.Fatalf("only %d faults injected: %v", len(res.Schedule), res.Schedule)
	}
	if res.OpsFail+res.OpsInfo == 0 {
		t.Fatalf("faults caused no failed or unknown operation: %+v", res)
	}
}

// TestInjectedBugIsCaught proves the counter checker can fail: a server that
// re-applies duplicated increments is found under duplication faults.
func TestInjectedBugIsCaught(t *testing.T) {
	caught := 0
	for seed := uint64(1); seed <= 10; seed++ {
		res := Run(Spec{Seed: seed, Faults: "dup(0.3)", Bug: "counter-nodedup", Duration: 2 * time.Second})
		if !res.Valid {
			caught++
			if res.Check.Verdict != checkers.Illegal || res.Anomalies[0] != "counter-out-of-bounds" {
				t.Fatalf("seed %d: %v", seed, res.Anomalies)
			}
		}
	}
	if caught == 0 {
		t.Fatal("the injected bug went unnoticed on 10 seeds")
	}
}

func TestBadSpecs(t *testing.T) {
	for _, s := range []Spec{
		{Workload: "nope"}, {Faults: "explode"}, {Bug: "nope"}, {Duration: -1},
	} {
		if res := Run(s); res.Error == "" || res.Valid {
			t.Errorf("%+v accepted: %+v", s, res)
		}
	}
}

func TestMain(m *testing.M) {
	if os.Getenv(hashChildEnv) != "" {
		os.Exit(printHashes())
	}
	os.Exit(m.Run())
}
