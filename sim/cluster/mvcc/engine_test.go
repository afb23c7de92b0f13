package mvcc

import (
	"bytes"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/tikvsim/tikvsim/client/util/farm"
)

func TestKeyEncodingOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := rapid.SliceOf(rapid.Byte()).Draw(t, "a")
		b := rapid.SliceOf(rapid.Byte()).Draw(t, "b")
		ea, eb := EncodeKey(a), EncodeKey(b)
		if got, want := bytes.Compare(ea, eb), bytes.Compare(a, b); got != want {
			t.Fatalf("order of %x,%x: encoded %d raw %d", a, b, got, want)
		}
		da, ok := DecodeKey(ea)
		if !ok || !bytes.Equal(da, a) {
			t.Fatalf("round trip %x -> %x", a, da)
		}
		ts1 := rapid.Uint64Min(1).Draw(t, "ts1")
		ts2 := rapid.Uint64Min(1).Draw(t, "ts2")
		// Newer versions sort first.
		if ts1 > ts2 && !keyLess(appendTS(ea, ts1), appendTS(ea, ts2)) {
			t.Fatalf("version order")
		}
		k, ts := splitTS(appendTS(ea, ts1))
		if !bytes.Equal(k, ea) || ts != ts1 {
			t.Fatalf("splitTS")
		}
	})
	_, ok := DecodeKey([]byte{1, 2, 3})
	require.False(t, ok)
	_, ok = DecodeKey([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0xF0})
	require.False(t, ok)
	require.Nil(t, prefixNext([]byte{0xFF, 0xFF}))
}

// TestMemoryLockTable covers the concurrency manager's memory lock table:
// a memory lock blocks point reads and scans like a CF lock, is visible to
// scans even without CF data, and is lost on restart.
func TestMemoryLockTable(t *testing.T) {
	e := New(Config{})
	l := &Lock{Type: LockPut, Primary: []byte("m"), StartTS: 10, TTL: 5, MinCommitTS: 11, UseAsyncCommit: true}
	e.memLocks.ReplaceOrInsert(kvItem{key: EncodeKey([]byte("m")), lock: l})
	g := e.Get(&kvrpcpb.GetRequest{Key: []byte("m"), Version: 20})
	require.NotNil(t, g.Error.GetLocked())
	require.True(t, g.Error.Locked.UseAsyncCommit)
	g = e.Get(&kvrpcpb.GetRequest{Key: []byte("m"), Version: 10})
	require.Nil(t, g.Error)
	s := e.Scan(&kvrpcpb.ScanRequest{StartKey: []byte("a"), EndKey: []byte("z"), Version: 20, Limit: 10})
	require.NotNil(t, s.Error.GetLocked())
	s = e.Scan(&kvrpcpb.ScanRequest{StartKey: []byte("z"), EndKey: []byte("a"), Version: 20, Limit: 10, Reverse: true})
	require.NotNil(t, s.Error.GetLocked())
	s = e.Scan(&kvrpcpb.ScanRequest{StartKey: []byte("a"), Version: 20, Limit: 10, Context: &kvrpcpb.Context{ResolvedLocks: []uint64{10}}})
	require.Nil(t, s.Error)
	require.Empty(t, s.Pairs)
	e.Restart()
	require.Equal(t, uint64(0), e.MaxTS())
	require.Nil(t, e.Get(&kvrpcpb.GetRequest{Key: []byte("m"), Version: 20}).Error)
}

