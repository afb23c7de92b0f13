// Package interceptor decorates the RPCs the client sends to TiKV: an
// RPCInterceptor wraps the function that sends one request and may act
// before and after it, replace the request, answer it itself or fail it.
// It mirrors client-go's tikvrpc/interceptor (interceptor.go), and the
// request sender applies it the way client-go's interceptedClient does
// (internal/client/client_interceptor.go): once per attempt, around the
// transport call, for every request whose context carries an interceptor
// (WithRPCInterceptor), raw KV and transactional alike.
//
// Where an interceptor runs: on the task that sends the request,
// synchronously, between the region lookup and the transport. Requests the
// client sends from its own background tasks under a context of its own (a
// transaction's secondary commits and heartbeats, as in client-go) are
// intercepted only if that context carries the interceptor. It sees the request in user keys (before the API codec
// encodes it) with the region context already set, and the decoded
// response. It must not start goroutines or read the wall clock: in the
// simulator it runs inside the deterministic world, and whatever it does
// becomes part of the run (the determinism contract of
// docs/architecture.md). An interceptor may block only on the client's
// runtime (rt.Runtime), never on plain channels.
//
// Errors: what an interceptor returns is what the sender sees from the
// transport. An error that is not a *transport.SendError is treated as
// undetermined (the request may have run): raw writes then fail with an
// undetermined error instead of being retried. An interceptor that refuses
// a request without sending it should return a *transport.SendError with
// NotSent set.
package interceptor

import (
	"context"

	"github.com/tikvsim/tikvsim/client/tikvrpc"
)

// RPCInterceptorFunc sends req to the store at target (its address) and
// returns the store's response. It is what an interceptor wraps and what it
// returns.
type RPCInterceptorFunc func(target string, req *tikvrpc.Request) (*tikvrpc.Response, error)

// RPCInterceptor decorates RPCs. Wrap returns a function that runs its own
// logic around next; it is called once per RPC attempt, so it may capture
// per-attempt state. Name identifies the interceptor in a chain: linking a
// second interceptor with the same name replaces the first.
type RPCInterceptor interface {
	// Name returns the interceptor's name.
	Name() string
	// Wrap returns the decorated sending function.
	Wrap(next RPCInterceptorFunc) RPCInterceptorFunc
}

// funcInterceptor is an RPCInterceptor built from a name and a wrap func.
type funcInterceptor struct {
	name string
	fn   func(next RPCInterceptorFunc) RPCInterceptorFunc
}

func (i *funcInterceptor) Name() string { return i.name }

func (i *funcInterceptor) Wrap(next RPCInterceptorFunc) RPCInterceptorFunc { return i.fn(next) }

// NewRPCInterceptor returns the interceptor named name whose Wrap is fn.
func NewRPCInterceptor(name string, fn func(next RPCInterceptorFunc) RPCInterceptorFunc) RPCInterceptor {
	return &funcInterceptor{name: name, fn: fn}
}

// RPCInterceptorChain combines interceptors into one, as an onion: they run
// in link order on the way to the store and in reverse order on the way
// back (the first linked sees the request first and the response last).
// Names are unique in a chain: linking an interceptor whose name is already
// present removes the earlier one and appends the new one at the end.
// A chain is not safe for concurrent Link calls; Wrap may be called
// concurrently once the chain is built.
type RPCInterceptorChain struct {
	chain []RPCInterceptor
}

// NewRPCInterceptorChain returns an empty chain.
func NewRPCInterceptorChain() *RPCInterceptorChain { return &RPCInterceptorChain{} }

// Len returns the number of interceptors in the chain.
func (c *RPCInterceptorChain) Len() int { return len(c.chain) }

// Link appends it to the chain and returns the chain. A chain passed as it
// is flattened: its interceptors are linked one by one, in order. An
// interceptor with the name of one already linked replaces it (the old one
// is removed, the new one goes last).
func (c *RPCInterceptorChain) Link(it RPCInterceptor) *RPCInterceptorChain {
	if sub, ok := it.(*RPCInterceptorChain); ok {
		for _, i := range sub.chain {
			c.Link(i)
		}
		return c
	}
	for i := range c.chain {
		if c.chain[i].Name() == it.Name() {
			c.chain = append(c.chain[:i], c.chain[i+1:]...)
			break
		}
	}
	c.chain = append(c.chain, it)
	return c
}

// Name returns "interceptor-chain" (client-go's name for every chain).
func (c *RPCInterceptorChain) Name() string { return "interceptor-chain" }

// Wrap returns next decorated by every interceptor of the chain, the first
// linked outermost.
func (c *RPCInterceptorChain) Wrap(next RPCInterceptorFunc) RPCInterceptorFunc {
	for n := len(c.chain) - 1; n >= 0; n-- {
		next = c.chain[n].Wrap(next)
	}
	return next
}

// ChainRPCInterceptors returns a new chain of first followed by rest, with
// the chain rules (flattening, one interceptor per name, the last linked
// wins). Its arguments are not modified, so chains built from a shared
// interceptor never race.
func ChainRPCInterceptors(first RPCInterceptor, rest ...RPCInterceptor) RPCInterceptor {
	chain := NewRPCInterceptorChain()
	chain.Link(first)
	for _, it := range rest {
		chain.Link(it)
	}
	return chain
}

type ctxKey struct{}

// WithRPCInterceptor returns a copy of ctx carrying it. If ctx already
// carries an interceptor, the new one is chained after it
// (ChainRPCInterceptors(old, it)): the outer context's interceptors run
// first, and one with the same name as an earlier one replaces it.
func WithRPCInterceptor(ctx context.Context, it RPCInterceptor) context.Context {
	if old := GetRPCInterceptorFromCtx(ctx); old != nil {
		it = ChainRPCInterceptors(old, it)
	}
	return context.WithValue(ctx, ctxKey{}, it)
}

// GetRPCInterceptorFromCtx returns the interceptor WithRPCInterceptor bound
// to ctx, nil if none.
func GetRPCInterceptorFromCtx(ctx context.Context) RPCInterceptor {
	it, _ := ctx.Value(ctxKey{}).(RPCInterceptor)
	return it
}
