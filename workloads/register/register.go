// Package register is the raw KV register workload: clients read, write and
// compare-and-swap a few keys through the raw KV client, and the history is
// checked for linearizability per key (checkers/linearizability, on
// porcupine). It is the end-to-end test of the client's request path (region
// cache, request sender, retries, undetermined results) against the fake
// cluster under faults.
package register

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/tikvsim/tikvsim/checkers"
	"github.com/tikvsim/tikvsim/checkers/linearizability"
	"github.com/tikvsim/tikvsim/client/rawkv"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/workloads"
)

// Workload is the register workload. Zero options are derived from the seed.
type Workload struct {
	// Keys is the number of registers (1-5 when derived).
	Keys int
	// ReadRatio and CASRatio split operations into reads, CAS and writes.
	ReadRatio, CASRatio float64
	// Timeout bounds one operation (1-5s when derived).
	Timeout time.Duration
	// InfoAsFail records writes with an unknown outcome as failed: a
	// deliberate bug for proving that the checker finds it.
	InfoAsFail bool
}

// UsesCluster tells the harness to build the fake cluster.
func (w *Workload) UsesCluster() bool { return true }

// RawKeys tells the harness the cluster serves raw KV data.
func (w *Workload) RawKeys() bool { return true }

// Describe returns the options in force.
func (w *Workload) Describe() string {
	return fmt.Sprintf("keys=%d read=%.2f cas=%.2f timeout=%v", w.Keys, w.ReadRatio, w.CASRatio, w.Timeout)
}

// Setup derives the unset options.
func (w *Workload) Setup(env *workloads.Env) error {
	if env.RawKV == nil {
		return fmt.Errorf("register: needs a cluster")
	}
	if w.Keys == 0 {
		w.Keys = 1 + env.Rand.IntN(5)
	}
	if w.ReadRatio == 0 {
		w.ReadRatio = 0.2 + 0.5*env.Rand.Float64()
	}
	if w.CASRatio == 0 {
		w.CASRatio = 0.1 + 0.4*env.Rand.Float64()
	}
	if w.Timeout == 0 {
		w.Timeout = time.Duration(1+env.Rand.IntN(5)) * time.Second
	}
	return nil
}

func key(i int) string { return fmt.Sprintf("reg%d", i) }

// Client runs one process's operations until ctx is done.
func (w *Workload) Client(ctx context.Context, env *workloads.Env, id int) {
	cli, err := env.RawKV(fmt.Sprintf("client%d", id))
	if err != nil {
		panic(err)
	}
	defer cli.Close()
	cli.SetAtomicForCAS(true) // CAS needs every write atomic with it (client-go rule)
	rng := rand.New(rand.NewPCG(env.Rand.Uint64(), uint64(id)))
	proc := id
	for seq := 1; ctx.Err() == nil; seq++ {
		k := key(rng.IntN(w.Keys))
		p := rng.Float64()
		var stop bool
		switch {
		case p < w.ReadRatio:
			w.read(ctx, env, cli, proc, k)
		case p < w.ReadRatio+w.CASRatio:
			stop = w.cas(ctx, env, cli, proc, k, int64(rng.IntN(5)), int64(rng.IntN(5)))
		default:
			stop = w.write(ctx, env, cli, proc, k, int64((id+1)*1_000_000+seq)) // never a CAS value (0-4)
		}
		if stop {
			proc = workloads.NextProcess(env, proc)
		}
		_ = env.Runtime.Sleep(ctx, time.Duration(rng.IntN(10))*time.Millisecond)
	}
}

func (w *Workload) opCtx(ctx context.Context, env *workloads.Env) (context.Context, context.CancelFunc) {
	return rt.WithTimeout(env.Runtime, ctx, w.Timeout)
}

func (w *Workload) read(ctx context.Context, env *workloads.Env, cli *rawkv.Client, id int, k string) {
	p := env.Recorder.Invoke(id, checkers.FRead, k, nil)
	octx, cancel := w.opCtx(ctx, env)
	defer cancel()
	v, err := cli.Get(octx, []byte(k))
	if err != nil {
		p.Fail(err) // a read changes nothing
		return
	}
	if v == nil {
		p.OK(nil)
		return
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		panic(fmt.Sprintf("register: read garbage %q", v))
	}
	p.OK(n)
}

// complete records a write's outcome and reports whether the process must
// stop (unknown outcome).
func (w *Workload) complete(p *workloads.Pending, err error, okValue any) bool {
	if w.InfoAsFail && tikverr.IsErrUndetermined(err) {
		p.Fail(err) // the deliberate bug
		return false
	}
	return workloads.Complete(p, err, okValue)
}

func (w *Workload) write(ctx context.Context, env *workloads.Env, cli *rawkv.Client, id int, k string, v int64) bool {
	p := env.Recorder.Invoke(id, checkers.FWrite, k, v)
	octx, cancel := w.opCtx(ctx, env)
	defer cancel()
	return w.complete(p, cli.Put(octx, []byte(k), []byte(strconv.FormatInt(v, 10))), v)
}

func (w *Workload) cas(ctx context.Context, env *workloads.Env, cli *rawkv.Client, id int, k string, old, new int64) bool {
	p := env.Recorder.Invoke(id, checkers.FCAS, k, []any{old, new})
	octx, cancel := w.opCtx(ctx, env)
	defer cancel()
	_, ok, err := cli.CompareAndSwap(octx, []byte(k), []byte(strconv.FormatInt(old, 10)), []byte(strconv.FormatInt(new, 10)))
	// The client reports undetermined itself whenever the swap may have
	// run; any other error means it did not.
	if err == nil && !ok {
		p.Fail(fmt.Errorf("cas: value is not %d", old))
		return false
	}
	return w.complete(p, err, []any{old, new})
}

// Final reads every register once the faults have healed.
func (w *Workload) Final(ctx context.Context, env *workloads.Env) error {
	cli, err := env.RawKV("final")
	if err != nil {
		return err
	}
	defer cli.Close()
	for i := range w.Keys {
		for {
			if ctx.Err() != nil {
				return fmt.Errorf("register: final read of %s did not succeed after heal", key(i))
			}
			octx, cancel := w.opCtx(ctx, env)
			_, err := cli.Get(octx, []byte(key(i)))
			cancel()
			if err == nil {
				break
			}
		}
	}
	return nil
}

// Check runs the linearizability checker.
func (w *Workload) Check(h checkers.History) checkers.Result {
	// Porcupine's timeout only ever yields Unknown, never a verdict.
	return linearizability.Check(h, linearizability.Options{Timeout: time.Minute})
}
