// Package resourcecontrol is the client side of TiKV resource control: the
// request-unit (RU) accounting hook the request sender calls around every
// RPC of a request that belongs to a resource group, and the request and
// response facts it charges by. It mirrors client-go's
// internal/resourcecontrol (resource_control.go) and the resource-control
// half of its interceptedClient (internal/client/client_interceptor.go),
// with PD's ResourceGroupKVInterceptor narrowed to the two calls the client
// makes.
//
// How a request is charged, per attempt (each transport call):
//
//  1. The request's resource group is its
//     kvrpcpb.Context.ResourceControlContext.ResourceGroupName, filled from
//     util.WithResourceGroupName when the request has none. No group, no
//     KVInterceptor (neither the context's nor the client's), a request
//     source containing "internal_others" (RequestInfo.Bypass), or a
//     background request (BackgroundChecker): nothing is charged.
//  2. OnRequestWait is called with the request's RequestInfo before the
//     request is sent. It may wait for tokens; an error fails the request
//     without sending it. Its Penalty goes to the request's
//     ResourceControlContext.Penalty and its Priority to OverridePriority
//     when the request has none.
//  3. The RPC interceptors and the transport run.
//  4. If a response came back (region error or not), OnResponse is called
//     with its ResponseInfo. It cannot fail the request: the store has run
//     it. When the transport failed, nothing is settled.
//  5. What both calls charged and made the request wait is added to the
//     util.RUDetails bound to the context, if any.
//
// Unlike client-go, there is no process-wide switch or interceptor: a
// KVInterceptor is bound to a context (WithKVInterceptor), or set for all
// of a client's requests on its request sender, and it applies to raw KV
// requests as well as transactional ones.
//
// PD's resource group controller (github.com/tikv/pd/client/
// resource_group/controller, not imported by this module) plugs in with a
// small adapter in production code; RequestInfo and ResponseInfo have the
// methods of PD's interfaces but AccessLocationType. The controller reads
// the wall clock and runs goroutines, so it has no place in a simulation.
//
//	type pdRC struct{ c controller.ResourceGroupKVInterceptor }
//	type pdReq struct{ *resourcecontrol.RequestInfo }
//
//	func (pdReq) AccessLocationType() controller.AccessLocationType { return controller.AccessUnknown }
//
//	func (p pdRC) OnRequestWait(ctx context.Context, g string, r *resourcecontrol.RequestInfo) (resourcecontrol.Admission, error) {
//		c, pen, wait, prio, err := p.c.OnRequestWait(ctx, g, pdReq{r})
//		return resourcecontrol.Admission{Consumption: c, Penalty: pen, Wait: wait, Priority: prio}, err
//	}
//
//	func (p pdRC) OnResponse(ctx context.Context, g string, r *resourcecontrol.RequestInfo, resp *resourcecontrol.ResponseInfo) (*rmpb.Consumption, time.Duration) {
//		c, wait, _ := p.c.OnResponseWait(ctx, g, pdReq{r}, resp) // the response stands either way
//		return c, wait
//	}
//
//	func (p pdRC) IsBackgroundRequest(ctx context.Context, g, src string) bool {
//		return p.c.IsBackgroundRequest(ctx, g, src)
//	}
package resourcecontrol

import (
	"context"
	"strings"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	rmpb "github.com/pingcap/kvproto/pkg/resource_manager"

	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/util"
)

// KVInterceptor charges the requests of resource groups: PD's resource
// group controller (controller.ResourceGroupKVInterceptor) seen through the
// two calls the client makes. Implementations must be safe for concurrent
// use and must wait only on the client's runtime (in the simulator, on the
// simulated clock), never on the wall clock.
type KVInterceptor interface {
	// OnRequestWait is called before each attempt of a request of group. It
	// may block until the group can afford the request or ctx is done. An
	// error fails the request; it is not sent.
	OnRequestWait(ctx context.Context, group string, req *RequestInfo) (Admission, error)
	// OnResponse is called after each attempt that got a response. It
	// returns what the response cost and how long it waited to pay for it
	// (PD's OnResponseWait); it cannot fail the request.
	OnResponse(ctx context.Context, group string, req *RequestInfo, resp *ResponseInfo) (consumption *rmpb.Consumption, wait time.Duration)
}

