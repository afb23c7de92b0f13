// Package transport is the client's edge to TiKV stores: the Transport
// interface the request sender calls, and the classification of its errors.
//
// A Transport sends one tikvrpc.Request to one store address and returns the
// store's response. Production uses the gRPC transport (BatchCommands streams);
// the simulator passes its own over the simulated network. Optional abilities
// (batching hints, health feedback, ...) are separate interfaces discovered by
// type assertion, so the core stays one method plus Close, in the manner of
// database/sql/driver.
//
// Every error a Transport returns says whether the request may have run:
// IsNotSent(err) means it certainly did not reach the store (safe to retry
// anywhere); any other error is undetermined, and a write whose outcome
// matters must then be reported as undetermined to the user, never as failed
// (client-go error.ErrResultUndetermined).
package transport

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tikvsim/tikvsim/client/tikvrpc"
)

// Transport sends requests to stores.
type Transport interface {
	// SendRequest sends req to the store at addr and waits at most timeout
	// (and no longer than ctx allows) for its response. The response's
	// region error, if any, is data, not an error. Errors are classified by
	// IsNotSent.
	SendRequest(ctx context.Context, addr string, req *tikvrpc.Request, timeout time.Duration) (*tikvrpc.Response, error)
	// Close releases the transport's connections. Later sends fail with
	// ErrClosed.
	Close() error
}

// ErrClosed is returned by a closed Transport.
var ErrClosed = errors.New("transport: closed")

// SendError is a failed send, classified by whether the request may have run.
type SendError struct {
	Addr string
	// NotSent is true when the request certainly did not reach the store.
	NotSent bool
	Err     error
}

func (e *SendError) Error() string {
	cls := "outcome undetermined"
	if e.NotSent {
		cls = "not sent"
	}
	return fmt.Sprintf("send to %s failed (%s): %v", e.Addr, cls, e.Err)
}

// Unwrap returns the cause.
func (e *SendError) Unwrap() error { return e.Err }

// IsNotSent reports whether err says the request certainly did not reach its
// store. Errors other than *SendError count as undetermined, except ctx
// errors returned before anything was sent, which the transport wraps itself.
func IsNotSent(err error) bool {
	var e *SendError
	return errors.As(err, &e) && e.NotSent
}
