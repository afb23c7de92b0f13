package apicodec

import (
	"bytes"
	"cmp"
	"math"
	"slices"
	"testing"

	"github.com/pingcap/kvproto/pkg/apipb"
	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/stretchr/testify/require"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/util/codec"
	"pgregory.net/rapid"
)

const testKeyspaceID = 4242

var (
	keyspacePrefix     = []byte{'r', 0, 0x10, 0x92}
	keyspaceEndKey     = []byte{'r', 0, 0x10, 0x93}
	prevKeyspacePrefix = []byte{'r', 0, 0x10, 0x91}
	beforePrefix       = append(bytes.Clone(prevKeyspacePrefix), 'z')
	afterEndKey        = append(bytes.Clone(keyspaceEndKey), 'a')
	insideLeft         = append(bytes.Clone(keyspacePrefix), 'a')
	insideRight        = append(bytes.Clone(keyspacePrefix), 'z')
)

func idMeta(id uint32) *keyspacepb.KeyspaceMeta {
	return &keyspacepb.KeyspaceMeta{Name: "ks", Keyspace: &keyspacepb.KeyspaceMeta_Id{Id: id}}
}

func identMeta(ns, ks uint32) *keyspacepb.KeyspaceMeta {
	return &keyspacepb.KeyspaceMeta{Name: "ks3", Keyspace: &keyspacepb.KeyspaceMeta_KeyspaceIdentity{
		KeyspaceIdentity: &apipb.KeyspaceIdentity{NamespaceId: ns, KeyspaceId: ks}}}
}

func mustV2(t *testing.T, mode Mode) *Codec {
	c, err := NewCodecV2(mode, idMeta(testKeyspaceID))
	require.NoError(t, err)
	return c
}

func mem(k []byte) []byte { return codec.EncodeBytes(nil, k) }

// Port of client-go TestParseKeyspaceID.
func TestParseKeyspaceID(t *testing.T) {
	id, err := ParseKeyspaceID([]byte{'x', 1, 2, 3, 1, 2, 3})
	require.NoError(t, err)
	require.Equal(t, KeyspaceID(0x010203), id)
	id, err = ParseKeyspaceID([]byte{'r', 1, 2, 3, 1, 2, 3, 4})
	require.NoError(t, err)
	require.Equal(t, KeyspaceID(0x010203), id)
	id, err = ParseKeyspaceID([]byte{'t', 0, 0})
	require.Error(t, err)
	require.Equal(t, NullspaceID, id)
	id, err = ParseKeyspaceID([]byte{'t', 0, 0, 1, 1, 2, 3})
	require.Error(t, err)
	require.Equal(t, NullspaceID, id)
}

// Port of client-go TestDecodeKey.
func TestDecodeKey(t *testing.T) {
	pfx, key, err := DecodeKey([]byte{'r', 1, 2, 3, 1, 2, 3, 4}, kvrpcpb.APIVersion_V2)
	require.NoError(t, err)
	require.Equal(t, []byte{'r', 1, 2, 3}, pfx)
	require.Equal(t, []byte{1, 2, 3, 4}, key)
	pfx, key, err = DecodeKey([]byte{'x', 1, 2, 3, 1, 2, 3, 4}, kvrpcpb.APIVersion_V2)
	require.NoError(t, err)
	require.Equal(t, []byte{'x', 1, 2, 3}, pfx)
	require.Equal(t, []byte{1, 2, 3, 4}, key)
	pfx, key, err = DecodeKey([]byte{'t', 1, 2, 3, 1, 2, 3, 4}, kvrpcpb.APIVersion_V1)
	require.NoError(t, err)
	require.Empty(t, pfx)
	require.Equal(t, []byte{'t', 1, 2, 3, 1, 2, 3, 4}, key)
	pfx, key, err = DecodeKey([]byte{'t', 1, 2, 3, 1, 2, 3, 4}, kvrpcpb.APIVersion_V2)
	require.Error(t, err)
	require.Empty(t, pfx)
	require.Empty(t, key)
	_, _, err = DecodeKey([]byte("k"), kvrpcpb.APIVersion_V3)
	require.Error(t, err)
}

