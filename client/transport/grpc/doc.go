// Package grpc is the production transport.Transport: it talks to TiKV
// stores over gRPC, batching requests on tikvpb.Tikv/BatchCommands streams
// as client-go's internal/client does.
//
// It owns, per store address, ConnectionCount gRPC connections (dialled on
// first use, recycled after IdleTimeout without use). Each connection has a
// queue, a send loop that groups queued requests into one
// BatchCommandsRequest with per-connection request ids, and one stream whose
// receive loop routes each response to its request by id. When a stream
// fails, every request written on it is answered as undetermined and the
// next batch opens a new stream; requests still queued are unaffected.
// Commands BatchCommands cannot carry, forwarded requests, and requests for
// non-TiKV stores go as unary RPCs (tikvrpc.CallRPC). TLS, keepalive,
// compression, flow-control windows and batch policy come from Options.
//
// Errors are *transport.SendError, classified as the transport package
// requires: not sent when the request was never handed to a stream (still
// queued, no connection, the stream refused the write, the caller gave up
// while it was queued), undetermined once a stream accepted it or a unary
// call was attempted.
//
// Layout: the decisions are pure code with no goroutines, clock or I/O and
// are unit-tested alone — batch policies and the batch planner
// (policy.go), request stages, failure classification, id allocation and
// the in-flight table (entry.go), options, TLS and the codec (options.go).
// conn.go and transport.go are the shell that adds goroutines, timers and
// channel selects; they are allow-listed in internal/guard. The transport is
// never used under the simulator, which supplies its own transport.
//
// Differences from client-go: one send loop per connection instead of one
// per address; a failed stream is re-opened by the next batch rather than
// eagerly by its receive loop with backoff; forwarded requests go as unary
// calls; an invalid batch policy is an error from New, not a warning.
//
// Optional capabilities, found by type assertion on a transport.Transport:
// AddrCloser (drop one store's connections) and HealthFeedbackSource (store
// health feedback). The helpers CloseAddr and SetHealthListener return
// ErrSkip when a transport lacks them.
package grpc