func TestRestartDropsWaitersAndMemoryState(t *testing.T) {
	e := New(Config{DisableInMemoryPessimisticLocks: false})
	lock := func(start uint64, key string) (*kvrpcpb.PessimisticLockResponse, *LockWait) {
		return e.PessimisticLock(&kvrpcpb.PessimisticLockRequest{
			Mutations:   []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_PessimisticLock, Key: []byte(key)}},
			PrimaryLock: []byte(key), StartVersion: start, ForUpdateTs: start, LockTtl: 10,
		})
	}
	resp, w := lock(5, "a")
	require.Nil(t, w)
	require.Empty(t, resp.Errors)
	_, w1 := lock(6, "a")
	_, w2 := lock(7, "a")
	require.NotNil(t, w1)
	require.NotNil(t, w2)
	e.SetMaxTS(100)
	e.SetMaxTS(50) // never lowers
	require.Equal(t, uint64(100), e.MaxTS())
	require.Equal(t, []uint64{w1.Token, w2.Token}, e.Restart())
	require.Nil(t, e.CancelLockWait(w1.Token, 0))
	require.Empty(t, e.Snapshot().Locks(), "in-memory pessimistic lock survives restart")
	require.Equal(t, Ready{}, e.Ready())

	// With in-memory locks disabled the pessimistic lock is durable.
	e = New(Config{DisableInMemoryPessimisticLocks: true})
	_, w = e.PessimisticLock(&kvrpcpb.PessimisticLockRequest{
		Mutations:   []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_PessimisticLock, Key: []byte("a")}},
		PrimaryLock: []byte("a"), StartVersion: 5, ForUpdateTs: 5,
	})
	require.Nil(t, w)
	e.Restart()
	require.Len(t, e.Snapshot().Locks(), 1)
}

func TestSnapshotIsolatedFromLaterWrites(t *testing.T) {
	e := New(Config{})
	put := func(start, commit uint64, v string) {
		r := e.Prewrite(&kvrpcpb.PrewriteRequest{Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte("k"), Value: []byte(v)}},
			PrimaryLock: []byte("k"), StartVersion: start, LockTtl: 1})
		require.Empty(t, r.Errors)
		require.Nil(t, e.Commit(&kvrpcpb.CommitRequest{StartVersion: start, CommitVersion: commit, Keys: [][]byte{[]byte("k")}}).Error)
	}
	put(1, 2, "v1")
	snap := e.Snapshot()
	put(3, 4, "v2")
	v, ok := snap.Get([]byte("k"), 10)
	require.True(t, ok)
	require.Equal(t, "v1", string(v))
	v, _ = e.Snapshot().Get([]byte("k"), 10)
	require.Equal(t, "v2", string(v))
}

// TestRegionScopedVariants covers the *InRange commands the cluster layer
// uses for region-wide requests.
func TestRegionScopedVariants(t *testing.T) {
	e := New(Config{})
	var ms []*kvrpcpb.Mutation
	for _, k := range []string{"a", "b", "c", "d"} {
		ms = append(ms, &kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: []byte(k), Value: []byte(k)})
	}
	require.Empty(t, e.Prewrite(&kvrpcpb.PrewriteRequest{Mutations: ms, PrimaryLock: []byte("a"), StartVersion: 10, LockTtl: 1}).Errors)
	sl := e.ScanLockInRange(&kvrpcpb.ScanLockRequest{MaxVersion: 10, StartKey: []byte("a")}, []byte("b"), []byte("d"))
	require.Len(t, sl.Locks, 2)
	require.Empty(t, e.ScanLockInRange(&kvrpcpb.ScanLockRequest{MaxVersion: 10, StartKey: []byte("c"), EndKey: []byte("d")}, []byte("d"), nil).Locks)
	require.Len(t, e.ScanLock(&kvrpcpb.ScanLockRequest{MaxVersion: 10, Limit: 3}).Locks, 3)
	require.Empty(t, e.ScanLock(&kvrpcpb.ScanLockRequest{MaxVersion: 9}).Locks)
	require.Nil(t, e.ResolveLockInRange(&kvrpcpb.ResolveLockRequest{StartVersion: 10, CommitVersion: 20}, []byte("b"), []byte("d")).Error)
	require.Len(t, e.ScanLock(&kvrpcpb.ScanLockRequest{MaxVersion: 100}).Locks, 2)
	v, ok := e.Snapshot().Get([]byte("c"), 20)
	require.True(t, ok)
	require.Equal(t, "c", string(v))
	// Lite resolve without start_version is rejected.
	require.NotNil(t, e.ResolveLock(&kvrpcpb.ResolveLockRequest{Keys: [][]byte{[]byte("a")}}).Error)

	for _, k := range []string{"x", "y"} {
		_, w := e.PessimisticLock(&kvrpcpb.PessimisticLockRequest{Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_PessimisticLock, Key: []byte(k)}},
			PrimaryLock: []byte("x"), StartVersion: 30, ForUpdateTs: 30})
		require.Nil(t, w)
	}
	e.PessimisticRollbackInRange(&kvrpcpb.PessimisticRollbackRequest{StartVersion: 30, ForUpdateTs: 30}, []byte("y"), nil)
	locks := e.Snapshot().Locks()
	require.Len(t, locks, 3)
	require.Equal(t, "x", string(locks[2].Key))
}

