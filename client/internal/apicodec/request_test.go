package apicodec

import (
	"bytes"
	"testing"

	"github.com/pingcap/kvproto/pkg/deadlock"
	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/stretchr/testify/require"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
)

// marker is the user key placed in every key field of the samples; after
// encoding, every occurrence must carry the keyspace prefix.
var marker = []byte("KEY~1")

type marshaler interface{ Marshal() ([]byte, error) }

func sampleRequests() map[tikvrpc.CmdType]any {
	k := marker
	ks := [][]byte{marker, marker}
	kr := []*kvrpcpb.KeyRange{{StartKey: k, EndKey: k}}
	muts := []*kvrpcpb.Mutation{{Key: k, Value: []byte("v")}}
	return map[tikvrpc.CmdType]any{
		tikvrpc.CmdGet:                       &kvrpcpb.GetRequest{Key: k},
		tikvrpc.CmdScan:                      &kvrpcpb.ScanRequest{StartKey: k, EndKey: k},
		tikvrpc.CmdPrewrite:                  &kvrpcpb.PrewriteRequest{Mutations: muts, PrimaryLock: k, Secondaries: ks},
		tikvrpc.CmdCommit:                    &kvrpcpb.CommitRequest{Keys: ks, PrimaryKey: k},
		tikvrpc.CmdCleanup:                   &kvrpcpb.CleanupRequest{Key: k},
		tikvrpc.CmdBatchGet:                  &kvrpcpb.BatchGetRequest{Keys: ks},
		tikvrpc.CmdBatchRollback:             &kvrpcpb.BatchRollbackRequest{Keys: ks},
		tikvrpc.CmdScanLock:                  &kvrpcpb.ScanLockRequest{StartKey: k, EndKey: k},
		tikvrpc.CmdResolveLock:               &kvrpcpb.ResolveLockRequest{Keys: ks},
		tikvrpc.CmdDeleteRange:               &kvrpcpb.DeleteRangeRequest{StartKey: k, EndKey: k},
		tikvrpc.CmdPessimisticLock:           &kvrpcpb.PessimisticLockRequest{Mutations: muts, PrimaryLock: k},
		tikvrpc.CmdPessimisticRollback:       &kvrpcpb.PessimisticRollbackRequest{Keys: ks},
		tikvrpc.CmdTxnHeartBeat:              &kvrpcpb.TxnHeartBeatRequest{PrimaryLock: k},
		tikvrpc.CmdCheckTxnStatus:            &kvrpcpb.CheckTxnStatusRequest{PrimaryKey: k},
		tikvrpc.CmdCheckSecondaryLocks:       &kvrpcpb.CheckSecondaryLocksRequest{Keys: ks},
		tikvrpc.CmdFlashbackToVersion:        &kvrpcpb.FlashbackToVersionRequest{StartKey: k, EndKey: k},
		tikvrpc.CmdPrepareFlashbackToVersion: &kvrpcpb.PrepareFlashbackToVersionRequest{StartKey: k, EndKey: k},
		tikvrpc.CmdFlush:                     &kvrpcpb.FlushRequest{Mutations: muts, PrimaryKey: k},
		tikvrpc.CmdBufferBatchGet:            &kvrpcpb.BufferBatchGetRequest{Keys: ks},
		tikvrpc.CmdRawGet:                    &kvrpcpb.RawGetRequest{Key: k},
		tikvrpc.CmdRawBatchGet:               &kvrpcpb.RawBatchGetRequest{Keys: ks},
		tikvrpc.CmdRawPut:                    &kvrpcpb.RawPutRequest{Key: k},
		tikvrpc.CmdRawBatchPut:               &kvrpcpb.RawBatchPutRequest{Pairs: []*kvrpcpb.KvPair{{Key: k, Value: []byte("v")}}},
		tikvrpc.CmdRawDelete:                 &kvrpcpb.RawDeleteRequest{Key: k},
		tikvrpc.CmdRawBatchDelete:            &kvrpcpb.RawBatchDeleteRequest{Keys: ks},
		tikvrpc.CmdRawDeleteRange:            &kvrpcpb.RawDeleteRangeRequest{StartKey: k, EndKey: k},
		tikvrpc.CmdRawScan:                   &kvrpcpb.RawScanRequest{StartKey: k, EndKey: k},
		tikvrpc.CmdRawBatchScan:              &kvrpcpb.RawBatchScanRequest{Ranges: kr},
		tikvrpc.CmdRawGetKeyTTL:              &kvrpcpb.RawGetKeyTTLRequest{Key: k},
		tikvrpc.CmdRawCompareAndSwap:         &kvrpcpb.RawCASRequest{Key: k},
		tikvrpc.CmdRawChecksum:               &kvrpcpb.RawChecksumRequest{Ranges: kr},
		tikvrpc.CmdUnsafeDestroyRange:        &kvrpcpb.UnsafeDestroyRangeRequest{StartKey: k, EndKey: k},
		tikvrpc.CmdStoreSafeTS:               &kvrpcpb.StoreSafeTSRequest{KeyRange: &kvrpcpb.KeyRange{StartKey: k, EndKey: k}},
		tikvrpc.CmdMvccGetByKey:              &kvrpcpb.MvccGetByKeyRequest{Key: k},
		tikvrpc.CmdSplitRegion:               &kvrpcpb.SplitRegionRequest{SplitKey: k, SplitKeys: ks},
	}
}

