package sender

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tikvsim/tikvsim/client/resourcecontrol"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/tikvrpc/interceptor"
	"github.com/tikvsim/tikvsim/client/transport"
	"github.com/tikvsim/tikvsim/client/util"
)

// SetResourceControl makes rc charge every request of a resource group this
// sender sends, unless the request's context binds its own
// (resourcecontrol.WithKVInterceptor). Call it before the sender is used.
// A nil rc (the default) charges nothing.
func (s *Sender) SetResourceControl(rc resourcecontrol.KVInterceptor) { s.rc = rc }

// errNoResponse is returned for an attempt whose interceptor returned
// neither a response nor an error.
var errNoResponse = errors.New("rpc interceptor returned neither a response nor an error")

// refusedError marks an error of the resource controller's OnRequestWait:
// the request was not sent and Send fails with it, without retrying
// (client-go onSendFail does not retry a throttled resource group either).
type refusedError struct {
	group string
	err   error
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("resource group %q refused the request: %v", e.group, e.err)
}

func (e *refusedError) Unwrap() error { return e.err }

// control is what one Send reads from its context, once: the interceptor
// chain and the resource-control hook. The zero value (nothing bound, the
// common case) adds nothing to an attempt.
type control struct {
	it    interceptor.RPCInterceptor
	rc    resourcecontrol.KVInterceptor
	group string
	ru    *util.RUDetails
}

// prepare copies the request settings bound to ctx into req where req has
// none of its own (request source, resource group name, resource group tag,
// or the tagger's tag), and returns what the attempts of this Send apply.
// It allocates only when ctx binds something.
func (s *Sender) prepare(ctx context.Context, req *tikvrpc.Request) control {
	if req.RequestSource == "" && req.InputRequestSource == "" {
		if rs, ok := ctx.Value(util.RequestSourceKey).(util.RequestSource); ok {
			req.RequestSource = rs.GetRequestSource()
		}
	}
	if req.GetResourceGroupName() == "" {
		if name := util.ResourceGroupNameFromCtx(ctx); name != "" {
			req.SetResourceGroupName(name) // copies the context: the caller's is untouched
		}
	}
	if len(req.ResourceGroupTag) == 0 {
		if tag := util.ResourceGroupTagFromCtx(ctx); len(tag) > 0 {
			req.ResourceGroupTag = tag
		} else if tagger := util.ResourceGroupTaggerFromCtx(ctx); tagger != nil {
			tagger(req)
		}
	}
	c := control{it: interceptor.GetRPCInterceptorFromCtx(ctx)}
	group := req.GetResourceGroupName()
	if group == "" {
		return c
	}
	rc, bound := resourcecontrol.KVInterceptorFromCtx(ctx)
	if !bound {
		rc = s.rc
	}
	if rc == nil {
		return c
	}
	c.rc, c.group, c.ru = rc, group, util.RUDetailsFromCtx(ctx)
	return c
}

// call is one attempt: the resource controller's admission, the
// interceptor chain around the transport call, and the settlement of the
// response, in client-go's order (interceptedClient.SendRequest).
func (s *Sender) call(ctx context.Context, c *control, addr string, req *tikvrpc.Request, timeout time.Duration) (*tikvrpc.Response, error) {
	if c.rc == nil && c.it == nil {
		return s.send(ctx, addr, req, timeout)
	}
	var info *resourcecontrol.RequestInfo
	if c.rc != nil && !c.background(ctx, req) {
		if info = resourcecontrol.MakeRequestInfo(req); info.Bypass() {
			info = nil
		}
	}
	if info != nil {
		adm, err := c.rc.OnRequestWait(ctx, c.group, info)
		if err != nil {
			// Not sent: the error says so, for the metrics and the caller.
			return nil, &transport.SendError{Addr: addr, NotSent: true, Err: &refusedError{group: c.group, err: err}}
		}
		// A fresh copy per attempt: the caller may share its
		// ResourceControlContext between requests, and an earlier attempt's
		// typed request, which points to the previous one, may still be
		// read by a batch send loop (see tikvrpc.Request).
		rcc := *req.ResourceControlContext
		rcc.Penalty = adm.Penalty
		if rcc.OverridePriority == 0 {
			// The group's priority, unless the request set one (client-go
			// passes it from the client; see tikv/tikv#15994).
			rcc.OverridePriority = uint64(adm.Priority)
		}
		req.ResourceControlContext = &rcc
		c.ru.Update(adm.Consumption, adm.Wait)
	}
	var resp *tikvrpc.Response
	var err error
	if c.it == nil {
		resp, err = s.send(ctx, addr, req, timeout)
	} else {
		resp, err = c.it.Wrap(func(target string, r *tikvrpc.Request) (*tikvrpc.Response, error) {
			return s.send(ctx, target, r, timeout)
		})(addr, req)
		if resp == nil && err == nil {
			err = errNoResponse
		}
	}
	if info != nil && resp != nil {
		consumption, wait := c.rc.OnResponse(ctx, c.group, info, resourcecontrol.MakeResponseInfo(resp))
		c.ru.Update(consumption, wait)
	}
	return resp, err
}

// background reports whether the resource controller counts req as
// background work, which TiKV charges itself.
func (c *control) background(ctx context.Context, req *tikvrpc.Request) bool {
	b, ok := c.rc.(resourcecontrol.BackgroundChecker)
	return ok && b.IsBackgroundRequest(ctx, c.group, req.RequestSource)
}

// leaderReplica is the replica type of every attempt: the sender routes to
// leaders only (client-go replicaSelector.replicaType).
const leaderReplica = "leader"

// patchRequestSource derives the wire request source from the caller's
// InputRequestSource and the attempt: "leader_<input>" on the first send
// ("stale_leader_<input>" for a stale read), then
// "retry_<first read type>_leader_<input>" (client-go patchRequestSource,
// internal/locate/region_request.go). TiKV's flow control keys on the last
// part.
func patchRequestSource(req *tikvrpc.Request, retry bool) {
	if retry {
		req.RequestSource = "retry_" + req.ReadType + "_" + leaderReplica + "_" + req.InputRequestSource
		return
	}
	if req.StaleRead {
		req.ReadType = "stale_" + leaderReplica
	} else {
		req.ReadType = leaderReplica
	}
	req.RequestSource = req.ReadType + "_" + req.InputRequestSource
}

// SendStore sends a store-level request (one that names no region, such as
// UnsafeDestroyRange) to the store at addr, once: with the settings bound
// to ctx, its RPC interceptors and resource control, through the codec,
// but without region routing or retries, which are the caller's. Its
// errors are the transport's (see transport.IsNotSent) or the resource
// controller's refusal. client-go sends these through the same intercepted
// client as region requests (tikv/kv.go, internal/client/client_interceptor.go).
func (s *Sender) SendStore(ctx context.Context, addr string, req *tikvrpc.Request, timeout time.Duration) (*tikvrpc.Response, error) {
	ctl := s.prepare(ctx, req)
	start := s.now()
	resp, err := s.call(ctx, &ctl, addr, req, timeout)
	s.observe(req, addr, start, resp, err)
	return resp, err
}