func TestRawV2AndErrors(t *testing.T) {
	e := New(Config{APIVersion: kvrpcpb.APIVersion_V2})
	v2 := &kvrpcpb.Context{ApiVersion: kvrpcpb.APIVersion_V2}
	now := testNow
	require.NotEmpty(t, e.RawBatchGet(&kvrpcpb.RawBatchGetRequest{Context: v2, Keys: [][]byte{[]byte("xa")}}, now).Pairs[0].Error)
	require.NotEmpty(t, e.RawDelete(&kvrpcpb.RawDeleteRequest{Context: v2, Key: []byte("xa")}, now).Error)
	require.NotEmpty(t, e.RawBatchDelete(&kvrpcpb.RawBatchDeleteRequest{Context: v2, Keys: [][]byte{[]byte("xa")}}, now).Error)
	require.NotEmpty(t, e.RawBatchPut(&kvrpcpb.RawBatchPutRequest{Context: v2, Pairs: []*kvrpcpb.KvPair{{Key: []byte("xa")}}}, now).Error)
	require.NotEmpty(t, e.RawDeleteRange(&kvrpcpb.RawDeleteRangeRequest{Context: v2, StartKey: []byte("ra"), EndKey: []byte("xb")}, now).Error)
	require.NotEmpty(t, e.RawDeleteRange(&kvrpcpb.RawDeleteRangeRequest{Context: v2, StartKey: []byte("ra"), EndKey: []byte("rb"), Cf: "lock"}, now).Error)
	require.NotEmpty(t, e.RawBatchScan(&kvrpcpb.RawBatchScanRequest{Context: v2, Ranges: []*kvrpcpb.KeyRange{{StartKey: []byte("xa")}}}, now).Kvs[0].Error)
	require.NotEmpty(t, e.RawBatchScan(&kvrpcpb.RawBatchScanRequest{Context: v2, Cf: "write"}, now).Kvs[0].Error)
	require.NotEmpty(t, e.RawScan(&kvrpcpb.RawScanRequest{Context: v2, StartKey: []byte("ra"), Cf: "write", Limit: 1}, now).Kvs[0].Error)
	require.NotEmpty(t, e.RawCompareAndSwap(&kvrpcpb.RawCASRequest{Context: v2, Key: []byte("xa")}, now).Error)
	require.NotEmpty(t, e.RawGetKeyTTL(&kvrpcpb.RawGetKeyTTLRequest{Context: v2, Key: []byte("xa")}, now).Error)
	require.NotEmpty(t, e.RawChecksum(&kvrpcpb.RawChecksumRequest{Context: v2, Ranges: []*kvrpcpb.KeyRange{{StartKey: []byte("xa"), EndKey: []byte("xb")}}}, now).Error)
	require.NotEmpty(t, e.RawGet(&kvrpcpb.RawGetRequest{Context: v2, Key: []byte("ra"), Cf: "lock"}, now).Error)
	// Under API V2 a raw scan needs both ends in raw mode (parse_range_mode).
	require.Empty(t, e.RawPut(&kvrpcpb.RawPutRequest{Context: v2, Key: []byte("rk"), Value: []byte("v"), Ttl: 30}, now).Error)
	sc := e.RawScan(&kvrpcpb.RawScanRequest{Context: v2, StartKey: []byte("ra"), Limit: 5}, now)
	require.NotNil(t, sc.Kvs[0].Error)
	sc = e.RawScan(&kvrpcpb.RawScanRequest{Context: v2, StartKey: []byte("ra"), EndKey: []byte("s"), Limit: 5}, now)
	require.Len(t, sc.Kvs, 1)
	require.Nil(t, sc.Kvs[0].Error)
	bs := e.RawBatchScan(&kvrpcpb.RawBatchScanRequest{Context: v2, EachLimit: 5, Ranges: []*kvrpcpb.KeyRange{{StartKey: []byte("rz"), EndKey: []byte("ra")}}}, now)
	require.Equal(t, "Invalid KeyRanges", bs.Kvs[0].Error.Abort)
	ttl := e.RawGetKeyTTL(&kvrpcpb.RawGetKeyTTLRequest{Context: v2, Key: []byte("rk")}, now)
	require.Equal(t, uint64(30), ttl.Ttl)
	cas := e.RawCompareAndSwap(&kvrpcpb.RawCASRequest{Context: v2, Key: []byte("rk"), PreviousValue: []byte("v"), Value: []byte("w"), Ttl: 1}, now)
	require.True(t, cas.Succeed)
	// Txn commands with V1 context on a V2 store accept TiDB keys only.
	require.NotNil(t, e.Prewrite(&kvrpcpb.PrewriteRequest{Mutations: []*kvrpcpb.Mutation{{Key: []byte("ra")}}, StartVersion: 1}).Errors[0].Abort)
	require.NotNil(t, e.Scan(&kvrpcpb.ScanRequest{StartKey: []byte("a"), EndKey: []byte("b"), Limit: 1, Version: 1}).Error)

	e1 := New(Config{})
	require.NotEmpty(t, e1.RawCompareAndSwap(&kvrpcpb.RawCASRequest{Key: []byte("a"), Ttl: 5}, now).Error)
	require.NotEmpty(t, e1.RawBatchPut(&kvrpcpb.RawBatchPutRequest{Pairs: []*kvrpcpb.KvPair{{Key: []byte("a")}}, Ttl: 5}, now).Error)
	require.NotEmpty(t, e1.RawScan(&kvrpcpb.RawScanRequest{StartKey: []byte("a"), Limit: 1, Cf: "bad"}, now).Kvs[0].Error)
	require.NotEmpty(t, e1.RawDeleteRange(&kvrpcpb.RawDeleteRangeRequest{StartKey: []byte("a"), Cf: "bad"}, now).Error)
}

