// Package rawkv is the raw key-value client of TiKV: Get, Put, Delete, their
// batch forms, scans, TTLs, compare-and-swap and checksums, with client-go's
// API (rawkv/rawkv.go) on this client's edges.
//
// A Client routes each key through the region cache, sends through the
// request sender (which retries region errors with backoff), and splits batch
// operations by region, sending the parts in parallel as runtime tasks.
// Constructors start nothing: background work (region cache GC) runs only
// when the caller starts it with Run.
//
// Errors: a missing key is not an error for Get (nil value, as client-go).
// Invalid arguments (empty key, inverted range, oversized value or batch,
// limit over MaxRawKVScanLimit, a closed client) are rejected before any RPC
// with an *ArgumentError. An operation whose outcome is unknown returns an
// error satisfying tikverr.IsErrUndetermined.
package rawkv

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/config/retry"
	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/internal/sender"
	"github.com/tikvsim/tikvsim/client/pd"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/transport"
)

// Limits, as client-go's rawkv package defines them.
const (
	// MaxRawKVScanLimit is the largest limit Scan accepts.
	MaxRawKVScanLimit = 10240
	// MaxBatchPutSize is the size of one BatchPut request per region.
	MaxBatchPutSize = 16 * 1024
	// MaxBatchSize is the number of keys per request of a batch operation.
	MaxBatchSize = 16 * 1024
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

// ErrClosed is returned by every method of a closed Client.
var ErrClosed = errors.New("rawkv: client is closed")

// ArgumentError is an invalid argument, rejected before any RPC.
type ArgumentError struct {
	Op, Reason string
}

func (e *ArgumentError) Error() string { return fmt.Sprintf("rawkv %s: %s", e.Op, e.Reason) }

func badArg(op, format string, args ...any) error {
	return &ArgumentError{Op: op, Reason: fmt.Sprintf(format, args...)}
}

// Option configures a Client.
type Option func(*config)

type config struct {
	rt       rt.Runtime
	tr       transport.Transport
	pd       pd.Client
	cache    locate.Options
	timeout  time.Duration
	budgetMS int
}

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

// Client is a raw KV client. It is safe for concurrent use.
type Client struct {
	cfg    config
	cache  *locate.Cache
	sender *sender.Sender
	cf     string
	atomic bool
	closed atomic.Bool
}

// NewClient returns a client on the given edges. It starts no task.
func NewClient(opts ...Option) (*Client, error) {
	cfg := config{rt: rt.Real, budgetMS: rawkvMaxBackoff}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.tr == nil || cfg.pd == nil {
		return nil, errors.New("rawkv: NewClient needs WithTransport and WithPD")
	}
	cache := locate.New(cfg.rt, sender.RegionSource(cfg.pd), cfg.cache)
	return &Client{cfg: cfg, cache: cache, sender: sender.New(cache, cfg.tr)}, nil
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

// SetAtomicForCAS makes every write of this client atomic with respect to
// CompareAndSwap (TiKV's for_cas), as client-go requires for CAS users.
func (c *Client) SetAtomicForCAS(b bool) *Client {
	c.atomic = b
	return c
}

// SetColumnFamily sets the column family of every request ("" for default).
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

// SetColumnFamily is a per-call column family.
func SetColumnFamily(cf string) RawOption { return func(o *rawOptions) { o.cf = cf } }

// ScanKeyOnly makes scans return keys only.
func ScanKeyOnly() RawOption { return func(o *rawOptions) { o.keyOnly = true } }

func (c *Client) options(opts []RawOption) rawOptions {
	o := rawOptions{cf: c.cf}
	for _, f := range opts {
		f(&o)
	}
	return o
}

func (c *Client) backoffer(ctx context.Context) *retry.Backoffer {
	return retry.NewBackoffer(ctx, c.cfg.budgetMS, retry.Env{Clock: c.cfg.rt, Rand: c.cfg.rt.NewRand()})
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

// sendKey sends the request built by mk to the region of key, relocating and
// retrying while the region changes under it (client-go rawkv sendReq).
func (c *Client) sendKey(ctx context.Context, bo *retry.Backoffer, key []byte, byEnd bool, typ tikvrpc.CmdType, mk func(loc *locate.KeyLocation) any) (*tikvrpc.Response, *locate.KeyLocation, error) {
	for {
		var loc *locate.KeyLocation
		var err error
		if byEnd {
			loc, err = c.cache.LocateEndKey(ctx, sender.PDBackoffer{Bo: bo}, key)
		} else {
			loc, err = c.cache.LocateKey(ctx, sender.PDBackoffer{Bo: bo}, key)
		}
		if err != nil {
			return nil, nil, err
		}
		req := tikvrpc.NewRequest(typ, mk(loc))
		resp, _, err := c.sender.Send(ctx, bo, req, loc.Region, c.timeout(req.IsRawWriteRequest()))
		if err != nil {
			return nil, nil, err
		}
		if re, _ := resp.GetRegionError(); re != nil {
			if err := bo.Backoff(retry.BoRegionMiss, errors.New(re.String())); err != nil {
				return nil, nil, err
			}
			continue
		}
		return resp, loc, nil
	}
}

func respErr(op, e string) error {
	if e == "" {
		return nil
	}
	return fmt.Errorf("rawkv %s: %s", op, e)
}

// Get returns the value of key, nil if it does not exist.
func (c *Client) Get(ctx context.Context, key []byte, opts ...RawOption) ([]byte, error) {
	if err := c.check("Get"); err != nil {
		return nil, err
	}
	if err := checkKey("Get", key); err != nil {
		return nil, err
	}
	o := c.options(opts)
	resp, _, err := c.sendKey(ctx, c.backoffer(ctx), key, false, tikvrpc.CmdRawGet, func(*locate.KeyLocation) any {
		return &kvrpcpb.RawGetRequest{Key: key, Cf: o.cf}
	})
	if err != nil {
		return nil, err
	}
	r := resp.Resp.(*kvrpcpb.RawGetResponse)
	if err := respErr("Get", r.GetError()); err != nil {
		return nil, err
	}
	if r.NotFound {
		return nil, nil
	}
	return r.Value, nil
}

// Put sets key to value.
func (c *Client) Put(ctx context.Context, key, value []byte, opts ...RawOption) error {
	return c.PutWithTTL(ctx, key, value, 0, opts...)
}

// PutWithTTL sets key to value, expiring after ttl seconds (0: never).
func (c *Client) PutWithTTL(ctx context.Context, key, value []byte, ttl uint64, opts ...RawOption) error {
	if err := c.check("Put"); err != nil {
		return err
	}
	if err := checkKey("Put", key); err != nil {
		return err
	}
	if len(value) == 0 {
		return badArg("Put", "empty value (use Delete)")
	}
	if len(value) > MaxValueSize {
		return badArg("Put", "value of %d bytes is over the %d-byte limit", len(value), MaxValueSize)
	}
	o := c.options(opts)
	resp, _, err := c.sendKey(ctx, c.backoffer(ctx), key, false, tikvrpc.CmdRawPut, func(*locate.KeyLocation) any {
		return &kvrpcpb.RawPutRequest{Key: key, Value: value, Cf: o.cf, Ttl: ttl, ForCas: c.atomic}
	})
	if err != nil {
		return err
	}
	return respErr("Put", resp.Resp.(*kvrpcpb.RawPutResponse).GetError())
}

// Delete deletes key.
func (c *Client) Delete(ctx context.Context, key []byte, opts ...RawOption) error {
	if err := c.check("Delete"); err != nil {
		return err
	}
	if err := checkKey("Delete", key); err != nil {
		return err
	}
	o := c.options(opts)
	resp, _, err := c.sendKey(ctx, c.backoffer(ctx), key, false, tikvrpc.CmdRawDelete, func(*locate.KeyLocation) any {
		return &kvrpcpb.RawDeleteRequest{Key: key, Cf: o.cf, ForCas: c.atomic}
	})
	if err != nil {
		return err
	}
	return respErr("Delete", resp.Resp.(*kvrpcpb.RawDeleteResponse).GetError())
}

// GetKeyTTL returns the remaining TTL of key in seconds, nil when the key
// does not exist or has no TTL.
func (c *Client) GetKeyTTL(ctx context.Context, key []byte, opts ...RawOption) (*uint64, error) {
	if err := c.check("GetKeyTTL"); err != nil {
		return nil, err
	}
	if err := checkKey("GetKeyTTL", key); err != nil {
		return nil, err
	}
	o := c.options(opts)
	resp, _, err := c.sendKey(ctx, c.backoffer(ctx), key, false, tikvrpc.CmdRawGetKeyTTL, func(*locate.KeyLocation) any {
		return &kvrpcpb.RawGetKeyTTLRequest{Key: key, Cf: o.cf}
	})
	if err != nil {
		return nil, err
	}
	r := resp.Resp.(*kvrpcpb.RawGetKeyTTLResponse)
	if err := respErr("GetKeyTTL", r.GetError()); err != nil {
		return nil, err
	}
	if r.NotFound {
		return nil, nil
	}
	ttl := r.Ttl
	return &ttl, nil
}

// CompareAndSwap sets key to newValue if its current value is prevValue (nil:
// the key must not exist). It returns the previous value and whether the swap
// happened. The client must have SetAtomicForCAS(true), as in client-go.
func (c *Client) CompareAndSwap(ctx context.Context, key, prevValue, newValue []byte, opts ...RawOption) ([]byte, bool, error) {
	if err := c.check("CompareAndSwap"); err != nil {
		return nil, false, err
	}
	if !c.atomic {
		return nil, false, badArg("CompareAndSwap", "the client is not atomic: call SetAtomicForCAS(true) first")
	}
	if err := checkKey("CompareAndSwap", key); err != nil {
		return nil, false, err
	}
	if len(newValue) == 0 {
		return nil, false, badArg("CompareAndSwap", "empty new value")
	}
	o := c.options(opts)
	resp, _, err := c.sendKey(ctx, c.backoffer(ctx), key, false, tikvrpc.CmdRawCompareAndSwap, func(*locate.KeyLocation) any {
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
	if err := respErr("CompareAndSwap", r.GetError()); err != nil {
		return nil, false, err
	}
	if r.PreviousNotExist {
		return nil, r.Succeed, nil
	}
	return r.PreviousValue, r.Succeed, nil
}

// IsErrUndetermined reports whether err leaves the outcome of a write
// unknown.
func IsErrUndetermined(err error) bool { return tikverr.IsErrUndetermined(err) }