func TestEncodeRequestAllCommands(t *testing.T) {
	c := mustV2(t, ModeTxn)
	prefixed := append(bytes.Clone(c.GetKeyspace()), marker...)
	samples := sampleRequests()
	for _, cmd := range tikvrpc.Cmds() {
		body, ok := samples[cmd]
		if !ok {
			body = cmd.NewReq() // commands without keys
		}
		t.Run(cmd.String(), func(t *testing.T) {
			req := tikvrpc.NewRequest(cmd, body, kvrpcpb.Context{RegionId: 9})
			before, err := body.(marshaler).Marshal()
			require.NoError(t, err)
			enc, err := c.EncodeRequest(req)
			require.NoError(t, err)
			after, err := body.(marshaler).Marshal()
			require.NoError(t, err)
			require.Equal(t, before, after, "the caller's request is unchanged")
			require.Equal(t, kvrpcpb.APIVersion_V1, req.ApiVersion)
			require.Equal(t, kvrpcpb.APIVersion_V2, enc.ApiVersion)
			require.Equal(t, uint32(testKeyspaceID), enc.GetKeyspaceId())
			require.Equal(t, "ks", enc.KeyspaceName)
			require.Equal(t, uint64(9), enc.RegionId)
			out, err := enc.Req.(marshaler).Marshal()
			require.NoError(t, err)
			n := bytes.Count(out, marker)
			require.Equal(t, bytes.Count(before, marker), n, "every key is kept")
			require.Equal(t, n, bytes.Count(out, prefixed), "every key is prefixed")
		})
	}
}

func TestEncodeRequestEdgeCases(t *testing.T) {
	c := mustV2(t, ModeRaw)
	// An unset commit primary stays unset; nil slices stay nil.
	enc, err := c.EncodeRequest(tikvrpc.NewRequest(tikvrpc.CmdCommit, &kvrpcpb.CommitRequest{}))
	require.NoError(t, err)
	require.Nil(t, enc.Commit().PrimaryKey)
	require.Nil(t, enc.Commit().Keys)
	enc, err = c.EncodeRequest(tikvrpc.NewRequest(tikvrpc.CmdFlush, &kvrpcpb.FlushRequest{}))
	require.NoError(t, err)
	require.Nil(t, enc.Flush().PrimaryKey)
	require.Nil(t, enc.Flush().Mutations)
	enc, err = c.EncodeRequest(tikvrpc.NewRequest(tikvrpc.CmdRawBatchPut, &kvrpcpb.RawBatchPutRequest{}))
	require.NoError(t, err)
	require.Nil(t, enc.RawBatchPut().Pairs)
	// Reverse scans are bounded from above by the start key.
	enc, err = c.EncodeRequest(tikvrpc.NewRequest(tikvrpc.CmdRawScan, &kvrpcpb.RawScanRequest{StartKey: []byte("b"), Reverse: true}))
	require.NoError(t, err)
	require.Equal(t, append(bytes.Clone(keyspacePrefix), 'b'), enc.RawScan().StartKey)
	require.Equal(t, keyspacePrefix, enc.RawScan().EndKey)
	enc, err = c.EncodeRequest(tikvrpc.NewRequest(tikvrpc.CmdRawScan, &kvrpcpb.RawScanRequest{EndKey: []byte("b"), Reverse: true}))
	require.NoError(t, err)
	require.Equal(t, keyspaceEndKey, enc.RawScan().StartKey)
	require.Equal(t, append(bytes.Clone(keyspacePrefix), 'b'), enc.RawScan().EndKey)
	// V1 only sets the context.
	v1, _ := NewCodecV1(ModeRaw)
	body := &kvrpcpb.RawGetRequest{Key: []byte("k")}
	enc, err = v1.EncodeRequest(tikvrpc.NewRequest(tikvrpc.CmdRawGet, body))
	require.NoError(t, err)
	require.Same(t, body, enc.Req)
	require.Equal(t, uint32(NullspaceID), enc.GetKeyspaceId())
}

