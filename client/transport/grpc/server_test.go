package grpc

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/tikvsim/tikvsim/client/tikvrpc"
)

// fakeTikv is an in-process tikvpb.TikvServer: a map answering RawGet,
// RawPut and RawCompareAndSwap, unary or batched. Keys with special
// prefixes script stream behaviour:
//
//	hold-*  never answered
//	half-*  the first two are answered, the fourth closes the stream
//	ghost-* preceded by a response for an unknown request id
//	boom    closes the stream without answering
//	health  answered with health feedback attached
type fakeTikv struct {
	tikvpb.UnimplementedTikvServer

	mu       sync.Mutex
	data     map[string][]byte
	batches  []int // size of every received BatchCommands message
	received int   // batched requests received
	half     int
	streams  int
	arrived  chan string // receives hold-* keys as they arrive, if set
}

func newFakeTikv() *fakeTikv { return &fakeTikv{data: map[string][]byte{}} }

func (f *fakeTikv) rawGet(r *kvrpcpb.RawGetRequest) *kvrpcpb.RawGetResponse {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.data[string(r.Key)]
	return &kvrpcpb.RawGetResponse{Value: v, NotFound: !ok}
}

func (f *fakeTikv) rawPut(r *kvrpcpb.RawPutRequest) *kvrpcpb.RawPutResponse {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data[string(r.Key)] = append([]byte(nil), r.Value...)
	return &kvrpcpb.RawPutResponse{}
}

func (f *fakeTikv) RawGet(_ context.Context, r *kvrpcpb.RawGetRequest) (*kvrpcpb.RawGetResponse, error) {
	return f.rawGet(r), nil
}

func (f *fakeTikv) RawPut(_ context.Context, r *kvrpcpb.RawPutRequest) (*kvrpcpb.RawPutResponse, error) {
	return f.rawPut(r), nil
}

func (f *fakeTikv) RawCompareAndSwap(_ context.Context, r *kvrpcpb.RawCASRequest) (*kvrpcpb.RawCASResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	prev, ok := f.data[string(r.Key)]
	succeed := (r.PreviousNotExist && !ok) || (ok && bytes.Equal(prev, r.PreviousValue))
	if succeed {
		f.data[string(r.Key)] = append([]byte(nil), r.Value...)
	}
	return &kvrpcpb.RawCASResponse{Succeed: succeed, PreviousNotExist: !ok, PreviousValue: prev}, nil
}

var errBoom = errors.New("fake: stream closed by server")

func (f *fakeTikv) BatchCommands(s tikvpb.Tikv_BatchCommandsServer) error {
	f.mu.Lock()
	f.streams++
	f.mu.Unlock()
	var sendMu sync.Mutex
	send := func(m *tikvpb.BatchCommandsResponse) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		return s.Send(m)
	}
	for {
		m, err := s.Recv()
		if err != nil {
			return err
		}
		f.mu.Lock()
		f.batches = append(f.batches, len(m.Requests))
		f.received += len(m.Requests)
		f.mu.Unlock()
		out := &tikvpb.BatchCommandsResponse{}
		for i, r := range m.Requests {
			id := m.RequestIds[i]
			req, err := tikvrpc.FromBatchCommandsRequest(r)
			if err != nil {
				return err
			}
			var resp any
			key := ""
			switch q := req.Req.(type) {
			case *kvrpcpb.RawGetRequest:
				key = string(q.Key)
				resp = f.rawGet(q)
			case *kvrpcpb.RawPutRequest:
				key = string(q.Key)
				resp = f.rawPut(q)
			default:
				resp = &tikvpb.BatchCommandsEmptyResponse{}
			}
			switch {
			case strings.HasPrefix(key, "hold-"):
				if f.arrived != nil {
					f.arrived <- key
				}
				continue
			case key == "boom":
				return flushThen(send, out, errBoom)
			case strings.HasPrefix(key, "half-"):
				f.mu.Lock()
				f.half++
				n := f.half
				f.mu.Unlock()
				if n == 4 {
					return flushThen(send, out, errBoom)
				}
				if n > 2 {
					continue
				}
			case strings.HasPrefix(key, "ghost-"):
				ghost := &tikvpb.BatchCommandsResponse{
					RequestIds: []uint64{id + 1<<40},
					Responses:  []*tikvpb.BatchCommandsResponse_Response{(&tikvrpc.Response{Resp: resp}).ToBatchCommandsResponse()},
				}
				if err := send(ghost); err != nil {
					return err
				}
			case key == "health":
				out.HealthFeedback = &kvrpcpb.HealthFeedback{StoreId: 7, FeedbackSeqNo: 1, SlowScore: 42}
			}
			out.RequestIds = append(out.RequestIds, id)
			out.Responses = append(out.Responses, (&tikvrpc.Response{Resp: resp}).ToBatchCommandsResponse())
		}
		if len(out.RequestIds) > 0 || out.HealthFeedback != nil {
			if err := send(out); err != nil {
				return err
			}
		}
	}
}

// flushThen sends the answers collected so far, then ends the stream with
// err: gRPC delivers them before the error status.
func flushThen(send func(*tikvpb.BatchCommandsResponse) error, out *tikvpb.BatchCommandsResponse, err error) error {
	if len(out.RequestIds) > 0 {
		if serr := send(out); serr != nil {
			return serr
		}
	}
	return err
}

func (f *fakeTikv) stats() (batches []int, received, streams int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.batches...), f.received, f.streams
}

// serve starts f on a loopback port and returns its address; the server
// stops when the test ends.
func serve(t testing.TB, f *fakeTikv, creds credentials.TransportCredentials) (string, *grpc.Server) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts := []grpc.ServerOption{
		grpc.ForceServerCodec(codec{}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 0, PermitWithoutStream: true}),
	}
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	srv := grpc.NewServer(opts...)
	tikvpb.RegisterTikvServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String(), srv
}
