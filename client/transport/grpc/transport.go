package grpc

// This file is the request path of the network shell: per-request timers
// and the select that waits for an answer, and the idle sweep (allow-listed
// in internal/guard).

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/transport"
)

// forwardMetadataKey asks the receiving store to forward the request
// (client-go internal/client/client.go forwardMetadataKey).
const forwardMetadataKey = "tikv-forwarded-host"

// maxPicks bounds the connections one request tries when it meets recycled
// ones.
const maxPicks = 3

// Transport is the production transport.Transport over gRPC. It is safe for
// concurrent use. Connections are dialled on first use of an address; the
// send and receive loops of a connection start with its first batched
// request, never in New.
type Transport struct {
	opts     Options
	turbo    TurboOptions
	dialOpts []grpc.DialOption
	log      *slog.Logger

	mu     sync.RWMutex
	pools  map[string]*pool
	closed bool

	lastSweep atomic.Int64
	listener  atomic.Pointer[HealthListener]
	stats     counters
}

var (
	_ transport.Transport  = (*Transport)(nil)
	_ AddrCloser           = (*Transport)(nil)
	_ HealthFeedbackSource = (*Transport)(nil)
)

type counters struct {
	batches, batched, unary, streams, unknown atomic.Int64
}

// Stats are counters since New.
type Stats struct {
	// Batches is the number of BatchCommands messages written, and
	// Batched the requests they carried.
	Batches, Batched int64
	// Unary is the number of requests sent as unary RPCs.
	Unary int64
	// Streams is the number of BatchCommands streams opened.
	Streams int64
	// UnknownResponses counts responses whose request id matched nothing
	// in flight (answered after their stream's requests were failed); they
	// are dropped and logged.
	UnknownResponses int64
}

// New returns a transport configured by opts. It validates opts and builds
// the dial options (reading the TLS files); it dials nothing.
func New(opts Options) (*Transport, error) {
	opts, turbo, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	dial, err := opts.dialOptions()
	if err != nil {
		return nil, err
	}
	t := &Transport{opts: opts, turbo: turbo, dialOpts: dial, log: opts.Logger, pools: map[string]*pool{}}
	t.lastSweep.Store(time.Now().UnixNano())
	return t, nil
}

// Stats returns the transport's counters.
func (t *Transport) Stats() Stats {
	return Stats{
		Batches: t.stats.batches.Load(), Batched: t.stats.batched.Load(), Unary: t.stats.unary.Load(),
		Streams: t.stats.streams.Load(), UnknownResponses: t.stats.unknown.Load(),
	}
}

// SetHealthListener implements HealthFeedbackSource.
func (t *Transport) SetHealthListener(l HealthListener) {
	if l == nil {
		t.listener.Store(nil)
		return
	}
	t.listener.Store(&l)
}

// pool is the connections to one address.
type pool struct {
	mu     sync.Mutex
	conns  []*conn
	next   atomic.Uint32
	closed bool
}

// pick returns a live connection to addr, dialling as needed, and counts it
// active; the caller must call done on it.
//
// Connections are taken round robin, except that one still reconnecting
// (connecting, or waiting out gRPC's reconnect backoff after its store
// went away) is passed over for a ready connection to the same address
// when there is one: a request handed to it would wait for the reconnect
// and, after DialTimeout, fail as not sent although the store is up.
// client-go's batchConn.getClientAndSend likewise skips a client whose
// stream is being re-created (internal/client/conn_batch.go, tryLockForSend).
// A connection not dialled yet is dialled and used; an idle one connects on
// use. With none ready, the round-robin one is used all the same.
func (t *Transport) pick(addr string) (*conn, error) {
	t.mu.RLock()
	p, ok := t.pools[addr]
	closed := t.closed
	t.mu.RUnlock()
	if closed {
		return nil, transport.ErrClosed
	}
	if !ok {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return nil, transport.ErrClosed
		}
		if p, ok = t.pools[addr]; !ok {
			p = &pool{conns: make([]*conn, t.opts.ConnectionCount)}
			t.pools[addr] = p
		}
		t.mu.Unlock()
	}
	i := int(p.next.Add(1)) % len(p.conns)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errConnGone
	}
	c := p.conns[i]
	if c == nil || c.gone.Load() {
		nc, err := t.newConn(addr)
		if err != nil {
			return nil, err
		}
		p.conns[i], c = nc, nc
	} else if c.reconnecting() {
		if r := p.readyFrom(i); r != nil {
			c = r
		}
	}
	c.active.Add(1)
	c.lastUsed.Store(time.Now().UnixNano())
	return c, nil
}

// readyFrom returns the first ready live connection after index i, round
// robin, or nil. p.mu must be held.
func (p *pool) readyFrom(i int) *conn {
	for k := 1; k < len(p.conns); k++ {
		c := p.conns[(i+k)%len(p.conns)]
		if c != nil && !c.gone.Load() && c.ready() {
			return c
		}
	}
	return nil
}

// release ends a request's use of c.
func (c *conn) release() { c.active.Add(-1) }

// SendRequest implements transport.Transport. Commands BatchCommands can
// carry go through a connection's batch stream unless batching is off or
// the request is for another store kind or forwarded; the rest go as unary
// RPCs (tikvrpc.CallRPC). A timeout ≤ 0 means only ctx bounds the wait.
func (t *Transport) SendRequest(ctx context.Context, addr string, req *tikvrpc.Request, timeout time.Duration) (*tikvrpc.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, &transport.SendError{Addr: addr, NotSent: true, Err: err}
	}
	now := time.Now()
	t.maybeSweep(now)
	tikvrpc.AttachContext(req, req.Context)
	if !t.opts.DisableBatch && req.StoreTp == tikvrpc.TiKV && req.ForwardedHost == "" {
		if br := req.ToBatchCommandsRequest(); br != nil {
			return t.sendBatch(ctx, addr, br, now, timeout)
		}
	}
	return t.sendUnary(ctx, addr, req, timeout)
}

