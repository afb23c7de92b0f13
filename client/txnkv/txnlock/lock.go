// Package txnlock is the lock resolver: given locks a request met, it finds
// each lock's transaction status at its primary key (CheckTxnStatus), then
// commits or rolls back the locks of finished transactions (ResolveLock,
// PessimisticRollback), and tells the caller how long to wait for the ones
// still alive. It mirrors client-go txnkv/txnlock/lock_resolver.go.
//
// Async-commit locks: while the primary's TTL lasts they are waited for like
// any lock; once it has expired the transaction is decided from all its
// locks with CheckSecondaryLocks (async.go).
package txnlock

import (
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// Lock is a lock met on a key (client-go txnlock.Lock).
type Lock struct {
	Key             []byte
	Primary         []byte
	TxnID           uint64
	TTL             uint64
	TxnSize         uint64
	LockType        kvrpcpb.Op
	UseAsyncCommit  bool
	LockForUpdateTS uint64
	MinCommitTS     uint64
	IsTxnFile       bool
}

// NewLock converts TiKV's LockInfo.
func NewLock(l *kvrpcpb.LockInfo) *Lock {
	return &Lock{
		Key: l.GetKey(), Primary: l.GetPrimaryLock(), TxnID: l.GetLockVersion(), TTL: l.GetLockTtl(),
		TxnSize: l.GetTxnSize(), LockType: l.GetLockType(), UseAsyncCommit: l.GetUseAsyncCommit(),
		LockForUpdateTS: l.GetLockForUpdateTs(), MinCommitTS: l.GetMinCommitTs(), IsTxnFile: l.GetIsTxnFile(),
	}
}

// IsPessimistic reports whether the lock is a pessimistic lock (not yet
// prewritten).
func (l *Lock) IsPessimistic() bool {
	return l.LockType == kvrpcpb.Op_PessimisticLock || l.LockType == kvrpcpb.Op_SharedPessimisticLock
}

func (l *Lock) String() string {
	return fmt.Sprintf("key: %q, primary: %q, txnStartTS: %d, lockForUpdateTS: %d, minCommitTs: %d, ttl: %d, type: %s, UseAsyncCommit: %t, txnSize: %d",
		l.Key, l.Primary, l.TxnID, l.LockForUpdateTS, l.MinCommitTS, l.TTL, l.LockType, l.UseAsyncCommit, l.TxnSize)
}

// TxnStatus is a transaction's status as CheckTxnStatus reported it.
type TxnStatus struct {
	ttl         uint64
	commitTS    uint64
	action      kvrpcpb.Action
	primaryLock *kvrpcpb.LockInfo
}

// IsCommitted reports whether the transaction committed.
func (s TxnStatus) IsCommitted() bool { return s.commitTS > 0 }

// IsRolledBack reports whether the transaction is rolled back (TiKV's
// NoAction, LockNotExistRollback and TTLExpireRollback with no lock left).
func (s TxnStatus) IsRolledBack() bool {
	return s.ttl == 0 && s.commitTS == 0 && (s.action == kvrpcpb.Action_NoAction ||
		s.action == kvrpcpb.Action_LockNotExistRollback || s.action == kvrpcpb.Action_TTLExpireRollback)
}

// IsStatusDetermined reports whether the transaction has finished.
func (s TxnStatus) IsStatusDetermined() bool { return s.IsRolledBack() || s.IsCommitted() }

// CommitTS returns the commit ts of a committed transaction.
func (s TxnStatus) CommitTS() uint64 { return s.commitTS }

// TTL returns the primary lock's TTL while the transaction is alive.
func (s TxnStatus) TTL() uint64 { return s.ttl }

// Action returns what CheckTxnStatus did.
func (s TxnStatus) Action() kvrpcpb.Action { return s.action }

func (s TxnStatus) String() string {
	return fmt.Sprintf("ttl:%v commit_ts:%v action: %v", s.ttl, s.commitTS, s.action)
}
