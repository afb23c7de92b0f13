// Package apicodec owns the mapping between the keys users see and the keys
// TiKV stores, for each API version: V1 (keys as given; region boundaries
// memcomparable-encoded in transactional mode), V1TTL (V1 on the wire, for
// raw clusters that store a TTL with every value), V2 (every key prefixed by
// a 4-byte keyspace prefix, 'r' or 'x' plus a 3-byte keyspace id; region
// boundaries memcomparable-encoded) and V3 (user keys on the wire, the
// keyspace identity in the request context).
//
// A Codec encodes the keys of a tikvrpc.Request before it is sent (on a
// copy: the caller's request is reused on retry) and decodes the keys of the
// response (pairs, key errors, locks, region errors, split regions), and it
// converts region and bucket boundaries between their PD form and user keys,
// which is what the region cache stores.
//
// It mirrors client-go internal/apicodec (codec.go, codec_v1.go,
// codec_v2.go) and TiKV components/api_version. Differences: one concrete
// Codec type instead of an interface with one implementation per version;
// V3 is supported where client-go rejects a keyspace identity; and no
// request pooling.
//
// API V3 region boundaries are assumed to be the memcomparable encoding of
// the 8-byte physical prefix (mode, namespace id, keyspace id, big endian)
// followed by the user key, the V2 scheme with the longer prefix; kvproto
// states the prefix, not yet the region key form.
package apicodec

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/pingcap/kvproto/pkg/apipb"
	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/tikvsim/tikvsim/client/pd"
	"github.com/tikvsim/tikvsim/client/util/codec"
)

// Mode is the kind of data a codec addresses.
type Mode int

// The modes.
const (
	// ModeRaw addresses raw KV data.
	ModeRaw Mode = iota
	// ModeTxn addresses transactional data.
	ModeTxn
)

// KeyspaceID is a numeric keyspace id (24 bits are used).
type KeyspaceID uint32

// Keyspace constants.
const (
	// NullspaceID means "no keyspace" (API V1).
	NullspaceID = KeyspaceID(math.MaxUint32)
	// DefaultKeyspaceID is the id of the default keyspace.
	DefaultKeyspaceID uint32 = 0
	// DefaultKeyspaceName is the name of the default keyspace.
	DefaultKeyspaceName = "DEFAULT"
	// RawModePrefix starts every API V2 raw key.
	RawModePrefix byte = 'r'
	// TxnModePrefix starts every API V2 transactional key.
	TxnModePrefix byte = 'x'

	keyspacePrefixLen   = 4
	v3PrefixLen         = 8
	maxKeyspaceID       = uint32(0xFFFFFF)
	maxV3KeyspaceIDBits = 24
)

// ErrKeyOutOfBound is returned when decoding a key outside the codec's
// keyspace.
var ErrKeyOutOfBound = errors.New("apicodec: key does not belong to the keyspace")

// DecodeError is a region or key boundary that is not well-formed: TiKV or
// PD sent something this client cannot interpret. It is reported to users,
// not retried.
type DecodeError struct {
	Err error
}

// Error implements the error interface.
func (e *DecodeError) Error() string { return "apicodec: decode: " + e.Err.Error() }

// Unwrap returns Err.
func (e *DecodeError) Unwrap() error { return e.Err }

// IsDecodeError reports whether err is, or wraps, a *DecodeError.
func IsDecodeError(err error) bool {
	var d *DecodeError
	return errors.As(err, &d)
}

// CodecV2Prefixes returns the sorted list of first bytes API V2 keys use.
func CodecV2Prefixes() [][]byte { return [][]byte{{RawModePrefix}, {TxnModePrefix}} }

// CodecV1ExcludePrefixes returns the sorted list of prefixes V1 keys must
// not use in a mixed V1/V2 deployment.
func CodecV1ExcludePrefixes() [][]byte { return CodecV2Prefixes() }

// BuildKeyspaceName returns name, or DefaultKeyspaceName for "".
func BuildKeyspaceName(name string) string {
	if name == "" {
		return DefaultKeyspaceName
	}
	return name
}

