package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/prometheus/client_golang/prometheus"
	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/tikvsim/tikvsim/client/metrics"
	"github.com/tikvsim/tikvsim/client/pd/pdclient"
	"github.com/tikvsim/tikvsim/client/rawkv"
	"github.com/tikvsim/tikvsim/client/transport/grpc"
	"github.com/tikvsim/tikvsim/client/txnkv"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/serve"
)

// testTimeout bounds every test's context: a hang fails instead of
// stalling the suite.
const testTimeout = 20 * time.Second

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// startServe serves a fake cluster for the test and closes it after.
func startServe(t testing.TB, cfg serve.Config) *serve.Server {
	t.Helper()
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	srv, err := serve.Start(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	return srv
}

// rawServe serves a cluster for raw KV: raw region boundaries, TTLs on.
func rawServe(t testing.TB, splitKeys ...string) *serve.Server {
	return startServe(t, serve.Config{RawKeys: true, Cluster: cluster.Config{
		APIVersion: kvrpcpb.APIVersion_V1TTL, SplitKeys: keys(splitKeys...)}})
}

// txnServe serves a cluster for transactions (encoded boundaries).
func txnServe(t testing.TB, splitKeys ...string) *serve.Server {
	return startServe(t, serve.Config{Cluster: cluster.Config{SplitKeys: keys(splitKeys...)}})
}

func keys(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// newPD connects the production PD adapter to srv.
func newPD(t testing.TB, srv *serve.Server, opts ...pdclient.Option) *pdclient.Client {
	t.Helper()
	c, err := pdclient.New(testContext(t), []string{srv.PDAddr()}, opts...)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// newTransport is the production gRPC transport.
func newTransport(t testing.TB) *grpc.Transport {
	t.Helper()
	tr, err := grpc.New(grpc.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// newRaw is a raw KV client of srv (API V1TTL) on the production edges.
func newRaw(t testing.TB, srv *serve.Server, opts ...rawkv.Option) *rawkv.Client {
	t.Helper()
	opts = append([]rawkv.Option{rawkv.WithPD(newPD(t, srv)), rawkv.WithTransport(newTransport(t)),
		rawkv.WithAPIVersion(kvrpcpb.APIVersion_V1TTL)}, opts...)
	c, err := rawkv.NewClientWithOpts(testContext(t), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newTxn is a transactional client of srv on the production edges.
func newTxn(t testing.TB, srv *serve.Server) *txnkv.Client {
	t.Helper()
	c, err := txnkv.NewClient(txnkv.WithPD(newPD(t, srv)), txnkv.WithTransport(newTransport(t)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newMetrics is a client metrics set on a registry of the test's own.
func newMetrics(t testing.TB) *metrics.Metrics {
	t.Helper()
	m, err := metrics.New(prometheus.NewRegistry(), "")
	require.NoError(t, err)
	return m
}

// counter reads a counter's value.
func counter(c prometheus.Counter) float64 { return promtestutil.ToFloat64(c) }

// do applies a cluster action while the cluster serves.
func do(t testing.TB, srv *serve.Server, action string) string {
	t.Helper()
	out, err := srv.Do(action)
	require.NoError(t, err, action)
	t.Logf("%s", out)
	return out
}
