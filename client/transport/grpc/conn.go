package grpc

// This file is the network shell of the transport: goroutines, wall-clock
// timers and channel selects around the pure batching, id and
// classification code of policy.go and entry.go (allow-listed in
// internal/guard).

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
)

// errConnGone is returned by enqueue on a connection that closed (recycled
// or dropped); the caller picks another.
var errConnGone = errors.New("grpc transport: connection closed")

// conn is one gRPC connection to a store with its BatchCommands machinery:
// a queue, a send loop that batches, and at most one live stream whose
// receive loop routes responses by id (client-go conn_batch.go batchConn and
// client_batch.go batchCommandsClient, with one send loop per connection).
type conn struct {
	t    *Transport
	addr string
	cc   *grpc.ClientConn
	tikv tikvpb.TikvClient

	queue chan *entry
	// done is closed when the connection shuts down.
	done      chan struct{}
	closeOnce sync.Once
	// mu: enqueuers hold it shared while they push; shutdown takes it
	// exclusively after closing done, so no push lands after the drain.
	mu        sync.RWMutex
	gone      atomic.Bool
	startOnce sync.Once
	// base is the parent of every stream context; cancelled on shutdown.
	base       context.Context
	cancelBase context.CancelFunc

	stream atomic.Pointer[stream]
	load   atomic.Uint64

	// active counts requests in progress; lastUsed is the unix-nano time of
	// the last pick. Together they drive idle recycling.
	active   atomic.Int64
	lastUsed atomic.Int64

	// Owned by the send loop.
	planner *planner
	builder builder
	timer   *time.Timer
}

// stream is one BatchCommands stream and its table of written requests.
type stream struct {
	cli    tikvpb.Tikv_BatchCommandsClient
	cancel context.CancelFunc
	// sendMu orders a batch's register-then-Send against the receive
	// loop's breakAll, so every entry is either answered by the sender
	// (Send refused it: not sent) or in the table when the stream breaks
	// (written: undetermined).
	sendMu sync.Mutex
	table  *inflight
}

func (t *Transport) newConn(addr string) (*conn, error) {
	cc, err := grpc.NewClient(addr, t.dialOpts...)
	if err != nil {
		return nil, err
	}
	base, cancel := context.WithCancel(context.Background())
	c := &conn{
		t: t, addr: addr, cc: cc, tikv: tikvpb.NewTikvClient(cc),
		queue: make(chan *entry, t.opts.Batch.MaxBatchSize),
		done:  make(chan struct{}),
		base:  base, cancelBase: cancel,
		planner: newPlanner(t.opts.Batch, t.turbo),
	}
	c.lastUsed.Store(time.Now().UnixNano())
	return c, nil
}

// enqueue hands e to the send loop, starting it on first use. It returns
// errConnGone when the connection has closed, or the ctx/timeout error;
// in every error case e was not sent.
func (c *conn) enqueue(ctx context.Context, e *entry, timeout <-chan time.Time) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.gone.Load() {
		return errConnGone
	}
	c.startOnce.Do(func() { go c.sendLoop() })
	select {
	case c.queue <- e:
		return nil
	case <-c.done:
		return errConnGone
	case <-ctx.Done():
		return ctx.Err()
	case <-timeout:
		return context.DeadlineExceeded
	}
}

// shutdown closes the connection once: later enqueues fail with
// errConnGone, queued requests are answered as not sent, streams are
// cancelled (their written requests are answered as undetermined by the
// receive loops), and the gRPC connection is closed.
func (c *conn) shutdown(why error) {
	c.closeOnce.Do(func() {
		c.gone.Store(true)
		close(c.done)
		c.mu.Lock()
		c.mu.Unlock() //nolint:staticcheck // barrier: waits out in-progress enqueues
		c.drain(why)
		c.cancelBase()
		if err := c.cc.Close(); err != nil {
			c.t.log.Debug("close connection", "addr", c.addr, "err", err)
		}
	})
}

func (c *conn) drain(why error) {
	for {
		select {
		case e := <-c.queue:
			e.fail(causeClosed, why)
		default:
			return
		}
	}
}

// sendLoop collects batches and writes them until the connection closes
// (client-go conn_batch.go batchSendLoop).
func (c *conn) sendLoop() {
	c.timer = time.NewTimer(time.Hour)
	c.timer.Stop()
	for {
		var head *entry
		select {
		case head = <-c.queue:
		case <-c.done:
			c.drain(errConnGone)
			return
		}
		interval := c.planner.headInterval(head.arrive)
		c.push(head)
		c.fetchReady(c.t.opts.Batch.MaxBatchSize)
		if p := c.planner.plan(c.builder.len(), interval, c.load.Load()); p.Wait {
			c.fetchMore(p)
		}
		c.planner.sent(c.builder.len())
		c.flush()
	}
}

func (c *conn) push(e *entry) {
	c.builder.push(e)
	c.planner.arrived(e.arrive)
}

// fetchReady takes whatever is queued, up to max, without waiting.
func (c *conn) fetchReady(max int) {
	for c.builder.len() < max {
		select {
		case e := <-c.queue:
			c.push(e)
		default:
			return
		}
	}
}

