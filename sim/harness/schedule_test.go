package harness

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/tikvsim/tikvsim/checkers"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
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

// TestScheduleRoundTripProperty: any schedule of printable faults prints and
// parses back to the same schedule.
func TestScheduleRoundTripProperty(t *testing.T) {
	faults := []fmt.Stringer{
		network.Heal{}, network.Drop{P: 0.25}, network.Dup{P: 1}, network.Reorder{P: 0.001},
		network.Partition{Groups: [][]string{{"pd", "store1"}, {"client0"}}}, network.OneWay{From: "a", To: "b"},
		network.Isolate{Node: "store-2"}, network.Down{Node: "counter"}, network.Up{Node: "counter"},
		network.Delay{Latency: network.Latency{Min: time.Millisecond, Max: 5 * time.Millisecond}},
		network.Delay{From: "x", To: "y", Latency: network.Latency{Min: 0, Max: time.Second}},
		cluster.SplitAction{Key: []byte("reg\"2;@ x")}, cluster.MergeAction{Key: []byte("k")},
		cluster.TransferAction{Key: []byte("reg1"), Store: 3}, cluster.CrashAction{Store: 2}, cluster.RestartAction{Store: 2},
		cluster.BusyAction{Store: 1, Busy: true}, cluster.BusyAction{Store: 1}, cluster.PDAction{Op: "leader"},
		cluster.TSOJumpAction{D: 1500 * time.Millisecond},
	}
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(0, 8).Draw(rt, "n")
		var s Schedule
		for i := range n {
			e := Entry{Fault: faults[rapid.IntRange(0, len(faults)-1).Draw(rt, fmt.Sprint("f", i))]}
			if rapid.Bool().Draw(rt, fmt.Sprint("timed", i)) {
				e.Timed, e.At = true, time.Duration(rapid.Int64Range(0, int64(time.Hour)).Draw(rt, fmt.Sprint("at", i)))
			}
			s = append(s, e)
		}
		text := s.String()
		back, err := ParseSchedule(text)
		if err != nil {
			rt.Fatalf("%q: %v", text, err)
		}
		if back.String() != text || len(back) != len(s) {
			rt.Fatalf("%q came back as %q", text, back.String())
		}
	})
}

// TestMaxOpsEndsTheSafetyPhase: the run is the same up to the limit, then
// the safety phase ends (the final read follows).
func TestMaxOpsEndsTheSafetyPhase(t *testing.T) {
	full := Run(Spec{Seed: 2, Duration: time.Second})
	cut := Run(Spec{Seed: 2, Duration: time.Second, MaxOps: 10})
	invokes := func(h checkers.History) (n int) {
		for _, op := range h {
			if op.Type == checkers.Invoke {
				n++
			}
		}
		return n
	}
	if !cut.Valid || invokes(cut.History) > 10+1 || cut.SimMS >= full.SimMS {
		t.Fatalf("max-ops 10: %d invokes, %dms (full run %dms), %v", invokes(cut.History), cut.SimMS, full.SimMS, cut.Anomalies)
	}
	for i := range 10 { // the same history up to the cut
		a, b := full.History[i], cut.History[i]
		if a.Index != b.Index || a.Time != b.Time || a.Type != b.Type || a.Process != b.Process {
			t.Fatalf("entry %d differs: %v vs %v", i, a, b)
		}
	}
	if f := (Spec{Seed: 2, MaxOps: 10}).Flags(); !strings.Contains(f, "--max-ops 10") {
		t.Fatalf("flags %q", f)
	}
}
