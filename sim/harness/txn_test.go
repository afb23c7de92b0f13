package harness

import (
	"testing"
	"time"
)

// TestTransactionalWorkloadsUnderFaults runs the bank and list-append
// workloads over the transactional client against the fake cluster under
// every preset: the bank total holds and Elle finds no anomaly.
func TestTransactionalWorkloadsUnderFaults(t *testing.T) {
	for _, wl := range []string{"bank", "append"} {
		for _, faults := range []string{"none", "all", "swarm"} {
			for seed := uint64(1); seed <= 4; seed++ {
				res := Run(Spec{Seed: seed, Workload: wl, Faults: faults, Duration: 2 * time.Second})
				if !res.Valid {
					t.Fatalf("%s seed %d faults %s: %v %s\n%s\nschedule: %v", wl, seed, faults, res.Anomalies, res.Error, res.Check, res.Schedule)
				}
				if res.OpsOK == 0 {
					t.Fatalf("%s seed %d faults %s: no operation succeeded", wl, seed, faults)
				}
			}
		}
	}
}

// TestTransactionalWorkloadsDeterministic runs seeds twice: same trace hash,
// same history size.
func TestTransactionalWorkloadsDeterministic(t *testing.T) {
	for _, wl := range []string{"bank", "append", "rw-register", "set"} {
		for seed := uint64(1); seed <= 5; seed++ {
			spec := Spec{Seed: seed, Workload: wl, Faults: "swarm", Duration: time.Second}
			a, b := Run(spec), Run(spec)
			if a.Hash != b.Hash || len(a.History) != len(b.History) {
				t.Fatalf("%s seed %d: %s/%d vs %s/%d", wl, seed, a.TraceHash, len(a.History), b.TraceHash, len(b.History))
			}
		}
	}
}
