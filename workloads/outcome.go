package workloads

import (
	"context"
	"fmt"

	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/txnkv"
)

// Complete records the outcome of an operation that may have written: ok
// with okValue when err is nil, info when the client says the outcome is
// unknown, fail otherwise (the client reports undetermined itself whenever a
// write may have run, so any other error means it did not). It reports
// whether the outcome is unknown, after which the process must not issue
// another operation (Jepsen): the caller moves on as a fresh process.
func Complete(p *Pending, err error, okValue any) (unknown bool) {
	switch {
	case err == nil:
		p.OK(okValue)
		return false
	case tikverr.IsErrUndetermined(err):
		p.Info(err)
		return true
	default:
		p.Fail(err)
		return false
	}
}

// NextProcess is the process id a client continues as after an info
// operation: one no other client uses, and never env.Clients (the final
// reader's).
func NextProcess(env *Env, proc int) int { return proc + env.Clients + 1 }

// UntilOK runs op until it records an ok completion or ctx is done; it is the
// liveness phase's final read. It reports whether an op succeeded.
func UntilOK(ctx context.Context, env *Env, op func()) bool {
	for ctx.Err() == nil {
		before, _, _ := env.Recorder.Counts()
		op()
		if after, _, _ := env.Recorder.Counts(); after > before {
			return true
		}
	}
	return false
}

// FinalTxn is the liveness phase of a transactional workload: with a fresh
// client it runs op (one read recorded as process env.Clients) until one
// succeeds or ctx is done.
func FinalTxn(ctx context.Context, env *Env, workload string, op func(cli *txnkv.Client)) error {
	cli, err := env.TxnKV("final")
	if err != nil {
		return err
	}
	defer cli.Close()
	if !UntilOK(ctx, env, func() { op(cli) }) {
		return fmt.Errorf("%s: no final read succeeded after heal", workload)
	}
	return nil
}
