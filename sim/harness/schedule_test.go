package harness

import (
	"testing"
	"time"

	"github.com/tikvsim/tikvsim/sim"
)

func TestScheduleRoundTrip(t *testing.T) {
	for _, s := range []string{
		"dup(0.3)",
		"drop(0.05);@1.25s partition(pd|store1,store2);@2s heal",
		`@800ms crash(2);@1s split("reg2");@1.5s transfer("reg1",3);@2s pd-crash;@3s restart(2)`,
		"@0s delay(client0->counter,1ms-5ms);@1m2.000000001s up(counter)",
	} {
		sched, err := ParseSchedule(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if got := sched.String(); got != s {
			t.Errorf("round trip: %q became %q", s, got)
		}
	}
	for _, bad := range []string{"@x drop(0.1)", "@1s", "@-1s heal", "explode(1)", "@1s explode(1)"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestRecordedScheduleReplaysExactly proves that the explicit schedule a
// preset run records reproduces that run: the same trace hash.
func TestRecordedScheduleReplaysExactly(t *testing.T) {
	for _, c := range []struct {
		workload, faults string
		seed             uint64
	}{{"counter", "all", 3}, {"counter", "swarm", 5}, {"register", "all", 2}, {"register", "swarm", 3}, {"bank", "swarm", 2}, {"append", "all", 1}} {
		spec := Spec{Seed: c.seed, Workload: c.workload, Faults: c.faults, Duration: 2 * time.Second}
		a := Run(spec)
		if len(a.FaultSchedule) < 2 {
			t.Fatalf("%+v: only %d faults recorded", c, len(a.FaultSchedule))
		}
		spec.Faults = a.FaultSchedule.String()
		b := Run(spec)
		if a.Hash != b.Hash || a.OpsOK != b.OpsOK || b.FaultSchedule.String() != spec.Faults {
			t.Fatalf("%+v: preset %s (%d ok), schedule %s (%d ok)\n%s", c, a.TraceHash, a.OpsOK, b.TraceHash, b.OpsOK, spec.Faults)
		}
	}
}

func TestClusterActionsNeedACluster(t *testing.T) {
	s := Spec{Workload: "counter", Faults: "@1s crash(1)"}
	if err := s.Normalize(); err == nil {
		t.Fatal("a cluster action was accepted for the counter workload")
	}
}

func TestLivenessBoundAndClass(t *testing.T) {
	// With the server down for good and no time to converge, the final read
	// cannot succeed: a liveness failure, not a safety one.
	res := Run(Spec{Seed: 1, Faults: "drop(1)", Duration: 200 * time.Millisecond, LivenessBound: time.Nanosecond})
	if res.Valid || res.Class != ClassLiveness || res.Liveness == "" {
		t.Fatalf("class %q liveness %q anomalies %v", res.Class, res.Liveness, res.Anomalies)
	}
	res = Run(Spec{Seed: 1, Duration: 200 * time.Millisecond})
	if !res.Valid || res.Class != "" {
		t.Fatalf("valid run: class %q anomalies %v", res.Class, res.Anomalies)
	}
}

func TestStopAtStep(t *testing.T) {
	var last uint64
	var setup string
	res := Run(Spec{Seed: 1, Duration: time.Second, StopAtStep: 500,
		Trace: func(e sim.TraceEvent) { last = e.Step }, OnSetup: func(s string) { setup = s }})
	if res.Stopped != 500 || res.Steps != 500 || last != 500 {
		t.Fatalf("stopped %d steps %d last traced step %d", res.Stopped, res.Steps, last)
	}
	if setup == "" || setup != res.Setup {
		t.Fatalf("OnSetup saw %q, result has %q", setup, res.Setup)
	}
}
