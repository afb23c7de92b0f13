package grpc

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkRawGet compares batched BatchCommands sends with a unary
// baseline (the same transport with DisableBatch) against one in-process
// loopback fake, at concurrency 1 and 64. allocs/op include the server's.
// Run: go test -run '^$' -bench RawGet ./client/transport/grpc
func BenchmarkRawGet(b *testing.B) {
	f := newFakeTikv()
	addr, _ := serve(b, f, nil)
	for _, conc := range []int{1, 64} {
		for _, mode := range []string{"batched", "unary"} {
			b.Run(fmt.Sprintf("conc=%d/%s", conc, mode), func(b *testing.B) {
				tr := newTransport(b, Options{DisableBatch: mode == "unary"})
				ctx := context.Background()
				if err := put(ctx, tr, addr, "k", "v"); err != nil {
					b.Fatal(err)
				}
				var next atomic.Int64
				var failed atomic.Value
				b.ReportAllocs()
				b.ResetTimer()
				var wg sync.WaitGroup
				for range conc {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for next.Add(1) <= int64(b.N) {
							if _, err := get(ctx, tr, addr, "k", 5*time.Second); err != nil {
								failed.Store(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				if err, _ := failed.Load().(error); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
			})
		}
	}
}
