package tikverr

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/stretchr/testify/require"
)

// Port of client-go error/error_test.go TestExtractDebugInfoStrFromKeyErr.
func TestExtractDebugInfoStrFromKeyErr(t *testing.T) {
	require.Equal(t, "", ExtractDebugInfoStrFromKeyErr(&kvrpcpb.KeyError{
		TxnLockNotFound: &kvrpcpb.TxnLockNotFound{Key: []byte("byte")},
	}, false))
	require.Equal(t, "", ExtractDebugInfoStrFromKeyErr(nil, true))
	debugInfo := &kvrpcpb.DebugInfo{
		MvccInfo: []*kvrpcpb.MvccDebugInfo{{
			Key: []byte("byte"),
			Mvcc: &kvrpcpb.MvccInfo{
				Lock: &kvrpcpb.MvccLock{
					Type:        kvrpcpb.Op_Del,
					StartTs:     128,
					Primary:     []byte("k1"),
					Secondaries: [][]byte{[]byte("k1"), []byte("k2")},
					ShortValue:  []byte("v1"),
				},
				Writes: []*kvrpcpb.MvccWrite{{
					Type:       kvrpcpb.Op_Insert,
					StartTs:    64,
					CommitTs:   86,
					ShortValue: []byte{0x1, 0x2, 0x3, 0x4, 0x5, 0x6},
				}},
				Values: []*kvrpcpb.MvccValue{{StartTs: 64, Value: []byte{0x11, 0x12}}},
			},
		}},
	}
	keyErr := &kvrpcpb.KeyError{
		TxnLockNotFound: &kvrpcpb.TxnLockNotFound{Key: []byte("byte")},
		DebugInfo:       debugInfo,
	}
	want := `{"mvcc_info":[{"key":"Ynl0ZQ==","mvcc":{"lock":{"type":1,"start_ts":128,"primary":"azE=","short_value":"djE=","secondaries":["azE=","azI="]},"writes":[{"type":4,"start_ts":64,"commit_ts":86,"short_value":"AQIDBAUG"}],"values":[{"start_ts":64,"value":"ERI="}]}}]}`
	require.Equal(t, want, ExtractDebugInfoStrFromKeyErr(keyErr, false))

	want = `{"mvcc_info":[{"key":"Pw==","mvcc":{"lock":{"type":1,"start_ts":128,"primary":"Pw==","short_value":"Pw==","secondaries":["Pw==","Pw=="]},"writes":[{"type":4,"start_ts":64,"commit_ts":86,"short_value":"Pw=="}],"values":[{"start_ts":64,"value":"Pw=="}]}}]}`
	require.Equal(t, want, ExtractDebugInfoStrFromKeyErr(keyErr, true))
	// Redaction works on a copy.
	require.Equal(t, []byte("byte"), debugInfo.MvccInfo[0].Key)
	require.Equal(t, []byte("k1"), debugInfo.MvccInfo[0].Mvcc.Lock.Primary)

	// Nil entries survive redaction.
	sparse := &kvrpcpb.KeyError{DebugInfo: &kvrpcpb.DebugInfo{MvccInfo: []*kvrpcpb.MvccDebugInfo{nil, {Key: []byte("k")}}}}
	require.Equal(t, `{"mvcc_info":[null,{"key":"Pw=="}]}`, ExtractDebugInfoStrFromKeyErr(sparse, true))
}