func checkV2Key(b []byte) error {
	if len(b) < keyspacePrefixLen || (b[0] != RawModePrefix && b[0] != TxnModePrefix) {
		return fmt.Errorf("apicodec: invalid API V2 key %q", b)
	}
	return nil
}

// ParseKeyspaceID returns the keyspace id of an API V2 key.
func ParseKeyspaceID(b []byte) (KeyspaceID, error) {
	if err := checkV2Key(b); err != nil {
		return NullspaceID, err
	}
	return KeyspaceID(uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])), nil
}

// DecodeKey splits an encoded key of the given API version into its
// keyspace prefix and user key. V1 keys have no prefix.
func DecodeKey(encoded []byte, version kvrpcpb.APIVersion) (prefix, key []byte, err error) {
	switch version {
	case kvrpcpb.APIVersion_V1, kvrpcpb.APIVersion_V1TTL:
		return nil, encoded, nil
	case kvrpcpb.APIVersion_V2:
		if err := checkV2Key(encoded); err != nil {
			return nil, nil, err
		}
		return encoded[:keyspacePrefixLen], encoded[keyspacePrefixLen:], nil
	}
	return nil, nil, fmt.Errorf("apicodec: unsupported api version %s", version)
}

// Codec encodes and decodes keys, ranges, requests and responses for one API
// version, mode and keyspace. It is immutable and safe for concurrent use.
type Codec struct {
	version kvrpcpb.APIVersion // as configured (V1TTL stays V1TTL)
	wire    kvrpcpb.APIVersion // sent in the request context
	mode    Mode
	meta    *keyspacepb.KeyspaceMeta
	id      KeyspaceID

	// keyPrefix is prepended to every key on the wire (V2 only).
	keyPrefix []byte
	// keyEnd is the first wire key after the keyspace (V2 only).
	keyEnd []byte
	// regionPrefix, regionEnd bound the keyspace in region-key space
	// before memcomparable encoding (V2 and V3).
	regionPrefix, regionEnd []byte
	// memComparable says region keys are memcomparable-encoded.
	memComparable bool

	keyspaceID       *kvrpcpb.Context_KeyspaceId
	keyspaceIdentity *kvrpcpb.Context_KeyspaceIdentity
}

// NewCodecV1 returns the API V1 codec: keys as given; region keys
// memcomparable-encoded in ModeTxn, as given in ModeRaw.
func NewCodecV1(mode Mode) (*Codec, error) {
	if mode != ModeRaw && mode != ModeTxn {
		return nil, fmt.Errorf("apicodec: unknown mode %d", mode)
	}
	return &Codec{
		version:       kvrpcpb.APIVersion_V1,
		wire:          kvrpcpb.APIVersion_V1,
		mode:          mode,
		id:            NullspaceID,
		memComparable: mode == ModeTxn,
		keyspaceID:    &kvrpcpb.Context_KeyspaceId{KeyspaceId: uint32(NullspaceID)},
	}, nil
}

// NewCodecV1TTL returns the codec for a raw cluster in API V1TTL: V1 raw on
// the wire (TiKV accepts only V1 raw requests there), reporting V1TTL as its
// API version.
func NewCodecV1TTL() *Codec {
	c, _ := NewCodecV1(ModeRaw)
	c.version = kvrpcpb.APIVersion_V1TTL
	return c
}

// NewCodecV2 returns the API V2 codec for the keyspace in meta, which must
// carry a numeric id of at most 24 bits (a V3 identity is rejected).
func NewCodecV2(mode Mode, meta *keyspacepb.KeyspaceMeta) (*Codec, error) {
	if meta == nil {
		return nil, errors.New("apicodec: keyspace meta is nil")
	}
	if meta.GetKeyspaceIdentity() != nil {
		return nil, errors.New("apicodec: a keyspace identity needs API V3; codec V2 supports numeric keyspace ids")
	}
	id := meta.GetId()
	if id > maxKeyspaceID {
		return nil, fmt.Errorf("apicodec: keyspace id %d is out of range, maximum is %d", id, maxKeyspaceID)
	}
	m, err := modeByte(mode)
	if err != nil {
		return nil, err
	}
	prefix := []byte{m, byte(id >> 16), byte(id >> 8), byte(id)}
	end := binary.BigEndian.AppendUint32(nil, binary.BigEndian.Uint32(prefix)+1)
	return &Codec{
		version:       kvrpcpb.APIVersion_V2,
		wire:          kvrpcpb.APIVersion_V2,
		mode:          mode,
		meta:          meta,
		id:            KeyspaceID(id),
		keyPrefix:     prefix,
		keyEnd:        end,
		regionPrefix:  prefix,
		regionEnd:     end,
		memComparable: true,
		keyspaceID:    &kvrpcpb.Context_KeyspaceId{KeyspaceId: id},
	}, nil
}

