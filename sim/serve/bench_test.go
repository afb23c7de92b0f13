package serve_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	pdc "github.com/tikv/pd/client"
	"github.com/tikv/pd/client/pkg/caller"

	"github.com/tikvsim/tikvsim/client/tikvrpc"
	tgrpc "github.com/tikvsim/tikvsim/client/transport/grpc"
	"github.com/tikvsim/tikvsim/sim/serve"
)

func quiet(b *testing.B, cfg serve.Config) *serve.Server {
	b.Helper()
	s, err := serve.Start(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// BenchmarkStart measures booting a 3-store cluster and its servers, and
// closing them.
func BenchmarkStart(b *testing.B) {
	for b.Loop() {
		s, err := serve.Start(context.Background(), serve.Config{})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawPut measures RawPut requests through serve from many
// goroutines, over BatchCommands and unary.
func BenchmarkRawPut(b *testing.B) {
	for _, c := range []struct {
		batch bool
		par   int
	}{{true, 16}, {false, 16}, {true, 1}} {
		batch, par := c.batch, c.par
		b.Run(fmt.Sprintf("batch=%v/par=%d", batch, par), func(b *testing.B) {
			s := quiet(b, serve.Config{RawKeys: true, Stores: 1})
			tr, err := tgrpc.New(tgrpc.Options{DisableBatch: !batch})
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Close()
			// One store, one region (id 2, epoch 1/1, peer 3): route once.
			kctx := kvrpcpb.Context{RegionId: 2, RegionEpoch: &metapbEpoch, Peer: &peer}
			addr := s.StoreAddrs()[0]
			var n atomic.Int64
			b.SetParallelism(par)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					k := []byte(fmt.Sprintf("k%d", n.Add(1)))
					resp, err := tr.SendRequest(context.Background(), addr, tikvrpc.NewRequest(tikvrpc.CmdRawPut, &kvrpcpb.RawPutRequest{Key: k, Value: k}, kctx), 5*time.Second)
					if err != nil {
						b.Error(err)
						return
					}
					if re, _ := resp.GetRegionError(); re != nil {
						b.Error(re)
						return
					}
				}
			})
		})
	}
}

var (
	metapbEpoch = metapb.RegionEpoch{ConfVer: 1, Version: 1}
	peer        = metapb.Peer{Id: 3, StoreId: 1}
)

// BenchmarkTSO measures GetTS of the real PD client through serve.
func BenchmarkTSO(b *testing.B) {
	s := quiet(b, serve.Config{Stores: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := pdc.NewClientWithContext(ctx, caller.Component("bench"), []string{s.PDAddr()}, pdc.SecurityOption{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := c.GetTS(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
