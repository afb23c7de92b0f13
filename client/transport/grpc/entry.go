package grpc

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/tikvpb"

	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/internal/invariants"
)

// stage is how far a batched request got. Only the transitions
// queued→abandoned (by the caller), queued→sending (by the send loop) and
// sending→written (by the send loop) happen.
type stage int32

const (
	// stageQueued: in the connection's queue or the batch being built;
	// nothing was written.
	stageQueued stage = iota
	// stageAbandoned: the caller gave up while the request was queued; the
	// send loop skips it.
	stageAbandoned
	// stageSending: claimed by the send loop and handed to the stream.
	stageSending
	// stageWritten: the stream accepted the message carrying it.
	stageWritten
)

func (s stage) String() string {
	switch s {
	case stageQueued:
		return "queued"
	case stageAbandoned:
		return "abandoned"
	case stageSending:
		return "sending"
	case stageWritten:
		return "written"
	}
	return "stage?"
}

// cause is why a batched request failed.
type cause int

const (
	// causeCanceled: the caller's ctx was done.
	causeCanceled cause = iota
	// causeTimeout: the per-request timeout passed.
	causeTimeout
	// causeNoStream: the connection was not ready or the stream could not
	// be opened, so the batch was never handed to a stream.
	causeNoStream
	// causeSendFailed: the stream refused the message. gRPC's client
	// stream queues a message frame only when the write succeeds
	// (internal/transport http2Client.write), so nothing went out.
	causeSendFailed
	// causeStreamBroken: the stream failed after the message was written.
	causeStreamBroken
	// causeClosed: the connection or the transport closed.
	causeClosed
)

func (c cause) String() string {
	switch c {
	case causeCanceled:
		return "canceled"
	case causeTimeout:
		return "timeout"
	case causeNoStream:
		return "no-stream"
	case causeSendFailed:
		return "send-failed"
	case causeStreamBroken:
		return "stream-broken"
	case causeClosed:
		return "closed"
	}
	return "cause?"
}

// notSent classifies a failure: true when the request certainly did not
// reach the store. A request that was never handed to a stream, or whose
// message the stream refused, was not sent; one whose message the stream
// accepted may have run whatever happens next.
func notSent(st stage, c cause) bool {
	switch st {
	case stageQueued, stageAbandoned:
		return true
	case stageSending:
		return c == causeNoStream || c == causeSendFailed
	}
	return false
}

// result is the one answer an entry gets.
type result struct {
	resp *tikvpb.BatchCommandsResponse_Response
	err  error
	// notSent classifies err.
	notSent bool
}

// entry is one request travelling through a connection's batch machinery.
type entry struct {
	req    *tikvpb.BatchCommandsRequest_Request
	arrive time.Time
	st     atomic.Int32
	// res receives exactly one result; its buffer of one means the
	// answering side never blocks, even when the caller has left.
	res chan result
}

func newEntry(req *tikvpb.BatchCommandsRequest_Request, arrive time.Time) *entry {
	return &entry{req: req, arrive: arrive, res: make(chan result, 1)}
}

func (e *entry) stage() stage { return stage(e.st.Load()) }

// claim moves a queued entry to sending and reports whether it did; false
// means the caller abandoned it.
func (e *entry) claim() bool {
	return e.st.CompareAndSwap(int32(stageQueued), int32(stageSending))
}

// abandon moves a queued entry to abandoned and reports whether it did;
// false means the send loop already claimed it.
func (e *entry) abandon() bool {
	return e.st.CompareAndSwap(int32(stageQueued), int32(stageAbandoned))
}

func (e *entry) written() {
	invariants.Assert(e.stage() == stageSending, "entry written from stage %v", e.stage())
	e.st.Store(int32(stageWritten))
}

// fail answers the entry with err, classified from its stage and c.
func (e *entry) fail(c cause, err error) {
	e.res <- result{err: err, notSent: notSent(e.stage(), c)}
}

// respond answers the entry with the store's response.
func (e *entry) respond(r *tikvpb.BatchCommandsResponse_Response) {
	e.res <- result{resp: r}
}

