// Package rawkv is the raw key-value client of TiKV: Get, Put, Delete, their
// batch forms, scans (forward, reverse, key-only, and BatchScan over several
// ranges), DeleteRange, TTLs, compare-and-swap and checksums, with
// client-go's API (rawkv/rawkv.go) on this client's edges.
//
// A Client routes each key through the region cache, sends through the
// request sender (which retries region errors with backoff), and splits batch
// operations by region, sending the parts in parallel as runtime tasks
// (BatchPut in requests of about MaxBatchPutSize bytes, BatchGet and
// BatchDelete in requests of MaxBatchPairCount keys, as client-go).
// Constructors start nothing: background work (region cache GC) runs only
// when the caller starts it with Run.
//
// API versions: WithAPIVersion selects V1 (default), V1TTL or V2. An API V2
// client works inside one keyspace (WithKeyspace, loaded by
// NewClientWithOpts, or WithKeyspaceMeta): its keys travel with the
// keyspace prefix and region boundaries are mapped back to the keyspace's
// user keys (package apicodec), so callers never see the prefix.
//
// Errors: a missing key is not an error for Get (nil value, as client-go);
// an existing empty value reads as an empty, non-nil slice. Invalid
// arguments (empty key, oversized value, mismatched batch lengths, a scan
// limit over MaxRawKVScanLimit, CAS on a non-atomic client) are rejected
// before any RPC with an *ArgumentError; a closed client returns ErrClosed.
// TiKV's refusals are *ServerError. Other errors name the command and the
// region. An operation whose outcome is unknown returns an error satisfying
// IsErrUndetermined; raw writes are never resent after such an outcome.
package rawkv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/config/retry"
	"github.com/tikvsim/tikvsim/client/internal/apicodec"
	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/internal/sender"
	"github.com/tikvsim/tikvsim/client/metrics"
	"github.com/tikvsim/tikvsim/client/pd"
	"github.com/tikvsim/tikvsim/client/resourcecontrol"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/transport"
)

// Limits, as client-go's rawkv package defines them.
const (
	// MaxRawKVScanLimit is the largest limit Scan, ReverseScan and BatchScan
	// accept (client-go MaxRawKVScanLimit).
	MaxRawKVScanLimit = 10240
	// MaxBatchPutSize is the size, in key and value bytes, at which a
	// BatchPut request to one region is cut (client-go rawBatchPutSize): a
	// request holds pairs until their size reaches it, so one request may
	// go over by its last pair.
	MaxBatchPutSize = 16 * 1024
	// MaxBatchPairCount is the number of keys per BatchGet or BatchDelete
	// request (client-go rawBatchPairCount).
	MaxBatchPairCount = 512
	// MaxValueSize is the largest value accepted (TiKV's raft-entry-max-size
	// default).
	MaxValueSize = 8 << 20
	// rawkvMaxBackoff is the backoff budget of one operation, in ms
	// (client-go rawkvMaxBackoff).
	rawkvMaxBackoff = 20000
	// readTimeout and writeTimeout are the per-attempt RPC timeouts
	// (client-go ReadTimeoutShort / ReadTimeoutMedium).
	readTimeout  = 30 * time.Second
	writeTimeout = 60 * time.Second
)

// Sentinel errors. The errors returned wrap them: test with errors.Is.
var (
	// ErrClosed is returned by every method of a closed Client. It wraps
	// tikverr.ErrClosed.
	ErrClosed = fmt.Errorf("rawkv: %w", tikverr.ErrClosed)
	// ErrMaxScanLimitExceeded is returned (inside an *ArgumentError) for a
	// scan limit over MaxRawKVScanLimit (client-go ErrMaxScanLimitExceeded).
	ErrMaxScanLimitExceeded = errors.New("limit should be less than MaxRawKVScanLimit")
	// ErrNotAtomic is returned (inside an *ArgumentError) by CompareAndSwap
	// on a client without SetAtomicForCAS(true).
	ErrNotAtomic = errors.New("using CompareAndSwap without enabling atomic mode")
)

// ArgumentError is an invalid argument, rejected before any RPC: the
// operation certainly had no effect. It matches tikverr.ErrInvalidArgument
// with errors.Is, and Err (when set) as well.
type ArgumentError struct {
	Op, Reason string
	// Err is the sentinel behind Reason, if any (ErrMaxScanLimitExceeded,
	// ErrNotAtomic).
	Err error
}

// Error implements the error interface.
func (e *ArgumentError) Error() string { return fmt.Sprintf("rawkv %s: %s", e.Op, e.Reason) }

