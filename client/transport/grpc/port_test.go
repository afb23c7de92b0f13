package grpc

// Ports of client-go internal/client/client_test.go and client_async_test.go
// cases (batch B3) that have a counterpart in this transport. Each test names
// the client-go test it mirrors.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"

	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/transport"
)

// mdTikv is fakeTikv recording what each call carried: the forwarding
// metadata of unary calls and of BatchCommands streams, and the Context of
// every RawGet.
type mdTikv struct {
	*fakeTikv

	mu        sync.Mutex
	unaryFwd  [][]string // forwardMetadataKey values of each unary RawGet
	streamFwd [][]string // forwardMetadataKey values of each stream
	ctxs      []*kvrpcpb.Context
}

func fwdOf(ctx context.Context) []string {
	md, _ := metadata.FromIncomingContext(ctx)
	return md.Get(forwardMetadataKey)
}

func (m *mdTikv) RawGet(ctx context.Context, r *kvrpcpb.RawGetRequest) (*kvrpcpb.RawGetResponse, error) {
	m.mu.Lock()
	m.unaryFwd = append(m.unaryFwd, fwdOf(ctx))
	m.ctxs = append(m.ctxs, r.GetContext())
	m.mu.Unlock()
	return m.fakeTikv.RawGet(ctx, r)
}

func (m *mdTikv) BatchCommands(s tikvpb.Tikv_BatchCommandsServer) error {
	m.mu.Lock()
	m.streamFwd = append(m.streamFwd, fwdOf(s.Context()))
	m.mu.Unlock()
	return m.fakeTikv.BatchCommands(&ctxRecorder{Tikv_BatchCommandsServer: s, m: m})
}

// ctxRecorder records the Context of every batched RawGet.
type ctxRecorder struct {
	tikvpb.Tikv_BatchCommandsServer
	m *mdTikv
}

func (c *ctxRecorder) Recv() (*tikvpb.BatchCommandsRequest, error) {
	msg, err := c.Tikv_BatchCommandsServer.Recv()
	if err == nil {
		for _, r := range msg.Requests {
			if g := r.GetRawGet(); g != nil {
				c.m.mu.Lock()
				c.m.ctxs = append(c.m.ctxs, g.GetContext())
				c.m.mu.Unlock()
			}
		}
	}
	return msg, err
}

func (m *mdTikv) snapshot() (unary, stream [][]string, ctxs []*kvrpcpb.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][]string(nil), m.unaryFwd...), append([][]string(nil), m.streamFwd...), append([]*kvrpcpb.Context(nil), m.ctxs...)
}

// serveOn serves f on addr ("127.0.0.1:0" for any port) and returns the
// address and the server; the caller stops it (also at test end).
func serveOn(t testing.TB, srv tikvpb.TikvServer, addr string) (string, *grpc.Server) {
	t.Helper()
	var lis net.Listener
	var err error
	for range 50 { // a just-released port may need a moment
		if lis, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(grpc.ForceServerCodec(codec{}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 0, PermitWithoutStream: true}))
	tikvpb.RegisterTikvServer(s, srv)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return lis.Addr().String(), s
}

func rawGet(key, forwardedHost string) *tikvrpc.Request {
	req := tikvrpc.NewRequest(tikvrpc.CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte(key)})
	req.ForwardedHost = forwardedHost
	return req
}

// TestForwardMetadata mirrors TestForwardMetadataByUnaryCall and
// TestForwardMetadataByBatchCommands: a request with a forwarded host carries
// it in the tikv-forwarded-host metadata, one without carries none. Unlike
// client-go, which opens a BatchCommands stream per forwarded host, a
// forwarded request here always goes as a unary call (package doc), so the
// batch streams never carry the metadata.
func TestForwardMetadata(t *testing.T) {
	const host = "127.0.0.1:6666"
	for _, disableBatch := range []bool{true, false} {
		t.Run(fmt.Sprintf("disable-batch=%v", disableBatch), func(t *testing.T) {
			m := &mdTikv{fakeTikv: newFakeTikv()}
			addr, _ := serveOn(t, m, "127.0.0.1:0")
			tr := newTransport(t, Options{ConnectionCount: 1, DisableBatch: disableBatch})
			ctx := context.Background()
			for range 3 {
				if _, err := tr.SendRequest(ctx, addr, rawGet("k", ""), 5*time.Second); err != nil {
					t.Fatal(err)
				}
			}
			for range 3 {
				if _, err := tr.SendRequest(ctx, addr, rawGet("k", host), 5*time.Second); err != nil {
					t.Fatal(err)
				}
			}
			unary, stream, _ := m.snapshot()
			wantUnary := 3
			if disableBatch {
				wantUnary = 6
			}
			if len(unary) != wantUnary || tr.Stats().Unary != int64(wantUnary) {
				t.Fatalf("%d unary calls seen, %d sent; want %d", len(unary), tr.Stats().Unary, wantUnary)
			}
			for i, v := range unary {
				forwarded := i >= len(unary)-3
				if forwarded && (len(v) != 1 || v[0] != host) {
					t.Errorf("forwarded unary call %d metadata %v, want [%s]", i, v, host)
				}
				if !forwarded && len(v) != 0 {
					t.Errorf("plain unary call %d metadata %v, want none", i, v)
				}
			}
			if disableBatch != (len(stream) == 0) {
				t.Fatalf("%d batch streams with batching disabled=%v", len(stream), disableBatch)
			}
			for _, v := range stream {
				if len(v) != 0 {
					t.Errorf("batch stream metadata %v, want none", v)
				}
			}
		})
	}
}

