package grpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/transport"
)

func newTransport(t testing.TB, opts Options) *Transport {
	t.Helper()
	tr, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

func get(ctx context.Context, tr transport.Transport, addr, key string, timeout time.Duration) ([]byte, error) {
	req := tikvrpc.NewRequest(tikvrpc.CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte(key)})
	resp, err := tr.SendRequest(ctx, addr, req, timeout)
	if err != nil {
		return nil, err
	}
	return resp.Resp.(*kvrpcpb.RawGetResponse).Value, nil
}

func put(ctx context.Context, tr transport.Transport, addr, key, val string) error {
	req := tikvrpc.NewRequest(tikvrpc.CmdRawPut, &kvrpcpb.RawPutRequest{Key: []byte(key), Value: []byte(val)})
	_, err := tr.SendRequest(ctx, addr, req, 5*time.Second)
	return err
}

// classOf names an error's class for assertions.
func classOf(err error) string {
	var se *transport.SendError
	switch {
	case err == nil:
		return "ok"
	case !errors.As(err, &se):
		return "unclassified"
	case se.NotSent:
		return "not-sent"
	}
	return "undetermined"
}

func TestPutGet(t *testing.T) {
	for _, opts := range []Options{{}, {DisableBatch: true}, {Compression: "gzip"}} {
		t.Run(fmt.Sprintf("batch=%v/compression=%q", !opts.DisableBatch, opts.Compression), func(t *testing.T) {
			addr, _ := serve(t, newFakeTikv(), nil)
			tr := newTransport(t, opts)
			ctx := context.Background()
			if err := put(ctx, tr, addr, "k", "v"); err != nil {
				t.Fatal(err)
			}
			v, err := get(ctx, tr, addr, "k", time.Second)
			if err != nil || string(v) != "v" {
				t.Fatalf("get = %q, %v", v, err)
			}
			st := tr.Stats()
			if opts.DisableBatch != (st.Unary == 2 && st.Batched == 0) {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestBatching: many concurrent requests on one connection share messages.
func TestBatching(t *testing.T) {
	f := newFakeTikv()
	addr, _ := serve(t, f, nil)
	tr := newTransport(t, Options{ConnectionCount: 1, Batch: BatchOptions{Policy: `custom {"v":0,"t":0.002}`, WaitSize: 16}})
	ctx := context.Background()
	if err := put(ctx, tr, addr, "warm", "up"); err != nil { // the first batch never waits
		t.Fatal(err)
	}
	const workers, each = 64, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				k := fmt.Sprintf("k%d-%d", w, i)
				if err := put(ctx, tr, addr, k, k); err != nil {
					errs <- err
					return
				}
				if v, err := get(ctx, tr, addr, k, 5*time.Second); err != nil || string(v) != k {
					errs <- fmt.Errorf("get %s = %q, %v", k, v, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	batches, received, _ := f.stats()
	st := tr.Stats()
	if want := int64(1 + 2*workers*each); st.Batched != want || int64(received) != want {
		t.Fatalf("batched %d, server received %d, want %d", st.Batched, received, want)
	}
	maxSize := 0
	for _, n := range batches {
		maxSize = max(maxSize, n)
	}
	if avg := float64(st.Batched) / float64(st.Batches); avg < 2 || maxSize < 8 {
		t.Fatalf("requests did not share batches: avg %.1f, max %d over %d messages", avg, maxSize, st.Batches)
	}
	t.Logf("%d requests in %d messages (avg %.1f, max %d)", st.Batched, st.Batches, float64(st.Batched)/float64(st.Batches), maxSize)
}

// TestStreamClosedMidBatch: the server answers two of four requests and
// closes the stream; the answered ones succeed, the rest are undetermined,
// and later requests succeed on a new stream.
func TestStreamClosedMidBatch(t *testing.T) {
	f := newFakeTikv()
	addr, _ := serve(t, f, nil)
	tr := newTransport(t, Options{ConnectionCount: 1})
	ctx := context.Background()
	if err := put(ctx, tr, addr, "k", "v"); err != nil {
		t.Fatal(err)
	}
	classes := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := get(ctx, tr, addr, fmt.Sprintf("half-%d", i), 5*time.Second)
			mu.Lock()
			classes[classOf(err)]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if classes["ok"] != 2 || classes["undetermined"] != 2 {
		t.Fatalf("classes %v, want 2 ok and 2 undetermined", classes)
	}
	if v, err := get(ctx, tr, addr, "k", time.Second); err != nil || string(v) != "v" {
		t.Fatalf("after reconnect: %q, %v", v, err)
	}
	if _, _, streams := f.stats(); streams != 2 || tr.Stats().Streams != 2 {
		t.Fatalf("server saw %d streams, client opened %d; want 2", streams, tr.Stats().Streams)
	}
}

// TestReconnectInflight: requests written and waiting when the stream dies
// are each answered as undetermined; a store that cannot be reached answers
// not sent.
func TestReconnectInflight(t *testing.T) {
	f := newFakeTikv()
	f.arrived = make(chan string, 16)
	addr, srv := serve(t, f, nil)
	tr := newTransport(t, Options{ConnectionCount: 1, DialTimeout: 300 * time.Millisecond})
	ctx := context.Background()
	const held = 5
	errs := make(chan error, held)
	for i := range held {
		go func() {
			_, err := get(ctx, tr, addr, fmt.Sprintf("hold-%d", i), 10*time.Second)
			errs <- err
		}()
	}
	for range held {
		<-f.arrived
	}
	if _, err := get(ctx, tr, addr, "boom", 5*time.Second); classOf(err) != "undetermined" || !errors.Is(err, errBoom) && err == nil {
		t.Fatalf("boom: %v (%s)", err, classOf(err))
	}
	for range held {
		if err := <-errs; classOf(err) != "undetermined" {
			t.Fatalf("held request: %v (%s), want undetermined", err, classOf(err))
		}
	}
	if err := put(ctx, tr, addr, "k", "v"); err != nil {
		t.Fatalf("after reconnect: %v", err)
	}
	srv.Stop()
	_, err := get(ctx, tr, addr, "k", 5*time.Second)
	if c := classOf(err); c != "not-sent" && c != "undetermined" {
		t.Fatalf("server gone: %v (%s)", err, c)
	}
	// Once the connection has failed, the next request cannot get a stream.
	_, err = get(ctx, tr, addr, "k", 5*time.Second)
	if classOf(err) != "not-sent" {
		t.Fatalf("server gone: %v (%s), want not-sent", err, classOf(err))
	}
}

// TestCancellation covers a ctx done before the call, while queued (not
// sent) and while written (undetermined).
func TestCancellation(t *testing.T) {
	f := newFakeTikv()
	f.arrived = make(chan string, 16)
	addr, _ := serve(t, f, nil)
	tr := newTransport(t, Options{ConnectionCount: 1, DialTimeout: time.Second})

	done, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := get(done, tr, addr, "k", time.Second); classOf(err) != "not-sent" || !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled before send: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := get(ctx, tr, addr, "hold-1", 10*time.Second)
		errc <- err
	}()
	<-f.arrived
	cancel()
	if err := <-errc; classOf(err) != "undetermined" || !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled after write: %v (%s)", err, classOf(err))
	}

	// A dead address keeps the send loop waiting for the connection, so a
	// second request stays queued; cancelling it is safe to retry.
	dead := deadAddr(t)
	tr2 := newTransport(t, Options{ConnectionCount: 1, DialTimeout: 1500 * time.Millisecond})
	first := make(chan error, 1)
	go func() {
		_, err := get(context.Background(), tr2, dead, "a", 5*time.Second)
		first <- err
	}()
	time.Sleep(200 * time.Millisecond) // the send loop has claimed "a" and waits for the connection
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if _, err := get(ctx2, tr2, dead, "b", 5*time.Second); classOf(err) != "not-sent" || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("canceled while queued: %v (%s)", err, classOf(err))
	}
	if err := <-first; classOf(err) != "not-sent" {
		t.Fatalf("no connection: %v (%s)", err, classOf(err))
	}
}

// TestDeadline: the per-request timeout ends a written request as
// undetermined with context.DeadlineExceeded.
func TestDeadline(t *testing.T) {
	f := newFakeTikv()
	addr, _ := serve(t, f, nil)
	for _, batch := range []bool{true, false} {
		tr := newTransport(t, Options{DisableBatch: !batch})
		key := "hold-x"
		if !batch {
			key = "k" // unary: the fake answers at once; use a tiny timeout instead
		}
		timeout := 100 * time.Millisecond
		if !batch {
			timeout = time.Nanosecond
		}
		start := time.Now()
		_, err := get(context.Background(), tr, addr, key, timeout)
		if !errors.Is(err, context.DeadlineExceeded) && !isDeadlineStatus(err) {
			t.Fatalf("batch=%v: %v", batch, err)
		}
		if batch && classOf(err) != "undetermined" {
			t.Fatalf("batch=%v: %v (%s)", batch, err, classOf(err))
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Fatalf("deadline took %v", el)
		}
	}
}

// TestUnknownResponseID: a response for an id nobody waits for is dropped
// and logged; the real response still arrives.
func TestUnknownResponseID(t *testing.T) {
	addr, _ := serve(t, newFakeTikv(), nil)
	var logs syncBuffer
	tr := newTransport(t, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx := context.Background()
	if err := put(ctx, tr, addr, "ghost-1", "v"); err != nil {
		t.Fatal(err)
	}
	if v, err := get(ctx, tr, addr, "ghost-1", time.Second); err != nil || string(v) != "v" {
		t.Fatalf("get = %q, %v", v, err)
	}
	if n := tr.Stats().UnknownResponses; n != 2 {
		t.Fatalf("unknown responses %d, want 2", n)
	}
	if !bytes.Contains(logs.Bytes(), []byte("response for unknown request id")) {
		t.Fatalf("not logged: %s", logs.Bytes())
	}
}

// TestUnaryFallback: a command BatchCommands cannot carry goes unary.
func TestUnaryFallback(t *testing.T) {
	addr, _ := serve(t, newFakeTikv(), nil)
	tr := newTransport(t, Options{})
	req := tikvrpc.NewRequest(tikvrpc.CmdRawCompareAndSwap, &kvrpcpb.RawCASRequest{Key: []byte("c"), Value: []byte("1"), PreviousNotExist: true})
	resp, err := tr.SendRequest(context.Background(), addr, req, time.Second)
	if err != nil || !resp.Resp.(*kvrpcpb.RawCASResponse).Succeed {
		t.Fatalf("cas: %v %v", resp, err)
	}
	tiflash := tikvrpc.NewRequest(tikvrpc.CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte("c")})
	tiflash.StoreTp = tikvrpc.TiFlash
	resp, err = tr.SendRequest(context.Background(), addr, tiflash, time.Second)
	if err != nil || string(resp.Resp.(*kvrpcpb.RawGetResponse).Value) != "1" {
		t.Fatalf("tiflash get: %v %v", resp, err)
	}
	if st := tr.Stats(); st.Unary != 2 || st.Batched != 0 {
		t.Fatalf("stats %+v", st)
	}
	// Not implemented by the store: undetermined (gRPC cannot tell).
	ttl := tikvrpc.NewRequest(tikvrpc.CmdRawGetKeyTTL, &kvrpcpb.RawGetKeyTTLRequest{Key: []byte("c")})
	if _, err := tr.SendRequest(context.Background(), addr, ttl, time.Second); classOf(err) != "undetermined" {
		t.Fatalf("unimplemented: %v", err)
	}
	// Cannot be sent at all: not sent.
	empty := tikvrpc.NewRequest(tikvrpc.CmdEmpty, nil)
	empty.StoreTp = tikvrpc.TiFlash
	if _, err := tr.SendRequest(context.Background(), addr, empty, time.Second); classOf(err) != "not-sent" {
		t.Fatalf("unsupported: %v", err)
	}
}

func TestHealthFeedback(t *testing.T) {
	addr, _ := serve(t, newFakeTikv(), nil)
	tr := newTransport(t, Options{})
	l := &recordingListener{}
	if err := SetHealthListener(tr, l); err != nil {
		t.Fatal(err)
	}
	if _, err := get(context.Background(), tr, addr, "health", time.Second); err != nil {
		t.Fatal(err)
	}
	if fb := l.last(); fb == nil || fb.SlowScore != 42 || fb.StoreId != 7 {
		t.Fatalf("feedback %v", fb)
	}
}

// TestIdleRecycle: a connection unused for IdleTimeout is closed and the
// next request redials.
func TestIdleRecycle(t *testing.T) {
	f := newFakeTikv()
	addr, _ := serve(t, f, nil)
	tr := newTransport(t, Options{ConnectionCount: 1, IdleTimeout: 100 * time.Millisecond})
	ctx := context.Background()
	if err := put(ctx, tr, addr, "k", "v"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	if _, err := get(ctx, tr, addr, "k", time.Second); err != nil {
		t.Fatal(err)
	}
	if st := tr.Stats(); st.Streams != 2 {
		t.Fatalf("streams %d, want 2 (old connection recycled)", st.Streams)
	}
}

func TestCloseAndCloseAddr(t *testing.T) {
	f := newFakeTikv()
	f.arrived = make(chan string, 4)
	addr, _ := serve(t, f, nil)
	tr := newTransport(t, Options{})
	ctx := context.Background()
	if err := put(ctx, tr, addr, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := CloseAddr(tr, addr); err != nil {
		t.Fatal(err)
	}
	if err := put(ctx, tr, addr, "k", "v2"); err != nil {
		t.Fatalf("after CloseAddr: %v", err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := get(ctx, tr, addr, "hold-c", 10*time.Second)
		errc <- err
	}()
	<-f.arrived
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; classOf(err) != "undetermined" {
		t.Fatalf("in flight at Close: %v (%s)", err, classOf(err))
	}
	if _, err := get(ctx, tr, addr, "k", time.Second); classOf(err) != "not-sent" || !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// plainTransport has none of the optional capabilities.
type plainTransport struct{ transport.Transport }

func TestCapabilitiesAbsent(t *testing.T) {
	var tr plainTransport
	if err := CloseAddr(tr, "x"); !errors.Is(err, ErrSkip) {
		t.Fatalf("CloseAddr: %v", err)
	}
	if err := SetHealthListener(tr, &recordingListener{}); !errors.Is(err, ErrSkip) {
		t.Fatalf("SetHealthListener: %v", err)
	}
}

type recordingListener struct {
	mu sync.Mutex
	fb *kvrpcpb.HealthFeedback
}

func (l *recordingListener) OnHealthFeedback(fb *kvrpcpb.HealthFeedback) {
	l.mu.Lock()
	l.fb = fb
	l.mu.Unlock()
}

func (l *recordingListener) last() *kvrpcpb.HealthFeedback {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fb
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.b.Bytes()...)
}