// NewCodecV3 returns the API V3 codec for the keyspace identity in meta
// (non-zero namespace id, keyspace id of at most 24 bits). Keys travel as
// given; the identity travels in the request context.
func NewCodecV3(mode Mode, meta *keyspacepb.KeyspaceMeta) (*Codec, error) {
	ident := meta.GetKeyspaceIdentity()
	if ident == nil {
		return nil, errors.New("apicodec: codec V3 needs a keyspace identity")
	}
	if ident.NamespaceId == 0 {
		return nil, errors.New("apicodec: keyspace identity has namespace id 0")
	}
	if ident.KeyspaceId >= 1<<maxV3KeyspaceIDBits {
		return nil, fmt.Errorf("apicodec: keyspace id %d is out of range, maximum is %d", ident.KeyspaceId, maxKeyspaceID)
	}
	m, err := modeByte(mode)
	if err != nil {
		return nil, err
	}
	prefix := make([]byte, 0, v3PrefixLen)
	prefix = append(prefix, m)
	prefix = binary.BigEndian.AppendUint32(prefix, ident.NamespaceId)
	prefix = append(prefix, byte(ident.KeyspaceId>>16), byte(ident.KeyspaceId>>8), byte(ident.KeyspaceId))
	return &Codec{
		version:          kvrpcpb.APIVersion_V3,
		wire:             kvrpcpb.APIVersion_V3,
		mode:             mode,
		meta:             meta,
		id:               KeyspaceID(ident.KeyspaceId),
		regionPrefix:     prefix,
		regionEnd:        prefixEnd(prefix),
		memComparable:    true,
		keyspaceIdentity: &kvrpcpb.Context_KeyspaceIdentity{KeyspaceIdentity: &apipb.KeyspaceIdentity{NamespaceId: ident.NamespaceId, KeyspaceId: ident.KeyspaceId}},
	}, nil
}

// NewCodec returns the codec for an API version: V1 and V1TTL ignore meta
// (V1TTL needs ModeRaw), V2 and V3 need it.
func NewCodec(version kvrpcpb.APIVersion, mode Mode, meta *keyspacepb.KeyspaceMeta) (*Codec, error) {
	switch version {
	case kvrpcpb.APIVersion_V1:
		return NewCodecV1(mode)
	case kvrpcpb.APIVersion_V1TTL:
		if mode != ModeRaw {
			return nil, errors.New("apicodec: API V1TTL is for raw KV only")
		}
		return NewCodecV1TTL(), nil
	case kvrpcpb.APIVersion_V2:
		return NewCodecV2(mode, meta)
	case kvrpcpb.APIVersion_V3:
		return NewCodecV3(mode, meta)
	}
	return nil, fmt.Errorf("apicodec: unsupported api version %s", version)
}

func modeByte(mode Mode) (byte, error) {
	switch mode {
	case ModeRaw:
		return RawModePrefix, nil
	case ModeTxn:
		return TxnModePrefix, nil
	}
	return 0, fmt.Errorf("apicodec: unknown mode %d", mode)
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil // p is all 0xff: no upper bound
}

// GetAPIVersion returns the API version sent in request contexts (V1 for a
// V1TTL codec).
func (c *Codec) GetAPIVersion() kvrpcpb.APIVersion { return c.wire }

// APIVersion returns the API version the codec was built for.
func (c *Codec) APIVersion() kvrpcpb.APIVersion { return c.version }

// Mode returns the codec's mode.
func (c *Codec) Mode() Mode { return c.mode }

