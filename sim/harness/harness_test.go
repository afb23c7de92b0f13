package harness

import (
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

// TestRegisterLinearizableUnderFaults runs the raw KV client end to end
// against the fake cluster under every preset.
func TestRegisterLinearizableUnderFaults(t *testing.T) {
	for _, faults := range []string{"none", "network", "all", "swarm"} {
		for seed := uint64(1); seed <= 8; seed++ {
			res := Run(Spec{Seed: seed, Workload: "register", Faults: faults, Duration: 3 * time.Second})
			if !res.Valid {
				t.Fatalf("seed %d faults %s: %v %s\n%s\nschedule: %v", seed, faults, res.Anomalies, res.Error, res.Check, res.Schedule)
			}
			if res.OpsOK == 0 {
				t.Fatalf("seed %d faults %s: no operation succeeded", seed, faults)
			}
		}
	}
}

// TestRegisterCheckerCatchesMisclassifiedWrites proves the register checker
// can fail: writes whose outcome is unknown recorded as failed are caught
// when responses are lost.
func TestRegisterCheckerCatchesMisclassifiedWrites(t *testing.T) {
	caught := 0
	for seed := uint64(1); seed <= 10; seed++ {
		res := Run(Spec{Seed: seed, Workload: "register", Faults: "drop(0.05)", Bug: "register-info-as-fail", Duration: 10 * time.Second})
		if !res.Valid {
			if len(res.Anomalies) == 0 || res.Anomalies[0] != "nonlinearizable" {
				t.Fatalf("seed %d: %v %s", seed, res.Anomalies, res.Error)
			}
			caught++
		}
	}
	if caught == 0 {
		t.Fatal("misclassified writes went unnoticed on 10 seeds")
	}
}

func TestRegisterDeterministic(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		a := Run(Spec{Seed: seed, Workload: "register", Faults: "swarm", Duration: 2 * time.Second})
		b := Run(Spec{Seed: seed, Workload: "register", Faults: "swarm", Duration: 2 * time.Second})
		if a.Hash != b.Hash || a.OpsOK != b.OpsOK {
			t.Fatalf("seed %d: %s/%d vs %s/%d", seed, a.TraceHash, a.OpsOK, b.TraceHash, b.OpsOK)
		}
	}
}