// builder turns queued entries into one BatchCommandsRequest, assigning
// request ids. Ids are unique per connection for its whole life, across
// streams. The message and slices are reused between batches: gRPC has
// marshalled a message by the time Send returns (client-go client_batch.go
// batchCommandsBuilder).
type builder struct {
	lastID  uint64
	pending []*entry
	req     tikvpb.BatchCommandsRequest
	claimed []*entry
}

func (b *builder) push(e *entry) { b.pending = append(b.pending, e) }

func (b *builder) len() int { return len(b.pending) }

// build claims every pending entry the caller has not abandoned and returns
// the message and the claimed entries in id order. Both stay valid until
// reset.
func (b *builder) build() (*tikvpb.BatchCommandsRequest, []*entry) {
	for _, e := range b.pending {
		if !e.claim() {
			continue
		}
		b.lastID++
		invariants.Assert(b.lastID != 0, "request id wrapped")
		b.req.RequestIds = append(b.req.RequestIds, b.lastID)
		b.req.Requests = append(b.req.Requests, e.req)
		b.claimed = append(b.claimed, e)
	}
	invariants.Assert(len(b.req.RequestIds) == len(b.claimed) && len(b.req.Requests) == len(b.claimed),
		"batch of %d ids, %d requests, %d entries", len(b.req.RequestIds), len(b.req.Requests), len(b.claimed))
	return &b.req, b.claimed
}

// reset empties the builder, dropping references so sent requests can be
// collected.
func (b *builder) reset() {
	clear(b.pending)
	b.pending = b.pending[:0]
	clear(b.req.Requests)
	b.req.Requests = b.req.Requests[:0]
	b.req.RequestIds = b.req.RequestIds[:0]
	clear(b.claimed)
	b.claimed = b.claimed[:0]
}

// errStreamBroken marks an add to a stream that already failed.
var errStreamBroken = errors.New("grpc transport: stream broken")

// inflight is a stream's table of written requests by id. The receive loop
// takes entries out as responses arrive; when the stream fails, breakAll
// takes the rest.
type inflight struct {
	mu     sync.Mutex
	m      map[uint64]*entry
	broken bool
}

func newInflight() *inflight { return &inflight{m: make(map[uint64]*entry)} }

// add records entries under ids; it fails once the table is broken.
func (t *inflight) add(ids []uint64, es []*entry) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.broken {
		return errStreamBroken
	}
	invariants.Assert(len(ids) == len(es), "add %d ids for %d entries", len(ids), len(es))
	for i, id := range ids {
		_, dup := t.m[id]
		invariants.Assert(!dup, "request id %d already in flight", id)
		t.m[id] = es[i]
	}
	return nil
}

// take removes and returns the entry for id.
func (t *inflight) take(id uint64) (*entry, bool) {
	t.mu.Lock()
	e, ok := t.m[id]
	if ok {
		delete(t.m, id)
	}
	t.mu.Unlock()
	return e, ok
}

// remove takes the entries of ids that are still present, in ids order.
func (t *inflight) remove(ids []uint64) []*entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*entry
	for _, id := range ids {
		if e, ok := t.m[id]; ok {
			delete(t.m, id)
			out = append(out, e)
		}
	}
	return out
}

// breakAll marks the table broken and takes every entry, in id order.
func (t *inflight) breakAll() []*entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.broken = true
	ids := make([]uint64, 0, len(t.m))
	for id := range t.m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]*entry, len(ids))
	for i, id := range ids {
		out[i] = t.m[id]
	}
	clear(t.m)
	return out
}

// len is the number of entries awaiting a response.
func (t *inflight) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// idle reports whether a connection last used at lastUsed, with active
// requests in progress, should be recycled at now.
func idle(active int64, lastUsed, now time.Time, timeout time.Duration) bool {
	return timeout > 0 && active == 0 && now.Sub(lastUsed) >= timeout
}

// sweepDue reports whether the idle sweep, last run at last, should run at
// now: twice per idle timeout.
func sweepDue(last, now time.Time, timeout time.Duration) bool {
	return timeout > 0 && now.Sub(last) >= timeout/2
}

// unaryNotSent classifies a unary call's error. gRPC does not say whether a
// failed call reached the server, so every error is undetermined except
// CallRPC refusing a command it cannot send.
func unaryNotSent(err error) bool {
	return errors.Is(err, tikvrpc.ErrUnsupportedCmd)
}