func TestExtractKeyErr(t *testing.T) {
	lock := &kvrpcpb.LockInfo{Key: []byte("k"), PrimaryLock: []byte("p"), LockVersion: 5, LockTtl: 3000}
	for _, tc := range []struct {
		name    string
		in      *kvrpcpb.KeyError
		want    any // pointer to a variable of the expected type
		message string
	}{
		{"locked", &kvrpcpb.KeyError{Locked: lock, Conflict: &kvrpcpb.WriteConflict{}}, new(*ErrKeyIsLocked),
			`key is locked { key: "k", primary: "p", start_ts: 5, ttl: 3000, type: Put }`},
		{"conflict", &kvrpcpb.KeyError{Conflict: &kvrpcpb.WriteConflict{StartTs: 1, ConflictTs: 2, Key: []byte("k")}, Retryable: "x"},
			new(*ErrWriteConflict), `write conflict { start_ts:1 conflict_ts:2 key:"k" }`},
		{"already exist", &kvrpcpb.KeyError{AlreadyExist: &kvrpcpb.AlreadyExist{Key: []byte("k")}}, new(*ErrKeyExist),
			`key already exists { key:"k" }`},
		{"deadlock", &kvrpcpb.KeyError{Deadlock: &kvrpcpb.Deadlock{LockTs: 7, LockKey: []byte("k")}}, new(*ErrDeadlock),
			`deadlock { lock_ts:7 lock_key:"k" }`},
		{"retryable", &kvrpcpb.KeyError{Retryable: "try again"}, new(*ErrRetryable), "try again"},
		{"assertion", &kvrpcpb.KeyError{AssertionFailed: &kvrpcpb.AssertionFailed{StartTs: 3, Key: []byte("k")}},
			new(*ErrAssertionFailed), `assertion failed { start_ts:3 key:"k" }`},
		{"abort", &kvrpcpb.KeyError{Abort: "gone"}, new(*ErrTxnAborted), "tikv aborts txn: gone"},
		{"commit ts too large", &kvrpcpb.KeyError{CommitTsTooLarge: &kvrpcpb.CommitTsTooLarge{CommitTs: 9}},
			new(*ErrCommitTsTooLarge), "commit TS 9 is too large"},
		{"commit ts expired", &kvrpcpb.KeyError{CommitTsExpired: &kvrpcpb.CommitTsExpired{StartTs: 1, AttemptedCommitTs: 2, MinCommitTs: 4}},
			new(*ErrCommitTsExpired), "commit ts expired { start_ts:1 attempted_commit_ts:2 min_commit_ts:4 }"},
		{"txn not found", &kvrpcpb.KeyError{TxnNotFound: &kvrpcpb.TxnNotFound{StartTs: 11, PrimaryKey: []byte("p")}},
			new(*ErrTxnNotFound), "txn 11 not found"},
		{"txn lock not found", &kvrpcpb.KeyError{TxnLockNotFound: &kvrpcpb.TxnLockNotFound{Key: []byte("k")}},
			new(*ErrTxnLockNotFound), `txn lock not found { key:"k" }`},
		{"primary mismatch", &kvrpcpb.KeyError{PrimaryMismatch: &kvrpcpb.PrimaryMismatch{LockInfo: lock}},
			new(*ErrPrimaryMismatch), ""},
		{"unknown", &kvrpcpb.KeyError{}, new(*ErrUnknownKeyError), "unexpected KeyError: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ExtractKeyErr(tc.in)
			wrapped := fmt.Errorf("ctx: %w", err)
			require.True(t, errors.As(wrapped, tc.want), "%T", err)
			if tc.message != "" {
				require.Equal(t, tc.message, err.Error())
			}
			require.NotEmpty(t, err.Error())
		})
	}
	require.NoError(t, ExtractKeyErr(nil))
	require.True(t, IsErrWriteConflict(fmt.Errorf("w: %w", ExtractKeyErr(&kvrpcpb.KeyError{Conflict: &kvrpcpb.WriteConflict{}}))))
	require.True(t, IsErrKeyExist(ExtractKeyErr(&kvrpcpb.KeyError{AlreadyExist: &kvrpcpb.AlreadyExist{}})))
	require.False(t, IsErrKeyExist(errors.New("x")))
	// Details stay reachable through the promoted fields.
	var wc *ErrWriteConflict
	require.True(t, errors.As(ExtractKeyErr(&kvrpcpb.KeyError{Conflict: &kvrpcpb.WriteConflict{ConflictCommitTs: 42,
		Reason: kvrpcpb.WriteConflict_PessimisticRetry}}), &wc))
	require.Equal(t, uint64(42), wc.ConflictCommitTs)
	require.Equal(t, kvrpcpb.WriteConflict_PessimisticRetry, wc.Reason)
}

