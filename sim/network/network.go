// Package network is the simulated network: named nodes exchanging request /
// response RPCs and one-way messages on virtual time, with per-link latency,
// drops, duplicates, reordering, partitions and nodes that go down and up.
// Every decision comes from the world's seeded PRNG and every event is
// recorded in the world's trace.
//
// Messages travel by value: a message that implements gogo-protobuf's
// Marshal/Unmarshal (every kvproto message) is marshalled and unmarshalled into
// a fresh value, as on the wire, so a receiver never sees a sender's later
// mutation; other message types must be immutable by contract.
//
// A caller cannot tell a lost request from a lost response: both end in its
// context's deadline, and the error is classified undetermined (the request may
// have run). Only a call to a node that is down at send time fails as not sent,
// after the connect timeout, like a refused TCP connection.
package network

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"time"

	"github.com/tikvsim/tikvsim/internal/invariants"
	"github.com/tikvsim/tikvsim/sim"
)

// Handler serves one request at a node. It runs as its own simulated task;
// ctx is the node's context, cancelled when the node goes down. The returned
// error travels back to the caller unchanged.
type Handler func(ctx context.Context, from string, req any) (resp any, err error)

// Latency is a uniform one-way delay distribution.
type Latency struct {
	Min, Max time.Duration
}

func (l Latency) String() string { return fmt.Sprintf("%v-%v", l.Min, l.Max) }

// Sample draws one delay from the distribution.
func (l Latency) Sample(r *rand.Rand) time.Duration {
	if l.Max <= l.Min {
		return l.Min
	}
	return l.Min + time.Duration(r.Int64N(int64(l.Max-l.Min)+1))
}

// Config sets the network's defaults. The zero value gets the defaults noted.
type Config struct {
	// Latency is the one-way delay of every link without its own
	// (default 100µs-1ms).
	Latency Latency
	// ConnectTimeout is how long a call to a down node takes to fail
	// (default 1s).
	ConnectTimeout time.Duration
	// NoCopy turns off copying of messages (for benchmarks whose messages
	// are never mutated).
	NoCopy bool
}

// Errors of the network. Use IsNotSent and IsUndetermined to classify.
var (
	// ErrUnreachable: the destination was down when the call was made.
	ErrUnreachable = errors.New("network: node unreachable")
	// ErrUnknownNode: the destination was never added.
	ErrUnknownNode = errors.New("network: unknown node")
)

// Error is a failed call, classified by whether the request may have run.
type Error struct {
	From, To string
	// NotSent is true when the request certainly did not reach the
	// destination's handler; otherwise the outcome is undetermined.
	NotSent bool
	Err     error
}

func (e *Error) Error() string {
	cls := "undetermined"
	if e.NotSent {
		cls = "not sent"
	}
	return fmt.Sprintf("network: call %s->%s failed (%s): %v", e.From, e.To, cls, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// IsNotSent reports whether err is a network error for a request that
// certainly did not run.
func IsNotSent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.NotSent
}

// IsUndetermined reports whether err is a network error for a request that
// may or may not have run.
func IsUndetermined(err error) bool {
	var e *Error
	return errors.As(err, &e) && !e.NotSent
}

type link struct{ from, to string }

type node struct {
	name        string
	handler     Handler
	up          bool
	incarnation uint64
	ctx         context.Context
	cancel      context.CancelFunc
}

// Network connects the nodes of one World.
type Network struct {
	w       *sim.World
	rng     *rand.Rand
	cfg     Config
	nodes   map[string]*node
	blocked map[link]bool
	latency map[link]Latency
	drop    float64
	dup     float64
	reorder float64
	msgSeq  uint64
}

// New returns a network on world w.
func New(w *sim.World, cfg Config) *Network {
	if cfg.Latency == (Latency{}) {
		cfg.Latency = Latency{100 * time.Microsecond, time.Millisecond}
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = time.Second
	}
	return &Network{
		w:       w,
		rng:     w.Rand("network"),
		cfg:     cfg,
		nodes:   make(map[string]*node),
		blocked: make(map[link]bool),
		latency: make(map[link]Latency),
	}
}

// AddNode adds a node that serves requests with h (nil for a node that only
// makes calls). The node starts up.
func (n *Network) AddNode(name string, h Handler) {
	invariants.Assert(n.nodes[name] == nil, "node %q added twice", name)
	nd := &node{name: name, handler: h, up: true}
	nd.ctx, nd.cancel = context.WithCancel(context.Background())
	n.nodes[name] = nd
}

// SetHandler replaces the handler of node name.
func (n *Network) SetHandler(name string, h Handler) error {
	nd, ok := n.nodes[name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownNode, name)
	}
	nd.handler = h
	return nil
}

// IsUp reports whether node name exists and is up.
func (n *Network) IsUp(name string) bool {
	nd, ok := n.nodes[name]
	return ok && nd.up
}

// SetUp brings node name up or down. Going down cancels the context of its
// running handlers, drops every message in flight to it and every response
// its handlers have not yet sent.
func (n *Network) SetUp(name string, up bool) error {
	nd, ok := n.nodes[name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownNode, name)
	}
	if nd.up == up {
		return nil
	}
	nd.up = up
	nd.incarnation++
	if up {
		nd.ctx, nd.cancel = context.WithCancel(context.Background())
	} else {
		nd.cancel()
	}
	return nil
}