// GetKeyspace returns the 4-byte V2 key prefix, nil for other versions.
func (c *Codec) GetKeyspace() []byte { return c.keyPrefix }

// GetKeyspaceID returns the keyspace id, NullspaceID for V1.
func (c *Codec) GetKeyspaceID() KeyspaceID { return c.id }

// GetKeyspaceMeta returns the keyspace meta, nil for V1.
func (c *Codec) GetKeyspaceMeta() *keyspacepb.KeyspaceMeta { return c.meta }

// EncodeKey returns the wire form of a user key. It never aliases key's
// backing array when it adds a prefix.
func (c *Codec) EncodeKey(key []byte) []byte {
	if c.keyPrefix == nil {
		return key
	}
	out := make([]byte, 0, len(c.keyPrefix)+len(key))
	return append(append(out, c.keyPrefix...), key...)
}

// DecodeKey returns the user key of a wire key. An empty key decodes to
// nil; a V2 key outside the keyspace gives ErrKeyOutOfBound.
func (c *Codec) DecodeKey(encoded []byte) ([]byte, error) {
	if c.keyPrefix == nil {
		return encoded, nil
	}
	if len(encoded) == 0 {
		return nil, nil
	}
	if !bytes.HasPrefix(encoded, c.keyPrefix) {
		return nil, fmt.Errorf("%w: %q", ErrKeyOutOfBound, encoded)
	}
	return encoded[len(c.keyPrefix):], nil
}

// EncodeRange returns the wire form of [start, end); an empty end means
// "to the end of the keyspace".
func (c *Codec) EncodeRange(start, end []byte) ([]byte, []byte) {
	return c.encodeRange(start, end, false)
}

// encodeRange is EncodeRange; with reverse, start is the upper bound and
// end the lower (as in reverse scans).
func (c *Codec) encodeRange(start, end []byte, reverse bool) ([]byte, []byte) {
	if c.keyPrefix == nil {
		return start, end
	}
	if reverse {
		lo, hi := c.encodeRange(end, start, false)
		return hi, lo
	}
	if len(end) == 0 {
		return c.EncodeKey(start), c.keyEnd
	}
	return c.EncodeKey(start), c.EncodeKey(end)
}

// DecodeRange maps a wire range back to user keys, clipping it to the
// keyspace: a start before the keyspace becomes "", an end after it becomes
// "". A range entirely outside gives ErrKeyOutOfBound.
func (c *Codec) DecodeRange(start, end []byte) ([]byte, []byte, error) {
	if c.keyPrefix == nil {
		return start, end, nil
	}
	return clip(start, end, c.keyPrefix, c.keyEnd)
}

func clip(start, end, prefix, limit []byte) ([]byte, []byte, error) {
	if (limit != nil && bytes.Compare(start, limit) >= 0) || (len(end) > 0 && bytes.Compare(end, prefix) <= 0) {
		return nil, nil, fmt.Errorf("%w: [%q, %q)", ErrKeyOutOfBound, start, end)
	}
	s, e := []byte{}, []byte{}
	if bytes.HasPrefix(start, prefix) {
		s = start[len(prefix):]
	}
	if bytes.HasPrefix(end, prefix) {
		e = end[len(prefix):]
	}
	return s, e, nil
}

// EncodeRegionKey returns the PD form of a user key: prefixed (V2, V3) and
// memcomparable-encoded (V1 txn, V2, V3).
func (c *Codec) EncodeRegionKey(key []byte) []byte {
	k := key
	if c.regionPrefix != nil {
		k = append(bytes.Clone(c.regionPrefix), key...)
	}
	if c.memComparable {
		return codec.EncodeBytes(nil, k)
	}
	return k
}

// DecodeRegionKey is the inverse of EncodeRegionKey for keys inside the
// keyspace. An empty key stays empty.
func (c *Codec) DecodeRegionKey(encoded []byte) ([]byte, error) {
	if len(encoded) == 0 {
		return encoded, nil
	}
	k, err := c.memDecode(encoded)
	if err != nil {
		return nil, err
	}
	if c.regionPrefix == nil {
		return k, nil
	}
	if !bytes.HasPrefix(k, c.regionPrefix) {
		return nil, fmt.Errorf("%w: %q", ErrKeyOutOfBound, k)
	}
	return k[len(c.regionPrefix):], nil
}

