// Package tikverr owns the errors the client returns to its users, the ones
// they match with errors.Is and errors.As: sentinel values for conditions
// (ErrResultUndetermined, ErrTiKVServerBusy, ErrClosed, ...), typed errors
// carrying the server's key-error details (ErrWriteConflict, ErrKeyIsLocked,
// ErrKeyExist, ErrDeadlock, ErrTxnNotFound, ...), and errors for invalid
// arguments rejected before any RPC. It is client-go's error package
// (error/error.go) under a name that does not shadow the builtin.
//
// Two rules hold across the client:
//
//   - An operation that may or may not have taken effect returns an error
//     for which IsErrUndetermined is true. Callers must not treat it as a
//     failure (the write may be visible) nor as a success.
//   - Key errors from TiKV are turned into typed errors by ExtractKeyErr; a
//     caller matches the kind with errors.As and reads the details from the
//     embedded kvproto message.
//
// There is no global state here: no metrics, no logger, no redaction switch.
package tikverr

import (
	"errors"
	"fmt"
)

// Sentinel errors. Wrapped errors keep them reachable through errors.Is.
var (
	// ErrBodyMissing is returned when a response carries no body.
	ErrBodyMissing = errors.New("response body is missing")
	// ErrClosed is returned by every operation on a closed client.
	ErrClosed = errors.New("client is closed")
	// ErrNotExist means the data asked for does not exist.
	ErrNotExist = errors.New("not exist")
	// ErrCannotSetNilValue is returned when a nil value is written.
	ErrCannotSetNilValue = errors.New("can not set nil value")
	// ErrInvalidTxn is returned when committing or rolling back an invalid
	// transaction.
	ErrInvalidTxn = errors.New("invalid transaction")
	// ErrInvalidArgument is matched (errors.Is) by every *InvalidArgumentError.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrTiKVServerTimeout is returned when TiKV RPCs keep timing out until
	// the backoff budget is spent.
	ErrTiKVServerTimeout = errors.New("tikv server timeout")
	// ErrTiFlashServerTimeout is returned when TiFlash RPCs keep timing out.
	ErrTiFlashServerTimeout = errors.New("tiflash server timeout")
	// ErrQueryInterrupted is returned when the operation was interrupted.
	ErrQueryInterrupted = errors.New("query interrupted")
	// ErrTiKVStaleCommand is returned when TiKV keeps answering StaleCommand.
	ErrTiKVStaleCommand = errors.New("tikv stale command")
	// ErrTiKVMaxTimestampNotSynced is returned when TiKV's max timestamp is
	// not synced with PD after a leader change.
	ErrTiKVMaxTimestampNotSynced = errors.New("tikv max timestamp not synced")
	// ErrLockAcquireFailAndNoWaitSet is returned when a pessimistic lock is
	// held by another transaction and the lock request set no-wait.
	ErrLockAcquireFailAndNoWaitSet = errors.New("lock acquired failed and no wait is set")
	// ErrResolveLockTimeout is returned when resolving locks does not finish
	// within the backoff budget.
	ErrResolveLockTimeout = errors.New("resolve lock timeout")
	// ErrLockWaitTimeout is returned when waiting for a pessimistic lock
	// times out.
	ErrLockWaitTimeout = errors.New("lock wait timeout")
	// ErrTiKVServerBusy is returned when TiKV keeps answering ServerIsBusy.
	ErrTiKVServerBusy = errors.New("tikv server busy")
	// ErrTiFlashServerBusy is returned when TiFlash keeps answering busy.
	ErrTiFlashServerBusy = errors.New("tiflash server busy")
	// ErrRegionUnavailable is returned when a region cannot be reached
	// (no leader, not found, epoch changes) within the backoff budget.
	ErrRegionUnavailable = errors.New("region unavailable")
	// ErrRegionDataNotReady is returned when a stale read finds the
	// replica's safe ts behind the read ts.
	ErrRegionDataNotReady = errors.New("region data not ready")
	// ErrRegionNotInitialized is returned when the region's peer is not
	// initialized yet.
	ErrRegionNotInitialized = errors.New("region not Initialized")
	// ErrTiKVDiskFull is returned when TiKV rejects writes for a full disk.
	ErrTiKVDiskFull = errors.New("tikv disk full")
	// ErrCommitTSLag is returned when the commit ts fetched from PD falls
	// behind the expected value.
	ErrCommitTSLag = errors.New("commit timestamp lags behind expected")
	// ErrRegionRecoveryInProgress is returned while a region is being
	// recovered by online unsafe recovery.
	ErrRegionRecoveryInProgress = errors.New("region is being online unsafe recovered")
	// ErrRegionFlashbackInProgress is returned when a region in flashback
	// receives another request.
	ErrRegionFlashbackInProgress = errors.New("region is in the flashback progress")
	// ErrRegionFlashbackNotPrepared is returned when flashback was not
	// prepared first.
	ErrRegionFlashbackNotPrepared = errors.New("region is not prepared for the flashback")
	// ErrIsWitness is returned when a request reaches a witness peer.
	ErrIsWitness = errors.New("peer is witness")
	// ErrUnknown is an error whose cause is not known.
	ErrUnknown = errors.New("unknown")
	// ErrResultUndetermined means the operation may or may not have taken
	// effect. Match it with IsErrUndetermined.
	ErrResultUndetermined = errors.New("execution result undetermined")
)

