package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/require"

	"github.com/tikvsim/tikvsim/client/pd/pdclient"
	"github.com/tikvsim/tikvsim/client/rawkv"
	"github.com/tikvsim/tikvsim/client/transport/grpc"
	"github.com/tikvsim/tikvsim/client/txnkv"
	"github.com/tikvsim/tikvsim/sim/serve"
)

// The benchmarks compare the client (BatchCommands transport, PD adapter,
// region cache, retries) with the unary baseline (one tikvpb unary RPC per
// request, region looked up once) side by side, against one served
// cluster. The cluster runs in a child process (this test binary,
// re-executed), so that allocs/op counts the client side alone.
//
//	go test -run '^$' -bench . -benchmem ./internal/e2e

// serveChildEnv makes the test binary serve a cluster instead of testing:
// it prints the PD address, serves until its stdin closes, and exits.
const serveChildEnv = "TIKVSIM_E2E_SERVE_CHILD"

// serveChild is the child's main.
func serveChild() {
	srv, err := serve.Start(context.Background(), serve.Config{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "serve child:", err)
		os.Exit(2)
	}
	fmt.Println(srv.PDAddr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := srv.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "serve child:", err)
		os.Exit(4)
	}
	os.Exit(0)
}

// benchCluster is the served cluster the benchmarks share.
var benchCluster struct {
	once  sync.Once
	pd    string
	err   error
	stdin io.WriteCloser
	cmd   *exec.Cmd
}

// benchPD starts the child cluster on first use and returns its PD address.
func benchPD(b *testing.B) string {
	bc := &benchCluster
	bc.once.Do(func() {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), serveChildEnv+"=1")
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			bc.err = err
			return
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			bc.err = err
			return
		}
		if bc.err = cmd.Start(); bc.err != nil {
			return
		}
		bc.cmd, bc.stdin = cmd, stdin
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			bc.err = fmt.Errorf("read the served PD address: %w", err)
			return
		}
		bc.pd = strings.TrimSpace(line)
	})
	require.NoError(b, bc.err)
	return bc.pd
}

// stopBenchCluster ends the child cluster, if one was started.
func stopBenchCluster() {
	bc := &benchCluster
	if bc.cmd == nil {
		return
	}
	_ = bc.stdin.Close()
	_ = bc.cmd.Wait()
}

// benchOp is one operation of worker w, its i-th overall.
type benchOp func(ctx context.Context, i int) error

// runConcurrent runs b.N operations on conc goroutines and reports ops/s.
func runConcurrent(b *testing.B, conc int, op benchOp) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var next atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if err := op(ctx, i); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if p := firstErr.Load(); p != nil {
		b.Fatal(*p)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
}

// benchKeys is how many keys the reads spread over.
const benchKeys = 1024

func benchKey(kind string, i int) []byte { return []byte(fmt.Sprintf("bench/%s/%08d", kind, i)) }

// clientSide is the client under benchmark.
type clientSide struct {
	raw *rawkv.Client
	txn *txnkv.Client
}

func newClientSide(b *testing.B, pd string) clientSide {
	ctx := context.Background()
	mk := func() (*pdclient.Client, *grpc.Transport) {
		p, err := pdclient.New(ctx, []string{pd})
		require.NoError(b, err)
		tr, err := grpc.New(grpc.Options{})
		require.NoError(b, err)
		return p, tr
	}
	p, tr := mk()
	raw, err := rawkv.NewClient(rawkv.WithPD(p), rawkv.WithTransport(tr))
	require.NoError(b, err)
	p, tr = mk()
	txn, err := txnkv.NewClient(txnkv.WithPD(p), txnkv.WithTransport(tr))
	require.NoError(b, err)
	b.Cleanup(func() { _ = raw.Close(); _ = txn.Close() })
	return clientSide{raw: raw, txn: txn}
}

// unarySide is the baseline under benchmark, with its region targets
// looked up once (the benchmarks do not change the topology).
type unarySide struct {
	u  *unary
	tg target
}

func newUnarySide(b *testing.B, pd string) unarySide {
	p, err := pdclient.New(context.Background(), []string{pd})
	require.NoError(b, err)
	b.Cleanup(p.Close)
	u := newUnary(b, p, true)
	tg, err := u.locate(context.Background(), []byte("bench/"))
	require.NoError(b, err)
	return unarySide{u: u, tg: tg}
}

