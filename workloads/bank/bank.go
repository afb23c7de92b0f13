// Package bank is the transactional bank workload: clients move money
// between accounts in optimistic transactions and read every balance in one
// snapshot; the total never changes and no balance goes negative
// (checkers/invariant.Bank). It exercises snapshot reads, 2PC, write
// conflicts and lock resolution against the fake cluster under faults.
package bank

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

// Initial is every account's opening balance.
const Initial = 100

// Workload is the bank workload. Zero options derive from the seed.
type Workload struct {
	// Accounts is the number of accounts (3-8 when derived).
	Accounts int
	// ReadRatio is the fraction of reads.
	ReadRatio float64
	// Timeout bounds one operation.
	Timeout time.Duration
	// Txn is the transfers' commit protocol (default 2PC).
	Txn workloads.TxnMode
}

// SetTxnMode sets Txn from the harness's Spec.Txn.
func (w *Workload) SetTxnMode(m string) { w.Txn = workloads.MustTxnMode(m) }

// UsesCluster tells the harness to build the fake cluster.
func (w *Workload) UsesCluster() bool { return true }

// Describe returns the options in force.
func (w *Workload) Describe() string {
	return fmt.Sprintf("accounts=%d read=%.2f timeout=%v", w.Accounts, w.ReadRatio, w.Timeout) + w.Txn.Describe()
}

func acct(i int) string { return fmt.Sprintf("acct%d", i) }

func (w *Workload) names() []string {
	out := make([]string, w.Accounts)
	for i := range out {
		out[i] = acct(i)
	}
	return out
}

// Setup derives the options and opens the accounts in one transaction.
func (w *Workload) Setup(env *workloads.Env) error {
	if env.TxnKV == nil {
		return errors.New("bank: needs a cluster")
	}
	if w.Accounts == 0 {
		w.Accounts = 3 + env.Rand.IntN(6)
	}
	if w.ReadRatio == 0 {
		w.ReadRatio = 0.2 + 0.4*env.Rand.Float64()
	}
	if w.Timeout == 0 {
		w.Timeout = time.Duration(2+env.Rand.IntN(4)) * time.Second
	}
	cli, err := env.TxnKV("bank-setup")
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx := context.Background()
	for {
		txn, err := cli.Begin(ctx)
		if err == nil {
			for _, a := range w.names() {
				_ = txn.Set([]byte(a), []byte(strconv.Itoa(Initial)))
			}
			if err = txn.Commit(ctx); err == nil {
				return nil
			}
		}
		_ = env.Runtime.Sleep(ctx, 100*time.Millisecond)
	}
}

// Client runs one process's transfers and reads until ctx is done.
func (w *Workload) Client(ctx context.Context, env *workloads.Env, id int) {
	cli, err := env.TxnKV(fmt.Sprintf("client%d", id))
	if err != nil {
		panic(err)
	}
	defer cli.Close()
	rng := rand.New(rand.NewPCG(env.Rand.Uint64(), uint64(id)))
	proc := id
	for ctx.Err() == nil {
		if rng.Float64() < w.ReadRatio {
			w.read(ctx, env, cli, proc)
		} else if w.transfer(ctx, env, cli, proc, rng) {
			proc = workloads.NextProcess(env, proc)
		}
		_ = env.Runtime.Sleep(ctx, time.Duration(rng.IntN(10))*time.Millisecond)
	}
}

func (w *Workload) read(ctx context.Context, env *workloads.Env, cli *txnkv.Client, proc int) {
	p := env.Recorder.Invoke(proc, checkers.FRead, "", nil)
	octx, cancel := rt.WithTimeout(env.Runtime, ctx, w.Timeout)
	defer cancel()
	ts, err := cli.GetTimestamp(octx)
	if err != nil {
		p.Fail(err)
		return
	}
	keys := make([][]byte, w.Accounts)
	for i, a := range w.names() {
		keys[i] = []byte(a)
	}
	m, err := cli.GetSnapshot(ts).BatchGet(octx, keys)
	if err != nil {
		p.Fail(err)
		return
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			panic(fmt.Sprintf("bank: garbage balance %q", v))
		}
		out[k] = n
	}
	p.OK(out)
}

// transfer moves a random amount; it reports whether the outcome is unknown.
func (w *Workload) transfer(ctx context.Context, env *workloads.Env, cli *txnkv.Client, proc int, rng *rand.Rand) bool {
	from, to := rng.IntN(w.Accounts), rng.IntN(w.Accounts)
	for to == from {
		to = rng.IntN(w.Accounts)
	}
	amount := int64(1 + rng.IntN(10))
	p := env.Recorder.Invoke(proc, invariant.FTransfer, "", map[string]any{"from": acct(from), "to": acct(to), "amount": amount})
	octx, cancel := rt.WithTimeout(env.Runtime, ctx, w.Timeout)
	defer cancel()
	txn, err := cli.Begin(octx)
	if err != nil {
		p.Fail(err)
		return false
	}
	w.Txn.Begin(txn)
	m, err := w.Txn.ReadForUpdate(octx, cli, txn, []byte(acct(from)), []byte(acct(to)))
	if err != nil {
		_ = txn.Rollback()
		p.Fail(err)
		return false
	}
	a, _ := strconv.ParseInt(string(m[acct(from)]), 10, 64)
	b, _ := strconv.ParseInt(string(m[acct(to)]), 10, 64)
	if a < amount {
		_ = txn.Rollback()
		p.Fail(errors.New("insufficient funds"))
		return false
	}
	_ = txn.Set([]byte(acct(from)), []byte(strconv.FormatInt(a-amount, 10)))
	_ = txn.Set([]byte(acct(to)), []byte(strconv.FormatInt(b+amount, 10)))
	w.Txn.Apply(txn)
	return workloads.Complete(p, txn.Commit(octx), nil)
}

// Final reads every balance once the faults have healed.
func (w *Workload) Final(ctx context.Context, env *workloads.Env) error {
	return workloads.FinalTxn(ctx, env, "bank", func(cli *txnkv.Client) { w.read(ctx, env, cli, env.Clients) })
}

// Check runs the bank invariant.
func (w *Workload) Check(h checkers.History) checkers.Result {
	return invariant.Bank(h, invariant.BankOptions{Total: int64(Initial * w.Accounts), Accounts: w.names()})
}