// Is makes errors.Is(e, tikverr.ErrInvalidArgument) true.
func (e *ArgumentError) Is(target error) bool { return target == tikverr.ErrInvalidArgument }

// Unwrap returns Err.
func (e *ArgumentError) Unwrap() error { return e.Err }

func badArg(op, format string, args ...any) error {
	return &ArgumentError{Op: op, Reason: fmt.Sprintf(format, args...)}
}

// ServerError is an error TiKV reported in a response body (the error
// string of raw responses, or a key error of a pair): the request reached
// the store and was refused, so a write did not apply. RegionID is the
// region the request went to.
type ServerError struct {
	Op       string
	RegionID uint64
	Msg      string
}

// Error implements the error interface.
func (e *ServerError) Error() string {
	return fmt.Sprintf("rawkv %s: region %d: tikv: %s", e.Op, e.RegionID, e.Msg)
}

// Option configures a Client (client-go ClientOpt).
type Option func(*config)

type config struct {
	rt         rt.Runtime
	tr         transport.Transport
	pd         pd.Client
	cache      locate.Options
	timeout    time.Duration
	budgetMS   int
	apiVersion kvrpcpb.APIVersion
	keyspace   string
	meta       *keyspacepb.KeyspaceMeta
	logger     *slog.Logger
	metrics    *metrics.Metrics
	rc         resourcecontrol.KVInterceptor
}

// WithResourceControl makes rc charge every request of a resource group
// (util.WithResourceGroupName) the client sends, unless the request's
// context binds its own (resourcecontrol.WithKVInterceptor; a bound nil
// turns charging off). This is client-go's client-wide resource control
// interceptor (tikv.SetResourceControlInterceptor), per client here. Default:
// none, nothing is charged.
func WithResourceControl(rc resourcecontrol.KVInterceptor) Option {
	return func(c *config) { c.rc = rc }
}

// WithLogger sets the logger (default: none). The client logs retries at
// debug level.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithMetrics sets the Prometheus collectors the client reports to (see
// client/metrics; default: none).
func WithMetrics(m *metrics.Metrics) Option { return func(c *config) { c.metrics = m } }

// WithRuntime sets the runtime (default rt.Real).
func WithRuntime(r rt.Runtime) Option { return func(c *config) { c.rt = r } }

// WithTransport sets the store transport (required).
func WithTransport(t transport.Transport) Option { return func(c *config) { c.tr = t } }

// WithPD sets the PD edge (required).
func WithPD(p pd.Client) Option { return func(c *config) { c.pd = p } }

// WithRegionCache sets the region cache options.
func WithRegionCache(o locate.Options) Option { return func(c *config) { c.cache = o } }