// encodedResponses returns a response per command with every key field in
// the wire form of marker.
func encodedResponses(c *Codec) map[string]any {
	k := func() []byte { return c.EncodeKey(marker) }
	lock := func() *kvrpcpb.LockInfo {
		return &kvrpcpb.LockInfo{Key: k(), PrimaryLock: k(), Secondaries: [][]byte{k()}}
	}
	keyErr := func() *kvrpcpb.KeyError {
		return &kvrpcpb.KeyError{Locked: lock(), Conflict: &kvrpcpb.WriteConflict{Key: k(), Primary: k()},
			Deadlock: &kvrpcpb.Deadlock{LockKey: k(), DeadlockKey: k(), WaitChain: []*deadlock.WaitForEntry{{Key: k()}}}}
	}
	regionErr := func() *errorpb.Error {
		return &errorpb.Error{KeyNotInRegion: &errorpb.KeyNotInRegion{Key: k()}}
	}
	pairs := func() []*kvrpcpb.KvPair {
		return []*kvrpcpb.KvPair{{Key: k(), Value: []byte("v")}, {Error: keyErr()}}
	}
	mvcc := func() *kvrpcpb.MvccInfo {
		return &kvrpcpb.MvccInfo{Lock: &kvrpcpb.MvccLock{Primary: k(), Secondaries: [][]byte{k()}}}
	}
	re := regionErr
	return map[string]any{
		"Get":                       &kvrpcpb.GetResponse{RegionError: re(), Error: keyErr()},
		"Scan":                      &kvrpcpb.ScanResponse{RegionError: re(), Pairs: pairs(), Error: keyErr()},
		"Prewrite":                  &kvrpcpb.PrewriteResponse{RegionError: re(), Errors: []*kvrpcpb.KeyError{keyErr()}},
		"Commit":                    &kvrpcpb.CommitResponse{RegionError: re(), Error: keyErr()},
		"Cleanup":                   &kvrpcpb.CleanupResponse{RegionError: re(), Error: keyErr()},
		"BatchGet":                  &kvrpcpb.BatchGetResponse{RegionError: re(), Pairs: pairs(), Error: keyErr()},
		"BatchRollback":             &kvrpcpb.BatchRollbackResponse{RegionError: re(), Error: keyErr()},
		"ScanLock":                  &kvrpcpb.ScanLockResponse{RegionError: re(), Error: keyErr(), Locks: []*kvrpcpb.LockInfo{lock()}},
		"ResolveLock":               &kvrpcpb.ResolveLockResponse{RegionError: re(), Error: keyErr()},
		"GC":                        &kvrpcpb.GCResponse{RegionError: re(), Error: keyErr()},
		"DeleteRange":               &kvrpcpb.DeleteRangeResponse{RegionError: re()},
		"PessimisticLock":           &kvrpcpb.PessimisticLockResponse{RegionError: re(), Errors: []*kvrpcpb.KeyError{keyErr()}},
		"PessimisticRollback":       &kvrpcpb.PessimisticRollbackResponse{RegionError: re(), Errors: []*kvrpcpb.KeyError{keyErr()}},
		"TxnHeartBeat":              &kvrpcpb.TxnHeartBeatResponse{RegionError: re(), Error: keyErr()},
		"CheckTxnStatus":            &kvrpcpb.CheckTxnStatusResponse{RegionError: re(), Error: keyErr(), LockInfo: lock()},
		"CheckSecondaryLocks":       &kvrpcpb.CheckSecondaryLocksResponse{RegionError: re(), Error: keyErr(), Locks: []*kvrpcpb.LockInfo{lock()}},
		"Flush":                     &kvrpcpb.FlushResponse{RegionError: re(), Errors: []*kvrpcpb.KeyError{keyErr()}},
		"BufferBatchGet":            &kvrpcpb.BufferBatchGetResponse{RegionError: re(), Pairs: pairs(), Error: keyErr()},
		"FlashbackToVersion":        &kvrpcpb.FlashbackToVersionResponse{RegionError: re()},
		"PrepareFlashbackToVersion": &kvrpcpb.PrepareFlashbackToVersionResponse{RegionError: re()},
		"RawGet":                    &kvrpcpb.RawGetResponse{RegionError: re()},
		"RawBatchGet":               &kvrpcpb.RawBatchGetResponse{RegionError: re(), Pairs: pairs()},
		"RawPut":                    &kvrpcpb.RawPutResponse{RegionError: re()},
		"RawBatchPut":               &kvrpcpb.RawBatchPutResponse{RegionError: re()},
		"RawDelete":                 &kvrpcpb.RawDeleteResponse{RegionError: re()},
		"RawBatchDelete":            &kvrpcpb.RawBatchDeleteResponse{RegionError: re()},
		"RawDeleteRange":            &kvrpcpb.RawDeleteRangeResponse{RegionError: re()},
		"RawScan":                   &kvrpcpb.RawScanResponse{RegionError: re(), Kvs: pairs()},
		"RawBatchScan":              &kvrpcpb.RawBatchScanResponse{RegionError: re(), Kvs: pairs()},
		"RawGetKeyTTL":              &kvrpcpb.RawGetKeyTTLResponse{RegionError: re()},
		"RawCompareAndSwap":         &kvrpcpb.RawCASResponse{RegionError: re()},
		"RawChecksum":               &kvrpcpb.RawChecksumResponse{RegionError: re()},
		"UnsafeDestroyRange":        &kvrpcpb.UnsafeDestroyRangeResponse{RegionError: re()},
		"LockWaitInfo":              &kvrpcpb.GetLockWaitInfoResponse{RegionError: re(), Entries: []*deadlock.WaitForEntry{{Key: k()}}},
		"GetHealthFeedback":         &kvrpcpb.GetHealthFeedbackResponse{RegionError: re()},
		"MvccGetByKey":              &kvrpcpb.MvccGetByKeyResponse{RegionError: re(), Info: mvcc()},
		"MvccGetByStartTs":          &kvrpcpb.MvccGetByStartTsResponse{RegionError: re(), Key: k(), Info: mvcc()},
		"SplitRegion": &kvrpcpb.SplitRegionResponse{RegionError: re(), Regions: []*metapb.Region{
			{StartKey: c.EncodeRegionKey(marker), EndKey: c.EncodeRegionKey(append(bytes.Clone(marker), 'z'))}}},
	}
}

