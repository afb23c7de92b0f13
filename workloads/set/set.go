// Package set is the grow-only set workload: clients add unique elements, each
// as its own key, in transactions, and read the whole set with a snapshot
// scan; no acknowledged add may be missing from a later read, and no failed
// add may show up (checkers/invariant.Set). It exercises scans across regions
// with lock resolution.
package set

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/tikvsim/tikvsim/checkers"
	"github.com/tikvsim/tikvsim/checkers/invariant"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/txnkv"
	"github.com/tikvsim/tikvsim/workloads"
)

const prefix = "set/"

// Workload is the set workload. Zero options derive from the seed.
type Workload struct {
	// ReadRatio is the fraction of reads.
	ReadRatio float64
	// Timeout bounds one operation.
	Timeout time.Duration
	// Txn is the adds' commit protocol (default 2PC).
	Txn workloads.TxnMode
}

// SetTxnMode sets Txn from the harness's Spec.Txn.
func (w *Workload) SetTxnMode(m string) { w.Txn = workloads.MustTxnMode(m) }

// UsesCluster tells the harness to build the fake cluster.
func (w *Workload) UsesCluster() bool { return true }

// Describe returns the options in force.
func (w *Workload) Describe() string {
	return fmt.Sprintf("read=%.2f timeout=%v", w.ReadRatio, w.Timeout) + w.Txn.Describe()
}

// Setup derives the options.
func (w *Workload) Setup(env *workloads.Env) error {
	if env.TxnKV == nil {
		return errors.New("set: needs a cluster")
	}
	if w.ReadRatio == 0 {
		w.ReadRatio = 0.1 + 0.3*env.Rand.Float64()
	}
	if w.Timeout == 0 {
		w.Timeout = time.Duration(2+env.Rand.IntN(4)) * time.Second
	}
	return nil
}

func elemKey(v int64) []byte { return []byte(fmt.Sprintf("%s%012d", prefix, v)) }

// Client adds and reads until ctx is done.
func (w *Workload) Client(ctx context.Context, env *workloads.Env, id int) {
	cli, err := env.TxnKV(fmt.Sprintf("client%d", id))
	if err != nil {
		panic(err)
	}
	defer cli.Close()
	rng := rand.New(rand.NewPCG(env.Rand.Uint64(), uint64(id)))
	proc, next := id, int64((id+1)*1_000_000)
	for ctx.Err() == nil {
		if rng.Float64() < w.ReadRatio {
			w.read(ctx, env, cli, proc)
		} else {
			next++
			if w.add(ctx, env, cli, proc, next) {
				proc = workloads.NextProcess(env, proc)
			}
		}
		_ = env.Runtime.Sleep(ctx, time.Duration(rng.IntN(10))*time.Millisecond)
	}
}

func (w *Workload) add(ctx context.Context, env *workloads.Env, cli *txnkv.Client, proc int, v int64) bool {
	p := env.Recorder.Invoke(proc, invariant.FAdd, "", v)
	octx, cancel := rt.WithTimeout(env.Runtime, ctx, w.Timeout)
	defer cancel()
	txn, err := cli.Begin(octx)
	if err != nil {
		p.Fail(err)
		return false
	}
	w.Txn.Begin(txn)
	if err := w.Txn.LockForWrite(octx, cli, txn, elemKey(v)); err != nil {
		_ = txn.Rollback()
		p.Fail(err)
		return false
	}
	_ = txn.Set(elemKey(v), []byte(strconv.FormatInt(v, 10)))
	w.Txn.Apply(txn)
	return workloads.Complete(p, txn.Commit(octx), v)
}

// read scans the whole set at a fresh timestamp.
func (w *Workload) read(ctx context.Context, env *workloads.Env, cli *txnkv.Client, proc int) {
	p := env.Recorder.Invoke(proc, checkers.FRead, "", nil)
	octx, cancel := rt.WithTimeout(env.Runtime, ctx, w.Timeout)
	defer cancel()
	ts, err := cli.GetTimestamp(octx)
	if err != nil {
		p.Fail(err)
		return
	}
	it, err := cli.GetSnapshot(ts).Iter(octx, []byte(prefix), []byte(prefix+"~"))
	if err != nil {
		p.Fail(err)
		return
	}
	defer it.Close()
	elems := []any{}
	for it.Valid() {
		n, perr := strconv.ParseInt(string(it.Value()), 10, 64)
		if perr != nil {
			panic(fmt.Sprintf("set: garbage element %q", it.Value()))
		}
		elems = append(elems, n)
		if err := it.Next(); err != nil {
			p.Fail(err)
			return
		}
	}
	p.OK(elems)
}

// Final reads the set once the faults have healed.
func (w *Workload) Final(ctx context.Context, env *workloads.Env) error {
	return workloads.FinalTxn(ctx, env, "set", func(cli *txnkv.Client) { w.read(ctx, env, cli, env.Clients) })
}

// Check runs the set invariant.
func (w *Workload) Check(h checkers.History) checkers.Result {
	return invariant.Set(h, invariant.SetOptions{})
}
