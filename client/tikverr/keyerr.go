package tikverr

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/pdpb"
)

// ErrWriteConflict is a write-write conflict reported by TiKV: another
// transaction committed Key after this one started (optimistic prewrite), or
// a pessimistic lock found a newer write. All fields of the kvproto message
// (StartTs, ConflictTs, ConflictCommitTs, Key, Primary, Reason) are promoted.
type ErrWriteConflict struct {
	*kvrpcpb.WriteConflict
}

// NewErrWriteConflict wraps conflict.
func NewErrWriteConflict(conflict *kvrpcpb.WriteConflict) *ErrWriteConflict {
	return &ErrWriteConflict{WriteConflict: conflict}
}

// NewErrWriteConflictWithArgs builds an ErrWriteConflict from its fields.
func NewErrWriteConflictWithArgs(startTS, conflictTS, conflictCommitTS uint64, key []byte, reason kvrpcpb.WriteConflict_Reason) *ErrWriteConflict {
	return NewErrWriteConflict(&kvrpcpb.WriteConflict{
		StartTs:          startTS,
		ConflictTs:       conflictTS,
		Key:              key,
		ConflictCommitTs: conflictCommitTS,
		Reason:           reason,
	})
}

// Error implements the error interface.
func (e *ErrWriteConflict) Error() string {
	return fmt.Sprintf("write conflict { %s }", compact(e.String()))
}

// IsErrWriteConflict reports whether err is, or wraps, an *ErrWriteConflict.
func IsErrWriteConflict(err error) bool { return isA[*ErrWriteConflict](err) }

// ErrWriteConflictInLatch is a conflict detected by the client's local
// latches before any RPC.
type ErrWriteConflictInLatch struct {
	StartTS uint64
}

// Error implements the error interface.
func (e *ErrWriteConflictInLatch) Error() string {
	return fmt.Sprintf("write conflict in latch, startTS: %v", e.StartTS)
}

// ErrKeyIsLocked is a read or write that met another transaction's lock.
// The lock resolver consumes Lock; users see it only when resolving failed.
type ErrKeyIsLocked struct {
	*kvrpcpb.LockInfo
}

// Error implements the error interface.
func (e *ErrKeyIsLocked) Error() string {
	return fmt.Sprintf("key is locked { key: %q, primary: %q, start_ts: %d, ttl: %d, type: %s }",
		e.Key, e.PrimaryLock, e.LockVersion, e.LockTtl, e.LockType)
}

// ErrKeyExist is an insert (or a "not exists" assertion) that found the key
// already present.
type ErrKeyExist struct {
	*kvrpcpb.AlreadyExist
	// Value is the value that was being written, when the client knows it
	// (pipelined DML reports it); it is not part of the protocol.
	Value []byte
}

// Error implements the error interface.
func (e *ErrKeyExist) Error() string {
	return fmt.Sprintf("key already exists { %s }", compact(e.String()))
}

// IsErrKeyExist reports whether err is, or wraps, an *ErrKeyExist.
func IsErrKeyExist(err error) bool { return isA[*ErrKeyExist](err) }

// ErrDeadlock is a pessimistic lock request aborted by TiKV's deadlock
// detector. WaitChain describes the cycle.
type ErrDeadlock struct {
	*kvrpcpb.Deadlock
	// IsRetryable marks deadlocks the transaction layer may retry (the
	// fair-locking retry path).
	IsRetryable bool
}

// Error implements the error interface.
func (e *ErrDeadlock) Error() string { return fmt.Sprintf("deadlock { %s }", compact(e.String())) }

// ErrRetryable is a key error TiKV marks retryable; the message is TiKV's.
type ErrRetryable struct {
	Retryable string
}

// Error implements the error interface.
func (e *ErrRetryable) Error() string { return e.Retryable }

// ErrTxnAborted is a transaction TiKV aborted (KeyError.abort).
type ErrTxnAborted struct {
	Reason string
}

// Error implements the error interface.
func (e *ErrTxnAborted) Error() string { return "tikv aborts txn: " + e.Reason }

