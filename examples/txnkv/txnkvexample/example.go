// Package txnkvexample is the body of the transaction example
// (examples/txnkv): it connects to a cluster through its PD endpoints, with
// the production PD edge (client/pd/pdclient) and gRPC transport
// (client/transport/grpc), commits a transaction, reads it back from a
// snapshot, iterates a range, and shows a write conflict and a rollback,
// printing each result. It is a package of its own so that tests run it
// in-process against a served fake cluster.
package txnkvexample

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/tikvsim/tikvsim/client/pd/pdclient"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/transport/grpc"
	"github.com/tikvsim/tikvsim/client/txnkv"
)

// Prefix starts every key the example writes; the example deletes its keys
// when it ends.
const Prefix = "tikvsim-example/txnkv/"

// Connect returns a transactional client of the cluster whose PD answers
// at endpoints, over TLS when sec.CAPath is set (the same files serve PD
// and the stores, as client-go's config.Security). Close the client when
// done: it closes its PD edge and transport too.
func Connect(ctx context.Context, endpoints []string, sec grpc.Security) (*txnkv.Client, error) {
	pdc, err := pdclient.New(ctx, endpoints, pdclient.WithSecurity(sec))
	if err != nil {
		return nil, err
	}
	tr, err := grpc.New(grpc.Options{Security: sec})
	if err != nil {
		pdc.Close()
		return nil, err
	}
	c, err := txnkv.NewClient(txnkv.WithPD(pdc), txnkv.WithTransport(tr))
	if err != nil {
		pdc.Close()
		_ = tr.Close()
		return nil, err
	}
	return c, nil
}

func key(s string) []byte { return []byte(Prefix + s) }

// Run connects to the cluster at endpoints (see Connect), runs the example's
// transactions and writes one line per result to w. It returns the first
// error.
func Run(ctx context.Context, w io.Writer, endpoints []string, sec grpc.Security) (err error) {
	c, err := Connect(ctx, endpoints, sec)
	if err != nil {
		return fmt.Errorf("connect to PD %v: %w", endpoints, err)
	}
	defer func() { err = errors.Join(err, c.Close()) }()
	return run(ctx, w, c)
}

func run(ctx context.Context, w io.Writer, c *txnkv.Client) error {
	// Open two accounts in one transaction.
	txn, err := c.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	_ = txn.Set(key("account/alice"), []byte("100"))
	_ = txn.Set(key("account/bob"), []byte("50"))
	if err := txn.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	fmt.Fprintf(w, "committed 2 keys at ts %d (start ts %d)\n", txn.CommitTS(), txn.StartTS())

	// Read both from a snapshot at a fresh timestamp.
	ts, err := c.GetTimestamp(ctx)
	if err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	got, err := c.GetSnapshot(ts).BatchGet(ctx, [][]byte{key("account/alice"), key("account/bob")})
	if err != nil {
		return fmt.Errorf("snapshot batch get: %w", err)
	}
	fmt.Fprintf(w, "snapshot at %d: alice=%s bob=%s\n", ts, got[string(key("account/alice"))], got[string(key("account/bob"))])

	// Two transactions write the same key: the first to commit wins, the
	// other fails with a write conflict and may be retried.
	t1, err := c.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	t2, err := c.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	_ = t1.Set(key("account/alice"), []byte("90"))
	_ = t2.Set(key("account/alice"), []byte("80"))
	if err := t1.Commit(ctx); err != nil {
		return fmt.Errorf("commit t1: %w", err)
	}
	err = t2.Commit(ctx)
	fmt.Fprintf(w, "second writer of alice: write conflict=%v\n", tikverr.IsErrWriteConflict(err))
	if err != nil && !tikverr.IsErrWriteConflict(err) {
		return fmt.Errorf("commit t2: %w", err)
	}

	// A rolled-back transaction leaves nothing behind.
	t3, err := c.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	_ = t3.Set(key("account/carol"), []byte("10"))
	if err := t3.Rollback(); err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	ts, err = c.GetTimestamp(ctx)
	if err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	_, err = c.GetSnapshot(ts).Get(ctx, key("account/carol"))
	if err != nil && !tikverr.IsErrNotFound(err) {
		return fmt.Errorf("snapshot get: %w", err)
	}
	fmt.Fprintf(w, "after rollback, carol exists=%v\n", err == nil)

	// Iterate the accounts in a new transaction, then delete them all.
	txn, err = c.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	it, err := txn.Iter(ctx, key("account/"), key("account0"))
	if err != nil {
		return fmt.Errorf("iter: %w", err)
	}
	n := 0
	for ; it.Valid(); err = it.Next() {
		if err != nil {
			break
		}
		fmt.Fprintf(w, "iter %s = %s\n", it.Key(), it.Value())
		_ = txn.Delete(it.Key())
		n++
	}
	it.Close()
	if err != nil {
		return fmt.Errorf("iter: %w", err)
	}
	if err := txn.Commit(ctx); err != nil {
		return fmt.Errorf("commit deletes: %w", err)
	}
	fmt.Fprintf(w, "deleted %d accounts\n", n)
	return nil
}