func TestGCKeepsLocksAndLongValues(t *testing.T) {
	e := New(Config{})
	long := bytes.Repeat([]byte("v"), 400)
	for i, ts := range []uint64{10, 20, 30} {
		r := e.Prewrite(&kvrpcpb.PrewriteRequest{Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte("k"), Value: append(long, byte(i))}},
			PrimaryLock: []byte("k"), StartVersion: ts, LockTtl: 1})
		require.Empty(t, r.Errors)
		require.Nil(t, e.Commit(&kvrpcpb.CommitRequest{StartVersion: ts, CommitVersion: ts + 1, Keys: [][]byte{[]byte("k")}}).Error)
	}
	require.Empty(t, e.Prewrite(&kvrpcpb.PrewriteRequest{Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte("k"), Value: long}},
		PrimaryLock: []byte("k"), StartVersion: 40, LockTtl: 1}).Errors)
	st := e.GC(35)
	require.Equal(t, GCStats{WritesDeleted: 2, ValuesDeleted: 2}, st)
	require.Len(t, e.Snapshot().Locks(), 1)
	v, ok := e.Snapshot().Get([]byte("k"), 35)
	require.True(t, ok)
	require.Equal(t, byte(2), v[len(v)-1])
	// Rolling back the long-value lock deletes its default-CF value.
	require.Nil(t, e.BatchRollback(&kvrpcpb.BatchRollbackRequest{StartVersion: 40, Keys: [][]byte{[]byte("k")}}).Error)
	info := e.MvccGetByKey(&kvrpcpb.MvccGetByKeyRequest{Key: []byte("k")}).Info
	require.Len(t, info.Values, 1)
}

