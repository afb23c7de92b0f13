package e2e

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tikvsim/tikvsim/client/transport/grpc"
	"github.com/tikvsim/tikvsim/examples/rawkv/rawkvexample"
	"github.com/tikvsim/tikvsim/examples/txnkv/txnkvexample"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/serve"
)

// The examples run in-process against the cluster `simrun serve` serves
// (raw boundaries for the raw example, as `simrun serve --raw-keys`), with
// a region boundary inside the keys they write.

func TestRawKVExample(t *testing.T) {
	srv := startServe(t, serve.Config{RawKeys: true, Cluster: cluster.Config{
		SplitKeys: keys(rawkvexample.Prefix + "fruit/b")}})
	var out bytes.Buffer
	require.NoError(t, rawkvexample.Run(testContext(t), &out, []string{srv.PDAddr()}, grpc.Security{}))
	t.Logf("output:\n%s", out.String())
	p := rawkvexample.Prefix
	require.Equal(t, strings.Join([]string{
		`get ` + p + `greeting = "hello"`,
		`batch get ` + p + `fruit/apple = "5"`,
		`batch get ` + p + `fruit/banana = "6"`,
		`batch get ` + p + `fruit/cherry = "6"`,
		`scan ` + p + `fruit/apple = "5"`,
		`scan ` + p + `fruit/banana = "6"`,
		`scan ` + p + `fruit/cherry = "6"`,
		`reverse scan ` + p + `fruit/cherry`,
		`reverse scan ` + p + `fruit/banana`,
		`cas hello->hi: swapped=true previous="hello"`,
		`cas hello->hey: swapped=false previous="hi"`,
		`after delete range, get ` + p + `greeting: found=false`,
	}, "\n")+"\n", out.String())

	// It cleaned up after itself, so a second run prints the same.
	var again bytes.Buffer
	require.NoError(t, rawkvexample.Run(testContext(t), &again, []string{srv.PDAddr()}, grpc.Security{}))
	require.Equal(t, out.String(), again.String())
}

func TestTxnKVExample(t *testing.T) {
	srv := startServe(t, serve.Config{Cluster: cluster.Config{SplitKeys: keys(txnkvexample.Prefix + "account/b")}})
	var out bytes.Buffer
	require.NoError(t, txnkvexample.Run(testContext(t), &out, []string{srv.PDAddr()}, grpc.Security{}))
	t.Logf("output:\n%s", out.String())
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 7)
	require.Regexp(t, `^committed 2 keys at ts \d+ \(start ts \d+\)$`, lines[0])
	require.Regexp(t, `^snapshot at \d+: alice=100 bob=50$`, lines[1])
	p := txnkvexample.Prefix
	require.Equal(t, []string{
		"second writer of alice: write conflict=true",
		"after rollback, carol exists=false",
		"iter " + p + "account/alice = 90",
		"iter " + p + "account/bob = 50",
		"deleted 2 accounts",
	}, lines[2:])

	var again bytes.Buffer
	require.NoError(t, txnkvexample.Run(testContext(t), &again, []string{srv.PDAddr()}, grpc.Security{}))
	require.Contains(t, again.String(), "alice=100 bob=50", "the first run deleted its accounts")
}

// An example pointed at nothing, or with a CA file that does not exist,
// fails before any operation with an error saying why.
func TestExampleWithoutCluster(t *testing.T) {
	ctx := testContext(t)
	err := rawkvexample.Run(ctx, &bytes.Buffer{}, []string{""}, grpc.Security{})
	require.ErrorContains(t, err, "connect to PD")
	err = txnkvexample.Run(ctx, &bytes.Buffer{}, []string{"127.0.0.1:2379"}, grpc.Security{CAPath: "/nonexistent/ca.pem"})
	require.ErrorContains(t, err, "read CA")
}
