package mvcc

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// FuzzEngine decodes random bytes into a sequence of kvrpcpb requests
// (including nil keys, empty mutations, start_ts 0, inverted ranges,
// unknown ops) and checks the engine never panics. The seed corpus runs
// under plain go test.
func FuzzEngine(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	f.Add([]byte("prewrite-commit-get-scan-lock-rollback-zzzzzzzzzzzzzzzzzzzzzzzz"))
	f.Add([]byte{3, 0, 0, 0, 9, 9, 9, 1, 1, 1, 2, 2, 2, 7, 7, 7, 0, 0, 0, 0, 15, 16, 17, 18, 22, 23, 24})
	for i := 0; i < 32; i++ {
		b := make([]byte, 64)
		for j := range b {
			b[j] = byte(i*31 + j*7)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, api := range []kvrpcpb.APIVersion{kvrpcpb.APIVersion_V1, kvrpcpb.APIVersion_V2} {
			fuzzRun(New(Config{APIVersion: api}), data)
		}
	})
}

type fuzzSrc struct{ b []byte }

func (s *fuzzSrc) byte() byte {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c
}

func (s *fuzzSrc) ts() uint64 {
	switch c := s.byte(); c {
	case 255:
		return maxTS
	default:
		return uint64(c % 40)
	}
}

func (s *fuzzSrc) key() []byte {
	switch c := s.byte() % 8; c {
	case 0:
		return nil
	case 1:
		return []byte{}
	default:
		return []byte{"xrtm"[c%4], 'a' + c}
	}
}

func (s *fuzzSrc) keys() [][]byte {
	n := int(s.byte() % 4)
	var out [][]byte
	for i := 0; i < n; i++ {
		out = append(out, s.key())
	}
	return out
}

func (s *fuzzSrc) muts() []*kvrpcpb.Mutation {
	n := int(s.byte() % 4)
	var out []*kvrpcpb.Mutation
	for i := 0; i < n; i++ {
		out = append(out, &kvrpcpb.Mutation{Op: kvrpcpb.Op(s.byte() % 10), Key: s.key(), Value: s.key(), Assertion: kvrpcpb.Assertion(s.byte() % 3)})
	}
	return out
}