// TestSharedDetectorAcrossStores: two stores share one Detector, as TiKV
// runs one detector per cluster; a cycle spanning both is found.
func TestSharedDetectorAcrossStores(t *testing.T) {
	det := NewDetector()
	s1, s2 := New(Config{Detector: det}), New(Config{Detector: det})
	lock := func(e *Engine, start uint64, key string) (*kvrpcpb.PessimisticLockResponse, *LockWait) {
		return e.PessimisticLock(&kvrpcpb.PessimisticLockRequest{
			Mutations:   []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_PessimisticLock, Key: []byte(key)}},
			PrimaryLock: []byte(key), StartVersion: start, ForUpdateTs: start, LockTtl: 10,
		})
	}
	_, w := lock(s1, 1, "a") // txn 1 holds a on store 1
	require.Nil(t, w)
	_, w = lock(s2, 2, "b") // txn 2 holds b on store 2
	require.Nil(t, w)
	_, w = lock(s2, 1, "b") // txn 1 waits for 2 on store 2
	require.NotNil(t, w)
	resp, w2 := lock(s1, 2, "a") // txn 2 waits for 1 on store 1: deadlock
	require.Nil(t, w2)
	require.NotNil(t, resp.Errors[0].GetDeadlock())
	require.Equal(t, farm.Fingerprint64([]byte("b")), resp.Errors[0].Deadlock.DeadlockKeyHash)
	// After store 2 restarts its waiter's edge is gone: no deadlock now.
	s2.Restart()
	_, w2 = lock(s1, 2, "a")
	require.NotNil(t, w2)
}

func TestDropInMemoryPessimisticLocks(t *testing.T) {
	e := New(Config{})
	for _, k := range []string{"a", "b", "c"} {
		_, w := e.PessimisticLock(&kvrpcpb.PessimisticLockRequest{Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_PessimisticLock, Key: []byte(k)}},
			PrimaryLock: []byte("a"), StartVersion: 10, ForUpdateTs: 10})
		require.Nil(t, w)
	}
	_, w := e.PessimisticLock(&kvrpcpb.PessimisticLockRequest{Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_PessimisticLock, Key: []byte("b")}},
		PrimaryLock: []byte("b"), StartVersion: 20, ForUpdateTs: 20})
	require.NotNil(t, w)
	require.Equal(t, 2, e.DropInMemoryPessimisticLocks([]byte("b"), nil))
	r := e.Ready()
	require.Len(t, r.Wakeups, 1)
	require.Equal(t, w.Token, r.Wakeups[0].Token)
	require.Len(t, e.Snapshot().Locks(), 1)
	// The prewrite amends the lost locks (nothing committed since).
	p := e.Prewrite(&kvrpcpb.PrewriteRequest{Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte("a"), Value: []byte("1")}, {Op: kvrpcpb.Op_Put, Key: []byte("b"), Value: []byte("2")}},
		PrimaryLock: []byte("a"), StartVersion: 10, ForUpdateTs: 10,
		PessimisticActions: []kvrpcpb.PrewriteRequest_PessimisticAction{kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK, kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK}})
	require.Empty(t, p.Errors)
}

func TestRawValueCodec(t *testing.T) {
	// Golden layouts (api_v1ttl.rs, api_v2.rs).
	require.Equal(t, []byte("v"), EncodeRawValue(kvrpcpb.APIVersion_V1, RawValue{UserValue: []byte("v")}))
	require.Equal(t, []byte{'v', 0, 0, 0, 0, 0, 0, 0, 9}, EncodeRawValue(kvrpcpb.APIVersion_V1TTL, RawValue{UserValue: []byte("v"), ExpireTS: 9}))
	require.Equal(t, []byte{'v', 0}, EncodeRawValue(kvrpcpb.APIVersion_V2, RawValue{UserValue: []byte("v")}))
	require.Equal(t, []byte{'v', 0, 0, 0, 0, 0, 0, 0, 9, 1}, EncodeRawValue(kvrpcpb.APIVersion_V2, RawValue{UserValue: []byte("v"), ExpireTS: 9}))
	require.Equal(t, []byte{2}, EncodeRawValue(kvrpcpb.APIVersion_V2, RawValue{Deleted: true}))
	for _, bad := range [][]byte{{}, {4}, {1}, {0, 0, 3}} {
		_, err := DecodeRawValue(kvrpcpb.APIVersion_V2, bad)
		require.ErrorIs(t, err, ErrRawValue, "%x", bad)
	}
	_, err := DecodeRawValue(kvrpcpb.APIVersion_V1TTL, []byte{1, 2})
	require.ErrorIs(t, err, ErrRawValue)
	rapid.Check(t, func(t *rapid.T) {
		api := rapid.SampledFrom([]kvrpcpb.APIVersion{kvrpcpb.APIVersion_V1, kvrpcpb.APIVersion_V1TTL, kvrpcpb.APIVersion_V2}).Draw(t, "api")
		v := RawValue{UserValue: rapid.SliceOf(rapid.Byte()).Draw(t, "v")}
		if api != kvrpcpb.APIVersion_V1 {
			v.ExpireTS = rapid.Uint64().Draw(t, "exp")
		}
		if api == kvrpcpb.APIVersion_V2 {
			v.Deleted = rapid.Bool().Draw(t, "del")
		}
		got, err := DecodeRawValue(api, EncodeRawValue(api, v))
		if err != nil || !bytes.Equal(got.UserValue, v.UserValue) || got.ExpireTS != v.ExpireTS || got.Deleted != v.Deleted {
			t.Fatalf("round trip %v: %+v %v", api, got, err)
		}
	})
}

