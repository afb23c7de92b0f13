package workloads

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tikvsim/tikvsim/client/kv"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/txnkv"
	"github.com/tikvsim/tikvsim/client/txnkv/transaction"
)

// TxnMode is the commit protocol a transactional workload's transactions
// use: "2pc" (the default, also ""), "async" (async commit), "1pc" (one-phase
// commit where the transaction fits one region and one batch, else 2PC), or
// "mixed" (each transaction picks one of 2PC, async commit, 1PC, or 1PC with
// async commit from its start ts, so the choice replays with the run),
// "pessimistic" (pessimistic transactions: every key is locked on TiKV
// before it is read for update or written, as a pessimistic SQL
// transaction's SELECT ... FOR UPDATE and DML do; 2PC commit), or
// "pessimistic-aggressive" (the same, each key locked by its own
// statement under aggressive / fair locking: a conflict locks the key
// anyway and the statement is retried at a newer for_update_ts).
type TxnMode string

// TxnModes lists the accepted modes.
var TxnModes = []string{"2pc", "async", "1pc", "mixed", "pessimistic", "pessimistic-aggressive"}

// ParseTxnMode validates s ("" is "2pc").
func ParseTxnMode(s string) (TxnMode, error) {
	if s == "" {
		return "2pc", nil
	}
	if !slices.Contains(TxnModes, s) {
		return "", fmt.Errorf("txn mode %q: want one of %s", s, strings.Join(TxnModes, ", "))
	}
	return TxnMode(s), nil
}

// MustTxnMode is ParseTxnMode for a mode already validated (the harness
// checks Spec.Txn); it panics on an invalid one.
func MustTxnMode(s string) TxnMode {
	m, err := ParseTxnMode(s)
	if err != nil {
		panic(err)
	}
	return m
}

// Describe returns " txn=MODE" for the run header, or "" for 2PC (the
// header of a default run stays as it was).
func (m TxnMode) Describe() string {
	if m == "" || m == "2pc" {
		return ""
	}
	return " txn=" + string(m)
}

// Apply sets txn's commit protocol; call it before Commit.
func (m TxnMode) Apply(txn *transaction.KVTxn) {
	switch m {
	case "async":
		txn.SetEnableAsyncCommit(true)
	case "1pc":
		txn.SetEnable1PC(true)
	case "mixed":
		switch mix(txn.StartTS()) % 4 {
		case 1:
			txn.SetEnableAsyncCommit(true)
		case 2:
			txn.SetEnable1PC(true)
		case 3:
			txn.SetEnableAsyncCommit(true)
			txn.SetEnable1PC(true)
		}
	}
}

// mix is splitmix64's finalizer: start ts differ mostly in their high bits.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// Pessimistic reports whether the mode runs pessimistic transactions.
func (m TxnMode) Pessimistic() bool { return m == "pessimistic" || m == "pessimistic-aggressive" }

// Begin prepares a transaction just begun: pessimistic modes make it
// pessimistic. Call it before the transaction's first read or write.
func (m TxnMode) Begin(txn *transaction.KVTxn) {
	if m.Pessimistic() {
		txn.SetPessimistic(true)
	}
}

// maxStatementRetries bounds how often a statement is retried after a
// write conflict on its locks (TiDB retries pessimistic statements without
// a bound; the operation's timeout bounds it there).
const maxStatementRetries = 20

// ReadForUpdate reads keys in txn for a read-modify-write: values of the
// keys that exist, by string(key), the transaction's own writes first. In
// a pessimistic mode the keys are locked first, at a fresh for_update_ts
// (SELECT ... FOR UPDATE), and the values are the latest committed ones,
// which the locks keep current until the commit; a write conflict retries
// the statement at a newer for_update_ts. Otherwise it is txn.BatchGet at
// the start ts.
func (m TxnMode) ReadForUpdate(ctx context.Context, cli *txnkv.Client, txn *transaction.KVTxn, keys ...[]byte) (map[string][]byte, error) {
	if !m.Pessimistic() {
		return txn.BatchGet(ctx, keys)
	}
	if err := m.lock(ctx, cli, txn, keys); err != nil {
		return nil, err
	}
	// Every key is locked: read them at the latest for_update_ts, above
	// every write that committed before the locks (a pessimistic lock
	// does not block reads).
	out := map[string][]byte{}
	snap := cli.GetSnapshot(txn.GetForUpdateTS())
	for _, k := range keys {
		get := snap.Get
		if _, err := txn.GetMemBuffer().Get(ctx, k); err == nil {
			get = txn.Get // written by the transaction: its own write
		}
		v, err := get(ctx, k)
		switch {
		case err == nil:
			out[string(k)] = v
		case !errors.Is(err, tikverr.ErrNotExist):
			return nil, err
		}
	}
	return out, nil
}

// LockForWrite locks keys before a blind write in a pessimistic mode (a
// DML statement's locks); elsewhere it does nothing.
func (m TxnMode) LockForWrite(ctx context.Context, cli *txnkv.Client, txn *transaction.KVTxn, keys ...[]byte) error {
	if !m.Pessimistic() {
		return nil
	}
	return m.lock(ctx, cli, txn, keys)
}

// lock is one locking statement: pessimistic locks on keys at a fresh
// for_update_ts, retried at a newer one after a write conflict. In the
// aggressive mode each key is locked by a single-key LockKeys inside
// aggressive locking (TiKV fair locking); a key locked with a conflict
// retries the statement, reusing the locks already held.
func (m TxnMode) lock(ctx context.Context, cli *txnkv.Client, txn *transaction.KVTxn, keys [][]byte) error {
	keys = slices.Clone(keys)
	slices.SortFunc(keys, bytes.Compare)
	keys = slices.CompactFunc(keys, bytes.Equal)
	aggressive := m == "pessimistic-aggressive"
	if aggressive {
		txn.StartAggressiveLocking()
	}
	for attempt := 0; ; attempt++ {
		ts, err := cli.GetTimestamp(ctx)
		if err != nil {
			if aggressive {
				txn.CancelAggressiveLocking(ctx)
			}
			return err
		}
		retry := false
		if aggressive {
			for _, k := range keys {
				lc := kv.NewLockCtx(ts, kv.LockAlwaysWait, time.Time{})
				if err = txn.LockKeys(ctx, lc, k); err != nil {
					break
				}
				if lc.MaxLockedWithConflictTS > ts {
					retry = true // locked over a newer write: redo the statement
				}
			}
		} else {
			err = txn.LockKeys(ctx, kv.NewLockCtx(ts, kv.LockAlwaysWait, time.Time{}), keys...)
		}
		if tikverr.IsErrWriteConflict(err) {
			retry, err = true, nil
		}
		if err != nil {
			if aggressive {
				txn.CancelAggressiveLocking(ctx)
			}
			return err
		}
		if !retry {
			if aggressive {
				txn.DoneAggressiveLocking(ctx)
			}
			return nil
		}
		if attempt+1 >= maxStatementRetries {
			if aggressive {
				txn.CancelAggressiveLocking(ctx)
			}
			return fmt.Errorf("lock %d keys: still conflicting after %d statement retries", len(keys), maxStatementRetries)
		}
		if aggressive {
			txn.RetryAggressiveLocking(ctx)
		}
	}
}
