package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tikvsim/tikvsim/checkers"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/harness"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestHeaderAndSummaryGolden pins the human output of a run (STYLE practice
// 11: the header names every derived parameter, the summary ends with the
// replay command) for each failure class. The results are built by hand, so
// the file changes only when the output format does, never with the
// simulation. Run with -update to accept a change.
func TestHeaderAndSummaryGolden(t *testing.T) {
	o := &options{seed: 7, workload: "register", faults: "swarm", duration: 5 * time.Second, clients: 3, livenessBound: harness.DefaultLivenessBound}
	base := harness.Result{Seed: 7, Workload: "register", Faults: "swarm", OpsOK: 842, OpsFail: 169, OpsInfo: 2,
		SimMS: 5123, WallMS: 87, Steps: 4222, TraceHash: "0d231b9be0a56792", Anomalies: []string{},
		Setup: "keys=5 read=0.26 cas=0.15 timeout=4s; faults: drop,delay,crash,busy every ~775ms, rates <= 0.10"}
	valid := base
	valid.Valid = true

	safety := base
	safety.Class, safety.Anomalies = harness.ClassSafety, []string{"nonlinearizable"}
	w := checkers.Op{Index: 40, Time: 1_000_000, Process: 2, Type: checkers.Invoke, F: "write", Key: "reg1", Value: int64(3000012)}
	wf := checkers.Op{Index: 45, Time: 4_000_000, Process: 2, Type: checkers.Fail, F: "write", Key: "reg1", Value: int64(3000012), Error: "timeout"}
	r := checkers.Op{Index: 50, Time: 5_000_000, Process: 1, Type: checkers.OK, F: "read", Key: "reg1", Value: int64(3000012)}
	safety.Check = checkers.Result{Verdict: checkers.Illegal, Anomalies: []checkers.Anomaly{{Kind: "nonlinearizable",
		Explanation: `key "reg1" is not linearizable`, Ops: []checkers.Op{w, wf, r}}}}
	safety.Schedule = []string{"387ms drop(0.01)", "1.2s crash(2)", "5s heal"}
	var many []checkers.Op
	for i := range 14 {
		many = append(many, checkers.Op{Index: int64(100 + i), Time: int64(i) * 1000, Process: i % 3, Type: checkers.OK, F: "write", Key: "reg2", Value: int64(i)})
	}
	safety.Check.Anomalies = append(safety.Check.Anomalies, checkers.Anomaly{Kind: "nonlinearizable", Explanation: `key "reg2" is not linearizable`, Ops: many})

	liveness := base
	liveness.Class, liveness.Anomalies = harness.ClassLiveness, []string{"liveness"}
	liveness.Liveness = "register: final read of reg0 did not succeed after heal"

	runFail := base
	runFail.Class, runFail.Anomalies = harness.ClassRun, []string{"sim-deadlock"}
	runFail.Error = "seed 7: deadlock at step 4222: no task runnable and no timer pending"
	runFail.Failure = &sim.Failure{Tail: []sim.TraceEvent{
		{Step: 4221, Time: 5 * time.Second, Kind: sim.KindPick, Task: 3},
		{Step: 4222, Time: 5 * time.Second, Kind: sim.KindNet, Task: 3, Name: "send", Arg: 77, Text: "client0->store1"},
	}}

	stopped := valid
	stopped.Stopped, stopped.Steps = 500, 500

	var b bytes.Buffer
	for _, c := range []struct {
		name      string
		res       harness.Result
		artifacts string
	}{{"valid", valid, ""}, {"safety", safety, "OUT/seed-7"}, {"liveness", liveness, "OUT/seed-7"}, {"run failure", runFail, "OUT/seed-7"}, {"stopped", stopped, ""}} {
		b.WriteString("== " + c.name + "\n")
		header(&b, c.res, o)
		summary(&b, c.res, o, c.artifacts)
	}
	b.WriteString("== sweep\n")
	sweepTable(&b, 200, 3, map[string][]uint64{harness.ClassSafety: {7, 19}, harness.ClassRun: {150}})
	b.WriteString("== bug header\n")
	header(&b, harness.Result{Seed: 1, Workload: "counter", Faults: "dup(0.3)", Setup: "retries=2 timeout=45ms read-ratio=0.30 buggy=true; faults: dup(0.3)"},
		&options{workload: "counter", faults: "dup(0.3)", duration: 2 * time.Second, clients: 1, bug: "counter-nodedup"})

	golden := filepath.Join("testdata", "summary.golden")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatalf("output differs from %s (run with -update to accept):\n%s", golden, b.String())
	}
}