// WithTimeout sets the per-attempt RPC timeout (default 30s for reads, 60s
// for writes).
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithBackoffBudget sets the total backoff sleep of one operation (default
// 20s).
func WithBackoffBudget(d time.Duration) Option {
	return func(c *config) { c.budgetMS = int(d / time.Millisecond) }
}

// WithAPIVersion sets the API version the cluster runs (client-go
// WithAPIVersion): V1 (default), V1TTL, or V2 (which needs a keyspace, see
// WithKeyspace).
func WithAPIVersion(v kvrpcpb.APIVersion) Option { return func(c *config) { c.apiVersion = v } }

// WithKeyspace sets the keyspace of an API V2 client by name (client-go
// WithKeyspace; "" means the DEFAULT keyspace). NewClientWithOpts loads its
// meta from PD.
func WithKeyspace(name string) Option { return func(c *config) { c.keyspace = name } }

// WithKeyspaceMeta sets the keyspace of an API V2 client from meta already
// loaded, so that NewClient needs no PD call.
func WithKeyspaceMeta(m *keyspacepb.KeyspaceMeta) Option { return func(c *config) { c.meta = m } }

// KeyspaceLoader is the optional capability of a PD edge that
// NewClientWithOpts uses to load an API V2 keyspace (pd.KeyspaceLoader).
type KeyspaceLoader = pd.KeyspaceLoader

// Client is a raw KV client. It is safe for concurrent use, except for
// SetAtomicForCAS and SetColumnFamily, which must be called before it is
// shared.
type Client struct {
	cfg    config
	codec  *apicodec.Codec
	cache  *locate.Cache
	sender *sender.Sender
	cf     string
	atomic bool
	closed atomic.Bool
	// vars are the backoff knobs shared, read-only, by the client's
	// Backoffers (client-go passes nil: the defaults).
	vars *retry.Vars
}

// NewClient returns a client on the given edges. It makes no call and
// starts no task. An API V2 client needs WithKeyspaceMeta here; use
// NewClientWithOpts to load the keyspace by name.
func NewClient(opts ...Option) (*Client, error) {
	cfg := config{rt: rt.Real, budgetMS: rawkvMaxBackoff}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.tr == nil || cfg.pd == nil {
		return nil, errors.New("rawkv: NewClient needs WithTransport and WithPD")
	}
	var meta *keyspacepb.KeyspaceMeta
	switch cfg.apiVersion {
	case kvrpcpb.APIVersion_V1, kvrpcpb.APIVersion_V1TTL:
	case kvrpcpb.APIVersion_V2:
		if cfg.meta == nil {
			return nil, errors.New("rawkv: an API V2 client needs WithKeyspaceMeta, or NewClientWithOpts to load the keyspace")
		}
		meta = cfg.meta
	default:
		return nil, fmt.Errorf("rawkv: unsupported API version %v", cfg.apiVersion)
	}
	codec, err := apicodec.NewCodec(cfg.apiVersion, apicodec.ModeRaw, meta)
	if err != nil {
		return nil, fmt.Errorf("rawkv: %w", err)
	}
	cache := locate.New(cfg.rt, sender.CodecRegionSource(cfg.pd, codec), cfg.cache)
	s := sender.NewWithCodec(cache, cfg.tr, codec)
	s.SetObserver(sender.Observer{Clock: cfg.rt, Metrics: cfg.metrics, Logger: cfg.logger})
	s.SetResourceControl(cfg.rc)
	return &Client{cfg: cfg, codec: codec, cache: cache, sender: s, vars: retry.DefaultVars()}, nil
}

// NewClientWithOpts is NewClient that, for API V2 without WithKeyspaceMeta,
// first loads the keyspace named by WithKeyspace from PD through the PD
// edge's KeyspaceLoader capability (client-go NewClientWithOpts). It must
// run in a task of the runtime; it starts none.
func NewClientWithOpts(ctx context.Context, opts ...Option) (*Client, error) {
	cfg := config{}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.apiVersion == kvrpcpb.APIVersion_V2 && cfg.meta == nil {
		meta, err := apicodec.LoadKeyspace(ctx, cfg.pd, cfg.keyspace)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", "rawkv", err)
		}
		opts = append(opts, WithKeyspaceMeta(meta))
	}
	return NewClient(opts...)
}

// Run runs the client's background work (region cache expiry) until ctx is
// done. It is optional.
func (c *Client) Run(ctx context.Context) error { return c.cache.Run(ctx) }

// Close closes the client and its transport and PD edges.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.cfg.pd.Close()
	return c.cfg.tr.Close()
}

// APIVersion returns the API version the client speaks.
func (c *Client) APIVersion() kvrpcpb.APIVersion { return c.codec.APIVersion() }

// KeyspaceMeta returns the client's keyspace, nil below API V2.
func (c *Client) KeyspaceMeta() *keyspacepb.KeyspaceMeta { return c.codec.GetKeyspaceMeta() }

// SetAtomicForCAS makes every write of this client atomic with respect to
// CompareAndSwap (TiKV's for_cas), as client-go requires for CAS users. All
// clients writing the keys a CAS reads must agree on it.
func (c *Client) SetAtomicForCAS(b bool) *Client {
	c.atomic = b
	return c
}

// SetColumnFamily sets the column family of every request ("" for
// default); a per-call SetColumnFamily overrides it.
func (c *Client) SetColumnFamily(cf string) *Client {
	c.cf = cf
	return c
}

// RawOption is a per-call option.
type RawOption func(*rawOptions)

type rawOptions struct {
	cf      string
	keyOnly bool
}

// SetColumnFamily is a per-call column family; "" keeps the client's.
func SetColumnFamily(cf string) RawOption { return func(o *rawOptions) { o.cf = cf } }

// ScanKeyOnly makes scans return keys only (the values are empty).
func ScanKeyOnly() RawOption { return func(o *rawOptions) { o.keyOnly = true } }

// options applies opts; the column family falls back to the client's
// (client-go getColumnFamily).
func (c *Client) options(opts []RawOption) rawOptions {
	if len(opts) == 0 { // the common case, without a heap-allocated o
		return rawOptions{cf: c.cf}
	}
	var o rawOptions
	for _, f := range opts {
		f(&o)
	}
	if o.cf == "" {
		o.cf = c.cf
	}
	return o
}

