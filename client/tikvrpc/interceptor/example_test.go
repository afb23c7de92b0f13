package interceptor_test

import (
	"context"
	"fmt"

	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/tikvrpc/interceptor"
)

// Interceptors bound to a context run, for every RPC the client sends with
// that context, in the order they were bound, around the transport call.
func ExampleWithRPCInterceptor() {
	logging := func(name string) interceptor.RPCInterceptor {
		return interceptor.NewRPCInterceptor(name, func(next interceptor.RPCInterceptorFunc) interceptor.RPCInterceptorFunc {
			return func(target string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
				fmt.Println("begin", name, req.Type, "to", target)
				defer fmt.Println("end", name)
				return next(target, req)
			}
		})
	}
	ctx := interceptor.WithRPCInterceptor(context.Background(), logging("outer"))
	ctx = interceptor.WithRPCInterceptor(ctx, logging("inner"))

	// What the request sender does for each attempt of a request sent with
	// ctx (rawkv.Client.Get(ctx, ...), KVTxn.Commit(ctx), ...).
	transport := func(target string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
		fmt.Println("send", req.Type)
		return &tikvrpc.Response{}, nil
	}
	it := interceptor.GetRPCInterceptorFromCtx(ctx)
	_, _ = it.Wrap(transport)("store1", tikvrpc.NewRequest(tikvrpc.CmdRawGet, nil))
	// Output:
	// begin outer RawGet to store1
	// begin inner RawGet to store1
	// send RawGet
	// end inner
	// end outer
}
