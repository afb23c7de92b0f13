package harnesstest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tikvsim/tikvsim/checkers"
	"github.com/tikvsim/tikvsim/sim/harness"
)

// TestReportInvalidBoundsItsOutput: a run failure and a liveness failure are
// reported; at most three anomalies, each with at most twelve operations,
// are listed, and the rest are counted.
func TestReportInvalidBoundsItsOutput(t *testing.T) {
	var anomalies []checkers.Anomaly
	for i := range 5 {
		a := checkers.Anomaly{Kind: fmt.Sprintf("kind%d", i), Explanation: fmt.Sprintf("why %d", i)}
		for j := range 15 {
			a.Ops = append(a.Ops, checkers.Op{Index: int64(100*i + j), Process: j, Type: checkers.OK, F: "read", Key: "k"})
		}
		anomalies = append(anomalies, a)
	}
	res := harness.Result{Seed: 4, Class: harness.ClassLiveness, Anomalies: []string{"kind0"},
		Error: "step budget exhausted", Liveness: "no convergence within 30s",
		Check: checkers.Result{Verdict: checkers.Illegal, Anomalies: anomalies}}
	f := &fakeTB{}
	ReportInvalid(f, harness.Spec{Workload: "register", Duration: time.Second}, res)
	if len(f.msgs) != 1 {
		t.Fatalf("%d messages", len(f.msgs))
	}
	msg := f.msgs[0]
	for _, want := range []string{
		"seed 4: liveness failure: kind0",
		"\n  run failed: step budget exhausted",
		"\n  liveness: no convergence within 30s",
		"\n  kind2: why 2",
		"\n  (+2 more anomalies)",
		"\n    #0 p0 ok read k",
		"\n    #11 p11 ok read k",
		"\n    (+3 more operations)",
		"replay: go run ./cmd/simrun --seed 4 --workload register",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("report lacks %q:\n%s", want, msg)
		}
	}
	for _, absent := range []string{"kind3", "#12 p12", "#212"} {
		if strings.Contains(msg, absent) {
			t.Errorf("report lists %q past its bound:\n%s", absent, msg)
		}
	}
	if n := strings.Count(msg, "more operations"); n != 3 {
		t.Errorf("%d anomalies cut at 12 operations, want 3", n)
	}
}