// ErrCommitTsTooLarge is a commit ts TiKV refused as too far ahead.
type ErrCommitTsTooLarge struct {
	CommitTS uint64
}

// Error implements the error interface.
func (e *ErrCommitTsTooLarge) Error() string {
	return fmt.Sprintf("commit TS %v is too large", e.CommitTS)
}

// ErrCommitTsExpired is a commit whose ts is below the lock's min_commit_ts
// (async commit / 1PC pushed it); the transaction must retry with a newer ts.
type ErrCommitTsExpired struct {
	*kvrpcpb.CommitTsExpired
}

// Error implements the error interface.
func (e *ErrCommitTsExpired) Error() string {
	return fmt.Sprintf("commit ts expired { %s }", compact(e.String()))
}

// ErrTxnNotFound is a commit or heartbeat whose transaction has no lock and
// no commit record: it was rolled back (or never prewritten).
type ErrTxnNotFound struct {
	*kvrpcpb.TxnNotFound
}

// Error implements the error interface.
func (e *ErrTxnNotFound) Error() string { return fmt.Sprintf("txn %d not found", e.StartTs) }

// ErrTxnLockNotFound is a check that found no lock of the transaction on Key.
type ErrTxnLockNotFound struct {
	*kvrpcpb.TxnLockNotFound
}

// Error implements the error interface.
func (e *ErrTxnLockNotFound) Error() string {
	return fmt.Sprintf("txn lock not found { %s }", compact(e.String()))
}

// ErrPrimaryMismatch is a check-txn-status whose lock has another primary.
type ErrPrimaryMismatch struct {
	*kvrpcpb.PrimaryMismatch
}

// Error implements the error interface.
func (e *ErrPrimaryMismatch) Error() string {
	return fmt.Sprintf("primary mismatch { %s }", compact(e.String()))
}

// ErrAssertionFailed is a mutation whose existence assertion did not hold.
type ErrAssertionFailed struct {
	*kvrpcpb.AssertionFailed
}

// Error implements the error interface.
func (e *ErrAssertionFailed) Error() string {
	return fmt.Sprintf("assertion failed { %s }", compact(e.String()))
}

// ErrUnknownKeyError is a KeyError with no field this client understands.
type ErrUnknownKeyError struct {
	*kvrpcpb.KeyError
}

// Error implements the error interface.
func (e *ErrUnknownKeyError) Error() string {
	return fmt.Sprintf("unexpected KeyError: %s", compact(e.String()))
}

// ExtractKeyErr turns a TiKV key error into a typed error. The first set
// field wins, in this order: Locked (*ErrKeyIsLocked), Conflict
// (*ErrWriteConflict), AlreadyExist (*ErrKeyExist), Deadlock (*ErrDeadlock),
// Retryable (*ErrRetryable), AssertionFailed, Abort (*ErrTxnAborted),
// CommitTsTooLarge, CommitTsExpired, TxnNotFound, TxnLockNotFound,
// PrimaryMismatch; otherwise *ErrUnknownKeyError. The kvproto messages are
// shared, not copied. A nil keyErr gives nil.
//
// client-go's ExtractKeyErr (error/error.go) handles fewer fields and leaves
// the rest to its callers; here one function covers them all.
func ExtractKeyErr(keyErr *kvrpcpb.KeyError) error {
	switch {
	case keyErr == nil:
		return nil
	case keyErr.Locked != nil:
		return &ErrKeyIsLocked{LockInfo: keyErr.Locked}
	case keyErr.Conflict != nil:
		return NewErrWriteConflict(keyErr.Conflict)
	case keyErr.AlreadyExist != nil:
		return &ErrKeyExist{AlreadyExist: keyErr.AlreadyExist}
	case keyErr.Deadlock != nil:
		return &ErrDeadlock{Deadlock: keyErr.Deadlock}
	case keyErr.Retryable != "":
		return &ErrRetryable{Retryable: keyErr.Retryable}
	case keyErr.AssertionFailed != nil:
		return &ErrAssertionFailed{AssertionFailed: keyErr.AssertionFailed}
	case keyErr.Abort != "":
		return &ErrTxnAborted{Reason: keyErr.Abort}
	case keyErr.CommitTsTooLarge != nil:
		return &ErrCommitTsTooLarge{CommitTS: keyErr.CommitTsTooLarge.CommitTs}
	case keyErr.CommitTsExpired != nil:
		return &ErrCommitTsExpired{CommitTsExpired: keyErr.CommitTsExpired}
	case keyErr.TxnNotFound != nil:
		return &ErrTxnNotFound{TxnNotFound: keyErr.TxnNotFound}
	case keyErr.TxnLockNotFound != nil:
		return &ErrTxnLockNotFound{TxnLockNotFound: keyErr.TxnLockNotFound}
	case keyErr.PrimaryMismatch != nil:
		return &ErrPrimaryMismatch{PrimaryMismatch: keyErr.PrimaryMismatch}
	}
	return &ErrUnknownKeyError{KeyError: keyErr}
}

