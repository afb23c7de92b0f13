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