// MismatchClusterID is the message PD returns when the client talks to a
// different cluster than it was built for.
const MismatchClusterID = "mismatch cluster id"

// IsErrNotFound reports whether err is, or wraps, ErrNotExist.
func IsErrNotFound(err error) bool { return errors.Is(err, ErrNotExist) }

// IsErrUndetermined reports whether err says the outcome of the operation is
// unknown: it may have been applied or not.
func IsErrUndetermined(err error) bool { return errors.Is(err, ErrResultUndetermined) }

// IsErrorUndetermined is IsErrUndetermined under client-go's name.
func IsErrorUndetermined(err error) bool { return IsErrUndetermined(err) }

// IsErrorCommitTSLag reports whether err is, or wraps, ErrCommitTSLag.
func IsErrorCommitTSLag(err error) bool { return errors.Is(err, ErrCommitTSLag) }

// UndeterminedError wraps the error that made an operation's outcome unknown
// (a lost response, a timeout after sending). It matches
// ErrResultUndetermined with errors.Is and unwraps to Cause.
type UndeterminedError struct {
	// Op names the operation, e.g. "RawPut" or "commit primary".
	Op string
	// Cause is what happened; it may be nil.
	Cause error
}

// Undetermined returns an *UndeterminedError for op caused by cause.
func Undetermined(op string, cause error) error { return &UndeterminedError{Op: op, Cause: cause} }

// Error implements the error interface.
func (e *UndeterminedError) Error() string {
	if e.Cause == nil {
		return fmt.Sprintf("%s: %v", e.Op, ErrResultUndetermined)
	}
	return fmt.Sprintf("%s: %v: %v", e.Op, ErrResultUndetermined, e.Cause)
}

// Is makes errors.Is(e, ErrResultUndetermined) true.
func (e *UndeterminedError) Is(target error) bool { return target == ErrResultUndetermined }

// Unwrap returns Cause.
func (e *UndeterminedError) Unwrap() error { return e.Cause }

// InvalidArgumentError is an argument rejected before any RPC was sent, so
// the operation certainly had no effect. It matches ErrInvalidArgument.
type InvalidArgumentError struct {
	// Op is the API called, e.g. "rawkv.Put".
	Op string
	// Arg names the argument, e.g. "key" or "limit".
	Arg string
	// Reason says what is wrong, e.g. "empty" or "exceeds 10240".
	Reason string
}

// InvalidArgument returns an *InvalidArgumentError.
func InvalidArgument(op, arg, reason string) error {
	return &InvalidArgumentError{Op: op, Arg: arg, Reason: reason}
}

// Error implements the error interface.
func (e *InvalidArgumentError) Error() string {
	return fmt.Sprintf("%s: invalid argument %s: %s", e.Op, e.Arg, e.Reason)
}

// Is makes errors.Is(e, ErrInvalidArgument) true.
func (e *InvalidArgumentError) Is(target error) bool { return target == ErrInvalidArgument }
