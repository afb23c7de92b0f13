package serve_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/tikvsim/tikvsim/client/util/codec"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/serve"
)

// This file calls every unary PD and TiKV RPC of the served cluster with
// plain gRPC stubs (no client library in between) and checks each answer.

type rawRPC struct {
	t   *testing.T
	ctx context.Context
	s   *serve.Server
	pd  pdpb.PDClient
	hdr *pdpb.RequestHeader
}

func dialRaw(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

func newRawRPC(t *testing.T, cfg serve.Config) *rawRPC {
	t.Helper()
	s, err := serve.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	pd := pdpb.NewPDClient(dialRaw(t, s.PDAddr()))
	m, err := pd.GetMembers(ctx, &pdpb.GetMembersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return &rawRPC{t: t, ctx: ctx, s: s, pd: pd, hdr: &pdpb.RequestHeader{ClusterId: m.GetHeader().GetClusterId()}}
}

func okHeader(t *testing.T, name string, h *pdpb.ResponseHeader, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if e := h.GetError(); e != nil && e.Type != pdpb.ErrorType_OK {
		t.Fatalf("%s: %v", name, e)
	}
}

// route returns the request context and store address of key's region
// leader, from the served PD.
func (r *rawRPC) route(key []byte) (*kvrpcpb.Context, tikvpb.TikvClient) {
	r.t.Helper()
	reg, err := r.pd.GetRegion(r.ctx, &pdpb.GetRegionRequest{Header: r.hdr, RegionKey: key})
	okHeader(r.t, "GetRegion", reg.GetHeader(), err)
	st, err := r.pd.GetStore(r.ctx, &pdpb.GetStoreRequest{Header: r.hdr, StoreId: reg.GetLeader().GetStoreId()})
	okHeader(r.t, "GetStore", st.GetHeader(), err)
	kctx := &kvrpcpb.Context{RegionId: reg.GetRegion().GetId(), RegionEpoch: reg.GetRegion().GetRegionEpoch(), Peer: reg.GetLeader()}
	return kctx, tikvpb.NewTikvClient(dialRaw(r.t, st.GetStore().GetAddress()))
}

func (r *rawRPC) ts() uint64 {
	r.t.Helper()
	resp, err := r.pd.GetMinTS(r.ctx, &pdpb.GetMinTSRequest{Header: r.hdr})
	okHeader(r.t, "GetMinTS", resp.GetHeader(), err)
	ts := resp.GetTimestamp()
	if ts.GetPhysical() == 0 {
		r.t.Fatal("GetMinTS without a timestamp")
	}
	return uint64(ts.GetPhysical())<<18 | uint64(ts.GetLogical())
}

// TestPDUnaryRPCs: bootstrap, ids, regions, cluster config, split, scatter
// and its operator, TSO reads, the external timestamp, the GC-states API
// (txn and GC safe points, keyspace and global barriers), the legacy GC
// calls, and keyspace lookup by id.
func TestPDUnaryRPCs(t *testing.T) {
	r := newRawRPC(t, serve.Config{Cluster: cluster.Config{SplitKeys: [][]byte{[]byte("m")}}})
	ctx, pd, hdr := r.ctx, r.pd, r.hdr
	enc := func(k string) []byte { return codec.EncodeBytes(nil, []byte(k)) }

	boot, err := pd.IsBootstrapped(ctx, &pdpb.IsBootstrappedRequest{Header: hdr})
	okHeader(t, "IsBootstrapped", boot.GetHeader(), err)
	if !boot.GetBootstrapped() {
		t.Fatal("not bootstrapped")
	}
	a1, err := pd.AllocID(ctx, &pdpb.AllocIDRequest{Header: hdr, Count: 1})
	okHeader(t, "AllocID", a1.GetHeader(), err)
	a2, err := pd.AllocID(ctx, &pdpb.AllocIDRequest{Header: hdr, Count: 1})
	okHeader(t, "AllocID", a2.GetHeader(), err)
	if a2.GetId() <= a1.GetId() {
		t.Fatalf("AllocID %d then %d", a1.GetId(), a2.GetId())
	}

	first, err := pd.GetRegion(ctx, &pdpb.GetRegionRequest{Header: hdr, RegionKey: enc("a")})
	okHeader(t, "GetRegion", first.GetHeader(), err)
	prev, err := pd.GetPrevRegion(ctx, &pdpb.GetRegionRequest{Header: hdr, RegionKey: enc("x")})
	okHeader(t, "GetPrevRegion", prev.GetHeader(), err)
	if prev.GetRegion().GetId() != first.GetRegion().GetId() {
		t.Fatalf("GetPrevRegion(x) = region %d, want %d", prev.GetRegion().GetId(), first.GetRegion().GetId())
	}
	byID, err := pd.GetRegionByID(ctx, &pdpb.GetRegionByIDRequest{Header: hdr, RegionId: first.GetRegion().GetId()})
	okHeader(t, "GetRegionByID", byID.GetHeader(), err)
	if string(byID.GetRegion().GetEndKey()) != string(enc("m")) {
		t.Fatalf("GetRegionByID end %q", byID.GetRegion().GetEndKey())
	}
	scan, err := pd.ScanRegions(ctx, &pdpb.ScanRegionsRequest{Header: hdr, Limit: 10})
	okHeader(t, "ScanRegions", scan.GetHeader(), err)
	if len(scan.GetRegions()) != 2 {
		t.Fatalf("ScanRegions: %d regions, want 2", len(scan.GetRegions()))
	}
	cfg, err := pd.GetClusterConfig(ctx, &pdpb.GetClusterConfigRequest{Header: hdr})
	okHeader(t, "GetClusterConfig", cfg.GetHeader(), err)
	if cfg.GetCluster().GetId() != hdr.ClusterId {
		t.Fatalf("cluster config id %d, want %d", cfg.GetCluster().GetId(), hdr.ClusterId)
	}

	split, err := pd.SplitRegions(ctx, &pdpb.SplitRegionsRequest{Header: hdr, SplitKeys: [][]byte{enc("f")}, RetryLimit: 3})
	okHeader(t, "SplitRegions", split.GetHeader(), err)
	if split.GetFinishedPercentage() != 100 || len(split.GetRegionsId()) != 1 {
		t.Fatalf("SplitRegions: %v", split)
	}
	after, err := pd.GetRegion(ctx, &pdpb.GetRegionRequest{Header: hdr, RegionKey: enc("g")})
	okHeader(t, "GetRegion", after.GetHeader(), err)
	if string(after.GetRegion().GetStartKey()) != string(enc("f")) {
		t.Fatalf("after the split g is in [%q, %q)", after.GetRegion().GetStartKey(), after.GetRegion().GetEndKey())
	}
	sc, err := pd.ScatterRegion(ctx, &pdpb.ScatterRegionRequest{Header: hdr, RegionsId: []uint64{after.GetRegion().GetId()}, RetryLimit: 1})
	okHeader(t, "ScatterRegion", sc.GetHeader(), err)
	if sc.GetFinishedPercentage() != 100 {
		t.Fatalf("ScatterRegion: %v", sc)
	}
	op, err := pd.GetOperator(ctx, &pdpb.GetOperatorRequest{Header: hdr, RegionId: after.GetRegion().GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if e := op.GetHeader().GetError(); e != nil && e.Type != pdpb.ErrorType_REGION_NOT_FOUND {
		t.Fatalf("GetOperator: %v", e)
	} else if e == nil && op.GetRegionId() != after.GetRegion().GetId() {
		t.Fatalf("GetOperator answered for region %d", op.GetRegionId())
	}

	now := r.ts()
	if later := r.ts(); later <= now {
		t.Fatalf("GetMinTS %d then %d", now, later)
	}
	set, err := pd.SetExternalTimestamp(ctx, &pdpb.SetExternalTimestampRequest{Header: hdr, Timestamp: now})
	okHeader(t, "SetExternalTimestamp", set.GetHeader(), err)
	ext, err := pd.GetExternalTimestamp(ctx, &pdpb.GetExternalTimestampRequest{Header: hdr})
	okHeader(t, "GetExternalTimestamp", ext.GetHeader(), err)
	if ext.GetTimestamp() != now {
		t.Fatalf("external ts %d, want %d", ext.GetTimestamp(), now)
	}

	scope := &pdpb.KeyspaceScope{Keyspace: &pdpb.KeyspaceScope_KeyspaceId{KeyspaceId: 0xffffffff}}
	txnSP, err := pd.AdvanceTxnSafePoint(ctx, &pdpb.AdvanceTxnSafePointRequest{Header: hdr, KeyspaceScope: scope, Target: now})
	okHeader(t, "AdvanceTxnSafePoint", txnSP.GetHeader(), err)
	if txnSP.GetNewTxnSafePoint() != now {
		t.Fatalf("AdvanceTxnSafePoint: %v", txnSP)
	}
	gcSP, err := pd.AdvanceGCSafePoint(ctx, &pdpb.AdvanceGCSafePointRequest{Header: hdr, KeyspaceScope: scope, Target: now})
	okHeader(t, "AdvanceGCSafePoint", gcSP.GetHeader(), err)
	if gcSP.GetNewGcSafePoint() != now {
		t.Fatalf("AdvanceGCSafePoint: %v", gcSP)
	}
	legacy, err := pd.GetGCSafePoint(ctx, &pdpb.GetGCSafePointRequest{Header: hdr})
	okHeader(t, "GetGCSafePoint", legacy.GetHeader(), err)
	if legacy.GetSafePoint() != now {
		t.Fatalf("GetGCSafePoint = %d, want %d", legacy.GetSafePoint(), now)
	}
	barrierTS := r.ts()
	setB, err := pd.SetGCBarrier(ctx, &pdpb.SetGCBarrierRequest{Header: hdr, KeyspaceScope: scope, BarrierId: "backup", BarrierTs: barrierTS, TtlSeconds: 60})
	okHeader(t, "SetGCBarrier", setB.GetHeader(), err)
	if setB.GetNewBarrierInfo().GetBarrierId() != "backup" || setB.GetNewBarrierInfo().GetBarrierTs() != barrierTS {
		t.Fatalf("SetGCBarrier: %v", setB)
	}
	states, err := pd.GetAllKeyspacesGCStates(ctx, &pdpb.GetAllKeyspacesGCStatesRequest{Header: hdr})
	okHeader(t, "GetAllKeyspacesGCStates", states.GetHeader(), err)
	found := false
	for _, st := range states.GetGcStates() {
		for _, b := range st.GetGcBarriers() {
			found = found || b.GetBarrierId() == "backup"
		}
	}
	if !found {
		t.Fatalf("GC states lack the barrier: %v", states)
	}
	delB, err := pd.DeleteGCBarrier(ctx, &pdpb.DeleteGCBarrierRequest{Header: hdr, KeyspaceScope: scope, BarrierId: "backup"})
	okHeader(t, "DeleteGCBarrier", delB.GetHeader(), err)
	if delB.GetDeletedBarrierInfo().GetBarrierId() != "backup" {
		t.Fatalf("DeleteGCBarrier: %v", delB)
	}
	setG, err := pd.SetGlobalGCBarrier(ctx, &pdpb.SetGlobalGCBarrierRequest{Header: hdr, BarrierId: "global", BarrierTs: barrierTS, TtlSeconds: 60})
	okHeader(t, "SetGlobalGCBarrier", setG.GetHeader(), err)
	delG, err := pd.DeleteGlobalGCBarrier(ctx, &pdpb.DeleteGlobalGCBarrierRequest{Header: hdr, BarrierId: "global"})
	okHeader(t, "DeleteGlobalGCBarrier", delG.GetHeader(), err)
	if setG.GetNewBarrierInfo().GetBarrierId() != "global" || delG.GetDeletedBarrierInfo().GetBarrierId() != "global" {
		t.Fatalf("global barrier: set %v, deleted %v", setG, delG)
	}
	// The legacy writers answer Unimplemented and name the replacement.
	if _, err := pd.UpdateGCSafePoint(ctx, &pdpb.UpdateGCSafePointRequest{Header: hdr, SafePoint: now}); status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "AdvanceGCSafePoint") {
		t.Errorf("UpdateGCSafePoint: %v", err)
	}
	if _, err := pd.UpdateServiceGCSafePoint(ctx, &pdpb.UpdateServiceGCSafePointRequest{Header: hdr, ServiceId: []byte("x"), SafePoint: now, TTL: 10}); status.Code(err) != codes.Unimplemented {
		t.Errorf("UpdateServiceGCSafePoint: %v", err)
	}

	ks := keyspacepb.NewKeyspaceClient(dialRaw(t, r.s.PDAddr()))
	if resp, err := ks.LoadKeyspaceByID(ctx, &keyspacepb.LoadKeyspaceByIDRequest{Header: hdr, Keyspace: &keyspacepb.LoadKeyspaceByIDRequest_Id{Id: 12345}}); err == nil && resp.GetHeader().GetError() == nil {
		t.Errorf("LoadKeyspaceByID of an unknown id: %v", resp)
	}
}

// TestTiKVUnaryTxnRPCs: every transactional unary TiKV RPC on a served store
// answers as the engine does.
func TestTiKVUnaryTxnRPCs(t *testing.T) {
	r := newRawRPC(t, serve.Config{Stores: 1})
	kctx, kv := r.route([]byte("k"))
	ctx := r.ctx
	mut := func(op kvrpcpb.Op, k, v string) []*kvrpcpb.Mutation {
		return []*kvrpcpb.Mutation{{Op: op, Key: []byte(k), Value: []byte(v)}}
	}
	check := func(name string, err error, kes ...*kvrpcpb.KeyError) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, ke := range kes {
			if ke != nil {
				t.Fatalf("%s: %v", name, ke)
			}
		}
	}

	// Pessimistic lock on p, then prewrite and commit p and q.
	start := r.ts()
	pl, err := kv.KvPessimisticLock(ctx, &kvrpcpb.PessimisticLockRequest{Context: kctx, Mutations: mut(kvrpcpb.Op_PessimisticLock, "p", ""),
		PrimaryLock: []byte("p"), StartVersion: start, ForUpdateTs: start, LockTtl: 3000})
	check("KvPessimisticLock", err, pl.GetErrors()...)
	hb, err := kv.KvTxnHeartBeat(ctx, &kvrpcpb.TxnHeartBeatRequest{Context: kctx, PrimaryLock: []byte("p"), StartVersion: start, AdviseLockTtl: 5000})
	check("KvTxnHeartBeat", err, hb.GetError())
	if hb.GetLockTtl() != 5000 {
		t.Fatalf("heartbeat TTL %d", hb.GetLockTtl())
	}
	pr, err := kv.KVPessimisticRollback(ctx, &kvrpcpb.PessimisticRollbackRequest{Context: kctx, StartVersion: start, ForUpdateTs: start, Keys: [][]byte{[]byte("p")}})
	check("KVPessimisticRollback", err, pr.GetErrors()...)

	pw, err := kv.KvPrewrite(ctx, &kvrpcpb.PrewriteRequest{Context: kctx, Mutations: append(mut(kvrpcpb.Op_Put, "p", "1"), mut(kvrpcpb.Op_Put, "q", "1")...),
		PrimaryLock: []byte("p"), StartVersion: start, LockTtl: 3000, MinCommitTs: start + 1})
	check("KvPrewrite", err, pw.GetErrors()...)
	reader := r.ts()
	cs, err := kv.KvCheckTxnStatus(ctx, &kvrpcpb.CheckTxnStatusRequest{Context: kctx, PrimaryKey: []byte("p"), LockTs: start, CallerStartTs: reader, CurrentTs: reader})
	check("KvCheckTxnStatus", err, cs.GetError())
	if cs.GetAction() != kvrpcpb.Action_MinCommitTSPushed || cs.GetLockTtl() == 0 {
		t.Fatalf("KvCheckTxnStatus: %v", cs)
	}
	sl, err := kv.KvScanLock(ctx, &kvrpcpb.ScanLockRequest{Context: kctx, MaxVersion: reader, Limit: 10})
	check("KvScanLock", err, sl.GetError())
	if len(sl.GetLocks()) != 2 {
		t.Fatalf("KvScanLock: %v", sl.GetLocks())
	}
	commitTS := r.ts()
	cm, err := kv.KvCommit(ctx, &kvrpcpb.CommitRequest{Context: kctx, StartVersion: start, CommitVersion: commitTS, Keys: [][]byte{[]byte("p")}})
	check("KvCommit", err, cm.GetError())
	rl, err := kv.KvResolveLock(ctx, &kvrpcpb.ResolveLockRequest{Context: kctx, StartVersion: start, CommitVersion: commitTS})
	check("KvResolveLock", err, rl.GetError())
	read := r.ts()
	bg, err := kv.KvBatchGet(ctx, &kvrpcpb.BatchGetRequest{Context: kctx, Keys: [][]byte{[]byte("p"), []byte("q")}, Version: read})
	check("KvBatchGet", err, bg.GetError())
	if len(bg.GetPairs()) != 2 {
		t.Fatalf("KvBatchGet: %v", bg.GetPairs())
	}
	sc, err := kv.KvScan(ctx, &kvrpcpb.ScanRequest{Context: kctx, StartKey: []byte("a"), Version: read, Limit: 10})
	check("KvScan", err, sc.GetError())
	if len(sc.GetPairs()) != 2 || string(sc.GetPairs()[1].GetValue()) != "1" {
		t.Fatalf("KvScan: %v", sc.GetPairs())
	}
	mv, err := kv.MvccGetByKey(ctx, &kvrpcpb.MvccGetByKeyRequest{Context: kctx, Key: []byte("q")})
	check("MvccGetByKey", err)
	if len(mv.GetInfo().GetWrites()) != 1 || mv.GetInfo().GetWrites()[0].GetCommitTs() != commitTS {
		t.Fatalf("MvccGetByKey: %v", mv)
	}

	// An async-commit secondary checked, then a transaction rolled back
	// by Cleanup (primary) and BatchRollback (secondary).
	s2 := r.ts()
	pw, err = kv.KvPrewrite(ctx, &kvrpcpb.PrewriteRequest{Context: kctx, Mutations: append(mut(kvrpcpb.Op_Put, "r", "2"), mut(kvrpcpb.Op_Put, "s", "2")...),
		PrimaryLock: []byte("r"), StartVersion: s2, LockTtl: 3000})
	check("KvPrewrite", err, pw.GetErrors()...)
	csl, err := kv.KvCheckSecondaryLocks(ctx, &kvrpcpb.CheckSecondaryLocksRequest{Context: kctx, Keys: [][]byte{[]byte("s")}, StartVersion: s2})
	check("KvCheckSecondaryLocks", err, csl.GetError())
	if len(csl.GetLocks()) != 1 {
		t.Fatalf("KvCheckSecondaryLocks: %v", csl)
	}
	cl, err := kv.KvCleanup(ctx, &kvrpcpb.CleanupRequest{Context: kctx, Key: []byte("r"), StartVersion: s2})
	check("KvCleanup", err, cl.GetError())
	br, err := kv.KvBatchRollback(ctx, &kvrpcpb.BatchRollbackRequest{Context: kctx, StartVersion: s2, Keys: [][]byte{[]byte("s")}})
	check("KvBatchRollback", err, br.GetError())

	// Pipelined DML: Flush, then BufferBatchGet reads the flushed lock.
	s3 := r.ts()
	fl, err := kv.KvFlush(ctx, &kvrpcpb.FlushRequest{Context: kctx, Mutations: mut(kvrpcpb.Op_Put, "t", "3"), PrimaryKey: []byte("t"), StartTs: s3, Generation: 1, LockTtl: 3000})
	check("KvFlush", err, fl.GetErrors()...)
	bb, err := kv.KvBufferBatchGet(ctx, &kvrpcpb.BufferBatchGetRequest{Context: kctx, Keys: [][]byte{[]byte("t")}, Version: s3})
	check("KvBufferBatchGet", err)
	if len(bb.GetPairs()) != 1 || string(bb.GetPairs()[0].GetValue()) != "3" {
		t.Fatalf("KvBufferBatchGet: %v", bb)
	}

	dr, err := kv.KvDeleteRange(ctx, &kvrpcpb.DeleteRangeRequest{Context: kctx, StartKey: []byte("a"), EndKey: []byte("z")})
	check("KvDeleteRange", err)
	if dr.GetError() != "" {
		t.Fatalf("KvDeleteRange: %s", dr.GetError())
	}
	sc, err = kv.KvScan(ctx, &kvrpcpb.ScanRequest{Context: kctx, StartKey: []byte("a"), Version: r.ts(), Limit: 10})
	if err != nil || len(sc.GetPairs()) != 0 {
		t.Fatalf("KvScan after DeleteRange: %v, %v", sc.GetPairs(), err)
	}

	hf, err := kv.GetHealthFeedback(ctx, &kvrpcpb.GetHealthFeedbackRequest{})
	if err != nil || hf.GetHealthFeedback().GetSlowScore() != 1 || hf.GetHealthFeedback().GetStoreId() == 0 {
		t.Fatalf("GetHealthFeedback: %v, %v", hf, err)
	}
}

// TestTiKVUnaryRawRPCs: every raw unary TiKV RPC on a served raw-mode
// store answers as the engine does.
func TestTiKVUnaryRawRPCs(t *testing.T) {
	r := newRawRPC(t, serve.Config{Stores: 1, RawKeys: true})
	kctx, kv := r.route([]byte("k"))
	ctx := r.ctx
	if resp, err := kv.RawPut(ctx, &kvrpcpb.RawPutRequest{Context: kctx, Key: []byte("a"), Value: []byte("1")}); err != nil || resp.GetError() != "" {
		t.Fatalf("RawPut: %v, %v", resp, err)
	}
	if resp, err := kv.RawBatchPut(ctx, &kvrpcpb.RawBatchPutRequest{Context: kctx, Pairs: []*kvrpcpb.KvPair{
		{Key: []byte("b"), Value: []byte("2")}, {Key: []byte("c"), Value: []byte("3")}, {Key: []byte("d"), Value: []byte("4")}}}); err != nil || resp.GetError() != "" {
		t.Fatalf("RawBatchPut: %v, %v", resp, err)
	}
	if resp, err := kv.RawGet(ctx, &kvrpcpb.RawGetRequest{Context: kctx, Key: []byte("a")}); err != nil || string(resp.GetValue()) != "1" {
		t.Fatalf("RawGet: %v, %v", resp, err)
	}
	// API V1 without TTL: a put with a TTL is refused, and RawGetKeyTTL
	// answers an error too (TiKV: "ttl is not enabled").
	if resp, err := kv.RawPut(ctx, &kvrpcpb.RawPutRequest{Context: kctx, Key: []byte("e"), Value: []byte("5"), Ttl: 600}); err != nil || !strings.Contains(resp.GetError(), "ttl") {
		t.Fatalf("RawPut with a TTL: %v, %v", resp, err)
	}
	if resp, err := kv.RawGetKeyTTL(ctx, &kvrpcpb.RawGetKeyTTLRequest{Context: kctx, Key: []byte("a")}); err != nil || resp.GetError() == "" {
		t.Fatalf("RawGetKeyTTL: %v, %v", resp, err)
	}
	if resp, err := kv.RawBatchGet(ctx, &kvrpcpb.RawBatchGetRequest{Context: kctx, Keys: [][]byte{[]byte("b"), []byte("x")}}); err != nil || len(resp.GetPairs()) != 1 {
		t.Fatalf("RawBatchGet: %v, %v", resp, err)
	}
	if resp, err := kv.RawScan(ctx, &kvrpcpb.RawScanRequest{Context: kctx, StartKey: []byte("a"), Limit: 10}); err != nil || len(resp.GetKvs()) != 4 {
		t.Fatalf("RawScan: %v, %v", resp, err)
	}
	if resp, err := kv.RawBatchScan(ctx, &kvrpcpb.RawBatchScanRequest{Context: kctx, Ranges: []*kvrpcpb.KeyRange{{StartKey: []byte("b"), EndKey: []byte("d")}}, EachLimit: 10}); err != nil || len(resp.GetKvs()) != 2 {
		t.Fatalf("RawBatchScan: %v, %v", resp, err)
	}
	if resp, err := kv.RawChecksum(ctx, &kvrpcpb.RawChecksumRequest{Context: kctx, Ranges: []*kvrpcpb.KeyRange{{StartKey: []byte("a"), EndKey: []byte("z")}}}); err != nil || resp.GetTotalKvs() != 4 {
		t.Fatalf("RawChecksum: %v, %v", resp, err)
	}
	if resp, err := kv.RawCompareAndSwap(ctx, &kvrpcpb.RawCASRequest{Context: kctx, Key: []byte("b"), PreviousValue: []byte("2"), Value: []byte("20")}); err != nil || !resp.GetSucceed() {
		t.Fatalf("RawCompareAndSwap: %v, %v", resp, err)
	}
	if resp, err := kv.RawDelete(ctx, &kvrpcpb.RawDeleteRequest{Context: kctx, Key: []byte("a")}); err != nil || resp.GetError() != "" {
		t.Fatalf("RawDelete: %v, %v", resp, err)
	}
	if resp, err := kv.RawBatchDelete(ctx, &kvrpcpb.RawBatchDeleteRequest{Context: kctx, Keys: [][]byte{[]byte("b")}}); err != nil || resp.GetError() != "" {
		t.Fatalf("RawBatchDelete: %v, %v", resp, err)
	}
	if resp, err := kv.RawDeleteRange(ctx, &kvrpcpb.RawDeleteRangeRequest{Context: kctx, StartKey: []byte("c"), EndKey: []byte("d")}); err != nil || resp.GetError() != "" {
		t.Fatalf("RawDeleteRange: %v, %v", resp, err)
	}
	resp, err := kv.RawScan(ctx, &kvrpcpb.RawScanRequest{Context: kctx, StartKey: []byte("a"), Limit: 10})
	if err != nil || len(resp.GetKvs()) != 1 || string(resp.GetKvs()[0].GetKey()) != "d" {
		t.Fatalf("RawScan after the deletes: %v, %v; want only d", resp.GetKvs(), err)
	}
}