func TestDecodeResponseAllCommands(t *testing.T) {
	c := mustV2(t, ModeTxn)
	prefixed := append(bytes.Clone(c.GetKeyspace()), marker...)
	for name, body := range encodedResponses(c) {
		t.Run(name, func(t *testing.T) {
			before, err := body.(marshaler).Marshal()
			require.NoError(t, err)
			resp := &tikvrpc.Response{Resp: body}
			got, err := c.DecodeResponse(nil, resp)
			require.NoError(t, err)
			require.Same(t, resp, got)
			after, err := got.Resp.(marshaler).Marshal()
			require.NoError(t, err)
			require.Zero(t, bytes.Count(after, prefixed), "no key left in wire form")
			if name != "SplitRegion" {
				require.Equal(t, bytes.Count(before, marker), bytes.Count(after, marker), "every key kept")
			}
		})
	}
	// Responses for other codecs or without body pass through.
	got, err := c.DecodeResponse(nil, &tikvrpc.Response{})
	require.NoError(t, err)
	require.Nil(t, got.Resp)
	got, err = c.DecodeResponse(nil, &tikvrpc.Response{Resp: &kvrpcpb.StoreSafeTSResponse{SafeTs: 1}})
	require.NoError(t, err)
	require.NotNil(t, got)
}

func TestDecodeResponseErrors(t *testing.T) {
	c := mustV2(t, ModeTxn)
	foreign := append(bytes.Clone(prevKeyspacePrefix), 'k')
	for name, body := range map[string]any{
		"pair":   &kvrpcpb.RawScanResponse{Kvs: []*kvrpcpb.KvPair{{Key: foreign}}},
		"lock":   &kvrpcpb.ScanLockResponse{Locks: []*kvrpcpb.LockInfo{{Key: foreign}}},
		"region": &kvrpcpb.SplitRegionResponse{Regions: []*metapb.Region{{StartKey: []byte("junk")}}},
		"knir":   &kvrpcpb.RawGetResponse{RegionError: &errorpb.Error{KeyNotInRegion: &errorpb.KeyNotInRegion{Key: foreign}}},
	} {
		_, err := c.DecodeResponse(nil, &tikvrpc.Response{Resp: body})
		require.Error(t, err, name)
	}
	// V1 leaves keys alone.
	v1, _ := NewCodecV1(ModeRaw)
	body := &kvrpcpb.RawScanResponse{Kvs: []*kvrpcpb.KvPair{{Key: foreign}}}
	_, err := v1.DecodeResponse(nil, &tikvrpc.Response{Resp: body})
	require.NoError(t, err)
	require.Equal(t, foreign, body.Kvs[0].Key)
}
