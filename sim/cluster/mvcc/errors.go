package mvcc

import (
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// The helpers below build kvrpcpb.KeyError values the way TiKV's
// extract_key_error does (src/storage/errors.rs).

func errLocked(l *Lock, rawKey []byte) *kvrpcpb.KeyError {
	return &kvrpcpb.KeyError{Locked: l.lockInfo(rawKey)}
}

func errWriteConflict(startTS, conflictStartTS, conflictCommitTS uint64, key, primary []byte, reason kvrpcpb.WriteConflict_Reason) *kvrpcpb.KeyError {
	wc := &kvrpcpb.WriteConflict{
		StartTs:          startTS,
		ConflictTs:       conflictStartTS,
		Key:              append([]byte(nil), key...),
		Primary:          append([]byte(nil), primary...),
		ConflictCommitTs: conflictCommitTS,
		Reason:           reason,
	}
	return &kvrpcpb.KeyError{
		Conflict: wc,
		Retryable: fmt.Sprintf("WriteConflict { start_ts: %d, conflict_start_ts: %d, conflict_commit_ts: %d, key: %X, primary: %X, reason: %v }",
			startTS, conflictStartTS, conflictCommitTS, key, primary, reason),
	}
}

func errAlreadyExist(key []byte) *kvrpcpb.KeyError {
	return &kvrpcpb.KeyError{AlreadyExist: &kvrpcpb.AlreadyExist{Key: append([]byte(nil), key...)}}
}

func errTxnLockNotFound(startTS, commitTS uint64, key []byte) *kvrpcpb.KeyError {
	return &kvrpcpb.KeyError{
		Retryable:       fmt.Sprintf("TxnLockNotFound { start_ts: %d, commit_ts: %d, key: %X }", startTS, commitTS, key),
		TxnLockNotFound: &kvrpcpb.TxnLockNotFound{Key: append([]byte(nil), key...)},
	}
}

func errTxnNotFound(startTS uint64, key []byte) *kvrpcpb.KeyError {
	return &kvrpcpb.KeyError{TxnNotFound: &kvrpcpb.TxnNotFound{StartTs: startTS, PrimaryKey: append([]byte(nil), key...)}}
}

func errCommitTSExpired(startTS, commitTS uint64, key []byte, minCommitTS uint64) *kvrpcpb.KeyError {
	return &kvrpcpb.KeyError{CommitTsExpired: &kvrpcpb.CommitTsExpired{
		StartTs: startTS, AttemptedCommitTs: commitTS, Key: append([]byte(nil), key...), MinCommitTs: minCommitTS,
	}}
}

func errCommitTSTooLarge(minCommitTS uint64) *kvrpcpb.KeyError {
	return &kvrpcpb.KeyError{CommitTsTooLarge: &kvrpcpb.CommitTsTooLarge{CommitTs: minCommitTS}}
}

func errAssertionFailed(startTS uint64, key []byte, a kvrpcpb.Assertion, existStart, existCommit uint64) *kvrpcpb.KeyError {
	return &kvrpcpb.KeyError{AssertionFailed: &kvrpcpb.AssertionFailed{
		StartTs: startTS, Key: append([]byte(nil), key...), Assertion: a,
		ExistingStartTs: existStart, ExistingCommitTs: existCommit,
	}}
}

func errPrimaryMismatch(l *Lock, rawKey []byte) *kvrpcpb.KeyError {
	return &kvrpcpb.KeyError{PrimaryMismatch: &kvrpcpb.PrimaryMismatch{LockInfo: l.lockInfo(rawKey)}}
}

// errAbort is every other TiKV error: a debug string in KeyError.abort.
func errAbort(format string, args ...any) *kvrpcpb.KeyError {
	return &kvrpcpb.KeyError{Abort: fmt.Sprintf(format, args...)}
}

// Pessimistic-lock-not-found reasons (txn_types PessimisticLockNotFoundReason).
const (
	reasonLockTsMismatch          = "LockTsMismatch"
	reasonLockMissingAmendFail    = "LockMissingAmendFail"
	reasonNonLockKeyConflict      = "NonLockKeyConflict"
	reasonLockForUpdateTsMismatch = "LockForUpdateTsMismatch"
)

func errPessimisticLockNotFound(startTS uint64, key []byte, reason string) *kvrpcpb.KeyError {
	return errAbort("PessimisticLockNotFound { start_ts: %d, key: %X, reason: %s }", startTS, key, reason)
}

// errZeroTS answers a write command whose start_ts is 0. TiKV has no
// explicit check; timestamp 0 is never allocated by PD, and a record at
// commit_ts 0 would break the key encoding's invariants, so the engine
// rejects it as an abort error.
func errZeroTS() *kvrpcpb.KeyError {
	return errAbort("invalid start_ts 0")
}