// BackgroundChecker is an optional KVInterceptor capability: a request for
// which IsBackgroundRequest is true is not charged by the client (TiKV
// accounts background work itself). Without it no request is background.
type BackgroundChecker interface {
	// IsBackgroundRequest reports whether requests of group coming from
	// requestSource (the wire form) are background work.
	IsBackgroundRequest(ctx context.Context, group, requestSource string) bool
}

// Admission is what OnRequestWait granted one attempt.
type Admission struct {
	// Consumption is what the request was charged up front (added to
	// util.RUDetails).
	Consumption *rmpb.Consumption
	// Penalty is sent to TiKV as ResourceControlContext.Penalty.
	Penalty *rmpb.Consumption
	// Wait is how long the request waited for tokens.
	Wait time.Duration
	// Priority is the group's priority, sent as
	// ResourceControlContext.OverridePriority unless the request sets one.
	Priority uint32
}

type ctxKey struct{}

// WithKVInterceptor returns a copy of ctx whose requests are charged through
// rc, in place of any KVInterceptor the client was given. A nil rc turns
// charging off for ctx.
func WithKVInterceptor(ctx context.Context, rc KVInterceptor) context.Context {
	return context.WithValue(ctx, ctxKey{}, kvInterceptorBox{rc})
}

// KVInterceptorFromCtx returns the KVInterceptor bound to ctx and whether
// one is bound (a bound nil means "no charging").
func KVInterceptorFromCtx(ctx context.Context) (KVInterceptor, bool) {
	b, ok := ctx.Value(ctxKey{}).(kvInterceptorBox)
	return b.rc, ok
}

// kvInterceptorBox lets a nil KVInterceptor be bound.
type kvInterceptorBox struct{ rc KVInterceptor }

// RequestInfo is what a request costs before it is sent: whether it writes
// and how many bytes, where it goes, how big it is (client-go
// internal/resourcecontrol RequestInfo; its methods match PD's
// controller.RequestInfo but AccessLocationType, which this client does not
// track).
type RequestInfo struct {
	// writeBytes is the bytes written for a write, -1 for a read.
	writeBytes    int64
	storeID       uint64
	replicaNumber int64
	requestSize   uint64
	requestSource string
	bypass        bool
}

// shouldBypass reports whether req is exempt from resource control: an
// internal request of type "others" (client-go shouldBypass, classic TiKV
// rules; the NextGen analyze bypass concerns coprocessor requests, which
// this client does not send).
func shouldBypass(req *tikvrpc.Request) bool {
	return strings.Contains(req.RequestSource, util.InternalRequestPrefix+util.InternalTxnOthers)
}

// MakeRequestInfo returns the RequestInfo of req as it will be sent (its
// context's peer names the store).
//
// Write bytes, as in client-go: a prewrite counts its mutations' keys and
// values, the primary lock and the secondaries; a commit counts its keys;
// other transactional writes count 0. Unlike client-go (whose raw KV client
// has no resource control), raw writes count what they write: keys and
// values of puts and compare-and-swaps, keys of deletes.
func MakeRequestInfo(req *tikvrpc.Request) *RequestInfo {
	info := &RequestInfo{
		writeBytes:    -1,
		storeID:       req.Context.GetPeer().GetStoreId(),
		requestSize:   uint64(req.GetSize()),
		requestSource: req.RequestSource,
		bypass:        shouldBypass(req),
	}
	if !req.IsTxnWriteRequest() && !req.IsRawWriteRequest() {
		return info
	}
	info.replicaNumber = req.ReplicaNumber
	var n int
	switch r := req.Req.(type) {
	case *kvrpcpb.PrewriteRequest:
		for _, m := range r.GetMutations() {
			n += len(m.GetKey()) + len(m.GetValue())
		}
		n += len(r.GetPrimaryLock())
		for _, l := range r.GetSecondaries() {
			n += len(l)
		}
	case *kvrpcpb.CommitRequest:
		for _, k := range r.GetKeys() {
			n += len(k)
		}
	case *kvrpcpb.RawPutRequest:
		n = len(r.GetKey()) + len(r.GetValue())
	case *kvrpcpb.RawBatchPutRequest:
		for _, p := range r.GetPairs() {
			n += len(p.GetKey()) + len(p.GetValue())
		}
	case *kvrpcpb.RawCASRequest:
		n = len(r.GetKey()) + len(r.GetValue())
	case *kvrpcpb.RawDeleteRequest:
		n = len(r.GetKey())
	case *kvrpcpb.RawBatchDeleteRequest:
		for _, k := range r.GetKeys() {
			n += len(k)
		}
	}
	info.writeBytes = int64(n)
	return info
}

