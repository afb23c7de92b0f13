package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tikvsim/tikvsim/client/oracle"
	"github.com/tikvsim/tikvsim/client/pd/pdclient"
	"github.com/tikvsim/tikvsim/client/util/codec"
)

// unary is the minimal client the benchmarks compare with, and the tests'
// way to put the cluster in states the client never leaves it in (a
// prewritten, never committed transaction): plain tikvpb unary calls, one
// request per RPC, to the leader PD names for the key. It has no retries
// and no region cache beyond one lookup per call site that asks for it;
// the caller must not change the topology under it.
type unary struct {
	pd      *pdclient.Client
	txnKeys bool // region boundaries are memcomparable-encoded

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

func newUnary(t testing.TB, pd *pdclient.Client, txnKeys bool) *unary {
	u := &unary{pd: pd, txnKeys: txnKeys, conns: map[string]*grpc.ClientConn{}}
	t.Cleanup(func() {
		u.mu.Lock()
		defer u.mu.Unlock()
		for _, c := range u.conns {
			_ = c.Close()
		}
	})
	return u
}

// target is a region's leader: the request context and the store client.
type target struct {
	ctx *kvrpcpb.Context
	kv  tikvpb.TikvClient
}

// locate asks PD for the region of key and connects to its leader.
func (u *unary) locate(ctx context.Context, key []byte) (target, error) {
	rk := key
	if u.txnKeys {
		rk = codec.EncodeBytes(nil, key)
	}
	r, err := u.pd.GetRegion(ctx, rk, false)
	if err != nil {
		return target{}, err
	}
	if r == nil || r.GetLeader().GetStoreId() == 0 {
		return target{}, fmt.Errorf("no region or leader for %q", key)
	}
	st, err := u.pd.GetStore(ctx, r.GetLeader().GetStoreId())
	if err != nil {
		return target{}, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	conn, ok := u.conns[st.GetAddress()]
	if !ok {
		conn, err = grpc.NewClient(st.GetAddress(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return target{}, err
		}
		u.conns[st.GetAddress()] = conn
	}
	return target{
		ctx: &kvrpcpb.Context{RegionId: r.GetRegion().GetId(), RegionEpoch: r.GetRegion().GetRegionEpoch(), Peer: r.GetLeader()},
		kv:  tikvpb.NewTikvClient(conn),
	}, nil
}

// ts is a fresh timestamp.
func (u *unary) ts(ctx context.Context) (uint64, error) {
	ph, lo, err := u.pd.GetTS(ctx, 1)
	return oracle.ComposeTS(ph, lo), err
}

// prewrite prewrites puts of keys (all in the region of tg) with primary
// as the primary lock and the given TTL in ms.
func (u *unary) prewrite(ctx context.Context, tg target, primary []byte, startTS, ttl uint64, kvs ...[]byte) error {
	var muts []*kvrpcpb.Mutation
	for i := 0; i+1 < len(kvs); i += 2 {
		muts = append(muts, &kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: kvs[i], Value: kvs[i+1]})
	}
	resp, err := tg.kv.KvPrewrite(ctx, &kvrpcpb.PrewriteRequest{Context: tg.ctx, Mutations: muts, PrimaryLock: primary,
		StartVersion: startTS, LockTtl: ttl, TxnSize: uint64(len(muts))})
	if err != nil {
		return err
	}
	if e := resp.GetRegionError(); e != nil {
		return fmt.Errorf("prewrite: region error %v", e)
	}
	if len(resp.GetErrors()) > 0 {
		return fmt.Errorf("prewrite: %v", resp.GetErrors()[0])
	}
	return nil
}

// commit commits keys (all in the region of tg).
func (u *unary) commit(ctx context.Context, tg target, startTS, commitTS uint64, keys ...[]byte) error {
	resp, err := tg.kv.KvCommit(ctx, &kvrpcpb.CommitRequest{Context: tg.ctx, StartVersion: startTS, Keys: keys, CommitVersion: commitTS})
	if err != nil {
		return err
	}
	if e := resp.GetRegionError(); e != nil {
		return fmt.Errorf("commit: region error %v", e)
	}
	if e := resp.GetError(); e != nil {
		return fmt.Errorf("commit: %v", e)
	}
	return nil
}

func TestUnaryBaseline(t *testing.T) {
	srv := txnServe(t)
	ctx := testContext(t)
	u := newUnary(t, newPD(t, srv), true)
	tg, err := u.locate(ctx, []byte("a"))
	require.NoError(t, err)
	start, err := u.ts(ctx)
	require.NoError(t, err)
	require.NoError(t, u.prewrite(ctx, tg, []byte("a"), start, 3000, []byte("a"), []byte("1"), []byte("b"), []byte("2")))
	commit, err := u.ts(ctx)
	require.NoError(t, err)
	require.NoError(t, u.commit(ctx, tg, start, commit, []byte("a"), []byte("b")))
	read, err := u.ts(ctx)
	require.NoError(t, err)
	resp, err := tg.kv.KvGet(ctx, &kvrpcpb.GetRequest{Context: tg.ctx, Key: []byte("b"), Version: read})
	require.NoError(t, err)
	require.Equal(t, []byte("2"), resp.GetValue())

	// And the client reads what the baseline wrote.
	c := newTxn(t, srv)
	v, err := c.GetSnapshot(read).Get(ctx, []byte("a"))
	require.NoError(t, err)
	require.Equal(t, []byte("1"), v)
}