func (c *Codec) memDecode(encoded []byte) ([]byte, error) {
	if !c.memComparable {
		return encoded, nil
	}
	_, k, err := codec.DecodeBytes(encoded, nil)
	if err != nil {
		return nil, &DecodeError{Err: err}
	}
	return k, nil
}

// EncodeRegionRange returns the PD form of the user range [start, end); an
// empty end means the end of the keyspace (unbounded for V1).
func (c *Codec) EncodeRegionRange(start, end []byte) ([]byte, []byte) {
	if c.regionPrefix == nil {
		if len(end) == 0 {
			return c.EncodeRegionKey(start), end
		}
		return c.EncodeRegionKey(start), c.EncodeRegionKey(end)
	}
	s := append(bytes.Clone(c.regionPrefix), start...)
	var e []byte
	if len(end) > 0 {
		e = append(bytes.Clone(c.regionPrefix), end...)
	} else {
		e = c.regionEnd
	}
	if e == nil { // V3 prefix of all 0xff: unbounded
		return codec.EncodeBytes(nil, s), nil
	}
	return codec.EncodeBytes(nil, s), codec.EncodeBytes(nil, e)
}

// DecodeRegionRange maps a region's PD boundaries to user keys, clipped to
// the keyspace ("" for a boundary outside it). A region entirely outside the
// keyspace gives ErrKeyOutOfBound; a malformed boundary gives a
// *DecodeError.
func (c *Codec) DecodeRegionRange(start, end []byte) ([]byte, []byte, error) {
	var err error
	if len(start) != 0 {
		if start, err = c.memDecode(start); err != nil {
			return nil, nil, err
		}
	}
	if len(end) != 0 {
		if end, err = c.memDecode(end); err != nil {
			return nil, nil, err
		}
	}
	if c.regionPrefix == nil {
		return start, end, nil
	}
	return clip(start, end, c.regionPrefix, c.regionEnd)
}

// DecodeBucketKeys maps a region's bucket boundaries (PD form) to user
// keys. Boundaries before the keyspace collapse into a leading "", those
// after it into a trailing "" (client-go codec_v2.go DecodeBucketKeys).
func (c *Codec) DecodeBucketKeys(keys [][]byte) ([][]byte, error) {
	out := make([][]byte, 0, len(keys))
	if c.regionPrefix == nil {
		for _, k := range keys {
			d, err := c.DecodeRegionKey(k)
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		}
		return out, nil
	}
	for i, key := range keys {
		var k []byte
		if len(key) > 0 {
			var err error
			if k, err = c.memDecode(key); err != nil {
				return nil, err
			}
		}
		switch {
		case i == 0 && bytes.Compare(k, c.regionPrefix) < 0:
			out = append(out, []byte{})
		case i == len(keys)-1 && (len(k) == 0 || (c.regionEnd != nil && bytes.Compare(k, c.regionEnd) >= 0)):
			out = append(out, []byte{})
		case bytes.HasPrefix(k, c.regionPrefix):
			raw := k[len(c.regionPrefix):]
			if len(raw) == 0 && len(out) > 0 && len(out[0]) == 0 {
				continue // the keyspace start is already the leading ""
			}
			out = append(out, raw)
		}
	}
	return out, nil
}

// LoadKeyspace loads the meta of the keyspace called name ("" for the
// DEFAULT keyspace) through p's pd.KeyspaceLoader capability: what both
// clients' NewClientWithOpts do for API V2 without WithKeyspaceMeta.
func LoadKeyspace(ctx context.Context, p any, name string) (*keyspacepb.KeyspaceMeta, error) {
	l, ok := p.(pd.KeyspaceLoader)
	if !ok {
		return nil, fmt.Errorf("the PD edge %T cannot load keyspaces: use WithKeyspaceMeta", p)
	}
	name = BuildKeyspaceName(name)
	meta, err := l.LoadKeyspace(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("load keyspace %q: %w", name, err)
	}
	return meta, nil
}