// IsWrite reports whether the request writes.
func (r *RequestInfo) IsWrite() bool { return r.writeBytes > -1 }

// WriteBytes returns the bytes the request writes, 0 for a read.
func (r *RequestInfo) WriteBytes() uint64 {
	if r.writeBytes > 0 {
		return uint64(r.writeBytes)
	}
	return 0
}

// ReplicaNumber returns the region's replica count for a write (writes are
// charged per replica), 0 for a read.
func (r *RequestInfo) ReplicaNumber() int64 { return r.replicaNumber }

// StoreID returns the store the request is sent to, 0 if unknown.
func (r *RequestInfo) StoreID() uint64 { return r.storeID }

// RequestSize returns the encoded size of the request body.
func (r *RequestInfo) RequestSize() uint64 { return r.requestSize }

// RequestSource returns the request's source, wire form.
func (r *RequestInfo) RequestSource() string { return r.requestSource }

// Bypass reports whether the request is exempt from resource control.
func (r *RequestInfo) Bypass() bool { return r.bypass }

// ResponseInfo is what a response costs: the bytes the store read for it,
// its KV CPU time and its size (client-go internal/resourcecontrol
// ResponseInfo; its methods match PD's controller.ResponseInfo).
type ResponseInfo struct {
	readBytes uint64
	kvCPU     time.Duration
	respSize  uint64
}

// MakeResponseInfo returns the ResponseInfo of resp, as client-go computes
// it for classic TiKV: for Get and BatchGet the read bytes are the
// processed versions' size of the scan details (0 without details); for
// Scan the response size; the KV CPU is the process wall time of the time
// details. Beyond client-go, raw reads (RawGet, RawBatchGet, RawScan,
// RawBatchScan), which carry no execution details, are charged their
// response size as read bytes. Other responses cost nothing.
func MakeResponseInfo(resp *tikvrpc.Response) *ResponseInfo {
	if resp == nil || resp.Resp == nil {
		return &ResponseInfo{}
	}
	var (
		readBytes uint64
		details   *kvrpcpb.ExecDetailsV2
	)
	switch r := resp.Resp.(type) {
	case *kvrpcpb.GetResponse:
		details = r.GetExecDetailsV2()
	case *kvrpcpb.BatchGetResponse:
		details = r.GetExecDetailsV2()
	case *kvrpcpb.ScanResponse:
		readBytes = uint64(r.Size())
	case *kvrpcpb.RawGetResponse, *kvrpcpb.RawBatchGetResponse, *kvrpcpb.RawScanResponse, *kvrpcpb.RawBatchScanResponse:
		readBytes = uint64(resp.GetSize())
	default:
		return &ResponseInfo{}
	}
	if sd := details.GetScanDetailV2(); sd != nil {
		readBytes = sd.GetProcessedVersionsSize()
	}
	return &ResponseInfo{readBytes: readBytes, kvCPU: kvCPU(details), respSize: uint64(resp.GetSize())}
}

// kvCPU returns the process wall time of details (client-go getKVCPU).
func kvCPU(d *kvrpcpb.ExecDetailsV2) time.Duration {
	if td := d.GetTimeDetailV2(); td != nil {
		return time.Duration(td.GetProcessWallTimeNs())
	}
	if td := d.GetTimeDetail(); td != nil {
		return time.Duration(td.GetProcessWallTimeMs()) * time.Millisecond
	}
	return 0
}

// ReadBytes returns the bytes read for the response.
func (r *ResponseInfo) ReadBytes() uint64 { return r.readBytes }

// KVCPU returns the store's KV CPU time for the request.
func (r *ResponseInfo) KVCPU() time.Duration { return r.kvCPU }

// Succeed reports whether the request succeeded; always true, as in
// client-go (a response arrived).
func (r *ResponseInfo) Succeed() bool { return true }

// ResponseSize returns the encoded size of the response body.
func (r *ResponseInfo) ResponseSize() uint64 { return r.respSize }