// TestContextAttached mirrors TestSendRequestAsyncAttachContext: the
// request's Context (region, epoch, peer) reaches the store inside the
// command, batched or unary.
func TestContextAttached(t *testing.T) {
	for _, disableBatch := range []bool{false, true} {
		t.Run(fmt.Sprintf("disable-batch=%v", disableBatch), func(t *testing.T) {
			m := &mdTikv{fakeTikv: newFakeTikv()}
			addr, _ := serveOn(t, m, "127.0.0.1:0")
			tr := newTransport(t, Options{DisableBatch: disableBatch})
			rctx := kvrpcpb.Context{RegionId: 7, RegionEpoch: &metapb.RegionEpoch{Version: 3}, TaskId: 99}
			req := tikvrpc.NewRequest(tikvrpc.CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte("k")}, rctx)
			if req.Req.(*kvrpcpb.RawGetRequest).Context != nil {
				t.Fatal("NewRequest attached the context already; the test would prove nothing")
			}
			if _, err := tr.SendRequest(context.Background(), addr, req, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			_, _, ctxs := m.snapshot()
			if len(ctxs) != 1 || ctxs[0].GetRegionId() != 7 || ctxs[0].GetTaskId() != 99 || ctxs[0].GetRegionEpoch().GetVersion() != 3 {
				t.Fatalf("store saw contexts %v, want region 7 task 99", ctxs)
			}
		})
	}
}