func TestUndetermined(t *testing.T) {
	cause := errors.New("connection reset")
	err := Undetermined("RawPut", cause)
	require.True(t, IsErrUndetermined(err))
	require.True(t, IsErrorUndetermined(fmt.Errorf("outer: %w", err)))
	require.ErrorIs(t, err, cause)
	require.Equal(t, "RawPut: execution result undetermined: connection reset", err.Error())
	require.Equal(t, "commit: execution result undetermined", Undetermined("commit", nil).Error())
	require.True(t, IsErrUndetermined(ErrResultUndetermined))
	require.False(t, IsErrUndetermined(cause))
	require.False(t, IsErrUndetermined(nil))
}

func TestInvalidArgument(t *testing.T) {
	err := InvalidArgument("rawkv.Put", "key", "empty")
	require.ErrorIs(t, err, ErrInvalidArgument)
	require.Equal(t, "rawkv.Put: invalid argument key: empty", err.Error())
	var ia *InvalidArgumentError
	require.True(t, errors.As(fmt.Errorf("w: %w", err), &ia))
	require.Equal(t, "key", ia.Arg)
	require.False(t, errors.Is(ErrClosed, ErrInvalidArgument))
}

func TestSentinels(t *testing.T) {
	require.True(t, IsErrNotFound(fmt.Errorf("w: %w", ErrNotExist)))
	require.True(t, IsErrorCommitTSLag(ErrCommitTSLag))
	require.False(t, IsErrorCommitTSLag(ErrClosed))
	require.ErrorIs(t, ErrQueryInterruptedWithSignal{Signal: 1}, ErrQueryInterrupted)
}

func TestErrorStrings(t *testing.T) {
	ts := time.Unix(0, 0).UTC()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&ErrWriteConflictInLatch{StartTS: 5}, "write conflict in latch, startTS: 5"},
		{&ErrTxnTooLarge{Size: 10}, "txn too large, size: 10."},
		{&ErrKeyTooLarge{KeySize: 10}, "key size too large, size: 10."},
		{&ErrEntryTooLarge{Limit: 4, Size: 5}, "entry size too large, size: 5, limit: 4."},
		{NewErrPDServerTimeout(""), "pd server timeout"},
		{NewErrPDServerTimeout("get ts"), "pd server timeout: get ts"},
		{&ErrTokenLimit{StoreID: 3}, "Store token is up to the limit, store id = 3."},
		{ErrQueryInterruptedWithSignal{Signal: 2}, "query interrupted by signal 2"},
		{&ErrTxnAbortedByGC{TxnStartTS: 1, TxnStartTSTime: ts, TxnSafePoint: 2, TxnSafePointTime: ts},
			"GC life time is shorter than transaction duration, transaction start ts is 1 (1970-01-01 00:00:00 +0000 UTC), txn safe point is 2 (1970-01-01 00:00:00 +0000 UTC)"},
		{&ErrLockOnlyIfExistsNoReturnValue{StartTS: 1, ForUpdateTs: 2, LockKey: []byte("k")},
			`LockOnlyIfExists is set for Lock Context, but ReturnValues is not set, StartTs is {1}, ForUpdateTs is {2}, one of lock keys is {"k"}.`},
		{&ErrLockOnlyIfExistsNoPrimaryKey{StartTS: 1, ForUpdateTs: 2, LockKey: []byte("k")},
			`LockOnlyIfExists is set for Lock Context, but primary key of current transaction is not set, StartTs is {1}, ForUpdateTs is {2}, one of lock keys is {"k"}`},
		{&PDError{Err: &pdpb.Error{Message: "boom"}}, `message:"boom"`},
		{&RegionError{Err: &errorpb.Error{Message: "nl"}}, `region error { message:"nl" }`},
		{NewErrWriteConflictWithArgs(1, 2, 3, []byte("k"), kvrpcpb.WriteConflict_Optimistic),
			`write conflict { start_ts:1 conflict_ts:2 key:"k" conflict_commit_ts:3 reason:Optimistic }`},
	} {
		require.Equal(t, tc.want, tc.err.Error(), "%s", reflect.TypeOf(tc.err))
	}
}
