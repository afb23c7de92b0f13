package workloads

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tikvsim/tikvsim/client/txnkv/transaction"
)

// TxnMode is the commit protocol a transactional workload's transactions
// use: "2pc" (the default, also ""), "async" (async commit), "1pc" (one-phase
// commit where the transaction fits one region and one batch, else 2PC), or
// "mixed" (each transaction picks one of 2PC, async commit, 1PC, or 1PC with
// async commit from its start ts, so the choice replays with the run).
type TxnMode string

// TxnModes lists the accepted modes.
var TxnModes = []string{"2pc", "async", "1pc", "mixed"}

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