// Port of client-go TestEncodeUnknownRequest: a request without keys
// encodes fine.
func TestEncodeUnknownRequest(t *testing.T) {
	c, err := NewCodecV1(ModeTxn)
	require.NoError(t, err)
	_, err = c.EncodeRequest(tikvrpc.NewRequest(tikvrpc.CmdStoreSafeTS, &kvrpcpb.StoreSafeTSRequest{}))
	require.NoError(t, err)
	_, err = mustV2(t, ModeTxn).EncodeRequest(tikvrpc.NewRequest(tikvrpc.CmdGC, &kvrpcpb.GCRequest{}))
	require.NoError(t, err)
}

// Port of client-go TestCodecListUtilityFunctions.
func TestCodecListUtilityFunctions(t *testing.T) {
	require.True(t, slices.IsSortedFunc(CodecV2Prefixes(), bytes.Compare))
	require.True(t, slices.IsSortedFunc(CodecV1ExcludePrefixes(), bytes.Compare))
	require.Equal(t, DefaultKeyspaceName, BuildKeyspaceName(""))
	require.Equal(t, "a", BuildKeyspaceName("a"))
}

// Port of client-go TestV1DecodeBucketKey (empty there): V1 raw bucket keys
// pass through, V1 txn ones are memcomparable-decoded.
func TestV1DecodeBucketKey(t *testing.T) {
	raw, _ := NewCodecV1(ModeRaw)
	keys, err := raw.DecodeBucketKeys([][]byte{{}, []byte("a"), {}})
	require.NoError(t, err)
	require.Equal(t, [][]byte{{}, []byte("a"), {}}, keys)
	txn, _ := NewCodecV1(ModeTxn)
	keys, err = txn.DecodeBucketKeys([][]byte{{}, mem([]byte("a")), {}})
	require.NoError(t, err)
	require.Equal(t, [][]byte{{}, []byte("a"), {}}, keys)
	_, err = txn.DecodeBucketKeys([][]byte{[]byte("bad")})
	require.True(t, IsDecodeError(err))
}

// Port of client-go TestNewCodecV2, TestNewCodecV2RejectsKeyspaceIdentity,
// TestNewCodecV2RejectsNilMeta and TestGetKeyspaceID.
func TestNewCodecV2(t *testing.T) {
	for _, tc := range []struct {
		mode         Mode
		id           uint32
		prefix, end  []byte
		shouldFailed bool
	}{
		{mode: ModeRaw, id: math.MaxUint32, shouldFailed: true},
		{mode: Mode(99), id: DefaultKeyspaceID, shouldFailed: true},
		{mode: ModeRaw, id: 1<<24 - 2, prefix: []byte{'r', 255, 255, 254}, end: []byte{'r', 255, 255, 255}},
		{mode: ModeTxn, id: 1<<8 - 1, prefix: []byte{'x', 0, 0, 255}, end: []byte{'x', 0, 1, 0}},
		{mode: ModeTxn, id: 1<<16 - 1, prefix: []byte{'x', 0, 255, 255}, end: []byte{'x', 1, 0, 0}},
		{mode: ModeRaw, id: 1<<24 - 1, prefix: []byte{'r', 255, 255, 255}, end: []byte{'s', 0, 0, 0}},
	} {
		meta := idMeta(tc.id)
		c, err := NewCodecV2(tc.mode, meta)
		if tc.shouldFailed {
			require.Error(t, err)
			continue
		}
		require.NoError(t, err)
		require.Same(t, meta, c.GetKeyspaceMeta())
		require.Equal(t, tc.prefix, c.GetKeyspace())
		require.Equal(t, tc.end, c.keyEnd)
		require.Equal(t, KeyspaceID(tc.id), c.GetKeyspaceID())
		require.Equal(t, kvrpcpb.APIVersion_V2, c.GetAPIVersion())
		require.Equal(t, tc.mode, c.Mode())
	}
	_, err := NewCodecV2(ModeTxn, identMeta(1, 2))
	require.Error(t, err, "an identity is not silently keyspace 0")
	_, err = NewCodecV2(ModeTxn, nil)
	require.Error(t, err)
	require.Equal(t, KeyspaceID(testKeyspaceID), mustV2(t, ModeRaw).GetKeyspaceID())
	require.Equal(t, keyspacePrefix, mustV2(t, ModeRaw).GetKeyspace())
}

