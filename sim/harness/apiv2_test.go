package harness

import (
	"strings"
	"testing"
	"time"
)

// TestAPIV2WorkloadsUnderFaults runs the register (raw KV), bank and
// list-append workloads with the cluster in API V2 mode and the clients in a
// keyspace, under every fault kind: every run is valid, operations succeed,
// the run says it used the keyspace, and a seed replays with the same trace
// hash.
func TestAPIV2WorkloadsUnderFaults(t *testing.T) {
	for _, wl := range []string{"register", "bank", "append"} {
		for seed := uint64(1); seed <= 3; seed++ {
			spec := Spec{Seed: seed, Workload: wl, Faults: "all", Duration: 2 * time.Second, APIVersion: "v2"}
			res := Run(spec)
			if !res.Valid {
				t.Fatalf("%s seed %d: %v %s %s\n%s\nschedule: %v", wl, seed, res.Anomalies, res.Error, res.Liveness, res.Check, res.Schedule)
			}
			if res.OpsOK == 0 {
				t.Fatalf("%s seed %d: no operation succeeded", wl, seed)
			}
			if !strings.Contains(res.Setup, "api v2: keyspace sim") {
				t.Fatalf("%s seed %d: setup %q does not name the keyspace", wl, seed, res.Setup)
			}
			if seed == 1 {
				if again := Run(spec); again.Hash != res.Hash {
					t.Fatalf("%s seed 1: trace hash %s then %s", wl, res.TraceHash, again.TraceHash)
				}
			}
		}
	}
}

// TestAPIV2Spec: an unknown API version is refused; a V1 run is the run
// without the field.
func TestAPIV2Spec(t *testing.T) {
	s := Spec{Workload: "register", APIVersion: "v3"}
	if err := s.Normalize(); err == nil {
		t.Fatal("api version v3 accepted")
	}
	s = Spec{Workload: "counter", APIVersion: "v2"}
	if err := s.Normalize(); err == nil {
		t.Fatal("api v2 accepted for a workload without a cluster")
	}
	a := Run(Spec{Seed: 5, Workload: "register", Faults: "none", Duration: time.Second})
	b := Run(Spec{Seed: 5, Workload: "register", Faults: "none", Duration: time.Second, APIVersion: "v1"})
	if a.Hash != b.Hash || strings.Contains(a.Setup, "api v2") {
		t.Fatalf("v1 run differs from the default: %s vs %s", a.TraceHash, b.TraceHash)
	}
}