// TestServerRestartSameAddress mirrors
// TestBatchClientRecoverAfterServerRestart: while the store is down requests
// fail with a classified SendError; once it is back on the same address the
// transport reconnects by itself and requests succeed again.
func TestServerRestartSameAddress(t *testing.T) {
	f := newFakeTikv()
	addr, srv := serveOn(t, f, "127.0.0.1:0")
	// A reconnect backoff of about a second (instead of 100ms growing to
	// 3s), so connections come back at visibly different times.
	slow := grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: time.Second, Multiplier: 1, Jitter: 0.2, MaxDelay: time.Second},
		MinConnectTimeout: 200 * time.Millisecond})
	tr := newTransport(t, Options{ConnectionCount: 4, DialTimeout: 200 * time.Millisecond, DialOptions: []grpc.DialOption{slow}})
	ctx := context.Background()
	for i := range 20 {
		if err := put(ctx, tr, addr, fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	srv.Stop()
	for i := range 8 {
		_, err := get(ctx, tr, addr, "k0", 300*time.Millisecond)
		if c := classOf(err); c != "not-sent" && c != "undetermined" {
			t.Fatalf("request %d with the store down: %v (%s)", i, err, c)
		}
	}
	serveOn(t, f, addr)
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := get(ctx, tr, addr, "k0", time.Second)
		if err == nil {
			if string(v) != "v" {
				t.Fatalf("k0 = %q", v)
			}
			break
		}
		if c := classOf(err); c == "unclassified" {
			t.Fatalf("reconnecting: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reconnect within 10s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The connections recover one by one, each after its reconnect
	// backoff; meanwhile a request is handed to a ready
	// connection, never to one still reconnecting (client-go picks an
	// available connection too; see docs/test-port.md B3). So once one
	// connection is back, no request fails.
	for i := range 40 {
		if err := put(ctx, tr, addr, fmt.Sprintf("k%d", i%20), "w"); err != nil {
			t.Fatalf("request %d after the store is back: %v (%s)", i, err, classOf(err))
		}
	}
}

// TestRandomRestartAndForwarding mirrors TestRandomRestartStoreAndForwarding
// at a smaller scale: concurrent requests, half of them forwarded, while
// the stores stop and start; every failure is a classified SendError, and
// once the stores stay up every request succeeds.
func TestRandomRestartAndForwarding(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts real servers")
	}
	f1, f2 := newFakeTikv(), newFakeTikv()
	addr1, srv1 := serveOn(t, f1, "127.0.0.1:0")
	addr2, _ := serveOn(t, f2, "127.0.0.1:0")
	tr := newTransport(t, Options{ConnectionCount: 2, DialTimeout: 100 * time.Millisecond})
	done := make(chan struct{})
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		srv := srv1
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-time.After(time.Duration(20+i%3*30) * time.Millisecond):
			}
			srv.Stop()
			time.Sleep(time.Duration(10+i%2*40) * time.Millisecond)
			_, srv = serveOn(t, f1, addr1)
		}
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []error
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				host := ""
				if (w+i)%2 == 1 {
					host = addr2
				}
				_, err := tr.SendRequest(context.Background(), addr1, rawGet("k", host), 100*time.Millisecond)
				if err != nil && classOf(err) == "unclassified" {
					mu.Lock()
					bad = append(bad, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	<-restarted
	if len(bad) > 0 {
		t.Fatalf("%d unclassified errors, first %v", len(bad), bad[0])
	}
	deadline := time.Now().Add(10 * time.Second)
	for ok := 0; ok < 20; {
		_, err := tr.SendRequest(context.Background(), addr1, rawGet("k", ""), time.Second)
		if err == nil {
			ok++
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("store back up, still failing: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFastFailDeadStore mirrors TestFastFailRequest: a request to an address
// nothing listens on fails as not sent after DialTimeout, long before its own
// 20s timeout.
func TestFastFailDeadStore(t *testing.T) {
	for _, disableBatch := range []bool{false, true} {
		tr := newTransport(t, Options{DialTimeout: 300 * time.Millisecond, DisableBatch: disableBatch})
		start := time.Now()
		_, err := get(context.Background(), tr, deadAddr(t), "k", 20*time.Second)
		if classOf(err) != "not-sent" {
			t.Fatalf("batch disabled=%v: %v (%s), want not-sent", disableBatch, err, classOf(err))
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("batch disabled=%v: failed after %v", disableBatch, d)
		}
	}
}

// TestConcurrentCloseAndCloseAddr mirrors TestConcurrentCloseConnPanic and
// TestConn/TestGetConnAfterClose: Close racing CloseAddr neither panics nor
// deadlocks; CloseAddr alone drops the address's connections (the next
// request opens a new stream); after Close every send fails with ErrClosed.
func TestConcurrentCloseAndCloseAddr(t *testing.T) {
	addr, _ := serveOn(t, newFakeTikv(), "127.0.0.1:0")
	ctx := context.Background()
	tr := newTransport(t, Options{ConnectionCount: 1})
	if err := put(ctx, tr, addr, "k", "v"); err != nil {
		t.Fatal(err)
	}
	before := tr.Stats().Streams
	if err := tr.CloseAddr(addr); err != nil {
		t.Fatal(err)
	}
	if err := tr.CloseAddr(addr); err != nil {
		t.Fatalf("second CloseAddr: %v", err)
	}
	if err := put(ctx, tr, addr, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if got := tr.Stats().Streams; got != before+1 {
		t.Fatalf("streams %d after CloseAddr, want %d (a new connection)", got, before+1)
	}
	for range 20 {
		tr := newTransport(t, Options{})
		if err := put(ctx, tr, addr, "k", "v"); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); _ = tr.Close() }()
		go func() { defer wg.Done(); _ = tr.CloseAddr(addr) }()
		wg.Wait()
		err := put(ctx, tr, addr, "k", "v")
		if !errors.Is(err, transport.ErrClosed) || !transport.IsNotSent(err) {
			t.Fatalf("after Close: %v", err)
		}
	}
}

// TestStreamErrorOnEveryConnection mirrors TestRecvErrorInMultipleRecvLoops:
// the stream of every connection to a store fails once (client-go: the
// main and forwarded streams of one batch client); each failed request is
// undetermined, each connection opens exactly one new stream, and requests
// succeed on all of them afterwards. client-go's TestPanicInRecvLoop has no
// counterpart: it injects a panic with a failpoint, and the receive loop here
// does not recover panics (a panic is a bug, not a stream failure).
func TestStreamErrorOnEveryConnection(t *testing.T) {
	f := newFakeTikv()
	addr, _ := serveOn(t, f, "127.0.0.1:0")
	const conns = 3
	tr := newTransport(t, Options{ConnectionCount: conns})
	ctx := context.Background()
	for i := range conns { // round robin: one request per connection
		if err := put(ctx, tr, addr, fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	if st := tr.Stats().Streams; st != conns {
		t.Fatalf("%d streams, want %d", st, conns)
	}
	for range conns {
		if _, err := get(ctx, tr, addr, "boom", 5*time.Second); classOf(err) != "undetermined" {
			t.Fatalf("boom: %v (%s), want undetermined", err, classOf(err))
		}
	}
	for i := range 2 * conns {
		if err := put(ctx, tr, addr, fmt.Sprintf("k%d", i), "w"); err != nil {
			t.Fatalf("after the stream errors: %v", err)
		}
	}
	_, _, serverStreams := f.stats()
	if st := tr.Stats().Streams; st != 2*conns || serverStreams != 2*conns {
		t.Fatalf("client opened %d streams, server saw %d; want %d (one reopen per connection)", st, serverStreams, 2*conns)
	}
}