// ExtractDebugInfoStrFromKeyErr returns the JSON form of keyErr.DebugInfo, or
// "" when there is none. With redact set, every key and value byte string in
// it is replaced by "?" (the caller decides; there is no global switch). The
// key error itself is never modified. Mirrors client-go error/error.go.
func ExtractDebugInfoStrFromKeyErr(keyErr *kvrpcpb.KeyError, redact bool) string {
	info := keyErr.GetDebugInfo()
	if info == nil {
		return ""
	}
	if redact {
		info = redactDebugInfo(info)
	}
	out, err := json.Marshal(info)
	if err != nil { // unreachable for these plain structs
		return ""
	}
	return string(out)
}

func redactDebugInfo(in *kvrpcpb.DebugInfo) *kvrpcpb.DebugInfo {
	marker := []byte{'?'}
	out := &kvrpcpb.DebugInfo{MvccInfo: make([]*kvrpcpb.MvccDebugInfo, len(in.MvccInfo))}
	for i, mi := range in.MvccInfo {
		if mi == nil {
			continue
		}
		c := &kvrpcpb.MvccDebugInfo{Key: marker}
		if m := mi.Mvcc; m != nil {
			cm := &kvrpcpb.MvccInfo{}
			if l := m.Lock; l != nil {
				cl := *l
				cl.Primary, cl.ShortValue = marker, marker
				cl.Secondaries = make([][]byte, len(l.Secondaries))
				for j := range cl.Secondaries {
					cl.Secondaries[j] = marker
				}
				cm.Lock = &cl
			}
			for _, w := range m.Writes {
				if w != nil {
					cw := *w
					cw.ShortValue = marker
					w = &cw
				}
				cm.Writes = append(cm.Writes, w)
			}
			for _, v := range m.Values {
				if v != nil {
					cv := *v
					cv.Value = marker
					v = &cv
				}
				cm.Values = append(cm.Values, v)
			}
			c.Mvcc = cm
		}
		out.MvccInfo[i] = c
	}
	return out
}

// PDError is an error PD returned in a response header.
type PDError struct {
	Err *pdpb.Error
}

// Error implements the error interface.
func (e *PDError) Error() string { return compact(e.Err.String()) }

// ErrPDServerTimeout is PD not answering within the backoff budget.
type ErrPDServerTimeout struct {
	Msg string
}

// NewErrPDServerTimeout returns an *ErrPDServerTimeout with msg.
func NewErrPDServerTimeout(msg string) error { return &ErrPDServerTimeout{Msg: msg} }

// Error implements the error interface.
func (e *ErrPDServerTimeout) Error() string {
	if e.Msg == "" {
		return "pd server timeout"
	}
	return "pd server timeout: " + e.Msg
}

// ErrQueryInterruptedWithSignal is an operation stopped by a kill signal.
type ErrQueryInterruptedWithSignal struct {
	Signal uint32
}

