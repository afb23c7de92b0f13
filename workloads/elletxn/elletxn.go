// Package elletxn is the Elle transactional workload in its two forms:
// list-append (each key's value is the list of integers appended to it) and
// rw-register (each key holds the last integer written). Transactions of
// reads and appends or writes on a few keys run through the transactional
// client, and the history is checked by the Elle-style checker
// (checkers/elle) for strong snapshot isolation, which Percolator with a
// global TSO gives. Every appended or written value is unique, so the checker
// can tell which write a read saw.
package elletxn

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/tikvsim/tikvsim/checkers"
	"github.com/tikvsim/tikvsim/checkers/elle"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/txnkv"
	"github.com/tikvsim/tikvsim/client/txnkv/transaction"
	"github.com/tikvsim/tikvsim/workloads"
)

// Workload is the Elle workload. Zero options derive from the seed.
type Workload struct {
	// Kind is elle.ListAppend or elle.RWRegister.
	Kind elle.Workload
	// Keys is the number of keys (3-8 when derived).
	Keys int
	// MaxMops is the longest transaction (1-4 mops when derived).
	MaxMops int
	// Timeout bounds one transaction.
	Timeout time.Duration
	// Model is the consistency model checked (default strong snapshot
	// isolation).
	Model elle.Model
	// Txn is the transactions' commit protocol (default 2PC).
	Txn workloads.TxnMode
}

// UsesCluster tells the harness to build the fake cluster.
func (w *Workload) UsesCluster() bool { return true }

// Describe returns the options in force.
func (w *Workload) Describe() string {
	return fmt.Sprintf("%s keys=%d max-mops=%d timeout=%v model=%s", w.Kind, w.Keys, w.MaxMops, w.Timeout, w.Model) + w.Txn.Describe()
}

// SetTxnMode sets Txn from the harness's Spec.Txn.
func (w *Workload) SetTxnMode(m string) { w.Txn = workloads.MustTxnMode(m) }

// Setup derives the options.
func (w *Workload) Setup(env *workloads.Env) error {
	if env.TxnKV == nil {
		return errors.New("elletxn: needs a cluster")
	}
	if w.Kind != elle.ListAppend && w.Kind != elle.RWRegister {
		return fmt.Errorf("elletxn: unknown kind %q", w.Kind)
	}
	if w.Keys == 0 {
		w.Keys = 3 + env.Rand.IntN(6)
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

func (w *Workload) key(i int) string {
	if w.Kind == elle.ListAppend {
		return fmt.Sprintf("list%d", i)
	}
	return fmt.Sprintf("rw%d", i)
}

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
			k := w.key(rng.IntN(w.Keys))
			switch {
			case rng.IntN(2) == 0:
				mops[i] = checkers.Read(k, nil)
			case w.Kind == elle.ListAppend:
				next++
				mops[i] = checkers.Append(k, next)
			default:
				next++
				mops[i] = checkers.Write(k, next)
			}
		}
		if w.txn(ctx, env, cli, proc, mops) {
			proc = workloads.NextProcess(env, proc)
		}
		_ = env.Runtime.Sleep(ctx, time.Duration(rng.IntN(10))*time.Millisecond)
	}
}

func parseList(v []byte) []int64 {
	if len(v) == 0 {
		return nil
	}
	parts := strings.Split(string(v), ",")
	out := make([]int64, len(parts))
	for i, p := range parts {
		out[i] = parseInt(p)
	}
	return out
}

func parseInt(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("elletxn: garbage value %q", s))
	}
	return n
}

func formatList(xs []int64) []byte {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatInt(x, 10)
	}
	return []byte(strings.Join(parts, ","))
}

// apply runs one mop in txn and returns it completed.
// In a pessimistic mode every key is locked before it is read or written
// (SELECT ... FOR UPDATE, DML), and reads see the latest committed value.
func (w *Workload) apply(ctx context.Context, cli *txnkv.Client, txn *transaction.KVTxn, m checkers.Mop) (checkers.Mop, error) {
	if m.F == checkers.MopWrite {
		if err := w.Txn.LockForWrite(ctx, cli, txn, []byte(m.Key)); err != nil {
			return m, err
		}
		return m, txn.Set([]byte(m.Key), []byte(strconv.FormatInt(m.Value.(int64), 10)))
	}
	var v []byte
	var err error
	missing := false
	if w.Txn.Pessimistic() {
		var vals map[string][]byte
		if vals, err = w.Txn.ReadForUpdate(ctx, cli, txn, []byte(m.Key)); err != nil {
			return m, err
		}
		var ok bool
		v, ok = vals[m.Key]
		missing = !ok
	} else {
		v, err = txn.Get(ctx, []byte(m.Key))
		missing = errors.Is(err, tikverr.ErrNotExist)
		if err != nil && !missing {
			return m, err
		}
	}
	if w.Kind == elle.RWRegister {
		if missing {
			return checkers.Read(m.Key, nil), nil
		}
		return checkers.Read(m.Key, parseInt(string(v))), nil
	}
	list := parseList(v)
	if m.F == checkers.MopRead {
		return checkers.Read(m.Key, list), nil
	}
	return m, txn.Set([]byte(m.Key), formatList(append(list, m.Value.(int64))))
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
	w.Txn.Begin(txn)
	done := make([]checkers.Mop, len(mops))
	for i, m := range mops {
		if done[i], err = w.apply(octx, cli, txn, m); err != nil {
			_ = txn.Rollback()
			p.Fail(err)
			return false
		}
	}
	w.Txn.Apply(txn)
	return workloads.Complete(p, txn.Commit(octx), done)
}

// Final reads every key once the faults have healed.
func (w *Workload) Final(ctx context.Context, env *workloads.Env) error {
	mops := make([]checkers.Mop, w.Keys)
	for i := range mops {
		mops[i] = checkers.Read(w.key(i), nil)
	}
	return workloads.FinalTxn(ctx, env, "elletxn", func(cli *txnkv.Client) { w.txn(ctx, env, cli, env.Clients, mops) })
}

// Check runs the Elle checker.
func (w *Workload) Check(h checkers.History) checkers.Result {
	return elle.Check(h, elle.Options{Model: w.Model, Workload: w.Kind})
}
