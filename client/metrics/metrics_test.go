package metrics_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tikvsim/tikvsim/client/metrics"
	"github.com/tikvsim/tikvsim/client/rawkv"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *metrics.Metrics
	m.ObserveRPC("RawGet", metrics.ResultOK, time.Millisecond)
	m.RegionError("not_leader")
	m.Backoff("regionMiss", time.Millisecond)
}

func TestRegisterTwiceFails(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := metrics.New(reg, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.New(reg, ""); err == nil {
		t.Fatal("second registration succeeded")
	}
}

// TestClientReportsRPCsRegionErrorsAndBackoffs drives a raw KV client into a
// NotLeader (leader moved) and a busy store, and checks the collectors and
// the debug log saw them.
func TestClientReportsRPCsRegionErrorsAndBackoffs(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, "test")
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w := sim.New(1, sim.Options{MaxTime: time.Hour})
	net := network.New(w, network.Config{})
	c := cluster.New(w, net, cluster.Config{})
	cli, err := rawkv.NewClient(rawkv.WithRuntime(clock.New(w)), rawkv.WithTransport(c.NewTransport("app")),
		rawkv.WithPD(c.NewPDClient("app")), rawkv.WithMetrics(m), rawkv.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	w.Spawn("main", func() {
		defer w.Stop()
		ctx := context.Background()
		if err := cli.Put(ctx, []byte("k"), []byte("v")); err != nil {
			t.Error(err)
			return
		}
		_, leader := c.Region([]byte("k"))
		_ = c.TransferLeader([]byte("k"), leader%3+1)
		_ = c.SetBusy(leader%3+1, true)
		w.AfterFunc(3*time.Second, func() { _ = c.SetBusy(leader%3+1, false) })
		if _, err := cli.Get(ctx, []byte("k")); err != nil {
			t.Error(err)
		}
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(reg, "test_client_rpc_total"); n < 2 {
		t.Errorf("%d rpc series", n)
	}
	if v := testutil.ToFloat64(m.RegionErrorCounter("not_leader")); v < 1 {
		t.Errorf("not_leader counted %v times", v)
	}
	if v := testutil.ToFloat64(m.RegionErrorCounter("server_is_busy")); v < 1 {
		t.Errorf("server_is_busy counted %v times", v)
	}
	if v := testutil.ToFloat64(m.BackoffCounter("tikvServerBusy")); v < 1 {
		t.Errorf("busy backoff counted %v times", v)
	}
	if !strings.Contains(logs.String(), "kind=server_is_busy") {
		t.Errorf("debug log lacks the busy region error:\n%s", logs.String())
	}
}