func TestRawV2Tombstones(t *testing.T) {
	e := New(Config{APIVersion: kvrpcpb.APIVersion_V2})
	v2 := &kvrpcpb.Context{ApiVersion: kvrpcpb.APIVersion_V2}
	require.Empty(t, e.RawBatchPut(&kvrpcpb.RawBatchPutRequest{Context: v2, Pairs: []*kvrpcpb.KvPair{
		{Key: []byte("ra"), Value: []byte("1")}, {Key: []byte("rb"), Value: []byte("2")}, {Key: []byte("rc"), Value: []byte("3")}}}, testNow).Error)
	require.Empty(t, e.RawDelete(&kvrpcpb.RawDeleteRequest{Context: v2, Key: []byte("ra")}, testNow).Error)
	require.Empty(t, e.RawBatchDelete(&kvrpcpb.RawBatchDeleteRequest{Context: v2, Keys: [][]byte{[]byte("rb")}}, testNow).Error)
	require.True(t, e.RawGet(&kvrpcpb.RawGetRequest{Context: v2, Key: []byte("ra")}, testNow).NotFound)
	sc := e.RawScan(&kvrpcpb.RawScanRequest{Context: v2, StartKey: []byte("r"), EndKey: []byte("s"), Limit: 10}, testNow)
	require.Len(t, sc.Kvs, 1)
	require.Equal(t, "rc", string(sc.Kvs[0].Key))
	cs := e.RawChecksum(&kvrpcpb.RawChecksumRequest{Context: v2, Ranges: []*kvrpcpb.KeyRange{{StartKey: []byte("r"), EndKey: []byte("s")}}}, testNow)
	require.Equal(t, uint64(1), cs.TotalKvs)
	cas := e.RawCompareAndSwap(&kvrpcpb.RawCASRequest{Context: v2, Key: []byte("ra"), PreviousNotExist: true, Value: []byte("x")}, testNow)
	require.True(t, cas.Succeed)
	cas = e.RawCompareAndSwap(&kvrpcpb.RawCASRequest{Context: v2, Key: []byte("ra"), PreviousValue: []byte("x"), Delete: true}, testNow)
	require.True(t, cas.Succeed)
	it, _ := e.raw[CFDefault].Get(rawItem{key: []byte("ra")})
	require.Equal(t, []byte{rawV2Delete}, it.stored)
}

func TestStats(t *testing.T) {
	e := New(Config{})
	require.Equal(t, RangeStats{}, e.Stats(nil, nil))
	for i, k := range []string{"a", "b", "c"} {
		start := uint64(10 * (i + 1))
		require.Empty(t, e.Prewrite(&kvrpcpb.PrewriteRequest{Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte(k), Value: bytes.Repeat([]byte("v"), 300)}},
			PrimaryLock: []byte(k), StartVersion: start}).Errors)
		require.Nil(t, e.Commit(&kvrpcpb.CommitRequest{StartVersion: start, CommitVersion: start + 1, Keys: [][]byte{[]byte(k)}}).Error)
	}
	e.RawPut(&kvrpcpb.RawPutRequest{Key: []byte("r"), Value: []byte("x")}, testNow)
	all := e.Stats(nil, nil)
	require.Equal(t, uint64(4), all.Keys)
	require.Greater(t, all.Bytes, uint64(900))
	ab := e.Stats([]byte("a"), []byte("c"))
	require.Equal(t, uint64(2), ab.Keys)
	require.Less(t, ab.Bytes, all.Bytes)
}