func TestNewCodecVersions(t *testing.T) {
	c, err := NewCodec(kvrpcpb.APIVersion_V1TTL, ModeRaw, nil)
	require.NoError(t, err)
	require.Equal(t, kvrpcpb.APIVersion_V1, c.GetAPIVersion(), "V1TTL clusters take V1 requests")
	require.Equal(t, kvrpcpb.APIVersion_V1TTL, c.APIVersion())
	require.Equal(t, NullspaceID, c.GetKeyspaceID())
	require.Nil(t, c.GetKeyspace())
	require.Nil(t, c.GetKeyspaceMeta())
	_, err = NewCodec(kvrpcpb.APIVersion_V1TTL, ModeTxn, nil)
	require.Error(t, err)
	c, err = NewCodec(kvrpcpb.APIVersion_V1, ModeTxn, nil)
	require.NoError(t, err)
	require.Equal(t, kvrpcpb.APIVersion_V1, c.APIVersion())
	_, err = NewCodec(kvrpcpb.APIVersion_V1, Mode(7), nil)
	require.Error(t, err)
	c, err = NewCodec(kvrpcpb.APIVersion_V2, ModeTxn, idMeta(1))
	require.NoError(t, err)
	require.Equal(t, []byte{'x', 0, 0, 1}, c.GetKeyspace())
	c, err = NewCodec(kvrpcpb.APIVersion_V3, ModeTxn, identMeta(7, 9))
	require.NoError(t, err)
	require.Equal(t, kvrpcpb.APIVersion_V3, c.GetAPIVersion())
	require.Equal(t, KeyspaceID(9), c.GetKeyspaceID())
	_, err = NewCodec(kvrpcpb.APIVersion(9), ModeTxn, nil)
	require.Error(t, err)

	for _, bad := range []*keyspacepb.KeyspaceMeta{nil, idMeta(1), identMeta(0, 1), identMeta(1, 1<<24)} {
		_, err := NewCodecV3(ModeRaw, bad)
		require.Error(t, err)
	}
	_, err = NewCodecV3(Mode(5), identMeta(1, 1))
	require.Error(t, err)
}

// Port of client-go TestEncodeV2KeyRanges.
func TestEncodeV2KeyRanges(t *testing.T) {
	c := mustV2(t, ModeRaw)
	in := []*kvrpcpb.KeyRange{
		{StartKey: []byte{}, EndKey: []byte{}},
		{StartKey: []byte{}, EndKey: []byte{'z'}},
		{StartKey: []byte{'a'}, EndKey: []byte{}},
		{StartKey: []byte{'a'}, EndKey: []byte{'z'}},
	}
	want := []*kvrpcpb.KeyRange{
		{StartKey: keyspacePrefix, EndKey: keyspaceEndKey},
		{StartKey: keyspacePrefix, EndKey: append(bytes.Clone(keyspacePrefix), 'z')},
		{StartKey: append(bytes.Clone(keyspacePrefix), 'a'), EndKey: keyspaceEndKey},
		{StartKey: append(bytes.Clone(keyspacePrefix), 'a'), EndKey: append(bytes.Clone(keyspacePrefix), 'z')},
	}
	require.Equal(t, want, c.encodeKeyRanges(in, false))
	// Reverse ranges bound from above with the start key.
	require.Equal(t, []*kvrpcpb.KeyRange{{StartKey: keyspaceEndKey, EndKey: append(bytes.Clone(keyspacePrefix), 'a')}},
		c.encodeKeyRanges([]*kvrpcpb.KeyRange{{StartKey: nil, EndKey: []byte("a")}}, true))
	require.Nil(t, c.encodeKeyRanges(nil, false))
}