// fetchMore waits up to p.WaitTime for the batch to reach p.WaitSize, then
// takes what else is ready after yielding once (client-go conn_batch.go
// fetchMorePendingRequests).
func (c *conn) fetchMore(p batchPlan) {
	c.timer.Reset(p.WaitTime)
	expired := false
	for !expired && c.builder.len() < p.WaitSize {
		select {
		case e := <-c.queue:
			c.push(e)
		case <-c.timer.C:
			expired = true
		}
	}
	if !expired {
		c.timer.Stop()
	}
	c.fetchReady(c.t.opts.Batch.MaxBatchSize)
	if c.builder.len() < c.t.opts.Batch.MaxBatchSize {
		runtime.Gosched()
		c.fetchReady(c.t.opts.Batch.MaxBatchSize)
	}
}

// flush writes the batch built so far.
func (c *conn) flush() {
	defer c.builder.reset()
	req, es := c.builder.build()
	if len(es) == 0 {
		return
	}
	s, err := c.ensureStream()
	if err != nil {
		for _, e := range es {
			e.fail(causeNoStream, err)
		}
		return
	}
	s.sendMu.Lock()
	if err := s.table.add(req.RequestIds, es); err != nil {
		s.sendMu.Unlock()
		c.dropStream(s)
		for _, e := range es {
			e.fail(causeNoStream, err)
		}
		return
	}
	err = s.cli.Send(req)
	if err != nil {
		taken := s.table.remove(req.RequestIds)
		s.sendMu.Unlock()
		c.t.log.Info("batch send failed", "addr", c.addr, "requests", len(es), "err", err)
		for _, e := range taken {
			e.fail(causeSendFailed, err)
		}
		c.dropStream(s)
		return
	}
	for _, e := range es {
		e.written()
	}
	s.sendMu.Unlock()
	c.t.stats.batches.Add(1)
	c.t.stats.batched.Add(int64(len(es)))
}

// ensureStream returns the live stream, opening one (and its receive loop)
// when there is none. It waits at most DialTimeout for the connection.
func (c *conn) ensureStream() (*stream, error) {
	if s := c.stream.Load(); s != nil {
		return s, nil
	}
	if err := c.waitReady(c.base); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(c.base)
	cli, err := c.tikv.BatchCommands(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open BatchCommands stream: %w", err)
	}
	s := &stream{cli: cli, cancel: cancel, table: newInflight()}
	c.stream.Store(s)
	c.t.stats.streams.Add(1)
	go c.recvLoop(s)
	return s, nil
}

// dropStream retires s if it is still the live stream.
func (c *conn) dropStream(s *stream) {
	c.stream.CompareAndSwap(s, nil)
	s.cancel()
}

// ready reports whether the gRPC connection is ready now.
func (c *conn) ready() bool { return c.cc.GetState() == connectivity.Ready }

// reconnecting reports whether the gRPC connection is trying to connect:
// connecting, or in transient failure waiting out its reconnect backoff.
func (c *conn) reconnecting() bool {
	st := c.cc.GetState()
	return st == connectivity.Connecting || st == connectivity.TransientFailure
}

// waitReady waits until the connection is ready, at most DialTimeout
// (client-go client_batch.go waitConnReady).
func (c *conn) waitReady(ctx context.Context) error {
	st := c.cc.GetState()
	if st == connectivity.Ready {
		return nil
	}
	if st == connectivity.Idle {
		c.cc.Connect()
	}
	ctx, cancel := context.WithTimeout(ctx, c.t.opts.DialTimeout)
	defer cancel()
	for {
		st = c.cc.GetState()
		if st == connectivity.Ready {
			return nil
		}
		if st == connectivity.Shutdown {
			return errConnGone
		}
		if !c.cc.WaitForStateChange(ctx, st) {
			return fmt.Errorf("connection to %s not ready (%v): %w", c.addr, st, ctx.Err())
		}
	}
}

// recvLoop routes s's responses until it fails, then answers every request
// still in flight on it as undetermined (client-go client_batch.go
// batchRecvLoop). The next batch opens a new stream.
func (c *conn) recvLoop(s *stream) {
	for {
		resp, err := s.cli.Recv()
		if err != nil {
			s.sendMu.Lock()
			es := s.table.breakAll()
			s.sendMu.Unlock()
			c.dropStream(s)
			if !c.gone.Load() {
				c.t.log.Info("batch stream failed", "addr", c.addr, "inflight", len(es), "err", err)
			}
			for _, e := range es {
				e.fail(causeStreamBroken, err)
			}
			return
		}
		if fb := resp.GetHealthFeedback(); fb != nil {
			if l := c.t.listener.Load(); l != nil {
				(*l).OnHealthFeedback(fb)
			}
		}
		rs := resp.GetResponses()
		for i, id := range resp.GetRequestIds() {
			var e *entry
			ok := i < len(rs)
			if ok {
				e, ok = s.table.take(id)
			}
			if !ok {
				c.t.stats.unknown.Add(1)
				c.t.log.Warn("response for unknown request id", "addr", c.addr, "id", id)
				continue
			}
			e.respond(rs[i])
		}
		if l := resp.GetTransportLayerLoad(); l > 0 && c.t.opts.Batch.MaxWaitTime > 0 {
			c.load.Store(l)
		}
	}
}

// inflight is the number of requests written on the live stream.
func (c *conn) inflight() int {
	if s := c.stream.Load(); s != nil {
		return s.table.len()
	}
	return 0
}