func (s unarySide) rawGet(ctx context.Context, key []byte) ([]byte, error) {
	resp, err := s.tg.kv.RawGet(ctx, &kvrpcpb.RawGetRequest{Context: s.tg.ctx, Key: key})
	if err != nil {
		return nil, err
	}
	if e := resp.GetRegionError(); e != nil {
		return nil, fmt.Errorf("raw get: region error %v", e)
	}
	if e := resp.GetError(); e != "" {
		return nil, fmt.Errorf("raw get: %s", e)
	}
	return resp.GetValue(), nil
}

func (s unarySide) rawPut(ctx context.Context, key, value []byte) error {
	resp, err := s.tg.kv.RawPut(ctx, &kvrpcpb.RawPutRequest{Context: s.tg.ctx, Key: key, Value: value})
	if err != nil {
		return err
	}
	if e := resp.GetRegionError(); e != nil {
		return fmt.Errorf("raw put: region error %v", e)
	}
	if e := resp.GetError(); e != "" {
		return fmt.Errorf("raw put: %s", e)
	}
	return nil
}

// txn3 is a minimal optimistic transaction writing three keys: a start
// timestamp, one prewrite, a commit timestamp, one commit.
func (s unarySide) txn3(ctx context.Context, ks [3][]byte) error {
	start, err := s.u.ts(ctx)
	if err != nil {
		return err
	}
	if err := s.u.prewrite(ctx, s.tg, ks[0], start, 3000, ks[0], ks[0], ks[1], ks[1], ks[2], ks[2]); err != nil {
		return err
	}
	commit, err := s.u.ts(ctx)
	if err != nil {
		return err
	}
	return s.u.commit(ctx, s.tg, start, commit, ks[0], ks[1], ks[2])
}

func txnKeys3(i int) [3][]byte {
	return [3][]byte{benchKey("txn", 3*i), benchKey("txn", 3*i+1), benchKey("txn", 3*i+2)}
}

// BenchmarkE2E compares the client and the unary baseline on raw Get, raw
// Put and a three-key transaction, at 1 and 64 concurrent callers.
func BenchmarkE2E(b *testing.B) {
	pd := benchPD(b)
	cs := newClientSide(b, pd)
	us := newUnarySide(b, pd)
	ctx := context.Background()
	// The keys the reads read.
	var ks, vs [][]byte
	for i := range benchKeys {
		ks, vs = append(ks, benchKey("get", i)), append(vs, []byte(fmt.Sprintf("value-%d", i)))
	}
	require.NoError(b, cs.raw.BatchPut(ctx, ks, vs))
	var txnBase atomic.Int64 // keeps transactions' keys apart across runs
	for _, conc := range []int{1, 64} {
		b.Run(fmt.Sprintf("RawGet/conc=%d/client", conc), func(b *testing.B) {
			runConcurrent(b, conc, func(ctx context.Context, i int) error {
				v, err := cs.raw.Get(ctx, ks[i%benchKeys])
				if err == nil && v == nil {
					err = fmt.Errorf("get %s: missing", ks[i%benchKeys])
				}
				return err
			})
		})
		b.Run(fmt.Sprintf("RawGet/conc=%d/unary", conc), func(b *testing.B) {
			runConcurrent(b, conc, func(ctx context.Context, i int) error {
				v, err := us.rawGet(ctx, ks[i%benchKeys])
				if err == nil && v == nil {
					err = fmt.Errorf("get %s: missing", ks[i%benchKeys])
				}
				return err
			})
		})
		b.Run(fmt.Sprintf("RawPut/conc=%d/client", conc), func(b *testing.B) {
			runConcurrent(b, conc, func(ctx context.Context, i int) error {
				return cs.raw.Put(ctx, ks[i%benchKeys], vs[i%benchKeys])
			})
		})
		b.Run(fmt.Sprintf("RawPut/conc=%d/unary", conc), func(b *testing.B) {
			runConcurrent(b, conc, func(ctx context.Context, i int) error {
				return us.rawPut(ctx, ks[i%benchKeys], vs[i%benchKeys])
			})
		})
		b.Run(fmt.Sprintf("Txn3/conc=%d/client", conc), func(b *testing.B) {
			base := int(txnBase.Add(int64(b.N))) - b.N
			runConcurrent(b, conc, func(ctx context.Context, i int) error {
				txn, err := cs.txn.Begin(ctx)
				if err != nil {
					return err
				}
				for _, k := range txnKeys3(base + i) {
					_ = txn.Set(k, k)
				}
				return txn.Commit(ctx)
			})
		})
		b.Run(fmt.Sprintf("Txn3/conc=%d/unary", conc), func(b *testing.B) {
			base := int(txnBase.Add(int64(b.N))) - b.N
			runConcurrent(b, conc, func(ctx context.Context, i int) error {
				return us.txn3(ctx, txnKeys3(base+i))
			})
		})
	}
}
