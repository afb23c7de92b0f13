// Package rwregister is the Elle rw-register workload: transactions of
// writes and reads on a few integer registers, checked by the Elle-style
// checker (checkers/elle) for strong snapshot isolation. Every write writes a
// unique value, so the checker can tell which write a read saw.
package rwregister

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/tikvsim/tikvsim/checkers"
	"github.com/tikvsim/tikvsim/checkers/elle"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/txnkv"
	"github.com/tikvsim/tikvsim/workloads"
)

// Workload is the rw-register workload. Zero options derive from the seed.
type Workload struct {
	// Keys is the number of registers (2-6 when derived).
	Keys int
	// MaxMops is the longest transaction (1-4 when derived).
	MaxMops int
	// Timeout bounds one transaction.
	Timeout time.Duration
	// Model is the consistency model checked (default strong snapshot
	// isolation).
	Model elle.Model
}

// UsesCluster tells the harness to build the fake cluster.
func (w *Workload) UsesCluster() bool { return true }

// Describe returns the options in force.
func (w *Workload) Describe() string {
	return fmt.Sprintf("keys=%d max-mops=%d timeout=%v model=%s", w.Keys, w.MaxMops, w.Timeout, w.Model)
}

// Setup derives the options.
func (w *Workload) Setup(env *workloads.Env) error {
	if env.TxnKV == nil {
		return errors.New("rwregister: needs a cluster")
	}
	if w.Keys == 0 {
		w.Keys = 2 + env.Rand.IntN(5)
	}
	if w.MaxMops == 0 {
		w.MaxMops = 1 + env.Rand.IntN(4)
	}
	if w.Timeout == 0 {
		w.Timeout = time.Duration(2+env.Rand.IntN(4)) * time.Second
	}
	if w.Model == "" {
		w.Model = elle.StrongSnapshotIsolation
	}
	return nil
}

func key(i int) string { return fmt.Sprintf("rw%d", i) }

// Client runs one process's transactions until ctx is done.
func (w *Workload) Client(ctx context.Context, env *workloads.Env, id int) {
	cli, err := env.TxnKV(fmt.Sprintf("client%d", id))
	if err != nil {
		panic(err)
	}
	defer cli.Close()
	rng := rand.New(rand.NewPCG(env.Rand.Uint64(), uint64(id)))
	proc, next := id, int64((id+1)*1_000_000)
	for ctx.Err() == nil {
		mops := make([]checkers.Mop, 1+rng.IntN(w.MaxMops))
		for i := range mops {
			k := key(rng.IntN(w.Keys))
			if rng.IntN(2) == 0 {
				mops[i] = checkers.Read(k, nil)
			} else {
				next++
				mops[i] = checkers.Write(k, next)
			}
		}
		if w.txn(ctx, env, cli, proc, mops) {
			proc += env.Clients + 1 // an info op ends the process (Jepsen)
		}
		_ = env.Runtime.Sleep(ctx, time.Duration(rng.IntN(10))*time.Millisecond)
	}
}

// txn runs one transaction; it reports whether its outcome is unknown.
func (w *Workload) txn(ctx context.Context, env *workloads.Env, cli *txnkv.Client, proc int, mops []checkers.Mop) bool {
	p := env.Recorder.Invoke(proc, checkers.FTxn, "", mops)
	octx, cancel := rt.WithTimeout(env.Runtime, ctx, w.Timeout)
	defer cancel()
	txn, err := cli.Begin(octx)
	if err != nil {
		p.Fail(err)
		return false
	}
	done := make([]checkers.Mop, len(mops))
	for i, m := range mops {
		if m.F == checkers.MopWrite {
			_ = txn.Set([]byte(m.Key), []byte(strconv.FormatInt(m.Value.(int64), 10)))
			done[i] = m
			continue
		}
		v, err := txn.Get(octx, []byte(m.Key))
		switch {
		case errors.Is(err, tikverr.ErrNotExist):
			done[i] = checkers.Read(m.Key, nil)
		case err != nil:
			_ = txn.Rollback()
			p.Fail(err)
			return false
		default:
			n, perr := strconv.ParseInt(string(v), 10, 64)
			if perr != nil {
				panic(fmt.Sprintf("rwregister: garbage value %q", v))
			}
			done[i] = checkers.Read(m.Key, n)
		}
	}
	err = txn.Commit(octx)
	switch {
	case err == nil:
		p.OK(done)
		return false
	case tikverr.IsErrUndetermined(err):
		p.Info(err)
		return true
	default:
		p.Fail(err)
		return false
	}
}

// Final reads every register once the faults have healed.
func (w *Workload) Final(ctx context.Context, env *workloads.Env) error {
	cli, err := env.TxnKV("final")
	if err != nil {
		return err
	}
	defer cli.Close()
	mops := make([]checkers.Mop, w.Keys)
	for i := range mops {
		mops[i] = checkers.Read(key(i), nil)
	}
	for ctx.Err() == nil {
		before, _, _ := env.Recorder.Counts()
		w.txn(ctx, env, cli, env.Clients, mops)
		if after, _, _ := env.Recorder.Counts(); after > before {
			return nil
		}
	}
	return errors.New("rwregister: no final read succeeded after heal")
}

// Check runs the Elle checker.
func (w *Workload) Check(h checkers.History) checkers.Result {
	return elle.Check(h, elle.Options{Model: w.Model, Workload: elle.RWRegister})
}