// Blocked reports whether messages from one node to another are dropped by a
// partition.
func (n *Network) Blocked(from, to string) bool { return n.blocked[link{from, to}] }

func (n *Network) block(from, to string) { n.blocked[link{from, to}] = true }

func (n *Network) record(event, detail string, id uint64) {
	n.w.Record(sim.KindNet, event, detail, id)
}

// call is the state of one RPC on the caller's side.
type call struct {
	ev   *sim.Event
	resp any
	err  error
}

func (c *call) complete(resp any, err error) {
	if c.ev.Fired() {
		return // a duplicate's response, or one after a not-sent failure
	}
	c.resp, c.err = resp, err
	c.ev.Fire()
}

// Call sends req from one node to another and waits for the response or for
// ctx to be done. It must be called from a simulated task.
func (n *Network) Call(ctx context.Context, from, to string, req any) (any, error) {
	n.msgSeq++
	id := n.msgSeq
	dst, ok := n.nodes[to]
	if !ok {
		return nil, &Error{From: from, To: to, NotSent: true, Err: ErrUnknownNode}
	}
	c := &call{ev: n.w.NewEvent()}
	req = n.copy(req)
	if !dst.up {
		n.record("refused", from+"->"+to, id)
		n.w.AfterFunc(n.cfg.ConnectTimeout, func() {
			c.complete(nil, &Error{From: from, To: to, NotSent: true, Err: ErrUnreachable})
		})
	} else {
		n.record("send", from+"->"+to, id)
		n.transmit(from, to, id, func() { n.serve(dst, from, id, req, c) })
	}
	if err := c.ev.Wait(ctx); err != nil {
		n.record("timeout", from+"->"+to, id)
		return nil, &Error{From: from, To: to, Err: err}
	}
	return c.resp, c.err
}

// Send delivers msg one way to node to's handler, whose response is dropped.
func (n *Network) Send(from, to string, msg any) {
	n.msgSeq++
	id := n.msgSeq
	dst, ok := n.nodes[to]
	if !ok || !dst.up {
		n.record("lost", from+"->"+to, id)
		return
	}
	msg = n.copy(msg)
	n.record("send", from+"->"+to, id)
	n.transmit(from, to, id, func() { n.serve(dst, from, id, msg, nil) })
}

// serve runs dst's handler for one delivered request in a new task and sends
// the response back to c (nil for one-way messages).
func (n *Network) serve(dst *node, from string, id uint64, req any, c *call) {
	if dst.handler == nil {
		n.record("nohandler", dst.name, id)
		return
	}
	inc, ctx, h := dst.incarnation, dst.ctx, dst.handler
	n.w.Spawn(dst.name, func() {
		resp, err := h(ctx, from, n.copy(req))
		if c == nil {
			return
		}
		if dst.incarnation != inc || !dst.up {
			n.record("lostresp", dst.name+"->"+from, id)
			return
		}
		resp = n.copy(resp)
		n.transmit(dst.name, from, id, func() { c.complete(resp, err) })
	})
}

// transmit carries one message across the link from->to and runs deliver at
// the destination, unless a fault loses it. It may deliver twice (duplicate).
func (n *Network) transmit(from, to string, id uint64, deliver func()) {
	l := link{from, to}
	if n.blocked[l] {
		n.record("drop-partition", from+"->"+to, id)
		return
	}
	if n.drop > 0 && n.rng.Float64() < n.drop {
		n.record("drop", from+"->"+to, id)
		return
	}
	copies := 1
	if n.dup > 0 && n.rng.Float64() < n.dup {
		copies = 2
		n.record("dup", from+"->"+to, id)
	}
	lat, ok := n.latency[l]
	if !ok {
		lat = n.cfg.Latency
	}
	for range copies {
		d := lat.Sample(n.rng)
		if n.reorder > 0 && n.rng.Float64() < n.reorder {
			d += lat.Sample(n.rng) * time.Duration(1+n.rng.IntN(10))
		}
		n.w.AfterFunc(d, func() {
			if n.blocked[l] {
				n.record("drop-partition", from+"->"+to, id)
				return
			}
			if nd := n.nodes[to]; nd != nil && !nd.up {
				n.record("drop-down", from+"->"+to, id)
				return
			}
			n.record("deliver", from+"->"+to, id)
			deliver()
		})
	}
}

// marshaler is what gogo-protobuf generates for every kvproto message.
type marshaler interface {
	Marshal() ([]byte, error)
	Unmarshal([]byte) error
}

func (n *Network) copy(m any) any {
	if n.cfg.NoCopy || m == nil {
		return m
	}
	mm, ok := m.(marshaler)
	if !ok {
		return m
	}
	v := reflect.ValueOf(m)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return m
	}
	b, err := mm.Marshal()
	if err != nil {
		panic(fmt.Sprintf("network: marshal %T: %v", m, err))
	}
	out := reflect.New(v.Type().Elem()).Interface().(marshaler)
	if err := out.Unmarshal(b); err != nil {
		panic(fmt.Sprintf("network: unmarshal %T: %v", m, err))
	}
	return out
}
