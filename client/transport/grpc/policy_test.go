package grpc

import (
	"testing"
	"time"
)

func TestParseBatchPolicy(t *testing.T) {
	cases := []struct {
		in      string
		want    TurboOptions
		wantErr bool
	}{
		{"", presetPolicies[BatchPolicyStandard], false},
		{"basic", TurboOptions{}, false},
		{"standard", TurboOptions{V: TurboTimeBased, T: 0.0001, N: 5, W: 0.2, P: 0.8, Q: 0.8}, false},
		{"positive", TurboOptions{V: TurboAlways, T: 0.0001}, false},
		{`custom {"v":2,"t":0.0002,"w":0.5,"p":0.6}`, TurboOptions{V: TurboProbBased, T: 0.0002, W: 0.5, P: 0.6}, false},
		{`custom{"v":1,"n":3,"t":0.001}`, TurboOptions{V: TurboTimeBased, N: 3, T: 0.001}, false},
		{"custom", TurboOptions{}, true},
		{"custom {v:1}", TurboOptions{}, true},
		{`custom {"v":7}`, TurboOptions{}, true},
		{`custom {"t":-1}`, TurboOptions{}, true},
		{"eager", TurboOptions{}, true},
	}
	for _, c := range cases {
		got, err := ParseBatchPolicy(c.in)
		if (err != nil) != c.wantErr || (!c.wantErr && got != c.want) {
			t.Errorf("ParseBatchPolicy(%q) = %+v, %v; want %+v, err=%v", c.in, got, err, c.want, c.wantErr)
		}
	}
}

// TestTurboTrigger steps each strategy through a sequence of arrival
// intervals; want is needFetchMore after each.
func TestTurboTrigger(t *testing.T) {
	us := time.Microsecond
	cases := []struct {
		name      string
		policy    string
		intervals []time.Duration
		want      []bool
	}{
		// est: 10 → 0.2·500+0.8·10=108 → 88.4 → 72.72 → 0.2·500(capped)+0.8·72.72=158.2; threshold 80µs.
		{"standard", "standard", []time.Duration{10 * us, 500 * us, 10 * us, 10 * us, time.Second}, []bool{true, false, false, true, false}},
		// prob: 0.5 → 0.75 → 0.375 → 0.6875; threshold 0.6.
		{"prob", `custom {"v":2,"t":0.0001,"w":0.5,"p":0.6}`, []time.Duration{50 * us, 50 * us, 200 * us, 1 * us}, []bool{false, true, false, true}},
		{"always", "positive", []time.Duration{time.Hour, 1}, []bool{true, true}},
		{"basic", "basic", []time.Duration{1}, []bool{true}}, // basic never asks: its wait time is zero
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := ParseBatchPolicy(c.policy)
			if err != nil {
				t.Fatal(err)
			}
			tr := turboTrigger{opts: o}
			for i, iv := range c.intervals {
				if got := tr.needFetchMore(iv); got != c.want[i] {
					t.Fatalf("step %d (%v): needFetchMore = %v, want %v (est interval %g, prob %g)", i, iv, got, c.want[i], tr.estArrivalInterval, tr.estFetchMoreProb)
				}
			}
		})
	}
}

func TestPreferredWaitSize(t *testing.T) {
	std := turboTrigger{opts: presetPolicies[BatchPolicyStandard]}
	pos := turboTrigger{opts: presetPolicies[BatchPolicyPositive]}
	cases := []struct {
		tr   *turboTrigger
		avg  float64
		def  int
		want int
	}{
		{&std, 8.79, 8, 8},
		{&std, 8.8, 8, 9},
		{&std, 3, 8, 3},
		{&std, 0.9, 8, 1},
		{&pos, 30.5, 8, 8},
	}
	for i, c := range cases {
		if got := c.tr.preferredWaitSize(c.avg, c.def); got != c.want {
			t.Errorf("case %d: preferredWaitSize(%v, %d) = %d, want %d", i, c.avg, c.def, got, c.want)
		}
	}
}

func TestPlanner(t *testing.T) {
	us := time.Microsecond
	base := BatchOptions{MaxBatchSize: 128, WaitSize: 8, OverloadThreshold: 200}
	overload := base
	overload.MaxWaitTime = time.Millisecond
	cases := []struct {
		name     string
		opts     BatchOptions
		policy   string
		n        int
		interval time.Duration
		load     uint64
		want     batchPlan
	}{
		{"full batch never waits", overload, "positive", 128, 10 * us, 1000, batchPlan{}},
		{"overload rule", overload, "basic", 3, 0, 201, batchPlan{Wait: true, WaitSize: 8, WaitTime: time.Millisecond}},
		{"load at threshold", overload, "basic", 3, 0, 200, batchPlan{}},
		{"load ignored without max wait", base, "basic", 3, 10 * us, 1000, batchPlan{}},
		{"basic", base, "basic", 1, 10 * us, 0, batchPlan{}},
		{"positive", base, "positive", 1, 10 * us, 0, batchPlan{Wait: true, WaitSize: 8, WaitTime: 100 * us}},
		{"first batch", base, "positive", 1, 0, 0, batchPlan{}},
		{"standard close arrivals", base, "standard", 1, 10 * us, 0, batchPlan{Wait: true, WaitSize: 8, WaitTime: 100 * us}},
		{"standard sparse arrivals", base, "standard", 1, 90 * us, 0, batchPlan{}},
	}
	for _, c := range cases {
		o, err := ParseBatchPolicy(c.policy)
		if err != nil {
			t.Fatal(err)
		}
		p := newPlanner(c.opts, o)
		if got := p.plan(c.n, c.interval, c.load); got != c.want {
			t.Errorf("%s: plan = %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestPlannerState(t *testing.T) {
	o, _ := ParseBatchPolicy("standard")
	p := newPlanner(BatchOptions{MaxBatchSize: 128, WaitSize: 8}, o)
	t0 := time.Unix(100, 0)
	if iv := p.headInterval(t0); iv != 0 {
		t.Fatalf("first head interval %v", iv)
	}
	p.arrived(t0)
	p.arrived(t0.Add(-time.Second)) // out of order: ignored
	if iv := p.headInterval(t0.Add(5 * time.Microsecond)); iv != 5*time.Microsecond {
		t.Fatalf("head interval %v", iv)
	}
	if iv := p.headInterval(t0.Add(-time.Microsecond)); iv != 0 {
		t.Fatalf("out-of-order head interval %v", iv)
	}
	p.sent(18) // avg 0.2·18 + 0.8·8 = 10
	if got := p.plan(1, 10*time.Microsecond, 0); got.WaitSize != 10 {
		t.Fatalf("wait size after a batch of 18: %+v (avg %v)", got, p.avgSize)
	}
}