// Port of client-go TestDecodeEpochNotMatch.
func TestDecodeEpochNotMatch(t *testing.T) {
	c := mustV2(t, ModeRaw)
	regionErr := &errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{CurrentRegions: []*metapb.Region{
		{Id: 1, StartKey: mem(keyspacePrefix), EndKey: mem(keyspaceEndKey)},
		{Id: 2, StartKey: mem(beforePrefix), EndKey: mem(afterEndKey)},
		{Id: 3, StartKey: mem(beforePrefix), EndKey: mem(insideLeft)},
		{Id: 4, StartKey: mem(insideLeft), EndKey: mem(insideRight)},
		{Id: 5, StartKey: mem(beforePrefix), EndKey: mem(keyspacePrefix)}, // before: dropped
		{Id: 6, StartKey: mem(keyspaceEndKey), EndKey: mem(afterEndKey)},  // after: dropped
	}}}
	resp := &tikvrpc.Response{Resp: &kvrpcpb.RawGetResponse{RegionError: regionErr}}
	_, err := c.DecodeResponse(nil, resp)
	require.NoError(t, err)
	require.Equal(t, []*metapb.Region{
		{Id: 1, StartKey: []byte{}, EndKey: []byte{}},
		{Id: 2, StartKey: []byte{}, EndKey: []byte{}},
		{Id: 3, StartKey: []byte{}, EndKey: []byte("a")},
		{Id: 4, StartKey: []byte("a"), EndKey: []byte("z")},
	}, regionErr.EpochNotMatch.CurrentRegions)

	// A malformed boundary is a decode error, not a dropped region.
	bad := &errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{CurrentRegions: []*metapb.Region{{Id: 1, StartKey: []byte("junk")}}}}
	_, err = c.DecodeResponse(nil, &tikvrpc.Response{Resp: &kvrpcpb.RawGetResponse{RegionError: bad}})
	require.True(t, IsDecodeError(err), "%v", err)
}

