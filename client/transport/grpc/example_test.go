package grpc_test

import (
	"fmt"
	"time"

	"github.com/tikvsim/tikvsim/client/transport"
	"github.com/tikvsim/tikvsim/client/transport/grpc"
)

// ExampleNew builds a transport without TLS, with four connections per
// store and the positive batch policy; nothing is dialled until the first
// request. Pass it to rawkv.WithTransport or txnkv.WithTransport.
func ExampleNew() {
	tr, err := grpc.New(grpc.Options{
		ConnectionCount: 4,
		KeepAliveTime:   10 * time.Second,
		Compression:     "gzip",
		Batch:           grpc.BatchOptions{Policy: grpc.BatchPolicyPositive, MaxBatchSize: 128},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tr.Close()
	var _ transport.Transport = tr
	_, canCloseAddr := any(tr).(grpc.AddrCloser)
	fmt.Println("closes single stores:", canCloseAddr)
	// Output: closes single stores: true
}
