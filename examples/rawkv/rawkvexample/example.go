// Package rawkvexample is the body of the raw KV example (examples/rawkv):
// it connects to a cluster through its PD endpoints, with the production
// PD edge (client/pd/pdclient) and gRPC transport (client/transport/grpc),
// and runs a few raw KV operations, printing each result. It is a package
// of its own so that tests run it in-process against a served fake cluster.
package rawkvexample

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/tikvsim/tikvsim/client/pd/pdclient"
	"github.com/tikvsim/tikvsim/client/rawkv"
	"github.com/tikvsim/tikvsim/client/transport/grpc"
)

// Prefix starts every key the example writes, so that it stays out of the
// way of other data; the example deletes its keys when it ends.
const Prefix = "tikvsim-example/rawkv/"

// Connect returns a raw KV client of the cluster whose PD answers at
// endpoints, over TLS when sec.CAPath is set (the same files serve PD and
// the stores, as client-go's config.Security). Close the client when done:
// it closes its PD edge and transport too.
func Connect(ctx context.Context, endpoints []string, sec grpc.Security) (*rawkv.Client, error) {
	pdc, err := pdclient.New(ctx, endpoints, pdclient.WithSecurity(sec))
	if err != nil {
		return nil, err
	}
	tr, err := grpc.New(grpc.Options{Security: sec})
	if err != nil {
		pdc.Close()
		return nil, err
	}
	c, err := rawkv.NewClientWithOpts(ctx, rawkv.WithPD(pdc), rawkv.WithTransport(tr))
	if err != nil {
		pdc.Close()
		_ = tr.Close()
		return nil, err
	}
	// CompareAndSwap needs every write of the client to be atomic with it.
	return c.SetAtomicForCAS(true), nil
}

func key(s string) []byte { return []byte(Prefix + s) }

// Run connects to the cluster at endpoints (see Connect), runs the
// example's operations and writes one line per result to w. It returns the
// first error.
func Run(ctx context.Context, w io.Writer, endpoints []string, sec grpc.Security) (err error) {
	c, err := Connect(ctx, endpoints, sec)
	if err != nil {
		return fmt.Errorf("connect to PD %v: %w", endpoints, err)
	}
	defer func() { err = errors.Join(err, c.Close()) }()
	return run(ctx, w, c)
}

func run(ctx context.Context, w io.Writer, c *rawkv.Client) error {
	// Put and Get one key.
	if err := c.Put(ctx, key("greeting"), []byte("hello")); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	v, err := c.Get(ctx, key("greeting"))
	if err != nil {
		return fmt.Errorf("get: %w", err)
	}
	fmt.Fprintf(w, "get %s = %q\n", key("greeting"), v)

	// Write several keys in one call, read them back in one call.
	fruit := []string{"apple", "banana", "cherry"}
	keys := make([][]byte, len(fruit))
	values := make([][]byte, len(fruit))
	for i, f := range fruit {
		keys[i], values[i] = key("fruit/"+f), []byte(fmt.Sprintf("%d", len(f)))
	}
	if err := c.BatchPut(ctx, keys, values); err != nil {
		return fmt.Errorf("batch put: %w", err)
	}
	got, err := c.BatchGet(ctx, keys)
	if err != nil {
		return fmt.Errorf("batch get: %w", err)
	}
	for i := range keys {
		fmt.Fprintf(w, "batch get %s = %q\n", keys[i], got[i])
	}

	// Scan the fruit range, forwards and backwards.
	ks, vs, err := c.Scan(ctx, key("fruit/"), key("fruit0"), 10)
	if err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	for i := range ks {
		fmt.Fprintf(w, "scan %s = %q\n", ks[i], vs[i])
	}
	ks, _, err = c.ReverseScan(ctx, key("fruit0"), key("fruit/"), 2)
	if err != nil {
		return fmt.Errorf("reverse scan: %w", err)
	}
	for _, k := range ks {
		fmt.Fprintf(w, "reverse scan %s\n", k)
	}

	// Compare-and-swap: the first succeeds, the second sees the new value.
	prev, swapped, err := c.CompareAndSwap(ctx, key("greeting"), []byte("hello"), []byte("hi"))
	if err != nil {
		return fmt.Errorf("cas: %w", err)
	}
	fmt.Fprintf(w, "cas hello->hi: swapped=%v previous=%q\n", swapped, prev)
	prev, swapped, err = c.CompareAndSwap(ctx, key("greeting"), []byte("hello"), []byte("hey"))
	if err != nil {
		return fmt.Errorf("cas: %w", err)
	}
	fmt.Fprintf(w, "cas hello->hey: swapped=%v previous=%q\n", swapped, prev)

	// Delete everything the example wrote; a missing key reads as nil.
	if err := c.DeleteRange(ctx, key(""), key("\xff")); err != nil {
		return fmt.Errorf("delete range: %w", err)
	}
	v, err = c.Get(ctx, key("greeting"))
	if err != nil {
		return fmt.Errorf("get: %w", err)
	}
	fmt.Fprintf(w, "after delete range, get %s: found=%v\n", key("greeting"), v != nil)
	return nil
}