// Port of client-go TestDecodeKeyError: every key inside a key error is
// decoded.
func TestDecodeKeyError(t *testing.T) {
	c := mustV2(t, ModeTxn)
	k := func(s string) []byte { return c.EncodeKey([]byte(s)) }
	lock := func() *kvrpcpb.LockInfo {
		return &kvrpcpb.LockInfo{Key: k("lk"), PrimaryLock: k("lp"), Secondaries: [][]byte{k("s1")},
			SharedLockInfos: []*kvrpcpb.LockInfo{{Key: k("sh"), PrimaryLock: k("shp")}}}
	}
	ke := &kvrpcpb.KeyError{
		Locked:          lock(),
		Conflict:        &kvrpcpb.WriteConflict{Key: k("ck"), Primary: k("cp")},
		AlreadyExist:    &kvrpcpb.AlreadyExist{Key: k("ae")},
		Deadlock:        &kvrpcpb.Deadlock{LockKey: k("dl"), DeadlockKey: k("dk")},
		CommitTsExpired: &kvrpcpb.CommitTsExpired{Key: k("ce")},
		TxnNotFound:     &kvrpcpb.TxnNotFound{PrimaryKey: k("tn")},
		AssertionFailed: &kvrpcpb.AssertionFailed{Key: k("af")},
		PrimaryMismatch: &kvrpcpb.PrimaryMismatch{LockInfo: lock()},
		TxnLockNotFound: &kvrpcpb.TxnLockNotFound{Key: k("tl")},
		DebugInfo: &kvrpcpb.DebugInfo{MvccInfo: []*kvrpcpb.MvccDebugInfo{{Key: k("mk"),
			Mvcc: &kvrpcpb.MvccInfo{Lock: &kvrpcpb.MvccLock{Primary: k("mp"), Secondaries: [][]byte{k("ms")}}}}}},
	}
	_, err := c.DecodeResponse(nil, &tikvrpc.Response{Resp: &kvrpcpb.CommitResponse{Error: ke}})
	require.NoError(t, err)
	s := func(b []byte) string { return string(b) }
	require.Equal(t, "lk", s(ke.Locked.Key))
	require.Equal(t, "lp", s(ke.Locked.PrimaryLock))
	require.Equal(t, "s1", s(ke.Locked.Secondaries[0]))
	require.Equal(t, "sh", s(ke.Locked.SharedLockInfos[0].Key))
	require.Equal(t, "shp", s(ke.Locked.SharedLockInfos[0].PrimaryLock))
	require.Equal(t, "ck", s(ke.Conflict.Key))
	require.Equal(t, "cp", s(ke.Conflict.Primary))
	require.Equal(t, "ae", s(ke.AlreadyExist.Key))
	require.Equal(t, "dl", s(ke.Deadlock.LockKey))
	require.Equal(t, "dk", s(ke.Deadlock.DeadlockKey))
	require.Equal(t, "ce", s(ke.CommitTsExpired.Key))
	require.Equal(t, "tn", s(ke.TxnNotFound.PrimaryKey))
	require.Equal(t, "af", s(ke.AssertionFailed.Key))
	require.Equal(t, "lk", s(ke.PrimaryMismatch.LockInfo.Key))
	require.Equal(t, "tl", s(ke.TxnLockNotFound.Key))
	require.Equal(t, "mk", s(ke.DebugInfo.MvccInfo[0].Key))
	require.Equal(t, "mp", s(ke.DebugInfo.MvccInfo[0].Mvcc.Lock.Primary))
	require.Equal(t, "ms", s(ke.DebugInfo.MvccInfo[0].Mvcc.Lock.Secondaries[0]))

	// A key from another keyspace is an error.
	other := &kvrpcpb.KeyError{Locked: &kvrpcpb.LockInfo{Key: append(bytes.Clone(prevKeyspacePrefix), 'k')}}
	_, err = c.DecodeResponse(nil, &tikvrpc.Response{Resp: &kvrpcpb.GetResponse{Error: other}})
	require.ErrorIs(t, err, ErrKeyOutOfBound)
}

// Port of client-go TestDecodeMvccInfoPreservesEmptyLockKeys.
func TestDecodeMvccInfoPreservesEmptyLockKeys(t *testing.T) {
	c := mustV2(t, ModeTxn)
	info := &kvrpcpb.MvccInfo{Lock: &kvrpcpb.MvccLock{Primary: []byte{},
		Secondaries: [][]byte{{}, c.EncodeKey([]byte("mvcc-secondary"))}}}
	resp := &kvrpcpb.MvccGetByKeyResponse{Info: info}
	_, err := c.DecodeResponse(nil, &tikvrpc.Response{Resp: resp})
	require.NoError(t, err)
	require.Same(t, info, resp.Info)
	require.NotNil(t, info.Lock.Primary)
	require.Empty(t, info.Lock.Primary)
	require.NotNil(t, info.Lock.Secondaries[0])
	require.Empty(t, info.Lock.Secondaries[0])
	require.Equal(t, []byte("mvcc-secondary"), info.Lock.Secondaries[1])
}