func (c *Client) backoffer(ctx context.Context) *retry.Backoffer {
	env := c.sender.BackoffEnv(c.cfg.rt)
	env.Vars = c.vars
	return retry.NewBackoffer(ctx, c.cfg.budgetMS, env)
}

func (c *Client) timeout(write bool) time.Duration {
	if c.cfg.timeout > 0 {
		return c.cfg.timeout
	}
	if write {
		return writeTimeout
	}
	return readTimeout
}

func (c *Client) check(op string) error {
	if c.closed.Load() {
		return fmt.Errorf("rawkv %s: %w", op, ErrClosed)
	}
	return nil
}

func checkKey(op string, key []byte) error {
	if len(key) == 0 {
		return badArg(op, "empty key")
	}
	return nil
}

func checkValue(op string, key, value []byte) error {
	if len(value) > MaxValueSize {
		return badArg(op, "value of key %q has %d bytes, over the %d-byte limit", key, len(value), MaxValueSize)
	}
	return nil
}

// nonNil turns the nil value of an existing key into an empty slice, so
// that only a missing key reads as nil (client-go convertNilToEmptySlice:
// gRPC sends an empty value as nil).
func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}

// fixedBody is a request body that does not depend on the region.
type fixedBody struct{ body any }

func (f fixedBody) build(*locate.KeyLocation) any { return f.body }

// fixed returns a request builder for sendKey that always returns body;
// the method value of a pointer-free struct holding an interface costs no
// allocation beyond the body itself.
func fixed(body any) func(*locate.KeyLocation) any { return fixedBody{body}.build }

// sendKey sends the request built by mk to the region of key, relocating and
// retrying while the region changes under it (client-go rawkv sendReq).
// Errors are wrapped with the command and the region they were sent to.
func (c *Client) sendKey(ctx context.Context, bo *retry.Backoffer, key []byte, byEnd bool, typ tikvrpc.CmdType, mk func(loc *locate.KeyLocation) any) (*tikvrpc.Response, *locate.KeyLocation, error) {
	where := c.sender.KeyLocator(key, byEnd)
	timeout := c.timeout(tikvrpc.NewRequest(typ, nil).IsRawWriteRequest())
	resp, loc, err := c.sender.SendLocated(ctx, bo, where, timeout, func(loc *locate.KeyLocation) *tikvrpc.Request {
		return tikvrpc.NewRequest(typ, mk(loc))
	})
	switch {
	case err == nil:
		return resp, loc, nil
	case loc == nil:
		return nil, nil, fmt.Errorf("rawkv %s: locate: %w", typ, err)
	default:
		return nil, nil, fmt.Errorf("rawkv %s: region %d: %w", typ, loc.Region.ID(), err)
	}
}

// respErr turns the error string of a raw response into a *ServerError.
func respErr(op string, region locate.RegionVerID, msg string) error {
	if msg == "" {
		return nil
	}
	return &ServerError{Op: op, RegionID: region.ID(), Msg: msg}
}

// Get returns the value of key: nil if it does not exist, an empty slice
// for an empty value (client-go Get).
func (c *Client) Get(ctx context.Context, key []byte, opts ...RawOption) ([]byte, error) {
	if err := c.check("Get"); err != nil {
		return nil, err
	}
	if err := checkKey("Get", key); err != nil {
		return nil, err
	}
	o := c.options(opts)
	resp, loc, err := c.sendKey(ctx, c.backoffer(ctx), key, false, tikvrpc.CmdRawGet, fixed(&kvrpcpb.RawGetRequest{Key: key, Cf: o.cf}))
	if err != nil {
		return nil, err
	}
	r := resp.Resp.(*kvrpcpb.RawGetResponse)
	if err := respErr("Get", loc.Region, r.GetError()); err != nil {
		return nil, err
	}
	if r.NotFound {
		return nil, nil
	}
	return nonNil(r.Value), nil
}

// Put sets key to value. An empty value is a value, not a delete.
func (c *Client) Put(ctx context.Context, key, value []byte, opts ...RawOption) error {
	return c.PutWithTTL(ctx, key, value, 0, opts...)
}

// PutWithTTL sets key to value, expiring after ttl seconds (0: never). A
// TTL needs a cluster in API V1TTL or V2; others answer a *ServerError.
func (c *Client) PutWithTTL(ctx context.Context, key, value []byte, ttl uint64, opts ...RawOption) error {
	if err := c.check("Put"); err != nil {
		return err
	}
	if err := checkKey("Put", key); err != nil {
		return err
	}
	if err := checkValue("Put", key, value); err != nil {
		return err
	}
	o := c.options(opts)
	resp, loc, err := c.sendKey(ctx, c.backoffer(ctx), key, false, tikvrpc.CmdRawPut, func(*locate.KeyLocation) any {
		return &kvrpcpb.RawPutRequest{Key: key, Value: value, Cf: o.cf, Ttl: ttl, ForCas: c.atomic}
	})
	if err != nil {
		return err
	}
	return respErr("Put", loc.Region, resp.Resp.(*kvrpcpb.RawPutResponse).GetError())
}

