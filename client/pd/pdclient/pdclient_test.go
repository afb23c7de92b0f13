package pdclient

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/stretchr/testify/require"
	"github.com/tikv/pd/client/clients/router"

	"github.com/tikvsim/tikvsim/client/pd"
	"github.com/tikvsim/tikvsim/client/rawkv"
	"github.com/tikvsim/tikvsim/client/tikverr"
	tgrpc "github.com/tikvsim/tikvsim/client/transport/grpc"
)

// The adapter has the capabilities the other packages look for.
var (
	_ pd.Client            = (*Client)(nil)
	_ pd.GCStates          = (*Client)(nil)
	_ rawkv.KeyspaceLoader = (*Client)(nil)
)

func TestCheckTSO(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ts        *pdpb.Timestamp
		got, want uint32
		err       string
	}{
		{"ok", &pdpb.Timestamp{Physical: 100, Logical: 9}, 10, 10, ""},
		{"ok, the batch starts at logical 0", &pdpb.Timestamp{Physical: 100, Logical: 9}, 10, 10, ""},
		{"no timestamp", nil, 10, 10, "without a timestamp"},
		{"short batch", &pdpb.Timestamp{Physical: 100, Logical: 9}, 5, 10, "allocated 5 timestamps, 10 asked"},
		{"batch would reach into the previous ms", &pdpb.Timestamp{Physical: 100, Logical: 8}, 10, 10, "logical 8 for 10"},
		{"zero physical", &pdpb.Timestamp{Physical: 0, Logical: 9}, 10, 10, "physical time 0"},
		{"logical overflow", &pdpb.Timestamp{Physical: 1, Logical: 1 << 18}, 2, 2, "logical"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ph, lo, err := checkTSO(tc.ts, tc.got, tc.want)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.ts.Physical, ph)
			require.Equal(t, tc.ts.Logical, lo)
		})
	}
}

func TestErrorRecognition(t *testing.T) {
	// The pd client turns a response header into errors.New(header.String()).
	storeErr := errors.New(`type:UNKNOWN message:"invalid store ID 9, not found" `)
	require.True(t, isStoreNotFound(storeErr))
	require.False(t, isStoreNotFound(errors.New("rpc error: code = Unavailable desc = not found the leader")))

	regionErr := errors.New(`type:REGION_NOT_FOUND message:"region not found" `)
	require.True(t, isRegionNotFound(regionErr))
	require.False(t, isRegionNotFound(errors.New("type:NOT_BOOTSTRAPPED")))

	ksErr := errors.New(`Load keyspace ks1 failed: type:ENTRY_NOT_FOUND message:"keyspace not found" `)
	require.True(t, isEntryNotFound(ksErr))
}

func TestErrorWrapsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	inner := errors.New("rpc error: code = Canceled desc = context canceled")
	err := fail(ctx, "GetRegion", inner)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, inner)
	require.Contains(t, err.Error(), "pdclient: GetRegion: ")

	err = fail(context.Background(), "GetAllStores", inner)
	require.NotErrorIs(t, err, context.Canceled)
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "GetAllStores", e.Op)
}

func TestToPD(t *testing.T) {
	require.Nil(t, toPD(nil))
	require.Nil(t, toPD(&router.Region{}))
	meta := &metapb.Region{Id: 7, StartKey: []byte("a"), EndKey: []byte("b")}
	leader := &metapb.Peer{Id: 71, StoreId: 1}
	down := &metapb.Peer{Id: 72, StoreId: 2}
	pending := &metapb.Peer{Id: 73, StoreId: 3}
	got := toPD(&router.Region{Meta: meta, Leader: leader, DownPeers: []*metapb.Peer{down},
		PendingPeers: []*metapb.Peer{pending}, Buckets: &metapb.Buckets{RegionId: 7}})
	require.Same(t, meta, got.Region)
	require.Same(t, leader, got.Leader)
	require.Len(t, got.DownPeers, 1)
	require.Same(t, down, got.DownPeers[0].Peer)
	require.Equal(t, []*metapb.Peer{pending}, got.PendingPeers)
	require.Equal(t, uint64(7), got.Buckets.RegionId)
	require.Nil(t, toPD(&router.Region{Meta: meta}).DownPeers)
}

func TestNewRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	for _, tc := range []struct {
		name      string
		endpoints []string
		opts      []Option
		want      string
	}{
		{"no endpoints", nil, nil, "endpoints: empty"},
		{"blank endpoint", []string{"127.0.0.1:2379", " "}, nil, "endpoint 1 is empty"},
		{"zero timeout", []string{"x:1"}, []Option{WithTimeout(0)}, "timeout 0s is not positive"},
		{"negative keepalive", []string{"x:1"}, []Option{WithKeepAlive(-time.Second, time.Second)}, "keepalive"},
		{"no component", []string{"x:1"}, []Option{WithCallerComponent("")}, "caller component"},
		{"missing CA file", []string{"x:1"}, []Option{WithSecurity(tgrpc.Security{CAPath: filepath.Join(dir, "nope.pem")})}, "read CA"},
		{"CA file without a certificate", []string{"x:1"}, []Option{WithSecurity(tgrpc.Security{CAPath: notPEM})}, "no certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(ctx, tc.endpoints, tc.opts...)
			require.Nil(t, c)
			require.ErrorIs(t, err, tikverr.ErrInvalidArgument)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestNewHonoursCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c, err := New(ctx, []string{"127.0.0.1:1"})
	require.Nil(t, c)
	require.ErrorIs(t, err, context.Canceled)
}

func TestNewFailsWithoutPD(t *testing.T) {
	// Nothing listens on the port: the pd client keeps retrying, and New
	// gives up at ctx's deadline with an error naming the endpoint.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	c, err := New(ctx, []string{"127.0.0.1:1"}, WithTimeout(200*time.Millisecond))
	require.Nil(t, c)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.True(t, strings.Contains(err.Error(), "127.0.0.1:1"), err.Error())
	require.Less(t, time.Since(start), 5*time.Second)
}
