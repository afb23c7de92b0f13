package harnesstest

import (
	"strings"
	"testing"
	"time"

	"github.com/tikvsim/tikvsim/checkers"
	"github.com/tikvsim/tikvsim/sim/harness"
	"github.com/tikvsim/tikvsim/sim/simtest"
)

func TestRunValidSeeds(t *testing.T) {
	Run(t, simtest.Seeds(1, 4), harness.Spec{Faults: "swarm", Duration: 500 * time.Millisecond})
}

// TestRunExpectedFailure uses a check to demand that the injected bug is
// found on some seed.
func TestRunExpectedFailure(t *testing.T) {
	caught := 0
	Run(t, simtest.Seeds(1, 3), harness.Spec{Faults: "dup(0.3)", Bug: "counter-nodedup", Duration: time.Second},
		func(t *testing.T, res harness.Result) {
			if !res.Valid {
				caught++
			}
		})
	if caught == 0 {
		t.Fatal("the injected bug went unnoticed")
	}
}

type fakeTB struct {
	testing.TB
	msgs []string
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Error(args ...any) { f.msgs = append(f.msgs, args[0].(string)) }

func TestReportInvalidNamesTheReplayCommand(t *testing.T) {
	spec := harness.Spec{Faults: "@1s dup(0.3)", Bug: "counter-nodedup", Duration: 2 * time.Second}
	res := harness.Result{Seed: 9, Class: harness.ClassSafety, Anomalies: []string{"counter-out-of-bounds"},
		Check: checkers.Result{Verdict: checkers.Illegal, Anomalies: []checkers.Anomaly{{Kind: "counter-out-of-bounds", Explanation: "read 7"}}}}
	f := &fakeTB{}
	ReportInvalid(f, spec, res)
	if len(f.msgs) != 1 {
		t.Fatalf("%d messages", len(f.msgs))
	}
	for _, want := range []string{
		"seed 9: safety failure: counter-out-of-bounds",
		"counter-out-of-bounds: read 7",
		"replay: go run ./cmd/simrun --seed 9 --workload counter --faults '@1s dup(0.3)' --duration 2s --clients 3 --bug counter-nodedup",
		"shrink: go run ./cmd/simrun shrink --seed 9 ",
	} {
		if !strings.Contains(f.msgs[0], want) {
			t.Errorf("report lacks %q:\n%s", want, f.msgs[0])
		}
	}
}