func fuzzRun(e *Engine, data []byte) {
	s := &fuzzSrc{b: data}
	now := time.Unix(1000, 0)
	for len(s.b) > 0 {
		ctx := &kvrpcpb.Context{ApiVersion: kvrpcpb.APIVersion(s.byte() % 3)}
		switch s.byte() % 26 {
		case 0:
			e.Prewrite(&kvrpcpb.PrewriteRequest{Context: ctx, Mutations: s.muts(), PrimaryLock: s.key(), StartVersion: s.ts(), LockTtl: s.ts(),
				ForUpdateTs: s.ts(), UseAsyncCommit: s.byte()%2 == 0, Secondaries: s.keys(), TryOnePc: s.byte()%3 == 0, MaxCommitTs: s.ts(),
				MinCommitTs: s.ts(), AssertionLevel: kvrpcpb.AssertionLevel(s.byte() % 3),
				PessimisticActions: []kvrpcpb.PrewriteRequest_PessimisticAction{kvrpcpb.PrewriteRequest_PessimisticAction(s.byte() % 3)}})
		case 1:
			e.Commit(&kvrpcpb.CommitRequest{Context: ctx, Keys: s.keys(), StartVersion: s.ts(), CommitVersion: s.ts()})
		case 2:
			e.Get(&kvrpcpb.GetRequest{Context: ctx, Key: s.key(), Version: s.ts()})
		case 3:
			e.Scan(&kvrpcpb.ScanRequest{Context: ctx, StartKey: s.key(), EndKey: s.key(), Version: s.ts(), Limit: uint32(s.byte() % 5), Reverse: s.byte()%2 == 0})
		case 4:
			muts := s.muts()
			for _, m := range muts {
				if m.Op%2 == 0 {
					m.Op = kvrpcpb.Op_PessimisticLock
				} else if m.Op%3 == 0 {
					m.Op = kvrpcpb.Op_SharedPessimisticLock
				}
			}
			_, w := e.PessimisticLock(&kvrpcpb.PessimisticLockRequest{Context: ctx, Mutations: muts, PrimaryLock: s.key(), StartVersion: s.ts(),
				ForUpdateTs: s.ts(), WaitTimeout: int64(s.byte()%3) - 1, ReturnValues: s.byte()%2 == 0, LockOnlyIfExists: s.byte()%4 == 0,
				WakeUpMode: kvrpcpb.PessimisticLockWakeUpMode(s.byte() % 2), IsFirstLock: s.byte()%2 == 0})
			if w != nil && s.byte()%2 == 0 {
				e.CancelLockWait(w.Token, time.Millisecond)
			}
		case 5:
			e.BatchRollback(&kvrpcpb.BatchRollbackRequest{Context: ctx, Keys: s.keys(), StartVersion: s.ts()})
		case 6:
			e.Cleanup(&kvrpcpb.CleanupRequest{Context: ctx, Key: s.key(), StartVersion: s.ts(), CurrentTs: s.ts()})
		case 7:
			e.CheckTxnStatus(&kvrpcpb.CheckTxnStatusRequest{Context: ctx, PrimaryKey: s.key(), LockTs: s.ts(), CallerStartTs: s.ts(), CurrentTs: s.ts(),
				RollbackIfNotExist: s.byte()%2 == 0, ForceSyncCommit: s.byte()%2 == 0, ResolvingPessimisticLock: s.byte()%2 == 0, VerifyIsPrimary: s.byte()%2 == 0})
		case 8:
			e.CheckSecondaryLocks(&kvrpcpb.CheckSecondaryLocksRequest{Context: ctx, Keys: s.keys(), StartVersion: s.ts()})
		case 9:
			e.ResolveLock(&kvrpcpb.ResolveLockRequest{Context: ctx, StartVersion: s.ts(), CommitVersion: s.ts(), Keys: s.keys(),
				TxnInfos: []*kvrpcpb.TxnInfo{{Txn: s.ts(), Status: s.ts()}, nil}})
		case 10:
			e.TxnHeartBeat(&kvrpcpb.TxnHeartBeatRequest{Context: ctx, PrimaryLock: s.key(), StartVersion: s.ts(), AdviseLockTtl: s.ts(), MinCommitTs: s.ts()})
		case 11:
			e.PessimisticRollback(&kvrpcpb.PessimisticRollbackRequest{Context: ctx, StartVersion: s.ts(), ForUpdateTs: s.ts(), Keys: s.keys()})
		case 12:
			e.ScanLock(&kvrpcpb.ScanLockRequest{Context: ctx, MaxVersion: s.ts(), StartKey: s.key(), EndKey: s.key(), Limit: uint32(s.byte() % 3)})
		case 13:
			e.Flush(&kvrpcpb.FlushRequest{Context: ctx, Mutations: s.muts(), PrimaryKey: s.key(), StartTs: s.ts(), Generation: uint64(s.byte() % 4), LockTtl: s.ts()})
		case 14:
			e.BufferBatchGet(&kvrpcpb.BufferBatchGetRequest{Context: ctx, Keys: s.keys(), Version: s.ts()})
		case 15:
			e.BatchGet(&kvrpcpb.BatchGetRequest{Context: ctx, Keys: s.keys(), Version: s.ts()})
		case 16:
			e.GC(s.ts())
		case 17:
			e.Restart()
		case 18:
			e.DeleteRange(&kvrpcpb.DeleteRangeRequest{Context: ctx, StartKey: s.key(), EndKey: s.key()})
		case 19:
			e.RawPut(&kvrpcpb.RawPutRequest{Context: ctx, Key: s.key(), Value: s.key(), Ttl: s.ts(), Cf: []string{"", "write", "x"}[s.byte()%3]}, now)
		case 20:
			e.RawScan(&kvrpcpb.RawScanRequest{Context: ctx, StartKey: s.key(), EndKey: s.key(), Limit: uint32(s.byte() % 4), Reverse: s.byte()%2 == 0}, now)
		case 21:
			e.RawCompareAndSwap(&kvrpcpb.RawCASRequest{Context: ctx, Key: s.key(), Value: s.key(), PreviousValue: s.key(), PreviousNotExist: s.byte()%2 == 0}, now)
		case 22:
			e.RawBatchScan(&kvrpcpb.RawBatchScanRequest{Context: ctx, Ranges: []*kvrpcpb.KeyRange{{StartKey: s.key(), EndKey: s.key()}, nil}, EachLimit: uint32(s.byte() % 3)}, now)
		case 23:
			e.RawChecksum(&kvrpcpb.RawChecksumRequest{Context: ctx, Ranges: []*kvrpcpb.KeyRange{{StartKey: s.key(), EndKey: s.key()}}}, now)
		case 24:
			e.MvccGetByKey(&kvrpcpb.MvccGetByKeyRequest{Context: ctx, Key: s.key()})
		case 25:
			r := e.Ready()
			for _, tm := range r.Timers {
				e.NotifyDelayed(tm.Key, tm.ID)
			}
			binary.BigEndian.Uint16([]byte{s.byte(), s.byte()})
		}
	}
	// Nil requests must not panic either.
	e.Get(nil)
	e.Prewrite(nil)
	e.Commit(nil)
	e.Scan(nil)
	e.PessimisticLock(nil)
	e.RawGet(nil, now)
	e.RawBatchPut(nil, now)
	e.CheckTxnStatus(nil)
	e.CheckSecondaryLocks(nil)
	e.ResolveLock(nil)
	e.Flush(nil)
}

var testNow = time.Unix(1000, 0)
