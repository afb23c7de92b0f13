package sender_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tikvsim/tikvsim/client/config/retry"
	"github.com/tikvsim/tikvsim/client/internal/sender"
	"github.com/tikvsim/tikvsim/client/metrics"
	"github.com/tikvsim/tikvsim/client/transport"
)

func TestRegionErrorKind(t *testing.T) {
	for _, tc := range []struct {
		err  *errorpb.Error
		want string
	}{
		{&errorpb.Error{NotLeader: &errorpb.NotLeader{}}, "not_leader"},
		{&errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{}}, "epoch_not_match"},
		{&errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{}}, "server_is_busy"},
		{&errorpb.Error{MaxTimestampNotSynced: &errorpb.MaxTimestampNotSynced{}}, "max_timestamp_not_synced"},
		{&errorpb.Error{RegionNotFound: &errorpb.RegionNotFound{}, Message: "x"}, "region_not_found"},
		{&errorpb.Error{Message: "only a message"}, "unknown"},
	} {
		if got := sender.RegionErrorKind(tc.err); got != tc.want {
			t.Errorf("RegionErrorKind(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// lockedBuf is a bytes.Buffer safe for the logger's concurrent writes.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestObserverReportsAttempts: with an Observer set, every attempt is
// counted by result, region errors by kind and backoffs by config (through
// BackoffEnv), and region errors and failed sends are logged.
func TestObserverReportsAttempts(t *testing.T) {
	run(t, 7, func(e *env) {
		reg := prometheus.NewRegistry()
		m, err := metrics.New(reg, "t")
		if err != nil {
			t.Fatal(err)
		}
		var logs lockedBuf
		e.s.SetObserver(sender.Observer{Clock: e.rt, Metrics: m, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		// A send that fails unsent: the region is marked for reload, so
		// Send hands back a (fake) EpochNotMatch for the caller to relocate.
		loc := e.locate(t, "a")
		e.tr.sendErrs = []error{&transport.SendError{Addr: "x", NotSent: true, Err: errors.New("refused")}}
		bo := retry.NewBackoffer(e.ctx, 20000, e.s.BackoffEnv(e.rt))
		resp, _, err := e.s.Send(e.ctx, bo, rawGet("a"), loc.Region, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if re, _ := resp.GetRegionError(); re.GetEpochNotMatch() == nil {
			t.Fatalf("after an unsent attempt: %v, want EpochNotMatch handed back", re)
		}
		// Relocated: a busy store, waited out, then the answer.
		loc = e.locate(t, "a")
		e.tr.errs = []*errorpb.Error{{ServerIsBusy: &errorpb.ServerIsBusy{Reason: "busy"}, Message: "busy"}}
		resp, _, err = e.s.Send(e.ctx, bo, rawGet("a"), loc.Region, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if re, _ := resp.GetRegionError(); re != nil {
			t.Fatalf("after the busy store: %v", re)
		}
		if got := testutil.ToFloat64(m.RegionErrorCounter("server_is_busy")); got != 1 {
			t.Errorf("server_is_busy count %v, want 1", got)
		}
		for _, cfg := range []string{"tikvRPC", "tikvServerBusy"} {
			if got := testutil.ToFloat64(m.BackoffCounter(cfg)); got != 1 {
				t.Errorf("%s backoffs %v, want 1", cfg, got)
			}
		}
		// Three attempts: not sent, region error, ok.
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		results := map[string]float64{}
		for _, mf := range mfs {
			if !strings.HasSuffix(mf.GetName(), "_total") || !strings.Contains(mf.GetName(), "rpc") {
				continue
			}
			for _, mm := range mf.GetMetric() {
				for _, lp := range mm.GetLabel() {
					if lp.GetName() == "result" {
						results[lp.GetValue()] += mm.GetCounter().GetValue()
					}
				}
			}
		}
		if results[metrics.ResultNotSent] != 1 || results[metrics.ResultRegionError] != 1 || results[metrics.ResultOK] != 1 {
			t.Errorf("RPC results %v, want one each of not_sent, region_error, ok", results)
		}
		out := logs.String()
		for _, want := range []string{"region error", "kind=server_is_busy", "send failed", "result=not_sent"} {
			if !strings.Contains(out, want) {
				t.Errorf("log lacks %q:\n%s", want, out)
			}
		}
		if e.s.Cache() == nil {
			t.Error("Cache")
		}
	})
}
