// Command rawkv is an example of the raw KV client: it connects to a TiKV
// cluster through PD and runs a few raw KV operations (put, get, batch
// put and get, scans, compare-and-swap, delete range), printing each
// result. The operations are in package rawkvexample.
//
// Against the simulator's fake cluster served on loopback:
//
//	go run ./cmd/simrun serve --pd-port 2379 --raw-keys &
//	go run ./examples/rawkv -pd 127.0.0.1:2379
//
// Against a real cluster, pass its PD address(es), comma-separated, and
// -ca (with -cert and -key for mutual TLS) when it uses TLS.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/pingcap/log"
	"go.uber.org/zap/zapcore"

	"github.com/tikvsim/tikvsim/client/transport/grpc"
	"github.com/tikvsim/tikvsim/examples/rawkv/rawkvexample"
)

func main() {
	pd := flag.String("pd", "127.0.0.1:2379", "PD endpoints, comma-separated")
	timeout := flag.Duration("timeout", 30*time.Second, "give up after this long")
	var sec grpc.Security
	flag.StringVar(&sec.CAPath, "ca", "", "CA bundle (PEM) for TLS to PD and the stores; empty: no TLS")
	flag.StringVar(&sec.CertPath, "cert", "", "client certificate (PEM) for mutual TLS")
	flag.StringVar(&sec.KeyPath, "key", "", "client key (PEM) for mutual TLS")
	flag.Parse()
	// The pd client logs its connection life at info level through
	// pingcap/log's global logger; keep warnings and errors.
	log.SetLevel(zapcore.WarnLevel)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := rawkvexample.Run(ctx, os.Stdout, strings.Split(*pd, ","), sec); err != nil {
		fmt.Fprintln(os.Stderr, "rawkv example:", err)
		os.Exit(1)
	}
}
