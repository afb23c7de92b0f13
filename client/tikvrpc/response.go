package tikvrpc

import (
	"context"
	"errors"
	"fmt"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"github.com/tikvsim/tikvsim/client/tikverr"
)

// Response is a store's answer to a Request.
type Response struct {
	// Resp is the typed kvproto response, e.g. *kvrpcpb.RawGetResponse.
	Resp any
}

// regionErrorer is what every response with a region error implements.
type regionErrorer interface {
	GetRegionError() *errorpb.Error
}

// GetRegionError returns the region error of the response, nil if there is
// none. A response with no body has none. It fails only for a body that
// cannot carry a region error although it should (an unknown type).
func (resp *Response) GetRegionError() (*errorpb.Error, error) {
	if resp == nil || resp.Resp == nil {
		return nil, nil
	}
	if r, ok := resp.Resp.(regionErrorer); ok {
		return r.GetRegionError(), nil
	}
	switch resp.Resp.(type) {
	case *kvrpcpb.StoreSafeTSResponse, *kvrpcpb.BroadcastTxnStatusResponse, *tikvpb.BatchCommandsEmptyResponse:
		return nil, nil // store-level commands: no region, no region error
	}
	return nil, fmt.Errorf("tikvrpc: response of type %T has no region error", resp.Resp)
}

// GetRegionError is resp.GetRegionError as a function.
func GetRegionError(resp *Response) (*errorpb.Error, error) { return resp.GetRegionError() }

// GetExecDetailsV2 returns the execution details of the response, if it
// carries them.
func (resp *Response) GetExecDetailsV2() *kvrpcpb.ExecDetailsV2 {
	if d, ok := resp.Resp.(interface {
		GetExecDetailsV2() *kvrpcpb.ExecDetailsV2
	}); ok {
		return d.GetExecDetailsV2()
	}
	return nil
}

// GetSize returns the encoded size of the typed response, 0 if unknown.
func (resp *Response) GetSize() int {
	if s, ok := resp.Resp.(interface{ Size() int }); ok {
		return s.Size()
	}
	return 0
}

// RespAs returns the body of resp as T (e.g. *kvrpcpb.RawGetResponse). It
// returns an error wrapping tikverr.ErrBodyMissing if resp has no body, and
// a plain error if the body has another type.
func RespAs[T any](resp *Response) (T, error) {
	var zero T
	if resp == nil || resp.Resp == nil {
		return zero, fmt.Errorf("tikvrpc: want %T: %w", zero, tikverr.ErrBodyMissing)
	}
	t, ok := resp.Resp.(T)
	if !ok {
		return zero, fmt.Errorf("tikvrpc: want %T, response holds %T", zero, resp.Resp)
	}
	return t, nil
}

// GenRegionErrorResp returns an empty response of req's type carrying e, as
// if the store had answered with that region error. It fails for commands
// whose response has no region error.
func GenRegionErrorResp(req *Request, e *errorpb.Error) (*Response, error) {
	if req.Type == CmdEmpty {
		return &Response{}, nil
	}
	if !req.Type.Valid() || cmds[req.Type].errResp == nil {
		return nil, fmt.Errorf("tikvrpc: cannot generate a region error response for %v", req.Type)
	}
	return &Response{Resp: cmds[req.Type].errResp(e)}, nil
}

// ErrUnsupportedCmd is returned by CallRPC for commands it cannot send
// individually.
var ErrUnsupportedCmd = errors.New("tikvrpc: command cannot be sent as a unary RPC")

// CallRPC sends req over a gRPC TiKV client as a unary call. The context
// must already be attached (AttachContext).
func CallRPC(ctx context.Context, client tikvpb.TikvClient, req *Request) (*Response, error) {
	if !req.Type.Valid() || cmds[req.Type].call == nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedCmd, req.Type)
	}
	resp, err := cmds[req.Type].call(ctx, client, req.Req)
	if err != nil {
		return nil, err
	}
	return &Response{Resp: resp}, nil
}