func (t *Transport) sendBatch(ctx context.Context, addr string, br *tikvpb.BatchCommandsRequest_Request, now time.Time, timeout time.Duration) (*tikvrpc.Response, error) {
	var timeoutC <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		timeoutC = timer.C
	}
	e := newEntry(br, now)
	var c *conn
	for picks := 0; ; picks++ {
		var err error
		if c, err = t.pick(addr); err == nil {
			if err = c.enqueue(ctx, e, timeoutC); err == nil {
				break
			}
			c.release()
		}
		if !errors.Is(err, errConnGone) || picks+1 >= maxPicks {
			return nil, &transport.SendError{Addr: addr, NotSent: true, Err: err}
		}
	}
	defer c.release()
	select {
	case r := <-e.res:
		return t.answer(addr, r)
	case <-ctx.Done():
		return t.giveUp(addr, e, causeCanceled, ctx.Err())
	case <-timeoutC:
		return t.giveUp(addr, e, causeTimeout, context.DeadlineExceeded)
	}
}

// giveUp ends the caller's wait: not sent if the request was still queued,
// its result if one arrived meanwhile, else undetermined.
func (t *Transport) giveUp(addr string, e *entry, c cause, err error) (*tikvrpc.Response, error) {
	if e.abandon() {
		return nil, &transport.SendError{Addr: addr, NotSent: true, Err: err}
	}
	select {
	case r := <-e.res:
		return t.answer(addr, r)
	default:
	}
	return nil, &transport.SendError{Addr: addr, NotSent: notSent(e.stage(), c), Err: err}
}

func (t *Transport) answer(addr string, r result) (*tikvrpc.Response, error) {
	if r.err != nil {
		return nil, &transport.SendError{Addr: addr, NotSent: r.notSent, Err: r.err}
	}
	resp, err := tikvrpc.FromBatchCommandsResponse(r.resp)
	if err != nil {
		return nil, &transport.SendError{Addr: addr, Err: err}
	}
	return resp, nil
}

// sendUnary sends req as a single RPC on one of addr's connections.
func (t *Transport) sendUnary(ctx context.Context, addr string, req *tikvrpc.Request, timeout time.Duration) (*tikvrpc.Response, error) {
	c, err := t.pick(addr)
	for picks := 1; errors.Is(err, errConnGone) && picks < maxPicks; picks++ {
		c, err = t.pick(addr)
	}
	if err != nil {
		return nil, &transport.SendError{Addr: addr, NotSent: true, Err: err}
	}
	defer c.release()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if err := c.waitReady(ctx); err != nil {
		return nil, &transport.SendError{Addr: addr, NotSent: true, Err: err}
	}
	if req.ForwardedHost != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, forwardMetadataKey, req.ForwardedHost)
	}
	t.stats.unary.Add(1)
	resp, err := tikvrpc.CallRPC(ctx, c.tikv, req)
	if err != nil {
		return nil, &transport.SendError{Addr: addr, NotSent: unaryNotSent(err), Err: err}
	}
	return resp, nil
}

// maybeSweep recycles idle connections at most twice per IdleTimeout.
func (t *Transport) maybeSweep(now time.Time) {
	last := t.lastSweep.Load()
	if !sweepDue(time.Unix(0, last), now, t.opts.IdleTimeout) || !t.lastSweep.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	var idleConns []*conn
	t.mu.Lock()
	addrs := make([]string, 0, len(t.pools))
	for a := range t.pools {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	for _, a := range addrs {
		p := t.pools[a]
		p.mu.Lock()
		live := 0
		for i, c := range p.conns {
			if c == nil || c.gone.Load() {
				continue
			}
			if idle(c.active.Load(), time.Unix(0, c.lastUsed.Load()), now, t.opts.IdleTimeout) && c.inflight() == 0 {
				idleConns = append(idleConns, c)
				p.conns[i] = nil
				continue
			}
			live++
		}
		if live == 0 {
			p.closed = true
			delete(t.pools, a)
		}
		p.mu.Unlock()
	}
	t.mu.Unlock()
	for _, c := range idleConns {
		t.log.Debug("recycle idle connection", "addr", c.addr)
		go c.shutdown(errConnGone)
	}
}

// CloseAddr implements AddrCloser.
func (t *Transport) CloseAddr(addr string) error {
	t.mu.Lock()
	p := t.pools[addr]
	delete(t.pools, addr)
	t.mu.Unlock()
	if p != nil {
		p.close()
	}
	return nil
}

func (p *pool) close() {
	p.mu.Lock()
	conns := p.conns
	p.conns = make([]*conn, len(conns))
	p.closed = true
	p.mu.Unlock()
	for _, c := range conns {
		if c != nil {
			c.shutdown(errConnGone)
		}
	}
}

// Close implements transport.Transport: it closes every connection. Queued
// requests fail as not sent, written ones as undetermined; later sends fail
// with transport.ErrClosed.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	pools := t.pools
	t.pools = map[string]*pool{}
	t.mu.Unlock()
	addrs := make([]string, 0, len(pools))
	for a := range pools {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	for _, a := range addrs {
		pools[a].close()
	}
	return nil
}