// Error implements the error interface.
func (e ErrQueryInterruptedWithSignal) Error() string {
	return fmt.Sprintf("query interrupted by signal %d", e.Signal)
}

// Is makes errors.Is(e, ErrQueryInterrupted) true.
func (e ErrQueryInterruptedWithSignal) Is(target error) bool { return target == ErrQueryInterrupted }

// ErrTxnTooLarge is a transaction over the size limit.
type ErrTxnTooLarge struct {
	Size int
}

// Error implements the error interface.
func (e *ErrTxnTooLarge) Error() string { return fmt.Sprintf("txn too large, size: %v.", e.Size) }

// ErrKeyTooLarge is a key over the size limit.
type ErrKeyTooLarge struct {
	KeySize int
}

// Error implements the error interface.
func (e *ErrKeyTooLarge) Error() string {
	return fmt.Sprintf("key size too large, size: %v.", e.KeySize)
}

// ErrEntryTooLarge is a key-value entry over Limit bytes.
type ErrEntryTooLarge struct {
	Limit uint64
	Size  uint64
}

// Error implements the error interface.
func (e *ErrEntryTooLarge) Error() string {
	return fmt.Sprintf("entry size too large, size: %v, limit: %v.", e.Size, e.Limit)
}

// ErrTxnAbortedByGC is a transaction whose start ts fell behind the txn
// safe point: GC may have removed versions it reads, so it must abort.
type ErrTxnAbortedByGC struct {
	TxnStartTS       uint64
	TxnStartTSTime   time.Time
	TxnSafePoint     uint64
	TxnSafePointTime time.Time
}

// Error implements the error interface.
func (e *ErrTxnAbortedByGC) Error() string {
	// The wording is client-go's, kept because operators search for it.
	return fmt.Sprintf("GC life time is shorter than transaction duration, transaction start ts is %v (%v), txn safe point is %v (%v)",
		e.TxnStartTS, e.TxnStartTSTime, e.TxnSafePoint, e.TxnSafePointTime)
}

// ErrTokenLimit is a store whose request token pool is exhausted.
type ErrTokenLimit struct {
	StoreID uint64
}

// Error implements the error interface.
func (e *ErrTokenLimit) Error() string {
	return fmt.Sprintf("Store token is up to the limit, store id = %d.", e.StoreID)
}

// ErrLockOnlyIfExistsNoReturnValue is a LockCtx with LockOnlyIfExists but
// without ReturnValues.
type ErrLockOnlyIfExistsNoReturnValue struct {
	StartTS     uint64
	ForUpdateTs uint64
	LockKey     []byte
}

// Error implements the error interface.
func (e *ErrLockOnlyIfExistsNoReturnValue) Error() string {
	return fmt.Sprintf("LockOnlyIfExists is set for Lock Context, but ReturnValues is not set, "+
		"StartTs is {%d}, ForUpdateTs is {%d}, one of lock keys is {%q}.", e.StartTS, e.ForUpdateTs, e.LockKey)
}

// ErrLockOnlyIfExistsNoPrimaryKey is a LockCtx with LockOnlyIfExists in a
// transaction whose primary key is not set.
type ErrLockOnlyIfExistsNoPrimaryKey struct {
	StartTS     uint64
	ForUpdateTs uint64
	LockKey     []byte
}

// Error implements the error interface.
func (e *ErrLockOnlyIfExistsNoPrimaryKey) Error() string {
	return fmt.Sprintf("LockOnlyIfExists is set for Lock Context, but primary key of current transaction is not set, "+
		"StartTs is {%d}, ForUpdateTs is {%d}, one of lock keys is {%q}", e.StartTS, e.ForUpdateTs, e.LockKey)
}

// RegionError is a region error (errorpb.Error) the request sender could not
// recover from by retrying, handed to the caller as is.
type RegionError struct {
	Err *errorpb.Error
}

// Error implements the error interface.
func (e *RegionError) Error() string {
	return fmt.Sprintf("region error { %s }", compact(e.Err.String()))
}