// Delete deletes key. Deleting a missing key is not an error.
func (c *Client) Delete(ctx context.Context, key []byte, opts ...RawOption) error {
	if err := c.check("Delete"); err != nil {
		return err
	}
	if err := checkKey("Delete", key); err != nil {
		return err
	}
	o := c.options(opts)
	resp, loc, err := c.sendKey(ctx, c.backoffer(ctx), key, false, tikvrpc.CmdRawDelete, func(*locate.KeyLocation) any {
		return &kvrpcpb.RawDeleteRequest{Key: key, Cf: o.cf, ForCas: c.atomic}
	})
	if err != nil {
		return err
	}
	return respErr("Delete", loc.Region, resp.Resp.(*kvrpcpb.RawDeleteResponse).GetError())
}

// GetKeyTTL returns the remaining TTL of key in seconds (client-go
// GetKeyTTL): nil when the key does not exist (or has expired), a pointer
// to 0 when it exists without a TTL.
func (c *Client) GetKeyTTL(ctx context.Context, key []byte, opts ...RawOption) (*uint64, error) {
	if err := c.check("GetKeyTTL"); err != nil {
		return nil, err
	}
	if err := checkKey("GetKeyTTL", key); err != nil {
		return nil, err
	}
	o := c.options(opts)
	resp, loc, err := c.sendKey(ctx, c.backoffer(ctx), key, false, tikvrpc.CmdRawGetKeyTTL, func(*locate.KeyLocation) any {
		return &kvrpcpb.RawGetKeyTTLRequest{Key: key, Cf: o.cf}
	})
	if err != nil {
		return nil, err
	}
	r := resp.Resp.(*kvrpcpb.RawGetKeyTTLResponse)
	if err := respErr("GetKeyTTL", loc.Region, r.GetError()); err != nil {
		return nil, err
	}
	if r.NotFound {
		return nil, nil
	}
	ttl := r.Ttl
	return &ttl, nil
}

// CompareAndSwap sets key to newValue if its current value is prevValue
// (nil: the key must not exist; an empty non-nil slice: the value must be
// empty). It returns the value the key had (nil: it did not exist) and
// whether the swap happened (client-go CompareAndSwap). The client must
// have SetAtomicForCAS(true), as in client-go; otherwise it returns an
// *ArgumentError wrapping ErrNotAtomic. A CAS whose outcome is unknown
// returns an error satisfying IsErrUndetermined.
func (c *Client) CompareAndSwap(ctx context.Context, key, prevValue, newValue []byte, opts ...RawOption) ([]byte, bool, error) {
	if err := c.check("CompareAndSwap"); err != nil {
		return nil, false, err
	}
	if !c.atomic {
		return nil, false, &ArgumentError{Op: "CompareAndSwap", Reason: ErrNotAtomic.Error(), Err: ErrNotAtomic}
	}
	if err := checkKey("CompareAndSwap", key); err != nil {
		return nil, false, err
	}
	if err := checkValue("CompareAndSwap", key, newValue); err != nil {
		return nil, false, err
	}
	o := c.options(opts)
	resp, loc, err := c.sendKey(ctx, c.backoffer(ctx), key, false, tikvrpc.CmdRawCompareAndSwap, func(*locate.KeyLocation) any {
		r := &kvrpcpb.RawCASRequest{Key: key, Value: newValue, Cf: o.cf}
		if prevValue == nil {
			r.PreviousNotExist = true
		} else {
			r.PreviousValue = prevValue
		}
		return r
	})
	if err != nil {
		return nil, false, err
	}
	r := resp.Resp.(*kvrpcpb.RawCASResponse)
	if err := respErr("CompareAndSwap", loc.Region, r.GetError()); err != nil {
		return nil, false, err
	}
	if r.PreviousNotExist {
		return nil, r.Succeed, nil
	}
	return nonNil(r.PreviousValue), r.Succeed, nil
}

// IsErrUndetermined reports whether err leaves the outcome of a write
// unknown.
func IsErrUndetermined(err error) bool { return tikverr.IsErrUndetermined(err) }
