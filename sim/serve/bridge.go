package serve

// This file is allow-listed in internal/guard: it is the bridge between real
// goroutines (gRPC's handlers, the servers' accept loops) and the real-time
// world. It starts the goroutines, reads the wall clock for default
// deadlines, and waits on channels; nothing else in the package does.

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc"
)

// defaultTimeout bounds a simulated call whose gRPC request has no
// deadline, so that a request lost with a crashed store does not wait
// forever inside the world.
const defaultTimeout = time.Minute

// start runs the world and the gRPC servers on their own goroutines.
func (s *Server) start(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	s.cancel = cancel
	go func() {
		s.runErr = s.w.RunRealtime(ctx)
		if s.runErr != nil {
			s.cfg.Logf("serve: the world failed: %v", s.runErr)
		}
		close(s.ended)
	}()
	// The servers stop with the world (ctx done, or a task panicked).
	go func() {
		<-s.ended
		s.stopServers()
	}()
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	for i, srv := range s.servers {
		s.serve(srv, s.listeners[i])
	}
}

// serve runs srv's accept loop on lis on its own goroutine.
func (s *Server) serve(srv *grpc.Server, lis net.Listener) {
	go func() {
		if err := srv.Serve(lis); err != nil {
			s.cfg.Logf("serve: gRPC server on %s: %v", lis.Addr(), err)
		}
	}()
}

type result struct {
	resp any
	err  error
}

// call sends req over the simulated network from the gRPC client node to
// node to, inside the world, and waits for the answer, for ctx, or for the
// world to end. ctx's deadline (default: defaultTimeout from now) becomes
// the simulated call's deadline.
func (s *Server) call(ctx context.Context, to string, req any) (any, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultTimeout)
	}
	ch := make(chan result, 1)
	// Touched only inside the world: the call's cancel, and whether the
	// caller gave up before the call started.
	var cancelCall context.CancelFunc
	gaveUp := false
	err := s.w.Inject(func() {
		s.w.Spawn(clientNode+"->"+to, func() {
			if gaveUp {
				ch <- result{nil, context.Canceled}
				return
			}
			wctx, cancel := s.w.WithDeadline(context.Background(), deadline)
			cancelCall = cancel
			defer cancel()
			resp, err := s.net.Call(wctx, clientNode, to, req)
			ch <- result{resp, err}
		})
	})
	if err != nil {
		return nil, ErrClosed
	}
	select {
	case r := <-ch:
		return r.resp, r.err
	case <-ctx.Done():
		// The caller is gone: end the simulated call too (a cancelled
		// gRPC call stops waiting; the request may still run).
		_ = s.w.Inject(func() {
			gaveUp = true
			if cancelCall != nil {
				cancelCall()
			}
		})
		return nil, ctx.Err()
	case <-s.ended:
		return nil, ErrClosed
	}
}

// inWorld runs fn in a task of the world and waits for its result.
func (s *Server) inWorld(fn func() error) error {
	ch := make(chan error, 1)
	err := s.w.Inject(func() {
		s.w.Spawn("serve-admin", func() { ch <- fn() })
	})
	if err != nil {
		return ErrClosed
	}
	select {
	case err := <-ch:
		return err
	case <-s.ended:
		return ErrClosed
	}
}

// BatchCommands implements tikvpb.TikvServer: every entry of every message
// is served on its own, concurrently, and answered in its own response
// message as soon as it completes (TiKV answers out of order too; the
// request id pairs them). An entry the store cannot serve is logged and left
// unanswered, as a request lost by the store would be.
func (t *tikvServer) BatchCommands(stream tikvpb.Tikv_BatchCommandsServer) error {
	ctx := stream.Context()
	var sendMu sync.Mutex
	var sendErr error
	var wg sync.WaitGroup
	defer wg.Wait() // no Send may happen after the handler returns
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(msg.RequestIds) != len(msg.Requests) {
			t.s.cfg.Logf("serve: store %d: BatchCommands message with %d requests and %d ids, dropped", t.id, len(msg.Requests), len(msg.RequestIds))
			continue
		}
		for i, r := range msg.Requests {
			id := msg.RequestIds[i]
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp := t.batchOne(ctx, r)
				if resp == nil {
					return
				}
				sendMu.Lock()
				defer sendMu.Unlock()
				if sendErr == nil {
					sendErr = stream.Send(&tikvpb.BatchCommandsResponse{Responses: []*tikvpb.BatchCommandsResponse_Response{resp}, RequestIds: []uint64{id}})
				}
			}()
		}
	}
}
