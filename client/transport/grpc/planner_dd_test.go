package grpc

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
)

// TestPlannerScripts runs testdata/planner*.txt: traces of one connection's
// send-loop decisions. Regenerate expectations with -rewrite.
func TestPlannerScripts(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		var p *planner
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			switch d.Cmd {
			case "init":
				// Example: init policy=standard max-batch=128 wait-size=8 max-wait-us=0 overload=200
				// A custom policy goes in the input block instead of policy=.
				policy := "standard"
				d.MaybeScanArgs(t, "policy", &policy)
				if in := strings.TrimSpace(d.Input); in != "" {
					policy = in
				}
				opts := BatchOptions{MaxBatchSize: 128, WaitSize: 8, OverloadThreshold: 200}
				var maxWaitUS int
				d.MaybeScanArgs(t, "max-batch", &opts.MaxBatchSize)
				d.MaybeScanArgs(t, "wait-size", &opts.WaitSize)
				d.MaybeScanArgs(t, "max-wait-us", &maxWaitUS)
				d.MaybeScanArgs(t, "overload", &opts.OverloadThreshold)
				opts.MaxWaitTime = time.Duration(maxWaitUS) * time.Microsecond
				turbo, err := ParseBatchPolicy(policy)
				if err != nil {
					return err.Error()
				}
				p = newPlanner(opts, turbo)
				return fmt.Sprintf("turbo %+v", turbo)
			case "batch":
				// Example: batch at-us=100 n=3 load=0 sent=5
				// The batch's first request arrives at at-us and n requests
				// are ready; the loop sends `sent` (default n) requests.
				var atUS, n int
				var load uint64
				d.ScanArgs(t, "at-us", &atUS)
				d.ScanArgs(t, "n", &n)
				d.MaybeScanArgs(t, "load", &load)
				sent := n
				d.MaybeScanArgs(t, "sent", &sent)
				at := time.Unix(0, 0).Add(time.Duration(atUS) * time.Microsecond)
				interval := p.headInterval(at)
				for range n {
					p.arrived(at)
				}
				plan := p.plan(n, interval, load)
				p.sent(sent)
				out := "send now"
				if plan.Wait {
					out = fmt.Sprintf("wait for %d up to %v", plan.WaitSize, plan.WaitTime)
				}
				est := ""
				switch p.trigger.opts.V {
				case TurboTimeBased:
					est = fmt.Sprintf(" est-interval %.1fµs", p.trigger.estArrivalInterval*1e6)
				case TurboProbBased:
					est = fmt.Sprintf(" est-prob %.3f", p.trigger.estFetchMoreProb)
				}
				return fmt.Sprintf("interval %v: %s;%s avg-size %.2f", interval, out, est, p.avgSize)
			default:
				t.Fatalf("unknown command %q", d.Cmd)
				return ""
			}
		})
	})
}
