package txnkv_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/transport"
	"github.com/tikvsim/tikvsim/client/txnkv"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/clock"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/network"
)

// hookTransport is a test-only Transport wrapper: hook sees every request
// before it is sent and may answer it instead (resp or err non-nil), for the
// failures no topology produces (client-go's failpoints).
type hookTransport struct {
	transport.Transport
	mu   sync.Mutex
	hook func(addr string, req *tikvrpc.Request) (*tikvrpc.Response, error)
	sent []*tikvrpc.Request
}

func (h *hookTransport) SendRequest(ctx context.Context, addr string, req *tikvrpc.Request, timeout time.Duration) (*tikvrpc.Response, error) {
	h.mu.Lock()
	hook := h.hook
	h.sent = append(h.sent, req)
	h.mu.Unlock()
	if hook != nil {
		if resp, err := hook(addr, req); resp != nil || err != nil {
			return resp, err
		}
	}
	return h.Transport.SendRequest(ctx, addr, req, timeout)
}

func (h *hookTransport) setHook(f func(addr string, req *tikvrpc.Request) (*tikvrpc.Response, error)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hook = f
}

// requests returns the requests of type typ sent so far.
func (h *hookTransport) requests(typ tikvrpc.CmdType) []*tikvrpc.Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*tikvrpc.Request
	for _, r := range h.sent {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// runHooked is run with the client's transport wrapped in a hookTransport
// and the given split keys.
func runHooked(t *testing.T, seed uint64, splits []string, body func(e *env, h *hookTransport)) {
	t.Helper()
	w := sim.New(seed, sim.Options{MaxTime: 2 * time.Hour})
	net := network.New(w, network.Config{})
	var sk [][]byte
	for _, s := range splits {
		sk = append(sk, []byte(s))
	}
	c := cluster.New(w, net, cluster.Config{TxnKeys: true, SplitKeys: sk})
	r := clock.New(w)
	h := &hookTransport{Transport: c.NewTransport("app")}
	cli, err := txnkv.NewClient(txnkv.WithRuntime(r), txnkv.WithTransport(h), txnkv.WithPD(c.NewPDClient("app")))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{w: w, net: net, c: c, cli: cli, r: r, ctx: context.Background()}
	w.Spawn("main", func() {
		defer w.Stop()
		body(e, h)
	})
	if err := w.Run(); err != nil {
		t.Fatal(err)
	}
}

// raw sends req to the leader of key's region through a separate
// transport, as another client (or a crashed one) would.
func (e *env) raw(t *testing.T, key []byte, typ tikvrpc.CmdType, body any) *tikvrpc.Response {
	t.Helper()
	reg, leader := e.c.Region(key)
	var peer *metapb.Peer
	for _, p := range reg.Peers {
		if p.StoreId == leader {
			peer = p
		}
	}
	req := tikvrpc.NewRequest(typ, body, kvrpcpb.Context{RegionId: reg.Id, RegionEpoch: reg.RegionEpoch, Peer: peer})
	resp, err := e.c.NewTransport("crasher").SendRequest(e.ctx, cluster.StoreNode(leader), req, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// prewriteTxn prewrites kvs (first key primary) at start with ttl and txn
// size, through the raw transport, and fails the test on any error.
func (e *env) prewriteTxn(t *testing.T, start, ttl uint64, keys ...string) {
	t.Helper()
	for _, key := range keys {
		resp := e.raw(t, k(key), tikvrpc.CmdPrewrite, &kvrpcpb.PrewriteRequest{PrimaryLock: k(keys[0]), StartVersion: start, LockTtl: ttl,
			TxnSize: uint64(len(keys)), MinCommitTs: start + 1, Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: k(key), Value: k("v-" + key)}}})
		if r := resp.Resp.(*kvrpcpb.PrewriteResponse); len(r.Errors) > 0 || r.RegionError != nil {
			t.Fatalf("prewrite %s: %v", key, r)
		}
	}
}

// commitRaw commits keys of txn start at commitTS through the raw transport.
func (e *env) commitRaw(t *testing.T, start, commitTS uint64, keys ...string) {
	t.Helper()
	for _, key := range keys {
		resp := e.raw(t, k(key), tikvrpc.CmdCommit, &kvrpcpb.CommitRequest{StartVersion: start, Keys: [][]byte{k(key)}, CommitVersion: commitTS})
		if r := resp.Resp.(*kvrpcpb.CommitResponse); r.Error != nil || r.RegionError != nil {
			t.Fatalf("commit %s: %v", key, r)
		}
	}
}

// lockOf returns the lock on key, or nil (a read at MaxUint64 sees every
// lock except its own).
func (e *env) lockOf(t *testing.T, key string) *kvrpcpb.LockInfo {
	t.Helper()
	resp := e.raw(t, k(key), tikvrpc.CmdScanLock, &kvrpcpb.ScanLockRequest{MaxVersion: ^uint64(0), StartKey: k(key), EndKey: append(k(key), 0), Limit: 1})
	r := resp.Resp.(*kvrpcpb.ScanLockResponse)
	if len(r.Locks) == 0 {
		return nil
	}
	return r.Locks[0]
}

// ts returns a fresh timestamp.
func (e *env) ts(t *testing.T) uint64 {
	t.Helper()
	ts, err := e.cli.GetTimestamp(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// get reads key at a fresh timestamp ("" when missing).
func (e *env) get(t *testing.T, key string) string {
	t.Helper()
	v, err := e.cli.GetSnapshot(e.ts(t)).Get(e.ctx, k(key))
	if err != nil && !isNotExist(err) {
		t.Fatalf("get %s: %v", key, err)
	}
	return string(v)
}

func isNotExist(err error) bool { return tikverr.IsErrNotFound(err) }
