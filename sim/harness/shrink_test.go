package harness

import (
	"slices"
	"testing"
	"time"
)

// TestShrinkInjectedBugs shrinks a failing run of an injected bug and checks that the shrunk spec is smaller and reproduces the same anomaly.
func TestShrinkInjectedBugs(t *testing.T) {
	for _, spec := range []Spec{
		{Seed: 1, Workload: "counter", Faults: "network", Bug: "counter-nodedup", Duration: 2 * time.Second},
	} { // cmd/simrun's test shrinks register-info-as-fail as well, through the CLI

		t.Run(spec.Bug, func(t *testing.T) {
			s, err := Shrink(spec, ShrinkOptions{Log: func(l string) { t.Log(l) }})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d runs: %s -> faults %q clients %d duration %v", s.Runs, spec.Faults, s.Spec.Faults, s.Spec.Clients, s.Spec.Duration)
			if len(s.Original.FaultSchedule) <= len(s.Result.FaultSchedule) && s.Spec.Clients >= 3 && s.Spec.Duration >= spec.Duration {
				t.Fatalf("nothing shrunk")
			}
			again := Run(s.Spec)
			if again.Valid || !slices.Contains(again.Anomalies, s.Kind) || again.Hash != s.Result.Hash {
				t.Fatalf("shrunk spec gives %v (%s), want %s (%s)", again.Anomalies, again.TraceHash, s.Kind, s.Result.TraceHash)
			}
		})
	}
}

func TestShrinkRefusesAValidRun(t *testing.T) {
	if _, err := Shrink(Spec{Seed: 1, Duration: 200 * time.Millisecond}, ShrinkOptions{}); err == nil {
		t.Fatal("a valid run was shrunk")
	}
}