// Port of client-go TestDecodeBucketKeys.
func TestDecodeBucketKeys(t *testing.T) {
	c := mustV2(t, ModeRaw)
	withPrefix := func(prefix []byte, key string) []byte { return mem(append(bytes.Clone(prefix), key...)) }
	want := [][]byte{{}, []byte("a"), []byte("b"), []byte("c"), {}}
	for _, in := range [][][]byte{
		{withPrefix(prevKeyspacePrefix, "a"), withPrefix(prevKeyspacePrefix, "b"), withPrefix(prevKeyspacePrefix, "c"),
			c.EncodeRegionKey([]byte("a")), c.EncodeRegionKey([]byte("b")), c.EncodeRegionKey([]byte("c")),
			withPrefix(keyspaceEndKey, ""), withPrefix(keyspaceEndKey, "a"), withPrefix(keyspaceEndKey, "b"), withPrefix(keyspaceEndKey, "c")},
		{withPrefix(prevKeyspacePrefix, "a"), withPrefix(prevKeyspacePrefix, "b"), withPrefix(prevKeyspacePrefix, "c"),
			c.EncodeRegionKey([]byte("")), c.EncodeRegionKey([]byte("a")), c.EncodeRegionKey([]byte("b")), c.EncodeRegionKey([]byte("c")), {}},
		{{}, withPrefix(prevKeyspacePrefix, "a"), withPrefix(prevKeyspacePrefix, "b"), withPrefix(prevKeyspacePrefix, "c"),
			c.EncodeRegionKey([]byte("")), c.EncodeRegionKey([]byte("a")), c.EncodeRegionKey([]byte("b")), c.EncodeRegionKey([]byte("c")), {}},
	} {
		got, err := c.DecodeBucketKeys(in)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	_, err := c.DecodeBucketKeys([][]byte{[]byte("junk")})
	require.True(t, IsDecodeError(err))
}

func TestDecodeRegionErrorKeyNotInRegion(t *testing.T) {
	c := mustV2(t, ModeRaw)
	e := &errorpb.Error{KeyNotInRegion: &errorpb.KeyNotInRegion{Key: c.EncodeKey([]byte("k")),
		StartKey: mem(insideLeft), EndKey: mem(keyspaceEndKey)}}
	_, err := c.DecodeResponse(nil, &tikvrpc.Response{Resp: &kvrpcpb.RawPutResponse{RegionError: e}})
	require.NoError(t, err)
	require.Equal(t, []byte("k"), e.KeyNotInRegion.Key)
	require.Equal(t, []byte("a"), e.KeyNotInRegion.StartKey)
	require.Equal(t, []byte{}, e.KeyNotInRegion.EndKey)

	// V1 txn decodes region boundaries too.
	v1, _ := NewCodecV1(ModeTxn)
	e = &errorpb.Error{KeyNotInRegion: &errorpb.KeyNotInRegion{Key: []byte("k"), StartKey: mem([]byte("a")), EndKey: mem([]byte("b"))}}
	_, err = v1.DecodeResponse(nil, &tikvrpc.Response{Resp: &kvrpcpb.GetResponse{RegionError: e}})
	require.NoError(t, err)
	require.Equal(t, []byte("a"), e.KeyNotInRegion.StartKey)
	require.Equal(t, []byte("b"), e.KeyNotInRegion.EndKey)
	e = &errorpb.Error{KeyNotInRegion: &errorpb.KeyNotInRegion{StartKey: []byte("junk")}}
	_, err = v1.DecodeResponse(nil, &tikvrpc.Response{Resp: &kvrpcpb.GetResponse{RegionError: e}})
	require.True(t, IsDecodeError(err))
}

func TestRangesAndRegionKeys(t *testing.T) {
	c := mustV2(t, ModeRaw)
	s, e := c.EncodeRange([]byte("a"), []byte("b"))
	require.Equal(t, append(bytes.Clone(keyspacePrefix), 'a'), s)
	require.Equal(t, append(bytes.Clone(keyspacePrefix), 'b'), e)
	ds, de, err := c.DecodeRange(s, e)
	require.NoError(t, err)
	require.Equal(t, []byte("a"), ds)
	require.Equal(t, []byte("b"), de)
	ds, de, err = c.DecodeRange(beforePrefix, afterEndKey)
	require.NoError(t, err)
	require.Equal(t, []byte{}, ds)
	require.Equal(t, []byte{}, de)
	_, _, err = c.DecodeRange(afterEndKey, nil)
	require.ErrorIs(t, err, ErrKeyOutOfBound)
	_, _, err = c.DecodeRange(nil, beforePrefix)
	require.ErrorIs(t, err, ErrKeyOutOfBound)

	rs, re := c.EncodeRegionRange([]byte("a"), nil)
	require.Equal(t, mem(insideLeft), rs)
	require.Equal(t, mem(keyspaceEndKey), re)
	_, err = c.DecodeRegionKey(mem(beforePrefix))
	require.ErrorIs(t, err, ErrKeyOutOfBound)
	_, err = c.DecodeRegionKey([]byte("junk"))
	require.True(t, IsDecodeError(err))
	got, err := c.DecodeRegionKey(nil)
	require.NoError(t, err)
	require.Empty(t, got)
	_, _, err = c.DecodeRegionRange([]byte("junk"), nil)
	require.True(t, IsDecodeError(err))
	_, _, err = c.DecodeRegionRange(nil, []byte("junk"))
	require.True(t, IsDecodeError(err))

	k, err := c.DecodeKey(nil)
	require.NoError(t, err)
	require.Nil(t, k)
	_, err = c.DecodeKey([]byte("x"))
	require.ErrorIs(t, err, ErrKeyOutOfBound)

	v1raw, _ := NewCodecV1(ModeRaw)
	rs, re = v1raw.EncodeRegionRange([]byte("a"), nil)
	require.Equal(t, []byte("a"), rs)
	require.Empty(t, re)
	rs, re = v1raw.EncodeRegionRange([]byte("a"), []byte("b"))
	require.Equal(t, []byte("b"), re)
	require.Equal(t, []byte("a"), rs)
	s, e = v1raw.EncodeRange([]byte("a"), nil)
	require.Equal(t, []byte("a"), s)
	require.Nil(t, e)
	ds, de, err = v1raw.DecodeRange([]byte("a"), []byte("b"))
	require.NoError(t, err)
	require.Equal(t, []byte("a"), ds)
	require.Equal(t, []byte("b"), de)
	require.Equal(t, []byte("a"), v1raw.EncodeKey([]byte("a")))
	require.Equal(t, []byte{0xff, 0xff}, prefixEnd([]byte{0xff, 0xfe}))
	require.Equal(t, []byte{2}, prefixEnd([]byte{1, 0xff}))
	require.Nil(t, prefixEnd([]byte{0xff, 0xff}))
}

func TestErrorsAndDecodeError(t *testing.T) {
	e := &DecodeError{Err: codec.ErrInvalid}
	require.ErrorIs(t, e, codec.ErrInvalid)
	require.Contains(t, e.Error(), "decode")
	require.False(t, IsDecodeError(ErrKeyOutOfBound))
}

// Region keys round-trip and keep their order in every codec; keys round
// trip through the wire form.
func TestCodecProperties(t *testing.T) {
	v1raw, _ := NewCodecV1(ModeRaw)
	v1txn, _ := NewCodecV1(ModeTxn)
	v3, err := NewCodecV3(ModeTxn, identMeta(3, 77))
	require.NoError(t, err)
	codecs := map[string]*Codec{"v1raw": v1raw, "v1txn": v1txn, "v1ttl": NewCodecV1TTL(),
		"v2raw": mustV2(t, ModeRaw), "v2txn": mustV2(t, ModeTxn), "v3": v3}
	names := []string{"v1raw", "v1txn", "v1ttl", "v2raw", "v2txn", "v3"}
	rapid.Check(t, func(t *rapid.T) {
		c := codecs[rapid.SampledFrom(names).Draw(t, "codec")]
		a := rapid.SliceOfN(rapid.Byte(), 0, 20).Draw(t, "a")
		b := rapid.SliceOfN(rapid.Byte(), 0, 20).Draw(t, "b")
		ea, eb := c.EncodeRegionKey(a), c.EncodeRegionKey(b)
		if cmp.Compare(bytes.Compare(ea, eb), 0) != bytes.Compare(a, b) {
			t.Fatalf("order: %x %x -> %x %x", a, b, ea, eb)
		}
		if len(a) > 0 {
			got, err := c.DecodeRegionKey(ea)
			if err != nil || !bytes.Equal(got, a) {
				t.Fatalf("region key round trip %x: %x %v", a, got, err)
			}
		}
		got, err := c.DecodeKey(c.EncodeKey(a))
		if err != nil || !bytes.Equal(got, a) {
			t.Fatalf("key round trip %x: %x %v", a, got, err)
		}
		lo, hi := a, b
		if bytes.Compare(lo, hi) > 0 {
			lo, hi = hi, lo
		}
		if len(hi) == 0 {
			return
		}
		s, e := c.EncodeRegionRange(lo, hi)
		ds, de, err := c.DecodeRegionRange(s, e)
		if err != nil || !bytes.Equal(ds, lo) || !bytes.Equal(de, hi) {
			t.Fatalf("region range round trip [%x,%x): [%x,%x) %v", lo, hi, ds, de, err)
		}
		// An open end decodes as open.
		s, e = c.EncodeRegionRange(lo, nil)
		ds, de, err = c.DecodeRegionRange(s, e)
		if err != nil || !bytes.Equal(ds, lo) || len(de) != 0 {
			t.Fatalf("open range round trip [%x,): [%x,%x) %v", lo, ds, de, err)
		}
	})
}

func TestV3(t *testing.T) {
	c, err := NewCodecV3(ModeRaw, identMeta(0x01020304, 0x050607))
	require.NoError(t, err)
	require.Equal(t, []byte{'r', 1, 2, 3, 4, 5, 6, 7}, c.regionPrefix)
	require.Equal(t, mem([]byte{'r', 1, 2, 3, 4, 5, 6, 7, 'k'}), c.EncodeRegionKey([]byte("k")))
	req := tikvrpc.NewRequest(tikvrpc.CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte("k")})
	enc, err := c.EncodeRequest(req)
	require.NoError(t, err)
	require.Equal(t, kvrpcpb.APIVersion_V3, enc.ApiVersion)
	require.Equal(t, &apipb.KeyspaceIdentity{NamespaceId: 0x01020304, KeyspaceId: 0x050607}, enc.GetKeyspaceIdentity())
	require.Equal(t, "ks3", enc.KeyspaceName)
	require.Same(t, req.Req, enc.Req, "keys travel as given")
	require.Equal(t, kvrpcpb.APIVersion_V1, req.ApiVersion, "the caller's request is unchanged")

	// Region errors are decoded from physical keys.
	e := &errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{CurrentRegions: []*metapb.Region{
		{Id: 1, StartKey: c.EncodeRegionKey([]byte("a")), EndKey: mem(c.regionEnd)}}}}
	_, err = c.DecodeResponse(enc, &tikvrpc.Response{Resp: &kvrpcpb.RawGetResponse{RegionError: e}})
	require.NoError(t, err)
	require.Equal(t, []byte("a"), e.EpochNotMatch.CurrentRegions[0].StartKey)
	require.Equal(t, []byte{}, e.EpochNotMatch.CurrentRegions[0].EndKey)
	keys, err := c.DecodeBucketKeys([][]byte{{}, c.EncodeRegionKey([]byte("m")), {}})
	require.NoError(t, err)
	require.Equal(t, [][]byte{{}, []byte("m"), {}}, keys)
}
