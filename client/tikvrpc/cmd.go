// Package tikvrpc owns the request envelope every client component speaks:
// a Request is a command type (CmdType), the typed kvproto request, the
// kvrpcpb.Context it will carry (region, epoch, peer, api version, keyspace,
// replica-read and stale-read flags, resource group, request source, ...) and
// the client-side routing options; a Response wraps the typed kvproto
// response. Interceptors, metrics, the request sender and the transports all
// work on these two types, so there is one place to hook.
//
// It mirrors client-go tikvrpc (tikvrpc.go, endpoint.go) for the commands a
// TiKV client sends; coprocessor, MPP, TiFlash, debug and the removed green-GC
// commands are left out. Instead of generated switch statements, each command
// is one row of a table (cmds.go) that knows its name, its gRPC method, where
// its request keeps the Context and where its response keeps the region
// error. There is no global state: client-go's process-wide default request
// origin is a field callers set on the Context.
package tikvrpc

import (
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc"
)

// CmdType names a TiKV command. The zero value is invalid.
type CmdType uint16

// The commands. Numbering is private to this client (it does not match
// client-go's) and may change; use String for anything persisted.
const (
	CmdGet CmdType = 1 + iota
	CmdScan
	CmdPrewrite
	CmdCommit
	CmdCleanup
	CmdBatchGet
	CmdBatchRollback
	CmdScanLock
	CmdResolveLock
	CmdGC
	CmdDeleteRange
	CmdPessimisticLock
	CmdPessimisticRollback
	CmdTxnHeartBeat
	CmdCheckTxnStatus
	CmdCheckSecondaryLocks
	CmdFlashbackToVersion
	CmdPrepareFlashbackToVersion
	CmdFlush
	CmdBufferBatchGet

	CmdRawGet
	CmdRawBatchGet
	CmdRawPut
	CmdRawBatchPut
	CmdRawDelete
	CmdRawBatchDelete
	CmdRawDeleteRange
	CmdRawScan
	CmdRawBatchScan
	CmdRawGetKeyTTL
	CmdRawCompareAndSwap
	CmdRawChecksum

	CmdUnsafeDestroyRange
	CmdStoreSafeTS
	CmdLockWaitInfo
	CmdGetHealthFeedback
	CmdBroadcastTxnStatus

	CmdMvccGetByKey
	CmdMvccGetByStartTs
	CmdSplitRegion

	// CmdEmpty is the BatchCommands keep-alive probe; it has no region.
	CmdEmpty

	cmdEnd // one past the last command
)

// CmdGetKeyTTL is client-go's alias of CmdRawGetKeyTTL.
const CmdGetKeyTTL = CmdRawGetKeyTTL

// Cmds returns every valid CmdType in order.
func Cmds() []CmdType {
	out := make([]CmdType, 0, cmdEnd-1)
	for c := CmdGet; c < cmdEnd; c++ {
		out = append(out, c)
	}
	return out
}

// Valid reports whether t is a known command.
func (t CmdType) Valid() bool { return t >= CmdGet && t < cmdEnd }

// NewReq returns an empty typed request of the command (e.g.
// &kvrpcpb.RawGetRequest{}), nil for an invalid t.
func (t CmdType) NewReq() any {
	if !t.Valid() {
		return nil
	}
	return cmds[t].newReq()
}

// NewResp returns an empty typed response of the command, nil for an
// invalid t.
func (t CmdType) NewResp() any {
	if !t.Valid() {
		return nil
	}
	return cmds[t].newResp()
}

// String returns the command's name, as in client-go ("Get", "RawScan", ...).
func (t CmdType) String() string {
	if !t.Valid() {
		return fmt.Sprintf("Unknown(%d)", uint16(t))
	}
	return cmds[t].name
}

// cmd is one row of the command table.
type cmd struct {
	name string
	// attach stores ctx in the typed request; false if req.Req has the
	// wrong type. Nil for commands without a Context.
	attach func(req *Request, ctx *kvrpcpb.Context) bool
	// errResp returns an empty typed response carrying e. Nil when the
	// response has no region error field.
	errResp func(e *errorpb.Error) any
	// call sends the typed request over gRPC. Nil for CmdEmpty.
	call func(ctx context.Context, c tikvpb.TikvClient, req any) (any, error)
	// newReq and newResp return empty typed messages.
	newReq, newResp func() any
}

// def builds a command row. The request and response types are inferred
// from the gRPC method expression (e.g. tikvpb.TikvClient.KvGet).
func def[Req, Resp any](
	name string,
	method func(tikvpb.TikvClient, context.Context, *Req, ...grpc.CallOption) (*Resp, error),
	ctxOf func(*Req) **kvrpcpb.Context,
	errOf func(*Resp) **errorpb.Error,
) cmd {
	c := cmd{name: name, newReq: func() any { return new(Req) }, newResp: func() any { return new(Resp) }}
	c.call = func(ctx context.Context, cl tikvpb.TikvClient, req any) (any, error) {
		r, ok := req.(*Req)
		if !ok {
			return nil, fmt.Errorf("tikvrpc: %s: request has type %T", name, req)
		}
		return method(cl, ctx, r)
	}
	if ctxOf != nil {
		c.attach = func(req *Request, ctx *kvrpcpb.Context) bool {
			r, ok := req.Req.(*Req)
			if !ok || r == nil {
				return false
			}
			if req.rev > 0 {
				// The previous version may still be read by a batch
				// send loop: patch a shallow copy instead.
				cp := *r
				r = &cp
				req.Req = r
			}
			*ctxOf(r) = ctx
			req.rev++
			return true
		}
	}
	if errOf != nil {
		c.errResp = func(e *errorpb.Error) any {
			resp := new(Resp)
			*errOf(resp) = e
			return resp
		}
	}
	return c
}
